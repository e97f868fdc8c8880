"""Schema and data fingerprints: what they see, what they ignore, and how differences read."""

from __future__ import annotations

import re

import psycopg
import pytest

from tenantaudit.rehearsal.fingerprint import (
    Difference,
    data_fingerprint,
    diff_data,
    diff_schema,
    schema_fingerprint,
    table_columns,
)

FENCE = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
FENCE_TEXT = "(tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)"

BASE = """
CREATE TABLE public.tenants (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE public.leads (
  id bigint NOT NULL,
  tenant_id uuid,
  email text,
  CONSTRAINT leads_pkey PRIMARY KEY (id)
);
"""


def schema_of(dsn: str, **options) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        return schema_fingerprint(conn, **options)


def data_of(dsn: str, **options) -> dict[str, tuple[int, str]]:
    with psycopg.connect(dsn) as conn:
        return data_fingerprint(conn, **options)


def schema_change(db, change: str, setup: str = BASE) -> list[Difference]:
    if setup:
        db.sql(setup)
    before = schema_of(db.dsn)
    db.sql(change)
    return diff_schema(before, schema_of(db.dsn))


def by_key(differences: list[Difference]) -> dict[str, Difference]:
    return {d.key: d for d in differences}


@pytest.fixture
def other_db(sandbox, db):
    """A second fresh database beside `db` (same application role), for comparing two builds."""
    name = f"{db.name}_other"
    dsn = sandbox.create_database(name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'GRANT USAGE ON SCHEMA public TO "{db.app_role}"')
    try:
        yield dsn
    finally:
        sandbox.drop_database(name)


# --------------------------------------------------------------------------------------------
# Schema: what compares equal
# --------------------------------------------------------------------------------------------


def test_same_schema_built_in_different_orders_compares_equal(db, other_db):
    app = db.app_role
    # Built step by step, with detours: unrelated objects first (other OIDs), a column added later,
    # a column added then dropped (a dropped attribute stays in pg_attribute), an enum label
    # inserted BEFORE another, a function replaced, a grant given then partly revoked.
    db.sql(
        """
        CREATE TABLE public.scratch (x int); DROP TABLE public.scratch;
        CREATE TYPE public.mood AS ENUM ('happy', 'sad');
        ALTER TYPE public.mood ADD VALUE 'meh' BEFORE 'sad';
        """
    )
    db.sql(
        f"""
        CREATE TABLE public.tenants (id uuid PRIMARY KEY, name text);
        ALTER TABLE public.tenants ALTER COLUMN name SET NOT NULL;
        CREATE TABLE public.leads (id bigint PRIMARY KEY, junk int, email text);
        ALTER TABLE public.leads DROP COLUMN junk;
        ALTER TABLE public.leads ADD COLUMN tenant_id uuid;
        ALTER TABLE public.leads ALTER COLUMN tenant_id SET NOT NULL;
        ALTER TABLE public.leads ADD CONSTRAINT leads_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES public.tenants (id);
        ALTER TABLE public.leads ADD COLUMN feeling public.mood DEFAULT 'meh';
        CREATE INDEX idx_leads_tenant_id ON public.leads (tenant_id);
        ALTER TABLE public.leads ENABLE ROW LEVEL SECURITY;
        ALTER TABLE public.leads FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation_leads ON public.leads USING (true);
        ALTER POLICY tenant_isolation_leads ON public.leads USING ({FENCE}) WITH CHECK ({FENCE});
        CREATE FUNCTION public.lead_count(t uuid) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
        CREATE OR REPLACE FUNCTION public.lead_count(t uuid) RETURNS bigint LANGUAGE sql STABLE
          AS 'SELECT count(*) FROM public.leads WHERE tenant_id = t';
        CREATE VIEW public.lead_emails AS SELECT id, email FROM public.leads;
        GRANT SELECT, INSERT, UPDATE, DELETE ON public.leads TO "{app}";
        REVOKE DELETE ON public.leads FROM "{app}";
        CREATE SEQUENCE public.invoice_no;
        """
    )
    with psycopg.connect(other_db, autocommit=True) as conn:
        # Built in one go, in another order.
        conn.execute(
            f"""
            CREATE SEQUENCE public.invoice_no;
            CREATE TYPE public.mood AS ENUM ('happy', 'meh', 'sad');
            CREATE TABLE public.tenants (id uuid PRIMARY KEY, name text NOT NULL);
            CREATE TABLE public.leads (
              feeling public.mood DEFAULT 'meh',
              tenant_id uuid NOT NULL REFERENCES public.tenants (id),
              email text,
              id bigint PRIMARY KEY
            );
            CREATE VIEW public.lead_emails AS SELECT id, email FROM public.leads;
            CREATE FUNCTION public.lead_count(t uuid) RETURNS bigint LANGUAGE sql STABLE
              AS 'SELECT count(*) FROM public.leads WHERE tenant_id = t';
            GRANT INSERT, SELECT, UPDATE ON public.leads TO "{app}";
            CREATE POLICY tenant_isolation_leads ON public.leads USING ({FENCE}) WITH CHECK ({FENCE});
            ALTER TABLE public.leads FORCE ROW LEVEL SECURITY;
            ALTER TABLE public.leads ENABLE ROW LEVEL SECURITY;
            CREATE INDEX idx_leads_tenant_id ON public.leads (tenant_id);
            """
        )
    first, second = schema_of(db.dsn), schema_of(other_db)
    assert diff_schema(first, second) == []
    assert first == second
    assert list(first) == sorted(first)
    # the snapshot really saw the objects
    assert first["column public.leads.tenant_id"] == "uuid not null"
    assert first["column public.leads.feeling"] == "public.mood default 'meh'::public.mood"
    assert first["type public.mood"] == "enum ('happy', 'meh', 'sad')"
    assert first["rls public.leads"] == "enabled, forced"
    assert first["constraint public.leads.leads_tenant_id_fkey"] == "FOREIGN KEY (tenant_id) REFERENCES public.tenants(id)"
    assert first["index public.idx_leads_tenant_id"] == "CREATE INDEX idx_leads_tenant_id ON public.leads USING btree (tenant_id)"
    assert first["policy public.leads.tenant_isolation_leads"] == (
        f"permissive for ALL to PUBLIC using ({FENCE_TEXT}) with check ({FENCE_TEXT})"
    )
    assert first["grant public.leads"].startswith(f"{app}:INSERT,SELECT,UPDATE; owner:")
    assert first["owner public.leads"] == "postgres"
    assert "language sql" in first["function public.lead_count(uuid)"]
    assert "view public.lead_emails" in first and "sequence public.invoice_no" in first


def test_no_oids_positions_or_timestamps_in_the_snapshot(db):
    db.sql(BASE + "CREATE VIEW public.v AS SELECT * FROM public.leads; CREATE SEQUENCE public.s;")
    fingerprint = schema_of(db.dsn)
    oids = {str(oid) for (oid,) in db.sql("SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace")}
    text = "\n".join(f"{k} {v}" for k, v in fingerprint.items())
    assert oids and not any(re.search(rf"\b{oid}\b", text) for oid in oids)
    db.sql("SELECT nextval('public.s'); SELECT nextval('public.s'); ANALYZE")
    db.sql("VACUUM FULL public.leads")  # a new relfilenode, same schema
    assert schema_of(db.dsn) == fingerprint


def test_add_then_drop_column_round_trip_is_equal(db):
    db.sql(BASE)
    before = schema_of(db.dsn)
    db.sql("ALTER TABLE public.leads ADD COLUMN tenant_note text NOT NULL DEFAULT 'x'")
    db.sql("CREATE INDEX idx_leads_note ON public.leads (tenant_note)")
    middle = schema_of(db.dsn)
    db.sql("ALTER TABLE public.leads DROP COLUMN tenant_note")
    assert db.sql("SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.leads'::regclass AND attisdropped") == [(1,)]
    assert diff_schema(before, schema_of(db.dsn)) == []
    assert [(d.kind, d.key) for d in diff_schema(before, middle)] == [
        ("added", "column public.leads.tenant_note"),
        ("added", "index public.idx_leads_note"),
    ]


def test_dropped_and_re_added_column_compares_equal_whatever_its_position(db):
    db.sql(BASE)
    before = schema_of(db.dsn)
    db.sql("ALTER TABLE public.leads DROP COLUMN tenant_id; ALTER TABLE public.leads ADD COLUMN tenant_id uuid")
    assert diff_schema(before, schema_of(db.dsn)) == []


def test_search_path_of_the_caller_does_not_matter_and_is_restored(db):
    db.sql(BASE + "CREATE TYPE public.mood AS ENUM ('a'); ALTER TABLE public.leads ADD COLUMN m public.mood DEFAULT 'a'")
    results = []
    for path in ("pg_catalog", "public", '"$user", public, pg_catalog'):
        with psycopg.connect(db.dsn, autocommit=True) as conn:
            conn.execute(f"SET search_path = {path}")
            shown = conn.execute("SHOW search_path").fetchone()[0]
            results.append(schema_fingerprint(conn))
            assert conn.execute("SHOW search_path").fetchone()[0] == shown
    assert results[0] == results[1] == results[2]
    assert results[0]["column public.leads.m"] == "public.mood default 'a'::public.mood"


def test_inside_a_callers_transaction_search_path_is_left_alone(db):
    db.sql(BASE)
    with psycopg.connect(db.dsn) as conn:  # not autocommit: a transaction is open
        conn.execute("SET LOCAL search_path = public")
        schema_fingerprint(conn)
        assert conn.execute("SHOW search_path").fetchone()[0] == "public"
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS


def test_schemas_option_restricts_the_snapshot(db):
    db.sql(BASE + "CREATE SCHEMA app; CREATE TABLE app.calls (id int PRIMARY KEY, note text)")
    everything = schema_of(db.dsn)
    only_app = schema_of(db.dsn, schemas=["app"])
    assert "table app.calls" in everything and "table public.leads" in everything
    assert "table app.calls" in only_app and "schema app" in only_app
    assert not any("public." in key or key.endswith(" public") for key in only_app)


def test_extension_members_are_left_out_and_the_extension_listed(db):
    if not db.sql("SELECT 1 FROM pg_available_extensions WHERE name = 'pgcrypto'"):
        pytest.skip("pgcrypto is not available in this PostgreSQL")
    before = schema_of(db.dsn)
    db.sql("CREATE EXTENSION pgcrypto")
    differences = diff_schema(before, schema_of(db.dsn))
    assert [(d.kind, d.key) for d in differences] == [("added", "extension pgcrypto")]
    assert differences[0].after.startswith("version ") and differences[0].after.endswith(", schema public")


def test_a_fixed_number_of_catalog_queries(db):
    def count_queries(tables: int) -> int:
        db.sql("".join(f"CREATE TABLE IF NOT EXISTS public.t{i} (id int PRIMARY KEY, v text);" for i in range(tables)))
        with psycopg.connect(db.dsn) as conn:
            seen = []
            conn.add_notice_handler(lambda _: None)
            original = conn.cursor

            class Counting:
                def __init__(self, cur):
                    self._cur = cur

                def execute(self, query, *args, **kwargs):
                    seen.append(query)
                    self._cur.execute(query, *args, **kwargs)
                    return self

                def __getattr__(self, name):
                    return getattr(self._cur, name)

            def cursor(*args, **kwargs):
                return Counting(original(*args, **kwargs))

            conn.cursor = cursor
            schema_fingerprint(conn)
            return len(seen)

    assert count_queries(2) == count_queries(30) < 25


# --------------------------------------------------------------------------------------------
# Schema: each kind of difference, and how it reads
# --------------------------------------------------------------------------------------------


def test_column_added_and_removed(db):
    differences = schema_change(db, "ALTER TABLE public.leads ADD COLUMN note text; ALTER TABLE public.leads DROP COLUMN email")
    assert differences == [
        Difference("removed", "column public.leads.email", "text", None),
        Difference("added", "column public.leads.note", None, "text"),
    ]
    assert differences[0].describe() == "column public.leads.email is missing"
    assert differences[1].describe() == "column public.leads.note still exists"
    assert differences[1].describe(expected_gone="was added") == "column public.leads.note was added"


def test_column_not_null(db):
    differences = schema_change(db, "ALTER TABLE public.leads ALTER COLUMN tenant_id SET NOT NULL")
    assert differences == [Difference("changed", "column public.leads.tenant_id", "uuid", "uuid not null")]
    assert differences[0].describe() == "column public.leads.tenant_id: uuid -> uuid not null"


def test_column_default(db):
    differences = schema_change(db, "ALTER TABLE public.leads ALTER COLUMN email SET DEFAULT 'none'")
    assert [d.describe() for d in differences] == ["column public.leads.email: text -> text default 'none'::text"]


def test_column_type(db):
    differences = schema_change(db, "ALTER TABLE public.leads ALTER COLUMN email TYPE varchar(200)")
    assert [d.describe() for d in differences] == ["column public.leads.email: text -> character varying(200)"]


def test_column_identity_and_generated(db):
    differences = schema_change(
        db,
        """ALTER TABLE public.leads ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY;
           ALTER TABLE public.leads ADD COLUMN domain text GENERATED ALWAYS AS (split_part(email, '@', 2)) STORED""",
    )
    found = by_key(differences)
    assert found["column public.leads.id"].after == "bigint not null generated always as identity"
    assert found["column public.leads.domain"].after.startswith("text generated always as (split_part(")
    assert found["sequence public.leads_id_seq"].after.endswith("owned by public.leads.id (identity)")


def test_index_added_removed_changed(db):
    differences = schema_change(db, "CREATE INDEX idx_leads_tenant_id ON public.leads (tenant_id)")
    assert differences == [
        Difference("added", "index public.idx_leads_tenant_id", None,
                   "CREATE INDEX idx_leads_tenant_id ON public.leads USING btree (tenant_id)")
    ]
    assert differences[0].describe() == "index public.idx_leads_tenant_id still exists"
    differences = schema_change(
        db, "DROP INDEX public.idx_leads_tenant_id; CREATE INDEX idx_leads_tenant_id ON public.leads (tenant_id, id)", setup=""
    )
    assert [d.describe() for d in differences] == [
        "index public.idx_leads_tenant_id: CREATE INDEX idx_leads_tenant_id ON public.leads USING btree (tenant_id)"
        " -> CREATE INDEX idx_leads_tenant_id ON public.leads USING btree (tenant_id, id)"
    ]
    differences = schema_change(db, "DROP INDEX public.idx_leads_tenant_id", setup="")
    assert [d.describe() for d in differences] == ["index public.idx_leads_tenant_id is missing"]


def test_constraint_added_and_removed(db):
    differences = schema_change(
        db, "ALTER TABLE public.leads ADD CONSTRAINT leads_tenant_fk FOREIGN KEY (tenant_id) REFERENCES public.tenants (id)"
    )
    assert differences == [
        Difference("added", "constraint public.leads.leads_tenant_fk", None, "FOREIGN KEY (tenant_id) REFERENCES public.tenants(id)")
    ]
    differences = schema_change(db, "ALTER TABLE public.leads DROP CONSTRAINT leads_pkey", setup="")
    assert [d.describe() for d in differences] == [
        "constraint public.leads.leads_pkey is missing",
        "index public.leads_pkey is missing",
    ]


def test_constraint_changed_keeps_its_name(db):
    differences = schema_change(
        db,
        """ALTER TABLE public.leads DROP CONSTRAINT leads_pkey;
           ALTER TABLE public.leads ADD CONSTRAINT leads_pkey PRIMARY KEY (tenant_id, id)""",
        setup=BASE + "ALTER TABLE public.leads ALTER COLUMN tenant_id SET NOT NULL",
    )
    found = by_key(differences)
    assert found["constraint public.leads.leads_pkey"].describe() == (
        "constraint public.leads.leads_pkey: PRIMARY KEY (id) -> PRIMARY KEY (tenant_id, id)"
    )
    assert found["index public.leads_pkey"].kind == "changed"


def test_rls_enable_force_disable(db):
    differences = schema_change(db, "ALTER TABLE public.leads ENABLE ROW LEVEL SECURITY")
    assert [d.describe() for d in differences] == ["rls public.leads: disabled -> enabled, not forced"]
    differences = schema_change(db, "ALTER TABLE public.leads FORCE ROW LEVEL SECURITY", setup="")
    assert [d.describe() for d in differences] == ["rls public.leads: enabled, not forced -> enabled, forced"]
    differences = schema_change(
        db, "ALTER TABLE public.leads NO FORCE ROW LEVEL SECURITY; ALTER TABLE public.leads DISABLE ROW LEVEL SECURITY", setup=""
    )
    assert [d.describe() for d in differences] == ["rls public.leads: enabled, forced -> disabled"]
    assert schema_of(db.dsn)["rls public.tenants"] == "disabled"


def test_policy_added_and_removed(db):
    differences = schema_change(
        db, f"ALTER TABLE public.leads ENABLE ROW LEVEL SECURITY; CREATE POLICY tenant_isolation_leads ON public.leads USING ({FENCE})"
    )
    found = by_key(differences)
    assert found["policy public.leads.tenant_isolation_leads"] == Difference(
        "added", "policy public.leads.tenant_isolation_leads", None, f"permissive for ALL to PUBLIC using ({FENCE_TEXT})"
    )
    assert found["policy public.leads.tenant_isolation_leads"].describe() == (
        "policy public.leads.tenant_isolation_leads still exists"
    )
    differences = schema_change(db, "DROP POLICY tenant_isolation_leads ON public.leads", setup="")
    assert [d.describe() for d in differences] == ["policy public.leads.tenant_isolation_leads is missing"]


def test_policy_expression_changed(db):
    setup = BASE + f"CREATE POLICY tenant_isolation_leads ON public.leads USING ({FENCE})"
    differences = schema_change(
        db, "ALTER POLICY tenant_isolation_leads ON public.leads USING (tenant_id = current_setting('app.tenant_id')::uuid)",
        setup=setup,
    )
    assert len(differences) == 1 and differences[0].kind == "changed"
    assert differences[0].describe() == (
        f"policy public.leads.tenant_isolation_leads: permissive for ALL to PUBLIC using ({FENCE_TEXT})"
        " -> permissive for ALL to PUBLIC using ((tenant_id = (current_setting('app.tenant_id'::text))::uuid))"
    )
    differences = schema_change(
        db, f"ALTER POLICY tenant_isolation_leads ON public.leads WITH CHECK ({FENCE})", setup=""
    )
    assert differences[0].after.endswith(f" with check ({FENCE_TEXT})")


def test_policy_roles_command_and_restrictive(db):
    role_b, role_a = db.role("b"), db.role("a")
    db.sql(f'CREATE ROLE "{role_a}" NOLOGIN; CREATE ROLE "{role_b}" NOLOGIN')
    setup = BASE + f"CREATE POLICY p ON public.leads USING ({FENCE})"
    differences = schema_change(db, f'ALTER POLICY p ON public.leads TO "{role_b}", "{role_a}"', setup=setup)
    assert [(d.before, d.after) for d in differences] == [
        (f"permissive for ALL to PUBLIC using ({FENCE_TEXT})", f"permissive for ALL to {role_a}, {role_b} using ({FENCE_TEXT})")
    ]
    differences = schema_change(
        db, f'DROP POLICY p ON public.leads; CREATE POLICY p ON public.leads AS RESTRICTIVE FOR SELECT TO "{role_a}" USING (true)',
        setup="",
    )
    assert differences[0].after == f"restrictive for SELECT to {role_a} using (true)"


def test_view_definition_and_options(db):
    setup = BASE + "CREATE VIEW public.lead_emails AS SELECT id, email FROM public.leads"
    differences = schema_change(
        db, "CREATE OR REPLACE VIEW public.lead_emails AS SELECT id, email FROM public.leads WHERE tenant_id IS NOT NULL",
        setup=setup,
    )
    assert [(d.kind, d.key) for d in differences] == [("changed", "view public.lead_emails")]
    sentence = differences[0].describe()
    assert sentence.startswith("view public.lead_emails: view, as SELECT") and "\n" not in sentence
    assert "WHERE" not in sentence.split(" -> ")[0] and "tenant_id IS NOT NULL" in sentence.split(" -> ")[1]
    differences = schema_change(db, "ALTER VIEW public.lead_emails SET (security_barrier = true)", setup="")
    assert "with (security_barrier=true)" in differences[0].after
    differences = schema_change(db, "DROP VIEW public.lead_emails", setup="")
    assert [d.describe() for d in differences] == ["owner public.lead_emails is missing", "view public.lead_emails is missing"]


def test_long_descriptions_read_as_the_part_that_differs(db):
    long_list = ", ".join(f"email AS e{i}" for i in range(40))
    setup = BASE + f"CREATE VIEW public.wide AS SELECT {long_list}, 1 AS marker FROM public.leads"
    differences = schema_change(
        db, f"CREATE OR REPLACE VIEW public.wide AS SELECT {long_list}, 2 AS marker FROM public.leads", setup=setup
    )
    sentence = differences[0].describe()
    assert len(sentence) < 300 and "1 AS marker" in sentence and "2 AS marker" in sentence and "…" in sentence


def test_matview(db):
    differences = schema_change(db, "CREATE MATERIALIZED VIEW public.lead_totals AS SELECT count(*) AS n FROM public.leads")
    found = by_key(differences)
    assert found["matview public.lead_totals"].after.startswith("materialized view, as SELECT count(*) AS n")


def test_function_body_security_definer_volatility_config(db):
    setup = BASE + "CREATE FUNCTION public.f(t uuid) RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint'"
    differences = schema_change(
        db, "CREATE OR REPLACE FUNCTION public.f(t uuid) RETURNS bigint LANGUAGE sql AS 'SELECT 2::bigint'", setup=setup
    )
    assert [(d.kind, d.key) for d in differences] == [("changed", "function public.f(uuid)")]
    assert differences[0].before.split("body md5 ")[0] == differences[0].after.split("body md5 ")[0]
    differences = schema_change(db, "ALTER FUNCTION public.f(uuid) SECURITY DEFINER", setup="")
    assert "security invoker" in differences[0].before and "security definer" in differences[0].after
    differences = schema_change(db, "ALTER FUNCTION public.f(uuid) STABLE SET search_path = pg_catalog", setup="")
    assert "volatile" in differences[0].before and ", stable, " in differences[0].after
    assert "set search_path=pg_catalog" in differences[0].after
    differences = schema_change(db, "REVOKE EXECUTE ON FUNCTION public.f(uuid) FROM PUBLIC", setup="")
    assert [(d.kind, d.key, d.after) for d in differences] == [("added", "grant function public.f(uuid)", "owner:EXECUTE")]
    differences = schema_change(db, "CREATE FUNCTION public.f(t uuid, n int) RETURNS int LANGUAGE sql AS 'SELECT n'", setup="")
    assert {d.key for d in differences} == {"function public.f(uuid, integer)", "owner function public.f(uuid, integer)"}


def test_trigger(db):
    setup = BASE + "CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'"
    differences = schema_change(
        db, "CREATE TRIGGER leads_touch BEFORE UPDATE ON public.leads FOR EACH ROW EXECUTE FUNCTION public.touch()", setup=setup
    )
    assert [(d.kind, d.key) for d in differences] == [("added", "trigger public.leads.leads_touch")]
    assert "BEFORE UPDATE ON public.leads FOR EACH ROW EXECUTE FUNCTION public.touch()" in differences[0].after
    differences = schema_change(db, "ALTER TABLE public.leads DISABLE TRIGGER leads_touch", setup="")
    assert differences[0].after.endswith(" (disabled)")
    differences = schema_change(db, "DROP TRIGGER leads_touch ON public.leads", setup="")
    assert [d.describe() for d in differences] == ["trigger public.leads.leads_touch is missing"]


def test_foreign_key_triggers_are_not_listed(db):
    differences = schema_change(
        db, "ALTER TABLE public.leads ADD CONSTRAINT fk FOREIGN KEY (tenant_id) REFERENCES public.tenants (id)"
    )
    assert [d.key for d in differences] == ["constraint public.leads.fk"]


def test_grants_and_owner(db):
    app = db.app_role
    owner = db.role("owner")
    db.sql(f'CREATE ROLE "{owner}" NOLOGIN')
    differences = schema_change(db, f'GRANT SELECT, UPDATE ON public.leads TO "{app}"')
    assert [(d.kind, d.key) for d in differences] == [("added", "grant public.leads")]
    assert differences[0].after.startswith(f"{app}:SELECT,UPDATE; owner:") and "TRUNCATE" in differences[0].after
    differences = schema_change(db, f'GRANT DELETE ON public.leads TO "{app}" WITH GRANT OPTION', setup="")
    assert differences[0].kind == "changed" and differences[0].after.startswith(f"{app}:DELETE*,SELECT,UPDATE; owner:")
    # revoking everything given returns to the defaults: no difference from the start
    baseline = schema_of(db.dsn)
    db.sql(f'REVOKE ALL ON public.leads FROM "{app}"')
    assert "grant public.leads" not in schema_of(db.dsn)
    db.sql(f'GRANT DELETE ON public.leads TO "{app}" WITH GRANT OPTION')
    assert diff_schema(baseline, schema_of(db.dsn))[0].key == "grant public.leads"
    # column grants, public
    differences = schema_change(db, f'GRANT SELECT (email) ON public.leads TO "{app}"; GRANT SELECT ON public.tenants TO PUBLIC', setup="")
    found = by_key(differences)
    assert found["grant column public.leads.email"].after == f"{app}:SELECT"
    assert found["grant public.tenants"].after.startswith("PUBLIC:SELECT; owner:")
    # ownership
    differences = schema_change(db, f'ALTER TABLE public.tenants OWNER TO "{owner}"', setup="")
    assert [d.describe() for d in differences] == [f"owner public.tenants: postgres -> {owner}"]


def test_default_privileges(db):
    app = db.app_role
    differences = schema_change(db, f'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO "{app}"')
    assert [(d.key, d.after) for d in differences] == [
        ("default privileges for postgres in schema public on tables", f"{app}:SELECT")
    ]


def test_sequence(db):
    differences = schema_change(db, "CREATE SEQUENCE public.invoice_no START 100")
    found = by_key(differences)
    assert found["sequence public.invoice_no"].after == (
        "sequence, bigint start 100 increment 1 minvalue 1 maxvalue 9223372036854775807 cache 1 no cycle"
    )
    assert found["sequence public.invoice_no"].describe() == "sequence public.invoice_no still exists"
    differences = schema_change(db, "ALTER SEQUENCE public.invoice_no INCREMENT 5 OWNED BY public.leads.id", setup="")
    assert differences[0].after == (
        "sequence, bigint start 100 increment 5 minvalue 1 maxvalue 9223372036854775807 cache 1 no cycle, owned by public.leads.id"
    )
    # using a sequence is data, not schema
    assert schema_change(db, "SELECT nextval('public.invoice_no')", setup="") == []


def test_enum_label_domain_and_composite_types(db):
    differences = schema_change(db, "ALTER TYPE public.mood ADD VALUE 'angry' BEFORE 'sad'", setup="CREATE TYPE public.mood AS ENUM ('happy', 'sad')")
    assert [d.describe() for d in differences] == ["type public.mood: enum ('happy', 'sad') -> enum ('happy', 'angry', 'sad')"]
    differences = schema_change(
        db,
        """CREATE DOMAIN public.email AS text CHECK (VALUE LIKE '%@%');
           CREATE TYPE public.pair AS (a int, b text)""",
        setup="",
    )
    found = by_key(differences)
    assert found["type public.email"].after == "domain over text email_check CHECK ((VALUE ~~ '%@%'::text))"
    assert found["type public.pair"].after == "composite (a integer, b text)"
    assert "owner type public.email" in found and not any(key.startswith("type public._") for key in found)


def test_schema_added(db):
    differences = schema_change(db, "CREATE SCHEMA app", setup="")
    assert [d.describe(expected_gone="was added") for d in differences] == ["owner schema app was added", "schema app was added"]


def test_partitions_and_partitioned_foreign_keys_have_one_entry_each(db):
    differences = schema_change(
        db,
        """CREATE TABLE public.calls (tenant_id uuid NOT NULL, id int NOT NULL, PRIMARY KEY (tenant_id, id)) PARTITION BY HASH (tenant_id);
           CREATE TABLE public.calls_0 PARTITION OF public.calls FOR VALUES WITH (MODULUS 2, REMAINDER 0);
           CREATE TABLE public.calls_1 PARTITION OF public.calls FOR VALUES WITH (MODULUS 2, REMAINDER 1);
           CREATE TABLE public.notes (tenant_id uuid, call_id int, FOREIGN KEY (tenant_id, call_id) REFERENCES public.calls);""",
    )
    found = by_key(differences)
    assert found["table public.calls"].after == "partitioned table, partition by HASH (tenant_id)"
    assert found["table public.calls_0"].after == "table, partition of public.calls FOR VALUES WITH (modulus 2, remainder 0)"
    assert found["constraint public.notes.notes_tenant_id_call_id_fkey"].after == (
        "FOREIGN KEY (tenant_id, call_id) REFERENCES public.calls(tenant_id, id)"
    )
    assert " | " not in "".join(d.after or "" for d in differences)


def test_diff_schema_is_sorted_and_symmetric():
    before = {"table public.a": "table", "column public.a.x": "int", "rls public.a": "disabled"}
    after = {"table public.a": "table", "column public.a.y": "int", "rls public.a": "enabled, not forced"}
    differences = diff_schema(before, after)
    assert [d.key for d in differences] == sorted(d.key for d in differences)
    assert [(d.kind, d.key) for d in diff_schema(after, before)] == [
        ("added", "column public.a.x"), ("removed", "column public.a.y"), ("changed", "rls public.a")
    ]
    assert diff_schema(before, dict(before)) == []
    assert Difference("changed", "rls public.leads", "enabled, not forced", "disabled").describe() == (
        "rls public.leads: enabled, not forced -> disabled"
    )


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------

ROWS = """
CREATE TABLE public.leads (id int PRIMARY KEY, tenant_id uuid, email text);
INSERT INTO public.leads SELECT g, NULL, 'lead' || g || '@example.com' FROM generate_series(1, 8) g;
"""


def test_insert_delete_update_change_the_fingerprint(db):
    db.sql(ROWS)
    start = data_of(db.dsn)
    assert start["public.leads"][0] == 8

    db.sql("INSERT INTO public.leads VALUES (9, NULL, 'x')")
    inserted = data_of(db.dsn)
    assert [d.describe() for d in diff_data(start, inserted)] == ["public.leads: 8 rows -> 9 rows"]

    db.sql("DELETE FROM public.leads WHERE id IN (1, 2, 9)")
    deleted = data_of(db.dsn)
    assert [d.describe() for d in diff_data(start, deleted)] == ["public.leads: 8 rows -> 6 rows"]

    db.sql("INSERT INTO public.leads SELECT g, NULL, 'lead' || g || '@example.com' FROM generate_series(1, 2) g")
    assert data_of(db.dsn) == start

    db.sql("UPDATE public.leads SET email = 'changed' WHERE id = 3")
    updated = data_of(db.dsn)
    differences = diff_data(start, updated)
    assert [d.describe() for d in differences] == ["public.leads: rows changed (same count)"]
    assert differences[0].kind == "changed"


def test_row_order_and_physical_layout_do_not_matter(db):
    db.sql(
        """
        CREATE TABLE public.a (id int, note text);
        CREATE TABLE public.b (id int, note text);
        INSERT INTO public.a SELECT g, 'n' || g FROM generate_series(1, 500) g;
        INSERT INTO public.b SELECT g, 'n' || g FROM generate_series(500, 1, -1) g;
        """
    )
    fingerprint = data_of(db.dsn)
    assert fingerprint["public.a"] == fingerprint["public.b"]
    # rows moved on disk (updated away and back, then vacuumed) hash the same
    db.sql("UPDATE public.a SET note = note || '!' WHERE id % 3 = 0")
    db.sql("UPDATE public.a SET note = rtrim(note, '!') WHERE id % 3 = 0")
    db.sql("VACUUM FULL public.a")
    assert data_of(db.dsn)["public.a"] == fingerprint["public.a"]


def test_duplicate_rows_count(db):
    db.sql("CREATE TABLE public.a (v int); CREATE TABLE public.b (v int); INSERT INTO public.a VALUES (1), (1); INSERT INTO public.b VALUES (2), (2)")
    fingerprint = data_of(db.dsn)
    assert fingerprint["public.a"][1] != "0" and fingerprint["public.a"] != fingerprint["public.b"]


def test_columns_hash_only_pre_existing_columns(db):
    db.sql(ROWS)
    with psycopg.connect(db.dsn) as conn:
        columns = table_columns(conn)
    assert columns["public.leads"] == ["id", "tenant_id", "email"]
    before = data_of(db.dsn, columns=columns)
    # over all columns in their order, the hash is the plain one
    assert before == data_of(db.dsn)

    db.sql("ALTER TABLE public.leads ADD COLUMN status text NOT NULL DEFAULT 'new'")
    assert data_of(db.dsn, columns=columns) == before
    assert data_of(db.dsn)["public.leads"] != before["public.leads"]

    db.sql("UPDATE public.leads SET status = 'contacted' WHERE id < 4")
    assert data_of(db.dsn, columns=columns) == before

    db.sql("UPDATE public.leads SET tenant_id = '00000000-0000-0000-0000-00000000000a' WHERE id = 5")
    assert [d.describe() for d in diff_data(before, data_of(db.dsn, columns=columns))] == [
        "public.leads: rows changed (same count)"
    ]


def test_columns_in_the_given_order_only(db):
    db.sql(ROWS)
    one = data_of(db.dsn, columns={"public.leads": ["id", "email"]})["public.leads"]
    other = data_of(db.dsn, columns={"public.leads": ["email", "id"]})["public.leads"]
    assert one[0] == other[0] == 8 and one[1] != other[1]
    assert data_of(db.dsn, columns={"public.leads": ["id", "email"]})["public.leads"] == one


def test_a_pre_existing_column_dropped_is_reported(db):
    db.sql(ROWS)
    columns = {"public.leads": ["id", "tenant_id", "email"]}
    before = data_of(db.dsn, columns=columns)
    db.sql("ALTER TABLE public.leads DROP COLUMN email")
    after = data_of(db.dsn, columns=columns)
    assert after["public.leads"] == (8, "missing columns: email")
    assert [d.describe() for d in diff_data(before, after)] == ["public.leads: missing columns: email"]


def test_a_dropped_table_shows_as_removed_and_new_tables_are_ignored(db):
    db.sql(ROWS + "CREATE TABLE public.keep (id int); INSERT INTO public.keep VALUES (1)")
    columns = {"public.leads": ["id", "tenant_id", "email"], "public.keep": ["id"]}
    before = data_of(db.dsn, tables=list(columns), columns=columns)
    db.sql("DROP TABLE public.leads; CREATE TABLE public.fresh (id int); INSERT INTO public.fresh VALUES (1)")
    after = data_of(db.dsn, tables=list(columns), columns=columns)
    assert "public.leads" not in after and "public.fresh" not in after
    differences = diff_data(before, after)
    assert [(d.kind, d.key) for d in differences] == [("removed", "public.leads")]
    assert differences[0].describe() == "public.leads is missing"
    assert differences[0].describe(expected_back="is gone with its rows") == "public.leads is gone with its rows"

    everything = data_of(db.dsn)
    assert "public.fresh" in everything
    assert [d.key for d in diff_data(before, everything)] == ["public.leads"]
    added = [d for d in diff_data(before, everything, include_added=True) if d.kind == "added"]
    assert [(d.key, d.describe(expected_gone="appeared")) for d in added] == [("public.fresh", "public.fresh appeared")]


def test_tables_option_restricts(db):
    db.sql(ROWS + "CREATE TABLE public.other (id int)")
    assert set(data_of(db.dsn, tables=["public.leads", "public.absent"])) == {"public.leads"}
    assert set(data_of(db.dsn)) == {"public.leads", "public.other"}


def test_quoted_names_matviews_and_inheritance(db):
    db.sql(
        """
        CREATE SCHEMA "Sales";
        CREATE TABLE "Sales"."Lead List" ("Mixed Case" int, "select" text);
        INSERT INTO "Sales"."Lead List" VALUES (1, 'a'), (2, 'b');
        CREATE MATERIALIZED VIEW public.totals AS SELECT count(*) AS n FROM "Sales"."Lead List";
        CREATE MATERIALIZED VIEW public.later AS SELECT 1 AS n WITH NO DATA;
        CREATE TABLE public.parent (id int);
        CREATE TABLE public.child () INHERITS (public.parent);
        INSERT INTO public.parent VALUES (1); INSERT INTO public.child VALUES (2), (3);
        """
    )
    fingerprint = data_of(db.dsn, columns={"Sales.Lead List": ["select", "Mixed Case"]})
    assert fingerprint["Sales.Lead List"][0] == 2
    assert fingerprint["public.totals"][0] == 1
    assert fingerprint["public.later"] == (0, "not populated")
    assert fingerprint["public.parent"][0] == 1 and fingerprint["public.child"][0] == 2
    schema = schema_of(db.dsn)
    assert schema["column Sales.Lead List.Mixed Case"] == "integer"
    assert schema["table public.child"] == "table, inherits public.parent"


def test_data_fingerprint_reads_only(db):
    db.sql(ROWS)
    with psycopg.connect(db.dsn) as conn:
        conn.execute("SET TRANSACTION READ ONLY")
        data_fingerprint(conn, columns={"public.leads": ["email"]})
        schema_fingerprint(conn)
        conn.rollback()


def test_diff_data_wording():
    before = {"public.leads": (8, "10"), "public.one": (1, "5")}
    after = {"public.leads": (5, "3"), "public.one": (1, "6")}
    assert [d.describe() for d in diff_data(before, after)] == [
        "public.leads: 8 rows -> 5 rows",
        "public.one: rows changed (same count)",
    ]
    assert diff_data(before, dict(before)) == []


def test_session_output_settings_do_not_change_fingerprints(db):
    db.sql(
        """
        CREATE TABLE public.events (at timestamptz DEFAULT '2024-03-01 12:00+00', span interval, ratio float8, raw bytea);
        INSERT INTO public.events VALUES ('2024-01-01 10:00+00', '1 day 2 hours', 0.1, '\\x0102');
        """
    )
    seen = []
    for settings in (
        "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'",
        "SET TimeZone = 'Asia/Tokyo'; SET DateStyle = 'SQL, DMY'; SET IntervalStyle = 'iso_8601';"
        " SET extra_float_digits = 3; SET bytea_output = 'escape'",
    ):
        with psycopg.connect(db.dsn, autocommit=True) as conn:
            conn.execute(settings)
            zone = conn.execute("SHOW TimeZone").fetchone()[0]
            seen.append((data_fingerprint(conn), schema_fingerprint(conn)))
            assert conn.execute("SHOW TimeZone").fetchone()[0] == zone
    assert seen[0] == seen[1]
    assert seen[0][1]["column public.events.at"] == "timestamp with time zone default '2024-03-01 12:00:00+00'::timestamp with time zone"
