"""Exposure follows privileges (issue 8, items 5 and 6), on real PostgreSQL.

- a finding about a table, view or function no application role (nor PUBLIC) can reach is at
  most low and says "not reachable by ROLE today"; reachable objects keep their severity;
- cross-tenant-foreign-key is medium with its concrete impact, high on the tenants table;
- tenants-table-exposed: the application can read or change other tenants' rows of the tenants
  table.
"""

from conftest import hits, of

import psycopg
import pytest

from tenantaudit.audit.catalog import Scope
from tenantaudit.audit.exposure import cap_unreachable
from tenantaudit.db import connect_readonly
from tenantaudit.findings import Finding, Severity


def open_table(db, table="legacy", grant=None):
    """A tenant table with RLS off; ``grant``: what the app role gets on it (None: nothing)."""
    db.sql(f"CREATE TABLE public.{table} (id serial, tenant_id uuid NOT NULL REFERENCES tenants, "
           f"PRIMARY KEY (tenant_id, id))")
    if grant:
        db.sql(f'GRANT {grant} ON public.{table} TO "{db.app_role}"')


def rls_disabled(report, table="legacy"):
    (finding,) = [f for f in of(report, "rls-disabled") if f.table == table]
    print(f"rls-disabled on {table}: {finding.severity.value}: {finding.message}")
    return finding


@pytest.fixture
def tenants(db):
    db.tenants()
    return db


# -- the cap ------------------------------------------------------------------------------------


def test_rls_disabled_on_a_table_the_app_cannot_reach_is_low_and_says_so(tenants):
    open_table(tenants)
    finding = rls_disabled(tenants.audit())
    assert finding.severity is Severity.LOW
    assert finding.message.endswith(f"; not reachable by {tenants.app_role} today")
    # the user grants the application access: the same hole is critical again, without the note
    tenants.sql(f'GRANT SELECT ON public.legacy TO "{tenants.app_role}"')
    finding = rls_disabled(tenants.audit())
    assert finding.severity is Severity.CRITICAL
    assert "not reachable" not in finding.message


@pytest.mark.parametrize(
    "how",
    [
        "GRANT SELECT (id) ON public.legacy TO {app}",  # a column privilege
        "GRANT UPDATE (tenant_id) ON public.legacy TO {app}",
        "GRANT DELETE ON public.legacy TO {app}",
        "GRANT TRUNCATE ON public.legacy TO {app}",  # TRUNCATE ignores RLS
        "GRANT SELECT ON public.legacy TO PUBLIC",
        # the app can SET ROLE to a role that has the privilege (a NOINHERIT membership)
        "CREATE ROLE {other} NOLOGIN; GRANT SELECT ON public.legacy TO {other}; "
        "ALTER ROLE {app} NOINHERIT; GRANT {other} TO {app}",
        # a view over the table that the app may read carries its rows (definer rights)
        "CREATE VIEW public.legacy_view AS SELECT * FROM public.legacy; GRANT SELECT ON public.legacy_view TO {app}",
    ],
)
def test_any_way_of_reaching_the_table_keeps_it_critical(tenants, how):
    open_table(tenants)
    statement = how.format(app=f'"{tenants.app_role}"', other=f'"{tenants.role("other")}"')
    print("granted:", statement)
    tenants.sql(statement)
    finding = rls_disabled(tenants.audit())
    assert finding.severity is Severity.CRITICAL and "not reachable" not in finding.message


def test_a_privilege_without_usage_on_the_schema_does_not_reach(tenants):
    tenants.sql("CREATE SCHEMA hidden")
    tenants.sql("CREATE TABLE hidden.legacy (id serial, tenant_id uuid NOT NULL REFERENCES public.tenants, "
                "PRIMARY KEY (tenant_id, id))")
    tenants.sql(f'GRANT SELECT ON hidden.legacy TO "{tenants.app_role}"')
    finding = rls_disabled(tenants.audit(schemas=["public", "hidden"]))
    assert (finding.schema, finding.severity) == ("hidden", Severity.LOW)
    tenants.sql(f'GRANT USAGE ON SCHEMA hidden TO "{tenants.app_role}"')
    assert rls_disabled(tenants.audit(schemas=["public", "hidden"])).severity is Severity.CRITICAL


def test_without_an_app_role_nothing_is_capped(tenants):
    open_table(tenants)
    finding = rls_disabled(tenants.audit(app_role=None))
    assert finding.severity is Severity.CRITICAL and "not reachable" not in finding.message


def test_every_finding_on_the_unreachable_table_is_capped_and_others_are_not(tenants):
    open_table(tenants, "legacy")
    open_table(tenants, "used", grant="SELECT, INSERT")
    tenants.sql("ALTER TABLE legacy DROP CONSTRAINT legacy_pkey, ADD PRIMARY KEY (id), "
                "ALTER COLUMN tenant_id DROP NOT NULL")
    tenants.sql("ALTER TABLE used DROP CONSTRAINT used_pkey, ADD PRIMARY KEY (id), "
                "ALTER COLUMN tenant_id DROP NOT NULL")
    report = tenants.audit()
    by_table = {}
    for f in report.findings:
        if f.table in ("legacy", "used"):
            by_table.setdefault(f.table, []).append(f)
            print(f.table, f.category, f.severity.value, f.message)
    assert {f.category for f in by_table["legacy"]} >= {"rls-disabled", "tenant-column-nullable", "tenant-index-missing"}
    assert all(f.severity.rank <= Severity.LOW.rank and "not reachable by" in f.message for f in by_table["legacy"])
    assert any(f.severity is Severity.CRITICAL for f in by_table["used"])
    assert not any("not reachable" in f.message for f in by_table["used"])


def _scope(roles):
    return Scope(params={"app_roles": roles}, server_version="", tenant_key=None, tenant_table=None)


class Counting:
    """A connection that counts the queries it is given."""

    def __init__(self, conn):
        self.conn, self.queries = conn, 0

    def execute(self, *args, **kwargs):
        self.queries += 1
        return self.conn.execute(*args, **kwargs)


def _finding(schema, name, kind, severity=Severity.HIGH):
    return Finding(category="x", check="x", severity=severity, schema=schema, table=name, message="m", object_kind=kind)


def test_one_query_for_many_objects_and_several_app_roles(tenants):
    """Supabase's anon and authenticated: reachable when either can reach it."""
    anon, authenticated = tenants.role("anon"), tenants.role("authenticated")
    tenants.sql(f'CREATE ROLE "{anon}"; CREATE ROLE "{authenticated}"; '
                f'GRANT USAGE ON SCHEMA public TO "{anon}", "{authenticated}"')
    for i in range(30):
        tenants.sql(f"CREATE TABLE public.t{i} (id int)")
    tenants.sql(f'GRANT SELECT ON public.t0 TO "{authenticated}"')
    tenants.sql(f'GRANT INSERT ON public.t1 TO "{anon}"')
    tenants.sql("CREATE FUNCTION public.f(a uuid, b text) RETURNS int LANGUAGE sql AS 'SELECT 1'; "
                "CREATE FUNCTION public.g(a uuid) RETURNS int LANGUAGE sql AS 'SELECT 1'; "
                "REVOKE EXECUTE ON FUNCTION public.f(uuid, text), public.g(uuid) FROM PUBLIC; "
                f'GRANT EXECUTE ON FUNCTION public.g(uuid) TO "{anon}"')
    findings = [_finding("public", f"t{i}", "table") for i in range(30)]
    findings += [_finding("public", "f(uuid, text)", "function"), _finding("public", "g(uuid)", "function"),
                 _finding(None, anon, "role"), _finding("public", "no_such_table", "table")]
    with connect_readonly(tenants.dsn) as conn:
        counting = Counting(conn)
        capped = cap_unreachable(counting, _scope([anon, authenticated]), findings)
        conn.rollback()
    result = {f.table: (f.severity.value, f.message) for f in capped}
    print("queries:", counting.queries)
    for name in ("t0", "t1", "t2", "f(uuid, text)", "g(uuid)", anon, "no_such_table"):
        print(name, result[name])
    assert counting.queries == 1
    assert result["t0"] == ("high", "m") and result["t1"] == ("high", "m") and result["g(uuid)"] == ("high", "m")
    assert result["t2"] == ("low", f"m; not reachable by {anon} or {authenticated} today")
    assert result["f(uuid, text)"][0] == "low"
    # a role, and an object the catalogue does not know, are left alone
    assert result[anon] == ("high", "m") and result["no_such_table"] == ("high", "m")
    # nothing known about the application: nothing changes, and no query is run
    with connect_readonly(tenants.dsn) as conn:
        counting = Counting(conn)
        assert cap_unreachable(counting, _scope([]), findings) == findings
        assert counting.queries == 0


# -- cross-tenant-foreign-key -------------------------------------------------------------------


def test_cross_tenant_foreign_key_is_medium_and_says_what_it_lets_happen(tenants):
    tenants.fenced_table("leads")
    tenants.fenced_table("calls", columns="lead_id uuid")
    tenants.sql("ALTER TABLE leads ADD UNIQUE (id); "
                "ALTER TABLE calls ADD FOREIGN KEY (lead_id) REFERENCES leads (id) ON DELETE CASCADE")
    (finding,) = of(tenants.audit(), "cross-tenant-foreign-key")
    print(finding.severity.value, finding.message)
    assert finding.severity is Severity.MEDIUM
    assert "joins through the key bring that tenant's data into this tenant's results" in finding.message
    assert "deleting the other tenant's row deletes this one (ON DELETE CASCADE)" in finding.message
    # on a table the application cannot reach, low
    tenants.sql(f'REVOKE ALL ON public.calls FROM "{tenants.app_role}"')
    (finding,) = of(tenants.audit(), "cross-tenant-foreign-key")
    print(finding.severity.value, finding.message)
    assert finding.severity is Severity.LOW and "not reachable by" in finding.message


def test_cross_tenant_foreign_key_from_the_tenants_table_is_high_and_its_fix_runs(tenants):
    """The tenants table pointing at a tenant's row: the mapping itself crosses tenants."""
    tenants.fenced_table("members", columns="user_name text")
    tenants.sql("ALTER TABLE members ADD UNIQUE (id); "
                "ALTER TABLE tenants ADD COLUMN owner_id uuid REFERENCES members (id); "
                f'GRANT SELECT, UPDATE ON tenants TO "{tenants.app_role}"')
    findings = of(tenants.audit(), "cross-tenant-foreign-key")
    for f in findings:
        print(f.table, f.severity.value, f.message)
    (finding,) = findings
    assert (finding.table, finding.severity) == ("tenants", Severity.HIGH)
    assert "does not pair the tenant (id) with tenant_id" in finding.message and "takeover path" in finding.message
    print(finding.remediation)
    tenants.sql(finding.remediation)
    assert of(tenants.audit(), "cross-tenant-foreign-key") == []


# -- tenants-table-exposed ----------------------------------------------------------------------


def exposed(report):
    findings = of(report, "tenants-table-exposed")
    for f in findings:
        print(f.qualified_name, f.severity.value, f.message)
    return findings


def test_tenants_table_the_app_cannot_touch_is_not_exposed(tenants):
    tenants.fenced_table("items")
    assert exposed(tenants.audit()) == []
    assert tenants.audit().findings == []


def test_tenants_table_readable_with_rls_off_is_medium(tenants):
    tenants.sql(f'GRANT SELECT ON tenants TO "{tenants.app_role}"')
    (finding,) = exposed(tenants.audit())
    assert finding.severity is Severity.MEDIUM and finding.table == "tenants"
    assert f"{tenants.app_role} can read every tenant's row (row level security is off)" in finding.message


def test_tenants_table_writable_with_rls_off_is_high_and_the_fix_closes_it(tenants):
    tenants.sql(f'GRANT SELECT, INSERT, UPDATE, DELETE ON tenants TO "{tenants.app_role}"')
    (finding,) = exposed(tenants.audit())
    assert finding.severity is Severity.HIGH
    assert "read every tenant's row and change other tenants' rows (UPDATE, DELETE) and create tenants (INSERT)" in finding.message
    print(finding.remediation)
    tenants.sql(finding.remediation)
    # the fix revokes the writes and shows the app only the current tenant's row
    assert exposed(tenants.audit()) == []
    tenants.sql("INSERT INTO tenants (name) VALUES ('a'), ('b')")
    with psycopg.connect(tenants.dsn) as conn:
        (one,) = conn.execute("SELECT id::text FROM tenants ORDER BY name LIMIT 1").fetchone()
        conn.execute(f'SET LOCAL ROLE "{tenants.app_role}"')
        conn.execute("SELECT set_config('app.tenant_id', %s, true)", (one,))
        (seen,) = conn.execute("SELECT count(*) FROM tenants").fetchone()
        conn.rollback()
    print("rows of the tenants table the app sees with one tenant set:", seen)
    assert seen == 1


def test_tenants_table_insert_only_is_low(tenants):
    tenants.sql(f'GRANT INSERT ON tenants TO "{tenants.app_role}"')
    (finding,) = exposed(tenants.audit())
    assert finding.severity is Severity.LOW and "create tenants (INSERT)" in finding.message


def test_tenants_table_policies_decide(tenants):
    app = tenants.app_role
    tenants.sql(f"""GRANT SELECT, UPDATE ON tenants TO "{app}";
                    ALTER TABLE tenants ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
                    CREATE POLICY own ON tenants USING (id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)""")
    assert exposed(tenants.audit()) == []  # fenced
    tenants.sql(f'CREATE POLICY everyone ON tenants FOR SELECT TO "{app}" USING (true)')
    (finding,) = exposed(tenants.audit())  # a permissive USING (true) opens every row to reading
    assert finding.severity is Severity.MEDIUM and "a policy that is true for every row" in finding.message
    # the role model: a RESTRICTIVE fence beside USING (true) closes it again
    tenants.sql("DROP POLICY own ON tenants; "
                "CREATE POLICY fence ON tenants AS RESTRICTIVE USING (name = current_user)")
    assert exposed(tenants.audit()) == []


def test_tenants_table_owned_by_the_app_and_not_forced_is_exposed(tenants):
    app = tenants.app_role
    tenants.sql(f"""ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
                    CREATE POLICY own ON tenants USING (id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
                    ALTER TABLE tenants OWNER TO "{app}" """)
    (finding,) = exposed(tenants.audit())
    assert finding.severity is Severity.HIGH and "it owns the table, which is not FORCEd" in finding.message
    tenants.sql("ALTER TABLE tenants FORCE ROW LEVEL SECURITY")
    assert exposed(tenants.audit()) == []


def test_without_an_app_role_public_is_judged(tenants):
    tenants.sql(f'GRANT SELECT ON tenants TO "{tenants.app_role}"')
    assert exposed(tenants.audit(app_role=None)) == []  # only this role may read it: unknown whether the app is it
    tenants.sql("GRANT SELECT ON tenants TO PUBLIC")
    (finding,) = exposed(tenants.audit(app_role=None))
    assert finding.severity is Severity.MEDIUM and finding.message.endswith("PUBLIC can read every tenant's row (row level security is off)")


def test_no_tenants_table_no_finding(db):
    db.sql("CREATE TABLE public.items (id serial PRIMARY KEY, tenant_id uuid NOT NULL)")
    db.sql(f'GRANT ALL ON public.items TO "{db.app_role}"')
    # (data checks aside: without a tenants table they are another part of issue 8)
    report = db.audit(tenant_table="none", data_checks=False, probe="none")
    assert exposed(report) == []
    print("categories:", sorted({f.category for f in report.findings}))


# -- several application roles (Supabase's anon and authenticated) --------------------------------


def test_every_app_role_is_judged(tenants):
    anon, authenticated = tenants.role("anon"), tenants.role("authenticated")
    tenants.sql(f'CREATE ROLE "{anon}"; CREATE ROLE "{authenticated}"; '
                f'GRANT USAGE ON SCHEMA public TO "{anon}", "{authenticated}"')
    tenants.fenced_table("items")
    tenants.sql(f'GRANT SELECT ON tenants TO "{anon}"; GRANT UPDATE ON tenants TO "{authenticated}"; '
                f'ALTER TABLE items NO FORCE ROW LEVEL SECURITY, OWNER TO "{authenticated}"')
    # anon alone: reads the tenants table (medium); it does not own items
    alone = tenants.audit(app_role=anon, probe="none")
    (finding,) = exposed(alone)
    assert finding.severity is Severity.MEDIUM
    assert hits(alone, "rls-not-forced") == []
    # --app-role anon --app-role authenticated: authenticated's UPDATE makes the tenants table high,
    # its ownership makes items' owner bypass high
    both = tenants.audit(app_role=anon, app_roles=[authenticated], probe="none")
    (finding,) = exposed(both)
    assert finding.severity is Severity.HIGH
    assert f"{anon} can read every tenant's row" in finding.message
    assert f"{authenticated} can change other tenants' rows (UPDATE)" in finding.message
    (forced,) = of(both, "rls-not-forced")
    print(forced.severity.value, forced.message)
    assert (forced.table, forced.severity) == ("items", Severity.HIGH)
    assert f"the app role {authenticated} owns it" in forced.message
