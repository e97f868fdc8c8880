"""What a probe will make the server execute, read before it runs: side effects looked for first.

A probe's statement on a table runs more than the statement: the table's policies (and every
function they call, and the policies of every table those read), and for write probes its column
defaults and generated columns, CHECK constraints (of the table and of the domains of its columns),
index expressions and predicates, triggers, rules, and the same again on partitions and on the
tables that ON UPDATE / ON DELETE actions of foreign keys change. All of it runs inside the probe's
transaction, which is rolled back, unless it can act outside that transaction: a dblink or
postgres_fdw connection (which commits on its own), a foreign table, COPY to or from a program or a
server file, large-object and server-file functions, session-level advisory locks, signalling or
reconfiguring the server, logical messages and replication slots, or code the tool cannot read
(dynamic SQL, untrusted or unknown languages, code created at run time, calls nested deeper than
MAX_DEPTH). Such a table is skipped with the reason, unless --probe-side-effects says otherwise.

Everything is read from the catalogue in a constant number of queries (not per table), without
pg_get_expr / pg_get_ruledef (which lock relations): stored expressions are judged by what
PostgreSQL records they depend on (pg_depend: the functions, operators, relations and domains they
use), function bodies by parsing them with pglast (the PostgreSQL parser): FuncCall, operators,
casts, RangeVar, COPY, NOTIFY and dynamic EXECUTE in the parse trees, never regular expressions.
Names in bodies are resolved conservatively: an unqualified name stands for every function (or
relation, operator, domain) of that name in any schema.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import psycopg
from pglast import ast, parse_plpgsql, parser

MAX_DEPTH = 8  # function calls followed, helper of helper of ...; deeper is "cannot read"
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")
OVERRIDE = "pass --probe-side-effects to probe anyway"

# Extensions whose functions are pure computations on their arguments (no network, no files, no
# session state, no SQL of their own), shipped with PostgreSQL's contrib: calling one cannot act
# outside the transaction, so their C functions need not (and cannot) be read. Kept short on
# purpose; anything else in C is unsafe because the tool cannot see what it does. (Not here:
# tablefunc, whose crosstab runs a query given as text; pg_stat_statements, whose reset is not
# transactional; dblink, postgres_fdw, file_fdw, adminpack, which act outside the transaction.)
SAFE_EXTENSIONS = frozenset(
    {"uuid-ossp", "pgcrypto", "citext", "pg_trgm", "hstore", "ltree", "unaccent", "fuzzystrmatch",
     "btree_gist", "btree_gin", "intarray", "cube", "earthdistance", "isn"}
)
_KNOWN_EXTENSIONS = {
    "dblink": "connects to a database of its own, whose work commits outside the transaction",
    "postgres_fdw": "connects to another server, outside the transaction",
    "file_fdw": "reads server files or runs programs",
    "adminpack": "writes server files",
    "pg_background": "runs SQL in a background worker, outside the transaction",
}

_OUTSIDE = "acts outside the transaction"
_FILES = "reads or writes server files, outside the transaction"
_LARGE_OBJECTS = "works on large objects (server files and objects outside the probe's tables)"
_SESSION_LOCK = "takes or releases a session-level advisory lock, which outlives the rollback"
_SERVER = "acts on the server or other sessions, outside the transaction"
_SLOT = "works on a replication slot, outside the transaction"
_DYNAMIC = "runs a query given as text, which the tool cannot read"
# Functions of pg_catalog that act outside the transaction or run SQL the tool cannot read.
_SYSTEM_UNSAFE: dict[str, str] = {
    "pg_notify": "sends a notification to other sessions",
    **{name: _FILES for name in (
        "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "pg_ls_logdir", "pg_ls_waldir",
        "pg_ls_tmpdir", "pg_ls_archive_statusdir", "pg_ls_logicalmapdir", "pg_ls_logicalsnapdir",
        "pg_ls_replslotdir", "pg_file_write", "pg_file_rename", "pg_file_unlink", "pg_file_sync",
        "pg_current_logfile",
    )},
    **{name: _LARGE_OBJECTS for name in (
        "lo_import", "lo_export", "lo_create", "lo_creat", "lo_unlink", "lo_open", "lo_close", "loread",
        "lowrite", "lo_lseek", "lo_lseek64", "lo_tell", "lo_tell64", "lo_truncate", "lo_truncate64",
        "lo_get", "lo_put", "lo_from_bytea",
    )},
    **{name: _SESSION_LOCK for name in (
        "pg_advisory_lock", "pg_advisory_lock_shared", "pg_try_advisory_lock", "pg_try_advisory_lock_shared",
        "pg_advisory_unlock", "pg_advisory_unlock_shared", "pg_advisory_unlock_all",
    )},
    **{name: _SERVER for name in (
        "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile", "pg_switch_wal",
        "pg_create_restore_point", "pg_promote", "pg_wal_replay_pause", "pg_wal_replay_resume",
        "pg_backup_start", "pg_backup_stop", "pg_start_backup", "pg_stop_backup", "pg_log_backend_memory_contexts",
        "pg_stat_reset", "pg_stat_reset_shared", "pg_stat_reset_single_table_counters",
        "pg_stat_reset_single_function_counters", "pg_stat_reset_slru", "pg_stat_reset_replication_slot",
        "pg_stat_reset_subscription_stats", "pg_logical_emit_message",
    )},
    **{name: _SLOT for name in (
        "pg_create_physical_replication_slot", "pg_create_logical_replication_slot", "pg_drop_replication_slot",
        "pg_replication_slot_advance", "pg_copy_physical_replication_slot", "pg_copy_logical_replication_slot",
        "pg_logical_slot_get_changes", "pg_logical_slot_get_binary_changes", "pg_logical_slot_peek_changes",
        "pg_logical_slot_peek_binary_changes", "pg_replication_origin_create", "pg_replication_origin_drop",
        "pg_replication_origin_session_setup", "pg_replication_origin_advance",
    )},
    **{name: _DYNAMIC for name in (
        "query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema", "cursor_to_xml", "cursor_to_xmlschema",
        "table_to_xml", "table_to_xmlschema", "table_to_xml_and_xmlschema", "schema_to_xml", "schema_to_xmlschema",
        "schema_to_xml_and_xmlschema", "database_to_xml", "database_to_xmlschema", "database_to_xml_and_xmlschema",
        "ts_stat", "ts_rewrite",
    )},
}
# Statements in a body that act outside the transaction or bring code the tool cannot read.
_UNSAFE_STATEMENTS: dict[type, str] = {
    ast.NotifyStmt: "sends NOTIFY to other sessions",
    ast.LoadStmt: "loads a shared library (LOAD)",
    ast.CheckPointStmt: "forces a CHECKPOINT",
    ast.DoStmt: "runs an anonymous code block (DO), which the tool does not read",
    ast.PrepareStmt: "prepares a statement for the session (PREPARE), which outlives the rollback",
    ast.ExecuteStmt: "executes a prepared statement (EXECUTE), which the tool cannot read",
    ast.DeallocateStmt: "deallocates a prepared statement of the session",
    ast.AlterSystemStmt: "changes the server configuration (ALTER SYSTEM)",
    ast.CreateFunctionStmt: "creates a function at run time, which the tool cannot read",
    ast.CreateTrigStmt: "creates a trigger at run time, which the tool cannot read",
    ast.RuleStmt: "creates a rule at run time, which the tool cannot read",
    ast.CreateEventTrigStmt: "creates an event trigger at run time",
    ast.CreateExtensionStmt: "creates an extension at run time, which the tool cannot read",
    ast.CreateForeignTableStmt: "creates a foreign table at run time",
    ast.CreateSubscriptionStmt: "creates a subscription (connects to another server)",
}

Ref = tuple[str, int]  # ('f' function | 'o' operator | 'r' relation | 't' type, oid)


@dataclass
class _Holder:
    kind: str  # policy, view definition, rule, default of column, ...
    name: str
    for_read: bool
    refs: list[Ref] = field(default_factory=list)


@dataclass
class _Function:
    oid: int
    schema: str
    name: str
    language: str
    trusted: bool
    kind: str  # f function, p procedure, a aggregate, w window
    extension: str | None
    source: str | None  # prosrc of SQL functions, pg_get_functiondef of PL/pgSQL ones

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.name}()"


class Unreadable(Exception):
    """A body the tool cannot judge: the reason is a verb phrase ("runs dynamic SQL ...")."""


# -- the catalogue, read in a constant number of queries ----------------------------------------

_RELATIONS = """
SELECT c.oid, n.nspname, c.relname, c.relkind
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
"""
_INHERITS = "SELECT inhparent, inhrelid FROM pg_catalog.pg_inherits"
_CASCADES = """
SELECT c.confrelid, c.conrelid, c.conname,
       CASE WHEN c.confdeltype IN ('c', 'n', 'd') THEN 'ON DELETE' ELSE 'ON UPDATE' END
FROM pg_catalog.pg_constraint c
WHERE c.contype = 'f' AND (c.confdeltype IN ('c', 'n', 'd') OR c.confupdtype IN ('c', 'n', 'd'))
"""
# Every stored expression and what PostgreSQL records it uses. owner: 'r' relation, 't' domain,
# 'f' function (SQL function bodies: BEGIN ATOMIC ones are only known this way).
_HOLDERS = """
WITH holder (owner, owner_oid, kind, name, for_read, classid, objid) AS (
  SELECT 'r', p.polrelid, 'policy', p.polname::text, p.polcmd IN ('r', '*'), 'pg_catalog.pg_policy'::pg_catalog.regclass, p.oid
  FROM pg_catalog.pg_policy p
  UNION ALL
  SELECT 'r', d.adrelid, CASE WHEN a.attgenerated <> '' THEN 'generated column' ELSE 'default of column' END,
         a.attname::text, false, 'pg_catalog.pg_attrdef'::pg_catalog.regclass, d.oid
  FROM pg_catalog.pg_attrdef d JOIN pg_catalog.pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
  UNION ALL
  SELECT 'r', c.conrelid, 'CHECK constraint', c.conname::text, false, 'pg_catalog.pg_constraint'::pg_catalog.regclass, c.oid
  FROM pg_catalog.pg_constraint c WHERE c.contype = 'c' AND c.conrelid <> 0
  UNION ALL
  SELECT 't', c.contypid, 'CHECK constraint', c.conname::text, false, 'pg_catalog.pg_constraint'::pg_catalog.regclass, c.oid
  FROM pg_catalog.pg_constraint c WHERE c.contype = 'c' AND c.contypid <> 0
  UNION ALL
  SELECT 'r', i.indrelid, 'index', x.relname::text, false, 'pg_catalog.pg_class'::pg_catalog.regclass, i.indexrelid
  FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class x ON x.oid = i.indexrelid
  WHERE i.indexprs IS NOT NULL OR i.indpred IS NOT NULL
  UNION ALL
  SELECT 'r', t.tgrelid, 'trigger', t.tgname::text, false, 'pg_catalog.pg_trigger'::pg_catalog.regclass, t.oid
  FROM pg_catalog.pg_trigger t WHERE NOT t.tgisinternal AND t.tgenabled <> 'D'
  UNION ALL
  SELECT 'r', r.ev_class, CASE WHEN r.rulename = '_RETURN' THEN 'view definition' ELSE 'rule' END,
         r.rulename::text, r.rulename = '_RETURN', 'pg_catalog.pg_rewrite'::pg_catalog.regclass, r.oid
  FROM pg_catalog.pg_rewrite r
  UNION ALL
  SELECT 'f', f.oid, 'body', '', false, 'pg_catalog.pg_proc'::pg_catalog.regclass, f.oid
  FROM pg_catalog.pg_proc f JOIN pg_catalog.pg_language l ON l.oid = f.prolang
  JOIN pg_catalog.pg_namespace n ON n.oid = f.pronamespace
  WHERE l.lanname = 'sql' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
)
SELECT h.owner, h.owner_oid, h.kind, h.name, h.for_read,
       CASE d.refclassid
         WHEN 'pg_catalog.pg_proc'::pg_catalog.regclass THEN 'f'
         WHEN 'pg_catalog.pg_operator'::pg_catalog.regclass THEN 'o'
         WHEN 'pg_catalog.pg_class'::pg_catalog.regclass THEN 'r'
         WHEN 'pg_catalog.pg_type'::pg_catalog.regclass THEN 't'
       END,
       d.refobjid
FROM holder h
LEFT JOIN pg_catalog.pg_depend d ON d.classid = h.classid AND d.objid = h.objid AND d.deptype IN ('n', 'a')
  AND d.refclassid IN ('pg_catalog.pg_proc'::pg_catalog.regclass, 'pg_catalog.pg_operator'::pg_catalog.regclass,
                       'pg_catalog.pg_class'::pg_catalog.regclass, 'pg_catalog.pg_type'::pg_catalog.regclass)
ORDER BY h.owner, h.owner_oid, h.kind, h.name
"""
_COLUMN_DOMAINS = """
SELECT a.attrelid, t.oid
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type at ON at.oid = a.atttypid
JOIN pg_catalog.pg_type t ON t.oid = CASE WHEN at.typelem <> 0 AND at.typlen = -1 THEN at.typelem ELSE at.oid END
WHERE a.attnum > 0 AND NOT a.attisdropped AND t.typtype = 'd'
"""
_DOMAINS = """
SELECT t.oid, n.nspname, t.typname, t.typbasetype
FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE t.typtype = 'd'
"""
# Functions outside the system schemas (with what is needed to judge them), and the system ones
# that act outside the transaction (a policy may call them by oid).
_FUNCTIONS = """
SELECT f.oid, n.nspname, f.proname, l.lanname, l.lanpltrusted, f.prokind, e.extname,
       CASE WHEN n.nspname IN ('pg_catalog', 'information_schema') OR e.extname = ANY (%(safe)s) THEN NULL
            WHEN l.lanname = 'sql' THEN f.prosrc
            WHEN l.lanname = 'plpgsql' AND f.prokind <> 'a' THEN pg_catalog.pg_get_functiondef(f.oid) END
FROM pg_catalog.pg_proc f
JOIN pg_catalog.pg_namespace n ON n.oid = f.pronamespace
JOIN pg_catalog.pg_language l ON l.oid = f.prolang
LEFT JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = f.oid
  AND d.deptype = 'e' AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
LEFT JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') OR f.proname = ANY (%(system_unsafe)s)
"""
_AGGREGATES = """
SELECT a.aggfnoid::oid, s.fn
FROM pg_catalog.pg_aggregate a
JOIN pg_catalog.pg_proc f ON f.oid = a.aggfnoid
JOIN pg_catalog.pg_namespace n ON n.oid = f.pronamespace
CROSS JOIN LATERAL (VALUES (a.aggtransfn), (a.aggfinalfn), (a.aggcombinefn), (a.aggserialfn), (a.aggdeserialfn),
                           (a.aggmtransfn), (a.aggminvtransfn), (a.aggmfinalfn)) AS s (fn)
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND s.fn <> 0
"""
_OPERATORS = """
SELECT o.oid, o.oprname, o.oprcode::oid, n.nspname
FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
"""
# Casts to a type through a function outside the system schemas; castcontext i/a run unseen.
_CASTS = """
SELECT t.typname, c.castfunc, c.castcontext IN ('i', 'a')
FROM pg_catalog.pg_cast c JOIN pg_catalog.pg_type t ON t.oid = c.casttarget
JOIN pg_catalog.pg_proc f ON f.oid = c.castfunc JOIN pg_catalog.pg_namespace n ON n.oid = f.pronamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
"""

# The probes' own statements run as the app role with its search_path (what the application
# sees): an operator or cast defined outside the system schemas between the built-in types they
# compare (oid, tid, text, integers, uuid ...) can be chosen over the built-in one, and then runs
# too. (Operators and casts of other types, e.g. PostGIS's, cannot match those statements.)
_PROBE_TYPES = ("oid", "tid", "text", "varchar", "bpchar", "name", "int2", "int4", "int8", "numeric", "uuid", "unknown")
_PROBE_OPERATORS = """
SELECT pg_catalog.format('operator %%s.%%s(%%s, %%s)', n.nspname, o.oprname, o.oprleft::pg_catalog.regtype,
                         o.oprright::pg_catalog.regtype), o.oprcode::oid
FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND o.oprname IN ('=', '<>')
  AND (o.oprleft IN (SELECT t.oid FROM pg_catalog.pg_type t WHERE t.typname = ANY (%(types)s) AND t.typnamespace = 'pg_catalog'::pg_catalog.regnamespace)
    AND o.oprright IN (SELECT t.oid FROM pg_catalog.pg_type t WHERE t.typname = ANY (%(types)s) AND t.typnamespace = 'pg_catalog'::pg_catalog.regnamespace))
UNION ALL
SELECT pg_catalog.format('cast (%%s AS %%s)', c.castsource::pg_catalog.regtype, c.casttarget::pg_catalog.regtype), c.castfunc
FROM pg_catalog.pg_cast c JOIN pg_catalog.pg_proc f ON f.oid = c.castfunc
JOIN pg_catalog.pg_namespace n ON n.oid = f.pronamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND (c.castsource IN (SELECT t.oid FROM pg_catalog.pg_type t WHERE t.typname = ANY (%(types)s) AND t.typnamespace = 'pg_catalog'::pg_catalog.regnamespace)
    AND c.casttarget IN (SELECT t.oid FROM pg_catalog.pg_type t WHERE t.typname = ANY (%(types)s) AND t.typnamespace = 'pg_catalog'::pg_catalog.regnamespace))
"""


class Catalog:
    """What the server will execute for any relation, read once."""

    def __init__(self, conn: psycopg.Connection):
        self.relations: dict[int, tuple[str, str, str]] = {}
        self.relations_named: dict[str, list[int]] = {}
        for oid, schema, name, kind in conn.execute(_RELATIONS):
            self.relations[oid] = (schema, name, kind)
            self.relations_named.setdefault(name, []).append(oid)
        self.children: dict[int, list[int]] = {}
        for parent, child in conn.execute(_INHERITS):
            self.children.setdefault(parent, []).append(child)
        self.cascades: dict[int, list[tuple[int, str, str]]] = {}
        for parent, child, name, action in conn.execute(_CASCADES):
            self.cascades.setdefault(parent, []).append((child, name, action))
        self.holders: dict[tuple[str, int], list[_Holder]] = {}
        last: _Holder | None = None
        last_key: tuple | None = None
        for owner, owner_oid, kind, name, for_read, refkind, refoid in conn.execute(_HOLDERS):
            key = (owner, owner_oid, kind, name)
            if key != last_key:
                last = _Holder(kind, name, for_read)
                self.holders.setdefault((owner, owner_oid), []).append(last)
                last_key = key
            if refkind and not (refkind == "r" and owner == "r" and refoid == owner_oid):
                last.refs.append((refkind, refoid))
        self.column_domains: dict[int, set[int]] = {}
        for relid, typid in conn.execute(_COLUMN_DOMAINS):
            self.column_domains.setdefault(relid, set()).add(typid)
        self.domains: dict[int, tuple[str, str, int]] = {}
        self.domains_named: dict[str, list[int]] = {}
        for oid, schema, name, base in conn.execute(_DOMAINS):
            self.domains[oid] = (schema, name, base)
            self.domains_named.setdefault(name, []).append(oid)
        self.functions: dict[int, _Function] = {}
        self.functions_named: dict[str, list[int]] = {}
        params = {"safe": sorted(SAFE_EXTENSIONS), "system_unsafe": sorted(_SYSTEM_UNSAFE)}
        for oid, schema, name, language, trusted, kind, extension, source in conn.execute(_FUNCTIONS, params):
            self.functions[oid] = _Function(oid, schema, name, language, trusted, kind, extension, source)
            self.functions_named.setdefault(name, []).append(oid)
        self.aggregate_support: dict[int, list[int]] = {}
        for oid, fn in conn.execute(_AGGREGATES):
            self.aggregate_support.setdefault(oid, []).append(fn)
        self.operator_code: dict[int, int] = {}
        self.operators_named: dict[str, list[tuple[str, int]]] = {}
        for oid, name, code, schema in conn.execute(_OPERATORS):
            self.operator_code[oid] = code
            self.operators_named.setdefault(name, []).append((schema, code))
        self.casts_to: dict[str, list[int]] = {}
        self.implicit_casts: list[int] = []
        for typname, fn, implicit in conn.execute(_CASTS):
            self.casts_to.setdefault(typname, []).append(fn)
            if implicit:
                self.implicit_casts.append(fn)
        self.probe_statement_code = conn.execute(_PROBE_OPERATORS, {"types": list(_PROBE_TYPES)}).fetchall()
        self._bodies: dict[int, list[tuple[str, str, Any]]] = {}

    def relation_label(self, oid: int) -> str:
        schema, name, _kind = self.relations[oid]
        return f"{schema}.{name}"

    def relations_by_name(self, schema: str | None, name: str) -> list[int]:
        return [o for o in self.relations_named.get(name, ()) if schema is None or self.relations[o][0] == schema]

    def functions_by_name(self, schema: str | None, name: str) -> list[int]:
        return [o for o in self.functions_named.get(name, ()) if schema is None or self.functions[o].schema == schema]

    def body_edges(self, fn: _Function) -> list[tuple[str, str, Any]]:
        """What a function's body uses: [(kind, label, target)], kind 'node' (a graph node) or
        'unsafe' (a verb phrase saying why). Parsed once per function."""
        if fn.oid not in self._bodies:
            try:
                self._bodies[fn.oid] = list(self._body_edges(fn))
            except Unreadable as exc:
                self._bodies[fn.oid] = [("unsafe", "", str(exc))]
        return self._bodies[fn.oid]

    def _body_edges(self, fn: _Function) -> Iterator[tuple[str, str, Any]]:
        uses = _Uses()
        if fn.language == "sql":
            if fn.source and fn.source.strip():
                _walk_sql(fn.source, uses)
        elif fn.language == "plpgsql":
            if fn.source is None:
                raise Unreadable("could not be read from the catalogue")
            _walk_plpgsql(fn.source, uses)
        if uses.unsafe:
            raise Unreadable(uses.unsafe[0])
        for schema, name in uses.functions:
            if (schema is None or schema in SYSTEM_SCHEMAS) and name in _SYSTEM_UNSAFE:
                raise Unreadable(f"calls {name}(), which {_SYSTEM_UNSAFE[name]}")
            for oid in self.functions_by_name(schema, name):
                yield "node", "", ("f", oid)
        for schema, name in uses.operators:
            for operator_schema, code in self.operators_named.get(name, ()):
                if schema is None or operator_schema == schema:
                    yield "node", "", ("f", code)
        for schema, name in uses.types:
            for oid in self.domains_named.get(name, ()):
                if schema is None or self.domains[oid][0] == schema:
                    yield "node", "", ("t", oid)
            for code in self.casts_to.get(name, ()):
                yield "node", "", ("f", code)
        for code in self.implicit_casts:
            yield "node", "", ("f", code)
        for (schema, name), written in uses.relations.items():
            for oid in self.relations_by_name(schema, name):
                yield "node", "", ("write" if written else "read", oid)
        if fn.language == "sql":  # BEGIN ATOMIC bodies: what PostgreSQL recorded they use
            for holder in self.holders.get(("f", fn.oid), ()):
                for ref in holder.refs:
                    yield "node", "", _ref_node(ref, written=True)


def _ref_node(ref: Ref, *, written: bool) -> tuple[str, int]:
    kind, oid = ref
    if kind == "r":
        return ("write" if written else "read", oid)
    return (kind, oid)


# -- reading bodies with the PostgreSQL parser ----------------------------------------------------

@dataclass
class _Uses:
    functions: set[tuple[str | None, str]] = field(default_factory=set)
    operators: set[tuple[str | None, str]] = field(default_factory=set)
    types: set[tuple[str | None, str]] = field(default_factory=set)
    relations: dict[tuple[str | None, str], bool] = field(default_factory=dict)  # -> written
    unsafe: list[str] = field(default_factory=list)


def _names(items: Iterable[Any] | None) -> tuple[str | None, str] | None:
    parts = [item.sval for item in items or () if isinstance(item, ast.String)]
    if not parts:
        return None
    return (parts[-2] if len(parts) >= 2 else None, parts[-1])


def _children(node: Any) -> Iterator[Any]:
    if isinstance(node, ast.Node):
        for slot in type(node).__slots__:
            value = getattr(node, slot, None)
            if isinstance(value, (ast.Node, tuple, list)):
                yield value
    elif isinstance(node, (tuple, list)):
        yield from node


def _walk_tree(tree: Any, uses: _Uses) -> None:
    written: set[int] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Node):
            for kind, why in _UNSAFE_STATEMENTS.items():
                if isinstance(node, kind):
                    uses.unsafe.append(why)
            if isinstance(node, ast.FuncCall):
                name = _names(node.funcname)
                if name:
                    uses.functions.add(name)
            elif isinstance(node, (ast.A_Expr, ast.SubLink)):
                name = _names(node.name if isinstance(node, ast.A_Expr) else node.operName)
                if name:
                    uses.operators.add(name)
            elif isinstance(node, ast.TypeName):
                name = _names(node.names)
                if name:
                    uses.types.add(name)
            elif isinstance(node, (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)):
                if node.relation is not None:
                    written.add(id(node.relation))
            elif isinstance(node, ast.CopyStmt):
                if node.filename is not None:
                    uses.unsafe.append(
                        "runs COPY with PROGRAM, an operating-system command" if node.is_program
                        else "runs COPY to or from a server file"
                    )
                if node.relation is not None and node.is_from:
                    written.add(id(node.relation))
            elif isinstance(node, ast.RangeVar):
                key = (node.schemaname, node.relname)
                uses.relations[key] = uses.relations.get(key, False) or id(node) in written
        stack.extend(_children(node))


def _walk_sql(text: str, uses: _Uses) -> None:
    try:
        tree = parser.parse_sql(text)
    except parser.ParseError:
        raise Unreadable("has a body the SQL parser cannot read") from None
    _walk_tree(tree, uses)


def _split_assignment(text: str) -> tuple[str, str]:
    """'target := expression' (PL/pgSQL assignment) -> (target, expression), by the SQL lexer."""
    data = text.encode("utf-8")
    depth = 0
    for token in parser.scan(text):
        if token.name in ("ASCII_40", "ASCII_91"):
            depth += 1
        elif token.name in ("ASCII_41", "ASCII_93"):
            depth -= 1
        elif depth == 0 and token.name in ("COLON_EQUALS", "ASCII_61"):
            return data[: token.start].decode("utf-8"), data[token.end + 1 :].decode("utf-8")
    raise Unreadable("has an assignment the parser cannot read")


_DYNAMIC_PLPGSQL = {"PLpgSQL_stmt_dynexecute", "PLpgSQL_stmt_dynfors"}


def _walk_plpgsql(definition: str, uses: _Uses) -> None:
    try:
        tree = parse_plpgsql(definition)
    except parser.ParseError:
        raise Unreadable("has a PL/pgSQL body the parser cannot read") from None
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            if key in _DYNAMIC_PLPGSQL or key == "dynquery":
                uses.unsafe.append("runs dynamic SQL (EXECUTE), which the tool cannot read")
            elif key in ("PLpgSQL_stmt_commit", "PLpgSQL_stmt_rollback"):
                uses.unsafe.append("ends the transaction (COMMIT or ROLLBACK)")
            elif key == "PLpgSQL_expr" and isinstance(value, dict):
                _walk_plpgsql_expr(value.get("query", ""), value.get("parseMode", 0), uses)
                continue
            stack.append(value)


def _walk_plpgsql_expr(query: str, mode: int, uses: _Uses) -> None:
    # parseMode: 0 a whole statement; 2 an expression; 3-5 an assignment 'target := expression'
    if mode == 0:
        _walk_sql(query, uses)
    elif mode in (3, 4, 5):
        target, expression = _split_assignment(query)
        _walk_sql("SELECT " + target, uses)
        _walk_sql("SELECT " + expression, uses)
    else:
        _walk_sql("SELECT " + query, uses)


# -- judging: a breadth-first walk per table over what runs --------------------------------------

_ROOT_FOR = {"read": "read", "unset-read": "read", "insert": "insert"}  # anything else: write


def inspect(
    conn: psycopg.Connection,
    table_oids: Iterable[int],
    *,
    operations: Iterable[str],
    inserted: Iterable[int] = (),
) -> dict[int, str]:
    """Tables (by oid) a probe of ``operations`` must skip, with the one-line reason; absent = safe.

    ``inserted``: tables that only receive synthetic rows (the tenants table of write probes).
    """
    kinds = {_ROOT_FOR.get(op, "write") for op in operations}
    root = "write" if "write" in kinds else "insert" if "insert" in kinds else "read"
    table_oids, inserted = list(table_oids), list(inserted)
    catalog = Catalog(conn)
    reasons: dict[int, str] = {}
    everywhere = _judge(catalog, ("probe", 0))  # the probes' own statements, on every table
    if everywhere:
        return {
            oid: f"the probe's own statements {everywhere}: {OVERRIDE}"
            for oid in [*table_oids, *inserted] if oid in catalog.relations
        }
    for oid, kind in [*((o, root) for o in table_oids), *((o, "insert") for o in inserted)]:
        if oid in catalog.relations and oid not in reasons:
            why = _judge(catalog, (kind, oid))
            if why:
                reasons[oid] = f"{why}: {OVERRIDE}"
    return reasons


def _judge(catalog: Catalog, root: tuple[str, int]) -> str | None:
    """None when nothing that runs for ``root`` can act outside the transaction, else why."""
    # node -> (parent node, edge phrase, depth in function calls)
    seen: dict[tuple[str, int], tuple[tuple[str, int] | None, str, int]] = {root: (None, "", 0)}
    queue = deque([root])
    while queue:
        node = queue.popleft()
        depth = seen[node][2]
        for phrase, target in _edges(catalog, node):
            if isinstance(target, str):  # unsafe: a verb phrase
                return _sentence(catalog, seen, node, phrase, target)
            if target in seen:
                continue
            step = depth + (target[0] == "f")
            seen[target] = (node, phrase, step)
            if step > MAX_DEPTH:
                return _sentence(
                    catalog, seen, target, "",
                    f"calls functions nested deeper than {MAX_DEPTH} levels, which the tool does not follow",
                )
            queue.append(target)
    return None


def _edges(catalog: Catalog, node: tuple[str, int]) -> Iterator[tuple[str, Any]]:
    """What runs when ``node`` runs: (phrase, next node) or (phrase, why it is unsafe).

    The phrase names the step: "policy p calls app.f()" ({} stands for the next node's verb,
    "calls app.f()", "reads app.t"), or is complete ("partition app.p").
    """
    kind, oid = node
    if kind == "probe":
        for label, code in catalog.probe_statement_code:
            yield f"can use {label}, which {{}}", ("f", code)
    elif kind in ("read", "insert", "write"):
        if oid not in catalog.relations:
            return  # a system catalogue: no policies, triggers or foreign data
        relkind = catalog.relations[oid][2]
        if relkind == "f":
            yield "", "is a foreign table, whose rows come from outside the database and the transaction"
            return
        for holder in catalog.holders.get(("r", oid), ()):
            if kind == "read" and not holder.for_read:
                continue
            if holder.kind == "rule":
                if kind != "read":
                    yield f"rule {holder.name}", "rewrites the statement into actions the tool does not read"
                continue
            noun = "its view definition" if holder.kind == "view definition" else f"{holder.kind} {holder.name}"
            for ref in holder.refs:
                yield noun + " {}", _ref_node(ref, written=False)
        for child in catalog.children.get(oid, ()):
            if child not in catalog.relations:
                continue
            if kind != "read" or catalog.relations[child][2] == "f":
                yield f"partition {catalog.relation_label(child)}", (kind, child)
        if kind != "read":
            for typid in catalog.column_domains.get(oid, ()):
                yield "a column {}", ("t", typid)
        if kind == "write":
            for child, fk, action in catalog.cascades.get(oid, ()):
                yield f"the {action} action of foreign key {fk} {{}}", ("write", child)
    elif kind == "t":
        if oid not in catalog.domains:
            return
        for holder in catalog.holders.get(("t", oid), ()):
            for ref in holder.refs:
                yield f"CHECK constraint {holder.name} {{}}", _ref_node(ref, written=False)
        base = catalog.domains[oid][2]
        if base in catalog.domains:
            yield "{}", ("t", base)
    elif kind == "o":
        if oid in catalog.operator_code:
            yield "{}", ("f", catalog.operator_code[oid])
    elif kind == "f":
        fn = catalog.functions.get(oid)
        if fn is None:
            return  # a system function that cannot act outside the transaction
        why = _function_unsafe(fn)
        if why:
            yield "", why
            return
        if fn.schema in SYSTEM_SCHEMAS or fn.extension in SAFE_EXTENSIONS:
            return
        for support in catalog.aggregate_support.get(oid, ()):
            yield "{}", ("f", support)
        if fn.kind == "a":
            return
        for edge_kind, _label, target in catalog.body_edges(fn):
            yield ("", target) if edge_kind == "unsafe" else ("{}", target)


def _function_unsafe(fn: _Function) -> str | None:
    if fn.schema in SYSTEM_SCHEMAS:
        return _SYSTEM_UNSAFE.get(fn.name)
    if fn.extension in SAFE_EXTENSIONS:
        return None
    if fn.extension in _KNOWN_EXTENSIONS:
        return f"{_KNOWN_EXTENSIONS[fn.extension]} (extension {fn.extension})"
    if fn.kind == "a":
        return None  # judged by its support functions
    if not fn.trusted:
        where = f" of extension {fn.extension}" if fn.extension else ""
        if fn.language in ("c", "internal"):
            return f"is a {'C' if fn.language == 'c' else 'internal'} function{where}, which the tool cannot read"
        return f"is written in {fn.language}{where}, an untrusted language (it can act outside the database)"
    if fn.language not in ("sql", "plpgsql"):
        return f"is written in {fn.language}, which the tool cannot read"
    return None


def _describe(catalog: Catalog, node: tuple[str, int]) -> str:
    kind, oid = node
    if kind == "f":
        fn = catalog.functions.get(oid)
        return f"calls {fn.label if fn else 'a function'}"
    if kind == "t":
        schema, name, _base = catalog.domains[oid]
        return f"checks domain {schema}.{name}"
    verb = "reads" if kind == "read" else "writes"
    return f"{verb} {catalog.relation_label(oid)}"


def _sentence(catalog: Catalog, seen: dict, last: tuple[str, int], phrase: str, why: str) -> str:
    """'policy p calls app.f(), which reads app.t, whose policy q calls public.dblink_exec(), which ...'."""
    steps: list[tuple[str, tuple[str, int]]] = []
    node = last
    while seen[node][0] is not None:
        parent, edge_phrase, _depth = seen[node]
        steps.append((edge_phrase, node))
        node = parent
    steps.reverse()
    parts: list[str] = []
    for i, (edge_phrase, step) in enumerate(steps):
        text = edge_phrase.replace("{}", _describe(catalog, step)) if "{}" in edge_phrase else edge_phrase
        if i == 0:
            parts.append(text)
        elif edge_phrase.startswith("{}"):
            parts.append(f", which {text}")
        else:
            parts.append(f", whose {text}")
    if phrase:  # the last step is unsafe in itself: "rule r rewrites ..."
        parts.append(f"{', whose ' if parts else ''}{phrase} {why}")
    else:
        parts.append(f", which {why}" if parts else f"the table {why}")
    return "".join(parts)
