"""The policy analyzer (audit/policy.py, on PostgreSQL's own parser) through the whole audit: what
it calls fenced, open (naming the disjunct) or opaque (never a high finding), helpers it reads,
and the tenant context it infers from the policies."""

from __future__ import annotations

import pytest

from conftest import of, quote
from test_checks_policy import FENCE, policy_hits, rls_table


@pytest.fixture
def tdb(db):
    db.tenants()
    return db


def severities(report, category: str) -> list[tuple[str, str]]:
    return sorted((f"{f.schema}.{f.table}", f.severity.value) for f in of(report, category))


def test_or_escape_hatch_through_a_custom_setting_is_open_and_named(tdb):
    q = rls_table(tdb)
    tdb.sql(f"CREATE POLICY p ON {q} USING ({FENCE} OR current_setting('app.is_admin', true)::boolean)")
    report = tdb.audit()
    (finding,) = of(report, "policy-not-tenant-scoped")
    print(finding.severity, finding.message)
    assert finding.severity.value == "high"
    assert "'app.is_admin'" in finding.message and "any session can set" in finding.message


def test_a_session_without_a_user_is_an_open_door(tdb):
    q = rls_table(tdb)
    tdb.sql(f"CREATE POLICY p ON {q} USING (current_setting('app.tenant_id', true) IS NULL OR {FENCE})")
    (finding,) = of(tdb.audit(), "policy-not-tenant-scoped")
    print(finding.message)
    assert finding.severity.value == "high" and "IS NULL" in finding.message


def test_fences_through_sql_and_plpgsql_helpers_and_and_ed_extras(tdb):
    tdb.sql(
        """
        CREATE SCHEMA app;
        CREATE FUNCTION app.current_tenant() RETURNS uuid LANGUAGE sql STABLE
          AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;
        CREATE FUNCTION app.tenant_plpgsql() RETURNS uuid LANGUAGE plpgsql STABLE
          AS $$ BEGIN RETURN NULLIF(current_setting('app.tenant_id', true), '')::uuid; END $$;
        CREATE FUNCTION app.is_current(t uuid) RETURNS boolean LANGUAGE sql STABLE
          AS $$ SELECT t = app.current_tenant() $$;
        """
    )
    for name, expr in [
        ("via_sql", "tenant_id = app.current_tenant()"),
        ("via_subquery", "tenant_id = (SELECT app.current_tenant())"),
        ("via_plpgsql", "tenant_id = app.tenant_plpgsql()"),
        ("via_predicate", "app.is_current(tenant_id)"),
        ("and_extra", f"is_public IS NOT NULL AND {FENCE}"),
        ("in_list", "tenant_id IN (app.current_tenant())"),
    ]:
        q = rls_table(tdb, name)
        tdb.sql(f"CREATE POLICY p ON {q} USING ({expr}) WITH CHECK ({expr})")
    report = tdb.audit()
    print([(f.category, f.table, f.message) for f in report.findings])
    assert policy_hits(report) == {}


def test_a_function_it_cannot_read_is_not_proven_and_never_high(tdb):
    tdb.sql(
        """
        CREATE FUNCTION public.dyn_tenant() RETURNS uuid LANGUAGE plpgsql STABLE AS $$
        DECLARE t uuid;
        BEGIN EXECUTE 'SELECT NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid' INTO t; RETURN t; END $$;
        """
    )
    q = rls_table(tdb)
    tdb.sql(f"CREATE POLICY p ON {q} USING (tenant_id = public.dyn_tenant()) WITH CHECK (tenant_id = public.dyn_tenant())")
    report = tdb.audit()
    found = [(f.category, f.severity.value, f.message) for f in report.findings if f.category.startswith("policy")]
    print(found)
    assert found and all(severity in ("low", "info") for _, severity, _ in found), found
    assert any("not proven" in message and "dynamic SQL" in message for _, _, message in found), found


def test_the_context_is_inferred_from_what_most_policies_compare(tdb):
    tdb.sql(
        """
        CREATE SCHEMA app;
        CREATE TABLE app.organizations (id uuid PRIMARY KEY, slug text UNIQUE NOT NULL);
        """
    )
    for name in ("a", "b", "c"):
        tdb.sql(
            f"""
            CREATE TABLE app.{name} (id int, org_id uuid NOT NULL REFERENCES app.organizations (id),
                                     PRIMARY KEY (org_id, id));
            ALTER TABLE app.{name} ENABLE ROW LEVEL SECURITY;
            ALTER TABLE app.{name} FORCE ROW LEVEL SECURITY;
            CREATE POLICY p ON app.{name}
              USING (org_id = (NULLIF(current_setting('request.jwt.claims', true), '')::jsonb ->> 'org_id')::uuid);
            GRANT USAGE ON SCHEMA app TO {quote(tdb.app_role)};
            GRANT SELECT ON app.{name} TO {quote(tdb.app_role)};
            """
        )
    report = tdb.audit(schemas=["app"])
    context = report.context
    print(context)
    assert (context["model"], context["tenant_column"], context["tenant_table"], context["setting"], context["json_path"]) == (
        "setting", "org_id", "app.organizations", "request.jwt.claims", ["org_id"]
    )
    assert context["inferred"] and "3 of the 3 tables" in context["evidence"]
    assert policy_hits(report) == {}


def test_a_slug_mapped_fence_is_the_mapped_model(tdb):
    tdb.sql("CREATE TABLE public.orgs (id uuid PRIMARY KEY, slug text NOT NULL UNIQUE)")
    for name in ("a", "b"):
        tdb.sql(
            f"""
            CREATE TABLE public.{name} (id int, tenant_id uuid NOT NULL REFERENCES public.orgs (id), PRIMARY KEY (tenant_id, id));
            ALTER TABLE public.{name} ENABLE ROW LEVEL SECURITY;
            ALTER TABLE public.{name} FORCE ROW LEVEL SECURITY;
            CREATE POLICY p ON public.{name}
              USING (tenant_id = (SELECT o.id FROM public.orgs o WHERE o.slug = current_setting('app.tenant', true)));
            GRANT SELECT ON public.{name} TO {quote(tdb.app_role)};
            """
        )
    report = tdb.audit()
    context = report.context
    print(context)
    assert (context["model"], context["tenant_table"], context["mapped_key"], context["setting"]) == (
        "mapped", "public.orgs", "slug", "app.tenant"
    )
    assert policy_hits(report) == {}
    # the same subquery on another column of the table is not the tenant: open, and said so
    tdb.sql(
        """
        CREATE TABLE public.c (id int, tenant_id uuid NOT NULL REFERENCES public.orgs (id), PRIMARY KEY (tenant_id, id));
        ALTER TABLE public.c ENABLE ROW LEVEL SECURITY;
        CREATE POLICY p ON public.c USING (tenant_id IN (SELECT o.id FROM public.orgs o));
        """
        f"GRANT SELECT ON public.c TO {quote(tdb.app_role)}"
    )
    (finding,) = of(tdb.audit(), "policy-not-tenant-scoped")
    print(finding.message)
    assert finding.table == "c" and finding.severity.value == "high"


def test_a_role_per_tenant_restrictive_fence_beside_using_true(tdb):
    tdb.sql("CREATE TABLE public.accounts (id uuid PRIMARY KEY, db_user name NOT NULL UNIQUE)")
    for name in ("a", "b"):
        tdb.sql(
            f"""
            CREATE TABLE public.{name} (id int, tenant_id uuid NOT NULL REFERENCES public.accounts (id), PRIMARY KEY (tenant_id, id));
            ALTER TABLE public.{name} ENABLE ROW LEVEL SECURITY;
            ALTER TABLE public.{name} FORCE ROW LEVEL SECURITY;
            CREATE POLICY everything ON public.{name} USING (true) WITH CHECK (true);
            CREATE POLICY fence ON public.{name} AS RESTRICTIVE
              USING (tenant_id = (SELECT id FROM public.accounts WHERE db_user = current_user))
              WITH CHECK (tenant_id = (SELECT id FROM public.accounts WHERE db_user = current_user));
            GRANT SELECT, INSERT ON public.{name} TO {quote(tdb.app_role)};
            """
        )
    report = tdb.audit()
    print(report.context, [(f.category, f.table, f.message) for f in report.findings])
    assert (report.context["model"], report.context["tenant_table"], report.context["role_column"]) == (
        "role", "public.accounts", "db_user"
    )
    assert policy_hits(report) == {}


def test_a_configured_context_is_kept_even_where_the_policies_say_otherwise(tdb):
    q = rls_table(tdb)
    tdb.sql(f"CREATE POLICY p ON {q} USING (tenant_id = NULLIF(current_setting('app.org', true), '')::uuid)")
    report = tdb.audit(setting="app.tenant_id")
    print(report.context)
    assert report.context["setting"] == "app.tenant_id"
    assert [f.table for f in of(report, "policy-not-tenant-scoped")] == ["items"]


MEMBERSHIP_SCHEMA = """
CREATE SCHEMA auth;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT NULLIF(COALESCE(current_setting('request.jwt.claim.sub', true),
                         NULLIF(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'), '')::uuid $$;
CREATE TABLE public.accounts (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE public.account_user (user_id uuid NOT NULL, account_id uuid NOT NULL REFERENCES public.accounts (id),
                                  PRIMARY KEY (user_id, account_id));
CREATE FUNCTION public.my_accounts() RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = public AS $$ SELECT account_id FROM public.account_user WHERE user_id = auth.uid() $$;
CREATE FUNCTION public.has_role_on_account(account uuid) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = public AS $$
  SELECT EXISTS (SELECT 1 FROM public.account_user au WHERE au.user_id = auth.uid() AND au.account_id = account) $$;
ALTER TABLE public.account_user ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON public.account_user USING (user_id = auth.uid()) WITH CHECK (user_id = auth.uid() AND has_role_on_account(account_id));
"""


def membership_tables(db, *policies: tuple[str, str]) -> None:
    db.sql(MEMBERSHIP_SCHEMA + f"GRANT USAGE ON SCHEMA auth TO {quote(db.app_role)};"
           f"GRANT SELECT, INSERT ON public.account_user TO {quote(db.app_role)};")
    for name, expr in policies:
        db.sql(
            f"""
            CREATE TABLE public.{name} (id int, account_id uuid NOT NULL REFERENCES public.accounts (id),
                                        PRIMARY KEY (account_id, id));
            ALTER TABLE public.{name} ENABLE ROW LEVEL SECURITY;
            CREATE POLICY p ON public.{name} USING ({expr}) WITH CHECK ({expr});
            GRANT SELECT, INSERT, UPDATE, DELETE ON public.{name} TO {quote(db.app_role)};
            """
        )


def test_membership_through_definer_helpers_is_inferred_and_fenced(db):
    membership_tables(
        db,
        ("notes", "account_id IN (SELECT public.my_accounts())"),
        ("files", "public.has_role_on_account(account_id)"),
        ("tasks", "EXISTS (SELECT 1 FROM public.account_user m WHERE m.account_id = tasks.account_id AND m.user_id = auth.uid())"),
    )
    report = db.audit(probe="none")
    context = report.context
    print(context)
    print([(f.category, f.table, f.severity.value, f.message) for f in report.findings])
    assert (context["model"], context["tenant_column"], context["tenant_table"]) == ("membership", "account_id", "public.accounts")
    assert context["membership"] == {"table": "public.account_user", "user_column": "user_id", "tenant_column": "account_id"}
    assert (context["setting"], context["json_path"]) == ("request.jwt.claims", ["sub"])
    high = [(f.category, f.table) for f in report.findings if f.severity.value in ("high", "critical")]
    assert high == []


def test_a_helper_that_forgets_the_calling_user_is_open(db):
    membership_tables(db, ("notes", "account_id IN (SELECT public.my_accounts())"),
                      ("files", "account_id IN (SELECT public.my_accounts())"))
    db.sql(
        """
        CREATE FUNCTION public.all_accounts() RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER
          SET search_path = public AS $$ SELECT account_id FROM public.account_user $$;
        CREATE TABLE public.tasks (id int, account_id uuid NOT NULL REFERENCES public.accounts (id), PRIMARY KEY (account_id, id));
        ALTER TABLE public.tasks ENABLE ROW LEVEL SECURITY;
        CREATE POLICY p ON public.tasks USING (account_id IN (SELECT public.all_accounts()));
        """
        f"GRANT SELECT ON public.tasks TO {quote(db.app_role)}"
    )
    report = db.audit(probe="none")
    print(report.context)
    found = [(f.category, f.table, f.severity.value, f.message) for f in report.findings]
    print(found)
    assert report.context["model"] == "membership"
    (finding,) = of(report, "policy-not-tenant-scoped")
    assert (finding.table, finding.severity.value) == ("tasks", "high")
    assert "does not check the calling user" in finding.message


def test_a_database_without_a_tenants_table_is_audited_with_the_key_aspects_n_a(db):
    # one database per service: the tenants live elsewhere; public.tenants does not exist
    for name in ("orders", "lines"):
        db.sql(
            f"""
            CREATE TABLE public.{name} (id int, tenant_id uuid NOT NULL, body text, PRIMARY KEY (tenant_id, id));
            ALTER TABLE public.{name} ENABLE ROW LEVEL SECURITY;
            ALTER TABLE public.{name} FORCE ROW LEVEL SECURITY;
            CREATE POLICY p ON public.{name} USING ({FENCE}) WITH CHECK ({FENCE});
            GRANT SELECT, INSERT, UPDATE, DELETE ON public.{name} TO {quote(db.app_role)};
            INSERT INTO public.{name} VALUES (1, gen_random_uuid(), 'x'), (2, gen_random_uuid(), 'y');
            """
        )
    db.sql(f"CREATE TABLE public.open_one (id int, tenant_id uuid NOT NULL); GRANT SELECT ON public.open_one TO {quote(db.app_role)}")
    report = db.audit()
    print(report.context, [(f.category, f.table, f.severity.value) for f in report.findings])
    assert report.context["tenant_table"] is None
    assert {f.category for f in report.findings} >= {"rls-disabled"}
    assert not [f for f in report.findings if f.category in ("tenant-fk-missing", "tenant-column-type")]
    grid = {row.table: row.aspects for row in report.coverage}
    assert grid["orders"]["foreign_key"] == grid["orders"]["type"] == "n/a", grid["orders"]
    assert grid["orders"]["policy"] == "pass", grid["orders"]
    orphans = [r for r in report.data_results if r.table == "orders" and "n/a" in r.detail]
    assert orphans, report.data_results
