#!/usr/bin/env python3
"""Benchmark `tenantaudit check` with its default options as a whole process on N generated tables.

    python bench/bench_check.py                        # N = 200, 2000 and 10000
    python bench/bench_check.py --tables 200 2000 --repeat 5 --profile

For each N it builds one database in a throwaway embedded PostgreSQL: a ``tenants`` table and N
tenant tables (uuid id, tenant_id NOT NULL REFERENCES tenants, a few columns, PRIMARY KEY
(tenant_id, id), RLS enabled and forced, a NULLIF-guarded tenant policy, grants to an app role
that owns nothing), each holding ROWS rows of each of two tenants, with defects planted in every
100th table. It then measures, as real child processes, side by side in one run:

* ``tenantaudit check DSN --app-role ROLE --json FILE``: the defaults a user gets (catalogue
  checks, data checks, read probes, the terminal report to a pipe): wall time, peak RSS
  (``os.wait4``'s ``ru_maxrss``), and the SQL statements the process issued, counted in the server
  log in two extra untimed runs (``log_statement = all`` for those only, on the benchmark
  database, lines from ``application_name=tenantaudit``);
* the same with ``--probe none --no-data-checks`` (the catalogue audit alone);
* ``pgrls lint`` (the peer linter) on the same database, and the ratio of the two walls. pgrls is
  looked for on PATH and in /tmp/pgrls-venv; when missing it is installed there (never into this
  project's environment); when it cannot be had the ratio is skipped, saying so;
* ``tenantaudit --help`` and ``tenantaudit check --help`` (startup).

Each figure is the median of ``--repeat`` runs after one untimed warm-up run. It prints the
per-table cost at each N and between sizes (linear growth keeps it flat), where the time goes in
one in-process audit, PASS/FAIL lines against the targets, and whether the findings are the
planted ones. It always exits 0: it is a report, not a gate.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from tenantaudit.config import AuditConfig
from tenantaudit.db import APPLICATION_NAME
from tenantaudit.sandbox import EmbeddedPostgres

# Targets from the acceptance criteria (2-core machine).
TARGETS = {2000: (1.0, None), 10000: (5.0, 250.0)}  # N: (wall s, peak RSS MiB)
TARGET_PGRLS_RATIO = 0.25  # at 2,000 tables
TARGET_HELP_S = 0.5
ROWS = 3  # rows of each of two tenants in every table
PGRLS_VENV = Path("/tmp/pgrls-venv")

APP_ROLE = "bench_app"
TENANT_COLUMN = "tenant_id"
SETTING = "app.tenant_id"
# Everything in the log line before the message, so that lines can be told apart by client.
LOG_LINE_PREFIX = "%m [%p] app=%a db=%d "
STATEMENT_LINE = re.compile(r"app=(?P<app>\S*) db=(?P<db>\S*) LOG:  (?:statement|execute [^:]*): (?P<sql>.*)")

CLI = [sys.executable, "-m", "tenantaudit.cli"]


# -- schema generation -------------------------------------------------------------------------

# Planted defects, by i % 100 (i counts from 1): what each is and which check should see it.
DEFECTS = {
    10: ("tenant column nullable", ("tenant-column-nullable",)),
    20: ("RLS disabled (the read probes see the other tenant's rows)", ("rls-disabled", "probe-read-leak", "probe-unset-leak")),
    30: ("policy casts current_setting() without NULLIF", ("setting-cast-unsafe",)),
    40: ("global UNIQUE on a text column", ("unique-without-tenant",)),
    50: ("tenant column without a foreign key", ("tenant-fk-missing",)),
}


def expected_findings(n: int) -> dict[str, int]:
    counts: dict[str, int] = {"tenants-table-exposed": 1}  # the app role may read the tenants table
    for i in range(1, n + 1):
        defect = DEFECTS.get(i % 100)
        for category in defect[1] if defect else ():
            counts[category] = counts.get(category, 0) + 1
    return dict(sorted(counts.items()))


def table_ddl(i: int) -> str:
    name = f"t{i:05d}"
    q = f"public.{name}"
    kind = i % 100
    nullable = kind == 10
    rls = kind != 20
    guarded = kind != 30
    global_unique = kind == 40
    fk = "" if kind == 50 else " REFERENCES public.tenants (id)"
    fence = (
        f"tenant_id = NULLIF(current_setting('{SETTING}', true), '')::uuid"
        if guarded
        else f"tenant_id = current_setting('{SETTING}', true)::uuid"
    )
    parts = [
        f"CREATE TABLE {q} (\n"
        f"  id uuid NOT NULL DEFAULT gen_random_uuid(),\n"
        f"  tenant_id uuid{'' if nullable else ' NOT NULL'}{fk},\n"
        f"  name text NOT NULL,\n"
        f"  amount numeric(12,2),\n"
        f"  created_at timestamptz NOT NULL DEFAULT now(),\n"
        # a primary key makes its columns NOT NULL: the nullable table is keyed by id alone
        + (f"  PRIMARY KEY (id)" if nullable else f"  PRIMARY KEY (tenant_id, id)")
        + (",\n" if global_unique else "\n")
        + (f"  CONSTRAINT {name}_name_key UNIQUE (name)\n" if global_unique else "")
        + ");",
    ]
    if nullable:
        parts.append(f"CREATE INDEX {name}_tenant_id_idx ON {q} (tenant_id);")
    if rls:
        parts.append(f"ALTER TABLE {q} ENABLE ROW LEVEL SECURITY;")
        parts.append(f"ALTER TABLE {q} FORCE ROW LEVEL SECURITY;")
    parts.append(f"CREATE POLICY tenant_isolation ON {q} USING ({fence}) WITH CHECK ({fence});")
    parts.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {q} TO {APP_ROLE};")
    return "\n".join(parts)


def schema_script(n: int, start: int = 1, stop: int | None = None) -> str:
    stop = n if stop is None else stop
    return "\n".join(table_ddl(i) for i in range(start, stop + 1))


def rows_script(start: int, stop: int, rows: int) -> str:
    """``rows`` rows of each of the first two tenants in tables start..stop (names unique per
    table and tenant: one table carries a global UNIQUE (name))."""
    return "\n".join(
        f"INSERT INTO public.t{i:05d} (tenant_id, name, amount) SELECT t.id, 'row ' || g || ' of ' || t.name, g"
        f" FROM (SELECT id, name FROM public.tenants ORDER BY name LIMIT 2) t, generate_series(1, {rows}) g;"
        for i in range(start, stop + 1)
    )


def build_database(pg: EmbeddedPostgres, n: int, rows: int = ROWS) -> str:
    """Create database bench_<n> with N tenant tables holding rows; return its name."""
    dbname = f"bench_{n}"
    pg.create_database(dbname)
    with psycopg.connect(pg.dsn(dbname), autocommit=True) as conn:
        conn.execute(
            f"""
            CREATE TABLE public.tenants (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL);
            INSERT INTO public.tenants (name) SELECT 'tenant ' || g FROM generate_series(1, 10) g;
            GRANT USAGE ON SCHEMA public TO {APP_ROLE};
            GRANT SELECT ON public.tenants TO {APP_ROLE};
            """
        )
        # One script, sent in chunks: a single transaction creating thousands of tables would
        # exhaust the shared lock table (max_locks_per_transaction) of a default server.
        chunk = 250
        for start in range(1, n + 1, chunk):
            conn.execute(schema_script(n, start, min(n, start + chunk - 1)))
            if rows:
                conn.execute(rows_script(start, min(n, start + chunk - 1), rows))
        conn.execute("ANALYZE")
    return dbname


def statement_logging(pg: EmbeddedPostgres, dbname: str, on: bool) -> None:
    """Log every statement of the sessions that connect to this database from now on (only for
    the runs that count statements: logging costs the server time the timed runs must not pay)."""
    with psycopg.connect(pg.dsn(dbname), autocommit=True) as conn:
        setting = sql.SQL("SET log_statement = 'all'") if on else sql.SQL("RESET log_statement")
        conn.execute(sql.SQL("ALTER DATABASE {} ").format(sql.Identifier(dbname)) + setting)


# -- measuring processes -----------------------------------------------------------------------


@dataclass
class ProcResult:
    wall_s: float
    maxrss_kib: int
    exit_code: int
    stderr: str


def run_measured(argv: list[str], *, stdin=subprocess.DEVNULL, env: dict | None = None) -> ProcResult:
    """Run argv to completion; wall time around spawn..reap, peak RSS from wait4's rusage."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    return ProcResult(wall, usage.ru_maxrss, proc.returncode, stderr)


class ServerLog:
    """Reads what the server logged since the last mark."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size

    def statements_since_mark(self, app: str, db: str) -> list[str]:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            text = f.read().decode(errors="replace")
        found = []
        for line in text.splitlines():
            m = STATEMENT_LINE.search(line)
            if m and m.group("app") == app and m.group("db") == db:
                found.append(m.group("sql"))
        return found


def wait_for_log(log: ServerLog, app: str, db: str, settle_s: float = 0.05) -> list[str]:
    # The server logs a statement before running it and the client waits for the result, so all
    # lines are there when the client has exited; a short settle guards against buffered writes.
    time.sleep(settle_s)
    return log.statements_since_mark(app, db)


# -- pgrls, the peer linter ------------------------------------------------------------------


def find_or_install_pgrls() -> tuple[str | None, str]:
    """The pgrls executable and how it was had; installed into a scratch venv when missing."""
    for candidate in (shutil.which("pgrls"), str(PGRLS_VENV / "bin" / "pgrls")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate, f"pgrls at {candidate}"
    print(f"pgrls not found: installing it into the scratch venv {PGRLS_VENV} (never into this project)…", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(PGRLS_VENV)], check=True, capture_output=True, timeout=300)
        subprocess.run([str(PGRLS_VENV / "bin" / "pip"), "install", "-q", "pgrls"], check=True, capture_output=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"pgrls could not be installed ({exc.__class__.__name__}): the ratio is skipped"
    executable = PGRLS_VENV / "bin" / "pgrls"
    if not os.access(executable, os.X_OK):
        return None, "pgrls could not be installed: the ratio is skipped"
    return str(executable), f"pgrls installed at {executable}"


def pgrls_url(pg: EmbeddedPostgres, dbname: str) -> str:
    return f"postgresql://{pg.superuser}@/{dbname}?host={pg.socket_dir}&port={pg.port}"


# -- where the time goes (diagnosis) -------------------------------------------------------------


def in_process_split(dsn: str, config: AuditConfig) -> dict[str, float]:
    """One audit in this process through tenantaudit's own functions, each phase timed, then the
    terminal (at 80 columns, to a string) and JSON reports rendered."""
    import io

    from rich.console import Console

    from tenantaudit.audit import probes, run
    from tenantaudit.report import json as json_report, terminal

    phases: dict[str, float] = {}
    wrapped = [(run, "resolve_scope", "resolve scope"), (run, "settle_context", "policy analyzer + context"),
               (run, "run_checks", "catalogue checks"), (run, "run_data_checks", "data checks"),
               (probes, "run_read_probes", "read probes")]
    originals = [(module, name, getattr(module, name)) for module, name, _ in wrapped]

    def timed(fn, label):
        def call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                phases[label] = phases.get(label, 0.0) + time.perf_counter() - started
        return call

    for (module, name, label), (_, _, fn) in zip(wrapped, originals):
        setattr(module, name, timed(fn, label))
    try:
        started = time.perf_counter()
        report = run.audit(dsn, config)
        total = time.perf_counter() - started
    finally:
        for module, name, fn in originals:
            setattr(module, name, fn)
    phases["rest of the audit"] = total - sum(phases.values())
    started = time.perf_counter()
    terminal.render(report, Console(file=io.StringIO(), width=80, highlight=False))
    phases["terminal report"] = time.perf_counter() - started
    started = time.perf_counter()
    json_report.render(report)
    phases["JSON report"] = time.perf_counter() - started
    return phases


# -- reporting ---------------------------------------------------------------------------------


@dataclass
class Row:
    n: int
    wall_s: float = 0.0
    rss_mib: float = 0.0
    statements: int = 0
    statement_counts: list[int] = field(default_factory=list)
    catalogue_s: float = 0.0
    catalogue_statements: int = 0
    pgrls_s: float | None = None
    exit_codes: set = field(default_factory=set)
    findings: dict[str, int] = field(default_factory=dict)
    walls: list[float] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    statement_kinds: list[str] = field(default_factory=list)


def profile_cli(cli: list[str], out: Path, top: int = 25) -> str:
    """cProfile one `tenantaudit check` run; the most expensive calls (cumulative), as text."""
    import io
    import pstats

    argv = [sys.executable, "-m", "cProfile", "-o", str(out), *cli[1:]]
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    text = io.StringIO()
    pstats.Stats(str(out), stream=text).strip_dirs().sort_stats("cumulative").print_stats(top)
    return f"cProfile of one `tenantaudit check` run (top {top} by cumulative time; profiling inflates times):\n" + text.getvalue()


def first_words(stmt: str, n: int = 6) -> str:
    if not stmt.strip():
        return "(multi-line statement; the log shows its first line only, which is blank)"
    words = stmt.split()
    return " ".join(words[:n]) + (" …" if len(words) > n else "")


def measure(argv: list[str], repeat: int) -> list[ProcResult]:
    """One warm-up run (page cache, bytecode), then ``repeat`` timed runs."""
    run_measured(argv)
    return [run_measured(argv) for _ in range(repeat)]


def count_statements(pg: EmbeddedPostgres, log: ServerLog, dbname: str, argv: list[str], runs: int = 2) -> tuple[list[int], list[str]]:
    """The statements ``argv`` issues, counted in the server log over ``runs`` untimed runs."""
    statement_logging(pg, dbname, True)
    counts, statements = [], []
    try:
        for _ in range(runs):
            log.mark()
            run_measured(argv)
            statements = wait_for_log(log, APPLICATION_NAME, dbname)
            counts.append(len(statements))
    finally:
        statement_logging(pg, dbname, False)
    return counts, statements


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=int, nargs="+", default=[200, 2000, 10000], help="values of N [200 2000 10000]")
    parser.add_argument("--rows", type=int, default=ROWS, help=f"rows of each of two tenants per table [{ROWS}]")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per figure; the median is shown [3]")
    parser.add_argument("--help-repeat", type=int, default=5, help="timed runs of `tenantaudit --help` [5]")
    parser.add_argument("--pg-bin", default=None, help="PostgreSQL bin directory for the embedded server")
    parser.add_argument("--no-pgrls", action="store_true", help="do not run (or install) pgrls")
    parser.add_argument("--show-statements", action="store_true", help="list the statements the CLI issued at the largest N")
    parser.add_argument("--profile", action="store_true", help="cProfile one CLI run at the largest N")
    args = parser.parse_args(argv)

    pgrls, pgrls_note = (None, "pgrls not run (--no-pgrls): the ratio is skipped") if args.no_pgrls else find_or_install_pgrls()
    rows: list[Row] = []
    profile_text = ""
    workdir = Path(tempfile.mkdtemp(prefix="tenantaudit-bench-"))
    try:
        settings = {"log_line_prefix": LOG_LINE_PREFIX, "log_min_duration_statement": "-1"}
        with EmbeddedPostgres(pg_bin=args.pg_bin, settings=settings) as pg:
            print(
                f"PostgreSQL {pg.binaries.major} from {pg.binaries.source}; python {sys.version.split()[0]}; "
                f"{os.cpu_count()} CPUs; {pgrls_note}",
                flush=True,
            )
            with pg.connect() as conn:
                conn.execute(f"CREATE ROLE {APP_ROLE} NOLOGIN")
            log = ServerLog(pg.logfile)
            for n in sorted(set(args.tables)):
                row = Row(n)
                t0 = time.perf_counter()
                dbname = build_database(pg, n, args.rows)
                print(f"built {dbname}: {n} tenant tables, {args.rows} rows of each of 2 tenants in each, "
                      f"in {time.perf_counter() - t0:.1f}s", flush=True)
                dsn = pg.dsn(dbname)
                json_out = workdir / f"check_{n}.json"
                cli = [*CLI, "check", dsn, "--app-role", APP_ROLE, "--json", str(json_out)]
                results = measure(cli, args.repeat)
                row.walls = [r.wall_s for r in results]
                row.wall_s = statistics.median(row.walls)
                row.rss_mib = statistics.median(r.maxrss_kib for r in results) / 1024
                row.exit_codes = {r.exit_code for r in results}
                for r in results:
                    if r.exit_code not in (0, 1):
                        print(f"  tenantaudit check exited {r.exit_code}: {r.stderr.strip()}", flush=True)
                if json_out.exists():
                    for f in json.loads(json_out.read_text())["findings"]:
                        row.findings[f["category"]] = row.findings.get(f["category"], 0) + 1
                row.statement_counts, row.statement_kinds = count_statements(pg, log, dbname, cli)
                row.statements = int(statistics.median(row.statement_counts))

                catalogue = [*CLI, "check", dsn, "--app-role", APP_ROLE, "--probe", "none", "--no-data-checks", "--json", "-"]
                row.catalogue_s = statistics.median(r.wall_s for r in measure(catalogue, args.repeat))
                counts, _ = count_statements(pg, log, dbname, catalogue, runs=1)
                row.catalogue_statements = counts[0]

                if pgrls:
                    lint = [pgrls, "lint", "--database-url", pgrls_url(pg, dbname), "--format", "json"]
                    results = measure(lint, args.repeat)
                    if all(r.exit_code in (0, 1) for r in results):
                        row.pgrls_s = statistics.median(r.wall_s for r in results)
                    else:
                        print(f"  pgrls lint exited {results[0].exit_code}: {results[0].stderr.strip()[:300]}", flush=True)

                row.phases = in_process_split(dsn, AuditConfig(app_role=APP_ROLE))
                if args.profile and n == max(args.tables):
                    profile_text = profile_cli(cli, workdir / "check.prof")
                rows.append(row)
                print(
                    f"  N={n}: wall {row.wall_s:.3f}s (runs: {', '.join(f'{w:.3f}' for w in row.walls)}), "
                    f"rss {row.rss_mib:.1f} MiB, {row.statements} statements; catalogue only {row.catalogue_s:.3f}s; "
                    + (f"pgrls lint {row.pgrls_s:.3f}s" if row.pgrls_s is not None else "pgrls lint not measured"),
                    flush=True,
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    help_s = statistics.median(r.wall_s for r in measure([*CLI, "--help"], args.help_repeat))
    check_help_s = statistics.median(r.wall_s for r in measure([*CLI, "check", "--help"], args.help_repeat))

    # -- the report ------------------------------------------------------------------------
    print()
    print(f"tenantaudit check with the default options (read probes, data checks; median of {args.repeat} runs, whole process)")
    header = (f"{'N tables':>8}  {'wall s':>7}  {'ms/table':>8}  {'peak RSS MiB':>12}  {'statements':>10}  "
              f"{'catalogue s':>11}  {'cat. stmts':>10}  {'pgrls lint s':>12}  {'ratio':>6}")
    print(header)
    print("-" * len(header))
    for r in rows:
        ratio = f"{r.wall_s / r.pgrls_s:>5.2f}x" if r.pgrls_s else f"{'–':>6}"
        pgrls_s = f"{r.pgrls_s:>12.3f}" if r.pgrls_s is not None else f"{'–':>12}"
        print(
            f"{r.n:>8}  {r.wall_s:>7.3f}  {r.wall_s / r.n * 1000:>8.3f}  {r.rss_mib:>12.1f}  {r.statements:>10}  "
            f"{r.catalogue_s:>11.3f}  {r.catalogue_statements:>10}  {pgrls_s}  {ratio}"
            + ("" if len(set(r.statement_counts)) == 1 else f"   (statements per run: {r.statement_counts})")
        )
    print("ratio = tenantaudit check wall / pgrls lint wall on the same database; catalogue = --probe none --no-data-checks")
    if not pgrls:
        print(f"note: {pgrls_note}")
    for a, b in zip(rows, rows[1:]):
        print(f"cost per added table from {a.n} to {b.n}: {(b.wall_s - a.wall_s) / (b.n - a.n) * 1000:.3f} ms "
              f"(wall), {(b.statements - a.statements) / (b.n - a.n):.3f} statements")
    print()
    print(f"tenantaudit --help: {help_s:.3f}s; tenantaudit check --help: {check_help_s:.3f}s (median of {args.help_repeat})")

    print()
    print("planted defects: " + "; ".join(f"every i%100=={k}: {d}" for k, (d, _) in DEFECTS.items()))
    for r in rows:
        want = expected_findings(r.n)
        got = dict(sorted(r.findings.items()))
        status = "as planted" if got == want else f"EXPECTED {want}"
        print(f"  N={r.n}: findings {got} ({status}); exit codes {sorted(r.exit_codes)}")

    for r in rows:
        print()
        print(f"where the time goes at N={r.n} (one in-process audit, seconds):")
        for phase, secs in r.phases.items():
            print(f"  {phase:<28} {secs:8.4f}")
        rest = r.wall_s - sum(r.phases.values())
        if rest >= 0:
            print(f"  {'process start, imports, exit':<28} {rest:8.4f}  (the whole-process wall minus the above)")
        else:
            print(f"  {'process start, imports, exit':<28}      n/a  (this in-process run took {-rest:.1f}s longer than the median "
                  "whole-process run: the phases above are inflated, read them as shares, not times)")

    if profile_text:
        print()
        print(profile_text.rstrip())
    if args.show_statements and rows:
        print()
        print(f"statements issued at N={rows[-1].n}:")
        for s in rows[-1].statement_kinds:
            print("  " + first_words(s, 10))

    # -- verdicts --------------------------------------------------------------------------
    print()
    by_n = {r.n: r for r in rows}
    for n, (wall_target, rss_target) in TARGETS.items():
        r = by_n.get(n)
        if r is None:
            print(f"SKIP  {n} tables not measured (--tables)")
            continue
        verdict(r.wall_s <= wall_target, f"wall at {n} tables {r.wall_s:.3f}s <= {wall_target}s")
        if rss_target:
            verdict(r.rss_mib <= rss_target, f"peak RSS at {n} tables {r.rss_mib:.1f} MiB <= {rss_target:.0f} MiB")
    r = by_n.get(2000)
    if r and r.pgrls_s:
        verdict(r.wall_s / r.pgrls_s <= TARGET_PGRLS_RATIO,
                f"at 2000 tables tenantaudit / pgrls lint = {r.wall_s / r.pgrls_s:.2f} <= {TARGET_PGRLS_RATIO}")
    elif r:
        print(f"SKIP  ratio to pgrls at 2000 tables: {pgrls_note}")
    if len(rows) >= 2:
        first, last = rows[-2], rows[-1]
        per_small, per_large = first.wall_s / first.n, last.wall_s / last.n
        verdict(per_large <= per_small * 1.5,
                f"linear: per-table cost at {last.n} ({per_large * 1000:.3f} ms) <= 1.5 x at {first.n} ({per_small * 1000:.3f} ms)")
    counts = {r.n: r.catalogue_statements for r in rows}
    verdict(len(set(counts.values())) == 1,
            "catalogue audit issues the same statement count at every N: " + ", ".join(f"{n}: {c}" for n, c in counts.items()))
    verdict(help_s <= TARGET_HELP_S, f"tenantaudit --help {help_s:.3f}s <= {TARGET_HELP_S}s")
    return 0


def verdict(ok: bool, text: str) -> None:
    print(f"{'PASS' if ok else 'FAIL'}  {text}")


if __name__ == "__main__":
    sys.exit(main())
