"""`tenantaudit check`: one read-only snapshot of a live database, turned into a Report.

Catalogue checks, data checks and read probes share one READ ONLY, REPEATABLE READ transaction
that is rolled back. Write probes, only when asked, run afterwards in a transaction of their own
that is always rolled back too.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import psycopg

from . import catalog
from .. import progress
from .policy import settle_context
from .tenant_column import require_tenant_column
from .catalog import Check, Scope, audited_tables, load_checks, locked_below, mark_unaudited, resolve_scope, run_checks, unreadable_tables
from ..config import AuditConfig
from .data_checks import TenantTable, run_data_checks, tenant_tables
from .exposure import cap_unreachable
from ..db import connect_readonly, mask_dsn, server_message
from ..errors import ConnectError
from ..findings import Report, build_coverage


@contextmanager
def database_errors() -> Iterator[None]:
    """Turn what a live server can throw mid-audit, and that the audit could not absorb as "not
    audited" (locked tables, unreadable schemas and tables are), into one-line errors."""
    try:
        yield
    except psycopg.errors.QueryCanceled:
        raise ConnectError("a query exceeded --statement-timeout", fix="raise --statement-timeout") from None
    except psycopg.errors.LockNotAvailable:
        raise ConnectError(
            "a lock was not granted within lock_timeout (another session holds a conflicting lock)",
            fix="retry when the other transaction has ended, or raise lock-timeout in tenantaudit.toml",
        ) from None
    except psycopg.errors.ReadOnlySqlTransaction:
        raise ConnectError(
            "the server accepts no read-write transaction (a hot standby?): --probe write needs one, "
            "although it rolls back",
            fix="point --probe write at the primary, or use --probe read on the standby",
        ) from None
    except psycopg.errors.InsufficientPrivilege as exc:
        raise ConnectError(
            f"missing privilege: {server_message(exc)}",
            fix="the auditing role must be able to read pg_catalog and, for probes, be a member of --app-role "
            "(GRANT <app role> TO <auditor>); schemas and tables it may not read are listed as not audited",
        ) from None
    except psycopg.OperationalError as exc:
        if (getattr(exc, "sqlstate", None) or "")[:2] in ("53", "54"):  # insufficient resources, limits
            raise ConnectError(
                f"the server ran short of a resource during the audit: {server_message(exc)}",
                fix="retry when the server is less busy; out of shared memory for locks: raise max_locks_per_transaction",
            ) from None
        raise ConnectError(
            f"the connection failed during the audit: {server_message(exc)}", fix="check the server and its log"
        ) from None


def audit(dsn: str, config: AuditConfig) -> Report:
    """Audit ``dsn``. Never changes it: every transaction is rolled back."""
    checks = load_checks(config.checks_dirs)
    report = Report(command="check", target=mask_dsn(dsn), settings=config.as_settings())
    with database_errors():
        scope, tables = _read_only_audit(dsn, config, checks, report)
        if config.probe == "write" and config.app_role:
            from .probes import run_write_probes

            written = run_write_probes(
                dsn,
                scope,
                tables,
                app_role=config.app_role,
                timeout=config.query_timeout,
                statement_timeout=config.statement_timeout,
                lock_timeout=config.lock_timeout,
                probe_triggers=config.probe_triggers,
                probe_side_effects=config.probe_side_effects,
            )
            report.probes, report.sequences_advanced = written.results, written.sequences_advanced
            report.probe_batches = written.batches
            report.incomplete += written.incomplete
            report.findings += written.findings
    if config.probe != "none" and not config.app_role:
        report.notes.append("behavioural probes need --app-role: none were run")
    if not config.app_role:
        report.notes.append(
            "no --app-role given: owner bypass, role bypass and privilege-based checks assume the worst "
            "where they cannot know; pass the role the application connects as"
        )
    if config.probe == "read" and config.app_role:  # write probes sum up their own (WriteProbeRun.incomplete)
        from .probes import incomplete_probe_lines

        report.incomplete += incomplete_probe_lines(report.probes)
    return report


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _record_unaudited(
    report: Report,
    scope: Scope,
    unreadable: dict[tuple[str, str], dict[str, str]],
    no_select: list[dict[str, str]],
    below: dict[tuple[str, str], dict[str, str]],
) -> None:
    """report.unaudited gets every object not (fully) audited, report.incomplete one line per cause."""
    locked = sorted(scope.unaudited.values(), key=lambda u: (u["schema"], u["object"]))
    report.unaudited += locked
    if locked:
        names = ", ".join(f"{u['schema']}.{u['object']}" for u in locked)
        report.incomplete.append(
            f"{_plural(len(locked), 'table')} not audited: another session locks "
            f"{'it' if len(locked) == 1 else 'them'} (ACCESS EXCLUSIVE, held or awaited) — {names}; "
            "who holds the lock: see the not-audited list"
        )
    report.unaudited += list(below.values())
    if below:
        report.incomplete.append(
            f"{_plural(len(below), 'table')} not read (data checks, probes): a partition or child is locked — "
            + ", ".join(f"{s}.{t}" for s, t in below)
        )
    by_schema: dict[str, list[dict[str, str]]] = {}
    for entry in unreadable.values():
        by_schema.setdefault(entry["schema"], []).append(entry)
    for schema, entries in sorted(by_schema.items()):
        report.unaudited += [{k: v for k, v in e.items() if k != "fix"} for e in entries]
        report.incomplete.append(
            f"{_plural(len(entries), 'table')} in schema {schema} not read (data checks, probes): the auditing role "
            f"lacks USAGE on the schema — {entries[0]['fix']}"
        )
    report.unaudited += no_select
    if no_select:
        report.incomplete.append(
            f"{_plural(len(no_select), 'table')} not read by the data checks: the auditing role lacks SELECT — "
            + "; ".join(e["reason"].rsplit(" — ", 1)[-1] for e in no_select)
        )
    report.incomplete += scope.lost_checks


_ANY_TENANT_COLUMN = """
SELECT EXISTS (SELECT FROM pg_catalog.pg_attribute a
               JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
               WHERE a.attname = %(tenant_column)s AND a.attnum > 0 AND NOT a.attisdropped
                 AND c.relkind IN ('r', 'p') AND n.nspname = ANY (%(schemas)s::text[]))
"""


def require_multi_tenant(conn: psycopg.Connection, scope: Scope, config: AuditConfig) -> None:
    """No tenants table, no policy naming a tenant context and no table with the tenant column:
    nothing here is multi-tenant yet, and every table would be "missing" its tenant column. One
    line, exit 2, naming what was looked for (rehearse skips the check on such a step)."""
    if scope.tenant_table is not None or config.is_explicit("tenant_table") or (scope.context and scope.context.inferred):
        return
    if conn.execute(_ANY_TENANT_COLUMN, scope.params).fetchone()[0]:
        return
    from ..errors import ConfigError

    raise ConfigError(
        f"nothing to audit as multi-tenant: no tenants table {config.tenant_table}, no table with a column "
        f"{scope.params['tenant_column']} and no policy naming a tenant",
        fix="name the tenants table and column with --tenant-table and --tenant-column "
        "(or --tenant-table none and --tenant-column when the tenants live elsewhere)",
    )


def _read_only_audit(
    dsn: str, config: AuditConfig, checks: list[Check], report: Report
) -> tuple[Scope, list[TenantTable]]:
    catalogue = progress.current().task("catalogue audit")
    conn = connect_readonly(dsn, statement_timeout=config.statement_timeout, lock_timeout=config.lock_timeout)
    try:
        scope = resolve_scope(conn, config)
        report.server_version = scope.server_version
        # Before anything reads a table or deparses its expressions: the tables another session
        # locks are left out everywhere (one query; a lock that comes later is retried per check),
        # and those in schemas the auditor may not use are judged from pg_catalog only.
        mark_unaudited(scope, catalog.find_unaudited(conn, scope))
        # the policies read and judged once, the tenant context inferred from them (policy.py)
        settle_context(conn, scope, config)
        require_multi_tenant(conn, scope, config)
        require_tenant_column(conn, scope.params, config)
        report.context = scope.context.as_dict() if scope.context else None
        unreadable = unreadable_tables(conn, scope)
        below = locked_below(conn, scope)
        tables = audited_tables(conn, scope)
        findings, _timings, notes = run_checks(conn, checks, scope)
        findings = cap_unreachable(conn, scope, findings)  # exposure follows privileges (exposure.py)
        locked = {(u["schema"], u["object"]) for u in scope.unaudited.values()}
        tables = [t for t in tables if (t[0], t[1]) not in locked]  # locked after the scan, mid-checks
        report.coverage = build_coverage(tables, findings, has_tenants_table=scope.tenant_table is not None)
        report.notes.extend(notes)
        catalogue.done(f"{len(tables)} tables, {len(checks)} checks, {len(findings)} findings")
        fenced = [
            t for t in tenant_tables(tables, findings) if (t.schema, t.table) not in unreadable and (t.schema, t.table) not in below
        ]
        no_select: list[dict[str, str]] = []
        data_unproven: list = []
        if config.data_checks:
            data_findings, report.data_results = run_data_checks(
                conn, scope, fenced, timeout=config.query_timeout, unaudited=no_select, server_side=data_unproven
            )
            findings += data_findings
        # those the not-audited lines already explain (no SELECT, the tenants table locked) aside
        data_unproven = [
            d for d in data_unproven
            if not d.detail.startswith(("the auditing role may not SELECT", "the tenants table is locked"))
        ]
        if data_unproven:
            report.incomplete.append(
                f"{_plural(len(data_unproven), 'data check')} not proven for a reason on the server (a timeout, a lock, "
                "a privilege, RLS hiding rows from the auditing role): see the data results"
            )
        _record_unaudited(report, scope, unreadable, no_select, below)
        if config.probe == "read" and config.app_role:
            from .probes import run_read_probes, skipped_write_operations

            probe_findings, report.probes = run_read_probes(
                conn, scope, fenced, app_role=config.app_role, timeout=config.query_timeout,
                probe_side_effects=config.probe_side_effects,
            )
            report.probes += skipped_write_operations(fenced, report.probes)
            findings += probe_findings
        report.findings = findings
        return scope, fenced
    finally:
        try:
            conn.rollback()
        finally:
            conn.close()
