"""`check` on a live database: nothing changes, and no lock stronger than ACCESS SHARE is taken."""

import threading
import time

import psycopg
import pytest

from tenantaudit.rehearsal.fingerprint import data_fingerprint


@pytest.fixture
def populated(db):
    db.tenants()
    db.fenced_table("items")
    db.sql("CREATE TABLE public.loose (id serial PRIMARY KEY, tenant_id uuid, note text)")
    db.sql(
        """
        INSERT INTO tenants (id, name) VALUES ('00000000-0000-0000-0000-00000000000a', 'a'),
                                              ('00000000-0000-0000-0000-00000000000b', 'b');
        INSERT INTO items (tenant_id, body) SELECT t.id, 'row ' || g FROM tenants t, generate_series(1, 50) g;
        INSERT INTO loose (tenant_id, note) SELECT NULL, 'legacy ' || g FROM generate_series(1, 20) g;
        """
    )
    return db


def test_check_changes_no_data(populated):
    with psycopg.connect(populated.dsn) as conn:
        before = data_fingerprint(conn)
    report = populated.audit()
    assert report.findings  # the loose table has defects: the audit really ran
    with psycopg.connect(populated.dsn) as conn:
        after = data_fingerprint(conn)
    assert before == after and before["public.items"][0] == 100


def test_check_takes_nothing_stronger_than_access_share(populated):
    seen: set[tuple[str, str]] = set()
    stop = threading.Event()

    def watch_locks():
        with psycopg.connect(populated.dsn, autocommit=True) as conn:
            while not stop.is_set():
                rows = conn.execute(
                    """SELECT l.locktype, l.mode FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                       WHERE a.application_name = 'tenantaudit' AND l.locktype = 'relation'"""
                ).fetchall()
                seen.update(rows)
                time.sleep(0.001)

    # A session holding EXCLUSIVE on every user table lets ACCESS SHARE through but would block
    # any stronger lock: the audit would then fail on its lock_timeout.
    with psycopg.connect(populated.dsn) as holder:
        holder.execute("LOCK TABLE tenants, items, loose IN EXCLUSIVE MODE")
        watcher = threading.Thread(target=watch_locks)
        watcher.start()
        try:
            for _ in range(3):
                report = populated.audit()
        finally:
            stop.set()
            watcher.join()
        holder.rollback()
    assert report.findings
    assert seen, "the watcher never saw the audit's locks"
    assert {mode for _, mode in seen} == {"AccessShareLock"}


def test_audit_session_is_read_only_and_bounded(populated):
    from tenantaudit.db import connect_readonly

    conn = connect_readonly(populated.dsn, statement_timeout="5s", lock_timeout="1s")
    try:
        settings = dict(
            conn.execute(
                """SELECT name, setting FROM pg_settings WHERE name IN
                   ('statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout',
                    'application_name', 'transaction_read_only', 'transaction_isolation')"""
            ).fetchall()
        )
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("DELETE FROM public.items")
    finally:
        conn.rollback()
        conn.close()
    assert settings["statement_timeout"] == "5000" and settings["lock_timeout"] == "1000"
    assert int(settings["idle_in_transaction_session_timeout"]) > 0
    assert settings["application_name"] == "tenantaudit"
    assert settings["transaction_read_only"] == "on" and settings["transaction_isolation"] == "repeatable read"
