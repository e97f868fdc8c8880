#!/usr/bin/env python3
"""Benchmark `tenantaudit check` as a whole process on generated schemas of N tenant tables.

    python bench/bench_check.py                      # N = 200 and 2000
    python bench/bench_check.py --tables 200 2000 5000 --repeat 5

For each N it builds one database in a throwaway embedded PostgreSQL: a ``tenants`` table and N
tenant tables (uuid id, tenant_id NOT NULL REFERENCES tenants, a few columns, PRIMARY KEY
(tenant_id, id), RLS enabled and forced, a NULLIF-guarded tenant policy, grants to an app role
that owns nothing), with defects planted in every 100th table. It then measures, as real child
processes:

* ``tenantaudit check DSN --app-role ROLE --probe none --no-data-checks --json FILE`` (the catalogue audit; per-table data checks and probes are benchmarked apart): wall time, peak RSS (``os.wait4``'s
  ``ru_maxrss``), and the SQL statements the process issued, counted in the server log
  (``log_statement = all`` on the benchmark databases, lines from ``application_name=tenantaudit``);
* ``psql`` running the same catalogue queries alone (the scope query, ``audited_tables.sql`` and
  every ``checks/*.sql``, parameters filled in as literals, in one READ ONLY transaction);
* ``tenantaudit --help``.

Each figure is the median of ``--repeat`` runs after one untimed warm-up run. It prints a
table, the per-check query times seen from one in-process audit, and PASS/FAIL lines against the
targets. It always exits 0: it is a report, not a gate.
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

from tenantaudit.audit import catalog
from tenantaudit.audit.catalog import audited_tables, load_checks, resolve_scope, run_checks
from tenantaudit.audit.policy import settle_context
from tenantaudit.config import AuditConfig
from tenantaudit.db import APPLICATION_NAME, connect_readonly
from tenantaudit.sandbox import EmbeddedPostgres

# Targets from the acceptance criteria (2-core machine).
TARGET_WALL_S = 1.5  # at the largest N (2,000 tables)
TARGET_RSS_MIB = 250.0
TARGET_HELP_S = 0.5
TARGET_N = 2000

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
    10: ("tenant column nullable", "tenant-column-nullable"),
    20: ("RLS disabled", "rls-disabled"),
    30: ("policy casts current_setting() without NULLIF", None),  # no check in the catalogue yet
    40: ("global UNIQUE on a text column", "unique-without-tenant"),
    50: ("tenant column without a foreign key", "tenant-fk-missing"),
}


def expected_findings(n: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for i in range(1, n + 1):
        defect = DEFECTS.get(i % 100)
        if defect and defect[1]:
            counts[defect[1]] = counts.get(defect[1], 0) + 1
    return counts


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


def build_database(pg: EmbeddedPostgres, n: int) -> str:
    """Create database bench_<n> with N tenant tables; return its name."""
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
        conn.execute("ANALYZE")
        # Log every statement of every session on this database only (not the DDL above).
        conn.execute(sql.SQL("ALTER DATABASE {} SET log_statement = 'all'").format(sql.Identifier(dbname)))
    return dbname


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


# -- the psql baseline -------------------------------------------------------------------------


def sql_literal(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no literal for {value!r}")


def array_literal(values: list, elem_type: str) -> str:
    return f"ARRAY[{', '.join(sql_literal(v) for v in values)}]::{elem_type}[]"


def substitute(text: str, literals: dict[str, str]) -> str:
    def repl(m: re.Match) -> str:
        return literals[m.group(1)]

    return re.sub(r"%\((\w+)\)s", repl, text)


def baseline_script(dsn: str, config: AuditConfig) -> str:
    """Every catalogue query tenantaudit runs, as one psql script with literal parameters."""
    from tenantaudit.config import split_qualified_name

    with connect_readonly(dsn) as conn:
        scope = resolve_scope(conn, config)
        settle_context(conn, scope, config)
        conn.rollback()
    p = scope.params
    check_literals = {
        "tenant_column": sql_literal(p["tenant_column"]),
        "tenant_table": sql_literal(p["tenant_table"]),
        "setting": sql_literal(p["setting"]),
        "app_role": sql_literal(p["app_role"]),
        "schemas": array_literal(p["schemas"], "text"),
        "global_tables": array_literal(p["global_tables"], "oid"),
        "app_roles": array_literal(p["app_roles"], "text"),
        "unaudited": array_literal([], "oid"),
        # the policy analyzer's output, computed in Python before the checks run
        "policy_verdicts": sql_literal(json.dumps(p["policy_verdicts"].obj)),
        "object_verdicts": sql_literal(json.dumps(p["object_verdicts"].obj)),
        "fence_sql": sql_literal(p["fence_sql"]),
        "fence_label": sql_literal(p["fence_label"]),
        "membership_table": sql_literal(p["membership_table"]),
        "user_scoped_tables": array_literal(p["user_scoped_tables"], "oid"),
        "tenant_roles": array_literal(p["tenant_roles"], "text"),
    }
    schema, table = split_qualified_name(config.tenant_table)
    resolve_literals = {
        "tenant_table": sql_literal(catalog.quote_qualified(schema, table)),
        "global_tables": array_literal(
            [catalog.quote_qualified(*split_qualified_name(g)) for g in config.global_tables], "text"
        ),
        "app_role": sql_literal(config.app_role),
        "schemas": array_literal(list(config.schemas), "text"),
    }
    parts = [
        "\\set ON_ERROR_STOP on",
        "SET search_path = pg_catalog;",
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;",
        substitute(catalog._RESOLVE_SQL, resolve_literals).strip() + ";",
        substitute(catalog._audited_tables_sql(), check_literals).strip(),
    ]
    for check in load_checks():
        parts.append(substitute(check.sql, check_literals).strip())
    parts.append("ROLLBACK;")
    return "\n\n".join(parts) + "\n"


def run_psql(psql: str, dsn: str, script_path: Path) -> ProcResult:
    return run_measured([psql, "-X", "-q", "-d", dsn, "-f", str(script_path)])


def run_psycopg_baseline(dsn: str, script: str) -> float:
    """Fallback without psql: the same script's statements over one psycopg connection."""
    script = "\n".join(line for line in script.splitlines() if not line.startswith("\\"))
    statements = [s for s in re.split(r";\s*\n", script) if s.strip()]
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        for stmt in statements:
            cur = conn.execute(stmt)
            if cur.description:
                cur.fetchall()
    return time.perf_counter() - started


# -- per-check timing (diagnosis) --------------------------------------------------------------


def per_check_timings(dsn: str, config: AuditConfig) -> tuple[list[tuple[str, float, int]], dict[str, float]]:
    """One in-process audit, phase by phase, through tenantaudit's own functions."""
    phases: dict[str, float] = {}
    t0 = time.perf_counter()
    conn = connect_readonly(dsn)
    phases["connect + session settings"] = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        scope = resolve_scope(conn, config)
        phases["resolve scope"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        settle_context(conn, scope, config)
        phases["policy analyzer + context"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        audited_tables(conn, scope)
        phases["audited_tables.sql"] = time.perf_counter() - t0
        checks = load_checks()
        _, timings, _ = run_checks(conn, checks, scope)
    finally:
        conn.rollback()
        conn.close()
    return [(t.check, t.seconds, t.rows) for t in timings], phases


# -- reporting ---------------------------------------------------------------------------------


@dataclass
class Row:
    n: int
    wall_s: float = 0.0
    rss_mib: float = 0.0
    statements: int = 0
    statement_counts: list[int] = field(default_factory=list)
    psql_s: float = 0.0
    psql_tool: str = "psql"
    exit_codes: set = field(default_factory=set)
    findings: dict[str, int] = field(default_factory=dict)
    walls: list[float] = field(default_factory=list)
    check_times: list[tuple[str, float, int]] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    statement_kinds: list[str] = field(default_factory=list)
    json_only_s: float = 0.0


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=int, nargs="+", default=[200, 2000], help="values of N [200 2000]")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per figure; the median is shown [3]")
    parser.add_argument("--help-repeat", type=int, default=5, help="timed runs of `tenantaudit --help` [5]")
    parser.add_argument("--pg-bin", default=None, help="PostgreSQL bin directory for the embedded server")
    parser.add_argument("--show-statements", action="store_true", help="list the statements the CLI issued")
    parser.add_argument("--profile", action="store_true", help="cProfile one CLI run at the largest N")
    args = parser.parse_args(argv)

    psql = shutil.which("psql") or ("/usr/bin/psql" if os.path.exists("/usr/bin/psql") else None)
    rows: list[Row] = []
    profile_text = ""
    workdir = Path(tempfile.mkdtemp(prefix="tenantaudit-bench-"))
    try:
        settings = {"log_line_prefix": LOG_LINE_PREFIX, "log_min_duration_statement": "-1"}
        with EmbeddedPostgres(pg_bin=args.pg_bin, settings=settings) as pg:
            print(
                f"PostgreSQL {pg.binaries.major} from {pg.binaries.source}; "
                f"python {sys.version.split()[0]}; {os.cpu_count()} CPUs",
                flush=True,
            )
            with pg.connect() as conn:
                conn.execute(f"CREATE ROLE {APP_ROLE} NOLOGIN")
            log = ServerLog(pg.logfile)
            for n in sorted(set(args.tables)):
                row = Row(n)
                t0 = time.perf_counter()
                dbname = build_database(pg, n)
                print(f"built {dbname}: {n} tenant tables in {time.perf_counter() - t0:.1f}s", flush=True)
                dsn = pg.dsn(dbname)
                config = AuditConfig(app_role=APP_ROLE)
                json_out = workdir / f"check_{n}.json"
                cli = [*CLI, "check", dsn, "--app-role", APP_ROLE, "--probe", "none", "--no-data-checks", "--json", str(json_out)]

                # tenantaudit check, whole process
                run_measured(cli)  # warm-up: OS page cache, bytecode
                rss = []
                for _ in range(args.repeat):
                    log.mark()
                    res = run_measured(cli)
                    stmts = wait_for_log(log, APPLICATION_NAME, dbname)
                    row.walls.append(res.wall_s)
                    rss.append(res.maxrss_kib)
                    row.statement_counts.append(len(stmts))
                    row.statement_kinds = stmts
                    row.exit_codes.add(res.exit_code)
                    if res.exit_code not in (0, 1):
                        print(f"  tenantaudit check exited {res.exit_code}: {res.stderr.strip()}", flush=True)
                row.wall_s = statistics.median(row.walls)
                row.rss_mib = statistics.median(rss) / 1024
                row.statements = int(statistics.median(row.statement_counts))
                if json_out.exists():
                    report = json.loads(json_out.read_text())
                    for f in report["findings"]:
                        row.findings[f["category"]] = row.findings.get(f["category"], 0) + 1

                # the same catalogue queries through psql alone
                script = baseline_script(dsn, config)
                script_path = workdir / f"catalogue_{n}.sql"
                script_path.write_text(script)
                if psql:
                    warm = run_psql(psql, dsn, script_path)
                    if warm.exit_code != 0:
                        print(f"  psql failed ({warm.exit_code}): {warm.stderr.strip()}", flush=True)
                    row.psql_s = statistics.median(run_psql(psql, dsn, script_path).wall_s for _ in range(args.repeat))
                else:
                    row.psql_tool = "psycopg"
                    run_psycopg_baseline(dsn, script)
                    row.psql_s = statistics.median(run_psycopg_baseline(dsn, script) for _ in range(args.repeat))

                row.check_times, row.phases = per_check_timings(dsn, config)
                # the same process without terminal rendering (JSON to stdout only)
                json_only = [*CLI, "check", dsn, "--app-role", APP_ROLE, "--probe", "none", "--no-data-checks", "--json", "-"]
                run_measured(json_only)
                row.json_only_s = statistics.median(run_measured(json_only).wall_s for _ in range(args.repeat))
                if args.profile and n == max(args.tables):
                    profile_text = profile_cli(cli, workdir / "check.prof")
                rows.append(row)
                print(
                    f"  N={n}: wall {row.wall_s:.3f}s (runs: {', '.join(f'{w:.3f}' for w in row.walls)}), "
                    f"rss {row.rss_mib:.1f} MiB, {row.statements} statements, "
                    f"{row.psql_tool} {row.psql_s:.3f}s",
                    flush=True,
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    run_measured([*CLI, "--help"])  # warm-up
    help_times = [run_measured([*CLI, "--help"]).wall_s for _ in range(args.help_repeat)]
    help_s = statistics.median(help_times)

    # -- the report ------------------------------------------------------------------------
    print()
    baseline_name = rows[0].psql_tool if rows else "psql"
    header = f"{'N tables':>8}  {'wall s':>7}  {'peak RSS MiB':>12}  {'statements':>10}  {baseline_name + '-alone s':>14}  {'ratio':>6}"
    print(f"tenantaudit check (median of {args.repeat} runs, whole process)")
    print(header)
    print("-" * len(header))
    for r in rows:
        ratio = r.wall_s / r.psql_s if r.psql_s else float("nan")
        print(
            f"{r.n:>8}  {r.wall_s:>7.3f}  {r.rss_mib:>12.1f}  {r.statements:>10}  {r.psql_s:>14.3f}  {ratio:>5.1f}x"
            + ("" if len(set(r.statement_counts)) == 1 else f"   (statements per run: {r.statement_counts})")
        )
    print(f"ratio = tenantaudit wall / {baseline_name} running the same catalogue queries alone")
    if baseline_name != "psql":
        print("note: psql was not found; the baseline ran the queries over one psycopg connection in-process")
    print()
    print(f"tenantaudit --help: {help_s:.3f}s (median of {args.help_repeat}: {', '.join(f'{t:.3f}' for t in help_times)})")

    print()
    print("planted defects: " + "; ".join(f"every i%100=={k}: {d}" for k, (d, _) in DEFECTS.items()))
    for r in rows:
        want = expected_findings(r.n)
        got = {k: v for k, v in sorted(r.findings.items())}
        status = "as expected" if got == want else f"EXPECTED {want}"
        print(f"  N={r.n}: findings {got} ({status}); exit codes {sorted(r.exit_codes)}")

    for r in rows:
        print()
        print(f"where the time goes at N={r.n} (one in-process audit, seconds):")
        for phase, secs in r.phases.items():
            print(f"  {phase:<36} {secs:8.4f}")
        for check, secs, nrows in sorted(r.check_times, key=lambda t: -t[1]):
            print(f"  {'check ' + check:<36} {secs:8.4f}  ({nrows} rows)")
        total = sum(r.phases.values()) + sum(t[1] for t in r.check_times)
        print(f"  {'total (SQL, in-process)':<36} {total:8.4f}")
        print(f"  {'rest of the process':<36} {r.wall_s - total:8.4f}  (interpreter start, imports, rendering)")
        print(
            f"  whole process without terminal rendering (--json -): {r.json_only_s:.3f}s, "
            f"so the terminal report costs about {r.wall_s - r.json_only_s:.3f}s"
        )

    if profile_text:
        print()
        print(profile_text.rstrip())

    if rows:
        print()
        print(
            "statements = session settings + BEGIN + scope query + audited_tables + one per check + ROLLBACK; checks run: "
            + ", ".join(f"N={r.n}: {len(r.check_times)}" for r in rows)
        )
    if args.show_statements and rows:
        print()
        print(f"statements issued at N={rows[-1].n}:")
        for s in rows[-1].statement_kinds:
            print("  " + first_words(s, 10))

    # -- verdicts --------------------------------------------------------------------------
    print()
    big = [r for r in rows if r.n == TARGET_N] or ([max(rows, key=lambda r: r.n)] if rows else [])
    for r in big:
        note = "" if r.n == TARGET_N else f" (measured at N={r.n}, not {TARGET_N})"
        verdict(r.wall_s <= TARGET_WALL_S, f"wall at {r.n} tables {r.wall_s:.3f}s <= {TARGET_WALL_S}s{note}")
        verdict(r.rss_mib <= TARGET_RSS_MIB, f"peak RSS at {r.n} tables {r.rss_mib:.1f} MiB <= {TARGET_RSS_MIB:.0f} MiB{note}")
    counts = {r.n: r.statements for r in rows}
    steady = all(len(set(r.statement_counts)) == 1 for r in rows)
    verdict(
        len(set(counts.values())) == 1 and steady,
        "same statement count at every N: "
        + ", ".join(f"{n}: {c}" for n, c in counts.items())
        + ("" if steady else " (varied between runs)"),
    )
    verdict(help_s <= TARGET_HELP_S, f"tenantaudit --help {help_s:.3f}s <= {TARGET_HELP_S}s")
    return 0


def verdict(ok: bool, text: str) -> None:
    print(f"{'PASS' if ok else 'FAIL'}  {text}")


if __name__ == "__main__":
    sys.exit(main())
