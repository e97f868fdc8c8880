"""Probes under each tenant context model (issue 8, item 3), on real PostgreSQL.

How tenant A is put in context (a setting or JWT claims, a mapped key, a user whose tenants are
exactly {A}, or SET ROLE to A's role), and what counts as another tenant's row: one whose tenant
is outside the context's tenant set, confirmed by the auditor's own read. Each model has a correct
schema that passes and a planted hole that is found, in read mode (rows already there) and write
mode (synthetic rows, rolled back). The fixtures are written for these tests, modelled on public
patterns: Supabase claims, a basejump-style accounts + account_user schema with SECURITY DEFINER
helpers, a PostGraphile-style session -> sessions -> memberships schema, role-per-tenant, slugs.

Until the model is inferred or configured, each test builds the Scope the normal way and sets
``scope.context`` explicitly (see audit_in_context).
"""

from __future__ import annotations

import psycopg
import pytest
from conftest import hits, quote

from tenantaudit.audit.context import Membership, Relation, SessionMap, TenantContext
from tenantaudit.findings import FAILS_CLOSED_BY_ERROR, LEAK, NOT_PROVEN
from tenantaudit.rehearsal.fingerprint import data_fingerprint

PASS = "pass"
ORG_A = "00000000-0000-0000-0000-00000000000a"
ORG_B = "00000000-0000-0000-0000-00000000000b"
WRITE_OPERATIONS = ("read", "insert", "update", "delete", "move")


def outcomes(report, table: str) -> dict[str, str]:
    return {p.operation: p.outcome for p in report.probes if p.table == table}


def details(report, table: str) -> dict[str, str]:
    return {p.operation: p.detail for p in report.probes if p.table == table}


def audit_in_context(db, monkeypatch, make_context, **options):
    """db.audit(**options) with scope.context = make_context(scope): the Scope is resolved the
    normal way (names, oids, the tenants table's key), then told what the tenant context is."""
    import tenantaudit.audit.run as run

    resolve = run.resolve_scope

    def resolve_in_context(conn, config):
        scope = resolve(conn, config)
        scope.context = make_context(scope)
        return scope

    monkeypatch.setattr(run, "resolve_scope", resolve_in_context)
    return db.audit(**options)


def tenants_of(scope) -> Relation:
    return Relation(scope.tenant_table[0], scope.tenant_table[1], scope.params["tenant_table"])


def show(report, *tables: str) -> None:
    for table in tables:
        print(table, outcomes(report, table))
        print("   ", details(report, table))
    print("leaks:", [(f.category, f.qualified_name) for f in report.findings if f.category.startswith("probe-")])


# -- setting: a JWT document whose fence also reads a role claim -------------------------------

CLAIMS = "NULLIF(current_setting('request.jwt.claims', true), '')::jsonb"
ORG_FENCE = f"org_id = ({CLAIMS} ->> 'org_id')::uuid AND ({CLAIMS} ->> 'user_role') = 'member'"


@pytest.fixture
def jwt_orgs(db):
    app = quote(db.app_role)
    db.sql(
        f"""
        CREATE TABLE orgs (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL);
        CREATE TABLE notes (
          id uuid NOT NULL DEFAULT gen_random_uuid(),
          org_id uuid NOT NULL REFERENCES orgs (id),
          body text,
          PRIMARY KEY (org_id, id)
        );
        ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
        ALTER TABLE notes FORCE ROW LEVEL SECURITY;
        CREATE POLICY org_member ON notes USING ({ORG_FENCE}) WITH CHECK ({ORG_FENCE});
        GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO {app};
        INSERT INTO orgs (id, name) VALUES ('{ORG_A}', 'a'), ('{ORG_B}', 'b');
        INSERT INTO notes (org_id, body) SELECT o.id, 'note ' || g FROM orgs o, generate_series(1, 3) g;
        """
    )
    return db


def jwt_context(claims: dict[str, str]):
    return lambda scope: TenantContext(
        model="setting", tenant_column="org_id", tenant_table=tenants_of(scope), tenant_key=scope.tenant_key,
        setting="request.jwt.claims", json_path=("org_id",), claims=claims,
    )


JWT_OPTIONS = {"tenant_column": "org_id", "tenant_table": "public.orgs", "setting": "request.jwt.claims"}


@pytest.mark.parametrize("probe", ["read", "write"])
def test_a_fence_that_reads_a_role_claim_is_proven_with_the_configured_claims(jwt_orgs, monkeypatch, probe):
    report = audit_in_context(jwt_orgs, monkeypatch, jwt_context({"user_role": "member"}), probe=probe, **JWT_OPTIONS)
    show(report, "notes")
    seen = outcomes(report, "notes")
    assert seen["read"] == PASS
    assert seen["unset-read"] == PASS
    if probe == "write":
        assert all(seen[op] == PASS for op in WRITE_OPERATIONS), seen
    assert hits(report, "probe-read-leak") == hits(report, "probe-write-leak") == []


def test_without_the_role_claim_the_same_fence_is_not_proven(jwt_orgs, monkeypatch):
    report = audit_in_context(jwt_orgs, monkeypatch, jwt_context({}), probe="write", **JWT_OPTIONS)
    show(report, "notes")
    assert outcomes(report, "notes")["read"] == NOT_PROVEN
    assert "own rows" in details(report, "notes")["read"]


@pytest.mark.parametrize("probe", ["read", "write"])
def test_a_role_claim_policy_without_the_org_fence_leaks(jwt_orgs, monkeypatch, probe):
    # Planted hole: any member of any org reads every org's notes.
    jwt_orgs.sql(f"CREATE POLICY members_read ON notes FOR SELECT USING (({CLAIMS} ->> 'user_role') = 'member')")
    report = audit_in_context(jwt_orgs, monkeypatch, jwt_context({"user_role": "member"}), probe=probe, **JWT_OPTIONS)
    show(report, "notes")
    assert outcomes(report, "notes")["read"] == LEAK
    assert hits(report, "probe-read-leak") == ["public.notes"]


# -- mapped: the setting holds the tenant's slug ------------------------------------------------

SLUG_FENCE = "tenant_id = (SELECT t.id FROM public.tenants t WHERE t.slug = current_setting('app.tenant', true))"


@pytest.fixture
def slugs(db):
    app = quote(db.app_role)
    db.sql(
        f"""
        CREATE TABLE tenants (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), slug text UNIQUE, name text NOT NULL);
        GRANT SELECT ON tenants TO {app};
        CREATE TABLE projects (
          id bigint GENERATED BY DEFAULT AS IDENTITY,
          tenant_id uuid NOT NULL REFERENCES tenants (id),
          title text NOT NULL,
          PRIMARY KEY (tenant_id, id)
        );
        ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
        ALTER TABLE projects FORCE ROW LEVEL SECURITY;
        CREATE POLICY by_slug ON projects USING ({SLUG_FENCE}) WITH CHECK ({SLUG_FENCE});
        GRANT SELECT, INSERT, UPDATE, DELETE ON projects TO {app};
        INSERT INTO tenants (id, slug, name) VALUES ('{ORG_A}', 'acme', 'Acme'), ('{ORG_B}', 'globex', 'Globex');
        INSERT INTO projects (tenant_id, title) SELECT t.id, 'p' || g FROM tenants t, generate_series(1, 3) g;
        """
    )
    return db


def slug_context(scope):
    return TenantContext(
        model="mapped", tenant_column="tenant_id", tenant_table=tenants_of(scope), tenant_key=scope.tenant_key,
        setting="app.tenant", mapped_key="slug",
    )


@pytest.mark.parametrize("probe", ["read", "write"])
def test_mapped_model_puts_the_slug_in_the_setting(slugs, monkeypatch, probe):
    # The slug column is nullable: synthetic tenants still get one (write mode).
    report = audit_in_context(slugs, monkeypatch, slug_context, probe=probe, setting="app.tenant")
    show(report, "projects")
    seen = outcomes(report, "projects")
    assert seen["read"] == PASS
    assert seen["unset-read"] == PASS
    if probe == "write":
        assert all(seen[op] == PASS for op in WRITE_OPERATIONS), seen
    assert [f for f in report.findings if f.category.startswith("probe-")] == []


def test_the_tenant_id_in_a_slug_setting_proves_nothing(slugs):
    # The setting model puts the id where the policies expect a slug: no tenant sees its own rows.
    report = slugs.audit(probe="read", setting="app.tenant")
    show(report, "projects")
    assert outcomes(report, "projects")["read"] == NOT_PROVEN


@pytest.mark.parametrize("probe", ["read", "write"])
def test_mapped_model_finds_a_permissive_hole(slugs, monkeypatch, probe):
    slugs.sql("CREATE POLICY anyone_with_a_slug ON projects FOR SELECT USING (current_setting('app.tenant', true) <> '')")
    report = audit_in_context(slugs, monkeypatch, slug_context, probe=probe, setting="app.tenant")
    show(report, "projects")
    assert outcomes(report, "projects")["read"] == LEAK
    assert hits(report, "probe-read-leak") == ["public.projects"]


# -- "unrecognized configuration parameter": fails closed ------------------------------------------

def test_current_setting_without_missing_ok_fails_closed_by_error(db):
    # Never set in the session, current_setting('app.tenant_id') raises 42704: no row is shown.
    # After a reset to '' the NULLIF makes the fence match nothing: that part passes.
    fence = "tenant_id = NULLIF(current_setting('app.tenant_id'), '')::uuid"
    db.tenants()
    db.fenced_table("items")
    db.sql(
        f"""DROP POLICY tenant_isolation ON items;
            CREATE POLICY tenant_isolation ON items USING ({fence}) WITH CHECK ({fence});
            INSERT INTO tenants (id, name) VALUES ('{ORG_A}', 'a'), ('{ORG_B}', 'b');
            INSERT INTO items (tenant_id, body) SELECT t.id, 'x' FROM tenants t"""
    )
    for probe in ("read", "write"):
        report = db.audit(probe=probe)
        show(report, "items")
        assert outcomes(report, "items")["unset-read"] == FAILS_CLOSED_BY_ERROR
        assert "42704" in details(report, "items")["unset-read"]
        assert outcomes(report, "items")["read"] == PASS
        assert hits(report, "probe-unset-leak") == []


# -- synthetic rows under the database's normal search_path --------------------------------------

def test_a_default_that_calls_an_unqualified_function_works(db):
    db.tenants()
    db.sql(
        """
        CREATE FUNCTION public.code_prefix() RETURNS text LANGUAGE sql STABLE AS $$ SELECT 'INV-' $$;
        -- the body names code_prefix() unqualified: resolved under the session's search_path
        CREATE FUNCTION public.next_code() RETURNS text LANGUAGE sql VOLATILE
          AS $$ SELECT code_prefix() || pg_catalog.md5(pg_catalog.random()::text) $$;
        """
    )
    db.fenced_table("invoices", columns="code text NOT NULL DEFAULT public.next_code()")
    report = db.audit(probe="write")
    show(report, "invoices")
    seen = outcomes(report, "invoices")
    assert all(seen[op] == PASS for op in WRITE_OPERATIONS), seen


def test_defaults_use_the_owners_search_path_setting(db):
    # The helper lives in schema app, found through ALTER DATABASE ... SET search_path (what the
    # owner's and the application's sessions get), not through "$user", public.
    owner = db.role("owner")
    db.tenants()
    db.sql(
        f"""
        CREATE ROLE {quote(owner)} NOLOGIN;
        CREATE SCHEMA app AUTHORIZATION {quote(owner)};
        GRANT USAGE ON SCHEMA app TO {quote(db.app_role)};
        CREATE FUNCTION app.code_prefix() RETURNS text LANGUAGE sql STABLE AS $$ SELECT 'INV-' $$;
        SET check_function_bodies = off;  -- code_prefix() is not on this session's search_path
        CREATE FUNCTION public.next_code() RETURNS text LANGUAGE sql VOLATILE
          AS $$ SELECT code_prefix() || pg_catalog.md5(pg_catalog.random()::text) $$;
        ALTER DATABASE {quote(db.name)} SET search_path = app, public;
        """
    )
    table = db.fenced_table("invoices", columns="code text NOT NULL DEFAULT public.next_code()")
    db.sql(f"ALTER TABLE {table} OWNER TO {quote(owner)}; GRANT REFERENCES, SELECT ON tenants TO {quote(owner)}")
    report = db.audit(probe="write")
    show(report, "invoices")
    seen = outcomes(report, "invoices")
    assert all(seen[op] == PASS for op in WRITE_OPERATIONS), seen
