"""Lock tracing (tenantaudit.rehearsal.locks) against real PostgreSQL.

The database holds two pre-existing tables with rows (tenants: 2, leads: 8) and one empty table.
Statements run the way the rehearsal runs them: an autocommit connection, an explicit BEGIN around
a transactional migration, nothing around a non-transactional one.
"""

from __future__ import annotations

import json
import re

import psycopg
import pytest
from psycopg import errors

from tenantaudit.findings import Severity
from tenantaudit.rehearsal.locks import (
    BLOCKS,
    CONFLICTS,
    LOCK_MODES,
    HeldLock,
    LockTracer,
    StatementTrace,
    lock_findings,
    safer_form,
)

GUIDE_ADD_COLUMN = "ALTER TABLE leads ADD COLUMN IF NOT EXISTS tenant_id UUID REFERENCES tenants(id) ON DELETE CASCADE;"
GUIDE_INDEX = "CREATE INDEX IF NOT EXISTS idx_leads_tenant_id ON leads(tenant_id);"
GUIDE_RLS = "ALTER TABLE leads ENABLE ROW LEVEL SECURITY;"
GUIDE_NOT_NULL = "ALTER TABLE leads ALTER COLUMN tenant_id SET NOT NULL"


def _row_counts(conn: psycopg.Connection) -> dict[str, int]:
    """What the data fingerprint gives the tracer: 'schema.table' -> rows before any migration."""
    names = conn.execute(
        """SELECT n.nspname, c.relname FROM pg_catalog.pg_class c
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'm') AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'"""
    ).fetchall()
    return {
        f"{schema}.{name}": conn.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchone()[0]
        for schema, name in names
    }


@pytest.fixture
def legacy(db):
    db.sql(
        """
        CREATE TABLE public.tenants (id int PRIMARY KEY, name text NOT NULL);
        INSERT INTO public.tenants VALUES (1, 'a'), (2, 'b');
        CREATE TABLE public.leads (id int PRIMARY KEY, tenant_ref int, note text);
        INSERT INTO public.leads SELECT g, 1 + g % 2, 'lead ' || g FROM generate_series(1, 8) g;
        CREATE TABLE public.empty_t (id int PRIMARY KEY);
        """
    )
    return db


@pytest.fixture
def conn(legacy):
    with psycopg.connect(legacy.dsn, autocommit=True) as connection:
        yield connection


@pytest.fixture
def tracer(conn):
    rows = _row_counts(conn)
    assert rows == {"public.tenants": 2, "public.leads": 8, "public.empty_t": 0}
    return LockTracer(conn, rows)


def run(tracer: LockTracer, sql_text: str, line: int = 1) -> StatementTrace:
    return tracer.run(sql_text, migration="006_test", direction="up", file="006_test.up.sql", line=line, summary=sql_text)


def begin(conn: psycopg.Connection, tracer: LockTracer) -> None:
    conn.execute("BEGIN")
    tracer.begin_transaction()


def on(trace: StatementTrace, relation: str) -> list[HeldLock]:
    return [lock for lock in trace.locks if lock.relation == relation]


# ---- what each mode blocks ------------------------------------------------------------------


def _sql_mode(mode: str) -> str:
    """'ShareRowExclusiveLock' -> 'SHARE ROW EXCLUSIVE' (LOCK TABLE syntax)."""
    return " ".join(re.findall(r"[A-Z][a-z]+", mode.removesuffix("Lock"))).upper()


def test_blocks_follows_the_conflict_table():
    assert set(BLOCKS) == set(CONFLICTS) == set(LOCK_MODES)
    for mode, conflicts in CONFLICTS.items():
        reads = "AccessShareLock" in conflicts
        writes = "RowExclusiveLock" in conflicts
        expected = "reads and writes" if reads and writes else "writes" if writes else None
        assert BLOCKS[mode] == expected, mode
        for other in conflicts:  # the conflict relation is symmetric
            assert mode in CONFLICTS[other], (mode, other)


def test_blocks_matches_what_the_server_does(legacy):
    """Hold each mode in one session; see whether a SELECT and an INSERT of another session wait."""
    with psycopg.connect(legacy.dsn) as holder, psycopg.connect(legacy.dsn) as other:
        other.execute("SET lock_timeout = '100ms'")
        other.commit()
        for mode in LOCK_MODES:
            holder.execute(f"LOCK TABLE public.leads IN {_sql_mode(mode)} MODE")
            blocked = []
            for what, statement in (
                ("reads", "SELECT count(*) FROM public.leads"),
                ("writes", "INSERT INTO public.leads VALUES (1000, 1, 'probe')"),
            ):
                try:
                    other.execute(statement)
                except errors.LockNotAvailable:
                    blocked.append(what)
                other.rollback()
            holder.rollback()
            assert (" and ".join(blocked) or None) == BLOCKS[mode], mode


# ---- tracing statements ---------------------------------------------------------------------


def test_add_column_holds_access_exclusive(conn, tracer):
    begin(conn, tracer)
    trace = run(tracer, "ALTER TABLE leads ADD COLUMN x int", line=7)
    conn.execute("ROLLBACK")
    assert trace.in_transaction
    assert trace.duration_ms >= 0
    assert (trace.migration, trace.direction, trace.file, trace.line) == ("006_test", "up", "006_test.up.sql", 7)
    assert trace.statement == "ALTER TABLE leads ADD COLUMN x int"
    assert trace.locks == [HeldLock("public.leads", "table", "AccessExclusiveLock", "reads and writes", 8)]


def test_create_index_holds_share_lock(conn, tracer):
    begin(conn, tracer)
    trace = run(tracer, "CREATE INDEX ON leads (tenant_ref)")
    conn.execute("ROLLBACK")
    assert on(trace, "public.leads") == [HeldLock("public.leads", "table", "ShareLock", "writes", 8)]
    # the new index is locked too, but it is new: no row count, never heavy
    index = on(trace, "public.leads_tenant_ref_idx")
    assert [(lock.kind, lock.rows) for lock in index] == [("index", None)]
    assert [f.severity for f in lock_findings([trace])] == [Severity.MEDIUM]


def test_create_index_concurrently_in_autocommit_records_no_locks(conn, tracer):
    trace = run(tracer, "CREATE INDEX CONCURRENTLY leads_note_idx ON leads (note)")
    assert trace.in_transaction is False
    assert trace.locks == []
    assert lock_findings([trace]) == []
    valid = conn.execute(
        "SELECT indisvalid FROM pg_catalog.pg_index WHERE indexrelid = 'public.leads_note_idx'::regclass"
    ).fetchone()[0]
    assert valid is True
    assert trace.to_dict()["in_transaction"] is False


def test_select_takes_access_share_only(conn, tracer):
    begin(conn, tracer)
    trace = run(tracer, "SELECT count(*) FROM leads")
    conn.execute("ROLLBACK")
    assert on(trace, "public.leads") == [HeldLock("public.leads", "table", "AccessShareLock", None, 8)]
    assert lock_findings([trace]) == []


def test_foreign_key_not_valid_holds_share_row_exclusive_on_both_tables(conn, tracer):
    begin(conn, tracer)
    trace = run(tracer, "ALTER TABLE leads ADD CONSTRAINT leads_tenant_fk FOREIGN KEY (tenant_ref) REFERENCES tenants (id) NOT VALID")
    conn.execute("ROLLBACK")
    # PostgreSQL takes SHARE ROW EXCLUSIVE on both sides (and ACCESS SHARE on the referenced
    # table, which the stronger lock includes, so it is not reported separately)
    assert on(trace, "public.leads") == [HeldLock("public.leads", "table", "ShareRowExclusiveLock", "writes", 8)]
    assert on(trace, "public.tenants") == [HeldLock("public.tenants", "table", "ShareRowExclusiveLock", "writes", 2)]
    findings = lock_findings([trace])
    # already the short-lock form: nothing safer to suggest, so it is only low
    assert sorted((f.table, f.severity) for f in findings) == [("leads", Severity.LOW), ("tenants", Severity.LOW)]
    # already the safe form: nothing safer (judged on the full text: the 100-character summary
    # cuts NOT VALID off), the remediation says how to keep the brief lock brief
    assert "NOT VALID" not in trace.statement and trace.sql.endswith("NOT VALID")
    assert safer_form(trace.sql) is None
    assert all("lock_timeout" in f.remediation and "already" in f.remediation for f in findings)


def test_new_table_is_never_heavy(conn, tracer):
    begin(conn, tracer)
    created = run(tracer, "CREATE TABLE public.calls (id int PRIMARY KEY, lead_id int)")
    filled = run(tracer, "INSERT INTO public.calls SELECT g, g FROM generate_series(1, 50) g")
    altered = run(tracer, "ALTER TABLE public.calls ADD COLUMN tenant_ref int")
    conn.execute("ROLLBACK")
    assert [(lock.mode, lock.rows) for lock in on(created, "public.calls")] == [("AccessExclusiveLock", None)]
    assert on(filled, "public.calls") == []  # already held stronger
    assert lock_findings([created, filled, altered]) == []


def test_empty_pre_existing_table_is_not_heavy(conn, tracer):
    begin(conn, tracer)
    trace = run(tracer, "ALTER TABLE empty_t ADD COLUMN x int")
    conn.execute("ROLLBACK")
    assert trace.locks == [HeldLock("public.empty_t", "table", "AccessExclusiveLock", "reads and writes", 0)]
    assert lock_findings([trace]) == []


def test_locks_accumulate_and_only_new_or_stronger_ones_are_attributed(conn, tracer):
    begin(conn, tracer)
    read = run(tracer, "SELECT count(*) FROM leads", line=1)
    alter = run(tracer, "ALTER TABLE leads ADD COLUMN x int", line=2)
    index = run(tracer, "CREATE INDEX leads_x_idx ON leads (x)", line=3)
    again = run(tracer, "SELECT count(*) FROM leads", line=4)
    update = run(tracer, "UPDATE leads SET x = id", line=5)
    conn.execute("COMMIT")
    assert [lock.mode for lock in on(read, "public.leads")] == ["AccessShareLock"]
    # stronger than what was held: attributed
    assert [lock.mode for lock in on(alter, "public.leads")] == ["AccessExclusiveLock"]
    # SHARE (index build) and ROW EXCLUSIVE (update) are inside the ACCESS EXCLUSIVE already held
    assert on(index, "public.leads") == []
    assert [lock.relation for lock in index.locks] == ["public.leads_x_idx"]
    assert on(again, "public.leads") == [] and on(update, "public.leads") == []
    findings = lock_findings([read, alter, index, again, update])
    # ADD COLUMN without a default has no safer form: low (keep the lock short)
    assert [(f.line, f.severity) for f in findings] == [(2, Severity.LOW)]

    # a new transaction starts from nothing held
    begin(conn, tracer)
    fresh = run(tracer, "SELECT count(*) FROM leads")
    conn.execute("COMMIT")
    assert [lock.mode for lock in on(fresh, "public.leads")] == ["AccessShareLock"]


def test_a_new_transaction_is_noticed_without_begin_transaction(conn, tracer):
    begin(conn, tracer)
    run(tracer, "ALTER TABLE leads ADD COLUMN x int")
    conn.execute("COMMIT")
    conn.execute("BEGIN")  # the tracer is not told
    trace = run(tracer, "ALTER TABLE leads ADD COLUMN y int")
    conn.execute("ROLLBACK")
    assert [lock.mode for lock in on(trace, "public.leads")] == ["AccessExclusiveLock"]


def test_a_transaction_psycopg_opens_is_traced_too(legacy):
    with psycopg.connect(legacy.dsn) as connection:  # not autocommit: psycopg issues the BEGIN
        tracer = LockTracer(connection, _row_counts(connection))
        connection.commit()
        trace = run(tracer, "ALTER TABLE leads ADD COLUMN x int")
        connection.rollback()
    assert trace.in_transaction
    assert [lock.mode for lock in on(trace, "public.leads")] == ["AccessExclusiveLock"]


def test_dropped_relations_are_skipped(conn, tracer):
    begin(conn, tracer)
    trace = run(tracer, "DROP TABLE empty_t")
    conn.execute("ROLLBACK")
    assert on(trace, "public.empty_t") == []
    assert lock_findings([trace]) == []


def test_a_failing_statement_raises_its_psycopg_error(conn, tracer):
    begin(conn, tracer)
    with pytest.raises(errors.UndefinedTable):
        run(tracer, "ALTER TABLE no_such_table ADD COLUMN x int")
    conn.execute("ROLLBACK")
    with pytest.raises(psycopg.Error):
        run(tracer, "ALTER TABLE leads ADD COLUMN note text")  # duplicate column, in autocommit


def test_system_catalog_locks_are_not_reported(conn, tracer):
    begin(conn, tracer)
    trace = run(tracer, "CREATE POLICY p ON leads USING (true)")
    conn.execute("ROLLBACK")
    assert trace.locks and all(not lock.relation.startswith(("pg_catalog.", "information_schema.")) for lock in trace.locks)


def test_trace_to_dict_is_json_ready(conn, tracer):
    begin(conn, tracer)
    trace = run(tracer, "ALTER TABLE leads ADD COLUMN x int -- " + "y" * 200)
    conn.execute("ROLLBACK")
    data = json.loads(json.dumps(trace.to_dict()))
    assert set(data) == {"migration", "direction", "file", "line", "statement", "duration_ms", "locks", "in_transaction"}
    assert len(data["statement"]) <= 100
    assert data["locks"] == [
        {"relation": "public.leads", "kind": "table", "mode": "AccessExclusiveLock", "blocks": "reads and writes", "rows": 8}
    ]


# ---- findings -------------------------------------------------------------------------------


def test_findings_for_real_traces(conn, tracer):
    begin(conn, tracer)
    add = tracer.run(GUIDE_ADD_COLUMN.replace("UUID", "int"), migration="006_add_tenant_id_to_leads", direction="up",
                     file="006.up.sql", line=3, summary="ALTER TABLE leads ADD COLUMN IF NOT EXISTS tenant_id int REFERENCES tenants(id) ...")
    conn.execute("COMMIT")
    begin(conn, tracer)
    index = tracer.run(GUIDE_INDEX, migration="006_add_tenant_id_to_leads", direction="up", file="006.up.sql", line=5,
                       summary=GUIDE_INDEX)
    conn.execute("COMMIT")
    begin(conn, tracer)
    rls = tracer.run(GUIDE_RLS, migration="007_rls", direction="up", file="007.up.sql", line=1, summary=GUIDE_RLS)
    conn.execute("COMMIT")

    findings = lock_findings([add, index, rls])
    by_line = {(f.migration, f.line, f.table): f for f in findings}
    assert sorted(by_line) == [
        ("006_add_tenant_id_to_leads", 3, "leads"),
        ("006_add_tenant_id_to_leads", 3, "tenants"),
        ("006_add_tenant_id_to_leads", 5, "leads"),
        ("007_rls", 1, "leads"),
    ]
    for f in findings:
        assert (f.category, f.check, f.schema, f.phase, f.object_kind) == (
            "lock-heavy-statement", "rehearsal:lock_trace", "public", None, "table")

    added = by_line[("006_add_tenant_id_to_leads", 3, "leads")]
    assert added.severity == Severity.MEDIUM  # a safer form exists
    assert added.message.startswith(
        "ALTER TABLE leads ADD COLUMN IF NOT EXISTS tenant_id int REFERENCES tenants(id) ... holds AccessExclusiveLock"
        " on public.leads (8 rows): blocks reads and writes"
    )
    assert added.remediation == safer_form(GUIDE_ADD_COLUMN.replace("UUID", "int"))
    # the foreign key also locks the referenced table against writes
    referenced = by_line[("006_add_tenant_id_to_leads", 3, "tenants")]
    assert referenced.severity == Severity.MEDIUM and "ShareRowExclusiveLock on public.tenants (2 rows)" in referenced.message

    indexed = by_line[("006_add_tenant_id_to_leads", 5, "leads")]
    assert indexed.severity == Severity.MEDIUM
    assert "ShareLock on public.leads (8 rows): blocks writes" in indexed.message
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_leads_tenant_id ON leads(tenant_id);" in indexed.remediation

    secured = by_line[("007_rls", 1, "leads")]
    assert secured.severity == Severity.LOW  # no lock-free form: only keep it short
    assert "lock_timeout" in secured.remediation and "ENABLE ROW LEVEL SECURITY" in secured.remediation


def test_one_finding_per_statement_and_table_with_the_worst_lock():
    trace = StatementTrace(
        migration="m", direction="down", file="m.down.sql", line=9, statement="LOCK TABLE leads", duration_ms=1.0,
        locks=[
            HeldLock("public.leads", "table", "ShareLock", "writes", 8),
            HeldLock("public.leads", "table", "AccessExclusiveLock", "reads and writes", 8),
            HeldLock("public.leads_pkey", "index", "AccessExclusiveLock", "reads and writes", None),
            HeldLock("public.empty_t", "table", "AccessExclusiveLock", "reads and writes", 0),
            HeldLock("public.calls", "table", "AccessExclusiveLock", "reads and writes", None),
            HeldLock("public.tenants", "table", "ShareUpdateExclusiveLock", None, 2),
        ],
    )
    findings = lock_findings([trace])
    assert [(f.table, f.severity, f.line, f.migration) for f in findings] == [("leads", Severity.LOW, 9, "m")]
    assert "AccessExclusiveLock" in findings[0].message


# ---- safer forms ----------------------------------------------------------------------------


def test_safer_form_for_add_column_with_references():
    assert safer_form(GUIDE_ADD_COLUMN) == (
        "-- add the column without the foreign key (a brief lock, no scan):\n"
        "ALTER TABLE leads ADD COLUMN IF NOT EXISTS tenant_id UUID;\n"
        "-- add the constraint NOT VALID (existing rows are not scanned, the lock is brief):\n"
        "ALTER TABLE leads ADD CONSTRAINT leads_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE NOT VALID;\n"
        "-- then, in its own transaction (SHARE UPDATE EXCLUSIVE: reads and writes go on):\n"
        "ALTER TABLE leads VALIDATE CONSTRAINT leads_tenant_id_fkey;"
    )


def test_safer_form_for_create_index():
    form = safer_form(GUIDE_INDEX)
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_leads_tenant_id ON leads(tenant_id);" in form
    assert "outside a transaction" in form and "INVALID" in form
    assert "create unique INDEX CONCURRENTLY u on t (a);" in safer_form("create  unique index\n u on t (a) -- note")
    assert safer_form("CREATE INDEX CONCURRENTLY i ON t (a)") is None


def test_no_safer_form_for_row_level_security_or_policies():
    assert safer_form(GUIDE_RLS) is None
    assert safer_form("ALTER TABLE leads FORCE ROW LEVEL SECURITY") is None
    assert safer_form("CREATE POLICY tenant_isolation ON leads USING (tenant_id = current_setting('app.tenant_id')::uuid)") is None


def test_safer_form_for_set_not_null():
    assert safer_form(GUIDE_NOT_NULL) == (
        "-- prove NOT NULL with a CHECK that is validated without blocking reads or writes:\n"
        "ALTER TABLE leads ADD CONSTRAINT tenant_id_not_null CHECK (tenant_id IS NOT NULL) NOT VALID;\n"
        "ALTER TABLE leads VALIDATE CONSTRAINT tenant_id_not_null;  -- its own transaction: SHARE UPDATE EXCLUSIVE\n"
        "-- PostgreSQL 12+ then skips the full-table scan of SET NOT NULL (a brief lock):\n"
        "ALTER TABLE leads ALTER COLUMN tenant_id SET NOT NULL;\n"
        "ALTER TABLE leads DROP CONSTRAINT tenant_id_not_null;"
    )


def test_safer_form_for_foreign_keys_and_checks():
    named = safer_form("ALTER TABLE public.leads ADD CONSTRAINT leads_tenant_fk FOREIGN KEY (tenant_id) REFERENCES tenants (id);")
    assert "ALTER TABLE public.leads ADD CONSTRAINT leads_tenant_fk FOREIGN KEY (tenant_id) REFERENCES tenants (id) NOT VALID;" in named
    assert "ALTER TABLE public.leads VALIDATE CONSTRAINT leads_tenant_fk;" in named
    unnamed = safer_form("alter table leads add foreign key (tenant_id) references tenants(id)")
    assert "ADD CONSTRAINT leads_tenant_id_fkey FOREIGN KEY (tenant_id) references tenants(id) NOT VALID;" in unnamed
    check = safer_form("ALTER TABLE leads ADD CONSTRAINT positive CHECK (score > 0)")
    assert "ADD CONSTRAINT positive CHECK (score > 0) NOT VALID;" in check and "VALIDATE CONSTRAINT positive;" in check
    assert safer_form("ALTER TABLE leads ADD CONSTRAINT positive CHECK (score > 0) NOT VALID") is None
    assert safer_form("ALTER TABLE leads VALIDATE CONSTRAINT positive") is None


def test_safer_form_for_type_change_and_backfill():
    retype = safer_form("ALTER TABLE leads ALTER COLUMN score TYPE bigint")
    assert "ALTER TABLE leads ADD COLUMN score_new bigint;" in retype
    assert "RENAME COLUMN score TO score_old" in retype and "RENAME COLUMN score_new TO score" in retype
    backfill = safer_form("UPDATE leads SET tenant_id = (SELECT id FROM tenants WHERE name = 'legacy') WHERE tenant_id IS NULL;")
    assert "UPDATE leads SET tenant_id = (SELECT id FROM tenants WHERE name = 'legacy')" in backfill
    assert "WHERE (tenant_id IS NULL) AND leads.id IN (SELECT id FROM leads WHERE id > :last_id ORDER BY id LIMIT 1000);" in backfill
    assert safer_form("ALTER TABLE leads ADD COLUMN note2 text") is None
    assert safer_form("SELECT 1") is None and safer_form("") is None


def test_safer_forms_run_on_postgresql(legacy):
    """The suggestions are real SQL: they do what the original statements do, on real data."""
    legacy.sql(
        """CREATE TABLE public.guide_tenants (id uuid PRIMARY KEY DEFAULT gen_random_uuid());
           INSERT INTO public.guide_tenants DEFAULT VALUES;"""
    )
    legacy.sql(safer_form(GUIDE_ADD_COLUMN.replace("tenants(id)", "guide_tenants(id)")))
    legacy.sql("UPDATE leads SET tenant_id = (SELECT id FROM guide_tenants)")
    legacy.sql(safer_form(GUIDE_NOT_NULL))
    legacy.sql(safer_form(GUIDE_INDEX))  # CONCURRENTLY: runs because it is alone, outside a transaction
    state = legacy.sql(
        """SELECT a.attnotnull,
                  (SELECT convalidated FROM pg_catalog.pg_constraint WHERE conname = 'leads_tenant_id_fkey'),
                  (SELECT count(*) FROM pg_catalog.pg_constraint WHERE conname = 'tenant_id_not_null'),
                  (SELECT indisvalid FROM pg_catalog.pg_index WHERE indexrelid = 'public.idx_leads_tenant_id'::regclass)
           FROM pg_catalog.pg_attribute a WHERE a.attrelid = 'public.leads'::regclass AND a.attname = 'tenant_id'"""
    )
    assert state == [(True, True, 0, True)]
