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
        scope.apply_context(make_context(scope))
        scope.context_configured = True  # as --context would: not replaced by inference
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
    # The setting model, forced, puts the id where the policies expect a slug: no tenant sees its own rows.
    report = slugs.audit(probe="read", setting="app.tenant", context_model="setting")
    show(report, "projects")
    assert outcomes(report, "projects")["read"] == NOT_PROVEN
    # left to inference, the policies name the mapped model, and the probe proves the fence
    report = slugs.audit(probe="read", setting="app.tenant")
    show(report, "projects")
    assert (report.context["model"], report.context["mapped_key"]) == ("mapped", "slug"), report.context
    assert outcomes(report, "projects")["read"] == PASS


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


# -- membership: basejump-style accounts + account_user, SECURITY DEFINER helpers ------------------

USER_1 = "00000000-0000-0000-0000-000000000001"  # personal account P1 has this same id
USER_2 = "00000000-0000-0000-0000-000000000002"
TEAM_Q = "00000000-0000-0000-0000-0000000000aa"
USER_3 = "00000000-0000-0000-0000-000000000003"  # personal account P3 only


@pytest.fixture
def accounts(db):
    """accounts (a personal account's id is its owner's user id), account_user (user, account,
    role), documents fenced through a STABLE SECURITY DEFINER helper that reads auth.uid()."""
    app = quote(db.app_role)
    db.sql(
        f"""
        CREATE SCHEMA auth;
        GRANT USAGE ON SCHEMA auth TO {app};
        CREATE TABLE auth.users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email text);
        -- auth.uid(): the JWT's sub, from the legacy claim setting or the claims document
        CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
          SELECT NULLIF(COALESCE(NULLIF(current_setting('request.jwt.claim.sub', true), ''),
                                 NULLIF(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'), '')::uuid
        $$;
        CREATE TABLE accounts (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          name text NOT NULL,
          personal_account boolean NOT NULL DEFAULT false
        );
        CREATE TABLE account_user (
          user_id uuid NOT NULL REFERENCES auth.users (id),
          account_id uuid NOT NULL REFERENCES accounts (id),
          account_role text NOT NULL DEFAULT 'member' CHECK (account_role IN ('owner', 'member')),
          PRIMARY KEY (user_id, account_id)
        );
        CREATE FUNCTION public.get_accounts_with_role(wanted text DEFAULT NULL) RETURNS SETOF uuid
          LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
          SELECT au.account_id FROM public.account_user au
          WHERE au.user_id = auth.uid() AND (wanted IS NULL OR au.account_role = wanted)
        $$;
        CREATE TABLE documents (
          id uuid NOT NULL DEFAULT gen_random_uuid(),
          account_id uuid NOT NULL REFERENCES accounts (id),
          title text NOT NULL,
          PRIMARY KEY (account_id, id)
        );
        ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
        ALTER TABLE documents FORCE ROW LEVEL SECURITY;
        CREATE POLICY members ON documents
          USING (account_id IN (SELECT public.get_accounts_with_role()))
          WITH CHECK (account_id IN (SELECT public.get_accounts_with_role()));
        ALTER TABLE account_user ENABLE ROW LEVEL SECURITY;
        ALTER TABLE account_user FORCE ROW LEVEL SECURITY;
        CREATE POLICY see_team ON account_user FOR SELECT
          USING (user_id = auth.uid() OR account_id IN (SELECT public.get_accounts_with_role()));
        CREATE POLICY owners_add ON account_user FOR INSERT
          WITH CHECK (account_id IN (SELECT public.get_accounts_with_role('owner')));
        CREATE POLICY owners_change ON account_user FOR UPDATE
          USING (account_id IN (SELECT public.get_accounts_with_role('owner')))
          WITH CHECK (account_id IN (SELECT public.get_accounts_with_role('owner')));
        CREATE POLICY owners_remove ON account_user FOR DELETE
          USING (account_id IN (SELECT public.get_accounts_with_role('owner')));
        GRANT SELECT, INSERT, UPDATE, DELETE ON documents, account_user TO {app};
        GRANT SELECT ON accounts TO {app};
        """
    )
    return db


def basejump_data(db, *, single_tenant_user: bool) -> None:
    """User 1 owns personal account P1 (id = user 1's id) and is a member of team Q; user 2 is
    a member of Q too; with ``single_tenant_user``, user 3 has only its personal account P3."""
    db.sql(
        f"""
        INSERT INTO auth.users (id) VALUES ('{USER_1}'), ('{USER_2}'), ('{USER_3}');
        INSERT INTO accounts (id, name, personal_account) VALUES
          ('{USER_1}', 'p1', true), ('{TEAM_Q}', 'q', false), ('{USER_3}', 'p3', true);
        INSERT INTO account_user (user_id, account_id, account_role) VALUES
          ('{USER_1}', '{USER_1}', 'owner'), ('{USER_1}', '{TEAM_Q}', 'member'), ('{USER_2}', '{TEAM_Q}', 'owner');
        -- P1's documents first: a probe that takes "the first tenant with rows" takes P1
        INSERT INTO documents (account_id, title) SELECT '{USER_1}', 'p1 doc ' || g FROM generate_series(1, 3) g;
        INSERT INTO documents (account_id, title) SELECT '{TEAM_Q}', 'q doc ' || g FROM generate_series(1, 3) g;
        INSERT INTO documents (account_id, title) SELECT '{USER_3}', 'p3 doc ' || g FROM generate_series(1, 3) g;
        """
    )
    if single_tenant_user:
        db.sql(f"INSERT INTO account_user (user_id, account_id, account_role) VALUES ('{USER_3}', '{USER_3}', 'owner')")


def account_context(scope):
    return TenantContext(
        model="membership", tenant_column="account_id", tenant_table=tenants_of(scope), tenant_key=scope.tenant_key,
        setting="request.jwt.claims", json_path=("sub",),
        membership=Membership(Relation("public", "account_user"), "user_id", "account_id"),
    )


ACCOUNT_OPTIONS = {"tenant_column": "account_id", "tenant_table": "public.accounts", "setting": "request.jwt.claims"}


def test_membership_read_probe_uses_a_user_whose_only_tenant_is_a(accounts, monkeypatch):
    basejump_data(accounts, single_tenant_user=True)
    report = audit_in_context(accounts, monkeypatch, account_context, probe="read", **ACCOUNT_OPTIONS)
    show(report, "documents", "account_user")
    assert outcomes(report, "documents")["read"] == PASS
    assert outcomes(report, "documents")["unset-read"] == PASS
    assert [f for f in report.findings if f.category.startswith("probe-")] == []


def test_personal_account_case_is_no_leak(accounts, monkeypatch):
    """User 1's id equals its personal account's id, and user 1 is also a member of team Q. The
    old probe put P1's id into sub, so it became user 1 and called Q's rows a critical leak. Under
    the membership model the user in context is one whose only tenant is A (user 2, team Q)."""
    basejump_data(accounts, single_tenant_user=False)
    trap = accounts.audit(probe="read", **ACCOUNT_OPTIONS)  # the setting model: a tenant id in sub
    print("setting model (tenant id in sub):")
    show(trap, "documents")
    report = audit_in_context(accounts, monkeypatch, account_context, probe="read", **ACCOUNT_OPTIONS)
    print("membership model:")
    show(report, "documents", "account_user")
    assert outcomes(report, "documents")["read"] == PASS
    assert hits(report, "probe-read-leak") == []


def test_without_a_user_of_exactly_one_tenant_reads_are_not_proven(accounts, monkeypatch):
    # Only user 1 is left, a member of P1 and Q: no user's context is one tenant.
    basejump_data(accounts, single_tenant_user=False)
    accounts.sql(f"DELETE FROM account_user WHERE user_id = '{USER_2}'")
    report = audit_in_context(accounts, monkeypatch, account_context, probe="read", **ACCOUNT_OPTIONS)
    show(report, "documents")
    assert outcomes(report, "documents")["read"] == NOT_PROVEN
    assert "exactly one tenant" in details(report, "documents")["read"]
    assert hits(report, "probe-read-leak") == []


def test_a_row_of_another_membership_of_the_same_user_is_not_another_tenants(accounts):
    """The judgement itself: with user 1 in context (its tenant A = P1), a row of team Q, where
    user 1 is a member too, is inside the context's tenant set; P3's row is outside."""
    from tenantaudit.audit.catalog import resolve_scope
    from tenantaudit.audit.probes import ProbeContext, Subject
    from tenantaudit.config import AuditConfig

    basejump_data(accounts, single_tenant_user=True)
    with psycopg.connect(accounts.dsn) as conn:
        scope = resolve_scope(conn, AuditConfig(app_role=accounts.app_role, **ACCOUNT_OPTIONS))
        scope.context = account_context(scope)
        ctx = ProbeContext(conn, scope, accounts.app_role, "5s")
        user_1 = Subject(frozenset([USER_1]), value=USER_1, user=USER_1)
        team, other = ctx.outside(user_1, TEAM_Q), ctx.outside(user_1, USER_3)
        print("Q:", team, "P3:", other)
        assert team[0] is False and "inside the context's own tenant set" in team[1]
        assert other == (True, "")


def test_membership_write_probes_pass_on_the_correct_schema(accounts, monkeypatch):
    basejump_data(accounts, single_tenant_user=True)
    with psycopg.connect(accounts.dsn) as conn:
        before = data_fingerprint(conn)
    report = audit_in_context(accounts, monkeypatch, account_context, probe="write", **ACCOUNT_OPTIONS)
    show(report, "documents", "account_user")
    seen = outcomes(report, "documents")
    assert all(seen[op] == PASS for op in WRITE_OPERATIONS), seen
    # The synthetic user is a plain member of A: only owners may update memberships, so moving
    # A's own membership row is not proven; the rest of account_user is.
    seen = outcomes(report, "account_user")
    assert all(seen[op] == PASS for op in ("read", "insert", "update", "delete")), seen
    assert [f for f in report.findings if f.category.startswith("probe-")] == []
    with psycopg.connect(accounts.dsn) as conn:
        assert data_fingerprint(conn) == before  # synthetic users and memberships rolled back


def test_a_membership_row_that_can_be_inserted_for_another_tenant_is_a_write_leak(accounts, monkeypatch):
    # Planted hole: "users may add themselves" lets any user join any account (a takeover path).
    accounts.sql("CREATE POLICY join_yourself ON account_user FOR INSERT WITH CHECK (user_id = auth.uid())")
    report = audit_in_context(accounts, monkeypatch, account_context, probe="write", **ACCOUNT_OPTIONS)
    show(report, "account_user", "documents")
    assert outcomes(report, "account_user")["insert"] == LEAK
    assert "takeover" in details(report, "account_user")["insert"]
    assert hits(report, "probe-write-leak") == ["public.account_user"]
    assert outcomes(report, "documents")["read"] == PASS


@pytest.mark.parametrize("probe", ["read", "write"])
def test_a_helper_that_forgets_the_calling_user_leaks(accounts, monkeypatch, probe):
    # Planted hole: the helper returns every account with a member, whoever calls it.
    basejump_data(accounts, single_tenant_user=True)
    accounts.sql(
        """CREATE OR REPLACE FUNCTION public.get_accounts_with_role(wanted text DEFAULT NULL) RETURNS SETOF uuid
             LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
             SELECT au.account_id FROM public.account_user au WHERE (wanted IS NULL OR au.account_role = wanted)
           $$"""
    )
    report = audit_in_context(accounts, monkeypatch, account_context, probe=probe, **ACCOUNT_OPTIONS)
    show(report, "documents")
    assert outcomes(report, "documents")["read"] == LEAK
    assert "probe-read-leak" in {f.category for f in report.findings if f.table == "documents"}


# -- membership through a session: session id -> sessions -> memberships (PostGraphile-style) ------

@pytest.fixture
def sessions(db):
    app = quote(db.app_role)
    db.sql(
        f"""
        CREATE SCHEMA app_private;
        CREATE TABLE users (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, username text NOT NULL UNIQUE);
        CREATE TABLE app_private.sessions (
          uuid uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          user_id bigint NOT NULL REFERENCES users (id),
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE FUNCTION public.current_session_user_id() RETURNS bigint
          LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
          SELECT s.user_id FROM app_private.sessions s
          WHERE s.uuid = NULLIF(current_setting('jwt.claims.session_id', true), '')::uuid
        $$;
        CREATE TABLE organizations (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name text NOT NULL);
        CREATE TABLE organization_memberships (
          id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
          organization_id bigint NOT NULL REFERENCES organizations (id),
          user_id bigint NOT NULL REFERENCES users (id),
          UNIQUE (organization_id, user_id)
        );
        CREATE FUNCTION public.current_user_organization_ids() RETURNS SETOF bigint
          LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
          SELECT m.organization_id FROM public.organization_memberships m WHERE m.user_id = public.current_session_user_id()
        $$;
        CREATE TABLE posts (
          id bigint GENERATED BY DEFAULT AS IDENTITY,
          organization_id bigint NOT NULL REFERENCES organizations (id),
          body text NOT NULL,
          PRIMARY KEY (organization_id, id)
        );
        ALTER TABLE posts ENABLE ROW LEVEL SECURITY;
        ALTER TABLE posts FORCE ROW LEVEL SECURITY;
        CREATE POLICY in_my_orgs ON posts
          USING (organization_id IN (SELECT public.current_user_organization_ids()))
          WITH CHECK (organization_id IN (SELECT public.current_user_organization_ids()));
        GRANT SELECT, INSERT, UPDATE, DELETE ON posts TO {app};
        INSERT INTO users (id, username) VALUES (1, 'ann'), (2, 'bob');
        INSERT INTO organizations (id, name) VALUES (1, 'one'), (2, 'two');
        INSERT INTO organization_memberships (organization_id, user_id) VALUES (1, 1), (2, 2);
        INSERT INTO app_private.sessions (user_id) VALUES (1), (2);
        SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence('users', 'id'), 10);
        SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence('organizations', 'id'), 10);
        INSERT INTO posts (organization_id, body) SELECT o.id, 'post' FROM organizations o, generate_series(1, 3);
        """
    )
    return db


def session_context(scope):
    return TenantContext(
        model="membership", tenant_column="organization_id", tenant_table=tenants_of(scope), tenant_key=scope.tenant_key,
        setting="jwt.claims.session_id",
        membership=Membership(Relation("public", "organization_memberships"), "user_id", "organization_id"),
        session=SessionMap(Relation("app_private", "sessions"), "uuid", "user_id"),
    )


SESSION_OPTIONS = {"tenant_column": "organization_id", "tenant_table": "public.organizations", "setting": "jwt.claims.session_id"}


@pytest.mark.parametrize("probe", ["read", "write"])
def test_session_mapped_membership_passes(sessions, monkeypatch, probe):
    report = audit_in_context(sessions, monkeypatch, session_context, probe=probe, **SESSION_OPTIONS)
    show(report, "posts")
    seen = outcomes(report, "posts")
    assert seen["read"] == PASS
    assert seen["unset-read"] == PASS
    if probe == "write":
        assert all(seen[op] == PASS for op in WRITE_OPERATIONS), seen
    assert [f for f in report.findings if f.category.startswith("probe-")] == []


@pytest.mark.parametrize("probe", ["read", "write"])
def test_session_mapped_membership_finds_an_open_update_policy(sessions, monkeypatch, probe):
    # Planted hole: any signed-in session may update any organization's posts.
    sessions.sql(
        """CREATE POLICY any_session_updates ON posts FOR UPDATE
             USING (public.current_session_user_id() IS NOT NULL) WITH CHECK (true)"""
    )
    report = audit_in_context(sessions, monkeypatch, session_context, probe=probe, **SESSION_OPTIONS)
    show(report, "posts")
    seen = outcomes(report, "posts")
    if probe == "read":
        assert seen["read"] == PASS  # reads are still fenced: only write probes can see this hole
    else:
        assert seen["update"] == LEAK
        assert set(hits(report, "probe-write-leak")) == {"public.posts"}


# -- role: one database role per tenant, a RESTRICTIVE fence beside USING (true) ------------------

@pytest.fixture
def tenant_roles(db):
    app = quote(db.app_role)
    role_a, role_b = db.role("ta"), db.role("tb")
    db.sql(
        f"""
        CREATE ROLE {quote(role_a)} NOLOGIN IN ROLE {app};
        CREATE ROLE {quote(role_b)} NOLOGIN IN ROLE {app};
        CREATE TABLE tenants (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), db_user name NOT NULL UNIQUE, name text);
        GRANT SELECT ON tenants TO {app};
        CREATE TABLE orders (
          id uuid NOT NULL DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL REFERENCES tenants (id),
          total numeric NOT NULL DEFAULT 0,
          PRIMARY KEY (tenant_id, id)
        );
        ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
        ALTER TABLE orders FORCE ROW LEVEL SECURITY;
        CREATE POLICY everyone ON orders USING (true) WITH CHECK (true);
        CREATE POLICY fence ON orders AS RESTRICTIVE
          USING (tenant_id = (SELECT t.id FROM public.tenants t WHERE t.db_user = current_user))
          WITH CHECK (tenant_id = (SELECT t.id FROM public.tenants t WHERE t.db_user = current_user));
        GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO {app};
        INSERT INTO tenants (id, db_user, name) VALUES ('{ORG_A}', '{role_a}', 'a'), ('{ORG_B}', '{role_b}', 'b');
        INSERT INTO orders (tenant_id, total) SELECT t.id, 10 FROM tenants t, generate_series(1, 3);
        """
    )
    return db


def role_context(role_column: str | None = "db_user"):
    return lambda scope: TenantContext(
        model="role", tenant_column="tenant_id", tenant_table=tenants_of(scope), tenant_key=scope.tenant_key,
        role_column=role_column,
    )


@pytest.mark.parametrize("probe", ["read", "write"])
def test_role_per_tenant_restrictive_fence_passes(tenant_roles, monkeypatch, probe):
    report = audit_in_context(tenant_roles, monkeypatch, role_context(), probe=probe)
    show(report, "orders")
    seen = outcomes(report, "orders")
    assert seen["read"] == PASS
    assert seen["unset-read"] == PASS  # the app role itself is no tenant: it sees nothing
    if probe == "write":
        assert all(seen[op] == PASS for op in WRITE_OPERATIONS), seen
    assert [f for f in report.findings if f.category.startswith("probe-")] == []


@pytest.mark.parametrize("probe", ["read", "write"])
def test_role_per_tenant_without_the_restrictive_fence_leaks(tenant_roles, monkeypatch, probe):
    tenant_roles.sql("DROP POLICY fence ON orders")
    report = audit_in_context(tenant_roles, monkeypatch, role_context(), probe=probe)
    show(report, "orders")
    assert outcomes(report, "orders")["read"] == LEAK
    assert "probe-read-leak" in {f.category for f in report.findings if f.table == "orders"}
    if probe == "write":
        assert set(hits(report, "probe-write-leak")) == {"public.orders"}


def test_role_model_without_a_reachable_tenant_role_is_not_proven(tenant_roles, monkeypatch):
    # The role named like the tenant's key does not exist: no tenant can be put in context.
    report = audit_in_context(tenant_roles, monkeypatch, role_context(None), probe="read")
    show(report, "orders")
    assert outcomes(report, "orders")["read"] == NOT_PROVEN
    assert "SET ROLE" in details(report, "orders")["read"]
    assert [f for f in report.findings if f.category.startswith("probe-")] == []
