#!/usr/bin/env python3
"""Compare `tenantaudit check` with pgrls (a PyPI RLS linter) on the same live databases.

    python bench/compare_pgrls.py                          # pgrls from PATH or /tmp/pgrls-venv
    python bench/compare_pgrls.py --pgrls /path/to/pgrls --tables 200 --repeat 3

tenantaudit never depends on pgrls: pgrls is run as a separate executable, installed apart from
this project (``python -m venv /tmp/pgrls-venv && /tmp/pgrls-venv/bin/pip install pgrls``).
Without it the script says how to install it and exits 0.

It starts a throwaway embedded PostgreSQL and builds four databases, one after the other:

1. ``example_as_written``: examples/voice_agent, baseline.sql then as_written/*.up.sql;
2. ``example_corrected``: the same with corrected/*.up.sql;
3. ``correct_<N>``: N generated tenant tables without any defect (bench_check.py's generator);
4. ``planted``: one table (or view, function, role) per defect that tenantaudit covers, plus a
   correct control table.

On each it runs, as child processes, ``tenantaudit check DSN --app-role ROLE --json -``,
``pgrls lint --format json`` and ``pgrls verify --format json`` in its three read/write modes
(anon, cross-tenant, write), and prints findings by severity and wall time per tool, the false
alarms on (3) and the defect x tool matrix on (4). It is a report, not a gate: it always exits 0.
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
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_check  # noqa: E402  (the generator of correct tenant tables)

from tenantaudit.example import apply_files, create_app_role, migration_files  # noqa: E402
from tenantaudit.sandbox import EmbeddedPostgres  # noqa: E402

EXAMPLE = HERE.parent / "examples" / "voice_agent"
SCRATCH_VENV = Path("/tmp/pgrls-venv")
INSTALL_HINT = (
    "pgrls is not installed. Install it in a scratch virtualenv outside this repository:\n"
    f"    python -m venv {SCRATCH_VENV} && {SCRATCH_VENV}/bin/pip install pgrls\n"
    f"then run this script again (or pass --pgrls {SCRATCH_VENV}/bin/pgrls)."
)
VERIFY_MODES = ("anon", "cross-tenant", "write")
SETTING = "app.tenant_id"
FENCE = f"tenant_id = NULLIF(current_setting('{SETTING}', true), '')::uuid"

# Severities at which a finding counts as an alarm (false alarm on the correct schema).
ALARM = {"tenantaudit": {"critical", "high"}, "pgrls lint": {"error"}, "pgrls verify": {"leak"}}
SEVERITY_ORDER = ["critical", "high", "medium", "low", "error", "warning", "info", "leak", "unverified"]


# -- running the tools ------------------------------------------------------------------------


@dataclass
class Finding:
    severity: str
    rule: str  # tenantaudit category, pgrls rule id, or verify/<mode>
    location: str  # schema.object[.policy], or a role name


@dataclass
class ToolRun:
    tool: str
    walls: list[float] = field(default_factory=list)
    exit_codes: set = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. unverified tables, parse errors
    error: str = ""

    @property
    def wall(self) -> float:
        return statistics.median(self.walls) if self.walls else float("nan")

    def by_severity(self) -> str:
        if self.error:
            return f"ERROR: {self.error}"
        counts = Counter(f.severity for f in self.findings)
        if not counts:
            return "none"
        keys = sorted(counts, key=lambda s: SEVERITY_ORDER.index(s) if s in SEVERITY_ORDER else 99)
        return ", ".join(f"{k} {counts[k]}" for k in keys)

    def by_rule(self) -> str:
        counts = Counter(f.rule for f in self.findings)
        return ", ".join(f"{r}×{n}" for r, n in sorted(counts.items())) or "-"


def timed(argv: list[str], cwd: str) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=1800)
    return time.perf_counter() - started, proc


def parse_json(proc: subprocess.CompletedProcess, what: str) -> dict:
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        raise RuntimeError(f"{what}: no JSON (exit {proc.returncode}): {tail[0][:200]}") from None


def run_tenantaudit(dsn: str, role: str, repeat: int, cwd: str) -> ToolRun:
    run = ToolRun("tenantaudit")
    argv = [sys.executable, "-m", "tenantaudit.cli", "check", dsn, "--app-role", role, "--json", "-"]
    try:
        for _ in range(repeat):
            wall, proc = timed(argv, cwd)
            run.walls.append(wall)
            run.exit_codes.add(proc.returncode)
            report = parse_json(proc, "tenantaudit")
        run.findings = [
            Finding(f["severity"], f["category"], ".".join(p for p in (f.get("schema"), f.get("table")) if p))
            for f in report["findings"]
        ]
    except (RuntimeError, KeyError) as exc:
        run.error = str(exc)
    return run


def run_pgrls_lint(pgrls: str, url: str, repeat: int, cwd: str) -> ToolRun:
    run = ToolRun("pgrls lint")
    argv = [pgrls, "lint", "--database-url", url, "--format", "json"]
    try:
        for _ in range(repeat):
            wall, proc = timed(argv, cwd)
            run.walls.append(wall)
            run.exit_codes.add(proc.returncode)
            report = parse_json(proc, "pgrls lint")
        run.findings = [Finding(v["severity"], v["rule_id"], v.get("location") or "") for v in report["violations"]]
    except (RuntimeError, KeyError) as exc:
        run.error = str(exc)
    return run


def run_pgrls_verify(pgrls: str, url: str, repeat: int, cwd: str) -> ToolRun:
    """The three read/write threat models; a LEAK verdict on a table is one finding."""
    run = ToolRun("pgrls verify")
    try:
        for _ in range(repeat):
            total = 0.0
            findings, unverified = [], Counter()
            for mode in VERIFY_MODES:
                wall, proc = timed([pgrls, "verify", "--mode", mode, "--database-url", url, "--format", "json"], cwd)
                total += wall
                run.exit_codes.add(proc.returncode)
                report = parse_json(proc, f"pgrls verify --mode {mode}")
                for t in report.get("tables", []):
                    verdict = str(t.get("verdict", "")).lower()
                    if verdict == "leak":
                        findings.append(Finding("leak", f"verify/{mode}", t["table"]))
                    elif verdict == "unverified":
                        unverified[mode] += 1
            run.walls.append(total)
        run.findings = findings
        if unverified:
            run.notes.append("unverified tables: " + ", ".join(f"{m} {n}" for m, n in unverified.items()))
    except (RuntimeError, KeyError) as exc:
        run.error = str(exc)
    return run


def find_pgrls(explicit: str | None) -> str | None:
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for candidate in (shutil.which("pgrls"), str(SCRATCH_VENV / "bin" / "pgrls")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


# -- building the databases -------------------------------------------------------------------


def build_example(pg: EmbeddedPostgres, name: str, corrected: bool, role: str) -> str:
    dsn = pg.create_database(name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        apply_files(conn, migration_files(EXAMPLE, corrected))
        create_app_role(conn, role)  # owns nothing, DML grants on every table in public
    return dsn


def build_correct(pg: EmbeddedPostgres, n: int) -> str:
    """N tenant tables from bench_check.table_ddl, skipping the table numbers it plants defects in."""
    name = f"correct_{n}"
    dsn = pg.create_database(name)
    clean = []
    i = 0
    while len(clean) < n:
        i += 1
        if i % 100 not in bench_check.DEFECTS:
            clean.append(i)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            f"""
            CREATE TABLE public.tenants (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL);
            INSERT INTO public.tenants (name) SELECT 'tenant ' || g FROM generate_series(1, 10) g;
            GRANT USAGE ON SCHEMA public TO {bench_check.APP_ROLE};
            GRANT SELECT ON public.tenants TO {bench_check.APP_ROLE};
            """
        )
        for start in range(0, n, 250):  # chunks: one transaction would exhaust the lock table
            conn.execute("\n".join(bench_check.table_ddl(i) for i in clean[start : start + 250]))
    return dsn


def tenant_table(
    name: str,
    *,
    tenant_col: str = "tenant_id uuid NOT NULL REFERENCES public.tenants (id)",
    key: str = "PRIMARY KEY (tenant_id, id)",
    extra: str = "",
    rls: bool = True,
    force: bool = True,
    fence: str | None = FENCE,
) -> str:
    """A tenant table in the common correct shape, with the knobs the planted defects turn."""
    q = f"public.{name}"
    cols = [
        "id uuid NOT NULL DEFAULT gen_random_uuid()",
        tenant_col,
        "name text NOT NULL",
        "created_at timestamptz NOT NULL DEFAULT now()",
    ]
    cols += [extra] if extra else []
    cols += [key] if key else []
    parts = [f"CREATE TABLE {q} (\n  " + ",\n  ".join(cols) + "\n);"]
    if rls:
        parts.append(f"ALTER TABLE {q} ENABLE ROW LEVEL SECURITY;")
    if force:
        parts.append(f"ALTER TABLE {q} FORCE ROW LEVEL SECURITY;")
    if fence:
        parts.append(f"CREATE POLICY tenant_isolation ON {q} USING ({fence}) WITH CHECK ({fence});")
    return "\n".join(parts)


@dataclass
class Defect:
    label: str
    category: str  # the tenantaudit category meant to catch it
    objects: list[str]  # where a finding counts as finding this defect
    ddl: str


PLANTED_ROLE = "planted_app"


def planted_defects() -> list[Defect]:
    unguarded = f"tenant_id = current_setting('{SETTING}', true)::uuid"
    return [
        Defect(
            "FK by id alone to another tenant table",
            "cross-tenant-foreign-key",
            ["d_cross_fk"],
            tenant_table("d_cross_fk_parent", key="PRIMARY KEY (id)")
            + "\nCREATE INDEX ON public.d_cross_fk_parent (tenant_id);\n"
            + tenant_table("d_cross_fk", extra="parent_id uuid REFERENCES public.d_cross_fk_parent (id)")
            + "\nCREATE INDEX ON public.d_cross_fk (tenant_id, parent_id);",
        ),
        Defect(
            "tenant column nullable",
            "tenant-column-nullable",
            ["d_nullable"],
            tenant_table("d_nullable", tenant_col="tenant_id uuid REFERENCES public.tenants (id)", key="PRIMARY KEY (id)")
            + "\nCREATE INDEX ON public.d_nullable (tenant_id);",
        ),
        Defect(
            "tenant column text, tenants key uuid",
            "tenant-column-type",
            ["d_wrong_type"],
            tenant_table(
                "d_wrong_type",
                tenant_col="tenant_id text NOT NULL",
                fence=f"tenant_id = NULLIF(current_setting('{SETTING}', true), '')",
            ),
        ),
        Defect(
            "no FK to tenants",
            "tenant-fk-missing",
            ["d_no_fk"],
            tenant_table("d_no_fk", tenant_col="tenant_id uuid NOT NULL"),
        ),
        Defect(
            "only tenant index is INVALID",
            "tenant-index-missing",
            ["d_invalid_index"],
            tenant_table("d_invalid_index", key="PRIMARY KEY (id)"),  # the invalid index: build_planted
        ),
        Defect(
            "permissive USING (true) beside fence",
            "policy-permissive-bypass",
            ["d_permissive_true"],
            tenant_table("d_permissive_true")
            + "\nCREATE POLICY public_read ON public.d_permissive_true FOR SELECT USING (true);",
        ),
        Defect(
            "definer view granted to app",
            "view-bypasses-rls",
            ["d_view_definer"],
            tenant_table("d_view_base")
            + "\nCREATE VIEW public.d_view_definer AS SELECT id, tenant_id, name FROM public.d_view_base;",
        ),
        Defect("app role has BYPASSRLS", "role-bypasses-rls", [PLANTED_ROLE], ""),
        Defect("RLS never enabled", "rls-disabled", ["d_rls_disabled"], tenant_table("d_rls_disabled", rls=False, force=False, fence=None)),
        Defect(
            "app role owns table, not FORCEd",
            "rls-not-forced",
            ["d_not_forced"],
            tenant_table("d_not_forced", force=False) + f"\nALTER TABLE public.d_not_forced OWNER TO {PLANTED_ROLE};",
        ),
        Defect("RLS on, no policy", "policy-missing", ["d_no_policy"], tenant_table("d_no_policy", fence=None)),
        Defect(
            "only policy is soft-delete, no tenant",
            "policy-not-tenant-scoped",
            ["d_soft_delete_only"],
            tenant_table("d_soft_delete_only", extra="deleted_at timestamptz", fence="deleted_at IS NULL"),
        ),
        Defect(
            "extra FOR INSERT WITH CHECK (true)",
            "policy-write-unchecked",
            ["d_open_insert"],
            tenant_table("d_open_insert") + "\nCREATE POLICY open_insert ON public.d_open_insert FOR INSERT WITH CHECK (true);",
        ),
        Defect("setting cast without NULLIF", "setting-cast-unsafe", ["d_cast_unsafe"], tenant_table("d_cast_unsafe", fence=unguarded)),
        Defect(
            "global UNIQUE (name)",
            "unique-without-tenant",
            ["d_global_unique"],
            tenant_table("d_global_unique", extra="CONSTRAINT d_global_unique_name_key UNIQUE (name)"),
        ),
        Defect(
            "matview over tenant table, granted",
            "matview-over-tenant-table",
            ["d_matview"],
            tenant_table("d_matview_base") + "\nCREATE MATERIALIZED VIEW public.d_matview AS SELECT * FROM public.d_matview_base;",
        ),
        Defect(
            "SECURITY DEFINER fn reads tenant table",
            "security-definer-function",
            ["d_secdef_fn"],
            tenant_table("d_secdef_base")
            + "\nCREATE FUNCTION public.d_secdef_fn() RETURNS SETOF public.d_secdef_base LANGUAGE sql STABLE"
            " SECURITY DEFINER SET search_path = pg_catalog AS 'SELECT * FROM public.d_secdef_base';",
        ),
        Defect(
            "partition without RLS",
            "partition-rls-gap",
            ["d_part_p1"],
            f"""CREATE TABLE public.d_part (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES public.tenants (id),
  name text NOT NULL,
  PRIMARY KEY (tenant_id, id)
) PARTITION BY HASH (tenant_id);
ALTER TABLE public.d_part ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.d_part FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON public.d_part USING ({FENCE}) WITH CHECK ({FENCE});
CREATE TABLE public.d_part_p0 PARTITION OF public.d_part FOR VALUES WITH (MODULUS 2, REMAINDER 0);
ALTER TABLE public.d_part_p0 ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.d_part_p0 FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON public.d_part_p0 USING ({FENCE}) WITH CHECK ({FENCE});
CREATE TABLE public.d_part_p1 PARTITION OF public.d_part FOR VALUES WITH (MODULUS 2, REMAINDER 1);""",
        ),
        Defect(
            "table without tenant column",
            "tenant-column-missing",
            ["d_no_tenant_col"],
            "CREATE TABLE public.d_no_tenant_col (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), note text NOT NULL);",
        ),
    ]


CONTROL = "d_control"


def build_planted(pg: EmbeddedPostgres, defects: list[Defect]) -> str:
    dsn = pg.create_database("planted")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN BYPASSRLS").format(sql.Identifier(PLANTED_ROLE)))
        conn.execute(
            "CREATE TABLE public.tenants (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL);"
            "INSERT INTO public.tenants (name) SELECT 'tenant ' || g FROM generate_series(1, 3) g;"
        )
        conn.execute(tenant_table(CONTROL))
        for d in defects:
            if d.ddl:
                conn.execute(d.ddl)
        # An index on the tenant column left INVALID by a failed CREATE UNIQUE INDEX CONCURRENTLY
        # (duplicates), the way it happens in production; the rows are removed afterwards.
        conn.execute(
            "INSERT INTO public.d_invalid_index (tenant_id, name) "
            "SELECT id, 'dup' FROM public.tenants ORDER BY name LIMIT 1; "
            "INSERT INTO public.d_invalid_index (tenant_id, name) "
            "SELECT id, 'dup' FROM public.tenants ORDER BY name LIMIT 1;"
        )
        try:
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY d_invalid_index_tenant_name ON public.d_invalid_index (tenant_id, name)")
        except psycopg.errors.UniqueViolation:
            pass
        conn.execute("DELETE FROM public.d_invalid_index")
        valid = conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.d_invalid_index_tenant_name'::regclass"
        ).fetchone()
        assert valid == (False,), "the planted index should be invalid"
        create_grants(conn, PLANTED_ROLE)
    return dsn


def create_grants(conn: psycopg.Connection, role: str) -> None:
    who = sql.Identifier(role)
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(who))
    conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(who))


# -- matching findings to objects --------------------------------------------------------------


def names_object(location: str, name: str) -> bool:
    """Does a finding's location name this object (schema.name, schema.name.policy, name(), name)?"""
    return re.search(rf'(?:^|[.\s"]){re.escape(name)}(?:$|[.(\s"])', location) is not None


def rules_on(run: ToolRun, names: list[str]) -> set[str]:
    return {f.rule for f in run.findings if any(names_object(f.location, n) for n in names)}


# -- report ------------------------------------------------------------------------------------


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    line = "  ".join("-" * w for w in widths)
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    print(line)
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pgrls", default=None, help="the pgrls executable [PATH, then /tmp/pgrls-venv/bin/pgrls]")
    parser.add_argument("--tables", type=int, default=200, help="tables in the correct generated schema [200]")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per tool and database; median shown [3]")
    parser.add_argument("--pg-bin", default=None, help="PostgreSQL bin directory for the embedded server")
    args = parser.parse_args(argv)

    pgrls = find_pgrls(args.pgrls)
    if pgrls is None:
        if args.pgrls:
            print(f"--pgrls {args.pgrls}: not an executable file.")
        print(INSTALL_HINT)
        return 0
    version = subprocess.run([pgrls, "--version"], capture_output=True, text=True).stdout.strip()

    workdir = tempfile.mkdtemp(prefix="compare-pgrls-")  # cwd for both tools: no stray config files
    results: list[tuple[str, list[ToolRun]]] = []
    defects = planted_defects()
    try:
        with EmbeddedPostgres(pg_bin=args.pg_bin) as pg:
            print(f"PostgreSQL {pg.binaries.major} ({pg.binaries.source}); {version} at {pgrls}; "
                  f"python {sys.version.split()[0]}; {os.cpu_count()} CPUs; median of {args.repeat} runs", flush=True)
            with pg.connect() as conn:
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(bench_check.APP_ROLE)))
            # Built and audited one at a time: roles are cluster-wide, and the planted BYPASSRLS
            # role must not exist while the other databases are linted.
            plan = [
                ("1 example as written", "example_as_written", "app_written",
                 lambda: build_example(pg, "example_as_written", False, "app_written")),
                ("2 example corrected", "example_corrected", "app_corrected",
                 lambda: build_example(pg, "example_corrected", True, "app_corrected")),
                (f"3 correct, {args.tables} tables", f"correct_{args.tables}", bench_check.APP_ROLE,
                 lambda: build_correct(pg, args.tables)),
                (f"4 planted ({len(defects)} defects)", "planted", PLANTED_ROLE, lambda: build_planted(pg, defects)),
            ]
            for label, dbname, role, build in plan:
                t0 = time.perf_counter()
                dsn = build()
                print(f"built {dbname} in {time.perf_counter() - t0:.1f}s; auditing…", flush=True)
                url = f"postgresql://{pg.superuser}@/{dbname}?host={pg.socket_dir}&port={pg.port}"
                runs = [
                    run_tenantaudit(dsn, role, args.repeat, workdir),
                    run_pgrls_lint(pgrls, url, args.repeat, workdir),
                    run_pgrls_verify(pgrls, url, args.repeat, workdir),
                ]
                results.append((label, runs))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print("\n== Findings by severity and wall time (tenantaudit exit 1 = findings)")
    rows = []
    for label, runs in results:
        for k, run in enumerate(runs):
            note = ("; " + "; ".join(run.notes)) if run.notes else ""
            rows.append([label if k == 0 else "", run.tool, run.by_severity() + note, f"{run.wall:.2f}",
                         ",".join(map(str, sorted(run.exit_codes)))])
    print_table(["database", "tool", "findings", "wall s", "exit"], rows)

    print("\n== Findings by rule / category")
    for label, runs in results:
        print(label)
        for run in runs:
            print(f"  {run.tool:<13} {run.by_rule()}")

    label, runs = results[2]
    print(f"\n== False alarms on {label} (tenantaudit critical/high, pgrls lint error, pgrls verify leak)")
    rows = []
    for run in runs:
        alarms = [f for f in run.findings if f.severity in ALARM[run.tool]]
        tables = {f.location.split(".")[1] if f.location.count(".") >= 1 else f.location for f in alarms}
        by_rule = Counter(f.rule for f in alarms)
        rows.append([run.tool, str(len(alarms)), str(len(tables)),
                     ", ".join(f"{r}×{n}" for r, n in sorted(by_rule.items())) or "-"])
    print_table(["tool", "alarms", "objects", "rule × count"], rows)

    label, runs = results[3]
    print(f"\n== Defect × tool on {label}: found = a finding on the defect's object whose rule does not")
    print(f"   also fire on the correct control table {CONTROL} (the rule ids that found it are shown)")
    control = {run.tool: rules_on(run, [CONTROL]) for run in runs}
    rows, found_count = [], Counter()
    attributed = {CONTROL, *(o for d in defects for o in d.objects)}
    for d in defects:
        row = [d.label, d.category]
        for run in runs:
            hits = sorted(rules_on(run, d.objects) - control[run.tool])
            if hits:
                found_count[run.tool] += 1
            row.append(("found: " + " ".join(hits)) if hits else "MISSED")
        rows.append(row)
    rows.append(["total found", "", *(f"{found_count[r.tool]}/{len(defects)}" for r in runs)])
    print_table(["defect", "tenantaudit category", *(r.tool for r in runs)], rows)
    for run in runs:
        print(f"  {run.tool} on {CONTROL}: {', '.join(sorted(control[run.tool])) or 'nothing'}")
        rest = [f for f in run.findings if not any(names_object(f.location, n) for n in attributed)]
        if rest:
            where = sorted({f.location.split(".")[1] if "." in f.location else f.location for f in rest})
            rules = Counter(f.rule for f in rest)
            print(f"  {run.tool} on the helper tables and tenants ({', '.join(where)}): "
                  + ", ".join(f"{r}×{n}" for r, n in sorted(rules.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
