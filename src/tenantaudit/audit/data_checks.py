"""Per-table data checks, in the audit's read-only transaction: NULL and orphan tenant ids.

A NOT NULL constraint or a validated foreign key proves the property without reading the table;
only tables lacking one are read. Each read is bounded: it stops at the first offending rows
(``LIMIT``), runs under ``--data-timeout`` and inside a savepoint that is always rolled back, so
a table that could not be proven in time is reported "not proven" with the reason, never passed.
Only counts leave the server: no row data.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import psycopg
from psycopg import sql

from .. import progress
from .catalog import Scope
from ..db import duration_ms, server_message
from ..findings import NOT_PROVEN, PROVEN_BY_CONSTRAINT, SKIPPED, DataResult, Finding, Severity

# Enough to say "at least this many"; reading on would only cost time.
ROW_LIMIT = 1000
NULL_CHECK, ORPHAN_CHECK = "tenant-null-rows", "orphan-tenant-rows"


@dataclass(frozen=True)
class TenantTable:
    schema: str
    table: str
    categories: frozenset[str]  # the catalogue's findings on this table

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.table)


def tenant_tables(tables: list[tuple[str, str, str]], findings: list[Finding]) -> list[TenantTable]:
    """Tenant tables that have the tenant column, with what the catalogue found on each."""
    found: dict[tuple[str, str], set[str]] = {}
    for finding in findings:
        if finding.object_kind == "table":
            found.setdefault((finding.schema, finding.table), set()).add(finding.category)
    result = []
    for schema, table, kind in tables:
        categories = frozenset(found.get((schema, table), ()))
        if kind == "tenant" and "tenant-column-missing" not in categories:
            result.append(TenantTable(schema, table, categories))
    return result


def bounded(conn: psycopg.Connection, timeout: str, query: sql.Composable, params=None):
    """Run one query in a savepoint that is always rolled back, under ``timeout`` or the
    session's own statement_timeout (--statement-timeout), whichever is shorter: a per-table
    bound never lifts the bound for any one query."""
    session_ms = _session_timeouts.get(conn)
    if session_ms is None:  # the session's bound, read once (bounded() never runs inside another): pg_settings is slow
        session_ms = _session_timeouts[conn] = int(conn.execute(
            "SELECT s.setting FROM pg_catalog.pg_settings s WHERE s.name = 'statement_timeout'").fetchone()[0])
    ms = duration_ms(timeout) if session_ms == 0 else min(session_ms, duration_ms(timeout))
    with conn.transaction(force_rollback=True):
        conn.execute("SELECT pg_catalog.set_config('statement_timeout', %s, true)", (str(ms),))
        return conn.execute(query, params).fetchone()


_session_timeouts: "weakref.WeakKeyDictionary[psycopg.Connection, int]" = weakref.WeakKeyDictionary()


_ACCESS_SQL = """
SELECT u.s, u.t, pg_catalog.row_security_active(c.oid), pg_catalog.has_table_privilege(c.oid, 'SELECT'),
       'GRANT SELECT ON ' || pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) || ' TO ' || pg_catalog.quote_ident(CURRENT_USER::text)
FROM ROWS FROM (pg_catalog.unnest(%s::text[]), pg_catalog.unnest(%s::text[])) AS u(s, t)
JOIN pg_catalog.pg_namespace n ON n.nspname = u.s
JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = u.t
"""


def table_access(conn: psycopg.Connection, tables: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[bool, bool, str]]:
    """(RLS hides rows from the auditing role, the auditing role may SELECT, the GRANT that lets
    it) for each table, in one query. By oid, not by name: a name needs USAGE on its schema."""
    if not tables:
        return {}
    rows = conn.execute(_ACCESS_SQL, ([s for s, _ in tables], [t for _, t in tables])).fetchall()
    return {(s, t): (hidden, readable, grant) for s, t, hidden, readable, grant in rows}


def hidden_by_rls(conn: psycopg.Connection, tables: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Tables whose rows RLS hides from the auditing role: reading them proves nothing."""
    return {name for name, (hidden, _, _) in table_access(conn, tables).items() if hidden}


def run_data_checks(
    conn: psycopg.Connection,
    scope: Scope,
    tables: list[TenantTable],
    *,
    timeout: str,
    unaudited: list[dict[str, str]] | None = None,
    server_side: list[DataResult] | None = None,
) -> tuple[list[Finding], list[DataResult]]:
    """``unaudited`` (when given) receives a not-audited entry for each table a check must read
    but the auditing role may not SELECT, with the GRANT that fixes it; ``server_side`` the results
    not proven for a reason on the server (a timeout, a lock, a privilege, RLS hiding rows): the
    audit is then incomplete, never clean."""
    # the tenants table locked by another session (not audited): orphan checks would wait for it
    locked = {(u["schema"], u["object"]): u for u in scope.unaudited.values()}
    column = sql.Identifier(scope.params["tenant_column"])
    tenants = sql.Identifier(*scope.tenant_table) if scope.tenant_table else None
    needs_read = [t for t in tables if t.categories & {"tenant-column-nullable", "tenant-fk-missing"}]
    access = table_access(conn, [(t.schema, t.table) for t in needs_read] + ([scope.tenant_table] if tenants else []))
    hidden = {name for name, (rls, _, _) in access.items() if rls}
    no_select: dict[tuple[str, str], str] = {}
    for (schema, name), (_, readable, grant) in access.items():
        if not readable:
            no_select[(schema, name)] = f"the auditing role may not SELECT from {schema}.{name}: {grant}"
            if unaudited is not None:
                unaudited.append(
                    {"schema": schema, "object": name, "kind": "table",
                     "reason": f"data checks not run: the auditing role lacks SELECT on it — {grant}"}
                )
    findings: list[Finding] = []
    results: list[DataResult] = []

    def unproven(result: DataResult) -> None:
        results.append(result)
        if server_side is not None:
            server_side.append(result)

    def measure(table: TenantTable, check: str, query: sql.Composable, reason_hidden: str | None) -> None:
        if reason_hidden:
            unproven(DataResult(table.schema, table.table, check, NOT_PROVEN, reason_hidden))
            return
        try:
            (count,) = bounded(conn, timeout, query)
        except psycopg.errors.LockNotAvailable:
            unproven(DataResult(table.schema, table.table, check, NOT_PROVEN,
                                "a lock was not granted within lock_timeout: another session locks a table it reads"))
            return
        except psycopg.errors.QueryCanceled:
            unproven(
                DataResult(table.schema, table.table, check, NOT_PROVEN, f"did not finish within {timeout} (--data-timeout, at most --statement-timeout)")
            )
            return
        except psycopg.Error as exc:
            unproven(DataResult(table.schema, table.table, check, NOT_PROVEN, server_message(exc)))
            return
        if count == 0:
            results.append(DataResult(table.schema, table.table, check, "pass", "no such rows"))
            return
        amount = f"at least {ROW_LIMIT}" if count >= ROW_LIMIT else str(count)
        results.append(DataResult(table.schema, table.table, check, "fail", f"{amount} rows"))
        findings.append(_finding(conn, table, check, amount, scope))

    task = progress.current().task("data checks (NULL and orphan tenant ids)", total=len(tables))
    for table in tables:
        task.advance()
        rls_hidden = no_select.get((table.schema, table.table)) or (
            f"RLS hides {table.schema}.{table.table}'s rows from the auditing role; audit as its owner or a BYPASSRLS role"
            if (table.schema, table.table) in hidden
            else None
        )
        if "tenant-column-nullable" in table.categories:
            query = sql.SQL("SELECT pg_catalog.count(*) FROM (SELECT FROM {} x WHERE x.{} IS NULL LIMIT {}) s").format(
                table.ident, column, sql.Literal(ROW_LIMIT)
            )
            measure(table, NULL_CHECK, query, rls_hidden)
        else:
            results.append(DataResult(table.schema, table.table, NULL_CHECK, PROVEN_BY_CONSTRAINT, "NOT NULL"))

        if tenants is None:  # no tenants table in this database: nothing for a tenant id to name
            results.append(DataResult(table.schema, table.table, ORPHAN_CHECK, SKIPPED, "n/a: the database has no tenants table"))
            continue
        if "tenant-fk-missing" not in table.categories:
            results.append(DataResult(table.schema, table.table, ORPHAN_CHECK, PROVEN_BY_CONSTRAINT, "validated foreign key"))
            continue
        if scope.tenant_key is None:
            results.append(
                DataResult(table.schema, table.table, ORPHAN_CHECK, NOT_PROVEN, "the tenants table has no single-column primary key")
            )
            continue
        key = sql.Identifier(scope.tenant_key)
        # Differing types cannot be compared directly; compare their text forms instead.
        if "tenant-column-type" in table.categories:
            match = sql.SQL("y.{}::text = x.{}::text").format(key, column)
        else:
            match = sql.SQL("y.{} = x.{}").format(key, column)
        query = sql.SQL(
            "SELECT pg_catalog.count(*) FROM (SELECT FROM {} x WHERE x.{} IS NOT NULL"
            " AND NOT EXISTS (SELECT FROM {} y WHERE {}) LIMIT {}) s"
        ).format(table.ident, column, tenants, match, sql.Literal(ROW_LIMIT))
        tenants_hidden = (
            "the tenants table is locked by another session (listed as not audited)"
            if scope.tenant_table in locked else None
        ) or no_select.get(scope.tenant_table) or (
            "RLS hides rows of the tenants table from the auditing role" if scope.tenant_table in hidden else None
        )
        measure(table, ORPHAN_CHECK, query, rls_hidden or tenants_hidden)
    task.done(f"{len(tables)} tables, {len(needs_read)} read (the others proven by their constraints)")
    return findings, results


def _finding(conn: psycopg.Connection, table: TenantTable, check: str, amount: str, scope: Scope) -> Finding:
    def quoted(*names: str) -> str:
        return sql.Identifier(*names).as_string(conn)

    column = quoted(scope.params["tenant_column"])
    qualified = quoted(table.schema, table.table)
    if check == NULL_CHECK:
        return Finding(
            category=NULL_CHECK,
            check="data:tenant_null_rows",
            severity=Severity.HIGH,
            schema=table.schema,
            table=table.table,
            message=f"{amount} rows of {qualified} have no tenant ({column} IS NULL): no tenant's policy shows them",
            remediation=f"UPDATE {qualified} SET {column} = <owning tenant> WHERE {column} IS NULL;"
            "  -- decide the owner of each row, then SET NOT NULL",
            title="Rows with a NULL tenant",
        )
    tenants = quoted(*scope.tenant_table)
    return Finding(
        category=ORPHAN_CHECK,
        check="data:orphan_tenant_rows",
        severity=Severity.MEDIUM,
        schema=table.schema,
        table=table.table,
        message=f"{amount} rows of {qualified} name a tenant that is not in {tenants}",
        remediation=f"SELECT DISTINCT x.{column} FROM {qualified} x WHERE NOT EXISTS "
        f"(SELECT FROM {tenants} y WHERE y.{quoted(scope.tenant_key or 'id')} = x.{column});"
        "  -- then fix or delete those rows and add the foreign key",
        title="Rows whose tenant does not exist",
    )
