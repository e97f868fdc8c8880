"""`tenantaudit rehearse`: the whole migration cycle in a disposable PostgreSQL, each step proven.

Phases, in order: sandbox, baseline (schema, legacy data, synthetic tenants), fingerprint F0,
backup (pg_dump -Fc), upgrade (every statement lock-traced), verify (`check` with write probes,
plus upgrade-data-loss), rollback (compared with F0), reapply (compared with the first upgrade),
restore (the backup into a fresh database, compared with F0). A phase that fails stops the
cycle: the later phases are marked not run. The sandbox is torn down whatever happens.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import psycopg
from psycopg import pq, sql

from ..config import AuditConfig
from ..db import first_line
from ..errors import ConfigError, SandboxError
from ..findings import Finding, Report, Severity
from .fingerprint import (
    NOT_POPULATED, column_hashes, data_fingerprint, diff_data, diff_schema, row_hashes, schema_fingerprint,
    table_columns,
)
from .locks import LockTracer, StatementTrace, execute, lock_findings
from .migrations import Migration, MigrationSet, Statement, _read, discover, split_statements
from ..sandbox import (
    WORK_PREFIX, RunOwner, client_connection, make_owned_dir, open_sandbox, reap_dead_sandboxes, tool_error,
)

PHASES = ("sandbox", "baseline", "fingerprint", "backup", "upgrade", "verify", "rollback", "reapply", "restore")
DEFAULT_APP_ROLE = "tenantaudit_app"
PASSED, FAILED, NOT_RUN, WARNED = "passed", "failed", "not run", "passed with findings"


@dataclass
class RehearsalOptions:
    path: Path
    rollback: Path | None = None
    baseline: Path | None = None
    from_dsn: str | None = None
    seed_tenants: int = 0
    rows_per_table: int = 0
    sandbox: str = "embedded"
    pg_version: int | None = None
    pg_bin: Path | None = None
    keep: bool = False
    config: AuditConfig = field(default_factory=AuditConfig)


@dataclass
class Phase:
    name: str
    status: str = NOT_RUN
    seconds: float = 0.0
    details: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class PhaseFailed(Exception):
    """The current phase could not complete; the finding explaining why is already recorded."""


Progress = Callable[[Phase], None]


class Rehearsal:
    def __init__(self, options: RehearsalOptions, progress: Progress | None = None):
        self.options = options
        self.progress = progress or (lambda phase: None)
        self.report = Report(command="rehearse", target=str(options.path), settings=options.config.as_settings())
        self.phases = {name: Phase(name) for name in PHASES}
        self.findings: list[Finding] = []
        self.traces: list[StatementTrace] = []
        self.sandbox = None
        self.workdir: Path | None = None
        self._workdir_fd: int | None = None
        self.kept_dsn: str | None = None
        # names this run's scratch databases (and, on an existing server, its app role) and marks
        # them as this process's, so that a later run tells a killed run's leftovers from a live one's
        self.run_id = secrets.token_hex(4)
        self.owner = RunOwner.current(self.run_id)

    # -- driver --------------------------------------------------------------------------
    def run(self) -> Report:
        migrations = discover(self.options.path, self.options.rollback)
        self.report.notes.extend(migrations.problems)
        self.report.notes.extend(reap_dead_sandboxes())
        try:
            self.workdir, self._workdir_fd = make_owned_dir(WORK_PREFIX, self.owner)
            self._cycle(migrations)
        finally:
            self._teardown()
        for direction, phase in (("up", "upgrade"), ("down", "rollback")):
            traces = [t for t in self.traces if t.direction == direction]
            # Keyed per direction: an up and its down share a label (and often line numbers), and
            # a map over both directions named the down file in upgrade findings.
            files = {(t.migration, t.line): t.file for t in traces}
            for finding in lock_findings(traces):
                finding.phase = phase
                # name the file, so reports (SARIF) can point at the statement
                finding.migration = _shown_path(files.get((finding.migration, finding.line), finding.migration))
                self.findings.append(finding)
        self.report.findings = self.findings
        self.report.phases = [p.to_dict() for p in self.phases.values()]
        self.report.locks = [t.to_dict() for t in self.traces]
        return self.report

    def _cycle(self, migrations: MigrationSet) -> None:
        steps = [
            ("sandbox", self._start_sandbox),
            ("baseline", self._baseline),
            ("fingerprint", self._fingerprint_baseline),
            ("backup", self._backup),
            ("upgrade", lambda: self._upgrade(migrations, phase="upgrade")),
            ("verify", self._verify),
            ("rollback", lambda: self._rollback(migrations)),
            ("reapply", lambda: self._reapply(migrations)),
            ("restore", self._restore),
        ]
        for name, step in steps:
            phase = self.phases[name]
            phase.status = "running"
            self.progress(phase)
            started = time.perf_counter()
            try:
                try:
                    step()
                except psycopg.OperationalError as exc:
                    # the sandbox server went away (killed, out of memory, disk full) in a phase
                    # that had no handler of its own: one line, not an internal error
                    state = getattr(exc, "sqlstate", None) or ""
                    if state and not state.startswith("08") and state not in ("57P01", "57P02", "57P03"):
                        raise  # a timeout or a lock not granted is not the server going away
                    raise SandboxError(f"the sandbox connection failed during {name}: {first_line(exc)}",
                                       fix="see the server log; rerun the rehearsal") from None
            except PhaseFailed:
                phase.status = FAILED
            else:
                if phase.status == "running":
                    phase.status = PASSED
            finally:
                phase.seconds = round(time.perf_counter() - started, 3)
                if phase.status == "running":  # an unexpected error or Ctrl-C
                    phase.status = FAILED
                self.progress(phase)
            if phase.status == FAILED:
                return

    # -- phases --------------------------------------------------------------------------
    def _start_sandbox(self) -> None:
        opts = self.options
        wanted = opts.pg_version
        if opts.from_dsn:
            self.source_major, self.source_roles = _source_facts(opts.from_dsn)
            wanted = wanted or self.source_major
        try:
            self.sandbox = open_sandbox(opts.sandbox, major=wanted, pg_bin=opts.pg_bin, owner=self.owner)
            self.sandbox.start()
        except SandboxError:
            if opts.pg_version or not opts.from_dsn:
                raise
            # no binaries of the source's version here: rehearse on what there is, and say so
            self.sandbox = open_sandbox(opts.sandbox, pg_bin=opts.pg_bin, owner=self.owner)
            self.sandbox.start()
        self.report.notes.extend(self.sandbox.reaped)
        if opts.from_dsn and self.sandbox.major != self.source_major:
            self.report.notes.append(
                f"warning: the source runs PostgreSQL {self.source_major} but the sandbox runs {self.sandbox.major}; "
                f"install PostgreSQL {self.source_major} binaries or pass --pg-bin to rehearse on the same version"
            )
        from ..db import mask_dsn

        binaries = self.sandbox.binaries
        where = opts.sandbox if opts.sandbox in ("", "embedded", "docker") else mask_dsn(opts.sandbox)
        self.phases["sandbox"].details.append(
            f"PostgreSQL {self.sandbox.major} ({where or 'embedded'}); pg_dump from {binaries.source}: {binaries.bindir}"
        )
        self.dbname = f"rehearsal_{self.run_id}"
        self.dsn = self.sandbox.create_database(self.dbname)

    def _connect(self, dsn: str | None = None) -> psycopg.Connection:
        return psycopg.connect(dsn or self.dsn, autocommit=True)

    def _baseline(self) -> None:
        opts = self.options
        phase = self.phases["baseline"]
        statements: list[Statement] = []
        if opts.from_dsn:
            self._create_roles(self.source_roles)
            statements += self._schema_from(opts.from_dsn)
        if opts.baseline:
            if not opts.baseline.is_file():
                raise ConfigError(f"--baseline {opts.baseline}: no such file", fix="check the path")
            # as migrations are read: a UTF-8 BOM or CRLF line ends (Windows editors) are not SQL,
            # and a file that is not UTF-8 is a usage error, not an internal one
            statements += split_statements(_read(opts.baseline), opts.baseline)
        with self._connect() as conn:
            for statement in statements:
                try:
                    execute(conn, statement.sql, statement.copy_data)  # pg_dump's COPY ... FROM stdin too
                except psycopg.Error as exc:
                    self._statement_failed("migration-failed", "baseline", statement, exc, migration="baseline")
                    raise PhaseFailed from None
            phase.details.append(f"{len(statements)} statements")
            if opts.seed_tenants or opts.rows_per_table:
                phase.details.append(self._seed(conn))

    def _schema_from(self, dsn: str) -> list[Statement]:
        """The live database's schema, read-only, via pg_dump --schema-only (password never shown)."""
        from ..db import mask_dsn, parse_dsn

        parse_dsn(dsn)
        assert self.workdir is not None and self.sandbox is not None
        target = self.workdir / "source-schema.sql"
        from ..sandbox import client_binaries

        pg_dump = client_binaries(self.source_major, self.options.pg_bin).tool("pg_dump")
        with client_connection(dsn, self.workdir) as (conninfo, env):  # the password never in argv
            proc = subprocess.run(
                [pg_dump, "--schema-only", "--no-owner", "--no-privileges",
                 "--file", str(target), "--dbname", conninfo],
                capture_output=True, text=True, timeout=600, env=env,
            )
        if proc.returncode != 0:
            reason = tool_error(proc.stderr, "pg_dump", "pg_dump failed")
            raise ConfigError(f"--from {mask_dsn(dsn)}: {reason.replace(dsn, mask_dsn(dsn))}", fix="check the DSN and that pg_dump can reach it")
        text = "\n".join(line for line in target.read_text(encoding="utf-8").splitlines()
                         if not line.startswith(("SET ", "SELECT pg_catalog.set_config('search_path'", "\\")))
        return split_statements(text, target)

    def _create_roles(self, roles: list[str]) -> None:
        """Roles the source's policies name must exist for its CREATE POLICY statements to run."""
        with self._connect() as conn:
            for role in roles:
                if not conn.execute("SELECT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = %s)", (role,)).fetchone()[0]:
                    self.sandbox.create_role(role)  # marked as this run's on an existing server

    def _seed(self, conn: psycopg.Connection) -> str:
        """Synthetic tenants and rows in the baseline's tables, so the cycle moves real data."""
        from ..audit.synth import Synthesizer, Unsatisfiable
        from ..config import split_qualified_name
        from ..audit.catalog import quote_qualified

        opts = self.options
        cfg = opts.config
        tables = [r[0] for r in conn.execute(
            """SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
               WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
                 AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
               ORDER BY 1""").fetchall()]
        tenant_oid = conn.execute(
            "SELECT pg_catalog.to_regclass(%s)::oid", (quote_qualified(*split_qualified_name(cfg.tenant_table)),)
        ).fetchone()[0]
        made, skipped = 0, []
        if not tables:
            return "nothing seeded: the baseline has no tables"
        with conn.transaction():
            # The tenants table may only be created by the migrations: the Synthesizer still needs
            # a table oid there (it failed with "no table with oid 0"), and with no tenants it only
            # uses it for new_tenant(), which is then never called: any table of the baseline does.
            synth = Synthesizer(conn, [t for t in tables if t != tenant_oid], tenant_column=cfg.tenant_column,
                                tenant_table_oid=tenant_oid or tables[0])
            tenants = [synth.new_tenant() for _ in range(opts.seed_tenants)] if tenant_oid else []
            for oid in synth.order():
                for tenant in tenants or [None]:
                    for _ in range(opts.rows_per_table):
                        try:
                            synth.insert_row(oid, tenant)
                            made += 1
                        except Unsatisfiable as exc:
                            skipped.append(exc.reason)
                            break
        note = f"seeded {made} synthetic rows" + (f" for {len(tenants)} tenants" if tenants else "")
        if opts.seed_tenants and not tenant_oid:
            note += f"; no tenants seeded: the baseline has no tenants table {cfg.tenant_table}"
        if skipped:
            note += f"; not seeded: {'; '.join(sorted(set(skipped)))}"
        return note

    def _fingerprint_baseline(self) -> None:
        with self._connect() as conn:
            self.f0_schema = schema_fingerprint(conn)
            self.f0_columns = table_columns(conn)
            # every later hash is taken over these same columns, so rows compare over what existed
            self.f0_data = self._data(conn)
            # per column and per row, to tell what a difference is (see _data_findings): the
            # rehearsal's data is small (a baseline file, synthetic rows)
            self.f0_column_hashes = column_hashes(conn, self.f0_columns)
            self.f0_row_hashes = {
                table: Counter(row_hashes(conn, table, columns)) for table, columns in self.f0_columns.items()
                if self.f0_data.get(table, (0, NOT_POPULATED))[1] != NOT_POPULATED
            }
            self.origins = _Origins(self.f0_schema, self.f0_data, self.f0_columns)
        self.preexisting_rows = {table: count for table, (count, _) in self.f0_data.items()}
        self.phases["fingerprint"].details.append(
            f"{len(self.f0_schema)} schema objects, {len(self.f0_data)} tables, {sum(self.preexisting_rows.values())} rows"
        )

    def _data(self, conn: psycopg.Connection) -> dict[str, tuple[int, str]]:
        return data_fingerprint(conn, tables=list(self.f0_columns), columns=self.f0_columns)

    def _backup(self) -> None:
        assert self.workdir is not None
        self.backup_file = self.workdir / "baseline.dump"
        self._pg_tool("pg_dump", self.dsn, "-Fc", "--file", str(self.backup_file))
        self.phases["backup"].details.append(f"pg_dump -Fc: {self.backup_file.stat().st_size} bytes")

    def _pg_tool(self, tool: str, dsn: str, *args: str) -> None:
        with client_connection(dsn, self.workdir) as (conninfo, env):  # the password never in argv
            proc = subprocess.run([self.sandbox.binaries.tool(tool), "--dbname", conninfo, *args],
                                  capture_output=True, text=True, timeout=3600, env=env)
        if proc.returncode != 0:
            reason = tool_error(proc.stderr, tool, f"{tool} exited {proc.returncode}")
            phase = "backup" if tool == "pg_dump" else "restore"
            self.findings.append(Finding(
                category="backup-restore-mismatch", check="rehearsal:backup", severity=Severity.HIGH,
                schema=None, table=None, object_kind="database", phase=phase,
                message=f"{tool} failed: {reason}", remediation=None))
            raise PhaseFailed

    def _upgrade(self, migrations: MigrationSet, *, phase: str) -> None:
        category = "migration-failed" if phase == "upgrade" else "reapply-failed"
        with self._connect() as conn:
            tracer = LockTracer(conn, self.preexisting_rows)
            for migration in migrations.migrations:
                self._apply(conn, tracer, migration, migration.up, "up", category, phase, migration.transactional)
            self.phases[phase].details.append(f"{len(migrations.migrations)} migrations applied")
            if phase == "upgrade":
                self.f1_schema = schema_fingerprint(conn)

    def _apply(
        self,
        conn: psycopg.Connection,
        tracer: LockTracer,
        migration: Migration | None,
        statements: list[Statement],
        direction: str,
        category: str,
        phase: str,
        transactional: bool,
    ) -> None:
        """Run statements, one transaction for the lot when possible, every statement traced."""
        label = migration.label if migration else "rollback script"
        try:
            if transactional:
                conn.execute("BEGIN")
                tracer.begin_transaction()
            for statement in statements:
                if transactional and statement.controls_transaction:
                    continue  # the rehearsal's own transaction wraps the migration
                # Outside a transaction a statement is its own transaction, and its locks were
                # released before they could be read: a non-transactional migration (dbmate
                # transaction:false, an ALTER TABLE beside a CREATE INDEX CONCURRENTLY) was never
                # lock-traced. A one-statement BEGIN ... COMMIT is the same thing for any statement
                # a transaction block allows, and keeps the locks readable until the COMMIT.
                alone = (
                    not transactional and statement.transactional and not statement.controls_transaction
                    and conn.info.transaction_status == pq.TransactionStatus.IDLE
                )
                try:
                    if alone:
                        conn.execute("BEGIN")
                        tracer.begin_transaction()
                    trace = tracer.run(
                        statement.sql, migration=label, direction=direction, file=str(statement.file),
                        line=statement.line, summary=statement.summary, copy_data=statement.copy_data,
                    )
                    if alone:
                        conn.execute("COMMIT")
                except psycopg.Error as exc:
                    if (transactional or alone) and conn.info.transaction_status != pq.TransactionStatus.IDLE:
                        conn.execute("ROLLBACK")
                    self._statement_failed(category, phase, statement, exc, migration=label)
                    raise PhaseFailed from None
                if phase in ("upgrade", "rollback"):  # reapply repeats the upgrade's trace
                    self.traces.append(trace)
                    self.origins.observe(conn, statement, direction)
                    tracer.resync()
            if transactional:
                try:
                    conn.execute("COMMIT")
                except psycopg.Error as exc:
                    # e.g. a DEFERRABLE INITIALLY DEFERRED constraint checked at COMMIT: it was an
                    # "internal error"; it is the migration's failure, at its last statement
                    if not statements or isinstance(exc, psycopg.OperationalError):
                        raise
                    last = statements[-1]
                    self._statement_failed(category, phase, last, exc, migration=label, at_commit=True)
                    raise PhaseFailed from None
        except psycopg.OperationalError as exc:
            raise SandboxError(f"the sandbox connection failed during {phase}: {first_line(exc)}", fix="see the server log") from None

    def _statement_failed(
        self, category: str, phase: str, statement: Statement, exc: psycopg.Error, *, migration: str,
        at_commit: bool = False,
    ) -> None:
        sqlstate = getattr(exc, "sqlstate", None) or "?????"
        # at_commit: the migration's own COMMIT failed; `statement` is its last statement
        shown = "COMMIT` at the end of the migration, after `" + statement.summary if at_commit else statement.summary
        self.findings.append(Finding(
            category=category,
            check=f"rehearsal:{phase}",
            severity=Severity.CRITICAL,
            schema=None,
            table=None,
            object_kind="migration",
            phase=phase,
            migration=_shown_path(statement.file),
            line=statement.line,
            message=f"{statement.file.name}:{statement.line}: `{shown}` failed with SQLSTATE {sqlstate}: {first_line(exc)}",
            # the SQLSTATEs whose fix is not obvious from the message
            remediation=_FAILURE_HINTS.get(sqlstate),
        ))
        self.phases[phase].details.append(f"failed at {statement.file.name}:{statement.line}")

    def _verify(self) -> None:
        from ..audit import audit

        cfg = self.options.config
        with self._connect() as conn:
            # on an existing server a name of this run's own: a concurrent run's role (or a killed
            # run's, without its grants) is never taken for ours
            app_role = cfg.app_role or self.sandbox.app_role_name(self.run_id)
            exists = conn.execute("SELECT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = %s)", (app_role,)).fetchone()[0]
            if not exists:
                from ..example import grant_app_role

                self.sandbox.create_role(app_role, member=True)  # the probes SET ROLE to it
                grant_app_role(conn, app_role, _user_schemas(conn), cfg.tenant_table, read_tenants=False)
                self.phases["verify"].details.append(
                    f"created app role {app_role} (owns nothing, DML on every table but the tenants table; "
                    "pass --app-role to rehearse with your own)")
            after = self._data(conn)
            # classified now, while the upgraded rows can still be read column by column
            losses = self._data_findings(conn, diff_data(self.f0_data, after), after, "upgrade-data-loss", "verify")
        verify_config = AuditConfig(**{**vars(cfg), "app_role": app_role, "probe": "write"})
        try:
            report = audit(self.dsn, verify_config)
        except ConfigError as exc:
            # e.g. no tenants table after this upgrade: the tenant audit does not apply, the
            # rest of the cycle (data loss, rollback, restore) still does
            self.phases["verify"].details.append(f"check skipped: {exc.one_line()}")
            report = Report(command="check", target=self.dsn)
        finally:
            if not exists:
                # the grants were the rehearsal's, not the migrations': take them back before the
                # rollback is compared with the baseline
                with self._connect() as conn:
                    from ..example import drop_app_role_grants

                    drop_app_role_grants(conn, app_role, _user_schemas(conn))
        for finding in report.findings:
            finding.phase = "verify"
        self.findings.extend(report.findings)
        self.report.coverage = report.coverage
        self.report.probes = report.probes
        self.report.data_results = report.data_results
        self.report.sequences_advanced = report.sequences_advanced
        self._data_loss(losses, "verify")
        self.phases["verify"].details.append(f"{len(report.findings)} findings from check")
        if report.findings:
            self.phases["verify"].status = WARNED

    def _data_loss(self, findings: list[Finding], phase: str) -> None:
        self.findings.extend(findings)
        if findings:
            self.phases[phase].status = WARNED

    def _data_findings(self, conn, differences, after_data, category: str, phase: str) -> list[Finding]:
        """A finding per table whose pre-existing rows differ from the baseline's.

        Rows are compared one by one (as multisets of row hashes over the pre-existing columns):
        an upgrade that only added rows to a table (a default tenant, a lookup value) lost nothing
        and is not reported (it was "critical: 2 rows -> 3 rows"); after the rollback, rows the
        upgrade added and the down left are still reported (the data is not back to the baseline).
        Rows or a column gone are data loss (critical). With the same row count, the columns are
        compared one by one: a pre-existing column gone whose values all sit in a new column is
        a rename (high: nothing is lost, but whatever still reads the old name breaks); values
        changed in place by the upgrade are a data change, not rows lost (medium: a deliberate
        data migration must not fail the run; the old values are in the backup, and if the down
        migration does not put them back the rollback reports rollback-data-loss, critical).
        Each finding names the statement that first changed the table (see _Origins).
        """
        findings = []
        now_columns = table_columns(conn)
        for difference in differences:
            key = difference.key
            schema, _, table = key.partition(".")
            message = difference.describe(expected_gone="appeared", expected_back="is gone with its rows")
            severity = Severity.CRITICAL
            before_columns = self.f0_columns.get(key, [])
            before = self.f0_column_hashes.get(key, {})
            if key in now_columns and key in self.f0_row_hashes and set(before_columns) <= set(now_columns[key]):
                now_rows = Counter(row_hashes(conn, key, before_columns))
                gone, extra = self.f0_row_hashes[key] - now_rows, now_rows - self.f0_row_hashes[key]
                if not gone and extra:
                    if category == "upgrade-data-loss":
                        continue  # rows were only added: every pre-existing row is still there
                    message = (f"{key}: {_plural(sum(extra.values()), 'row')} added by the upgrade still there"
                               f" ({difference.before} -> {difference.after})")
            if key in now_columns and key in after_data and after_data[key][0] == self.f0_data[key][0] and before:
                added = [c for c in now_columns[key] if c not in before_columns]
                after = column_hashes(conn, {key: before_columns + added}).get(key, {})
                missing = [c for c in before_columns if c not in now_columns[key]]
                changed = [c for c in before_columns if c in after and after[c] != before.get(c)]
                renamed: dict[str, str] = {}
                for column in missing:
                    twin = next((c for c in added if after.get(c) == before.get(column) and c not in renamed.values()), None)
                    if twin is not None:
                        renamed[column] = twin
                rows = _plural(self.f0_data[key][0], "row")
                if missing and len(renamed) == len(missing) and not changed:
                    names = ", ".join(f"{old} is now {new}" for old, new in renamed.items())
                    message = (f"{key}: pre-existing column renamed ({names}): the values are kept, but whatever "
                               f"still reads the old name breaks")
                    severity = Severity.HIGH
                elif changed and not missing:
                    message = f"{key}: values changed in pre-existing column {', '.join(changed)} (same {rows})"
                    if category == "upgrade-data-loss":
                        message += ": a data change, not rows lost; the old values are only in the backup"
                        severity = Severity.MEDIUM
                    else:
                        message += ": the rollback did not put the baseline values back"
            origin = self.origins.origin("data " + key, rollback=category == "rollback-data-loss")
            findings.append(Finding(
                category=category, check=f"rehearsal:{phase}", severity=severity,
                schema=schema, table=table, phase=phase, message=message,
                remediation=f"first changed by {origin.file.name}:{origin.line}: `{origin.summary}`" if origin else None,
                migration=_shown_path(origin.file) if origin else None, line=origin.line if origin else None))
        return findings

    def _rollback(self, migrations: MigrationSet) -> None:
        phase = self.phases["rollback"]
        with self._connect() as conn:
            tracer = LockTracer(conn, self.preexisting_rows)
            self.origins.restart(conn)  # the rollback's changes are told apart from the upgrade's
            if migrations.rollback is not None:
                # in one transaction when it can be, like a migration (it was always wrapped, so
                # a script with DROP INDEX CONCURRENTLY failed with SQLSTATE 25001)
                wrap = all(s.transactional and not s.controls_transaction for s in migrations.rollback)
                self._apply(conn, tracer, None, migrations.rollback, "down", "rollback-failed", "rollback", wrap)
                phase.details.append(f"rollback script {migrations.rollback_file}")
            else:
                missing = [m.label for m in migrations.migrations if m.down is None]
                if missing:
                    self.findings.append(Finding(
                        category="rollback-failed", check="rehearsal:rollback", severity=Severity.HIGH,
                        schema=None, table=None, object_kind="migration", phase="rollback",
                        migration=", ".join(missing),
                        message=f"no down migration for {', '.join(missing)} and no --rollback script: the rollback cannot be rehearsed",
                        remediation="write the down migration (it must undo exactly what the up does) or pass --rollback FILE"))
                    raise PhaseFailed
                for migration in reversed(migrations.migrations):
                    self._apply(conn, tracer, migration, migration.down or [], "down", "rollback-failed", "rollback",
                                migration.down_transactional)
                phase.details.append(f"{len(migrations.migrations)} down migrations applied")
            after_schema = schema_fingerprint(conn)
            after_data = self._data(conn)
            policies = _policy_counts(conn)
            losses = self._data_findings(conn, diff_data(self.f0_data, after_data), after_data,
                                         "rollback-data-loss", "rollback")
        drift = _whole_tables(diff_schema(self.f0_schema, after_schema))
        for difference in drift:
            message = difference.describe()
            schema, table = _object_of(difference.key)
            if difference.key.startswith("rls ") and "enabled" in (difference.after or "") and not policies.get(f"{schema}.{table}"):
                message += ": RLS is on and no policy is left, so a non-owner application now sees no rows at all"
            # the statement to look at: the last rollback statement that touched the object, else
            # the upgrade statement that first changed it (the one its down migration must undo)
            origin = self.origins.origin(difference.key, rollback=True)
            remediation = "make the down migration undo this: the rollback must return the schema to the baseline"
            if origin is not None:
                remediation += f" ({origin.file.name}:{origin.line}: `{origin.summary}`)"
            self.findings.append(Finding(
                category="rollback-schema-drift", check="rehearsal:rollback", severity=Severity.HIGH,
                schema=schema, table=table, phase="rollback", message=message, remediation=remediation,
                migration=_shown_path(origin.file) if origin else None, line=origin.line if origin else None))
        self._data_loss(losses, "rollback")
        phase.details.append(f"{len(drift)} schema differences from the baseline")
        if drift:
            phase.status = WARNED

    def _reapply(self, migrations: MigrationSet) -> None:
        self._upgrade(migrations, phase="reapply")
        with self._connect() as conn:
            again = schema_fingerprint(conn)
        differences = diff_schema(self.f1_schema, again)
        for difference in differences:
            self.phases["reapply"].details.append(difference.describe(expected_gone="was added", expected_back="is missing"))
        if differences:
            self.phases["reapply"].status = WARNED

    def _restore(self) -> None:
        restored = f"{self.dbname}_restore"
        dsn = self.sandbox.create_database(restored)
        self._pg_tool("pg_restore", dsn, "--no-owner", "--exit-on-error", str(self.backup_file))
        with self._connect(dsn) as conn:
            schema = schema_fingerprint(conn)
            data = self._data(conn)
        differences = diff_schema(self.f0_schema, schema) + diff_data(self.f0_data, data)
        for difference in differences:
            schema_name, table = _object_of(difference.key)
            self.findings.append(Finding(
                category="backup-restore-mismatch", check="rehearsal:restore", severity=Severity.HIGH,
                schema=schema_name, table=table, phase="restore",
                message="restored backup: " + difference.describe(expected_gone="appeared", expected_back="is missing"),
                remediation=None))
        self.phases["restore"].details.append(f"restored into a fresh database: {len(differences)} differences")
        if differences:
            self.phases["restore"].status = WARNED

    def _teardown(self) -> None:
        from ..sandbox import shielded

        with shielded():  # a signal now takes effect once everything is removed
            self._teardown_now()

    def _teardown_now(self) -> None:
        import shutil

        try:
            if self.sandbox is not None:
                if self.options.keep and hasattr(self, "dsn"):
                    self.kept_dsn = self.dsn
                    cleanup = self.sandbox.detach()
                    from ..db import mask_dsn

                    shown = self.dsn if "password" not in self.dsn else mask_dsn(self.dsn) + " (password as given)"
                    self.report.notes.append(f"--keep: the sandbox is still running: {shown} (remove it with: {cleanup})")
                else:
                    self.sandbox.stop()
        finally:
            if self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)
            if self._workdir_fd is not None:
                import os

                os.close(self._workdir_fd)
                self._workdir_fd = None


def rehearse(options: RehearsalOptions, progress: Progress | None = None) -> Report:
    return Rehearsal(options, progress).run()


class _Origins:
    """Which statement made each difference that the verify and rollback phases report.

    Schema drift and data loss used to be reported without a file or a line. After every
    statement of the upgrade and of the rollback the catalog and the pre-existing tables' rows
    are fingerprinted again (rehearsal data is small; the catalog is not re-read after a
    statement that cannot change it), and each key that changed remembers the statement: the
    first one of the upgrade, the last one of the rollback. A finding then points at the last
    rollback statement that touched its object, or else at the upgrade statement its down
    migration had to undo. Keys: the schema fingerprint's, and "data schema.table".
    """

    # statements that cannot change the catalog as the schema fingerprint sees it (an explicit
    # ROLLBACK / ABORT can: it undoes what its block did)
    _NO_DDL = {"INSERT", "UPDATE", "DELETE", "MERGE", "COPY", "TRUNCATE", "SET", "RESET", "SHOW", "ANALYZE",
               "VACUUM", "LOCK", "NOTIFY", "BEGIN", "START", "COMMIT", "END", "SAVEPOINT", "RELEASE"}
    # nor the rows of an existing table
    _NO_DML = {"CREATE", "COMMENT", "GRANT", "REVOKE", "SET", "RESET", "SHOW", "ANALYZE", "VACUUM", "LOCK",
               "NOTIFY", "BEGIN", "START", "COMMIT", "END", "SAVEPOINT", "RELEASE"}

    def __init__(self, schema: dict[str, str], data: dict, columns: dict[str, list[str]]):
        self.schema, self.data, self.columns = dict(schema), dict(data), columns
        self.up: dict[str, Statement] = {}
        self.down: dict[str, Statement] = {}
        self.enabled = True

    def restart(self, conn: psycopg.Connection) -> None:
        """The state now (after verify) is what the rollback's statements change."""
        if self.enabled:
            self._read(conn, schema=True, data=True)

    def observe(self, conn: psycopg.Connection, statement: Statement, direction: str) -> None:
        if not self.enabled:
            return
        words = statement._words
        head = words[0] if words else ""
        before_schema, before_data = self.schema, self.data
        self._read(conn, schema=head not in self._NO_DDL, data=head not in self._NO_DML)
        changed = [k for k in self.schema.keys() | before_schema.keys() if self.schema.get(k) != before_schema.get(k)]
        changed += ["data " + k for k in self.data.keys() | before_data.keys() if self.data.get(k) != before_data.get(k)]
        for key in changed:
            if direction == "up":
                self.up.setdefault(key, statement)
            else:
                self.down[key] = statement

    def _read(self, conn: psycopg.Connection, *, schema: bool, data: bool) -> None:
        try:
            if schema:
                self.schema = schema_fingerprint(conn)
            if data:
                self.data = data_fingerprint(conn, tables=list(self.columns), columns=self.columns)
        except psycopg.OperationalError:
            raise
        except psycopg.Error:
            # e.g. the migration SET ROLE to a role that cannot read a table: the error stayed in
            # a savepoint (the migration goes on), findings just carry no line from here on
            self.enabled = False

    def origin(self, key: str, *, rollback: bool) -> Statement | None:
        if rollback and key in self.down:
            return self.down[key]
        return self.up.get(key)


# Hints for failures whose fix the server's message does not tell.
_FAILURE_HINTS = {
    "55P04": (
        "a value added with ALTER TYPE ... ADD VALUE cannot be used until that transaction commits: "
        "put the ADD VALUE in its own migration (dbmate: its own file) and use the value in a later one"
    ),
    "25001": (
        "this statement cannot run inside a transaction block: give it a migration of its own that the tool "
        "runs outside a transaction (dbmate: '-- migrate:up transaction:false')"
    ),
}


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


_PARTS_OF_A_TABLE = ("column", "constraint", "rls", "owner", "grant", "policy", "trigger")


def _whole_tables(differences: list) -> list:
    """When a whole table was added or removed, its columns, constraints, grants... differ too:
    keep the table's own line and drop the parts it implies."""
    # Sequences, views and materialized views have owners and grants keyed like a table's
    # ("owner public.seq"); functions, types and schemas key theirs by the object's own key
    # ("owner function public.f(text)"). Both were reported as a second drift line.
    relations = ("table ", "sequence ", "view ", "matview ")
    whole = {d.key.partition(" ")[2] for d in differences if d.key.startswith(relations) and d.kind in ("added", "removed")}
    whole_keys = {d.key for d in differences if d.kind in ("added", "removed")}

    def implied(d) -> bool:
        kind, _, name = d.key.partition(" ")
        if kind in ("owner", "grant") and name in whole_keys and d.kind in ("added", "removed"):
            return True
        text = d.after or d.before or ""
        if kind == "index" and any(f" ON {t} " in text or f" ON ONLY {t} " in text for t in whole):
            return True  # a whole table's indexes (its primary key) come and go with it
        if kind == "sequence" and any(f"owned by {t}." in text for t in whole):
            return True  # and so do its serial / identity sequences
        return kind in _PARTS_OF_A_TABLE and any(name == t or name.startswith(t + ".") for t in whole)

    return [d for d in differences if not implied(d)]


def _policy_counts(conn: psycopg.Connection) -> dict[str, int]:
    rows = conn.execute(
        """SELECT n.nspname || '.' || c.relname, pg_catalog.count(*) FROM pg_catalog.pg_policy p
           JOIN pg_catalog.pg_class c ON c.oid = p.polrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           GROUP BY 1"""
    ).fetchall()
    return dict(rows)


def _object_of(key: str) -> tuple[str | None, str | None]:
    """'column public.leads.tenant_id' -> ('public', 'leads'); 'index public.idx' -> ('public', 'idx')."""
    _, _, name = key.partition(" ")
    parts = name.split(".")
    if len(parts) >= 2:
        return parts[0], parts[1].split("(")[0]
    return None, name or None


def _shown_path(path) -> str:
    """A migration file as reports show it: relative to the working directory when inside it."""
    import os

    text = str(path)
    try:
        relative = os.path.relpath(text)
    except ValueError:
        return text
    return text if relative.startswith("..") else relative


def _source_facts(dsn: str) -> tuple[int, list[str]]:
    """The source's major version and the roles its policies apply to, read-only."""
    from ..db import connect_readonly

    conn = connect_readonly(dsn)
    try:
        major = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000
        roles = [r[0] for r in conn.execute(
            "SELECT DISTINCT r.rolname FROM pg_catalog.pg_policy p, pg_catalog.unnest(p.polroles) AS u(oid)"
            " JOIN pg_catalog.pg_roles r ON r.oid = u.oid ORDER BY 1"
        ).fetchall()]
    finally:
        conn.rollback()
        conn.close()
    return major, roles


def _user_schemas(conn: psycopg.Connection) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'"
    ).fetchall()]



