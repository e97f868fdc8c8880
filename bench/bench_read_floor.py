#!/usr/bin/env python3
"""The server-side floor under the default `check`'s read probes: what opening every tenant table
as the app role costs the server, before tenantaudit does any work of its own.

    python bench/bench_read_floor.py                  # N = 2000, about 1 minute
    python bench/bench_read_floor.py --tables 10000 --batches 10 25

It builds bench_check.py's schema (tables holding rows of two tenants, RLS with a tenant policy)
and, in one READ ONLY transaction per figure, runs the cheapest read a probe can make,
``SELECT (EXISTS (SELECT FROM t1)), (EXISTS (SELECT FROM t2)), ...`` over batches of tables, as the
app role with a tenant in context, each batch inside a savepoint rolled back (which releases its
locks, as the probes do). Side by side:

* ``plain``: three round trips per batch (settings, the read, ROLLBACK TO), as the probes do now;
* ``pipelined``: the same statements sent in psycopg's pipeline mode, results read at the end;
* ``cold``: the first pass in a new session (the server loads each table's definition and
  policies into its caches), ``warm``: a second pass in the same session.

It also times the interpreter importing what `check` imports. The sum of these floors is what any
implementation of the default options pays at that N on this machine. It always exits 0.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_check import APP_ROLE, SETTING, build_database  # noqa: E402

from tenantaudit.sandbox import EmbeddedPostgres  # noqa: E402

TARGET_WALL_S = {2000: 1.0, 10000: 5.0}


def one_pass(conn: psycopg.Connection, names: list[str], batch: int, tenant: str, pipelined: bool) -> float:
    settings = ("SELECT pg_catalog.set_config('statement_timeout', '5000', true), pg_catalog.set_config(%s, %s, true), "
                "pg_catalog.set_config('role', %s, true)")
    reads = ["SELECT " + ", ".join(f"(EXISTS (SELECT FROM {n}))" for n in names[i:i + batch])
             for i in range(0, len(names), batch)]
    start = time.perf_counter()
    if pipelined:
        cursors = []
        with conn.pipeline():
            for read in reads:
                conn.execute(settings, (SETTING, tenant, APP_ROLE))
                cursors.append(conn.execute(read))
                conn.execute("ROLLBACK TO SAVEPOINT floor")
        for cursor in cursors:
            cursor.fetchone()
    else:
        for read in reads:
            conn.execute(settings, (SETTING, tenant, APP_ROLE))
            conn.execute(read).fetchone()
            conn.execute("ROLLBACK TO SAVEPOINT floor")
    return time.perf_counter() - start


def passes(dsn: str, batch: int, pipelined: bool) -> tuple[float, float]:
    """(cold, warm) seconds of one pass each, in a new session."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT pg_catalog.format('%I.%I', schemaname, tablename) FROM pg_catalog.pg_tables "
            "WHERE schemaname = 'public' AND tablename ~ '^t[0-9]+$' ORDER BY 1")]
        tenant = conn.execute("SELECT id::text FROM public.tenants ORDER BY 1 LIMIT 1").fetchone()[0]
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        conn.execute("SAVEPOINT floor")
        cold = one_pass(conn, names, batch, tenant, pipelined)
        warm = one_pass(conn, names, batch, tenant, pipelined)
        conn.execute("ROLLBACK")
    return cold, warm


def import_time(repeat: int = 5) -> float:
    code = "import psycopg, pglast, rich, typer, jinja2; import tenantaudit.cli, tenantaudit.audit.run"
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=int, nargs="+", default=[2000], help="schema sizes (default 2000)")
    parser.add_argument("--batches", type=int, nargs="+", default=[10, 25, 100],
                        help="tables per statement (default 10 25 100; the probes' lock budget allows about 10 "
                             "at the default max_locks_per_transaction)")
    parser.add_argument("--pg-bin", help="PostgreSQL server binaries")
    args = parser.parse_args(argv)
    startup = import_time()
    print(f"python start + the imports of `check`: {startup:.3f}s (median of 5)")
    with EmbeddedPostgres(pg_bin=args.pg_bin) as pg:
        with pg.connect() as conn:
            conn.execute(f"CREATE ROLE {APP_ROLE} NOLOGIN")
        for n in sorted(set(args.tables)):
            dsn = pg.dsn(build_database(pg, n))
            print(f"\nN={n}: one pass of the cheapest read probe, as {APP_ROLE} with a tenant in context (seconds)")
            print(f"{'tables/stmt':>11}  {'plain cold':>10}  {'plain warm':>10}  {'piped cold':>10}  {'piped warm':>10}  piped/plain cold")
            cold_floor = None
            for batch in args.batches:
                plain_cold, plain_warm = passes(dsn, batch, pipelined=False)
                piped_cold, piped_warm = passes(dsn, batch, pipelined=True)
                cold_floor = piped_cold if cold_floor is None else min(cold_floor, piped_cold)
                print(f"{batch:>11}  {plain_cold:>10.3f}  {plain_warm:>10.3f}  {piped_cold:>10.3f}  {piped_warm:>10.3f}  "
                      f"{piped_cold / plain_cold:.2f}x")
            target = TARGET_WALL_S.get(n)
            if target is not None:
                print(f"floor at N={n}: start {startup:.3f}s + one cold pass {cold_floor:.3f}s = {startup + cold_floor:.3f}s "
                      f"of the {target:.1f}s target, before the catalogue audit, the data checks, the other probe "
                      "passes (own rows, other tenants, reset context) and the report")
    return 0


if __name__ == "__main__":
    sys.exit(main())
