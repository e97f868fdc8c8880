"""`tenantaudit check`: one read-only snapshot of a live database, turned into a Report.

Catalogue checks, data checks and read probes share one READ ONLY, REPEATABLE READ transaction
that is rolled back. Write probes, only when asked, run afterwards in a transaction of their own
that is always rolled back too.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import psycopg

from .catalog import Check, Scope, audited_tables, load_checks, resolve_scope, run_checks
from .config import AuditConfig
from .data_checks import TenantTable, run_data_checks, tenant_tables
from .db import connect_readonly, first_line, mask_dsn
from .errors import ConnectError
from .findings import Report, build_coverage


@contextmanager
def database_errors() -> Iterator[None]:
    """Turn what a live server can throw mid-audit into one-line errors."""
    try:
        yield
    except psycopg.errors.QueryCanceled:
        raise ConnectError("a query exceeded --statement-timeout", fix="raise --statement-timeout") from None
    except psycopg.errors.LockNotAvailable:
        raise ConnectError(
            "a lock was not granted within lock_timeout (another session holds a conflicting lock)",
            fix="retry when the other transaction has ended",
        ) from None
    except psycopg.errors.InsufficientPrivilege as exc:
        raise ConnectError(f"missing privilege: {first_line(exc)}", fix="run as a role that can read pg_catalog") from None
    except psycopg.OperationalError as exc:
        raise ConnectError(f"the connection failed during the audit: {first_line(exc)}", fix="check the server") from None


def audit(dsn: str, config: AuditConfig) -> Report:
    """Audit ``dsn``. Never changes it: every transaction is rolled back."""
    checks = load_checks(config.checks_dirs)
    report = Report(command="check", target=mask_dsn(dsn), settings=config.as_settings())
    with database_errors():
        scope, tables = _read_only_audit(dsn, config, checks, report)
        if config.probe == "write" and config.app_role:
            from .probes import run_write_probes

            findings, report.probes, report.sequences_advanced = run_write_probes(
                dsn,
                scope,
                tables,
                app_role=config.app_role,
                timeout=config.data_timeout,
                statement_timeout=config.statement_timeout,
                lock_timeout=config.lock_timeout,
                probe_triggers=config.probe_triggers,
                probe_side_effects=config.probe_side_effects,
            )
            report.findings += findings
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


def _read_only_audit(
    dsn: str, config: AuditConfig, checks: list[Check], report: Report
) -> tuple[Scope, list[TenantTable]]:
    conn = connect_readonly(dsn, statement_timeout=config.statement_timeout, lock_timeout=config.lock_timeout)
    try:
        scope = resolve_scope(conn, config)
        report.server_version = scope.server_version
        tables = audited_tables(conn, scope)
        findings, _timings, notes = run_checks(conn, checks, scope)
        report.coverage = build_coverage(tables, findings)
        report.notes.extend(notes)
        fenced = tenant_tables(tables, findings)
        if config.data_checks:
            data_findings, report.data_results = run_data_checks(conn, scope, fenced, timeout=config.data_timeout)
            findings += data_findings
        if config.probe == "read" and config.app_role:
            from .probes import run_read_probes, skipped_write_operations

            probe_findings, report.probes = run_read_probes(
                conn, scope, fenced, app_role=config.app_role, timeout=config.data_timeout,
                probe_side_effects=config.probe_side_effects,
            )
            report.probes += skipped_write_operations(fenced)
            findings += probe_findings
        report.findings = findings
        return scope, fenced
    finally:
        try:
            conn.rollback()
        finally:
            conn.close()
