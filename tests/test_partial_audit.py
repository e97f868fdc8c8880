"""Partial results over lost audits: a locked table or an unreadable schema is *not audited*, with
the reason, and the audit goes on (exit 4 via the CLI when nothing else fails)."""

from __future__ import annotations

import json
import threading
import time
import xml.etree.ElementTree as ET

import psycopg
import pytest

from tenantaudit.audit import audit
from tenantaudit.config import AuditConfig
from tenantaudit.errors import EXIT_INCOMPLETE

from conftest import hits, quote, run_cli


@pytest.fixture
def three_tables(db):
    """Three fenced tenant tables; `loose` lacks NOT NULL so data checks read it."""
    db.tenants()
    for name in ("alpha", "beta", "gamma"):
        db.fenced_table(name)
    db.sql(
        """
        INSERT INTO tenants (id, name) VALUES ('00000000-0000-0000-0000-00000000000a', 'a'),
                                              ('00000000-0000-0000-0000-00000000000b', 'b');
        INSERT INTO alpha (tenant_id, body) SELECT id, 'x' FROM tenants;
        INSERT INTO beta (tenant_id, body) SELECT id, 'x' FROM tenants;
        INSERT INTO gamma (tenant_id, body) SELECT id, 'x' FROM tenants;
        -- beta: a unique key without the tenant (the catalogue must still see it on beta) and an
        -- index expression, a default and a CHECK (pg_get_expr / pg_get_indexdef lock the table)
        ALTER TABLE beta ADD COLUMN email text CHECK (email <> ''), ADD COLUMN n int DEFAULT 1;
        CREATE UNIQUE INDEX beta_email ON beta (lower(email));
        ALTER TABLE gamma ADD COLUMN email text UNIQUE;
        """
    )
    return db


class Holder:
    """A second session holding ACCESS EXCLUSIVE on one table, as a migration would."""

    def __init__(self, db, table: str, application_name: str = "migrator-42"):
        self.conn = psycopg.connect(db.dsn, application_name=application_name)
        self.conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        self.pid = self.conn.info.backend_pid

    def close(self):
        self.conn.rollback()
        self.conn.close()


def test_locked_table_is_not_audited_and_the_rest_is(three_tables):
    db = three_tables
    holder = Holder(db, "public.beta")
    try:
        started = time.monotonic()
        report = db.audit(lock_timeout="300ms", probe="read")
        seconds = time.monotonic() - started
    finally:
        holder.close()
    print("unaudited:", report.unaudited, "incomplete:", report.incomplete, f"{seconds:.1f}s")
    # beta is listed, with who holds the lock
    assert [(u["schema"], u["object"], u["kind"]) for u in report.unaudited] == [("public", "beta", "table")]
    reason = report.unaudited[0]["reason"]
    assert str(holder.pid) in reason and "migrator-42" in reason and "AccessExclusiveLock" in reason
    assert len(report.incomplete) == 1 and "1 table not audited" in report.incomplete[0]
    # the others were audited by the catalogue, the data checks and the probes
    assert hits(report, "unique-without-tenant") == ["public.gamma"]
    assert {c.qualified_name for c in report.coverage} == {"public.tenants", "public.alpha", "public.gamma"}
    print("probes:", [(p.table, p.operation, p.outcome, p.detail) for p in report.probes])
    assert {(p.table, p.operation) for p in report.probes if p.outcome == "pass"} >= {("alpha", "read"), ("gamma", "read")}
    assert not [p for p in report.probes if p.table == "beta"]
    assert not [d for d in report.data_results if d.table == "beta"]


def test_locked_table_cli_exits_4_and_every_format_says_so(three_tables, tmp_path):
    db = three_tables
    holder = Holder(db, "public.beta")
    try:
        result = run_cli(
            "check", db.dsn, "--app-role", db.app_role, "--fail-on", "critical", "--lock-timeout", "300ms",
            "--json", str(tmp_path / "r.json"), "--junit", str(tmp_path / "r.xml"),
            "--html", str(tmp_path / "r.html"), "--sarif", str(tmp_path / "r.sarif"),
            cwd=tmp_path,
        )
    finally:
        holder.close()
    print(result.stdout[-3000:], result.stderr)
    assert result.returncode == EXIT_INCOMPLETE, result.stderr
    out = result.stdout
    # the terminal says it before the findings, and never "no findings" alone
    assert "not audited" in out and "public.beta" in out and str(holder.pid) in out
    assert out.index("not audited") < out.index("MEDIUM")
    data = json.loads((tmp_path / "r.json").read_text())
    assert [u["object"] for u in data["unaudited"]] == ["beta"] and data["incomplete"]
    assert data["summary"]["complete"] is False
    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    beta = [c for c in suite.iter("testcase") if c.get("name") == "beta"]
    assert len(beta) == 1 and beta[0].find("error") is not None  # not a pass
    assert int(suite.get("errors")) >= 1
    html = (tmp_path / "r.html").read_text()
    assert "Not audited" in html and "migrator-42" in html
    sarif = json.loads((tmp_path / "r.sarif").read_text())
    notifications = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert sarif["runs"][0]["invocations"][0]["executionSuccessful"] is False
    assert any("public.beta" in n["message"]["text"] for n in notifications)


def test_lock_taken_after_the_scan_is_retried_not_fatal(three_tables):
    """A lock that arrives between the scan and a check (a race) is found by a re-scan."""
    db = three_tables
    holder: list[Holder] = []
    from tenantaudit.audit import catalog

    original = catalog.find_unaudited

    def scan_then_lock(conn, scope, known=None):
        found = original(conn, scope, known)
        if not holder:  # the first scan sees nothing; then the lock arrives
            holder.append(Holder(db, "public.beta", "late-locker"))
        return found

    catalog.find_unaudited = scan_then_lock
    try:
        report = db.audit(lock_timeout="300ms", probe="none")
    finally:
        catalog.find_unaudited = original
        for h in holder:
            h.close()
    print("unaudited:", report.unaudited)
    assert [u["object"] for u in report.unaudited] == ["beta"]
    assert "late-locker" in report.unaudited[0]["reason"]
    assert hits(report, "unique-without-tenant") == ["public.gamma"]


def test_waiting_lock_counts_too(three_tables):
    """An ACCESS EXCLUSIVE request still waiting (behind another session's lock) blocks the audit's
    ACCESS SHARE as well: the table is not audited, the waiting session is named."""
    db = three_tables
    first = psycopg.connect(db.dsn, application_name="reader")
    first.execute("SELECT FROM public.alpha LIMIT 1")  # holds ACCESS SHARE
    waiter = psycopg.connect(db.dsn, application_name="alter-waiting", autocommit=True)
    pid = waiter.info.backend_pid
    thread = threading.Thread(target=lambda: waiter.execute("ALTER TABLE public.alpha ADD COLUMN z int"))
    thread.start()
    try:
        for _ in range(200):
            with psycopg.connect(db.dsn, autocommit=True) as c:
                if c.execute("SELECT FROM pg_locks WHERE pid = %s AND NOT granted", (pid,)).fetchone():
                    break
            time.sleep(0.02)
        report = db.audit(lock_timeout="300ms", probe="none")
    finally:
        first.rollback()
        thread.join()
        first.close()
        waiter.close()
    print("unaudited:", report.unaudited)
    assert [u["object"] for u in report.unaudited] == ["alpha"]
    assert str(pid) in report.unaudited[0]["reason"] and "waiting" in report.unaudited[0]["reason"]


@pytest.fixture
def auditor_without_usage(db):
    """A LOGIN auditor (not superuser) that can read pg_catalog and every table except that it
    lacks USAGE on schema `hidden`; a table in `hidden` lacks NOT NULL (a data check must read it)."""
    db.tenants()
    db.fenced_table("items")
    db.fenced_table("secret", schema="hidden")
    db.sql("CREATE TABLE public.loose (id serial PRIMARY KEY, tenant_id uuid REFERENCES tenants (id), note text)")
    db.sql("CREATE TABLE hidden.open (id serial PRIMARY KEY, tenant_id uuid, note text)")
    db.sql("INSERT INTO tenants (id, name) VALUES ('00000000-0000-0000-0000-00000000000a', 'a'),"
           " ('00000000-0000-0000-0000-00000000000b', 'b');"
           "INSERT INTO items (tenant_id, body) SELECT id, 'x' FROM tenants")
    auditor = db.role("auditor")
    db.sql(
        # NOINHERIT: it may SET ROLE to the application role (probes) without inheriting its
        # USAGE on `hidden`; BYPASSRLS: it sees every row, as an auditing role should
        f"""CREATE ROLE {quote(auditor)} LOGIN NOINHERIT BYPASSRLS;
            GRANT USAGE ON SCHEMA public TO {quote(auditor)};
            GRANT SELECT ON ALL TABLES IN SCHEMA public TO {quote(auditor)};
            GRANT SELECT ON ALL TABLES IN SCHEMA hidden TO {quote(auditor)};
            GRANT {quote(db.app_role)} TO {quote(auditor)};"""
    )
    return db, auditor


def test_schema_without_usage_is_not_audited_and_the_rest_is(auditor_without_usage):
    db, auditor = auditor_without_usage
    dsn = db.sandbox.dsn(db.name, user=auditor)
    report = audit(dsn, AuditConfig(app_role=db.app_role, probe="read"))
    print("unaudited:", report.unaudited, "incomplete:", report.incomplete)
    print("data:", report.data_results, "probes:", report.probes, "notes:", report.notes)
    objects = sorted((u["schema"], u["object"]) for u in report.unaudited)
    assert objects == [("hidden", "open"), ("hidden", "secret")]
    for entry in report.unaudited:
        assert f"GRANT USAGE ON SCHEMA hidden TO {auditor}" in entry["reason"]
    assert any("GRANT USAGE ON SCHEMA hidden" in line for line in report.incomplete)
    # public is audited: the data check read public.loose, the probes ran on items
    assert [(d.table, d.outcome) for d in report.data_results if d.check == "tenant-null-rows" and d.table == "loose"] == [
        ("loose", "pass")
    ]
    assert [p.outcome for p in report.probes if p.table == "items" and p.operation == "read"] == ["pass"]
    assert not [d for d in report.data_results if d.schema == "hidden"]
    assert not [p for p in report.probes if p.schema == "hidden"]
    # the catalogue still judges hidden's tables from pg_catalog (which needs no USAGE)
    assert "hidden.open" in hits(report, "rls-disabled")


def test_schema_without_usage_cli_exits_4_with_the_grant(auditor_without_usage, tmp_path):
    db, auditor = auditor_without_usage
    (tmp_path / "tenantaudit.toml").write_text('lock-timeout = "1s"\n')  # the file option works too
    db.sql("ALTER TABLE hidden.open ENABLE ROW LEVEL SECURITY; ALTER TABLE hidden.open FORCE ROW LEVEL SECURITY;"
           "ALTER TABLE hidden.open ALTER COLUMN tenant_id SET NOT NULL;"
           "CREATE POLICY p ON hidden.open USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);"
           "DROP TABLE public.loose")
    result = run_cli(
        "check", db.sandbox.dsn(db.name, user=auditor), "--app-role", db.app_role, "--fail-on", "critical",
        "--json", str(tmp_path / "r.json"), cwd=tmp_path,
    )
    print(result.stdout[-3000:], result.stderr)
    assert result.returncode == EXIT_INCOMPLETE, result.stderr
    assert f"GRANT USAGE ON SCHEMA hidden TO {auditor}" in result.stdout
    data = json.loads((tmp_path / "r.json").read_text())
    assert {u["object"] for u in data["unaudited"]} == {"open", "secret"}


def test_missing_select_on_a_table_a_data_check_reads(db):
    """SELECT missing on one table a data check must read: that check is not audited, with the
    GRANT SELECT that fixes it; the audit goes on."""
    db.tenants()
    db.sql("CREATE TABLE public.loose (id serial PRIMARY KEY, tenant_id uuid REFERENCES tenants (id), note text)")
    db.sql("CREATE TABLE public.other (id serial PRIMARY KEY, tenant_id uuid REFERENCES tenants (id), note text)")
    auditor = db.role("auditor")
    db.sql(f"CREATE ROLE {quote(auditor)} LOGIN; GRANT SELECT ON public.tenants, public.other TO {quote(auditor)}")
    report = audit(db.sandbox.dsn(db.name, user=auditor), AuditConfig(app_role=db.app_role, probe="none"))
    print("unaudited:", report.unaudited, report.data_results)
    assert [(u["object"], u["kind"]) for u in report.unaudited] == [("loose", "table")]
    assert f"GRANT SELECT ON public.loose TO {auditor}" in report.unaudited[0]["reason"]
    assert ("other", "tenant-null-rows", "pass") in {(d.table, d.check, d.outcome) for d in report.data_results}
    assert report.incomplete


def test_locked_partition_spares_its_parent_catalogue_but_not_its_rows(db):
    """ACCESS EXCLUSIVE on one partition (maintenance on it): the partition is not audited; its
    parent is still judged by the catalogue, but its rows are not read (that would wait)."""
    db.tenants()
    fence = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
    db.sql(
        f"""CREATE TABLE public.events (id int, tenant_id uuid REFERENCES tenants (id), at date NOT NULL,
                                         PRIMARY KEY (tenant_id, id, at)) PARTITION BY RANGE (at);
            CREATE TABLE public.events_2025 PARTITION OF public.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
            CREATE TABLE public.events_2026 PARTITION OF public.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
            ALTER TABLE public.events ENABLE ROW LEVEL SECURITY; ALTER TABLE public.events FORCE ROW LEVEL SECURITY;
            CREATE POLICY p ON public.events USING ({fence}) WITH CHECK ({fence});
            ALTER TABLE public.events_2026 ENABLE ROW LEVEL SECURITY;
            CREATE POLICY p ON public.events_2026 USING ({fence});
            CREATE TABLE public.loose (id int PRIMARY KEY, tenant_id uuid);"""
    )
    holder = Holder(db, "public.events_2026", "vacuum-full")
    try:
        started = time.monotonic()
        report = db.audit(lock_timeout="5s", probe="none")
        seconds = time.monotonic() - started
    finally:
        holder.close()
    print("unaudited:", report.unaudited, "incomplete:", report.incomplete, f"{seconds:.1f}s")
    entries = {u["object"]: u["reason"] for u in report.unaudited}
    assert set(entries) == {"events_2026", "events"}
    assert "vacuum-full" in entries["events_2026"] and "events_2026" in entries["events"]
    # the parent is in the coverage (catalogue-judged), the locked partition is not
    assert {c.table for c in report.coverage} >= {"events", "events_2025", "loose"}
    assert "events_2026" not in {c.table for c in report.coverage}
    assert not [d for d in report.data_results if d.table == "events"]
    assert "public.loose" in hits(report, "rls-disabled")
    assert seconds < 5, "nothing waited for the lock (lock_timeout 5s)"


def test_locked_tenants_table_orphans_not_proven_without_waiting(db):
    db.tenants()
    db.sql("CREATE TABLE public.a (id int PRIMARY KEY, tenant_id uuid NOT NULL);"
           "CREATE TABLE public.b (id int PRIMARY KEY, tenant_id uuid NOT NULL)")
    holder = Holder(db, "public.tenants", "tenant-migration")
    try:
        started = time.monotonic()
        report = db.audit(lock_timeout="5s", probe="none")
        seconds = time.monotonic() - started
    finally:
        holder.close()
    print("unaudited:", report.unaudited, "data:", report.data_results, f"{seconds:.1f}s")
    assert [u["object"] for u in report.unaudited] == ["tenants"]
    orphans = {d.table: (d.outcome, d.detail) for d in report.data_results if d.check == "orphan-tenant-rows"}
    assert set(orphans) == {"a", "b"}
    assert all(o == "not proven" and "tenants table is locked" in why for o, why in orphans.values())
    assert hits(report, "tenant-fk-missing") == ["public.a", "public.b"]
    assert seconds < 5, "no data check waited for the lock (lock_timeout 5s)"
