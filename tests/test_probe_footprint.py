"""Write probes on a live server: least privilege and a bounded footprint.

Synthetic rows go in as each table's owner, never as the auditing role (here a superuser); the
probes run in batches of tables, one rolled-back transaction each, sized from the server's
max_locks_per_transaction, so that other sessions never run out of shared lock memory; a server
that cannot take writes is refused with one line. Every test runs against real PostgreSQL.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from conftest import quote, run_cli
from psycopg import sql

from tenantaudit.audit import audit
from tenantaudit.config import AuditConfig
from tenantaudit.findings import NOT_PROVEN
from tenantaudit.sandbox import EmbeddedPostgres
from tenantaudit.audit.synth import Synthesizer

ALL_PASS = {op: "pass" for op in ("read", "insert", "update", "delete", "move", "unset-read")}


def outcomes(report, table: str) -> dict[str, str]:
    return {p.operation: p.outcome for p in report.probes if p.table == table}


def details(report, table: str) -> dict[str, str]:
    return {p.operation: p.detail for p in report.probes if p.table == table}


# A column default that records who inserted the row and, were that a superuser, leaves a trace
# that outlives the rollback (a sequence advanced): what an owner's planted DEFAULT would exploit.
MARK = """
CREATE SEQUENCE public.ran_as_superuser;
GRANT USAGE ON SEQUENCE public.ran_as_superuser TO PUBLIC;
CREATE FUNCTION public.who_inserts() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
    PERFORM pg_catalog.nextval('public.ran_as_superuser');
  END IF;
  RETURN current_user;
END $$;
"""


def ran_as_superuser(db) -> bool:
    return db.sql("SELECT is_called FROM public.ran_as_superuser")[0][0]


@pytest.fixture
def owned(db):
    """items, fenced and FORCEd, owned by an unprivileged role; `who` records the inserting role,
    and a CHECK accepts only rows the owner inserts."""
    owner = db.role("owner")
    db.sql(f"CREATE ROLE {quote(owner)} NOLOGIN")
    db.tenants()
    db.sql(MARK)
    db.fenced_table("items", columns="who text NOT NULL DEFAULT public.who_inserts(), body text")
    db.sql(
        f"""ALTER TABLE items ADD CONSTRAINT inserted_by_owner CHECK (who = '{owner}');
            ALTER TABLE items OWNER TO {quote(owner)};"""
    )
    db.owner = owner
    return db


def test_synthetic_rows_are_inserted_as_the_tables_owner(owned):
    report = owned.audit(probe="write")
    seen = outcomes(report, "items")
    print("outcomes:", seen, "\ndetails:", details(report, "items"))
    # On the commit before, the superuser inserted: CHECK (who = owner) refused every row.
    assert seen == ALL_PASS
    assert not ran_as_superuser(owned), "the owner's DEFAULT ran as a superuser"
    assert "public.ran_as_superuser" not in report.sequences_advanced


def test_the_row_records_the_owner_and_the_role_is_restored(owned):
    with psycopg.connect(owned.dsn) as conn:
        try:
            conn.execute("SELECT 1")
            oid = lambda name: conn.execute("SELECT %s::regclass::oid", (name,)).fetchone()[0]  # noqa: E731
            synth = Synthesizer(conn, [oid("items")], tenant_column="tenant_id", tenant_table_oid=oid("tenants"),
                                as_owner=True)
            tenant = synth.new_tenant()
            conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(tenant),))  # RLS is FORCEd on the owner
            row = synth.insert_row(oid("items"), tenant)
            print("row values:", row.values)
            assert row.values["who"] == owned.owner
            assert conn.execute("SELECT current_user").fetchone()[0] == "postgres"  # back to the auditing role
        finally:
            conn.rollback()
    assert not ran_as_superuser(owned)


def test_an_owner_the_auditor_cannot_become_is_not_proven_with_the_fix(owned):
    auditor, keeper = owned.role("auditor"), owned.role("keeper")
    owned.sql(
        f"""CREATE ROLE {quote(auditor)} LOGIN BYPASSRLS;
            CREATE ROLE {quote(keeper)} NOLOGIN;
            ALTER TABLE public.tenants OWNER TO {quote(keeper)};
            GRANT {quote(keeper)} TO {quote(auditor)};
            GRANT {quote(owned.app_role)} TO {quote(auditor)};
            GRANT SELECT ON ALL TABLES IN SCHEMA public TO {quote(auditor)};
            GRANT INSERT ON public.tenants TO {quote(auditor)};"""
    )
    report = audit(owned.sandbox.dsn(owned.name, user=auditor), AuditConfig(app_role=owned.app_role, probe="write"))
    seen, why = outcomes(report, "items"), details(report, "items")
    print("outcomes:", seen, "\ndetails:", why)
    assert set(seen.values()) == {NOT_PROVEN}
    assert f"GRANT {owned.owner} TO {auditor}" in why["read"]
    assert not report.incomplete  # a privilege, not the server: nothing to retry


def test_owner_refused_by_its_own_forced_policies_is_not_inserted_by_the_superuser_when_owner_code_runs(owned):
    """FORCEd policies only TO the app role refuse the owner even with the tenant set. The auditing
    role (a superuser) would insert the row itself only if that ran none of the owner's code; a
    DEFAULT calling the owner's function makes the table not proven instead."""
    owned.sql(
        f"""DROP POLICY tenant_isolation ON items;
            CREATE POLICY tenant_isolation ON items TO {quote(owned.app_role)}
              USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
              WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);"""
    )
    report = owned.audit(probe="write")
    seen, why = outcomes(report, "items"), details(report, "items")
    print("outcomes:", seen, "\ndetails:", why)
    assert set(seen.values()) == {NOT_PROVEN}
    assert "who_inserts" in why["read"]
    assert not ran_as_superuser(owned)
    # The same table with a default of PostgreSQL's own is inserted (by the auditing role) and proven.
    owned.sql("ALTER TABLE items DROP CONSTRAINT inserted_by_owner; ALTER TABLE items ALTER who SET DEFAULT 'x'")
    assert outcomes(owned.audit(probe="write"), "items") == ALL_PASS


# -- read-only servers ----------------------------------------------------------------------


def test_write_probes_on_a_read_only_database_end_in_one_line(owned):
    owned.sql(f"ALTER DATABASE {quote(owned.name)} SET default_transaction_read_only = on")
    result = run_cli("check", owned.dsn, "--app-role", owned.app_role, "--probe", "write")
    print("exit", result.returncode, "\nstdout:", result.stdout[-2000:], "\nstderr:", result.stderr)
    assert result.returncode == 3
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "default_transaction_read_only" in lines[0]
    assert "use --probe read, or point at the primary" in lines[0]
    assert "internal error" not in result.stderr + result.stdout
    # --probe read is fine there
    assert run_cli("check", owned.dsn, "--app-role", owned.app_role, "--probe", "read").returncode in (0, 1)


# -- a bounded footprint: the lock table of a small server, and a bystander -----------------------

TABLES = 240
FENCE = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"


def test_batches_keep_the_lock_table_free_for_other_sessions():
    """max_locks_per_transaction = 10 and few connections: the shared lock table holds a few
    hundred locks for everyone. One transaction over 240 tables (the commit before) filled it:
    "out of shared memory" for the probes and for any other session. In batches, a bystander
    working across 30 tables per transaction sees no error, and every result is proven."""
    settings = {
        "max_locks_per_transaction": "10",
        "max_connections": "12",
        "max_wal_senders": "0",
        "max_worker_processes": "2",
        "autovacuum": "off",
    }
    with EmbeddedPostgres(settings=settings) as pg:
        pg.create_database("fp")
        dsn = pg.dsn("fp")
        started = time.monotonic()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE ROLE fp_app NOLOGIN; GRANT USAGE ON SCHEMA public TO fp_app")
            conn.execute("CREATE TABLE tenants (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL)")
            conn.execute("INSERT INTO tenants (name) SELECT 'tenant ' || g FROM generate_series(1, 3) g")
            for i in range(TABLES):  # one transaction each: the setup must not fill the lock table either
                conn.execute(
                    f"""CREATE TABLE t{i:03d} (id uuid NOT NULL DEFAULT gen_random_uuid(),
                          tenant_id uuid NOT NULL REFERENCES tenants (id), n serial, body text,
                          PRIMARY KEY (tenant_id, id));
                        ALTER TABLE t{i:03d} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
                        CREATE POLICY fence ON t{i:03d} USING ({FENCE}) WITH CHECK ({FENCE});
                        GRANT SELECT, INSERT, UPDATE, DELETE ON t{i:03d} TO fp_app; GRANT USAGE ON SEQUENCE t{i:03d}_n_seq TO fp_app;
                        INSERT INTO t{i:03d} (tenant_id, body) SELECT id, 'x' FROM tenants;"""
                )
        print(f"schema of {TABLES} tables built in {time.monotonic() - started:.1f}s")

        errors: list[str] = []
        rounds = 0
        stop = threading.Event()

        def bystander() -> None:
            """Ordinary work: a transaction that reads and writes 30 tables, over and over."""
            nonlocal rounds
            with psycopg.connect(dsn) as conn:
                while not stop.is_set():
                    offset = (rounds * 30) % TABLES
                    try:
                        tenant = conn.execute("SELECT id::text FROM tenants LIMIT 1").fetchone()[0]
                        conn.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant,))
                        for i in range(offset, offset + 30):
                            name = sql.Identifier(f"t{i % TABLES:03d}")
                            conn.execute(sql.SQL("SELECT count(*) FROM {}").format(name)).fetchone()
                            conn.execute(sql.SQL("INSERT INTO {} (tenant_id, body) VALUES (%s, 'b')").format(name), (tenant,))
                        conn.rollback()
                    except psycopg.Error as exc:
                        errors.append(f"{exc.sqlstate}: {str(exc).splitlines()[0]}")
                        conn.rollback()
                    rounds += 1
                    stop.wait(0.01)

        worker = threading.Thread(target=bystander)
        worker.start()
        try:
            started = time.monotonic()
            report = audit(dsn, AuditConfig(app_role="fp_app", probe="write", data_checks=False))
            elapsed = time.monotonic() - started
        finally:
            stop.set()
            worker.join()
        not_proven = [p for p in report.probes if p.outcome != "pass"]
        print(
            f"write probes: {elapsed:.1f}s, {report.probe_batches} batches, {len(report.probes)} results, "
            f"{len(not_proven)} not pass (first: {not_proven[:3]}), incomplete: {report.incomplete}; "
            f"bystander: {rounds} transactions, errors: {errors[:5]}"
        )
        assert rounds > 0
        assert errors == []
        assert len(report.probes) == TABLES * 6 and not_proven == []
        assert report.incomplete == []
        assert report.probe_batches > 1


def test_write_probes_on_a_hot_standby_end_in_one_line(tmp_path):
    """A streaming replica of a cluster with a fenced table: the read-only audit runs there, and
    --probe write stops with one line (exit 3), not an internal error."""
    with EmbeddedPostgres() as pg:
        pg.create_database("hs")
        with psycopg.connect(pg.dsn("hs"), autocommit=True) as conn:
            conn.execute(
                f"""CREATE ROLE hs_app NOLOGIN; GRANT USAGE ON SCHEMA public TO hs_app;
                    CREATE TABLE tenants (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL);
                    CREATE TABLE items (id uuid NOT NULL DEFAULT gen_random_uuid(),
                      tenant_id uuid NOT NULL REFERENCES tenants (id), PRIMARY KEY (tenant_id, id));
                    ALTER TABLE items ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
                    CREATE POLICY fence ON items USING ({FENCE}) WITH CHECK ({FENCE});
                    GRANT SELECT, INSERT, UPDATE, DELETE ON items TO hs_app;"""
            )
        standby = pg.tempdir / "standby"
        port = pg.port + 1 if pg.port < 65000 else pg.port - 1
        pg._run([pg.binaries.tool("pg_basebackup"), "-D", str(standby), "-R", "-X", "stream", "-c", "fast",
                 "-h", str(pg.socket_dir), "-p", str(pg.port), "-U", pg.superuser], what="pg_basebackup")
        options = f"-k {pg.socket_dir} -p {port} -c listen_addresses= -c hot_standby=on"
        pg._run([pg.binaries.tool("pg_ctl"), "-D", str(standby), "-l", str(pg.tempdir / "standby.log"), "-w", "-t", "60",
                 "-o", options, "start"], what="pg_ctl start standby")
        try:
            dsn = f"host={pg.socket_dir} port={port} dbname=hs user={pg.superuser}"
            with psycopg.connect(dsn, autocommit=True) as conn:
                assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
            result = run_cli("check", dsn, "--app-role", "hs_app", "--probe", "write")
            print("exit", result.returncode, "\nstdout:", result.stdout[-1500:], "\nstderr:", result.stderr)
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            assert result.returncode == 3
            assert len(lines) == 1 and "hot standby" in lines[0] and "use --probe read, or point at the primary" in lines[0]
            assert "internal error" not in result.stderr + result.stdout
            read = run_cli("check", dsn, "--app-role", "hs_app", "--probe", "read")
            print("--probe read: exit", read.returncode, read.stderr)
            assert read.returncode in (0, 1)
        finally:
            pg._run([pg.binaries.tool("pg_ctl"), "-D", str(standby), "-m", "immediate", "-w", "stop"], what="pg_ctl stop standby")


def test_results_a_lock_kept_from_being_proven_make_the_run_incomplete(owned):
    """Another session holds EXCLUSIVE on items (reads go on, writes wait): the synthetic rows
    cannot go in within --lock-timeout. Those results are not proven for a server-side reason:
    report.incomplete says so and the CLI exits 4, never 0 as if clean."""
    with psycopg.connect(owned.dsn) as locker:
        locker.execute("LOCK TABLE public.items IN EXCLUSIVE MODE")
        report = owned.audit(probe="write", lock_timeout="200ms")
        result = run_cli("check", owned.dsn, "--app-role", owned.app_role, "--probe", "write", "--lock-timeout", "200ms",
                         "--json", "-")
        locker.rollback()
    seen, why = outcomes(report, "items"), details(report, "items")
    print("outcomes:", seen, "\ndetails:", why, "\nincomplete:", report.incomplete, "\nCLI exit:", result.returncode)
    assert set(seen.values()) == {NOT_PROVEN}
    assert {p.server_cause for p in report.probes if p.table == "items"} == {"55P03"}
    assert len(report.incomplete) == 1 and "55P03" in report.incomplete[0] and report.incomplete[0].startswith("6 ")
    assert result.returncode == 4
