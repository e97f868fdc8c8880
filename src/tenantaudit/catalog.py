"""The check catalogue: loads ``checks/*.sql`` and runs them in one snapshot transaction.

Each check is one query over pg_catalog, one row per violation, with these output columns:
``schema_name, object_name, object_kind, severity, message, remediation`` (``severity`` may be
NULL: the header's default applies). Its header is a block of ``-- key: value`` comment lines
(id, category, severity, title, why, fix; ``--   more`` continues a value; optionally
``include: NAME`` to start from the shared WITH list ``sql/NAME.sql``). Parameters:
``%(tenant_column)s`` text, ``%(tenant_table)s`` oid, ``%(setting)s`` text, ``%(app_role)s`` text
or NULL, ``%(schemas)s`` text[], ``%(global_tables)s`` oid[]. A literal percent sign must not
appear in a check (it would read as a parameter): use a regular expression instead of LIKE.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from .config import AuditConfig, split_qualified_name
from .db import first_line
from .errors import ConfigError, ConnectError
from .findings import Finding, Severity

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


_RESOLVE_SQL = """
SELECT
  pg_catalog.to_regclass(%(tenant_table)s)::oid AS tenant_table,
  (SELECT relkind::text FROM pg_catalog.pg_class WHERE oid = pg_catalog.to_regclass(%(tenant_table)s)) AS tenant_kind,
  ARRAY(SELECT pg_catalog.to_regclass(g)::oid FROM pg_catalog.unnest(%(global_tables)s::text[]) WITH ORDINALITY AS t(g, n) ORDER BY n) AS global_tables,
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
   WHERE k.conrelid = pg_catalog.to_regclass(%(tenant_table)s) AND k.contype = 'p'
     AND pg_catalog.cardinality(k.conkey) = 1) AS tenant_key,
  pg_catalog.current_setting('server_version') AS server_version,
  pg_catalog.current_setting('server_version_num')::int AS server_version_num
"""


@dataclass
class Scope:
    params: dict[str, Any]  # the parameters every check receives
    server_version: str
    tenant_key: str | None  # the tenants table's single-column primary key, if it has one
    tenant_table: tuple[str, str]  # (schema, name) of the tenants table


def resolve_scope(conn: psycopg.Connection, config: AuditConfig) -> Scope:
    """Turn names from the options into catalog objects, failing clearly on unknown ones."""
    tenant_schema, tenant_name = split_qualified_name(config.tenant_table)
    globals_ = [split_qualified_name(g) for g in config.global_tables]
    row = conn.execute(
        _RESOLVE_SQL,
        {
            "tenant_table": quote_qualified(tenant_schema, tenant_name),
            "global_tables": [quote_qualified(s, t) for s, t in globals_],
            "app_role": config.app_role,
            "schemas": config.schemas,
        },
    ).fetchone()
    tenant_oid, tenant_kind, global_oids, app_role_exists, schemas, tenant_key, version, version_num = row
    if version_num < 120000:
        raise ConnectError(f"PostgreSQL {version} is too old", fix="tenantaudit needs PostgreSQL 12 or newer")
    if tenant_oid is None:
        raise ConfigError(
            f"tenant table {tenant_schema}.{tenant_name} does not exist (--tenant-table, {config.source})",
            fix="pass --tenant-table schema.table naming the table whose primary key is the tenant id",
        )
    if tenant_kind not in ("r", "p"):
        raise ConfigError(
            f"--tenant-table {tenant_schema}.{tenant_name} is not a table (a view or other relation)",
            fix="name the table whose primary key is the tenant id",
        )
    for (schema, table), oid in zip(globals_, global_oids):
        if oid is None:
            raise ConfigError(f"--global-table {schema}.{table} does not exist", fix="check the name")
    if config.app_role and not app_role_exists:
        raise ConfigError(f"--app-role {config.app_role!r} does not exist", fix="name the role the application logs in as")
    unknown = sorted(set(config.schemas) - set(schemas))
    if unknown:
        raise ConfigError(f"--schema {unknown[0]!r} does not exist", fix="check the schema name")
    params = {
        "tenant_column": config.tenant_column,
        "tenant_table": tenant_oid,
        "setting": config.setting,
        "app_role": config.app_role,
        "schemas": schemas,
        "global_tables": [oid for oid in global_oids],
    }
    return Scope(
        params=params, server_version=version, tenant_key=tenant_key, tenant_table=(tenant_schema, tenant_name)
    )


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


def run_checks(
    conn: psycopg.Connection, checks: list[Check], scope: Scope
) -> tuple[list[Finding], list[CheckTiming], list[str]]:
    """Run every check in the caller's transaction. A user check that fails becomes a note."""
    findings: list[Finding] = []
    timings: list[CheckTiming] = []
    notes: list[str] = []
    for check in checks:
        started = time.perf_counter()
        try:
            if check.builtin:
                rows = _fetch(conn, check, scope)
            else:
                with conn.transaction():  # a savepoint: a broken user check must not end the audit
                    rows = _fetch(conn, check, scope)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise ConnectError(
                f"missing privilege while running check {check.id}: {first_line(exc)}",
                fix="run as a role that can read pg_catalog (GRANT SELECT on the named catalog, or use the table owner)",
            ) from None
        except psycopg.errors.QueryCanceled:
            raise ConnectError(
                f"check {check.id} exceeded the statement timeout",
                fix="raise --statement-timeout",
            ) from None
        except psycopg.Error as exc:
            if check.builtin:
                raise ConnectError(f"check {check.id} failed: {first_line(exc)}", fix="report this as a bug") from None
            notes.append(f"user check {check.id} ({check.path}) failed: {first_line(exc)}")
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
