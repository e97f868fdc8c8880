"""`tenantaudit rehearse`: the bundled example, purpose-built migration sets, other sandboxes,
and cleanup after failure, Ctrl-C and a server killed mid-phase."""

import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from conftest import ROOT, of, phases, run_cli, write
from conftest import rehearse_folder as run

from tenantaudit.sandbox import EmbeddedPostgres

EXAMPLE = ROOT / "examples" / "voice_agent"


TENANTS = "CREATE TABLE tenants (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL);"


# -- the bundled example --------------------------------------------------------------------

@pytest.fixture(scope="module")
def as_written():
    return run(EXAMPLE / "as_written", baseline=EXAMPLE / "baseline.sql")


def test_example_as_written_verify_reports_the_static_defects(as_written):
    verify = {(f.category, f.table) for f in as_written.findings if f.phase == "verify"}
    for table in ("leads", "company_search_cache", "employees_cache"):
        assert ("tenant-column-nullable", table) in verify
    assert ("rls-disabled", "company_search_cache") in verify
    assert ("cross-tenant-foreign-key", "voice_calls") in verify
    assert ("unique-without-tenant", "voices") in verify


def test_example_as_written_rollback_drifts(as_written):
    drift = [f.message for f in of(as_written, "rollback-schema-drift")]
    text = "\n".join(drift)
    for table in ("leads", "company_search_cache", "employees_cache"):
        assert f"column public.{table}.tenant_id" in text, text
    assert "idx_leads_tenant_id" in text and "idx_company_search_cache_tenant_id" in text
    rls = [m for m in drift if m.startswith("rls public.leads")]
    assert rls and "no policy" in rls[0] and "sees no rows" in rls[0]


def test_example_as_written_reapply_fails_at_the_tenants_index(as_written):
    (failure,) = of(as_written, "reapply-failed")
    up = EXAMPLE / "as_written" / "001_create_tenants.up.sql"
    line = next(i for i, text in enumerate(up.read_text().splitlines(), 1) if "CREATE INDEX idx_tenants_name" in text)
    assert failure.line == line and "001_create_tenants.up.sql" in failure.migration
    assert "idx_tenants_name" in failure.message and "42P07" in failure.message
    assert phases(as_written)["restore"] == "not run"


def test_example_as_written_lock_trace_flags_alter_table_on_legacy_rows(as_written):
    heavy = {(f.table, f.message.split(" holds ")[0].split()[0:2] == ["ALTER", "TABLE"])
             for f in of(as_written, "lock-heavy-statement") if f.phase == "upgrade"}
    for table in ("leads", "company_search_cache", "employees_cache"):
        assert (table, True) in heavy
    assert as_written.locks and all("duration_ms" in trace for trace in as_written.locks)


def test_example_corrected_passes_every_phase_and_exits_0(tmp_path):
    out = tmp_path / "r.json"
    proc = run_cli("rehearse", str(EXAMPLE / "corrected"), "--baseline", str(EXAMPLE / "baseline.sql"),
                   "--json", str(out), timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    statuses = {p["name"]: p["status"] for p in report["phases"]}
    assert set(statuses.values()) <= {"passed", "passed with findings"}, statuses
    assert statuses["rollback"] == "passed" and statuses["restore"] == "passed" and statuses["reapply"] == "passed"
    assert not [f for f in report["findings"] if f["severity"] in ("high", "critical") and f["category"] != "lock-heavy-statement"]


# -- purpose-built migration sets -----------------------------------------------------------

def test_up_that_drops_a_column_holding_data_is_upgrade_data_loss(tmp_path):
    baseline = tmp_path / "baseline.sql"
    baseline.write_text(TENANTS + "CREATE TABLE notes (id serial PRIMARY KEY, body text, extra text);"
                        "INSERT INTO notes (body, extra) VALUES ('a', 'x'), ('b', 'y');")
    folder = write(tmp_path / "m", {
        "001_drop.up.sql": "ALTER TABLE notes DROP COLUMN extra;",
        "001_drop.down.sql": "ALTER TABLE notes ADD COLUMN extra text;",
    })
    report = run(folder, baseline=baseline)
    (loss,) = of(report, "upgrade-data-loss")
    assert loss.table == "notes"


def test_down_that_fails_is_rollback_failed_and_later_phases_do_not_run(tmp_path):
    folder = write(tmp_path / "m", {
        "001_t.up.sql": TENANTS,
        "001_t.down.sql": "DROP TABLE no_such_table;",
    })
    report = run(folder)
    (failure,) = of(report, "rollback-failed")
    assert failure.line == 1 and "001_t.down.sql" in failure.migration and "42P01" in failure.message
    assert phases(report)["rollback"] == "failed"
    assert phases(report)["reapply"] == "not run" and phases(report)["restore"] == "not run"


def test_syntax_error_in_the_third_migration_names_file_and_line(tmp_path):
    folder = write(tmp_path / "m", {
        "001_a.up.sql": TENANTS, "001_a.down.sql": "DROP TABLE tenants;",
        "002_b.up.sql": "CREATE TABLE b (id int);", "002_b.down.sql": "DROP TABLE b;",
        "003_c.up.sql": "CREATE TABLE c (id int);\n\nCREAT TABLE d (id int);\n", "003_c.down.sql": "DROP TABLE c;",
    })
    report = run(folder)
    (failure,) = of(report, "migration-failed")
    assert "003_c.up.sql" in failure.migration and failure.line == 3
    assert "42601" in failure.message
    assert phases(report)["upgrade"] == "failed" and phases(report)["verify"] == "not run"


def test_forgotten_backfill_shows_tenant_null_rows_in_verify(tmp_path):
    baseline = tmp_path / "baseline.sql"
    baseline.write_text(TENANTS + "CREATE TABLE notes (id serial PRIMARY KEY, body text);"
                        "INSERT INTO notes (body) VALUES ('legacy 1'), ('legacy 2');")
    folder = write(tmp_path / "m", {
        "001_tenant.up.sql": "ALTER TABLE notes ADD COLUMN tenant_id uuid REFERENCES tenants;"
                             "CREATE INDEX notes_tenant ON notes (tenant_id);",
        "001_tenant.down.sql": "ALTER TABLE notes DROP COLUMN tenant_id;",
    })
    report = run(folder, baseline=baseline)
    nulls = [f for f in of(report, "tenant-null-rows") if f.phase == "verify"]
    assert [f.table for f in nulls] == ["notes"]
    assert phases(report)["rollback"] == "passed"


def test_down_that_forgets_an_index_is_rollback_schema_drift_naming_it(tmp_path):
    baseline = tmp_path / "baseline.sql"
    baseline.write_text("CREATE TABLE legacy (x int, y int);")
    folder = write(tmp_path / "m", {
        "001_idx.up.sql": "CREATE INDEX legacy_y ON legacy (y);\nCREATE INDEX legacy_x ON legacy (x);",
        "001_idx.down.sql": "DROP INDEX legacy_x;",
    })
    report = run(folder, baseline=baseline)
    drift = of(report, "rollback-schema-drift")
    assert [f.message for f in drift] == ["index public.legacy_y still exists"]


def test_missing_down_migration_is_reported_not_guessed(tmp_path):
    folder = write(tmp_path / "m", {"001_t.up.sql": TENANTS})
    report = run(folder)
    (failure,) = of(report, "rollback-failed")
    assert "001_t" in failure.message and "no down migration" in failure.message


# -- other sandboxes ------------------------------------------------------------------------

def test_existing_server_backend_creates_and_drops_its_own_databases(tmp_path):
    folder = write(tmp_path / "m", {"001_t.up.sql": TENANTS, "001_t.down.sql": "DROP TABLE tenants;"})
    with EmbeddedPostgres(tcp=True) as server:
        with server.connect() as conn:
            conn.execute("CREATE ROLE rehearser LOGIN PASSWORD 'pw' CREATEDB CREATEROLE")
        dsn = server.tcp_dsn("postgres", "rehearser", "pw")
        report = run(folder, sandbox=dsn)
        assert set(phases(report).values()) <= {"passed", "passed with findings"}, report.phases
        with server.connect() as conn:
            left = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'rehearsal%%'").fetchall()
            roles = conn.execute("SELECT rolname FROM pg_roles WHERE rolname = 'tenantaudit_app'").fetchall()
        assert left == [] and roles == []


def test_docker_backend_where_an_engine_answers(tmp_path):
    try:
        import docker

        docker.from_env().ping()
    except Exception:
        pytest.skip("no Docker engine answers here (the docker backend is optional)")
    folder = write(tmp_path / "m", {"001_t.up.sql": TENANTS, "001_t.down.sql": "DROP TABLE tenants;"})
    report = run(folder, sandbox="docker", pg_version=16)
    assert phases(report)["restore"] == "passed"


def test_unknown_sandbox_is_a_usage_error(tmp_path):
    folder = write(tmp_path / "m", {"001_t.up.sql": TENANTS, "001_t.down.sql": "DROP TABLE tenants;"})
    proc = run_cli("rehearse", str(folder), "--sandbox", "kubernetes")
    assert proc.returncode == 3 and "--sandbox" in proc.stderr and "Traceback" not in proc.stderr


# -- cleanup whatever happens --------------------------------------------------------------
# Each run gets a private TMPDIR, so what it leaves behind is told apart from other sandboxes.

@pytest.fixture
def private_tmp():
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="ta-", dir="/tmp"))  # short: unix socket paths are limited
    folder.chmod(0o755)  # the server's unprivileged user must reach its data dir inside
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def left_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def postgres_processes_under(folder: Path) -> list[str]:
    """Command lines naming ``folder`` (read from /proc: ps cuts long lines at 80 columns)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # the process ended meanwhile
        if str(folder) in text:
            found.append(text)
    return found


def slow_set(tmp_path: Path) -> Path:
    return write(tmp_path / "slow", {
        "001_t.up.sql": TENANTS, "001_t.down.sql": "DROP TABLE tenants;",
        "002_sleep.up.sql": "SELECT pg_sleep(60);", "002_sleep.down.sql": "SELECT 1;",
    })


def start_rehearsal(folder: Path, tmpdir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tenantaudit.cli", "rehearse", str(folder)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "TMPDIR": str(tmpdir)},
        # a test run started in the background inherits SIGINT ignored: give the child Ctrl-C back
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for_upgrade(proc: subprocess.Popen, tmpdir: Path) -> Path:
    """The running sandbox's postmaster.pid, once the slow statement is under way."""
    deadline = time.time() + 60
    while time.time() < deadline:
        pidfiles = glob.glob(f"{tmpdir}/tenantaudit-sandbox-*/data/postmaster.pid")
        if pidfiles and postgres_processes_under(tmpdir):
            time.sleep(2.0)  # well into the 60-second statement
            return Path(pidfiles[0])
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the rehearsal never started its sandbox")


def test_failed_run_leaves_nothing_behind(tmp_path, private_tmp):
    folder = write(tmp_path / "m", {"001_t.up.sql": "CREAT TABLE x();", "001_t.down.sql": "SELECT 1;"})
    proc = run_cli("rehearse", str(folder), env={"TMPDIR": str(private_tmp)})
    assert proc.returncode == 1, proc.stderr
    assert left_in(private_tmp) == []


def test_sigint_leaves_nothing_behind(tmp_path, private_tmp):
    proc = start_rehearsal(slow_set(tmp_path), private_tmp)
    wait_for_upgrade(proc, private_tmp)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert left_in(private_tmp) == []
    assert postgres_processes_under(private_tmp) == []


def test_server_killed_mid_phase_fails_cleanly_and_leaves_nothing_behind(tmp_path, private_tmp):
    proc = start_rehearsal(slow_set(tmp_path), private_tmp)
    pidfile = wait_for_upgrade(proc, private_tmp)
    os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert len([line for line in err.splitlines() if line.startswith("tenantaudit: error")]) == 1
    assert "Traceback" not in err
    deadline = time.time() + 10
    while postgres_processes_under(private_tmp) and time.time() < deadline:
        time.sleep(0.2)  # backends notice their postmaster died within moments
    assert left_in(private_tmp) == []
    assert postgres_processes_under(private_tmp) == []


# -- inputs ----------------------------------------------------------------------------------

def test_from_a_live_database_starts_from_its_schema_and_never_shows_the_password(db, tmp_path):
    role = db.role("source")
    reader = db.role("reader")
    db.sql(
        f"""CREATE ROLE "{role}" LOGIN PASSWORD 'source-secret-pw';
            CREATE ROLE "{reader}" NOLOGIN;
            {TENANTS}
            CREATE TABLE notes (id serial PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants, body text);
            ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
            CREATE POLICY readers ON notes TO "{reader}" USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
            GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}";"""
    )
    source = db.sandbox.tcp_dsn(db.name, role, "source-secret-pw")
    folder = write(tmp_path / "m", {
        "001_idx.up.sql": "CREATE INDEX notes_tenant ON notes (tenant_id);",
        "001_idx.down.sql": "DROP INDEX notes_tenant;",
    })
    out = tmp_path / "r.json"
    proc = run_cli("rehearse", str(folder), "--from", source, "--json", str(out), timeout=300)
    assert "source-secret-pw" not in proc.stdout + proc.stderr + out.read_text()
    report = json.loads(out.read_text())
    statuses = {p["name"]: p["status"] for p in report["phases"]}
    assert statuses["restore"] in ("passed", "passed with findings"), (statuses, proc.stderr)
    assert any("statements" in d for p in report["phases"] if p["name"] == "baseline" for d in p["details"])
    # the source was only read
    assert db.sql("SELECT count(*) FROM pg_indexes WHERE indexname = 'notes_tenant'") == [(0,)]


def test_seeded_tenants_and_rows_move_through_the_cycle(tmp_path):
    baseline = tmp_path / "baseline.sql"
    baseline.write_text(TENANTS + "CREATE TABLE notes (id serial, tenant_id uuid NOT NULL REFERENCES tenants,"
                        " body text NOT NULL CHECK (length(body) > 2), PRIMARY KEY (tenant_id, id));")
    folder = write(tmp_path / "m", {
        "001_col.up.sql": "ALTER TABLE notes ADD COLUMN extra int;",
        "001_col.down.sql": "ALTER TABLE notes DROP COLUMN extra;",
    })
    report = run(folder, baseline=baseline, seed_tenants=3, rows_per_table=4)
    baseline_phase = next(p for p in report.phases if p["name"] == "baseline")
    assert any("seeded 12 synthetic rows for 3 tenants" in d for d in baseline_phase["details"]), baseline_phase
    assert of(report, "upgrade-data-loss") == [] and of(report, "rollback-data-loss") == []
    assert phases(report)["restore"] == "passed"


def test_keep_leaves_the_sandbox_running_and_says_how_to_remove_it(tmp_path):
    folder = write(tmp_path / "m", {"001_t.up.sql": TENANTS, "001_t.down.sql": "DROP TABLE tenants;"})
    report = run(folder, keep=True)
    (note,) = [n for n in report.notes if n.startswith("--keep")]
    dsn = note.split("running: ")[1].split(" (remove")[0]
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT to_regclass('public.tenants') IS NOT NULL").fetchone() == (True,)
    cleanup = note.split("remove it with: ")[1].rstrip(")")
    subprocess.run(cleanup, shell=True, check=True, capture_output=True)
