"""`tenantaudit check`: one read-only snapshot of a live database, turned into a Report."""

from __future__ import annotations

import psycopg

from .catalog import audited_tables, load_checks, resolve_scope, run_checks
from .config import AuditConfig
from .data_checks import run_data_checks, tenant_tables
from .db import connect_readonly, first_line, mask_dsn
from .errors import ConnectError
from .findings import Report, build_coverage


def audit(dsn: str, config: AuditConfig) -> Report:
    """Run the catalogue against ``dsn``. Never writes: the one transaction is rolled back."""
    checks = load_checks(config.checks_dirs)
    report = Report(command="check", target=mask_dsn(dsn), settings=config.as_settings())
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
                conn, scope, fenced, app_role=config.app_role, timeout=config.data_timeout
            )
            report.probes += skipped_write_operations(fenced)
            findings += probe_findings
        report.findings = findings
        if config.probe != "none" and not config.app_role:
            report.notes.append("behavioural probes need --app-role: none were run")
        if not config.app_role:
            report.notes.append(
                "no --app-role given: owner bypass, role bypass and privilege-based checks assume the worst "
                "where they cannot know; pass the role the application connects as"
            )
    except psycopg.errors.InsufficientPrivilege as exc:
        raise ConnectError(f"missing privilege: {first_line(exc)}", fix="run as a role that can read pg_catalog") from None
    except psycopg.OperationalError as exc:
        raise ConnectError(f"the connection failed during the audit: {first_line(exc)}", fix="check the server") from None
    finally:
        try:
            conn.rollback()
        finally:
            conn.close()
    return report
