"""The command line. Thin: parse options, call one function, turn the outcome into an exit code."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import List, Optional

import typer

from . import __version__, progress
from .errors import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, TenantAuditError

app = typer.Typer(
    name="tenantaudit",
    help=(
        "Prove that a shared-schema multi-tenant PostgreSQL database keeps tenants apart.\n\n"
        "\b\n"
        "  tenantaudit demo                      the bundled example, on a throwaway PostgreSQL\n"
        "  tenantaudit check DSN --app-role R    audit a live database (read-only)\n"
        "  tenantaudit rehearse MIGRATIONS/      backup, upgrade, verify, rollback, reapply, restore\n"
        "  tenantaudit checks [ID]               the check catalogue, or one check and its SQL\n\n"
        "Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage or configuration error, "
        "3 could not connect or run, 4 nothing failed but part of the audit was not proven for a server-side reason; "
        "interrupted by a signal (Ctrl-C, SIGTERM, SIGHUP, SIGQUIT): temporary servers and files are removed, "
        "then 128 + the signal number (130 for Ctrl-C, 143 SIGTERM, 129 SIGHUP, 131 SIGQUIT)."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tenantaudit {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    pass


# Options shared by check and demo; None means "not given" so the config file can supply it.
TenantColumn = typer.Option(None, "--tenant-column", metavar="COLUMN", help="Column that holds the tenant id [default: inferred from the policies, else tenant_id].")
TenantTable = typer.Option(None, "--tenant-table", metavar="TABLE", help="Table whose primary key is the tenant id, or 'none' when the database has none [default: inferred from the foreign keys, else public.tenants].")
Setting = typer.Option(None, "--setting", metavar="NAME", help="Setting the application puts the tenant id (or slug) in, e.g. app.tenant_id or request.jwt.claims [default: inferred from the policies, else app.tenant_id].")
AppRole = typer.Option(None, "--app-role", help="Role the application connects as; without it, ownership and privilege checks assume the worst.")
AppRoles = typer.Option(
    None, "--app-role", metavar="ROLE",
    help="Role the application connects as (repeatable: Supabase's anon and authenticated); the first is probed. "
    "Without it, ownership and privilege checks assume the worst.",
)
# The tenant context (what "the current tenant" means); inferred from the policies when not given.
ContextModel = typer.Option(
    None, "--context", metavar="MODEL",
    help="How the session names its tenant: setting (a tenant id in --setting), mapped (a slug or other key of the "
    "tenants table, --tenant-key), membership (a user, --membership), role (current_user, --role-column) "
    "[default: inferred from the policies].",
)
ClaimPath = typer.Option(None, "--claim-path", metavar="PATH", help="Where the value sits in a JSON setting, e.g. org_id, sub or app_metadata.org_id (request.jwt.claims).")
TenantKey = typer.Option(None, "--tenant-key", metavar="COLUMN", help="mapped: the tenants table's column the setting holds, e.g. slug.")
Membership = typer.Option(None, "--membership", metavar="TABLE(USER,TENANT)", help="membership: the table linking users to tenants, e.g. 'public.account_user(user_id, account_id)'.")
UserSetting = typer.Option(None, "--user-setting", metavar="NAME", help="membership: the setting that carries the user (or session) id, e.g. request.jwt.claims with --claim-path sub.")
SessionTable = typer.Option(None, "--session-table", metavar="TABLE(KEY,USER)", help="membership: the setting holds a session id, mapped to its user by this table, e.g. 'app_private.sessions(uuid, user_id)'.")
RoleColumn = typer.Option(None, "--role-column", metavar="COLUMN", help="role: the tenants table's column holding each tenant's database role, e.g. db_user.")
Claims = typer.Option(None, "--claim", metavar="NAME=VALUE", help="An extra JWT claim the fences need, set in the probes' claims (repeatable), e.g. --claim user_role=member.")
Schemas = typer.Option(None, "--schema", help="Schema to audit (repeatable) [default: every non-system schema].")
GlobalTables = typer.Option(None, "--global-table", help="Table shared by all tenants by design (repeatable); shown, never flagged.")
FailOn = typer.Option(None, "--fail-on", help="Exit 1 when a finding is at or above this severity: critical, high, medium, low, info [default: high].")
JsonPath = typer.Option(None, "--json", help="Also write the JSON report to PATH ('-' for stdout, which then carries only JSON).")
HtmlPath = typer.Option(None, "--html", help="Also write a self-contained HTML page for reviewers to PATH.")
JunitPath = typer.Option(None, "--junit", help="Also write JUnit XML (a test case per table and phase) to PATH.")
SarifPath = typer.Option(None, "--sarif", help="Also write SARIF 2.1.0 (code-scanning UIs) to PATH.")
StatementTimeout = typer.Option(None, "--statement-timeout", help="Upper bound for any one query, e.g. 30s or 500ms [default: 30s].")
LockTimeout = typer.Option(None, "--lock-timeout", help="How long the audit waits for a lock on one table before reporting it not audited, e.g. 2s [default: 2s].")
ChecksDir = typer.Option(None, "--checks-dir", help="Folder of extra SQL checks, same format as the built-in ones (repeatable).")
Probe = typer.Option(None, "--probe", help="Behavioural probes as --app-role: none; read (rows already there, read-only); write (synthetic rows in a transaction that is always rolled back) [default: read].")
DataTimeout = typer.Option(None, "--data-timeout", help="Bound for each per-table data check or probe; a table not proven in time is reported as such [default: 5s].")
DataChecks = typer.Option(None, "--data-checks/--no-data-checks", help="Read tables that lack NOT NULL or a foreign key on the tenant column for NULL and orphan tenant ids (bounded by --data-timeout) [default: on].")
ProbeTriggers = typer.Option(None, "--probe-triggers/--no-probe-triggers", help="Write-probe tables that have triggers too (a trigger can act outside the transaction) [default: skip them].")
ProbeSideEffects = typer.Option(
    None,
    "--probe-side-effects/--no-probe-side-effects",
    help=(
        "Probe tables even where what the probe makes the server execute (their policies and the functions "
        "those call, defaults, CHECK and index expressions, triggers) can act outside the audit's rolled-back "
        "transaction: dblink or postgres_fdw, foreign tables, pg_notify, COPY ... PROGRAM, file or large-object "
        "functions, untrusted languages, dynamic SQL. Off: such tables are skipped, read probes too, and the "
        "report says which call made them unsafe. Only for a database you may change [default: skip them]."
    ),
)
AllTables = typer.Option(False, "--all-tables", help="In the terminal report, list every table in the matrices, not only those with a failing or unproven aspect.")
ConfigPath = typer.Option(None, "--config", help="Config file [default: ./tenantaudit.toml or [tool.tenantaudit] in ./pyproject.toml].")


def _check_outputs(outputs: dict) -> None:
    """Fail before a long audit, not after it, when a report cannot be written.

    Proves it the only reliable way: creates what the write will create (missing folders, the
    file itself) and removes it again; an existing file is opened for appending, so it is not
    truncated until the audit has succeeded. os.access is not enough (root, /proc, read-only
    mounts, a name too long for the file system).
    """
    seen: dict[Path, str] = {}
    to_stdout = [fmt for fmt, target in outputs.items() if target == "-"]
    if len(to_stdout) > 1:
        raise _config_error(f"only one report can go to stdout, not {' and '.join(to_stdout)}", "give the others a file path")
    for fmt, target in outputs.items():
        if not target or target == "-":
            continue
        path = Path(target)
        resolved = path.resolve()
        if resolved in seen:
            raise _config_error(f"--{seen[resolved]} and --{fmt} both write {target}", "give each report its own path")
        seen[resolved] = fmt
        if path.is_dir():
            raise _config_error(f"--{fmt} {target}: is a folder", "give a file path")
        created: list[Path] = []
        try:
            missing = [p for p in [resolved.parent, *resolved.parent.parents] if not p.exists()]
            for folder in reversed(missing):
                folder.mkdir()
                created.append(folder)
            if resolved.exists():
                os.close(os.open(resolved, os.O_WRONLY | os.O_APPEND))
            else:
                os.close(os.open(resolved, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
                created.append(resolved)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise _config_error(f"--{fmt} {target}: cannot be written ({reason})", "choose a writable file path") from None
        finally:
            for made in reversed(created):
                try:
                    made.unlink() if made == resolved else made.rmdir()
                except OSError:
                    pass


def _emit(report, outputs: dict, fail_on, all_tables: bool = False) -> int:
    """Write the report in every format asked for; the terminal view unless one goes to stdout."""
    import importlib

    from rich.console import Console

    from .report import terminal

    rendered = {}
    for fmt, target in outputs.items():
        if target:
            module = importlib.import_module(f".report.{fmt}", __package__)
            rendered[fmt] = module.render(report, fail_on=fail_on) if fmt in ("html", "junit") else module.render(report)
    to_stdout = [fmt for fmt, target in outputs.items() if target == "-"]
    if len(to_stdout) > 1:
        raise _config_error(f"only one report can go to stdout, not {' and '.join(to_stdout)}", "give the others a file path")
    if to_stdout:
        sys.stdout.write(rendered[to_stdout[0]])
    else:
        terminal.render(report, Console(highlight=False), fail_on=fail_on, all_tables=all_tables)
    for fmt, target in outputs.items():
        if target and target != "-":
            path = Path(target)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(rendered[fmt], encoding="utf-8")
            except OSError as exc:
                raise _config_error(f"--{fmt} {target}: cannot write ({exc.strerror})", "choose a writable path")
    if report.fails(fail_on):
        return EXIT_FINDINGS
    return EXIT_INCOMPLETE if report.incomplete else EXIT_OK


def _config_error(message: str, fix: str):
    from .errors import ConfigError

    return ConfigError(message, fix=fix)


# SIGINT (Ctrl-C), SIGTERM, SIGHUP (the terminal or SSH session went away) and SIGQUIT all unwind
# the same way: every temporary server and folder is removed, then the exit code is 128 + the
# signal's number (130 for SIGINT, 143 SIGTERM, 129 SIGHUP, 131 SIGQUIT).
STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")


def _err(line: str) -> None:
    try:
        typer.echo(line, err=True)
    except (OSError, ValueError):  # after SIGHUP the terminal may be gone: the cleanup counts, not the line
        pass


def _run(fn) -> None:
    """Run ``fn`` and exit with its code; every expected failure is one line on stderr."""
    from .sandbox import Interrupted, interrupt

    received: list[int] = []
    terminals = [fd for fd in (1, 2) if _isatty(fd)]

    def _stop(signum, frame):
        if received:
            return  # already unwinding: a second signal must not cut the cleanup short
        received.append(signum)
        if signum == signal.SIGHUP:
            _detach_from_terminal(terminals)
        interrupt(signum)  # raises Interrupted (a KeyboardInterrupt), or once the step under way is done

    previous = {}
    for name in STOP_SIGNALS:
        signum = getattr(signal, name, None)
        if signum is None:
            continue
        current = signal.getsignal(signum)
        if signum == signal.SIGINT and current is not signal.default_int_handler:
            continue  # started with Ctrl-C ignored (a background job): keep it so
        previous[signum] = current
        signal.signal(signum, _stop)
    try:
        code = fn()
    except TenantAuditError as exc:
        _err(f"tenantaudit: error: {exc.one_line()}")
        code = exc.exit_code
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        _err(f"tenantaudit: interrupted ({signal.Signals(signum).name}) — nothing was changed; "
             "temporary servers were stopped")
        code = 128 + signum
    except Exception as exc:  # a bug, not a user error: still one line, and not exit 1 ("findings")
        _err(f"tenantaudit: internal error: {_internal_error(exc)} — please report it with the command you ran")
        code = EXIT_RUNTIME
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    raise typer.Exit(code)


def _internal_error(exc: BaseException) -> str:
    """A bug's one line: its type and where it was raised, plus the safe form of a server error.
    Never the exception's own text, which can quote a row value or a DSN."""
    import traceback

    import psycopg

    from .db import server_message

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "tenantaudit" in f.filename]
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    text = f": {server_message(exc)}" if isinstance(exc, psycopg.Error) else ""
    return f"{type(exc).__name__}{where}{text}"


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _detach_from_terminal(fds: list[int]) -> None:
    """The terminal hung up: writing to it would fail (EIO) in the middle of the cleanup."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        for fd in fds:
            os.dup2(devnull, fd)
        os.close(devnull)
    except OSError:
        pass


@app.command()
def check(
    dsn: Optional[str] = typer.Argument(None, help="postgresql://user@host/db or 'host=... dbname=...'; omit to use PG* environment variables."),
    tenant_column: Optional[str] = TenantColumn,
    tenant_table: Optional[str] = TenantTable,
    setting: Optional[str] = Setting,
    app_role: Optional[List[str]] = AppRoles,
    context: Optional[str] = ContextModel,
    claim_path: Optional[str] = ClaimPath,
    tenant_key: Optional[str] = TenantKey,
    membership: Optional[str] = Membership,
    user_setting: Optional[str] = UserSetting,
    session_table: Optional[str] = SessionTable,
    role_column: Optional[str] = RoleColumn,
    claim: Optional[List[str]] = Claims,
    schema: Optional[List[str]] = Schemas,
    global_table: Optional[List[str]] = GlobalTables,
    fail_on: Optional[str] = FailOn,
    json_path: Optional[str] = JsonPath,
    html_path: Optional[str] = HtmlPath,
    junit_path: Optional[str] = JunitPath,
    sarif_path: Optional[str] = SarifPath,
    statement_timeout: Optional[str] = StatementTimeout,
    lock_timeout: Optional[str] = LockTimeout,
    checks_dir: Optional[List[str]] = ChecksDir,
    data_checks: Optional[bool] = DataChecks,
    probe: Optional[str] = Probe,
    data_timeout: Optional[str] = DataTimeout,
    probe_triggers: Optional[bool] = ProbeTriggers,
    probe_side_effects: Optional[bool] = ProbeSideEffects,
    all_tables: bool = AllTables,
    config: Optional[Path] = ConfigPath,
) -> None:
    """Audit a live database, table by table. Read-only: one READ ONLY transaction, rolled back.

    Every table that is not the tenants table or declared global must have a NOT NULL tenant
    column with a foreign key and an index, RLS enabled (and forced where the app role owns
    it), and policies that pin rows to the current tenant. Each finding comes with the SQL
    that fixes it.

    What "the current tenant" is (a setting, a mapped key, a user's memberships, the role) is
    inferred from the policies and printed first; --context and its options set it instead.
    """

    def go() -> int:
        from .audit import audit
        from .config import load_config

        cfg = load_config(
            dict(
                tenant_column=tenant_column, tenant_table=tenant_table, setting=setting,
                app_role=app_role[0] if app_role else None, app_roles=list(app_role or []) or None,
                context_model=context, claim_path=claim_path, tenant_key=tenant_key, membership=membership,
                user_setting=user_setting, session_table=session_table, role_column=role_column, claims=claim or None,
                schemas=schema, global_tables=global_table, fail_on=fail_on,
                statement_timeout=statement_timeout, checks_dirs=checks_dir, data_checks=data_checks, probe=probe,
                data_timeout=data_timeout, probe_triggers=probe_triggers, probe_side_effects=probe_side_effects,
                lock_timeout=lock_timeout,
            ),
            config,
        )
        outputs = dict(json=json_path, html=html_path, junit=junit_path, sarif=sarif_path)
        _check_outputs(outputs)
        with progress.on_stderr():
            report = audit(dsn or "", cfg)
        return _emit(report, outputs, cfg.fail_on, all_tables)

    _run(go)


@app.command()
def demo(
    example: Optional[Path] = typer.Argument(None, help="Example folder [default: the bundled examples/voice_agent]."),
    corrected: bool = typer.Option(False, "--corrected", help="Apply the corrected migrations instead of the guide's as written."),
    pg_bin: Optional[Path] = typer.Option(None, "--pg-bin", help="PostgreSQL bin directory for the embedded server."),
    probe: Optional[str] = Probe,
    probe_side_effects: Optional[bool] = ProbeSideEffects,
    fail_on: Optional[str] = FailOn,
    json_path: Optional[str] = JsonPath,
    html_path: Optional[str] = HtmlPath,
    junit_path: Optional[str] = JunitPath,
    sarif_path: Optional[str] = SarifPath,
    all_tables: bool = AllTables,
) -> None:
    """Run `check` on the bundled example in a throwaway embedded PostgreSQL (no Docker, no server).

    Starts a temporary cluster, applies the example's baseline and its migrations (the guide's
    as written, or --corrected), creates an application role `app_user` that does not own the
    tables, audits as that role (catalogue, data checks and write probes on synthetic rows),
    and removes the cluster again.
    """

    def go() -> int:
        from .config import AuditConfig, set_option
        from .example import run_demo

        # A throwaway database: write probes are safe, and they prove behaviour on every table.
        cfg = AuditConfig(probe="write")
        if fail_on:
            set_option(cfg, "fail_on", fail_on, origin="--fail-on")
        if probe:
            set_option(cfg, "probe", probe, origin="--probe")
        if probe_side_effects is not None:
            set_option(cfg, "probe_side_effects", probe_side_effects, origin="--probe-side-effects")
        outputs = dict(json=json_path, html=html_path, junit=junit_path, sarif=sarif_path)
        _check_outputs(outputs)
        with progress.on_stderr():
            report = run_demo(example, corrected=corrected, pg_bin=pg_bin, config=cfg)
        return _emit(report, outputs, cfg.fail_on, all_tables)

    _run(go)


@app.command()
def rehearse(
    path: Optional[Path] = typer.Argument(None, metavar="MIGRATIONS", help="Folder of migrations: NNN_x.up.sql/.down.sql, dbmate, Flyway V/U, or NNN_x.sql with --rollback."),
    rollback: Optional[Path] = typer.Option(None, "--rollback", help="One rollback script, run instead of down migrations."),
    baseline: Optional[Path] = typer.Option(None, "--baseline", help="SQL for the schema and data that exist before the migrations."),
    from_dsn: Optional[str] = typer.Option(None, "--from", help="Start from a live database's schema (pg_dump --schema-only; read-only)."),
    seed_tenants: int = typer.Option(0, "--seed-tenants", min=0, help="Synthetic tenants to create in the baseline (needs the tenants table there)."),
    rows_per_table: int = typer.Option(0, "--rows-per-table", min=0, help="Synthetic rows per table (per tenant) in the baseline."),
    sandbox: str = typer.Option("embedded", "--sandbox", help="embedded (default, no Docker), docker, or a postgresql:// DSN of a server to create scratch databases on."),
    pg_version: Optional[int] = typer.Option(None, "--pg-version", help="PostgreSQL major version of the sandbox [default: local binaries, else bundled]."),
    pg_bin: Optional[Path] = typer.Option(None, "--pg-bin", help="PostgreSQL bin directory for the embedded sandbox and pg_dump."),
    keep: bool = typer.Option(False, "--keep", help="Leave the sandbox running and print its DSN."),
    cleanup: bool = typer.Option(
        False, "--cleanup",
        help="Only remove what killed runs left behind, then exit: embedded sandboxes in the temp dir (a server whose "
             "run is gone is stopped), or with --sandbox DSN the scratch databases and roles marked by tenantaudit "
             "whose run is dead (same host, process gone). A run still going is never touched.",
    ),
    tenant_column: Optional[str] = TenantColumn,
    tenant_table: Optional[str] = TenantTable,
    setting: Optional[str] = Setting,
    app_role: Optional[str] = typer.Option(None, "--app-role", help="Role the application connects as [default: a role rehearse creates that owns nothing]."),
    global_table: Optional[List[str]] = GlobalTables,
    fail_on: Optional[str] = FailOn,
    json_path: Optional[str] = JsonPath,
    html_path: Optional[str] = HtmlPath,
    junit_path: Optional[str] = JunitPath,
    sarif_path: Optional[str] = SarifPath,
    all_tables: bool = AllTables,
    config: Optional[Path] = ConfigPath,
) -> None:
    """Rehearse a migration set in a disposable PostgreSQL: backup, upgrade, verify, rollback,
    re-upgrade and restore, each step proven by schema and data fingerprints, with the locks
    every statement takes.

    Interrupted (Ctrl-C, SIGTERM, SIGHUP, SIGQUIT), it removes its sandbox and exits 128 + the
    signal number (130 for Ctrl-C). A run killed outright (SIGKILL) is cleaned up by the next one;
    on an existing server, `--cleanup --sandbox DSN` drops what killed runs left there.

    Example:  tenantaudit rehearse examples/voice_agent/as_written --baseline examples/voice_agent/baseline.sql
    """

    def go() -> int:
        from .config import load_config
        from .rehearsal.run import RehearsalOptions, rehearse as run_rehearsal

        if cleanup:
            from .sandbox import cleanup_leftovers

            lines, ok = cleanup_leftovers(sandbox)
            for line in lines or ["nothing to clean up: no leftovers of dead runs"]:
                typer.echo(line)
            return EXIT_OK if ok else EXIT_RUNTIME
        if path is None:
            raise _config_error("rehearse needs the folder of migrations", "pass it: tenantaudit rehearse MIGRATIONS/")

        cfg = load_config(
            dict(tenant_column=tenant_column, tenant_table=tenant_table, setting=setting, app_role=app_role,
                 global_tables=global_table, fail_on=fail_on),
            config,
        )
        options = RehearsalOptions(
            path=path, rollback=rollback, baseline=baseline, from_dsn=from_dsn, seed_tenants=seed_tenants,
            rows_per_table=rows_per_table, sandbox=sandbox, pg_version=pg_version, pg_bin=pg_bin, keep=keep, config=cfg,
        )
        outputs = dict(json=json_path, html=html_path, junit=junit_path, sarif=sarif_path)
        _check_outputs(outputs)
        with progress.on_stderr():
            report = run_rehearsal(options, progress=_phase_printer())
        return _emit(report, outputs, cfg.fail_on)

    _run(go)


def _phase_printer():
    """Each rehearsal phase as one progress task (shown on a terminal only), marked by its outcome."""
    marks = {"passed": ("✓", "green"), "passed with findings": ("!", "yellow"), "failed": ("✗", "bold red")}
    running = {}

    def show(phase) -> None:
        if phase.status == "running":
            running[phase.name] = progress.current().task(phase.name)
            return
        mark, style = marks.get(phase.status, ("·", "dim"))
        task = running.pop(phase.name, None) or progress.current().task(phase.name)
        task.done("; ".join(phase.details), mark=mark, style=style)

    return show


@app.command("checks")
def list_checks(
    check_id: Optional[str] = typer.Argument(None, help="Show this check's rationale, fix and full SQL."),
    checks_dir: Optional[List[str]] = ChecksDir,
) -> None:
    """List the check catalogue, or show one check: why it matters, the fix, and its SQL.

    The SQL is what `check` runs, shared fragments included; replace the %(name)s parameters to
    run it in psql.
    """

    def go() -> int:
        from rich.console import Console
        from rich.syntax import Syntax
        from rich.table import Table

        from .audit.catalog import load_checks
        from .errors import ConfigError

        checks = load_checks(checks_dir or [])
        console = Console(highlight=False)
        if check_id is None:
            # the id is the category spelled with underscores for built-in checks: show one of them
            table = Table("category", "severity", "title", box=None, header_style="bold")
            for check in checks:
                table.add_row(check.category, check.severity.value, check.title)
            console.print(table)
            return EXIT_OK
        match = [c for c in checks if check_id in (c.id, c.category)]
        if not match:
            raise ConfigError(f"no check {check_id!r}", fix="`tenantaudit checks` lists them")
        check = match[0]
        console.print(f"[bold]{check.id}[/bold] ({check.category}, {check.severity.value}) — {check.title}")
        console.print(f"why: {check.why}")
        console.print(f"fix: {check.fix}")
        console.print(Syntax(check.sql, "sql", word_wrap=True, background_color="default"))
        return EXIT_OK

    _run(go)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
