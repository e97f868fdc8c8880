#!/usr/bin/env python3
"""Benchmark `tenantaudit rehearse`: the example end to end, and fingerprinting vs backup + restore.

    python bench/bench_rehearse.py                    # the example, then 1,000,000 rows
    python bench/bench_rehearse.py --rows 200000 --repeat 5 --profile

Two measurements:

* The example's full rehearsal as a whole process, once per migration set
  (``examples/voice_agent/as_written`` and ``corrected``, both with ``--baseline
  examples/voice_agent/baseline.sql``): wall time, peak RSS (``os.wait4``'s ``ru_maxrss``) and the
  seconds of every phase, read from the JSON report's ``phases``.
* On one embedded PostgreSQL, started with the sandbox's settings, a baseline database of a few
  realistic tables (``tenants`` plus three tenant tables: uuid, text, numeric, timestamptz and
  jsonb columns, composite foreign keys, indexes, RLS) holding ``--rows`` rows in all, generated in
  the server. On it, what the rehearsal does: the F0 fingerprint (``schema_fingerprint`` and
  ``data_fingerprint`` over every table's columns, exactly as ``Rehearsal._fingerprint_baseline``),
  ``pg_dump -Fc``, a fresh database plus ``pg_restore --no-owner``, and the fingerprint of the
  restored copy (as ``Rehearsal._restore``). It prints the ratio of the fingerprint cost to the
  backup plus restore it verifies.

Each figure is the median of ``--repeat`` runs. When the ratio misses its target (or with
``--profile``) it also shows where the fingerprint's time goes: the query plan, and the same scan
with other row hashes and without parallel workers. It prints PASS/FAIL lines against the targets
and always exits 0: it is a report, not a gate.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_check import run_measured, verdict  # noqa: E402

from tenantaudit.rehearsal import fingerprint as fingerprint_module  # noqa: E402
from tenantaudit.rehearsal import run as run_module  # noqa: E402
from tenantaudit.rehearsal.run import PHASES, PhaseFailed, Rehearsal, RehearsalOptions  # noqa: E402
from tenantaudit.sandbox import EmbeddedPostgres  # noqa: E402

# Targets from the acceptance criteria (2-core machine).
TARGET_REHEARSE_S = 20.0  # each example migration set, whole process
TARGET_RATIO = 1 / 3  # (F0 + restored fingerprint) / (pg_dump + createdb + pg_restore)
TARGET_ROWS = 1_000_000

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "voice_agent"
MIGRATION_SETS = ("as_written", "corrected")
CLI = [sys.executable, "-m", "tenantaudit.cli"]
BASELINE_DB = "baseline_rows"


# -- part 1: the example's rehearsal as a whole process ----------------------------------------


@dataclass
class RehearsalResult:
    name: str
    walls: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    exit_codes: set = field(default_factory=set)
    phase_seconds: dict[str, list[float]] = field(default_factory=dict)
    phase_status: dict[str, set[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    profile: str = ""

    @property
    def wall(self) -> float:
        return statistics.median(self.walls) if self.walls else float("nan")


def rehearse_cli(name: str, json_out: Path, pg_bin: str | None) -> list[str]:
    cli = [*CLI, "rehearse", str(EXAMPLE / name), "--baseline", str(EXAMPLE / "baseline.sql"), "--json", str(json_out)]
    return cli + (["--pg-bin", pg_bin] if pg_bin else [])


def measure_rehearsal(name: str, repeat: int, workdir: Path, pg_bin: str | None) -> RehearsalResult:
    res = RehearsalResult(name)
    json_out = workdir / f"rehearse_{name}.json"
    cli = rehearse_cli(name, json_out, pg_bin)
    run_measured(cli)  # warm-up: imports compiled, binaries found (and copied, as root)
    for _ in range(repeat):
        json_out.unlink(missing_ok=True)
        r = run_measured(cli)
        res.walls.append(r.wall_s)
        res.rss_kib.append(r.maxrss_kib)
        res.exit_codes.add(r.exit_code)
        if r.exit_code not in (0, 1) or not json_out.exists():
            res.errors.append(f"exit {r.exit_code}: {r.stderr.strip()[-1000:]}")
            continue
        for phase in json.loads(json_out.read_text()).get("phases", []):
            res.phase_seconds.setdefault(phase["name"], []).append(phase["seconds"])
            res.phase_status.setdefault(phase["name"], set()).add(phase["status"])
    return res


def profile_rehearsal(cli: list[str], out: Path, top: int = 25) -> str:
    argv = [sys.executable, "-m", "cProfile", "-o", str(out), *cli[1:]]
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    text = io.StringIO()
    text.write(f"cProfile of one `tenantaudit rehearse` run, top {top} by cumulative time (profiling inflates times):\n")
    pstats.Stats(str(out), stream=text).strip_dirs().sort_stats("cumulative").print_stats(top)
    return text.getvalue()


# -- part 2: the baseline of N rows ------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    tenants: int
    leads: int
    calls: int
    events: int

    @classmethod
    def for_rows(cls, rows: int) -> "Sizes":
        tenants = max(1, rows // 1000)
        rest = max(0, rows - tenants)
        leads, calls = rest // 4, rest // 2
        return cls(tenants, max(1, leads), max(1, calls), max(0, rest - leads - calls))

    @property
    def total(self) -> int:
        return self.tenants + self.leads + self.calls + self.events


def baseline_sql(s: Sizes) -> list[str]:
    """A voice-agent CRM: tenants, leads, calls to leads, events of calls. Ids are md5-derived
    uuids so children can reference parents of the same tenant; constraints and indexes are built
    after the rows are in (the way pg_restore does it too)."""
    tenant_of = lambda expr: f"md5('tenant' || (({expr}) % {s.tenants}))::uuid"  # noqa: E731
    fence = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
    statements = [
        """CREATE TABLE public.tenants (
             id uuid NOT NULL, name text NOT NULL, plan text NOT NULL,
             settings jsonb NOT NULL DEFAULT '{}', created_at timestamptz NOT NULL DEFAULT now())""",
        """CREATE TABLE public.leads (
             id uuid NOT NULL DEFAULT gen_random_uuid(), tenant_id uuid NOT NULL, name text NOT NULL,
             phone text, email text, score numeric(6,2), status text NOT NULL, attrs jsonb,
             created_at timestamptz NOT NULL DEFAULT now())""",
        """CREATE TABLE public.voice_calls (
             id uuid NOT NULL DEFAULT gen_random_uuid(), tenant_id uuid NOT NULL, lead_id uuid NOT NULL,
             agent text NOT NULL, duration_s numeric(10,2), cost numeric(12,4), started_at timestamptz NOT NULL,
             ended_at timestamptz, transcript text, metadata jsonb)""",
        """CREATE TABLE public.call_events (
             id bigint GENERATED BY DEFAULT AS IDENTITY, tenant_id uuid NOT NULL, call_id uuid NOT NULL,
             kind text NOT NULL, at timestamptz NOT NULL, payload jsonb)""",
        f"""INSERT INTO public.tenants
            SELECT md5('tenant' || i)::uuid, 'Tenant ' || i, (ARRAY['free', 'pro', 'enterprise'])[1 + i % 3],
                   jsonb_build_object('locale', (ARRAY['en-US', 'fr-FR', 'de-DE'])[1 + i % 3], 'max_agents', 1 + i % 20),
                   timestamptz '2023-01-01 00:00+00' + i * interval '1 hour'
            FROM generate_series(0, {s.tenants - 1}) i""",
        f"""INSERT INTO public.leads
            SELECT md5('lead' || i)::uuid, {tenant_of('i')}, 'Lead ' || i,
                   '+1555' || lpad((i % 10000000)::text, 7, '0'), 'lead' || i || '@example.com',
                   round((i % 10000)::numeric / 100, 2), (ARRAY['new', 'contacted', 'qualified', 'lost'])[1 + i % 4],
                   jsonb_build_object('source', (ARRAY['web', 'ads', 'referral'])[1 + i % 3], 'campaign', 'c' || i % 50,
                                      'tags', jsonb_build_array('t' || i % 7, 't' || i % 11)),
                   timestamptz '2024-01-01 00:00+00' + i * interval '1 minute'
            FROM generate_series(0, {s.leads - 1}) i""",
        f"""INSERT INTO public.voice_calls
            SELECT md5('call' || i)::uuid, {tenant_of(f'i % {s.leads}')}, md5('lead' || (i % {s.leads}))::uuid,
                   'agent-' || i % 40, round((i % 3600)::numeric + (i % 100)::numeric / 100, 2),
                   round((i % 3600)::numeric * 0.0125, 4),
                   timestamptz '2024-02-01 00:00+00' + i * interval '30 seconds',
                   timestamptz '2024-02-01 00:00+00' + i * interval '30 seconds' + (i % 3600) * interval '1 second',
                   'Caller asked about order ' || substr(md5(i::text), 1, 12) || '; the agent confirmed delivery on '
                     || to_char(date '2024-03-01' + i % 90, 'YYYY-MM-DD') || ' and logged reference '
                     || md5((i * 7)::text) || '.',
                   jsonb_build_object('direction', (ARRAY['inbound', 'outbound'])[1 + i % 2], 'voice', 'v' || i % 12,
                                      'sentiment', round(((i % 200) - 100)::numeric / 100, 2), 'recorded', i % 5 <> 0)
            FROM generate_series(0, {s.calls - 1}) i""",
        f"""INSERT INTO public.call_events (tenant_id, call_id, kind, at, payload)
            SELECT {tenant_of(f'(i % {s.calls}) % {s.leads}')}, md5('call' || (i % {s.calls}))::uuid,
                   (ARRAY['ringing', 'answered', 'transfer', 'hangup', 'dtmf'])[1 + i % 5],
                   timestamptz '2024-02-01 00:00+00' + i * interval '7 seconds',
                   jsonb_build_object('seq', i / {max(1, s.calls)}, 'digits', lpad((i % 1000)::text, 3, '0'))
            FROM generate_series(0, {s.events - 1}) i""",
        "ALTER TABLE public.tenants ADD PRIMARY KEY (id)",
        "ALTER TABLE public.leads ADD PRIMARY KEY (tenant_id, id)",
        "ALTER TABLE public.voice_calls ADD PRIMARY KEY (tenant_id, id)",
        "ALTER TABLE public.call_events ADD PRIMARY KEY (tenant_id, id)",
        "CREATE INDEX leads_tenant_email ON public.leads (tenant_id, email)",
        "CREATE INDEX voice_calls_tenant_started ON public.voice_calls (tenant_id, started_at)",
        "CREATE INDEX call_events_tenant_call ON public.call_events (tenant_id, call_id)",
        "ALTER TABLE public.leads ADD FOREIGN KEY (tenant_id) REFERENCES public.tenants (id)",
        "ALTER TABLE public.voice_calls ADD FOREIGN KEY (tenant_id) REFERENCES public.tenants (id)",
        "ALTER TABLE public.voice_calls ADD FOREIGN KEY (tenant_id, lead_id) REFERENCES public.leads (tenant_id, id)",
        "ALTER TABLE public.call_events ADD FOREIGN KEY (tenant_id) REFERENCES public.tenants (id)",
        "ALTER TABLE public.call_events ADD FOREIGN KEY (tenant_id, call_id) REFERENCES public.voice_calls (tenant_id, id)",
        "SELECT setval(pg_get_serial_sequence('public.call_events', 'id'), (SELECT max(id) FROM public.call_events))",
    ]
    for table in ("leads", "voice_calls", "call_events"):
        statements += [
            f"ALTER TABLE public.{table} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE public.{table} FORCE ROW LEVEL SECURITY",
            f"CREATE POLICY tenant_isolation ON public.{table} USING ({fence}) WITH CHECK ({fence})",
        ]
    return statements


def build_baseline(pg: EmbeddedPostgres, sizes: Sizes) -> str:
    pg.create_database(BASELINE_DB)
    with psycopg.connect(pg.dsn(BASELINE_DB), autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '256MB'")  # this session only: the build, not the timed steps
        for statement in baseline_sql(sizes):
            if statement.lstrip().startswith("SELECT"):
                conn.execute(statement).fetchall()
            else:
                conn.execute(statement)
        # Hint bits set and statistics in: F0 times the fingerprint of a settled table. The
        # restored copy is fingerprinted straight after pg_restore, as the rehearsal does.
        conn.execute("VACUUM (ANALYZE)")
    return pg.dsn(BASELINE_DB)


# -- part 2: timing the rehearsal's steps on it -----------------------------------------------


def connect(dsn: str) -> psycopg.Connection:
    return psycopg.connect(dsn, autocommit=True)  # as Rehearsal._connect


class Timers:
    """Wraps callables so that the time spent in them adds up by name (nothing in src/ changes)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, name: str | Callable[..., str], fn: Callable) -> Callable:
        def timed(*args, **kwargs):
            key = name(*args) if callable(name) else name
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - t0

        return timed

    def take(self, name: str) -> float:
        return self.seconds.pop(name, 0.0)


@contextmanager
def rehearsal_on(pg: EmbeddedPostgres, dsn: str, workdir: Path, timers: Timers) -> Iterator[Rehearsal]:
    """A Rehearsal whose sandbox is ``pg`` and whose database is the baseline, ready for its
    fingerprint, backup and restore phases to be called one by one, with schema_fingerprint,
    _data (the data fingerprint over F0's columns), create_database and the pg_dump/pg_restore
    runs timed."""
    r = Rehearsal(RehearsalOptions(path=workdir))
    r.sandbox, r.dbname, r.dsn, r.workdir = pg, BASELINE_DB, dsn, workdir
    original_schema = run_module.schema_fingerprint
    run_module.schema_fingerprint = timers.wrap("schema_fingerprint", original_schema)
    r._data = timers.wrap("data_fingerprint", r._data)
    r._pg_tool = timers.wrap(lambda tool, *args: tool, r._pg_tool)
    pg.create_database = timers.wrap("createdb", pg.create_database)
    try:
        yield r
    finally:
        run_module.schema_fingerprint = original_schema
        del pg.create_database  # back to the class's method


@dataclass
class CycleResult:
    f0: list[float] = field(default_factory=list)
    f0_schema: list[float] = field(default_factory=list)
    f0_data: list[float] = field(default_factory=list)
    backup: list[float] = field(default_factory=list)
    createdb: list[float] = field(default_factory=list)
    pg_restore: list[float] = field(default_factory=list)
    restore: list[float] = field(default_factory=list)
    f1: list[float] = field(default_factory=list)
    f1_schema: list[float] = field(default_factory=list)
    f1_data: list[float] = field(default_factory=list)
    ratio_f0: list[float] = field(default_factory=list)
    ratio_both: list[float] = field(default_factory=list)
    dump_bytes: int = 0
    db_bytes: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    columns: dict[str, list[str]] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def run_cycle(pg: EmbeddedPostgres, dsn: str, workdir: Path, res: CycleResult) -> None:
    """The rehearsal's fingerprint, backup and restore phases, its own code, on the baseline:
    F0 = Rehearsal._fingerprint_baseline; backup = Rehearsal._backup (pg_dump -Fc); restore =
    the createdb and pg_restore inside Rehearsal._restore; the restored fingerprint = the rest
    of Rehearsal._restore (schema_fingerprint, the data fingerprint over F0's columns, the diff)."""
    timers = Timers()
    with rehearsal_on(pg, dsn, workdir, timers) as r:
        try:
            t0 = time.perf_counter()
            r._fingerprint_baseline()
            f0 = time.perf_counter() - t0
            f0_schema, f0_data = timers.take("schema_fingerprint"), timers.take("data_fingerprint")

            t0 = time.perf_counter()
            r._backup()
            backup = time.perf_counter() - t0
            timers.take("pg_dump")
            res.dump_bytes = r.backup_file.stat().st_size

            t0 = time.perf_counter()
            r._restore()
            restore_phase = time.perf_counter() - t0
        except PhaseFailed:
            res.errors += [f.message for f in r.findings] or ["a phase failed"]
            return
        finally:
            pg.drop_database(f"{BASELINE_DB}_restore")
            getattr(r, "backup_file", workdir / "none").unlink(missing_ok=True)
        createdb, pg_restore = timers.take("createdb"), timers.take("pg_restore")
        f1_schema, f1_data = timers.take("schema_fingerprint"), timers.take("data_fingerprint")
        restore = createdb + pg_restore
        f1 = restore_phase - restore  # connect, both fingerprints and the comparison with F0

        res.mismatches = [f.message for f in r.findings]
        res.rows = dict(r.preexisting_rows)
        res.columns = dict(r.f0_columns)
    for name, value in (("f0", f0), ("f0_schema", f0_schema), ("f0_data", f0_data), ("backup", backup),
                        ("createdb", createdb), ("pg_restore", pg_restore), ("restore", restore), ("f1", f1),
                        ("f1_schema", f1_schema), ("f1_data", f1_data),
                        ("ratio_f0", f0 / (backup + restore)), ("ratio_both", (f0 + f1) / (backup + restore))):
        getattr(res, name).append(value)


# -- part 3: where the fingerprint's time goes -------------------------------------------------

# The output settings data_fingerprint pins (they decide the text a row hashes to): taken from
# fingerprint.py when it has them, else the values it pinned when this benchmark was written.
STABLE = getattr(fingerprint_module, "_STABLE_SETTINGS", None) or {
    "search_path": "pg_catalog", "TimeZone": "UTC", "DateStyle": "ISO, MDY", "IntervalStyle": "postgres",
    "extra_float_digits": "1", "bytea_output": "hex", "lc_monetary": "C"}


def variants(version: int) -> list[tuple[str, str, dict[str, str]]]:
    """(label, SELECT list over {row} = ROW(t.col, ...) and {whole} = t, session settings)."""
    serial = {"max_parallel_workers_per_gather": "0"}
    out = [
        ("as now: count, sum(hashtextextended(ROW(cols)::text, 0))",
         "count(*), sum(hashtextextended(({row})::text, 0))", {}),
        ("as now, serial (max_parallel_workers_per_gather = 0)",
         "count(*), sum(hashtextextended(({row})::text, 0))", serial),
        ("scan alone: count(*)", "count(*)", {}),
        ("text form alone: sum(octet_length(ROW(cols)::text))", "count(*), sum(octet_length(({row})::text))", {}),
        ("whole row: sum(hashtextextended(t::text, 0))", "count(*), sum(hashtextextended(({whole})::text, 0))", {}),
        ("md5: sum(('x' || left(md5(ROW(cols)::text), 16))::bit(64)::bigint)",
         "count(*), sum(('x' || left(md5(({row})::text), 16))::bit(64)::bigint)", {}),
    ]
    if version >= 140000:
        out += [
            ("bit_xor(hashtextextended(ROW(cols)::text, 0))  [PG14+]",
             "count(*), bit_xor(hashtextextended(({row})::text, 0))", {}),
            ("no text form: sum(hash_record_extended(ROW(cols), 0))  [PG14+]",
             "count(*), sum(hash_record_extended({row}, 0))", {}),
            ("no text form, bit_xor(hash_record_extended(ROW(cols), 0))  [PG14+]",
             "count(*), bit_xor(hash_record_extended({row}, 0))", {}),
        ]
    return out


@dataclass
class Breakdown:
    per_table: list[tuple[str, int, int, float]] = field(default_factory=list)  # table, rows, bytes, seconds
    variant_s: list[tuple[str, float | None, str]] = field(default_factory=list)  # label, seconds, error
    plan: list[str] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)


def breakdown(dsn: str, columns: dict[str, list[str]], repeat: int) -> Breakdown:
    out = Breakdown()
    with connect(dsn) as conn:
        out.settings = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in (
            "max_parallel_workers_per_gather", "max_parallel_workers", "max_worker_processes",
            "min_parallel_table_scan_size", "parallel_setup_cost", "shared_buffers", "work_mem")}
        for name, value in STABLE.items():
            conn.execute(sql.SQL("SELECT set_config({}, {}, false)").format(sql.Literal(name), sql.Literal(value)))

        def query(select: str, table: str) -> sql.Composed:
            schema, _, name = table.partition(".")
            row = sql.SQL("ROW({})").format(sql.SQL(", ").join(sql.Identifier("t", c) for c in columns[table]))
            select_list = sql.SQL(select).format(row=row, whole=sql.Identifier("t"))
            return sql.SQL("SELECT {} FROM ONLY {} AS t").format(select_list, sql.Identifier(schema, name))

        current = variants(conn.info.server_version)[0][1]
        largest = None
        for table in sorted(columns):
            schema, _, name = table.partition(".")
            size, rows = conn.execute(
                "SELECT pg_table_size(c.oid), c.reltuples::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND c.relname = %s", (schema, name)).fetchone()
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                conn.execute(query(current, table)).fetchone()
                times.append(time.perf_counter() - t0)
            out.per_table.append((table, rows, size, statistics.median(times)))
            if largest is None or size > largest[1]:
                largest = (table, size)
        out.per_table.sort(key=lambda t: -t[3])

        if largest:
            plan = conn.execute(sql.SQL("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ") + query(current, largest[0])).fetchall()
            out.plan = [f"{largest[0]}: " + plan[0][0]] + [line for (line,) in plan[1:]]

        # Round robin, so that a change in the machine's load does not favour one variant.
        todo = variants(conn.info.server_version)
        times: dict[str, list[float]] = {label: [] for label, _, _ in todo}
        errors: dict[str, str] = {}
        for _ in range(repeat):
            for label, select, settings in todo:
                if label in errors:
                    continue
                try:
                    with conn.transaction():
                        for name, value in settings.items():
                            conn.execute(sql.SQL("SELECT set_config({}, {}, true)").format(sql.Literal(name), sql.Literal(value)))
                        t0 = time.perf_counter()
                        for table in columns:
                            conn.execute(query(select, table)).fetchone()
                        times[label].append(time.perf_counter() - t0)
                except psycopg.Error as exc:
                    errors[label] = str(exc).splitlines()[0]
        out.variant_s = [(label, None if label in errors else statistics.median(times[label]), errors.get(label, ""))
                         for label, _, _ in todo]
    return out


# -- main --------------------------------------------------------------------------------------


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def runs(values: list[float], fmt: str = "{:.3f}") -> str:
    return ", ".join(fmt.format(v) for v in values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=TARGET_ROWS, help=f"rows in the baseline database [{TARGET_ROWS:,}]")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per figure; the median is shown [3]")
    parser.add_argument("--pg-bin", default=None, help="PostgreSQL bin directory for the embedded server")
    parser.add_argument("--profile", action="store_true",
                        help="show where the fingerprint's time goes (always done when the ratio misses its target)")
    parser.add_argument("--skip-example", action="store_true", help="skip the example's whole-process rehearsals")
    parser.add_argument("--skip-rows", action="store_true", help="skip the baseline of --rows rows")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="tenantaudit-bench-rehearse-"))
    rehearsals: list[RehearsalResult] = []
    cycle = CycleResult()
    sizes = Sizes.for_rows(args.rows)
    build_s = 0.0
    major = source = ""
    bd: Breakdown | None = None
    try:
        # -- 1. the example, as whole processes (one at a time; nothing else running) --
        if not args.skip_example:
            for name in MIGRATION_SETS:
                res = measure_rehearsal(name, args.repeat, workdir, args.pg_bin)
                print(f"rehearse {name}: {res.wall:.3f}s (runs: {runs(res.walls)}); exit codes {sorted(res.exit_codes)}", flush=True)
                if res.wall > TARGET_REHEARSE_S:
                    res.profile = profile_rehearsal(rehearse_cli(name, workdir / "p.json", args.pg_bin), workdir / "rehearse.prof")
                rehearsals.append(res)

        # -- 2. the baseline of N rows: fingerprint vs backup + restore --
        if not args.skip_rows:
            with EmbeddedPostgres(pg_bin=args.pg_bin) as pg:  # the sandbox's own settings
                major, source = pg.binaries.major, f"{pg.binaries.source}: {pg.binaries.bindir}"
                print(f"PostgreSQL {major} from {source}; python {sys.version.split()[0]}; {os.cpu_count()} CPUs", flush=True)
                t0 = time.perf_counter()
                dsn = build_baseline(pg, sizes)
                build_s = time.perf_counter() - t0
                with connect(dsn) as conn:
                    cycle.db_bytes = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
                print(f"built {BASELINE_DB}: {sizes.total:,} rows in 4 tables, {cycle.db_bytes / 2**20:.0f} MiB, in {build_s:.1f}s",
                      flush=True)
                for i in range(args.repeat):
                    run_cycle(pg, dsn, workdir, cycle)
                    if cycle.errors:
                        break
                    print(f"  run {i + 1}: F0 {cycle.f0[-1]:.3f}s, pg_dump {cycle.backup[-1]:.3f}s, "
                          f"createdb + pg_restore {cycle.restore[-1]:.3f}s, restored fingerprint {cycle.f1[-1]:.3f}s, "
                          f"ratio {cycle.ratio_both[-1]:.3f}", flush=True)
                if args.profile or (cycle.ratio_both and med(cycle.ratio_both) > TARGET_RATIO):
                    bd = breakdown(dsn, cycle.columns, args.repeat)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    # -- the report ------------------------------------------------------------------------
    load_after = os.getloadavg()[0]
    print()
    print(f"1-minute load average: {load_before:.2f} at the start, {load_after:.2f} at the end"
          + ("; other processes were competing for the CPUs before it started: timings are inflated and noisy"
             if load_before > 1.0 else ""))

    for res in rehearsals:
        print()
        print(f"tenantaudit rehearse examples/voice_agent/{res.name} --baseline examples/voice_agent/baseline.sql "
              f"(median of {len(res.walls)} runs, whole process)")
        print(f"  wall {res.wall:.3f}s (runs: {runs(res.walls)}); peak RSS {med(res.rss_kib) / 1024:.1f} MiB; "
              f"exit codes {sorted(res.exit_codes)}")
        accounted = 0.0
        print(f"  {'phase':<12} {'seconds':>8}  status")
        for phase in PHASES:
            secs = res.phase_seconds.get(phase, [])
            accounted += med(secs) if secs else 0.0
            status = ", ".join(sorted(res.phase_status.get(phase, {"?"})))
            print(f"  {phase:<12} {med(secs) if secs else float('nan'):>8.3f}  {status}")
        print(f"  {'phases':<12} {accounted:>8.3f}")
        print(f"  {'rest':<12} {res.wall - accounted:>8.3f}  (interpreter, imports, migration discovery, teardown, report)")
        for error in res.errors:
            print(f"  ERROR: {error}")
        if res.profile:
            print(res.profile.rstrip())

    if cycle.f0 or cycle.errors:
        c = cycle
        n = len(c.f0)
        print()
        print(f"fingerprint vs backup + restore on {sizes.total:,} rows (PostgreSQL {major}, sandbox settings; median of {n} runs)")
        print("  rows: " + ", ".join(f"{t} {r:,}" for t, r in sorted(c.rows.items()))
              + f"; database {c.db_bytes / 2**20:.0f} MiB; pg_dump -Fc file {c.dump_bytes / 2**20:.0f} MiB")
        rows = [
            ("F0 fingerprint (schema + data), as the fingerprint phase", c.f0),
            ("  schema_fingerprint", c.f0_schema),
            ("  data_fingerprint (over every table's columns)", c.f0_data),
            ("backup: pg_dump -Fc", c.backup),
            ("restore: createdb + pg_restore --no-owner", c.restore),
            ("  createdb (CREATE DATABASE ... TEMPLATE template0)", c.createdb),
            ("  pg_restore", c.pg_restore),
            ("restored copy's fingerprint, as the restore phase", c.f1),
            ("  schema_fingerprint", c.f1_schema),
            ("  data_fingerprint", c.f1_data),
        ]
        for label, values in rows:
            print(f"  {label:<58} {med(values):8.3f}s  (runs: {runs(values)})")
        both = [a + b for a, b in zip(c.f0, c.f1)]
        print(f"  {'F0 + restored fingerprint':<58} {med(both):8.3f}s  (runs: {runs(both)})")
        print(f"  {'backup + restore':<58} {med([a + b for a, b in zip(c.backup, c.restore)]):8.3f}s")
        print(f"  ratio F0 / (backup + restore):                             {med(c.ratio_f0):.3f}  (runs: {runs(c.ratio_f0)})")
        print(f"  ratio (F0 + restored) / (backup + restore):                {med(c.ratio_both):.3f}  (runs: {runs(c.ratio_both)})"
              f"  target <= {TARGET_RATIO:.3f}")
        print("  restored copy vs F0: " + ("identical (schema and data)" if not c.mismatches
                                          else f"{len(c.mismatches)} DIFFERENCES: " + "; ".join(c.mismatches[:10])))
        for error in c.errors:
            print(f"  ERROR: {error}")

    if bd is not None:
        print()
        print(f"where the fingerprint's time goes ({BASELINE_DB}, median of {args.repeat} per figure)")
        print("  server settings: " + ", ".join(f"{k}={v}" for k, v in bd.settings.items()))
        print(f"  {'table':<22} {'rows':>10} {'heap MiB':>9} {'seconds':>8} {'µs/row':>7}")
        for table, rows, size, secs in bd.per_table:
            print(f"  {table:<22} {rows:>10,} {size / 2**20:>9.0f} {secs:>8.3f} {secs / max(rows, 1) * 1e6:>7.2f}")
        print("  the data fingerprint's query on its largest table, EXPLAIN ANALYZE:")
        for line in bd.plan:
            print(f"    {line}")
        base = bd.variant_s[0][1] if bd.variant_s and bd.variant_s[0][1] else None
        print(f"  the same pass over every table, other row hashes (seconds for all {len(bd.per_table)} tables):")
        for label, secs, error in bd.variant_s:
            if secs is None:
                print(f"    {label:<70} error: {error}")
            else:
                rel = f"{secs / base:5.2f}x" if base else ""
                print(f"    {label:<70} {secs:7.3f}s  {rel}")
        by_label = {label: secs for label, secs, _ in bd.variant_s if secs}
        scan = next((v for k, v in by_label.items() if k.startswith("scan alone")), None)
        serial = next((v for k, v in by_label.items() if "serial" in k), None)
        if base and scan is not None and serial is not None:
            print(f"  so: reading the rows is {scan / base:.0%} of the pass, the per-row work (text form + hash) the rest; "
                  f"serial / parallel = {serial / base:.2f} on {os.cpu_count()} CPUs (above 1: the parallel workers help)")

    # -- verdicts --------------------------------------------------------------------------
    print()
    for res in rehearsals:
        ok = res.wall <= TARGET_REHEARSE_S and not res.errors
        verdict(ok, f"rehearse {res.name} end to end: {res.wall:.3f}s <= {TARGET_REHEARSE_S:.0f}s")
    if cycle.ratio_both:
        note = "" if sizes.total == TARGET_ROWS else f" (measured at {sizes.total:,} rows, not {TARGET_ROWS:,})"
        verdict(med(cycle.ratio_both) <= TARGET_RATIO,
                f"fingerprints (F0 + restored copy) / (backup + restore) = {med(cycle.ratio_both):.3f} <= 1/3{note}")
        print(f"      (F0 alone / (backup + restore) = {med(cycle.ratio_f0):.3f})")
        verdict(not cycle.mismatches, "the restored copy's fingerprint equals F0")
    elif cycle.errors:
        verdict(False, "fingerprint vs backup + restore: " + cycle.errors[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
