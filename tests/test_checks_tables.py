"""Table-level checks: each fires on a purpose-built defect and stays quiet on the fenced form."""

from conftest import hits, of, quote

import pytest

from tenantaudit.findings import Severity


@pytest.fixture
def fenced(db):
    db.tenants()
    db.fenced_table("items")
    return db


def test_fenced_table_has_no_table_findings(fenced):
    assert fenced.audit().findings == []


def test_tenant_column_missing_fires_and_global_tables_are_exempt(fenced):
    fenced.sql("CREATE TABLE public.countries (code text PRIMARY KEY)")
    assert hits(fenced.audit(), "tenant-column-missing") == ["public.countries"]
    report = fenced.audit(global_tables=["countries"])
    assert hits(report, "tenant-column-missing") == []
    assert {c.table: c.kind for c in report.coverage}["countries"] == "global"


def test_tenant_column_nullable(fenced):
    fenced.sql("ALTER TABLE items DROP CONSTRAINT items_pkey, ADD PRIMARY KEY (id)")
    fenced.sql("ALTER TABLE items ALTER COLUMN tenant_id DROP NOT NULL")
    (finding,) = of(fenced.audit(), "tenant-column-nullable")
    assert (finding.qualified_name, finding.severity) == ("public.items", Severity.HIGH)
    assert "SET NOT NULL" in finding.remediation


def test_tenant_column_type(fenced):
    fenced.sql("CREATE TABLE public.notes (id serial PRIMARY KEY, tenant_id text NOT NULL)")
    fenced.sql("CREATE TABLE public.memos (id serial PRIMARY KEY, tenant_id uuid NOT NULL)")
    assert hits(fenced.audit(), "tenant-column-type") == ["public.notes"]


def test_tenant_fk_missing_and_not_valid_fk(fenced):
    fenced.sql("ALTER TABLE items DROP CONSTRAINT items_tenant_id_fkey")
    (finding,) = of(fenced.audit(), "tenant-fk-missing")
    assert "has no foreign key" in finding.message
    fenced.sql("ALTER TABLE items ADD CONSTRAINT items_tenant_fk FOREIGN KEY (tenant_id) REFERENCES tenants NOT VALID")
    (finding,) = of(fenced.audit(), "tenant-fk-missing")
    assert "NOT VALID" in finding.message and "VALIDATE CONSTRAINT" in finding.remediation
    fenced.sql("ALTER TABLE items VALIDATE CONSTRAINT items_tenant_fk")
    assert hits(fenced.audit(), "tenant-fk-missing") == []


def test_tenant_index_missing_ignores_partial_and_trailing_indexes(fenced):
    fenced.sql("ALTER TABLE items DROP CONSTRAINT items_pkey, ADD PRIMARY KEY (id)")
    fenced.sql("CREATE INDEX items_partial ON items (tenant_id) WHERE body IS NOT NULL")
    fenced.sql("CREATE INDEX items_trailing ON items (body, tenant_id)")
    assert hits(fenced.audit(), "tenant-index-missing") == ["public.items"]
    fenced.sql("CREATE INDEX items_tenant ON items (tenant_id, body)")
    assert hits(fenced.audit(), "tenant-index-missing") == []


def test_invalid_index_does_not_count(fenced):
    fenced.sql("ALTER TABLE items DROP CONSTRAINT items_pkey, ADD PRIMARY KEY (id)")
    fenced.sql("CREATE INDEX items_tenant ON items (tenant_id)")
    # what a failed CREATE INDEX CONCURRENTLY leaves behind
    fenced.sql("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'items_tenant'::regclass")
    assert hits(fenced.audit(), "tenant-index-missing") == ["public.items"]


def test_rls_disabled(fenced):
    fenced.sql("ALTER TABLE items DISABLE ROW LEVEL SECURITY")
    (finding,) = of(fenced.audit(), "rls-disabled")
    assert finding.severity is Severity.CRITICAL
    assert "ENABLE ROW LEVEL SECURITY" in finding.remediation and "NULLIF" in finding.remediation


def test_rls_not_forced_depends_on_who_owns_the_table(fenced):
    fenced.sql("ALTER TABLE items NO FORCE ROW LEVEL SECURITY")
    # the app role does not own it: the owner bypass does not reach the application
    assert hits(fenced.audit(), "rls-not-forced") == []
    # unknown app role: reported, but only at medium
    (unknown,) = of(fenced.audit(app_role=None), "rls-not-forced")
    assert unknown.severity is Severity.MEDIUM and "unknown" in unknown.message
    # the app role owns it through membership in the owning role
    owner = fenced.role("owner")
    fenced.sql(f'CREATE ROLE "{owner}"; ALTER TABLE items OWNER TO "{owner}"; GRANT "{owner}" TO "{fenced.app_role}"')
    (owned,) = of(fenced.audit(), "rls-not-forced")
    assert owned.severity is Severity.HIGH
    fenced.sql("ALTER TABLE items FORCE ROW LEVEL SECURITY")
    assert hits(fenced.audit(app_role=None), "rls-not-forced") == []


def test_cross_tenant_foreign_key(fenced):
    fenced.sql(
        """
        CREATE TABLE public.leads (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                                   tenant_id uuid NOT NULL REFERENCES tenants, UNIQUE (tenant_id, id));
        CREATE TABLE public.calls (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                                   tenant_id uuid NOT NULL REFERENCES tenants,
                                   lead_id uuid REFERENCES leads (id),
                                   lead2_id uuid, FOREIGN KEY (tenant_id, lead2_id) REFERENCES leads (tenant_id, id));
        """
    )
    (finding,) = of(fenced.audit(), "cross-tenant-foreign-key")
    assert finding.qualified_name == "public.calls"
    assert "calls_lead_id_fkey" in finding.message
    assert "FOREIGN KEY (tenant_id, lead_id) REFERENCES public.leads (tenant_id, id)" in finding.remediation


def test_foreign_key_with_swapped_tenant_columns_is_still_cross_tenant(fenced):
    fenced.sql(
        """
        CREATE TABLE public.parents (id uuid NOT NULL, tenant_id uuid NOT NULL REFERENCES tenants,
                                     PRIMARY KEY (tenant_id, id), UNIQUE (id, tenant_id));
        CREATE TABLE public.kids (id serial, tenant_id uuid NOT NULL REFERENCES tenants, parent_id uuid,
                                  PRIMARY KEY (tenant_id, id),
                                  FOREIGN KEY (tenant_id, parent_id) REFERENCES parents (id, tenant_id));
        """
    )
    assert hits(fenced.audit(), "cross-tenant-foreign-key") == ["public.kids"]


def test_unique_without_tenant_flags_natural_keys_only(fenced):
    fenced.sql(
        """
        CREATE TABLE public.voices (id varchar(255) PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants);
        CREATE TABLE public.people (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                    tenant_id uuid NOT NULL REFERENCES tenants, email text, phone text,
                                    serial_no serial UNIQUE, token uuid DEFAULT gen_random_uuid() UNIQUE,
                                    UNIQUE (tenant_id, phone));
        CREATE UNIQUE INDEX people_email ON people (lower(email));
        """
    )
    report = fenced.audit()
    assert hits(report, "unique-without-tenant") == ["public.people", "public.voices"]
    (people,) = [f for f in of(report, "unique-without-tenant") if f.table == "people"]
    assert "people_email" in people.message and "lower(email)" in people.remediation


def test_example_as_written_has_the_guides_defects(db):
    from pathlib import Path

    import psycopg

    from tenantaudit.example import apply_files, create_app_role, migration_files

    with psycopg.connect(db.dsn, autocommit=True) as conn:
        apply_files(conn, migration_files(Path(__file__).parents[1] / "examples" / "voice_agent", corrected=False))
    report = db.audit()
    caches = ["public.company_search_cache", "public.employees_cache"]
    assert hits(report, "tenant-column-nullable") == sorted([*caches, "public.leads"])
    assert hits(report, "rls-disabled") == caches
    assert hits(report, "cross-tenant-foreign-key") == ["public.voice_calls"]
    assert hits(report, "unique-without-tenant") == ["public.voices"]


def test_a_table_without_the_tenant_column_is_high_only_where_tenant_data_can_be_in_it(db):
    """Shared lookup data (countries, plans) is in every real schema: a table the application may
    only read and that points at no tenant's data is not proven to leak anything (medium; low when
    tenant tables look it up), while one the application may write, or one derived from tenant
    rows by a foreign key (order_items without tenant_id), stays high. Row level security that
    refuses every write makes a table read-only whatever its grants; one that refuses every read
    shows no tenant anything (low)."""
    db.tenants()
    app = quote(db.app_role)
    db.sql(
        f"""
        CREATE TABLE public.countries (code text PRIMARY KEY, name text NOT NULL);
        CREATE TABLE public.plans (id serial PRIMARY KEY, name text NOT NULL);
        CREATE TABLE public.customers (id uuid PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants (id),
                                       country text REFERENCES public.countries (code));
        CREATE INDEX ON public.customers (tenant_id);
        CREATE TABLE public.customer_notes (id serial PRIMARY KEY, customer_id uuid REFERENCES public.customers (id), body text);
        CREATE TABLE public.feature_flags (name text PRIMARY KEY, enabled boolean NOT NULL);
        GRANT SELECT ON public.countries, public.plans, public.customer_notes, public.customers TO {app};
        GRANT SELECT, UPDATE ON public.feature_flags TO {app};
        -- as Supabase does: every privilege granted, row level security deciding (reads only)
        CREATE TABLE public.currencies (code text PRIMARY KEY);
        ALTER TABLE public.currencies ENABLE ROW LEVEL SECURITY;
        CREATE POLICY read_all ON public.currencies FOR SELECT USING (true);
        GRANT ALL ON public.currencies TO {app};
        -- a public signup form: anyone may insert, nobody may read
        CREATE TABLE public.waitlist (email text PRIMARY KEY);
        ALTER TABLE public.waitlist ENABLE ROW LEVEL SECURITY;
        CREATE POLICY sign_up ON public.waitlist FOR INSERT WITH CHECK (true);
        GRANT SELECT, INSERT ON public.waitlist TO {app};
        """
    )
    report = db.audit()
    got = {f.table: f.severity.value for f in report.findings if f.category == "tenant-column-missing"}
    print("tenant-column-missing:", got)
    assert got == {"countries": "low", "plans": "medium", "currencies": "medium", "customer_notes": "high",
                   "feature_flags": "high", "waitlist": "low"}
