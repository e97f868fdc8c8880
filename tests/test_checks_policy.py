"""The policy checks (policy-missing, -not-tenant-scoped, -permissive-bypass, -write-unchecked) and
setting-cast-unsafe, on real PostgreSQL through the whole audit."""

from __future__ import annotations

import psycopg
import pytest

from conftest import hits, of, quote

POLICY_CATEGORIES = (
    "policy-missing",
    "policy-not-tenant-scoped",
    "policy-permissive-bypass",
    "policy-write-unchecked",
    "setting-cast-unsafe",
)
FENCE = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
UNGUARDED = "tenant_id = current_setting('app.tenant_id', true)::uuid"


def policy_hits(report) -> dict[str, list[str]]:
    """Every policy category that fired, with the tables it named."""
    found = {c: hits(report, c) for c in POLICY_CATEGORIES}
    return {c: names for c, names in found.items() if names}


def rls_table(db, table: str = "items", schema: str = "public", column: str = "tenant_id") -> str:
    """A tenant table with RLS enabled and forced but no policy yet; returns its quoted name."""
    q = f"{quote(schema)}.{quote(table)}"
    db.sql(
        f"""
        CREATE SCHEMA IF NOT EXISTS {quote(schema)};
        GRANT USAGE ON SCHEMA {quote(schema)} TO {quote(db.app_role)};
        CREATE TABLE {q} (
          id int NOT NULL,
          {quote(column)} uuid NOT NULL REFERENCES public.tenants (id),
          is_public boolean NOT NULL DEFAULT false,
          a int, b int,
          PRIMARY KEY ({quote(column)}, id)
        );
        ALTER TABLE {q} ENABLE ROW LEVEL SECURITY;
        ALTER TABLE {q} FORCE ROW LEVEL SECURITY;
        GRANT SELECT, INSERT, UPDATE, DELETE ON {q} TO {quote(db.app_role)};
        """
    )
    return q


def count_as_app(db, table: str, *setup: str) -> int:
    """count(*) of ``table`` as the application role, after the ``setup`` statements."""
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        conn.execute(f"SET ROLE {quote(db.app_role)}")
        for statement in setup:
            conn.execute(statement)
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@pytest.fixture
def tdb(db):
    db.tenants()
    return db


# --- the clean baseline ---------------------------------------------------------------------------


def test_correctly_fenced_table_has_no_policy_findings(tdb):
    tdb.fenced_table()
    assert policy_hits(tdb.audit()) == {}
    assert policy_hits(tdb.audit(app_role=None)) == {}


# --- policy-missing -------------------------------------------------------------------------------


def test_rls_without_any_policy_is_policy_missing(tdb):
    rls_table(tdb)
    report = tdb.audit()
    assert policy_hits(report) == {"policy-missing": ["public.items"]}
    (finding,) = of(report, "policy-missing")
    assert finding.severity.value == "medium"
    assert "has no policy" in finding.message
    assert finding.remediation.startswith(f"CREATE POLICY tenant_isolation ON public.items TO {tdb.app_role} USING (")


def test_policy_for_another_role_does_not_count(tdb):
    other = tdb.role("other")
    tdb.sql(f"CREATE ROLE {quote(other)} NOLOGIN")
    q = rls_table(tdb)
    tdb.sql(f"CREATE POLICY tenant_isolation ON {q} TO {quote(other)} USING ({FENCE}) WITH CHECK ({FENCE})")
    report = tdb.audit()
    assert policy_hits(report) == {"policy-missing": ["public.items"]}
    (finding,) = of(report, "policy-missing")
    assert other in finding.message and tdb.app_role in finding.message
    # the name is taken by the other role's policy: the remediation picks another
    assert finding.remediation.startswith(f"CREATE POLICY tenant_isolation_{tdb.app_role} ON public.items")
    # without a known application role every policy counts
    assert policy_hits(tdb.audit(app_role=None)) == {}


def test_policy_for_a_group_role_the_app_is_member_of_counts(tdb):
    group = tdb.role("grp")
    tdb.sql(f"CREATE ROLE {quote(group)} NOLOGIN; GRANT {quote(group)} TO {quote(tdb.app_role)}")
    q = rls_table(tdb)
    tdb.sql(f"CREATE POLICY tenant_isolation ON {q} TO {quote(group)} USING ({FENCE}) WITH CHECK ({FENCE})")
    assert policy_hits(tdb.audit()) == {}


def test_unscoped_policy_for_another_role_is_not_the_apps_problem(tdb):
    other = tdb.role("other")
    tdb.sql(f"CREATE ROLE {quote(other)} NOLOGIN")
    tdb.fenced_table()
    tdb.sql(f"CREATE POLICY admin_all ON public.items TO {quote(other)} USING (true)")
    assert policy_hits(tdb.audit()) == {}
    # seen without a role, the same policy is OR-ed with the fence, and its USING (true) is its write check
    assert policy_hits(tdb.audit(app_role=None)) == {
        "policy-permissive-bypass": ["public.items"],
        "policy-write-unchecked": ["public.items"],
    }


# --- policy-not-tenant-scoped ---------------------------------------------------------------------


def test_fence_or_true_is_not_scoped(tdb):
    q = rls_table(tdb, "or_true")
    tdb.sql(f"CREATE POLICY p ON {q} USING ({FENCE} OR true)")
    q2 = rls_table(tdb, "or_public")
    tdb.sql(f"CREATE POLICY p ON {q2} USING (is_public OR {FENCE}) WITH CHECK ({FENCE})")
    report = tdb.audit()
    assert policy_hits(report) == {"policy-not-tenant-scoped": ["public.or_public", "public.or_true"]}
    for finding in of(report, "policy-not-tenant-scoped"):
        assert finding.severity.value == "high"
        assert "SELECT, UPDATE, DELETE" in finding.message
        assert "AS RESTRICTIVE" in finding.remediation


def test_using_true_is_not_scoped_and_its_writes_are_not_reported_twice(tdb):
    q = rls_table(tdb)
    tdb.sql(f"CREATE POLICY open_all ON {q} USING (true)")
    assert policy_hits(tdb.audit()) == {"policy-not-tenant-scoped": ["public.items"]}


def test_fence_anded_with_an_or_is_scoped(tdb):
    q = rls_table(tdb)
    tdb.sql(f"CREATE POLICY p ON {q} USING ({FENCE} AND (a = 1 OR b = 2)) WITH CHECK ((a > 0 OR b > 0) AND {FENCE})")
    assert policy_hits(tdb.audit()) == {}


def test_negated_or_mismatched_fences_are_not_scoped(tdb):
    for name, expr in [
        ("negated", f"NOT ({FENCE})"),
        ("other_column", "a = NULLIF(current_setting('app.tenant_id', true), '')::int"),
        ("other_setting", "tenant_id = NULLIF(current_setting('app.user_id', true), '')::uuid"),
        ("constant", "tenant_id = '00000000-0000-0000-0000-000000000000'::uuid"),
    ]:
        q = rls_table(tdb, name)
        tdb.sql(f"CREATE POLICY p ON {q} USING ({expr})")
    assert policy_hits(tdb.audit()) == {
        "policy-not-tenant-scoped": ["public.constant", "public.negated", "public.other_column", "public.other_setting"]
    }


def test_fence_through_functions_that_read_the_setting_is_scoped(tdb):
    tdb.sql(
        """
        CREATE SCHEMA app;
        CREATE FUNCTION app.current_tenant() RETURNS uuid LANGUAGE sql STABLE
          AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;
        CREATE FUNCTION app.is_current(t uuid) RETURNS boolean LANGUAGE sql STABLE
          AS $$ SELECT t = NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;
        CREATE FUNCTION app.tenant_list() RETURNS uuid[] LANGUAGE plpgsql STABLE
          AS $$ BEGIN RETURN string_to_array(current_setting('app.tenant_id', true), ',')::uuid[]; END $$;
        """
    )
    for name, expr in [
        ("plain", "tenant_id = app.current_tenant()"),
        ("flipped", "app.current_tenant() = tenant_id"),
        ("subselect", "tenant_id = (SELECT app.current_tenant())"),
        ("predicate", "app.is_current(tenant_id) AND a IS DISTINCT FROM 0"),
        ("any", "tenant_id = ANY (app.tenant_list())"),
        ("text_compare", "tenant_id::text = current_setting('app.tenant_id', true)"),
    ]:
        q = rls_table(tdb, name)
        tdb.sql(f"CREATE POLICY p ON {q} USING ({expr})")
    assert policy_hits(tdb.audit()) == {}


def test_unscoped_delete_beside_a_fenced_select_is_reported(tdb):
    q = rls_table(tdb)
    tdb.sql(
        f"CREATE POLICY reads ON {q} FOR SELECT USING ({FENCE});"
        f"CREATE POLICY deletes ON {q} FOR DELETE USING (is_public)"
    )
    report = tdb.audit()
    assert policy_hits(report) == {"policy-not-tenant-scoped": ["public.items"]}
    (finding,) = of(report, "policy-not-tenant-scoped")
    assert ": DELETE reach" in finding.message and "policy deletes" in finding.message


# --- policy-permissive-bypass ---------------------------------------------------------------------


def test_restrictive_fence_beside_permissive_true_is_safe(tdb):
    q = rls_table(tdb)
    tdb.sql(
        f"CREATE POLICY fence ON {q} AS RESTRICTIVE USING ({FENCE}) WITH CHECK ({FENCE});"
        f"CREATE POLICY allow_all ON {q} USING (true) WITH CHECK (true)"
    )
    assert policy_hits(tdb.audit()) == {}


def test_permissive_fence_beside_permissive_true_is_a_bypass(tdb):
    q = rls_table(tdb)
    tdb.sql(
        f"CREATE POLICY tenant_isolation ON {q} USING ({FENCE}) WITH CHECK ({FENCE});"
        f"CREATE POLICY open_rows ON {q} FOR SELECT USING (true)"
    )
    report = tdb.audit()
    assert policy_hits(report) == {"policy-permissive-bypass": ["public.items"]}
    (finding,) = of(report, "policy-permissive-bypass")
    assert finding.severity.value == "high"
    assert "open_rows" in finding.message and "for SELECT" in finding.message
    assert "DROP POLICY open_rows ON public.items;" in finding.remediation


def test_one_row_per_bypassing_policy(tdb):
    q = rls_table(tdb)
    tdb.sql(
        f"CREATE POLICY tenant_isolation ON {q} USING ({FENCE}) WITH CHECK ({FENCE});"
        f"CREATE POLICY public_rows ON {q} FOR SELECT USING (is_public);"
        f"CREATE POLICY any_update ON {q} FOR UPDATE USING (a > 0) WITH CHECK ({FENCE})"
    )
    report = tdb.audit()
    assert policy_hits(report) == {"policy-permissive-bypass": ["public.items", "public.items"]}
    messages = sorted(f.message for f in of(report, "policy-permissive-bypass"))
    assert "any_update" in messages[0] and "for UPDATE" in messages[0]
    assert "public_rows" in messages[1] and "for SELECT" in messages[1]


# --- policy-write-unchecked -----------------------------------------------------------------------


def test_insert_with_check_true_is_write_unchecked(tdb):
    q = rls_table(tdb)
    tdb.sql(
        f"CREATE POLICY reads ON {q} FOR SELECT USING ({FENCE});"
        f"CREATE POLICY inserts ON {q} FOR INSERT WITH CHECK (true)"
    )
    report = tdb.audit()
    assert policy_hits(report) == {"policy-write-unchecked": ["public.items"]}
    (finding,) = of(report, "policy-write-unchecked")
    assert finding.severity.value == "high"
    assert "inserts" in finding.message and "lets INSERT write" in finding.message
    assert finding.remediation.startswith("ALTER POLICY inserts ON public.items WITH CHECK (tenant_id = NULLIF(")


def test_for_all_fence_with_check_true_is_write_unchecked(tdb):
    q = rls_table(tdb)
    tdb.sql(f"CREATE POLICY p ON {q} USING ({FENCE}) WITH CHECK (true)")
    report = tdb.audit()
    assert policy_hits(report) == {"policy-write-unchecked": ["public.items"]}
    assert "lets INSERT, UPDATE write" in of(report, "policy-write-unchecked")[0].message


def test_for_all_fence_without_with_check_reuses_using(tdb):
    q = rls_table(tdb)
    tdb.sql(f"CREATE POLICY p ON {q} USING ({FENCE})")
    q2 = rls_table(tdb, "updates")
    tdb.sql(f"CREATE POLICY p ON {q2} USING ({FENCE}); CREATE POLICY u ON {q2} FOR UPDATE USING ({FENCE})")
    assert policy_hits(tdb.audit()) == {}


def test_restrictive_check_pins_writes(tdb):
    q = rls_table(tdb)
    tdb.sql(
        f"CREATE POLICY fence ON {q} AS RESTRICTIVE FOR INSERT WITH CHECK ({FENCE});"
        f"CREATE POLICY p ON {q} USING ({FENCE}) WITH CHECK (true)"
    )
    report = tdb.audit()
    # INSERT is pinned by the restrictive policy; UPDATE is not
    assert policy_hits(report) == {"policy-write-unchecked": ["public.items"]}
    assert "lets UPDATE write" in of(report, "policy-write-unchecked")[0].message


# --- setting-cast-unsafe --------------------------------------------------------------------------


def test_unguarded_cast_is_reported_and_nullif_is_not(tdb):
    q = rls_table(tdb, "unguarded")
    tdb.sql(f"CREATE POLICY p ON {q} USING ({UNGUARDED}) WITH CHECK ({UNGUARDED})")
    q2 = rls_table(tdb, "coalesced")
    tdb.sql(f"CREATE POLICY p ON {q2} USING (tenant_id = COALESCE(current_setting('app.tenant_id', true), '')::uuid)")
    q3 = rls_table(tdb, "guarded")
    tdb.sql(f"CREATE POLICY p ON {q3} USING ({FENCE}) WITH CHECK ({FENCE})")
    report = tdb.audit()
    assert policy_hits(report) == {"setting-cast-unsafe": ["public.coalesced", "public.unguarded"]}
    for finding in of(report, "setting-cast-unsafe"):
        assert finding.severity.value == "medium"
        assert "to uuid without NULLIF" in finding.message
        assert finding.remediation.startswith("ALTER POLICY p ON public.")
        assert "NULLIF(" in finding.remediation


def test_unguarded_cast_really_fails_after_reset_and_the_remediation_fixes_it(tdb):
    q = rls_table(tdb)
    tdb.sql(f"CREATE POLICY p ON {q} USING ({UNGUARDED}) WITH CHECK ({UNGUARDED})")
    tenant = "00000000-0000-0000-0000-000000000000"
    set_then_reset = (f"SET app.tenant_id = '{tenant}'", "RESET app.tenant_id")
    assert count_as_app(tdb, q) == 0  # never set: NULL, no error
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        count_as_app(tdb, q, *set_then_reset)
    (finding,) = of(tdb.audit(), "setting-cast-unsafe")
    tdb.sql(finding.remediation)
    assert count_as_app(tdb, q, *set_then_reset) == 0
    assert policy_hits(tdb.audit()) == {}


# --- configuration: column, setting, quoted names -------------------------------------------------


def test_custom_column_setting_and_quoted_names(tdb):
    q = rls_table(tdb, "Order Items", schema="Sales-EU", column="select")
    fence = "\"select\" = NULLIF(current_setting('app.org', true), '')::uuid"
    tdb.sql(f"CREATE POLICY \"tenant isolation\" ON {q} USING ({fence}) WITH CHECK ({fence})")
    options = {"tenant_column": "select", "setting": "app.org"}
    assert policy_hits(tdb.audit(**options)) == {}
    # without --setting, the policy names it: inferred, and the fence holds
    report = tdb.audit(tenant_column="select")
    assert (report.context["setting"], report.context["inferred"]) == ("app.org", True), report.context
    assert policy_hits(report) == {}
    # a setting the user names that the fence does not read: the table counts as unscoped
    assert policy_hits(tdb.audit(tenant_column="select", setting="app.tenant_id")) == {
        "policy-not-tenant-scoped": ["Sales-EU.Order Items"]
    }

    tdb.sql(
        f"CREATE POLICY \"Public Rows\" ON {q} FOR SELECT USING (is_public);"
        f"CREATE POLICY loose ON {q} FOR UPDATE USING ({fence}) WITH CHECK (\"select\" = current_setting('app.org', true)::uuid)"
    )
    report = tdb.audit(**options)
    assert policy_hits(report) == {
        "policy-permissive-bypass": ["Sales-EU.Order Items"],
        "setting-cast-unsafe": ["Sales-EU.Order Items"],
    }
    (bypass,) = of(report, "policy-permissive-bypass")
    assert '"Public Rows"' in bypass.message
    assert 'ON "Sales-EU"."Order Items" AS RESTRICTIVE' in bypass.remediation
    assert "\"select\" = NULLIF(pg_catalog.current_setting('app.org', true), '')::uuid" in bypass.remediation
    (cast,) = of(report, "setting-cast-unsafe")
    assert cast.remediation.startswith('ALTER POLICY loose ON "Sales-EU"."Order Items" USING (')


def test_remediations_are_runnable_and_clear_the_findings(tdb):
    other = tdb.role("other")
    tdb.sql(f"CREATE ROLE {quote(other)} NOLOGIN")
    q = rls_table(tdb, "missing")
    tdb.sql(f"CREATE POLICY tenant_isolation ON {q} TO {quote(other)} USING ({FENCE})")
    q = rls_table(tdb, "unscoped")
    tdb.sql(f"CREATE POLICY p ON {q} USING (is_public OR {FENCE})")
    q = rls_table(tdb, "bypass")
    tdb.sql(f"CREATE POLICY p ON {q} USING ({FENCE}); CREATE POLICY pub ON {q} FOR SELECT USING (is_public)")
    q = rls_table(tdb, "unchecked")
    tdb.sql(f"CREATE POLICY p ON {q} USING ({FENCE}) WITH CHECK (a > 0)")
    q = rls_table(tdb, "cast")
    tdb.sql(f"CREATE POLICY p ON {q} USING ({UNGUARDED})")
    report = tdb.audit()
    assert policy_hits(report) == {
        "policy-missing": ["public.missing"],
        "policy-not-tenant-scoped": ["public.unscoped"],
        "policy-permissive-bypass": ["public.bypass"],
        "policy-write-unchecked": ["public.unchecked"],
        "setting-cast-unsafe": ["public.cast"],
    }
    for finding in report.findings:
        if finding.category in POLICY_CATEGORIES:
            tdb.sql(finding.remediation)
    assert policy_hits(tdb.audit()) == {}


# --- the checks agree with what PostgreSQL does ---------------------------------------------------


def test_bypass_and_restrictive_verdicts_match_real_behaviour(tdb):
    a, b = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
    tdb.sql(f"INSERT INTO public.tenants (id, name) VALUES ('{a}', 'a'), ('{b}', 'b')")
    q = rls_table(tdb, "bypassed")
    tdb.sql(f"CREATE POLICY p ON {q} USING ({FENCE}); CREATE POLICY open_rows ON {q} FOR SELECT USING (true)")
    q2 = rls_table(tdb, "restricted")
    tdb.sql(f"CREATE POLICY p ON {q2} AS RESTRICTIVE USING ({FENCE}); CREATE POLICY open_rows ON {q2} USING (true)")
    for table in ("bypassed", "restricted"):
        tdb.sql(f"INSERT INTO public.{table} (id, tenant_id) VALUES (1, '{a}'), (2, '{b}')")

    def visible(table: str) -> int:
        return count_as_app(tdb, f"public.{table}", f"SELECT set_config('app.tenant_id', '{a}', false)")

    assert visible("bypassed") == 2  # tenant b's row leaks
    assert visible("restricted") == 1
    assert policy_hits(tdb.audit()) == {"policy-permissive-bypass": ["public.bypassed"]}
