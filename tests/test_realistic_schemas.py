"""Regressions found by auditing realistic schemas (Supabase-style JWT claims, composite keys to the
tenants table, domains, partitions with their own policies, e-mail CHECKs). Real PostgreSQL."""

import pytest
from conftest import hits, of, quote

from tenantaudit.audit.probes import PASS, json_paths

HIGH_OR_WORSE = {"high", "critical"}
WRITE_OPERATIONS = ("read", "insert", "update", "delete", "move")


def outcomes(report, table: str) -> dict[str, str]:
    return {p.operation: p.outcome for p in report.probes if p.table == table}


def high(report) -> list[tuple[str, str]]:
    return sorted((f.category, f.qualified_name) for f in report.findings if f.severity.value in HIGH_OR_WORSE)


# -- Supabase style: tenant id inside the JSON of request.jwt.claims ---------------------------

SUPABASE_OPTIONS = dict(tenant_column="org_id", tenant_table="public.organizations", setting="request.jwt.claims")

# The policy forms seen in Supabase projects: through a helper (wrapped in a SELECT for the
# initPlan), inline ->> on the claims, through auth.jwt(), a nested app_metadata claim, a text
# comparison, and a set-returning helper behind IN.
SUPABASE_POLICIES = {
    "helper": "org_id = (SELECT auth.org_id())",
    "helper_bare": "auth.org_id() = org_id",
    "inline": "org_id = (NULLIF(current_setting('request.jwt.claims', true), '')::json ->> 'org_id')::uuid",
    "jwt": "org_id = ((SELECT auth.jwt()) ->> 'org_id')::uuid",
    "nested": "org_id = (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid",
    "text_compare": "org_id::text = auth.jwt() ->> 'org_id'",
    "in_set": "org_id IN (SELECT auth.org_ids())",
}


@pytest.fixture
def supabase(db):
    role = db.app_role
    db.sql(
        f"""
        CREATE SCHEMA auth;
        -- as Supabase defines it: the legacy whole-claims setting first, then PostgREST's
        CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE
          AS $$ SELECT COALESCE(NULLIF(current_setting('request.jwt.claim', true), ''),
                                NULLIF(current_setting('request.jwt.claims', true), ''))::jsonb $$;
        CREATE FUNCTION auth.org_id() RETURNS uuid LANGUAGE sql STABLE
          AS $$ SELECT NULLIF(NULLIF(current_setting('request.jwt.claims', true), '')::json ->> 'org_id', '')::uuid $$;
        CREATE FUNCTION auth.org_ids() RETURNS SETOF uuid LANGUAGE sql STABLE
          AS $$ SELECT (NULLIF(current_setting('request.jwt.claims', true), '')::jsonb ->> 'org_id')::uuid $$;
        GRANT USAGE ON SCHEMA auth TO {quote(role)};
        CREATE TABLE public.organizations (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text);
        """
    )
    for name, expr in SUPABASE_POLICIES.items():
        db.sql(
            f"""
            CREATE TABLE public.{name} (
              org_id uuid NOT NULL REFERENCES public.organizations (id),
              id uuid NOT NULL DEFAULT gen_random_uuid(),
              title text NOT NULL,
              PRIMARY KEY (org_id, id)
            );
            ALTER TABLE public.{name} ENABLE ROW LEVEL SECURITY;
            CREATE POLICY "select own org" ON public.{name} FOR SELECT TO {quote(role)} USING ({expr});
            CREATE POLICY "insert own org" ON public.{name} FOR INSERT TO {quote(role)} WITH CHECK ({expr});
            CREATE POLICY "update own org" ON public.{name} FOR UPDATE TO {quote(role)} USING ({expr}) WITH CHECK ({expr});
            CREATE POLICY "delete own org" ON public.{name} FOR DELETE TO {quote(role)} USING ({expr});
            GRANT SELECT, INSERT, UPDATE, DELETE ON public.{name} TO {quote(role)};
            """
        )
    return db


def test_supabase_claims_policies_are_fenced_and_proven_by_write_probes(supabase):
    # Before: every form that reads a field of the JSON setting was policy-not-tenant-scoped
    # (high), and the probes set the bare id, which the policies cannot parse as JSON: not proven.
    report = supabase.audit(probe="write", **SUPABASE_OPTIONS)
    assert high(report) == []
    for table in SUPABASE_POLICIES:
        result = outcomes(report, table)
        assert {op: result[op] for op in WRITE_OPERATIONS} == {op: PASS for op in WRITE_OPERATIONS}, table


def test_supabase_read_probes_set_the_claims_as_json(supabase):
    supabase.sql(
        """INSERT INTO organizations (name) VALUES ('a'), ('b');
           INSERT INTO public.helper (org_id, title) SELECT id, name FROM organizations;
           INSERT INTO public.nested (org_id, title) SELECT id, name FROM organizations;"""
    )
    report = supabase.audit(**SUPABASE_OPTIONS)
    assert outcomes(report, "helper")["read"] == PASS
    assert outcomes(report, "nested")["read"] == PASS


def test_a_claim_read_as_json_is_still_judged(supabase):
    supabase.sql(
        """CREATE TABLE public.wrong_path (org_id uuid NOT NULL REFERENCES organizations (id), id int,
                                           PRIMARY KEY (org_id, id));
           ALTER TABLE public.wrong_path ENABLE ROW LEVEL SECURITY;
           CREATE POLICY p ON public.wrong_path USING ((auth.jwt() ->> 'org_id') IS NOT NULL);"""
    )
    report = supabase.audit(probe="none", **SUPABASE_OPTIONS)
    assert hits(report, "policy-not-tenant-scoped") == ["public.wrong_path"]


def test_unguarded_cast_inside_a_setting_function_is_reported_with_a_runnable_fix(db):
    db.tenants()
    db.sql(
        """CREATE FUNCTION public.current_tenant() RETURNS uuid LANGUAGE sql STABLE
             AS $$ SELECT current_setting('app.tenant_id', true)::uuid $$;
           CREATE FUNCTION public.current_tenant_safe() RETURNS uuid LANGUAGE sql STABLE
             AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;"""
    )
    for table, function in (("docs", "current_tenant"), ("notes", "current_tenant_safe")):
        q = db.fenced_table(table)
        db.sql(f"DROP POLICY tenant_isolation ON {q}; CREATE POLICY t ON {q} USING (tenant_id = public.{function}())")
    report = db.audit(probe="none")
    (finding,) = of(report, "setting-cast-unsafe")
    assert (finding.schema, finding.table, finding.object_kind) == ("public", "current_tenant()", "function")
    assert "public.docs" in finding.message and "to uuid" in finding.message
    db.sql(finding.remediation)
    assert of(db.audit(probe="none"), "setting-cast-unsafe") == []


def test_json_paths_read_from_policies_and_functions():
    texts = [
        "(org_id = ((current_setting('request.jwt.claims'::text, true))::json ->> 'org_id'::text))::uuid)",
        "SELECT (auth.jwt() -> 'app_metadata'::text) ->> 'tenant'::text",
        "select current_setting('request.jwt.claims', true)::jsonb #>> '{user,org}'",
    ]
    assert json_paths(texts, "org") == [("user", "org"), ("org_id",), ("app_metadata", "tenant")]
    assert json_paths(texts, "org_id")[0] == ("org_id",)


# -- bigint account ids, composite keys to the tenants table, domains -------------------------

def test_wider_foreign_key_to_the_tenants_table_proves_the_tenant(db):
    role = quote(db.app_role)
    db.sql(
        f"""
        CREATE TABLE accounts (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, region text,
                               UNIQUE (id, region));
        CREATE TABLE regional (id bigserial, account_id bigint NOT NULL, region text NOT NULL,
                               PRIMARY KEY (account_id, id),
                               FOREIGN KEY (account_id, region) REFERENCES accounts (id, region));
        CREATE TABLE loose (id bigserial, account_id bigint NOT NULL, region text,
                            PRIMARY KEY (account_id, id),
                            FOREIGN KEY (account_id, region) REFERENCES accounts (id, region));
        """
    )
    for table in ("regional", "loose"):
        db.sql(
            f"""ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
                CREATE POLICY t ON {table} USING (account_id = NULLIF(current_setting('app.current_account', true), '')::bigint);
                GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {role};
                GRANT USAGE ON SEQUENCE {table}_id_seq TO {role};"""
        )
    report = db.audit(probe="write", tenant_column="account_id", tenant_table="public.accounts",
                      setting="app.current_account")
    # MATCH SIMPLE with a nullable region skips the check for rows whose region is NULL
    assert hits(report, "tenant-fk-missing") == ["public.loose"]
    # the synthetic tenant gets a region, so the regional rows can reference it
    result = outcomes(report, "regional")
    assert {op: result[op] for op in WRITE_OPERATIONS} == {op: PASS for op in WRITE_OPERATIONS}


def test_tenant_column_of_a_domain_over_the_key_type_is_not_a_type_mismatch(db):
    db.tenants()
    db.sql(
        """CREATE DOMAIN tenant_ref AS uuid NOT NULL;
           CREATE DOMAIN tenant_ref2 AS tenant_ref;
           CREATE DOMAIN tenant_text AS text;"""
    )
    for table, type_ in (("a", "tenant_ref"), ("b", "tenant_ref2"), ("c", "tenant_text")):
        db.sql(
            f"""CREATE TABLE {table} (tenant_id {type_} NOT NULL, id int, PRIMARY KEY (tenant_id, id));
                ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
                CREATE POLICY t ON {table} USING (tenant_id::text = current_setting('app.tenant_id', true))"""
        )
    assert hits(db.audit(probe="none"), "tenant-column-type") == ["public.c"]


def test_email_check_with_a_per_tenant_unique_key_is_probed(db):
    db.tenants()
    db.fenced_table(
        "contacts",
        columns="email text NOT NULL CHECK (email ~* '^[A-Za-z0-9._+-]+@[A-Za-z0-9.-]+[.][A-Za-z]{2,}$'), "
        "UNIQUE (tenant_id, email)",
    )
    db.fenced_table("members", columns="email text NOT NULL CHECK (email ~ '@'), UNIQUE (tenant_id, email)")
    report = db.audit(probe="write")
    for table in ("contacts", "members"):
        assert outcomes(report, table)["insert"] == PASS, table


# -- partitions and foreign keys ---------------------------------------------------------------

def test_partition_whose_own_policy_is_open_is_a_gap_with_a_runnable_fix(db):
    db.tenants()
    role = quote(db.app_role)
    fence = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
    db.sql(
        f"""
        CREATE TABLE payments (tenant_id uuid NOT NULL REFERENCES tenants (id), region text NOT NULL, id int,
                               PRIMARY KEY (tenant_id, region, id)) PARTITION BY LIST (region);
        CREATE TABLE payments_eu PARTITION OF payments FOR VALUES IN ('eu');
        CREATE TABLE payments_us PARTITION OF payments FOR VALUES IN ('us');
        CREATE TABLE payments_apac PARTITION OF payments FOR VALUES IN ('apac');
        ALTER TABLE payments ENABLE ROW LEVEL SECURITY;
        ALTER TABLE payments_eu ENABLE ROW LEVEL SECURITY;
        ALTER TABLE payments_us ENABLE ROW LEVEL SECURITY;
        ALTER TABLE payments_apac ENABLE ROW LEVEL SECURITY;
        CREATE POLICY t ON payments USING ({fence});
        CREATE POLICY t ON payments_eu USING ({fence});
        CREATE POLICY t ON payments_us USING (true);
        CREATE POLICY fence ON payments_apac AS RESTRICTIVE USING ({fence});
        CREATE POLICY open ON payments_apac USING (true);
        GRANT SELECT, INSERT, UPDATE, DELETE ON payments, payments_eu, payments_us, payments_apac TO {role};
        """
    )
    report = db.audit(probe="none")
    assert hits(report, "partition-rls-gap") == ["public.payments_us"]
    (finding,) = of(report, "partition-rls-gap")
    assert "its own policy t (SELECT, INSERT, UPDATE, DELETE) does not restrict rows" in finding.message
    db.sql(finding.remediation)
    assert hits(db.audit(probe="none"), "partition-rls-gap") == []


def test_cross_tenant_foreign_key_fix_keeps_the_actions_and_existing_keys(db):
    db.tenants()
    db.fenced_table("projects")
    db.fenced_table("tasks", columns="project_id uuid NOT NULL")
    db.sql(
        """ALTER TABLE projects ADD UNIQUE (id);
           ALTER TABLE tasks ADD FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE DEFERRABLE"""
    )
    (finding,) = of(db.audit(probe="none"), "cross-tenant-foreign-key")
    assert "ADD UNIQUE" not in finding.remediation  # PRIMARY KEY (tenant_id, id) is that key already
    assert "REFERENCES public.projects (tenant_id, id) ON DELETE CASCADE DEFERRABLE NOT VALID;" in finding.remediation
    db.sql(finding.remediation)
    assert of(db.audit(probe="none"), "cross-tenant-foreign-key") == []
    (definition,) = db.sql(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'tasks'::regclass AND contype = 'f' "
        "AND confrelid = 'projects'::regclass"
    )[0]
    assert definition.endswith("ON DELETE CASCADE DEFERRABLE")


def test_probe_hint_quotes_a_reserved_tenant_column(db):
    db.sql('CREATE TABLE tenants (id uuid PRIMARY KEY DEFAULT gen_random_uuid())')
    db.sql(
        f"""CREATE TABLE things ("select" uuid NOT NULL REFERENCES tenants (id), id int, PRIMARY KEY ("select", id));
            ALTER TABLE things ENABLE ROW LEVEL SECURITY;
            CREATE POLICY open ON things USING (true);
            GRANT SELECT, INSERT, UPDATE, DELETE ON things TO {quote(db.app_role)};"""
    )
    report = db.audit(probe="write", tenant_column="select")
    leaks = of(report, "probe-read-leak")
    assert leaks and '("select" = NULLIF(' in leaks[0].remediation
