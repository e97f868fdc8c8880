"""Which relation locks each migration statement takes, read from pg_locks in the sandbox.

The approach is Eugene's: run the statements of a migration one by one inside its transaction and,
after each, read the relation locks the own backend holds (``pg_locks``). Locks accumulate until
the transaction ends, so a statement is charged only with the locks that are new or stronger than
what the transaction held before it. A lock matters when it blocks reads or writes of a table that
already held rows before the migrations ran: a table the migrations create is invisible to the
application until they commit, so no lock on it can hurt anyone.

Row locks (an UPDATE's) live in tuple headers, not in ``pg_locks``: only relation locks are traced.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg import pq

from ..findings import Finding, Severity

CATEGORY = "lock-heavy-statement"
CHECK = "rehearsal:lock_trace"

READS_AND_WRITES = "reads and writes"
WRITES = "writes"

# Table-level lock modes, weakest first, and the modes each conflicts with
# (PostgreSQL docs, "Explicit Locking", Table 13.2 "Conflicting Lock Modes").
LOCK_MODES = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)
CONFLICTS: dict[str, frozenset[str]] = {
    "AccessShareLock": frozenset({"AccessExclusiveLock"}),
    "RowShareLock": frozenset({"ExclusiveLock", "AccessExclusiveLock"}),
    "RowExclusiveLock": frozenset({"ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"}),
    "ShareUpdateExclusiveLock": frozenset(
        {"ShareUpdateExclusiveLock", "ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"}
    ),
    "ShareLock": frozenset(
        {"RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"}
    ),
    "ShareRowExclusiveLock": frozenset(
        {"RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock", "ShareRowExclusiveLock", "ExclusiveLock",
         "AccessExclusiveLock"}
    ),
    "ExclusiveLock": frozenset(
        {"RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock", "ShareRowExclusiveLock",
         "ExclusiveLock", "AccessExclusiveLock"}
    ),
    "AccessExclusiveLock": frozenset(LOCK_MODES),
}

# What a lock mode blocks for other sessions on that relation. A plain SELECT takes AccessShareLock;
# INSERT/UPDATE/DELETE/MERGE take RowExclusiveLock. So a mode blocks reads when it conflicts with
# AccessShareLock and writes when it conflicts with RowExclusiveLock. ShareUpdateExclusiveLock
# (VALIDATE CONSTRAINT, CREATE INDEX CONCURRENTLY) only blocks DDL and VACUUM; ExclusiveLock also
# blocks SELECT ... FOR UPDATE/SHARE (RowShareLock), which this counts as a write.
BLOCKS: dict[str, str | None] = {
    "AccessExclusiveLock": READS_AND_WRITES,
    "ExclusiveLock": WRITES,
    "ShareRowExclusiveLock": WRITES,
    "ShareLock": WRITES,
    "ShareUpdateExclusiveLock": None,
    "RowExclusiveLock": None,
    "RowShareLock": None,
    "AccessShareLock": None,
}

_RELKINDS = {
    "r": "table",
    "p": "partitioned table",
    "i": "index",
    "I": "partitioned index",
    "S": "sequence",
    "v": "view",
    "m": "materialized view",
    "c": "composite type",
    "t": "toast table",
    "f": "foreign table",
}
_TABLE_KINDS = {"table", "partitioned table", "materialized view"}

# One query after each statement: the own backend's relation locks (and its virtual transaction id,
# to notice a new transaction). Relations the statement dropped have no pg_class row any more.
_HELD_LOCKS = """
SELECT l.virtualtransaction, l.locktype, l.mode, n.nspname, c.relname, c.relkind::text
FROM pg_catalog.pg_locks l
LEFT JOIN pg_catalog.pg_class c ON l.locktype = 'relation' AND c.oid = l.relation
LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE l.pid = pg_catalog.pg_backend_pid() AND l.granted AND l.locktype IN ('relation', 'virtualxid')
"""
_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")


@dataclass
class HeldLock:
    relation: str  # "schema.name" of the table, index, sequence, ...
    kind: str  # "table", "index", "sequence", "view", ...
    mode: str  # e.g. "AccessExclusiveLock"
    blocks: str | None  # BLOCKS[mode]: "reads and writes", "writes", or None
    rows: int | None  # rows the table held before the migrations; None if new or not a table

    @property
    def heavy(self) -> bool:
        """Blocks reads or writes of a pre-existing table that holds rows."""
        return bool(self.blocks) and self.kind in _TABLE_KINDS and bool(self.rows)


@dataclass
class StatementTrace:
    migration: str  # label, e.g. "006_add_tenant_id_to_leads"
    direction: str  # "up" or "down"
    file: str
    line: int
    statement: str  # summary (first 100 characters)
    duration_ms: float
    locks: list[HeldLock]  # newly acquired or strengthened by this statement
    in_transaction: bool = True  # False: ran in autocommit, its locks ended with it (none recorded)
    sql: str = field(default="", repr=False)  # the full text, for safer_form; not in to_dict

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("sql", None)
        return data


class LockTracer:
    """Runs statements on one connection and records the relation locks each one adds."""

    def __init__(self, conn: psycopg.Connection, preexisting_rows: dict[str, int]):
        self.conn = conn
        self.preexisting_rows = dict(preexisting_rows)
        self._held: dict[str, set[str]] = {}  # relation -> modes held in the current transaction
        self._vxid: str | None = None  # the transaction those locks belong to

    def begin_transaction(self) -> None:
        """Forget the locks held: a new transaction starts (call at each BEGIN)."""
        self._held = {}
        self._vxid = None

    def resync(self) -> None:
        """Take the locks held now as the starting point: the rehearsal's own queries between two
        statements (fingerprints) must not be charged to the next statement."""
        if self.conn.info.transaction_status == pq.TransactionStatus.INTRANS:
            self._new_locks()

    def run(
        self, sql_text: str, *, migration: str, direction: str, file: str, line: int, summary: str,
        copy_data: str | None = None,
    ) -> StatementTrace:
        """Execute one statement (psycopg errors propagate) and trace the locks it added.
        `copy_data`: the rows of a COPY ... FROM STDIN, sent as psql would."""
        started = time.perf_counter()
        execute(self.conn, sql_text, copy_data)
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        trace = StatementTrace(
            migration=migration,
            direction=direction,
            file=file,
            line=line,
            statement=_summary(summary or sql_text),
            duration_ms=duration_ms,
            locks=[],
            sql=sql_text,
        )
        if self.conn.info.transaction_status != pq.TransactionStatus.INTRANS:
            # autocommit (CREATE INDEX CONCURRENTLY and the like) or a statement that ended the
            # transaction: whatever it locked was released when it finished.
            trace.in_transaction = False
            self.begin_transaction()
            return trace
        trace.locks = self._new_locks()
        return trace

    def _new_locks(self) -> list[HeldLock]:
        rows = self.conn.execute(_HELD_LOCKS).fetchall()
        vxid = next((r[0] for r in rows if r[0]), None)
        if vxid != self._vxid:  # a transaction the tracer was not told about: nothing held before it
            self._held = {}
            self._vxid = vxid
        now: dict[str, set[str]] = {}
        kinds: dict[str, str] = {}
        for _, locktype, mode, schema, name, relkind in rows:
            if locktype != "relation" or name is None or mode not in CONFLICTS:
                continue
            if schema in _SYSTEM_SCHEMAS or schema.startswith("pg_toast"):
                continue  # catalog locks: the statement's bookkeeping and this very query
            relation = f"{schema}.{name}"
            now.setdefault(relation, set()).add(mode)
            kinds[relation] = _RELKINDS.get(relkind, relkind)
        locks = []
        for relation in sorted(now):
            before = self._held.get(relation, set())
            covered = frozenset().union(*(CONFLICTS[m] for m in before))
            added = [m for m in now[relation] - before if not CONFLICTS[m] <= covered]
            # of the modes it added, keep those no other added mode includes
            added = [m for m in added if not any(CONFLICTS[m] < CONFLICTS[o] for o in added)]
            kind = kinds[relation]
            for mode in sorted(added, key=LOCK_MODES.index, reverse=True):
                rows_before = self.preexisting_rows.get(relation) if kind in _TABLE_KINDS else None
                locks.append(HeldLock(relation, kind, mode, BLOCKS.get(mode), rows_before))
        self._held = now
        return locks


def execute(conn: psycopg.Connection, sql_text: str, copy_data: str | None = None) -> None:
    """Run one statement as written; a COPY ... FROM STDIN gets its data through the COPY
    protocol (conn.execute() refuses COPY)."""
    if copy_data is None:
        conn.execute(sql_text)  # type: ignore[arg-type]  # migration text, run as written
        return
    with conn.cursor().copy(sql_text) as copy:  # type: ignore[arg-type]
        copy.write(copy_data)


def _summary(text: str, limit: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# ---- findings -------------------------------------------------------------------------------


def lock_findings(traces: list[StatementTrace]) -> list[Finding]:
    """One lock-heavy-statement finding per (statement, pre-existing table with rows) it blocks."""
    findings = []
    for trace in traces:
        worst: dict[str, HeldLock] = {}
        for lock in trace.locks:
            if not lock.heavy:
                continue
            current = worst.get(lock.relation)
            if current is None or LOCK_MODES.index(lock.mode) > LOCK_MODES.index(current.mode):
                worst[lock.relation] = lock
        for relation, lock in worst.items():
            schema, _, table = relation.partition(".")
            statement = trace.sql or trace.statement
            safer = safer_form(statement)
            rows = f"{lock.rows} row" + ("" if lock.rows == 1 else "s")
            findings.append(
                Finding(
                    category=CATEGORY,
                    check=CHECK,
                    # A statement with a safer form is worth changing (medium); one without can
                    # only be kept short with a lock_timeout (low). Neither fails a run by default.
                    severity=Severity.MEDIUM if safer else Severity.LOW,
                    schema=schema,
                    table=table,
                    title=f"statement blocks {lock.blocks} of a table with data",
                    message=(
                        f"{trace.statement} holds {lock.mode} on {relation} ({rows}): blocks {lock.blocks}"
                        f" while it runs and until its transaction ends"
                    ),
                    remediation=safer or _generic_remediation(statement, lock),
                    migration=trace.migration,
                    line=trace.line,
                )
            )
    return findings


def _generic_remediation(statement: str, lock: HeldLock) -> str:
    text = _normalize(statement)
    if re.search(r"\b(ROW\s+LEVEL\s+SECURITY|POLICY)\b", text, re.I):
        head = (
            f"-- no lock-free form exists: this needs {lock.mode} on {lock.relation}, only briefly, but while it\n"
            "-- waits behind open transactions on the table every query queued after it waits too.\n"
        )
    elif re.search(r"\bNOT\s+VALID\b", text, re.I):
        head = (
            f"-- already the short-lock form ({lock.mode} on {lock.relation} without a scan of its rows);\n"
            "-- VALIDATE CONSTRAINT it later in its own transaction. Keep the lock from queueing:\n"
        )
    else:
        head = (
            f"-- no lock-free form is known for this statement: keep the {lock.mode} on {lock.relation} short.\n"
            "-- Run it in its own short transaction (nothing slow after it), so the lock ends at its COMMIT:\n"
        )
    return head + "SET lock_timeout = '2s';  -- and retry on timeout\n" + text + ";"


# ---- safer forms ----------------------------------------------------------------------------

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)'
_QNAME = rf"{_IDENT}(?:\s*\.\s*{_IDENT}){{0,2}}"
_FK_OPTIONS = re.compile(
    r"^\s*((?:(?:ON\s+(?:DELETE|UPDATE)\s+(?:CASCADE|RESTRICT|NO\s+ACTION|SET\s+NULL|SET\s+DEFAULT)"
    r"(?:\s*\([^)]*\))?|MATCH\s+(?:FULL|PARTIAL|SIMPLE)|NOT\s+DEFERRABLE|DEFERRABLE"
    r"|INITIALLY\s+(?:DEFERRED|IMMEDIATE))\s*)*)(.*)$",
    re.I | re.S,
)
_BATCH = 1000


def safer_form(statement: str) -> str | None:
    """A safer way to do what the statement does, as short SQL with comments; None if none exists."""
    text = _normalize(statement)
    if not text:
        return None
    suggestions: list[str] = []
    if re.match(r"ALTER\s+TABLE\b", text, re.I):
        suggestions = _alter_table(text)
    elif re.match(r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?!CONCURRENTLY\b)", text, re.I):
        concurrent = re.sub(r"\bINDEX\s+", "INDEX CONCURRENTLY ", text, count=1, flags=re.I)
        note = "-- if it fails it leaves an INVALID index behind: DROP INDEX CONCURRENTLY it and retry"
        if re.search(r"\bIF\s+NOT\s+EXISTS\b", text, re.I):
            note += " (IF NOT EXISTS would keep the invalid one)"
        suggestions = [
            "-- build the index without blocking writes, outside a transaction block (its own migration step):\n"
            f"{concurrent};\n{note}"
        ]
    elif re.match(r"DROP\s+INDEX\s+(?!CONCURRENTLY\b)", text, re.I) and not re.search(r"\bCASCADE\b", text, re.I):
        concurrent = re.sub(r"\bINDEX\s+", "INDEX CONCURRENTLY ", text, count=1, flags=re.I)
        suggestions = [f"-- outside a transaction block, one index per statement:\n{concurrent};"]
    elif (m := re.match(r"REINDEX\s+(\([^)]*\)\s*)?(INDEX|TABLE)\s+(?!CONCURRENTLY\b)", text, re.I)):
        concurrent = text[: m.end()] + "CONCURRENTLY " + text[m.end():]
        suggestions = [f"-- PostgreSQL 12+, outside a transaction block:\n{concurrent};"]
    elif re.match(r"UPDATE\b", text, re.I):
        suggestions = _update(text)
    suggestions = [s for s in suggestions if s]
    return "\n".join(dict.fromkeys(suggestions)) or None


def _alter_table(text: str) -> list[str]:
    head = re.match(
        rf"ALTER\s+TABLE\s+(?P<exists>IF\s+EXISTS\s+)?(?P<only>ONLY\s+)?(?P<table>{_QNAME})\s*\*?\s+", text, re.I | re.S
    )
    if not head:
        return []
    table = _norm_qname(head.group("table"))
    prefix = f"ALTER TABLE {'ONLY ' if head.group('only') else ''}{table}"
    base = _unquote(_split_qname(head.group("table"))[-1])
    out = []
    for action in _split_top_level(text[head.end():]):
        out.append(_alter_action(action, prefix, table, base))
    return [s for s in out if s]


def _alter_action(action: str, prefix: str, table: str, base: str) -> str | None:
    flags = re.I | re.S
    not_valid = re.search(r"\bNOT\s+VALID\b", action, re.I)
    if re.match(r"(ENABLE|DISABLE|FORCE|NO\s+FORCE)\s+ROW\s+LEVEL\s+SECURITY\b", action, re.I):
        return None  # a brief ACCESS EXCLUSIVE lock; nothing weaker does it
    constraint = re.match(rf"ADD\s+(?:CONSTRAINT\s+(?P<name>{_IDENT})\s+)?(?P<kind>FOREIGN\s+KEY|CHECK|PRIMARY\s+KEY|UNIQUE)\b", action, flags)
    if constraint:
        kind = " ".join(constraint.group("kind").upper().split())
        body = action[constraint.end("kind"):].strip()
        name = constraint.group("name")
        if kind == "FOREIGN KEY":
            if not_valid:
                return None
            cols = re.match(r"\(([^)]*)\)", body)
            name = name or _ident(_constraint_name(base, _cols(cols.group(1)) if cols else [], "fkey"))
            return _not_valid_then_validate(prefix, name, f"FOREIGN KEY {body}")
        if kind == "CHECK":
            if not_valid:
                return None
            name = name or _ident(_constraint_name(base, [], "check"))
            return _not_valid_then_validate(prefix, name, f"CHECK {body}")
        # PRIMARY KEY / UNIQUE: build the unique index concurrently, then attach it
        if re.search(r"\bUSING\s+INDEX\b", body, re.I):
            return None
        cols = re.match(r"(?:NULLS\s+(?:NOT\s+)?DISTINCT\s+)?\(([^)]*)\)", body, re.I)
        if not cols:
            return None
        columns = _cols(cols.group(1))
        suffix = "pkey" if kind == "PRIMARY KEY" else "key"
        name = name or _ident(_constraint_name(base, [] if suffix == "pkey" else columns, suffix))
        lines = [
            "-- build the unique index without blocking writes, outside a transaction block:",
            f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON {table} ({cols.group(1).strip()});",
            "-- then attach it (a brief lock, no scan):",
            f"{prefix} ADD CONSTRAINT {name} {kind} USING INDEX {name};",
        ]
        if kind == "PRIMARY KEY":
            lines.append("-- the key columns must already be NOT NULL, or this scans the table (see SET NOT NULL)")
        return "\n".join(lines)
    column = re.match(
        rf"ADD\s+(?:COLUMN\s+)?(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<col>{_IDENT})\s+(?P<def>.*?)\s*"
        rf"(?:\bCONSTRAINT\s+(?P<cname>{_IDENT})\s+)?\bREFERENCES\s+(?P<ref>{_QNAME})\s*(?P<refcols>\([^)]*\))?(?P<rest>.*)$",
        action,
        flags,
    )
    if column and not re.match(r"ADD\s+(CONSTRAINT|FOREIGN|CHECK|PRIMARY|UNIQUE|EXCLUDE)\b", action, re.I):
        options = _FK_OPTIONS.match(column.group("rest"))
        fk_options, extra = (options.group(1).strip(), options.group(2).strip()) if options else ("", column.group("rest").strip())
        col = column.group("col")
        definition = " ".join(p for p in (column.group("def").strip(), extra) if p)
        name = column.group("cname") or _ident(_constraint_name(base, [_unquote(col)], "fkey"))
        refcols = column.group("refcols") or ""
        references = f"REFERENCES {_norm_qname(column.group('ref'))}{refcols}" + (f" {fk_options}" if fk_options else "")
        ine = "IF NOT EXISTS " if column.group("ine") else ""
        return (
            "-- add the column without the foreign key (a brief lock, no scan):\n"
            f"{prefix} ADD COLUMN {ine}{col} {definition};\n"
            + _not_valid_then_validate(prefix, name, f"FOREIGN KEY ({col}) {references}")
        )
    not_null = re.match(rf"ALTER\s+(?:COLUMN\s+)?(?P<col>{_IDENT})\s+SET\s+NOT\s+NULL$", action, flags)
    if not_null:
        col = not_null.group("col")
        check = _ident(_truncate(f"{_unquote(col)}_not_null"))
        return (
            "-- prove NOT NULL with a CHECK that is validated without blocking reads or writes:\n"
            f"{prefix} ADD CONSTRAINT {check} CHECK ({col} IS NOT NULL) NOT VALID;\n"
            f"{prefix} VALIDATE CONSTRAINT {check};  -- its own transaction: SHARE UPDATE EXCLUSIVE\n"
            "-- PostgreSQL 12+ then skips the full-table scan of SET NOT NULL (a brief lock):\n"
            f"{prefix} ALTER COLUMN {col} SET NOT NULL;\n"
            f"{prefix} DROP CONSTRAINT {check};"
        )
    retype = re.match(
        rf"ALTER\s+(?:COLUMN\s+)?(?P<col>{_IDENT})\s+(?:SET\s+DATA\s+)?TYPE\s+(?P<type>.+?)"
        r"(?:\s+COLLATE\s+\S+)?(?:\s+USING\s+(?P<using>.+))?$",
        action,
        flags,
    )
    if retype:
        col = retype.group("col")
        new = _ident(_truncate(f"{_unquote(col)}_new"))
        old = _ident(_truncate(f"{_unquote(col)}_old"))
        type_ = retype.group("type").strip()
        value = retype.group("using").strip() if retype.group("using") else f"{col}::{type_}"
        return (
            "-- changing the type rewrites the table under ACCESS EXCLUSIVE (varchar to text or a longer\n"
            "-- varchar needs no rewrite). Instead add a new column, backfill it in batches, then swap:\n"
            f"{prefix} ADD COLUMN {new} {type_};\n"
            f"-- keep {new} in sync on writes (trigger), backfill in batches by primary key:\n"
            f"UPDATE {table} SET {new} = {value}"
            f" WHERE id IN (SELECT id FROM {table}"
            f" WHERE id > :last_id ORDER BY id LIMIT {_BATCH});\n"
            "-- then, in one short transaction:\n"
            f"{prefix} RENAME COLUMN {col} TO {old};\n"
            f"{prefix} RENAME COLUMN {new} TO {col};"
        )
    return None


def _not_valid_then_validate(prefix: str, name: str, constraint: str) -> str:
    return (
        "-- add the constraint NOT VALID (existing rows are not scanned, the lock is brief):\n"
        f"{prefix} ADD CONSTRAINT {name} {constraint} NOT VALID;\n"
        "-- then, in its own transaction (SHARE UPDATE EXCLUSIVE: reads and writes go on):\n"
        f"{prefix} VALIDATE CONSTRAINT {name};"
    )


def _update(text: str) -> list[str]:
    masked = _mask(text)
    m = re.match(
        rf"UPDATE\s+(?P<only>ONLY\s+)?(?P<table>{_QNAME})(?:\s+(?:AS\s+)?(?!SET\b)(?P<alias>{_IDENT}))?\s+SET\s+",
        text,
        re.I | re.S,
    )
    if not m:
        return []
    table = _norm_qname(m.group("table"))
    ref = m.group("alias") or table
    rest_start = m.end()
    clause_at = {}
    for keyword in ("FROM", "WHERE", "RETURNING"):
        k = re.search(rf"\b{keyword}\b", masked[rest_start:], re.I)
        if k:
            clause_at[keyword] = rest_start + k.start()
    ends = sorted(clause_at.values())
    set_end = ends[0] if ends else len(text)
    head = text[: set_end].rstrip()
    from_clause = ""
    if "FROM" in clause_at:
        stop = min([v for k, v in clause_at.items() if v > clause_at["FROM"]], default=len(text))
        from_clause = " " + text[clause_at["FROM"]:stop].strip()
    where = ""
    if "WHERE" in clause_at:
        stop = clause_at.get("RETURNING", len(text))
        where = text[clause_at["WHERE"] + len("WHERE"):stop].strip()
    condition = f"({where}) AND " if where else ""
    return [
        f"-- backfill {table} in batches of {_BATCH} rows by primary key (assumed: id), each batch in its own\n"
        "-- short transaction; :last_id is the largest id of the previous batch; stop when a batch is empty:\n"
        f"{head}{from_clause}\n"
        f"WHERE {condition}{ref}.id IN (SELECT id FROM {table} WHERE id > :last_id ORDER BY id LIMIT {_BATCH});"
    ]


# ---- small SQL text helpers -----------------------------------------------------------------


def _normalize(statement: str) -> str:
    """Comments removed, whitespace collapsed (outside quotes), no trailing semicolon."""
    out = []
    i, n = 0, len(statement)
    while i < n:
        ch = statement[i]
        if ch in ("'", '"'):
            j = i + 1
            while j < n:
                if statement[j] == ch:
                    if j + 1 < n and statement[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            out.append(statement[i : j + 1])
            i = j + 1
        elif statement.startswith("--", i):
            j = statement.find("\n", i)
            i = n if j < 0 else j
            out.append(" ")
        elif statement.startswith("/*", i):
            j = statement.find("*/", i + 2)
            i = n if j < 0 else j + 2
            out.append(" ")
        elif ch.isspace():
            if out and out[-1] != " ":
                out.append(" ")
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out).strip().rstrip(";").strip()


def _mask(text: str) -> str:
    """The text with everything inside quotes or parentheses blanked (same length)."""
    out = []
    depth = 0
    quote = None
    for ch in text:
        if quote:
            out.append(" ")
            if ch == quote:
                quote = None
            continue
        if ch in ("'", '"'):
            quote = ch
            out.append(" ")
        elif ch == "(":
            depth += 1
            out.append("(" if depth == 1 else " ")
        elif ch == ")":
            depth = max(depth - 1, 0)
            out.append(")" if depth == 0 else " ")
        else:
            out.append(ch if depth == 0 else " ")
    return "".join(out)


def _split_top_level(text: str) -> list[str]:
    masked = _mask(text)
    parts, start = [], 0
    for i, ch in enumerate(masked):
        if ch == ",":
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _split_qname(qname: str) -> list[str]:
    return re.findall(_IDENT, qname)


def _norm_qname(qname: str) -> str:
    return ".".join(_split_qname(qname))


def _unquote(ident: str) -> str:
    if ident.startswith('"') and ident.endswith('"'):
        return ident[1:-1].replace('""', '"')
    return ident.lower()


def _ident(name: str) -> str:
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", name):
        return name
    return '"' + name.replace('"', '""') + '"'


def _cols(text: str) -> list[str]:
    return [_unquote(c) for c in re.findall(_IDENT, text)]


def _truncate(name: str) -> str:
    return name.encode("utf-8")[:63].decode("utf-8", "ignore")


def _constraint_name(table: str, columns: list[str], suffix: str) -> str:
    """PostgreSQL's default naming: table_col1_col2_suffix, cut to fit 63 bytes."""
    stem = "_".join([table, *columns])
    return _truncate(stem)[: 63 - len(suffix) - 1] + "_" + suffix
