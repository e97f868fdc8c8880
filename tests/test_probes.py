"""Behaviour as the application role: read probes on real rows, write probes on synthetic rows,
and data checks. Every test runs against real PostgreSQL."""

from pathlib import Path

import psycopg
import pytest
from conftest import hits

from tenantaudit.example import apply_files, create_app_role, migration_files
from tenantaudit.findings import FAILS_CLOSED_BY_ERROR, LEAK, NOT_PROVEN, PROVEN_BY_CONSTRAINT
from tenantaudit.rehearsal.fingerprint import data_fingerprint

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "voice_agent"
TENANT_A = "00000000-0000-0000-0000-00000000000a"
TENANT_B = "00000000-0000-0000-0000-00000000000b"


def outcomes(report, table: str) -> dict[str, str]:
    return {p.operation: p.outcome for p in report.probes if p.table == table}


@pytest.fixture
def two_tenants(db):
    db.tenants()
    db.fenced_table("items")
    db.sql(
        f"""
        INSERT INTO tenants (id, name) VALUES ('{TENANT_A}', 'a'), ('{TENANT_B}', 'b');
        INSERT INTO items (tenant_id, body) SELECT t.id, 'row ' || g FROM tenants t, generate_series(1, 5) g;
        """
    )
    return db


# -- read probes on the rows already there ---------------------------------------------------

def test_read_probes_pass_on_a_fenced_table(two_tenants):
    report = two_tenants.audit()
    assert outcomes(report, "items")["read"] == "pass"
    assert outcomes(report, "items")["unset-read"] == "pass"
    assert outcomes(report, "items")["insert"] == "skipped"


def test_read_probe_catches_a_permissive_true_policy(two_tenants):
    two_tenants.sql("CREATE POLICY everyone ON items FOR SELECT USING (true)")
    report = two_tenants.audit()
    assert outcomes(report, "items")["read"] == LEAK
    assert outcomes(report, "items")["unset-read"] == LEAK
    assert hits(report, "probe-read-leak") == ["public.items"]
    assert hits(report, "probe-unset-leak") == ["public.items"]


def test_unguarded_cast_fails_closed_by_error_once_the_setting_is_reset(two_tenants):
    two_tenants.sql(
        """DROP POLICY tenant_isolation ON items;
           CREATE POLICY tenant_isolation ON items USING (tenant_id = current_setting('app.tenant_id', true)::uuid)"""
    )
    report = two_tenants.audit()
    probe = next(p for p in report.probes if p.table == "items" and p.operation == "unset-read")
    assert probe.outcome == FAILS_CLOSED_BY_ERROR
    assert 'invalid input syntax for type uuid: ""' in probe.detail
    assert hits(report, "probe-unset-leak") == []


def test_read_probes_need_the_app_role(two_tenants):
    report = two_tenants.audit(app_role=None)
    assert report.probes == []
    assert any("--app-role" in note for note in report.notes)


# -- data checks ---------------------------------------------------------------------------

def test_null_and_orphan_tenant_rows(db):
    db.tenants()
    db.sql(
        f"""
        INSERT INTO tenants (id, name) VALUES ('{TENANT_A}', 'a');
        CREATE TABLE legacy (id serial PRIMARY KEY, tenant_id uuid);
        CREATE INDEX ON legacy (tenant_id);
        INSERT INTO legacy (tenant_id) VALUES (NULL), (NULL), ('{TENANT_A}'), ('{TENANT_B}');
        CREATE TABLE clean (id serial, tenant_id uuid NOT NULL REFERENCES tenants, PRIMARY KEY (tenant_id, id));
        """
    )
    report = db.audit()
    results = {(d.table, d.check): d for d in report.data_results}
    assert results[("legacy", "tenant-null-rows")].outcome == "fail"
    assert results[("legacy", "tenant-null-rows")].detail == "2 rows"
    assert results[("legacy", "orphan-tenant-rows")].outcome == "fail"
    assert results[("clean", "tenant-null-rows")].outcome == PROVEN_BY_CONSTRAINT
    assert results[("clean", "orphan-tenant-rows")].outcome == PROVEN_BY_CONSTRAINT
    assert hits(report, "tenant-null-rows") == ["public.legacy"]
    assert hits(report, "orphan-tenant-rows") == ["public.legacy"]
    # never row data: the orphan's tenant id does not appear anywhere in the findings
    assert TENANT_B not in repr(report.findings) + repr(report.data_results)


def test_data_check_that_runs_out_of_time_is_not_proven(db):
    db.tenants()
    db.sql(
        """CREATE TABLE big (id bigserial PRIMARY KEY, tenant_id uuid, pad text);
           INSERT INTO big (tenant_id, pad) SELECT gen_random_uuid(), repeat('x', 200) FROM generate_series(1, 300000);"""
    )
    report = db.audit(data_timeout="1ms")
    result = next(d for d in report.data_results if d.table == "big" and d.check == "tenant-null-rows")
    assert result.outcome == NOT_PROVEN and "--data-timeout" in result.detail
    assert hits(report, "tenant-null-rows") == []


# -- write probes on synthetic rows ----------------------------------------------------------

def write_audit(db, **options):
    return db.audit(probe="write", **options)


def test_write_probes_pass_on_a_fenced_table_and_change_nothing(two_tenants):
    with psycopg.connect(two_tenants.dsn) as conn:
        before = data_fingerprint(conn)
    report = write_audit(two_tenants)
    assert outcomes(report, "items") == {
        "read": "pass", "insert": "pass", "update": "pass", "delete": "pass", "move": "pass", "unset-read": "pass"
    }
    with psycopg.connect(two_tenants.dsn) as conn:
        assert data_fingerprint(conn) == before


def test_app_role_owning_the_table_without_force_leaks(two_tenants):
    two_tenants.sql(f'ALTER TABLE items NO FORCE ROW LEVEL SECURITY; ALTER TABLE items OWNER TO "{two_tenants.app_role}"')
    report = write_audit(two_tenants)
    assert outcomes(report, "items")["read"] == LEAK
    assert "public.items" in hits(report, "probe-read-leak")
    assert "public.items" in hits(report, "rls-not-forced")  # the static check explains it


def test_permissive_select_true_leaks_reads(two_tenants):
    two_tenants.sql("CREATE POLICY everyone ON items FOR SELECT USING (true)")
    report = write_audit(two_tenants)
    assert outcomes(report, "items")["read"] == LEAK
    assert outcomes(report, "items")["insert"] == "pass"


def test_insert_policy_with_check_true_leaks_writes(two_tenants):
    two_tenants.sql("CREATE POLICY anyone_inserts ON items FOR INSERT WITH CHECK (true)")
    report = write_audit(two_tenants)
    assert outcomes(report, "items")["insert"] == LEAK
    assert outcomes(report, "items")["read"] == "pass"
    assert hits(report, "probe-write-leak") == ["public.items"]


def test_restrictive_fence_beside_permissive_true_passes(two_tenants):
    two_tenants.sql(
        """DROP POLICY tenant_isolation ON items;
           CREATE POLICY everyone ON items USING (true) WITH CHECK (true);
           CREATE POLICY fence ON items AS RESTRICTIVE
             USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
             WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)"""
    )
    report = write_audit(two_tenants)
    assert set(outcomes(report, "items").values()) == {"pass"}


def test_unsatisfiable_table_is_not_proven_with_the_reason(db):
    db.tenants()
    db.sql(
        f"""CREATE TABLE impossible (id serial, tenant_id uuid NOT NULL REFERENCES tenants, n int NOT NULL,
                                     PRIMARY KEY (tenant_id, id), CONSTRAINT never CHECK (n > 1 AND n < 1));
            ALTER TABLE impossible ENABLE ROW LEVEL SECURITY;
            GRANT SELECT, INSERT, UPDATE, DELETE ON impossible TO "{db.app_role}";"""
    )
    report = write_audit(db)
    probes = [p for p in report.probes if p.table == "impossible"]
    assert probes and {p.outcome for p in probes} == {NOT_PROVEN}
    assert "never" in probes[0].detail


def test_tables_with_triggers_are_skipped_unless_asked(two_tenants):
    two_tenants.sql(
        """CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
           CREATE TRIGGER touch BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION touch();"""
    )
    assert set(outcomes(write_audit(two_tenants), "items").values()) == {"skipped"}
    assert outcomes(write_audit(two_tenants, probe_triggers=True), "items")["read"] == "pass"


def test_sequences_advanced_by_the_probe_are_listed(db):
    db.tenants()
    db.fenced_table("counters", columns="n bigserial")
    report = write_audit(db)
    assert report.sequences_advanced == ["public.counters_n_seq"]


def example(db, corrected: bool):
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        apply_files(conn, migration_files(EXAMPLE, corrected))
        role = db.role("demo")
        create_app_role(conn, role)
    return write_audit(db, app_role=role)


def test_example_as_written_write_probes(db):
    report = example(db, corrected=False)
    for cache in ("company_search_cache", "employees_cache"):
        assert outcomes(report, cache)["read"] == LEAK
        assert LEAK in {outcomes(report, cache)[op] for op in ("insert", "update", "delete", "move")}
    for table in ("leads", "voice_calls", "voice_agents", "voices", "phone_numbers"):
        seen = outcomes(report, table)
        assert {seen[op] for op in ("read", "insert", "update", "delete", "move")} == {"pass"}, (table, seen)
        assert seen["unset-read"] == FAILS_CLOSED_BY_ERROR, (table, seen)


def test_example_corrected_write_probes_all_pass(db):
    report = example(db, corrected=True)
    assert report.probes
    assert {p.outcome for p in report.probes} == {"pass"}, [p for p in report.probes if p.outcome != "pass"]


# -- what does not count as a pass ----------------------------------------------------------

def test_a_refusal_by_a_constraint_is_not_a_pass(db):
    db.tenants()
    db.sql(
        f"""CREATE TABLE tenant_settings (tenant_id uuid PRIMARY KEY REFERENCES tenants, theme text);
            GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_settings TO "{db.app_role}";"""
    )
    seen = {p.operation: p for p in write_audit(db).probes if p.table == "tenant_settings"}
    assert seen["read"].outcome == LEAK  # no RLS at all
    # moving A's row onto B's key collides with B's row: that is the primary key, not a fence
    assert seen["move"].outcome == NOT_PROVEN
    assert "refused by a constraint, not by the tenant fence" in seen["move"].detail
    assert "23505" in seen["move"].detail and TENANT_A not in seen["move"].detail


def test_a_wrong_setting_name_proves_nothing(two_tenants):
    report = two_tenants.audit(setting="app.tenant")  # the policies read app.tenant_id
    assert outcomes(report, "items")["read"] == NOT_PROVEN
    report = write_audit(two_tenants, setting="app.tenant")
    assert {outcomes(report, "items")[op] for op in ("read", "update", "delete", "insert")} == {NOT_PROVEN}


def test_percent_signs_in_names_do_not_break_the_probes(db):
    db.tenants()
    db.fenced_table("promo%s", columns='"100%" text')
    db.sql(f"INSERT INTO tenants (id, name) VALUES ('{TENANT_A}', 'a'), ('{TENANT_B}', 'b')")
    db.sql(f"""INSERT INTO "promo%s" (tenant_id, "100%") VALUES ('{TENANT_A}', 'x'), ('{TENANT_B}', 'y')""")
    assert outcomes(db.audit(), "promo%s")["read"] == "pass"
    assert set(outcomes(write_audit(db), "promo%s").values()) == {"pass"}


def test_values_the_server_quotes_back_are_not_shown(db):
    db.tenants()
    db.sql(
        f"""CREATE TABLE legacy (id serial PRIMARY KEY, tenant_id text NOT NULL);
            INSERT INTO legacy (tenant_id) VALUES ('cust-ACME-4711'), ('cust-OTHER-1');
            ALTER TABLE legacy ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
            CREATE POLICY p ON legacy USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid::text);
            GRANT SELECT ON legacy TO "{db.app_role}";"""
    )
    report = db.audit()
    assert "cust-" not in repr(report.probes) + repr(report.findings) + repr(report.data_results)
    assert any(p.outcome == FAILS_CLOSED_BY_ERROR for p in report.probes if p.table == "legacy")
