"""The check catalogue: loads ``checks/*.sql`` and runs them in one snapshot transaction.

Each check is one query over pg_catalog, one row per violation, with these output columns:
``schema_name, object_name, object_kind, severity, message, remediation`` (``severity`` may be
NULL: the header's default applies). Its header is a block of ``-- key: value`` comment lines
(id, category, severity, title, why, fix; ``--   more`` continues a value; optionally
``include: NAME`` to start from the shared WITH list ``sql/NAME.sql``). Parameters:
``%(tenant_column)s`` text, ``%(tenant_table)s`` oid, ``%(setting)s`` text, ``%(app_role)s`` text
or NULL, ``%(schemas)s`` text[], ``%(global_tables)s`` oid[], ``%(unaudited)s`` oid[] (tables
another session locks: the shared fragments leave them out, and a check that calls a function
that locks a relation, such as pg_get_expr, on one the fragments do not filter must skip these). A literal percent sign must not
appear in a check (it would read as a parameter): use a regular expression instead of LIKE.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ..config import AuditConfig, split_qualified_name
from .context import Relation, TenantContext
from ..db import server_message
from ..errors import ConfigError, ConnectError
from ..findings import Finding, Severity

REQUIRED_KEYS = ("id", "category", "severity", "title", "why", "fix")
# `include: NAME [NAME...]` prepends src/tenantaudit/sql/NAME.sql, in order: the first opens a WITH
# list, the others and the check's body continue it (", name AS (...)") until the final SELECT.
# So definitions that several checks share (what a tenant table is, policy verdicts) live once.
OPTIONAL_KEYS = ("include",)
OUTPUT_COLUMNS = ("schema_name", "object_name", "object_kind", "severity", "message", "remediation")
_CATEGORY = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Check:
    id: str
    category: str
    severity: Severity
    title: str
    why: str
    fix: str
    sql: str
    path: str
    builtin: bool = True


def parse_check(text: str, path: str, *, builtin: bool = True) -> Check:
    meta: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        body = line[2:]
        match = re.match(r"^\s?([a-z_]+):\s*(.*)$", body)
        if match and match.group(1) in REQUIRED_KEYS + OPTIONAL_KEYS:
            key = match.group(1)
            meta[key] = match.group(2).strip()
        elif key and re.match(r"^\s{2,}\S", body):  # "--   more" continues the value
            meta[key] = f"{meta[key]} {body.strip()}".strip()
        elif body.strip():
            break  # an ordinary comment: the header has ended
    missing = [k for k in REQUIRED_KEYS if not meta.get(k)]
    if missing:
        raise ConfigError(f"check {path}: header lacks {', '.join(missing)}", fix="see checks/README.md")
    text = expand_includes(text, meta.get("include", ""), path)
    if not _CATEGORY.match(meta["category"]):
        raise ConfigError(f"check {path}: category {meta['category']!r} is not kebab-case", fix="e.g. my-category")
    if "%" in text.replace("%(", ""):
        raise ConfigError(f"check {path}: a literal '%' would be read as a parameter", fix="use a regex, not LIKE")
    try:
        severity = Severity.parse(meta["severity"])
    except ValueError as exc:
        raise ConfigError(f"check {path}: {exc}", fix="use critical, high, medium, low or info") from None
    return Check(
        id=meta["id"],
        category=meta["category"],
        severity=severity,
        title=meta["title"],
        why=meta["why"],
        fix=meta["fix"],
        sql=text,
        path=path,
        builtin=builtin,
    )


def expand_includes(text: str, include: str, path: str) -> str:
    """Put the named fragments between the header (which stays first, so the expanded SQL still
    reads as the check) and the body."""
    if not include:
        return text
    fragments = "\n".join(_fragment(name, path) for name in include.split())
    return _header(text) + fragments + "\n" + _body(text)


def _header(text: str) -> str:
    lines = text.splitlines(keepends=True)
    count = next((i for i, line in enumerate(lines) if not line.startswith("--")), len(lines))
    return "".join(lines[:count])


def _body(text: str) -> str:
    return text[len(_header(text)):]


def _fragment(name: str, path: str) -> str:
    fragment = resources.files("tenantaudit") / "sql" / f"{name}.sql"
    if not re.fullmatch(r"[a-z_]+", name) or not fragment.is_file():
        raise ConfigError(f"check {path}: include {name!r} does not exist", fix="see src/tenantaudit/sql/")
    return fragment.read_text(encoding="utf-8")


def builtin_checks() -> list[Check]:
    folder = resources.files("tenantaudit") / "checks"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [parse_check(f.read_text(encoding="utf-8"), f"checks/{f.name}") for f in files]


def load_checks(extra_dirs: list[str] | None = None) -> list[Check]:
    checks = builtin_checks()
    for folder in extra_dirs or []:
        path = Path(folder)
        if not path.is_dir():
            raise ConfigError(f"--checks-dir {folder}: no such directory", fix="check the path")
        for file in sorted(path.glob("*.sql")):
            try:
                text = file.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError) as exc:
                raise ConfigError(f"check {file}: cannot be read as UTF-8 text ({exc})", fix="save it as UTF-8") from None
            checks.append(parse_check(text, str(file), builtin=False))
    seen: set[str] = set()
    for check in checks:
        if check.id in seen:
            raise ConfigError(f"check id {check.id!r} is defined twice ({check.path})", fix="rename one")
        seen.add(check.id)
    return checks


def quote_qualified(schema: str, name: str) -> str:
    return ".".join('"' + part.replace('"', '""') + '"' for part in (schema, name))


# Names are looked up in pg_class, not with to_regclass: that needs USAGE on the schema, and a
# schema the auditor cannot use makes its tables "not audited", it must not end the audit.
_RESOLVE_SQL = """
WITH named AS (
  SELECT u.n, c.oid, c.relkind
  FROM ROWS FROM (pg_catalog.unnest(%(schema_names)s::text[]), pg_catalog.unnest(%(table_names)s::text[]))
       WITH ORDINALITY AS u(s, t, n)
  LEFT JOIN pg_catalog.pg_namespace ns ON ns.nspname = u.s
  LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = ns.oid AND c.relname = u.t
)
SELECT
  (SELECT oid FROM named WHERE n = 1) AS tenant_table,
  (SELECT relkind::text FROM named WHERE n = 1) AS tenant_kind,
  ARRAY(SELECT oid FROM named WHERE n > 1 ORDER BY n) AS other_tables,
  -- the columns options name (n: which named table; i: which entry of the caller's list) that
  -- its table, where it exists, lacks
  ARRAY(SELECT u.i FROM ROWS FROM (pg_catalog.unnest(%(column_tables)s::int[]), pg_catalog.unnest(%(column_names)s::text[]))
                        WITH ORDINALITY AS u(n, col, i)
        JOIN named ON named.n = u.n AND named.oid IS NOT NULL
        WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
                          WHERE a.attrelid = named.oid AND a.attname = u.col AND a.attnum > 0 AND NOT a.attisdropped)
        ORDER BY u.i) AS missing_columns,
  EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = %(app_role)s) AS app_role_exists,
  ARRAY(
    SELECT n.nspname FROM pg_catalog.pg_namespace n
    WHERE CASE WHEN pg_catalog.cardinality(%(schemas)s::text[]) = 0
               THEN n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
                    AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                                    WHERE d.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
                                      AND d.objid = n.oid AND d.deptype = 'e')
               ELSE n.nspname = ANY (%(schemas)s::text[]) END
    ORDER BY n.nspname) AS schemas,
  (SELECT a.attname FROM pg_catalog.pg_constraint k
   JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
   WHERE k.conrelid = (SELECT oid FROM named WHERE n = 1) AND k.contype = 'p'
     AND pg_catalog.cardinality(k.conkey) = 1) AS tenant_key,
  pg_catalog.current_setting('server_version') AS server_version,
  pg_catalog.current_setting('server_version_num')::int AS server_version_num,
  CURRENT_USER::text AS auditor
"""


@dataclass
class Scope:
    params: dict[str, Any]  # the parameters every check receives
    server_version: str
    tenant_key: str | None  # the tenants table's single-column primary key, if it has one
    # (schema, name) of the tenants table; None: the database has none (--tenant-table none, or
    # public.tenants missing and nothing inferred): params["tenant_table"] is then 0, which no
    # relation has, so the foreign-key and key-type checks find nothing to compare with
    tenant_table: tuple[str, str] | None
    auditor: str = ""  # the role the audit runs as (current_user)
    # Relations the audit must not touch (oid -> {"schema", "object", "kind", "reason"}): another
    # session holds or awaits a lock that conflicts with ACCESS SHARE on them. Their oids are the
    # checks' %(unaudited)s parameter; the report lists them as not audited.
    unaudited: dict[int, dict[str, str]] = field(default_factory=dict)
    # Built-in checks that could not run (one line each): the report's incomplete lines.
    lost_checks: list[str] = field(default_factory=list)
    # What "the current tenant" means here (context.py): configured or inferred from the policies.
    context: TenantContext | None = None
    context_configured: bool = False  # the options chose the context: inference leaves it alone
    # oids of the tables the options name (membership, sessions), by (schema, name)
    relations: dict[tuple[str, str], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.params.setdefault("unaudited", [])  # nothing excluded until a lock scan says so

    @property
    def tenant_relation(self) -> Relation | None:
        if self.tenant_table is None:
            return None
        return Relation(*self.tenant_table, self.params.get("tenant_table") or None)

    def apply_context(self, context: TenantContext) -> None:
        """Make ``context`` the audit's, and the checks' parameters agree with it: the tenant
        column, the tenants table (0 when there is none) and its key, the setting (kept as it is
        for a model that reads none, e.g. role). Inference calls this when it chose differently."""
        self.context = context
        self.params["tenant_column"] = context.tenant_column
        table = context.tenant_table
        self.tenant_table = (table.schema, table.name) if table else None
        self.params["tenant_table"] = (table.oid or 0) if table else 0
        self.tenant_key = context.tenant_key if table else None
        if context.setting:
            self.params["setting"] = context.setting


def resolve_scope(conn: psycopg.Connection, config: AuditConfig) -> Scope:
    """Turn names from the options into catalog objects, failing clearly on unknown ones; the
    tenant context is the configured one or the defaults (policy.settle_context infers it later,
    once the policies are read)."""
    has_tenants = config.has_tenant_table
    tenant_schema, tenant_name = split_qualified_name(config.tenant_table) if has_tenants else ("", "")
    globals_ = [split_qualified_name(g) for g in config.global_tables]
    context_tables = [t for t in (config.membership, config.session_table) if t is not None]
    named = [(tenant_schema, tenant_name), *globals_, *((t.schema, t.table) for t in context_tables)]
    position = {(t.schema, t.table): 2 + len(globals_) + i for i, t in enumerate(context_tables)}
    # (named table's position, column, the option naming it): checked in the same query
    columns: list[tuple[int, str, str]] = []
    if has_tenants and config.context_model == "mapped" and config.tenant_key:
        columns.append((1, config.tenant_key, config.origins.get("tenant_key", "--tenant-key")))
    if has_tenants and config.context_model == "role" and config.role_column:
        columns.append((1, config.role_column, config.origins.get("role_column", "--role-column")))
    for name, table in (("membership", config.membership), ("session_table", config.session_table)):
        if table is not None:
            columns += [(position[(table.schema, table.table)], c, config.origins.get(name, name)) for c in table.columns]
    row = conn.execute(
        _RESOLVE_SQL,
        {
            "schema_names": [s for s, _ in named],
            "table_names": [t for _, t in named],
            "column_tables": [n for n, _, _ in columns],
            "column_names": [c for _, c, _ in columns],
            "app_role": config.app_role,
            "schemas": config.schemas,
        },
    ).fetchone()
    (tenant_oid, tenant_kind, other_oids, missing_columns, app_role_exists, schemas, tenant_key, version,
     version_num, auditor) = row
    if version_num < 120000:
        raise ConnectError(f"PostgreSQL {version} is too old", fix="tenantaudit needs PostgreSQL 12 or newer")
    if has_tenants and tenant_oid is None and config.is_explicit("tenant_table"):
        raise ConfigError(
            f"tenant table {tenant_schema}.{tenant_name} does not exist ({config.origins['tenant_table']})",
            fix="pass --tenant-table schema.table naming the table whose primary key is the tenant id, "
            "or --tenant-table none when the database has no tenants table",
        )
    if tenant_oid is None:
        has_tenants = False  # the default public.tenants is not there: a database without a tenants table
    elif tenant_kind not in ("r", "p"):
        raise ConfigError(
            f"--tenant-table {tenant_schema}.{tenant_name} is not a table (a view or other relation)",
            fix="name the table whose primary key is the tenant id",
        )
    global_oids = other_oids[: len(globals_)]
    for (schema, table), oid in zip(globals_, global_oids):
        if oid is None:
            raise ConfigError(f"--global-table {schema}.{table} does not exist", fix="check the name")
    relations: dict[tuple[str, str], int] = {}
    for name, table in (("membership", config.membership), ("session_table", config.session_table)):
        if table is None:
            continue
        oid = other_oids[position[(table.schema, table.table)] - 2]  # other_oids starts at n = 2
        if oid is None:
            raise ConfigError(f"{config.origins.get(name, name)}: table {table.schema}.{table.table} does not exist",
                              fix="check the table's schema and name")
        relations[(table.schema, table.table)] = oid
    if missing_columns:
        n, column, origin = columns[missing_columns[0] - 1]
        schema, table = named[n - 1]
        raise ConfigError(f"{origin}: {schema}.{table} has no column {column}", fix="check the column name")
    if config.app_role and not app_role_exists:
        raise ConfigError(f"--app-role {config.app_role!r} does not exist", fix="name the role the application logs in as")
    others = [r for r in config.app_roles if r != config.app_role]
    if others:
        (missing,) = conn.execute(
            "SELECT ARRAY(SELECT r FROM pg_catalog.unnest(%s::text[]) AS u(r)"
            " WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = u.r))", (others,)
        ).fetchone()
        if missing:
            raise ConfigError(f"--app-role {missing[0]!r} does not exist", fix="name the roles the application logs in as")
    unknown = sorted(set(config.schemas) - set(schemas))
    if unknown:
        raise ConfigError(f"--schema {unknown[0]!r} does not exist", fix="check the schema name")
    params = {
        "tenant_column": config.tenant_column,
        "tenant_table": tenant_oid if has_tenants else 0,
        "setting": config.setting,
        "app_role": config.app_role,
        # every role the application logs in as (empty: not known); checks should prefer this one
        "app_roles": list(dict.fromkeys([r for r in (config.app_role, *config.app_roles) if r])),
        "schemas": schemas,
        "global_tables": [oid for oid in global_oids],
    }
    scope = Scope(
        params=params, server_version=version, tenant_key=tenant_key if has_tenants else None,
        tenant_table=(tenant_schema, tenant_name) if has_tenants else None, auditor=auditor, relations=relations,
    )
    from .context import configured_context

    chosen = configured_context(config, scope)
    scope.context_configured = chosen is not None
    if chosen is None:  # the defaults, until the policies are read (policy.infer_context)
        chosen = TenantContext(
            model="setting", tenant_column=config.tenant_column, tenant_table=scope.tenant_relation,
            tenant_key=scope.tenant_key, setting=config.setting, json_path=tuple(config.claim_path),
            claims=dict(config.claims),
            evidence="" if has_tenants or not config.has_tenant_table else f"{config.tenant_table} does not exist",
        )
    scope.apply_context(chosen)
    return scope


# One query, whatever the number of tables: the audited schemas' tables on which another session
# holds, or waits for, a lock that conflicts with ACCESS SHARE (only ACCESS EXCLUSIVE does). A
# waiting request counts too: PostgreSQL queues the audit's ACCESS SHARE behind it. Locks on a
# table's indexes or TOAST table count for the table (reading it, or deparsing an index or an
# expression, opens them). pg_get_expr, pg_get_indexdef, pg_get_constraintdef (CHECK),
# pg_get_viewdef (every relation the view reads), pg_get_partkeydef, pg_relation_size and a
# plain SELECT take ACCESS SHARE on the relation (PostgreSQL 15 and 16 alike);
# format_type, pg_get_triggerdef, pg_get_functiondef, ::regclass, has_*_privilege and
# row_security_active do not.
_LOCKED_SQL = """
SELECT c.oid, n.nspname, c.relname,
       pg_catalog.string_agg(
         pg_catalog.concat(
           CASE WHEN l.pid IS NULL THEN 'a prepared transaction'
                ELSE 'pid ' || l.pid || ' (application_name ' || pg_catalog.quote_literal(COALESCE(a.application_name, ''))
                     || COALESCE(', user ' || a.usename::text, '') || ')' END,
           CASE WHEN l.granted THEN ' holds ' ELSE ' is waiting for ' END, l.mode,
           CASE WHEN l.relation <> c.oid THEN ' on ' || l.relation::pg_catalog.regclass::text END),
         '; ' ORDER BY l.granted DESC, l.pid) AS holders
FROM pg_catalog.pg_locks l
LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = l.relation
LEFT JOIN pg_catalog.pg_class toast ON toast.reltoastrelid = COALESCE(i.indrelid, l.relation)
JOIN pg_catalog.pg_class c ON c.oid = COALESCE(toast.oid, i.indrelid, l.relation)
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation'
  AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
  AND l.mode = 'AccessExclusiveLock'
  AND l.pid IS DISTINCT FROM pg_catalog.pg_backend_pid()
  AND c.relkind IN ('r', 'p')
  AND n.nspname = ANY (%(schemas)s::text[])
GROUP BY c.oid, n.nspname, c.relname
ORDER BY n.nspname, c.relname
"""


def find_unaudited(
    conn: psycopg.Connection, scope: Scope, known: dict[int, dict[str, str]] | None = None
) -> dict[int, dict[str, str]]:
    """Tables the audit cannot read without waiting for another session: ``known`` plus those
    locked now (oid -> {"schema", "object", "kind", "reason"}). The catalogue, the data checks
    and the probes leave them alone."""
    found = dict(known or {})
    for oid, schema, name, holders in conn.execute(_LOCKED_SQL, scope.params).fetchall():
        found.setdefault(
            oid,
            {
                "schema": schema,
                "object": name,
                "kind": "table",
                "reason": f"another session locks it: {holders}; not even its catalogue entries can be "
                "deparsed without waiting (lock_timeout) — audit again when that transaction has ended",
            },
        )
    return found


_NO_USAGE_SQL = """
SELECT n.nspname, c.relname,
       'GRANT USAGE ON SCHEMA ' || pg_catalog.quote_ident(n.nspname) || ' TO '
         || pg_catalog.quote_ident(CURRENT_USER::text) AS fix
FROM pg_catalog.pg_namespace n
JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p')
WHERE n.nspname = ANY (%(schemas)s::text[])
  AND NOT pg_catalog.has_schema_privilege(n.oid, 'USAGE')
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                    AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY n.nspname, c.relname
"""


def unreadable_tables(conn: psycopg.Connection, scope: Scope) -> dict[tuple[str, str], dict[str, str]]:
    """Tables in audited schemas on which the auditing role lacks USAGE: the catalogue still judges
    them (pg_catalog needs no USAGE), but their rows cannot be read, so data checks and probes
    skip them. One query."""
    return {
        (schema, name): {
            "schema": schema,
            "object": name,
            "kind": "table",
            "reason": f"data checks and probes not run: the auditing role lacks USAGE on schema {schema} — {fix}",
            "fix": fix,
        }
        for schema, name, fix in conn.execute(_NO_USAGE_SQL, scope.params).fetchall()
    }


# Tables whose partition or inheritance child (any depth) another session locks ACCESS EXCLUSIVE:
# the catalogue can judge the parent (deparsing its policies locks only the parent), but reading it
# (data checks, probes) locks every child and would wait. One query.
_LOCKED_BELOW_SQL = """
WITH RECURSIVE locked AS (
  SELECT DISTINCT COALESCE(toast.oid, i.indrelid, l.relation) AS oid
  FROM pg_catalog.pg_locks l
  LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = l.relation
  LEFT JOIN pg_catalog.pg_class toast ON toast.reltoastrelid = COALESCE(i.indrelid, l.relation)
  WHERE l.locktype = 'relation'
    AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
    AND l.mode = 'AccessExclusiveLock'
    AND l.pid IS DISTINCT FROM pg_catalog.pg_backend_pid()
),
up(oid, child, path) AS (
  SELECT i.inhparent, i.inhrelid, ARRAY[i.inhrelid]
  FROM pg_catalog.pg_inherits i JOIN locked k ON k.oid = i.inhrelid
  UNION ALL
  SELECT i.inhparent, u.child, u.path || i.inhrelid
  FROM up u JOIN pg_catalog.pg_inherits i ON i.inhrelid = u.oid
  WHERE i.inhparent <> ALL (u.path)
)
SELECT n.nspname, c.relname,
       pg_catalog.string_agg(DISTINCT u.child::pg_catalog.regclass::text, ', ') AS children
FROM up u
JOIN pg_catalog.pg_class c ON c.oid = u.oid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY (%(schemas)s::text[]) AND c.oid <> ALL (%(unaudited)s::oid[])
GROUP BY n.nspname, c.relname
ORDER BY n.nspname, c.relname
"""


def locked_below(conn: psycopg.Connection, scope: Scope) -> dict[tuple[str, str], dict[str, str]]:
    """Tables the catalogue audits but whose rows cannot be read without waiting: a partition or
    child of theirs is locked by another session (listed itself as not audited)."""
    return {
        (schema, name): {
            "schema": schema,
            "object": name,
            "kind": "table",
            "reason": f"data checks and probes not run: reading it would wait for its locked partition or child "
            f"{children} (not audited, see there) — audit again when that transaction has ended",
        }
        for schema, name, children in conn.execute(_LOCKED_BELOW_SQL, scope.params).fetchall()
    }


def mark_unaudited(scope: Scope, found: dict[int, dict[str, str]]) -> None:
    scope.unaudited = found
    scope.params["unaudited"] = sorted(found)


def _audited_tables_sql() -> str:
    text = (resources.files("tenantaudit") / "sql" / "audited_tables.sql").read_text(encoding="utf-8")
    include = re.search(r"^-- include:\s*(.+)$", text, re.M)
    return expand_includes(text, include.group(1) if include else "", "sql/audited_tables.sql")


def audited_tables(conn: psycopg.Connection, scope: Scope) -> list[tuple[str, str, str]]:
    return [tuple(r) for r in conn.execute(_audited_tables_sql(), scope.params).fetchall()]


@dataclass
class CheckTiming:
    check: str
    seconds: float
    rows: int


# How often a built-in check is retried after a lock that arrived after the scan (a race).
LOCK_RETRIES = 3
# SQLSTATE classes of errors the server causes, not the check: insufficient resources (53, e.g.
# the lock table full), program limits (54), object state (55), operator intervention (57),
# system errors (58). Anything else from a built-in check is a bug in it.
_SERVER_SIDE = {"53": "the server ran short of a resource", "54": "a server limit was exceeded",
                "55": "an object was not in the required state", "57": "the server interrupted the query",
                "58": "the server hit a system error"}


def run_checks(
    conn: psycopg.Connection, checks: list[Check], scope: Scope
) -> tuple[list[Finding], list[CheckTiming], list[str]]:
    """Run every check in the caller's transaction, each in a savepoint. A user check that fails
    becomes a note. A lock not granted within lock_timeout (one that came after the scan) re-scans
    the locks, adds what it finds to the relations not audited, and retries the check, a bounded
    number of times; a check that still cannot run is one line of ``scope.lost_checks``."""
    findings: list[Finding] = []
    timings: list[CheckTiming] = []
    notes: list[str] = []
    for check in checks:
        started = time.perf_counter()
        attempts = 0
        while True:
            try:
                with conn.transaction():  # a savepoint: a lock wait or a broken user check must not end the audit
                    rows = _fetch(conn, check, scope)
                break
            except psycopg.errors.LockNotAvailable:
                attempts += 1
                before = set(scope.unaudited)
                mark_unaudited(scope, find_unaudited(conn, scope, scope.unaudited))
                if attempts > LOCK_RETRIES or set(scope.unaudited) == before and attempts > 1:
                    rows = None
                    break
            except psycopg.errors.InsufficientPrivilege as exc:
                raise ConnectError(
                    f"missing privilege while running check {check.id}: {server_message(exc)}",
                    fix="the auditing role must be able to read pg_catalog (the default for every role); "
                    "GRANT SELECT on the catalog named, or audit as the tables' owner",
                ) from None
            except psycopg.errors.QueryCanceled:
                raise ConnectError(
                    f"check {check.id} exceeded the statement timeout",
                    fix="raise --statement-timeout",
                ) from None
            except psycopg.Error as exc:
                state = getattr(exc, "sqlstate", None) or ""
                if check.builtin and state[:2] in _SERVER_SIDE:
                    raise ConnectError(
                        f"check {check.id} could not run: {_SERVER_SIDE[state[:2]]}: {server_message(exc)}",
                        fix="see the server log; retry when the server is healthy",
                    ) from None
                if check.builtin:
                    raise ConnectError(f"check {check.id} failed: {server_message(exc)}", fix="report this as a bug") from None
                # The author's own SQL; its error text may quote row values, so the safe form only
                # (the SQLSTATE names the fault; running the file in psql shows the rest).
                notes.append(f"user check {check.id} ({check.path}) failed: {server_message(exc)}")
                rows = None
                break
        if rows is None:
            if attempts:
                scope.lost_checks.append(
                    f"check {check.id} did not run: a lock was not granted within lock_timeout {attempts} times "
                    "(on a relation no scan of pg_locks could name); its findings are missing"
                )
            continue
        timings.append(CheckTiming(check.id, time.perf_counter() - started, len(rows)))
        try:
            findings.extend(_to_finding(check, row) for row in rows)
        except ValueError as exc:  # a user check returned a severity that does not exist
            notes.append(f"check {check.id} ({check.path}) returned a bad row: {exc}")
    return findings, timings, notes


def _fetch(conn: psycopg.Connection, check: Check, scope: Scope) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(check.sql, scope.params)
        if cur.description is None:
            raise ConfigError(f"check {check.path} returned no rows set", fix="a check must be one SELECT")
        columns = tuple(c.name for c in cur.description)
        if columns != OUTPUT_COLUMNS:
            raise ConfigError(
                f"check {check.path} returns columns {', '.join(columns)}",
                fix=f"return exactly: {', '.join(OUTPUT_COLUMNS)}",
            )
        return cur.fetchall()


def _to_finding(check: Check, row: dict[str, Any]) -> Finding:
    severity = Severity.parse(row["severity"]) if row["severity"] else check.severity
    return Finding(
        category=check.category,
        check=check.id,
        severity=severity,
        schema=row["schema_name"],
        table=row["object_name"],
        message=row["message"],
        remediation=row["remediation"],
        object_kind=row["object_kind"] or "table",
        title=check.title,
    )
