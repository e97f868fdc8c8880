"""Sandboxes that cannot outlive their run, and no secrets leaving through child processes.

- every stop signal (SIGTERM, SIGQUIT, and SIGHUP from a terminal that went away) removes the
  embedded server and its temp folder, like Ctrl-C, and exits 128 + the signal number;
- a run killed with SIGKILL leaves an owner marker: the next run stops its server, removes its
  folder and says so;
- on an existing server every run has its own marked role and databases: a killed run's are
  listed by the next run and dropped by `rehearse --cleanup`, a live run's are never touched,
  two runs at once both prove every probe, and the --keep hint is SQL that runs;
- a role that row-level security filters, or that may not create databases or roles, gets a
  one-line error naming the privilege instead of false data loss or an internal error;
- pg_dump / pg_restore never see the password in their argv, and their error line is shown.

Leftovers are read from /proc (ps cuts long command lines), never from ps.
"""

from __future__ import annotations

import glob
import json
import os
import pty
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from conftest import ROOT, run_cli, write
from conftest import rehearse_folder as run
from psycopg import conninfo, sql

TENANTS = "CREATE TABLE tenants (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL);"
FENCE = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
# A small, correctly fenced schema: the verify phase's write probes have something to prove.
FENCED = {
    "001_tenants.up.sql": TENANTS,
    "001_tenants.down.sql": "DROP TABLE tenants;",
    "002_items.up.sql": f"""CREATE TABLE items (
          id uuid NOT NULL DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL REFERENCES tenants (id),
          body text,
          PRIMARY KEY (tenant_id, id));
        ALTER TABLE items ENABLE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON items USING ({FENCE}) WITH CHECK ({FENCE});""",
    "002_items.down.sql": "DROP TABLE items;",
}


# -- helpers ----------------------------------------------------------------------------------

@pytest.fixture
def private_tmp():
    folder = Path(tempfile.mkdtemp(prefix="ta-", dir="/tmp"))  # short: unix socket paths are limited
    folder.chmod(0o755)  # the server's unprivileged user must reach its data dir inside
    yield folder
    for marker in folder.glob("*/data/postmaster.pid"):  # a failed test must not leave a server running
        try:
            os.kill(int(marker.read_text().split()[0]), signal.SIGKILL)
        except (OSError, ValueError):
            pass
    shutil.rmtree(folder, ignore_errors=True)


def left_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def processes_naming(folder: Path) -> list[str]:
    """Command lines that name ``folder``, read from /proc."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (cmdline.parent / "stat").read_text().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        if str(folder) in text and state != "Z":
            found.append(text)
    return found


def wait_until_gone(folder: Path, seconds: float = 15) -> None:
    deadline = time.time() + seconds
    while processes_naming(folder) and time.time() < deadline:
        time.sleep(0.1)  # backends notice their postmaster ended within moments


def slow_set(tmp_path: Path, *, slow_down: bool = False) -> Path:
    """A set whose upgrade (or, with slow_down, rollback) sleeps for a minute."""
    files = {"001_t.up.sql": TENANTS, "001_t.down.sql": "DROP TABLE tenants;"}
    if slow_down:
        files["001_t.down.sql"] = "SELECT pg_sleep(60);\nDROP TABLE tenants;"
    else:
        files.update({"002_sleep.up.sql": "SELECT pg_sleep(60);", "002_sleep.down.sql": "SELECT 1;"})
    return write(tmp_path / ("slow_down" if slow_down else "slow"), files)


def start_cli(*args: str, tmpdir: Path | None = None, **popen) -> subprocess.Popen:
    env = {**os.environ, **({"TMPDIR": str(tmpdir)} if tmpdir else {})}
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(
        [sys.executable, "-m", "tenantaudit.cli", *args], text=True, cwd=ROOT, env=env,
        # a test run started in the background inherits SIGINT ignored: give the child Ctrl-C back
        preexec_fn=popen.pop("preexec_fn", lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)), **popen,
    )


def sleeping_sandbox(tmpdir: Path) -> Path | None:
    """The embedded sandbox's folder if the slow statement runs in it now (asked of the server
    itself: during initdb a single-user postgres writes postmaster.pid too)."""
    for socket_file in glob.glob(f"{tmpdir}/tenantaudit-sandbox-*/.s.PGSQL.*"):
        folder = Path(socket_file).parent
        try:
            with psycopg.connect(host=str(folder), port=socket_file.rsplit(".", 1)[1], user="postgres",
                                 dbname="postgres", connect_timeout=2) as conn:
                sleeping = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s"
                                        " AND pid <> pg_backend_pid()", ("%pg_sleep(60)%",)).fetchone()[0]
        except psycopg.Error:
            continue  # not accepting connections yet
        if sleeping:
            return folder
    return None


def wait_for_sandbox(proc: subprocess.Popen, tmpdir: Path) -> Path:
    deadline = time.time() + 90
    while time.time() < deadline and proc.poll() is None:
        folder = sleeping_sandbox(tmpdir)
        if folder is not None:
            return folder
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"the rehearsal never reached its slow statement: {proc.communicate()}")


# -- signals ----------------------------------------------------------------------------------

@pytest.mark.parametrize("signame", ["SIGTERM", "SIGQUIT"])
def test_stop_signals_remove_the_embedded_sandbox_and_exit_128_plus_n(tmp_path, private_tmp, signame):
    signum = getattr(signal, signame)
    proc = start_cli("rehearse", str(slow_set(tmp_path)), tmpdir=private_tmp)
    folder = wait_for_sandbox(proc, private_tmp)
    print("sandbox up:", folder, processes_naming(private_tmp))
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    wait_until_gone(private_tmp)
    print("exit", proc.returncode, "stderr:", err[-2000:], "left:", left_in(private_tmp), processes_naming(private_tmp))
    assert proc.returncode == 128 + signum, err
    assert f"interrupted ({signame})" in err and "Traceback" not in err
    assert processes_naming(private_tmp) == []
    assert left_in(private_tmp) == []


def test_sighup_from_a_terminal_that_went_away_removes_the_sandbox(tmp_path, private_tmp):
    """A dropped SSH session: the run's controlling terminal hangs up (its master side closes),
    the kernel sends SIGHUP and every later write to the terminal fails."""
    master, slave = pty.openpty()
    slave_name = os.ttyname(slave)

    def own_terminal():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.setsid()  # a session leader opening a tty makes it its controlling terminal
        fd = os.open(slave_name, os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(fd, target)

    proc = start_cli("rehearse", str(slow_set(tmp_path)), tmpdir=private_tmp, stdin=slave, stdout=slave,
                     stderr=slave, preexec_fn=own_terminal)
    os.close(slave)
    try:
        while True:  # keep the terminal's buffer drained until the sandbox is up
            import select

            if select.select([master], [], [], 0.1)[0]:
                try:
                    os.read(master, 65536)
                except OSError:
                    break
            if sleeping_sandbox(private_tmp) is not None:
                break
            assert proc.poll() is None, "the rehearsal ended before its sandbox was up"
    finally:
        print("sandbox up:", left_in(private_tmp), processes_naming(private_tmp))
        os.close(master)  # the terminal goes away: SIGHUP to the session
    proc.wait(timeout=60)
    wait_until_gone(private_tmp)
    print("exit", proc.returncode, "left:", left_in(private_tmp), processes_naming(private_tmp))
    assert proc.returncode == 128 + signal.SIGHUP
    assert processes_naming(private_tmp) == []
    assert left_in(private_tmp) == []


def test_sigkill_leftover_is_removed_by_the_next_run_which_says_so(tmp_path, private_tmp):
    proc = start_cli("rehearse", str(slow_set(tmp_path)), tmpdir=private_tmp)
    folder = wait_for_sandbox(proc, private_tmp)
    proc.kill()
    proc.communicate(timeout=30)
    time.sleep(0.5)
    print("after SIGKILL:", left_in(private_tmp), processes_naming(private_tmp))
    assert folder.exists() and processes_naming(private_tmp), "SIGKILL should have left the server running"

    quick = write(tmp_path / "quick", {"001_t.up.sql": TENANTS, "001_t.down.sql": "DROP TABLE tenants;"})
    out = tmp_path / "r.json"
    proc2 = run_cli("rehearse", str(quick), "--json", str(out), env={"TMPDIR": str(private_tmp)}, timeout=300)
    wait_until_gone(private_tmp)
    print("next run exit", proc2.returncode, "stderr:", proc2.stderr[-3000:], "left:", left_in(private_tmp))
    said = f"removed a sandbox left by dead run pid {proc.pid} ({folder})"
    assert said in proc2.stderr
    assert said in json.loads(out.read_text())["notes"]
    assert proc2.returncode == 0, proc2.stderr
    assert processes_naming(private_tmp) == []
    assert left_in(private_tmp) == []


def test_a_live_runs_sandbox_is_never_reaped(tmp_path, private_tmp):
    proc = start_cli("rehearse", str(slow_set(tmp_path)), tmpdir=private_tmp)
    try:
        folder = wait_for_sandbox(proc, private_tmp)
        cleanup = run_cli("rehearse", "--cleanup", env={"TMPDIR": str(private_tmp)})
        print("cleanup:", cleanup.returncode, cleanup.stdout, cleanup.stderr)
        assert cleanup.returncode == 0 and "nothing to clean up" in cleanup.stdout
        assert folder.exists() and (folder / "data" / "postmaster.pid").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert proc.returncode == 130


# -- an existing server -----------------------------------------------------------------------

def make_role(sandbox, name: str, attributes: str, password: str = "pw") -> str:
    with sandbox.connect() as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} " + attributes).format(
            sql.Identifier(name), sql.Literal(password)))
    return conninfo.make_conninfo(host="127.0.0.1", port=str(sandbox.port), user=name, password=password, dbname="postgres")


def drop_role_and_its_databases(sandbox, name: str) -> None:
    from tenantaudit.sandbox import ExistingServer

    if hasattr(ExistingServer, "cleanup"):  # (and on older code, where it is not)
        ExistingServer(sandbox.dsn()).cleanup()  # what killed runs of the tests left on the shared server
    with sandbox.connect() as conn:
        for (db,) in conn.execute(
                "SELECT datname FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = %s)",
                (name,)).fetchall():
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(db)))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def marked(sandbox) -> dict[str, str]:
    """Every database and role marked by a tenantaudit run: name -> comment."""
    with sandbox.connect() as conn:
        rows = conn.execute(
            """SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database
               UNION ALL SELECT rolname, shobj_description(oid, 'pg_authid') FROM pg_roles""").fetchall()
    return {name: comment for name, comment in rows if comment and comment.startswith("tenantaudit rehearse scratch")}


def owned_by_pid(sandbox, pid: int) -> list[str]:
    return sorted(name for name, comment in marked(sandbox).items() if f'"pid": {pid},' in comment)


@pytest.fixture
def rehearser(sandbox):
    """The role the README asks for on an existing server, with a password, over TCP."""
    name = f"rehearser_{os.getpid()}"
    dsn = make_role(sandbox, name, "CREATEDB CREATEROLE BYPASSRLS")
    yield dsn
    drop_role_and_its_databases(sandbox, name)


def sleeping_database(sandbox, user: str, exclude: set[str], proc: subprocess.Popen) -> str:
    """The scratch database where a run of ``user`` sleeps in pg_sleep(60)."""
    deadline = time.time() + 90
    while time.time() < deadline:
        with sandbox.connect() as conn:
            rows = conn.execute("SELECT datname FROM pg_stat_activity WHERE usename = %s AND query LIKE %s",
                                (user, "%pg_sleep(60)%")).fetchall()
        found = {r[0] for r in rows} - exclude
        if found:
            return found.pop()
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError("the run never reached its slow statement")


def test_killed_run_on_an_existing_server_is_listed_then_dropped_by_cleanup_a_live_one_kept(
        sandbox, rehearser, tmp_path):
    user = conninfo.conninfo_to_dict(rehearser)["user"]
    slow = slow_set(tmp_path, slow_down=True)  # sleeps in the rollback: its app role exists by then
    dead = start_cli("rehearse", str(slow), "--sandbox", rehearser)
    dead_db = sleeping_database(sandbox, user, set(), dead)
    live = start_cli("rehearse", str(slow), "--sandbox", rehearser)
    try:
        live_db = sleeping_database(sandbox, user, {dead_db}, live)
        dead.kill()
        dead.communicate(timeout=30)
        left = owned_by_pid(sandbox, dead.pid)
        print("left by the killed run:", left, "live run's:", owned_by_pid(sandbox, live.pid))
        assert dead_db in left and any(r.startswith("tenantaudit_app_") for r in left)
        assert live_db in owned_by_pid(sandbox, live.pid)

        quick = write(tmp_path / "quick", {"001_t.up.sql": TENANTS, "001_t.down.sql": "DROP TABLE tenants;"})
        nxt = run_cli("rehearse", str(quick), "--sandbox", rehearser, timeout=300)
        print("next run:", nxt.returncode, nxt.stderr[-3000:])
        assert f"removed temporary files left by dead run pid {dead.pid}" in nxt.stderr  # its local work folder
        (line,) = [ln for ln in nxt.stderr.splitlines() if f"leftovers of dead run pid {dead.pid}" in ln]
        assert "--cleanup" in line and all(name in line for name in left) and live_db not in nxt.stderr
        assert nxt.returncode == 0

        cleanup = run_cli("rehearse", "--cleanup", "--sandbox", rehearser)
        print("cleanup:", cleanup.returncode, cleanup.stdout, cleanup.stderr)
        assert cleanup.returncode == 0, cleanup.stderr
        assert f"left by dead run pid {dead.pid}" in cleanup.stdout
        assert owned_by_pid(sandbox, dead.pid) == []
        with sandbox.connect() as conn:
            assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (dead_db,)).fetchone() == (0,)
            assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (live_db,)).fetchone() == (1,)
        assert live.poll() is None, "the live run was disturbed"
    finally:
        live.send_signal(signal.SIGTERM)
        _, err = live.communicate(timeout=60)
    print("live run after SIGTERM:", live.returncode, err[-2000:])
    assert live.returncode == 128 + signal.SIGTERM
    assert owned_by_pid(sandbox, live.pid) == []  # SIGTERM dropped its databases and role


def test_two_runs_at_once_on_one_server_both_prove_every_probe(sandbox, rehearser, tmp_path):
    folder = write(tmp_path / "m", FENCED)
    outs = [tmp_path / "a.json", tmp_path / "b.json"]
    procs = [start_cli("rehearse", str(folder), "--sandbox", rehearser, "--json", str(out)) for out in outs]
    results = [p.communicate(timeout=300) for p in procs]
    roles = set()
    for proc, out, (_, err) in zip(procs, outs, results):
        report = json.loads(out.read_text())
        verify = next(p for p in report["phases"] if p["name"] == "verify")
        roles |= {d.split()[3] for d in verify["details"] if d.startswith("created app role")}
        outcomes = [p["outcome"] for p in report["probes"]]
        print(out.name, "exit", proc.returncode, "probes:", outcomes, "stderr:", err[-1500:])
        assert proc.returncode == 0, err
        assert outcomes and set(outcomes) == {"pass"}, outcomes
        assert not report.get("incomplete")
    print("app roles:", roles)
    assert len(roles) == 2 and all(r.startswith("tenantaudit_app_") for r in roles)  # one of its own each


def test_keep_on_an_existing_server_prints_sql_that_drops_what_it_kept(sandbox, rehearser, tmp_path):
    psql = Path(sandbox.binaries.bindir) / "psql"
    if not psql.is_file():
        pytest.skip(f"no psql beside {sandbox.binaries.bindir}")
    folder = write(tmp_path / "m", {"001_t.up.sql": TENANTS, "001_t.down.sql": "DROP TABLE tenants;"})
    report = run(folder, sandbox=rehearser, keep=True)
    (note,) = [n for n in report.notes if n.startswith("--keep")]
    cleanup = note.split("remove it with: ")[1][:-1]
    print("cleanup hint:", cleanup)
    user = conninfo.conninfo_to_dict(rehearser)["user"]
    with sandbox.connect() as conn:
        kept = [r[0] for r in conn.execute(
            "SELECT datname FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = %s)", (user,))]
    assert kept and all(name in cleanup for name in kept)
    proc = subprocess.run([str(psql), "-X", "-v", "ON_ERROR_STOP=1", "-d", rehearser, "-f", "-"],
                          input=cleanup, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    with sandbox.connect() as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = ANY(%s)", (kept,)).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'tenantaudit_app_%%'"
                            " AND shobj_description(oid, 'pg_authid') LIKE '%%--keep%%'").fetchone() == (0,)


# -- what the --sandbox role needs ------------------------------------------------------------

FORCED = {
    "001_rls.up.sql": "ALTER TABLE notes ENABLE ROW LEVEL SECURITY;\nALTER TABLE notes FORCE ROW LEVEL SECURITY;\n"
                      f"CREATE POLICY tenant_isolation ON notes USING ({FENCE});",
    "001_rls.down.sql": "DROP POLICY tenant_isolation ON notes;\nALTER TABLE notes NO FORCE ROW LEVEL SECURITY;\n"
                        "ALTER TABLE notes DISABLE ROW LEVEL SECURITY;",
}


def test_forced_rls_without_bypassrls_is_refused_naming_the_privilege_not_data_loss(sandbox, tmp_path):
    name = f"rls_rehearser_{os.getpid()}"
    dsn = make_role(sandbox, name, "CREATEDB CREATEROLE")  # what the README asked for
    try:
        baseline = tmp_path / "baseline.sql"
        baseline.write_text(TENANTS + "CREATE TABLE notes (id serial PRIMARY KEY, tenant_id uuid REFERENCES tenants,"
                            " body text); INSERT INTO tenants (name) VALUES ('a');"
                            " INSERT INTO notes (tenant_id, body) SELECT id, 'n' FROM tenants, generate_series(1, 3);")
        folder = write(tmp_path / "m", FORCED)
        out = tmp_path / "r.json"
        proc = run_cli("rehearse", str(folder), "--baseline", str(baseline), "--sandbox", dsn, "--json", str(out),
                       timeout=300)
        print("without BYPASSRLS:", proc.returncode, proc.stderr[-3000:])
        errors = [line for line in proc.stderr.splitlines() if line.startswith("tenantaudit: error")]
        assert proc.returncode == 3 and len(errors) == 1, proc.stderr
        assert f'ALTER ROLE "{name}" BYPASSRLS' in errors[0] and "public.notes" in errors[0]
        assert "upgrade-data-loss" not in proc.stdout + proc.stderr

        with sandbox.connect() as conn:  # the privilege the error names is the fix
            conn.execute(sql.SQL("ALTER ROLE {} BYPASSRLS").format(sql.Identifier(name)))
        proc = run_cli("rehearse", str(folder), "--baseline", str(baseline), "--sandbox", dsn, "--json", str(out),
                       timeout=300)
        report = json.loads(out.read_text())
        print("with BYPASSRLS:", proc.returncode, [(f["category"], f["message"]) for f in report["findings"]])
        assert not [f for f in report["findings"] if f["category"] in ("upgrade-data-loss", "rollback-data-loss")]
        assert {p["name"]: p["status"] for p in report["phases"]}["restore"] == "passed"
    finally:
        drop_role_and_its_databases(sandbox, name)


@pytest.mark.parametrize("attributes, missing", [("CREATEROLE", "CREATEDB"), ("CREATEDB", "CREATEROLE")])
def test_sandbox_role_without_a_needed_privilege_gets_one_line_with_the_fix(sandbox, tmp_path, attributes, missing):
    name = f"weak_{missing.lower()}_{os.getpid()}"
    dsn = make_role(sandbox, name, attributes)
    try:
        folder = write(tmp_path / "m", {"001_t.up.sql": TENANTS, "001_t.down.sql": "DROP TABLE tenants;"})
        proc = run_cli("rehearse", str(folder), "--sandbox", dsn, timeout=300)
        print(proc.returncode, proc.stderr[-2000:])
        errors = [line for line in proc.stderr.splitlines() if line.startswith("tenantaudit: ")]
        assert proc.returncode == 3
        assert [e for e in errors if "error" in e] == [e for e in errors if f'ALTER ROLE "{name}" {missing}' in e]
        assert len([e for e in errors if "error" in e]) == 1
        assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    finally:
        drop_role_and_its_databases(sandbox, name)


# -- credentials of child processes ------------------------------------------------------------

def recording_pg_bin(folder: Path, real_bindir: Path, log: Path) -> Path:
    """A --pg-bin folder whose pg_dump and pg_restore record their own /proc cmdline."""
    folder.mkdir()
    for tool in ("initdb", "pg_ctl", "postgres"):
        (folder / tool).symlink_to(real_bindir / tool)
    for tool in ("pg_dump", "pg_restore"):
        script = folder / tool
        script.write_text(f"#!/bin/sh\ntr '\\0' ' ' < /proc/$$/cmdline >> {log}\necho >> {log}\n"
                          f"exec {real_bindir / tool} \"$@\"\n")
        script.chmod(0o755)
    return folder


def test_passwords_never_reach_the_command_line_of_pg_dump_or_pg_restore(sandbox, db, tmp_path):
    secret = "s3cr:et\\pw@/x"  # a colon and a backslash: the passfile escapes them
    source_role = db.role("source")
    db.sql(f"""CREATE ROLE "{source_role}" LOGIN PASSWORD '{secret.replace("'", "''")}';
               {TENANTS}
               CREATE TABLE notes (id serial PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants, body text);
               GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{source_role}";""")
    source = conninfo.make_conninfo(host="127.0.0.1", port=str(sandbox.port), user=source_role, password=secret,
                                    dbname=db.name)
    name = f"argv_rehearser_{os.getpid()}"
    target = make_role(sandbox, name, "CREATEDB CREATEROLE BYPASSRLS", password=secret)
    target += " sslpassword=key-secret-pw"  # a client key's password is a secret too (unused without SSL)
    log = tmp_path / "argv.log"
    pg_bin = recording_pg_bin(tmp_path / "bin", Path(sandbox.binaries.bindir), log)
    try:
        folder = write(tmp_path / "m", {"001_idx.up.sql": "CREATE INDEX notes_tenant ON notes (tenant_id);",
                                        "001_idx.down.sql": "DROP INDEX notes_tenant;"})
        out = tmp_path / "r.json"
        proc = run_cli("rehearse", str(folder), "--from", source, "--sandbox", target, "--pg-bin", str(pg_bin),
                       "--json", str(out), timeout=300)
        argv = log.read_text() if log.exists() else ""
        print("exit", proc.returncode, "stderr:", proc.stderr[-2000:], "\nrecorded argv:\n" + argv)
        assert argv.count("pg_dump") >= 2 and "pg_restore" in argv  # --from's schema dump, the backup, the restore
        for piece in (secret, "s3cr", "et\\pw", "password=", "key-secret-pw"):
            assert piece not in argv
        assert secret not in proc.stdout + proc.stderr + out.read_text()
        assert "key-secret-pw" not in proc.stdout + proc.stderr + out.read_text()
        statuses = {p["name"]: p["status"] for p in json.loads(out.read_text())["phases"]}
        assert statuses["baseline"] == "passed" and statuses["restore"] in ("passed", "passed with findings"), statuses
        assert not list(tmp_path.glob("**/pgpass")) and not glob.glob(f"{tempfile.gettempdir()}/tenantaudit-rehearse-*/pgpass-*")
    finally:
        drop_role_and_its_databases(sandbox, name)


def test_pg_dump_failure_shows_its_error_line_not_the_detail(sandbox, db, rehearser, tmp_path):
    role = db.role("reader")
    db.sql(f"""CREATE ROLE "{role}" LOGIN PASSWORD 'reader-pw';
               CREATE TABLE secrets (id int); CREATE TABLE notes (id int);
               GRANT SELECT ON notes TO "{role}";""")  # no privilege on secrets: pg_dump cannot lock it
    source = db.sandbox.tcp_dsn(db.name, role, "reader-pw")
    folder = write(tmp_path / "m", {"001_t.up.sql": "SELECT 1;", "001_t.down.sql": "SELECT 1;"})
    proc = run_cli("rehearse", str(folder), "--from", source, "--sandbox", rehearser, timeout=300)
    print(proc.returncode, proc.stderr[-2000:])
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("tenantaudit: error")]
    assert proc.returncode == 2
    assert "pg_dump: error:" in line and "permission denied" in line and "secrets" in line
    assert "Query was" not in line and "reader-pw" not in proc.stderr
