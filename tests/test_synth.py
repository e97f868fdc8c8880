"""Synthetic rows (tenantaudit.audit.synth) against real PostgreSQL.

Every test works inside one transaction that is rolled back, and checks afterwards that no table
kept a row. Assertions are about the rows the server accepted (tenant, constraints, partition),
not about how the synthesizer found them.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from tenantaudit.audit.synth import RowRef, Synthesizer, Unsatisfiable

TENANT_TABLE = "public.tenants"


# ---- helpers --------------------------------------------------------------------------------


def table_counts(db) -> dict[str, int]:
    """Rows per user table (partitioned parents count their partitions' rows)."""
    names = db.sql(
        """SELECT n.nspname, c.relname FROM pg_catalog.pg_class c
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
             AND n.nspname !~ '^pg_toast'"""
    )
    counts = {}
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        for schema, name in names:
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name))
            counts[f"{schema}.{name}"] = conn.execute(query).fetchone()[0]
    return counts


@contextmanager
def rolled_back(db, *, search_path: str | None = None):
    """A connection in one transaction that is rolled back; afterwards no table has changed."""
    before = table_counts(db)
    with psycopg.connect(db.dsn) as conn:  # not autocommit: the first statement opens the transaction
        try:
            if search_path is not None:
                conn.execute("SELECT pg_catalog.set_config('search_path', %s, true)", [search_path])
            yield conn
        finally:
            conn.rollback()
    assert table_counts(db) == before


def oid(conn, name: str) -> int:
    return conn.execute("SELECT pg_catalog.to_regclass(%s)::oid", [name]).fetchone()[0]


def synthesizer(conn, *tables: str, tenant_table: str = TENANT_TABLE, tenant_column="tenant_id", seed=0):
    return Synthesizer(
        conn, [oid(conn, t) for t in tables], tenant_column=tenant_column,
        tenant_table_oid=oid(conn, tenant_table), seed=seed,
    )


def fetch(conn, ref: RowRef) -> dict:
    """The row as stored, found the way callers find it: by tableoid and ctid."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            sql.SQL("SELECT * FROM {} WHERE tableoid = %s AND ctid = %s::tid").format(
                sql.SQL(conn.execute("SELECT %s::regclass::text", [ref.table_oid]).fetchone()[0])
            ),
            [ref.tableoid, ref.ctid],
        ).fetchall()
    assert len(rows) == 1
    return rows[0]


def count(conn, table: str, where: str = "true", params=()) -> int:
    return conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", list(params)).fetchone()[0]


# ---- types and defaults ---------------------------------------------------------------------


def test_not_null_columns_of_many_types_get_values_of_their_type(db):
    db.tenants()
    try:
        db.sql("CREATE EXTENSION IF NOT EXISTS citext")
        citext = ", ci citext NOT NULL"
    except psycopg.Error:
        citext = ""
    db.sql(
        f"""
        CREATE SCHEMA kinds;
        CREATE TYPE kinds.mood AS ENUM ('calm', 'busy');
        CREATE DOMAIN kinds.rating AS smallint CHECK (VALUE BETWEEN 1 AND 5);
        CREATE TABLE kinds.typed (
          tenant_id uuid NOT NULL REFERENCES public.tenants (id),
          u uuid NOT NULL, v varchar(3) NOT NULL, c char(2) NOT NULL, s smallint NOT NULL,
          n numeric(5,2) NOT NULL, b bool NOT NULL, d date NOT NULL, ts timestamptz NOT NULL,
          iv interval NOT NULL, j jsonb NOT NULL, raw bytea NOT NULL, ip inet NOT NULL,
          m kinds.mood NOT NULL, r kinds.rating NOT NULL, ints int[] NOT NULL, texts text[] NOT NULL,
          f float8 NOT NULL, t time NOT NULL, mac macaddr NOT NULL, big bigint NOT NULL
          {citext},
          note text, maybe kinds.mood
        );
        """
    )
    # An empty search_path: every name the synthesizer writes must be qualified.
    with rolled_back(db, search_path="") as conn:
        synth = synthesizer(conn, "kinds.typed")
        tenant = synth.new_tenant()
        row = fetch(conn, synth.insert_row(oid(conn, "kinds.typed"), tenant))
        assert row["tenant_id"] == tenant
        not_null = [k for k in row if k not in ("note", "maybe")]
        assert all(row[k] is not None for k in not_null)
        assert len(row["v"]) <= 3 and len(row["c"]) == 2
        assert -32768 <= row["s"] <= 32767
        assert abs(row["n"]) < 1000
        assert row["m"] in ("calm", "busy")
        assert 1 <= row["r"] <= 5  # the domain's CHECK holds
        assert row["ints"] == [] and row["texts"] == []
        assert row["j"] == {}
        assert row["note"] is None and row["maybe"] is None  # nullable without default: NULL


def test_defaults_identity_and_generated_columns_are_left_to_the_server(db):
    db.tenants()
    db.sql(
        """
        CREATE TABLE gen (
          id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          seq serial,
          by_default bigint GENERATED BY DEFAULT AS IDENTITY,
          tenant_id uuid NOT NULL DEFAULT NULLIF(current_setting('app.tenant_id', true), '')::uuid
            REFERENCES tenants (id),
          qty int NOT NULL,
          doubled int GENERATED ALWAYS AS (qty * 2) STORED,
          created timestamptz NOT NULL DEFAULT now(),
          label text DEFAULT 'x',
          note text
        )
        """
    )
    with rolled_back(db) as conn:
        synth = synthesizer(conn, "gen")
        tenant = synth.new_tenant()
        table = oid(conn, "gen")
        proposed = synth.make_row_values(table, tenant)
        assert set(proposed) == {"tenant_id", "qty"}  # the tenant column is set despite its default
        row = fetch(conn, synth.insert_row(table, tenant))
        assert row["tenant_id"] == tenant
        assert row["id"] is not None and row["seq"] is not None and row["by_default"] is not None
        assert row["doubled"] == row["qty"] * 2
        assert row["created"] is not None and row["label"] == "x" and row["note"] is None


def test_a_transaction_is_required(db):
    db.tenants()
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        synth = synthesizer(conn, TENANT_TABLE)
        with pytest.raises(RuntimeError, match="transaction"):
            synth.new_tenant()
        assert count(conn, "tenants") == 0


# ---- foreign keys ---------------------------------------------------------------------------


@pytest.fixture
def projects(db):
    db.tenants()
    db.sql(
        """
        CREATE TABLE projects (
          tenant_id uuid NOT NULL REFERENCES tenants (id),
          id uuid NOT NULL DEFAULT gen_random_uuid(),
          name text NOT NULL,
          PRIMARY KEY (tenant_id, id)
        );
        CREATE TABLE tasks (
          tenant_id uuid NOT NULL REFERENCES tenants (id),
          id bigserial,
          project_id uuid NOT NULL,
          title text NOT NULL,
          PRIMARY KEY (tenant_id, id),
          FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id)
        );
        CREATE TABLE comments (
          tenant_id uuid NOT NULL REFERENCES tenants (id),
          id bigserial PRIMARY KEY,
          task_id bigint NOT NULL,
          body text NOT NULL,
          FOREIGN KEY (tenant_id, task_id) REFERENCES tasks (tenant_id, id)
        );
        """
    )
    return db


def test_order_puts_parents_before_children(projects):
    with rolled_back(projects) as conn:
        synth = synthesizer(conn, "comments", "tasks", "projects")
        assert synth.order() == [oid(conn, "projects"), oid(conn, "tasks"), oid(conn, "comments")]
        # Through a table that was not asked for, too.
        assert synthesizer(conn, "comments", "projects").order() == [oid(conn, "projects"), oid(conn, "comments")]


def test_composite_foreign_keys_point_at_the_same_tenants_parent(projects):
    with rolled_back(projects) as conn:
        synth = synthesizer(conn, "projects", "tasks", "comments")
        p_oid, t_oid, c_oid = oid(conn, "projects"), oid(conn, "tasks"), oid(conn, "comments")
        a, b = synth.new_tenant(), synth.new_tenant()

        project = synth.insert_row(p_oid, a)
        task = synth.insert_row(t_oid, a, parents={p_oid: project})
        assert fetch(conn, task)["project_id"] == project.values["id"]

        # Without parents: an existing row of the same tenant is used...
        again = synth.insert_row(t_oid, a)
        assert again.values["project_id"] == project.values["id"]
        assert count(conn, "projects") == 1

        # ...and a tenant with no rows gets its own chain of synthetic parents.
        comment = synth.insert_row(c_oid, b)
        assert comment.values["tenant_id"] == b
        task_b = conn.execute("SELECT tenant_id, project_id FROM tasks WHERE id = %s", [comment.values["task_id"]]).fetchone()
        assert task_b[0] == b
        assert count(conn, "projects", "tenant_id = %s AND id = %s", [b, task_b[1]]) == 1


def test_self_references(db):
    db.tenants()
    db.sql(
        """
        CREATE TABLE folders (
          tenant_id uuid NOT NULL REFERENCES tenants (id),
          id uuid NOT NULL DEFAULT gen_random_uuid(),
          parent_id uuid,
          PRIMARY KEY (tenant_id, id),
          FOREIGN KEY (tenant_id, parent_id) REFERENCES folders (tenant_id, id)
        );
        CREATE TABLE nodes (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL REFERENCES tenants (id),
          parent uuid NOT NULL REFERENCES nodes (id)
        );
        """
    )
    with rolled_back(db) as conn:
        synth = synthesizer(conn, "folders", "nodes")
        folders, nodes = oid(conn, "folders"), oid(conn, "nodes")
        assert synth.order() == [folders, nodes]
        tenant = synth.new_tenant()
        root = synth.insert_row(folders, tenant)
        assert fetch(conn, root)["parent_id"] is None  # nullable self-reference stays NULL
        child = synth.insert_row(folders, tenant, parents={folders: root})
        assert fetch(conn, child)["parent_id"] == root.values["id"]

        # NOT NULL self-reference and an empty table: the first row points at itself...
        first = fetch(conn, synth.insert_row(nodes, tenant))
        assert first["parent"] == first["id"]
        # ...later rows at an existing one.
        second = fetch(conn, synth.insert_row(nodes, tenant))
        assert second["parent"] == first["id"] and second["id"] != first["id"]


def test_global_lookup_tables_existing_row_or_a_new_one(db):
    db.tenants()
    db.sql(
        """
        CREATE TABLE countries (code char(2) PRIMARY KEY, name text NOT NULL);
        INSERT INTO countries VALUES ('fr', 'France'), ('de', 'Germany');
        CREATE TABLE currencies (code char(3) PRIMARY KEY, name text NOT NULL);
        CREATE TABLE addresses (
          id serial PRIMARY KEY,
          tenant_id uuid NOT NULL REFERENCES tenants (id),
          country char(2) NOT NULL REFERENCES countries,
          currency char(3) NOT NULL REFERENCES currencies,
          other_currency char(3) REFERENCES currencies
        );
        """
    )
    with rolled_back(db) as conn:
        synth = synthesizer(conn, "addresses")
        tenant = synth.new_tenant()
        row = fetch(conn, synth.insert_row(oid(conn, "addresses"), tenant))
        assert row["country"] in ("fr", "de")
        assert count(conn, "countries") == 2  # used an existing row
        (currency,) = conn.execute("SELECT code FROM currencies").fetchall()  # inserted one
        assert row["currency"] == currency[0]
        second = synth.insert_row(oid(conn, "addresses"), synth.new_tenant())
        assert second.values["currency"] == currency[0] and count(conn, "currencies") == 1


def test_foreign_key_cycles_and_one_to_one_children(db):
    db.tenants()
    db.sql(
        """
        CREATE TABLE users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), tenant_id uuid NOT NULL REFERENCES tenants);
        CREATE TABLE profiles (tenant_id uuid NOT NULL REFERENCES tenants, user_id uuid NOT NULL UNIQUE REFERENCES users);
        CREATE TABLE hens (id serial PRIMARY KEY, tenant_id uuid NOT NULL, egg_id int NOT NULL);
        CREATE TABLE eggs (id serial PRIMARY KEY, tenant_id uuid NOT NULL, hen_id int NOT NULL REFERENCES hens);
        ALTER TABLE hens ADD FOREIGN KEY (egg_id) REFERENCES eggs;
        CREATE TABLE managers (id serial PRIMARY KEY, tenant_id uuid NOT NULL, team_id int NOT NULL);
        CREATE TABLE teams (id serial PRIMARY KEY, tenant_id uuid NOT NULL, lead_id int REFERENCES managers);
        ALTER TABLE managers ADD FOREIGN KEY (team_id) REFERENCES teams;
        """
    )
    with rolled_back(db) as conn:
        synth = synthesizer(conn, "profiles", "hens", "eggs", "managers", "teams")
        tenant = synth.new_tenant()
        for _ in range(3):  # seeding a one-to-one child: every row needs a parent of its own
            synth.insert_row(oid(conn, "profiles"), tenant)
        assert count(conn, "users") == 3 and count(conn, "profiles") == 3

        with pytest.raises(Unsatisfiable, match=r"^foreign key hens_egg_id_fkey on public\.hens needs a row of public\.eggs: .*cycle"):
            synth.insert_row(oid(conn, "hens"), tenant)

        manager = fetch(conn, synth.insert_row(oid(conn, "managers"), tenant))  # the cycle is nullable on one side
        assert conn.execute("SELECT lead_id FROM teams WHERE id = %s", [manager["team_id"]]).fetchone() == (None,)


# ---- CHECK constraints ----------------------------------------------------------------------


def test_check_constraints_are_satisfied_from_their_own_literals(db):
    db.tenants()
    db.sql(
        """
        CREATE TABLE orders (
          id serial PRIMARY KEY,
          tenant_id uuid NOT NULL REFERENCES tenants (id),
          status text NOT NULL CHECK (status IN ('new', 'done')),
          qty int NOT NULL CHECK (qty BETWEEN 5 AND 9),
          code varchar(10) NOT NULL UNIQUE CHECK (length(code) = 4),
          price numeric(7,2) NOT NULL CHECK (price > 100),
          memo text CHECK (memo IS NOT NULL),
          low smallint NOT NULL CHECK (low < -5)
        )
        """
    )
    with rolled_back(db) as conn:
        synth = synthesizer(conn, "orders")
        tenant = synth.new_tenant()
        for _ in range(12):  # seeding: every row satisfies them, the unique code never collides
            synth.insert_row(oid(conn, "orders"), tenant)
        rows = conn.execute("SELECT status, qty, code, price, memo, low FROM orders").fetchall()
        assert len(rows) == 12 and len({r[2] for r in rows}) == 12
        for status, qty, code, price, memo, low in rows:
            assert status in ("new", "done") and 5 <= qty <= 9 and len(code) == 4
            assert price > 100 and memo is not None and low < -5


def test_domain_patterns_and_checks_over_several_columns(db):
    db.tenants()
    db.sql(
        """
        CREATE DOMAIN code3 AS varchar(3) NOT NULL CHECK (VALUE ~ '^[A-Z]{3}$');
        CREATE TABLE vouchers (
          tenant_id uuid NOT NULL REFERENCES tenants,
          code code3,
          starts date NOT NULL, ends date NOT NULL, CHECK (ends > starts),
          email text, phone text, CHECK (num_nonnulls(email, phone) = 1)
        )
        """
    )
    with rolled_back(db) as conn:
        synth = synthesizer(conn, "vouchers")
        tenant = synth.new_tenant()
        row = fetch(conn, synth.insert_row(oid(conn, "vouchers"), tenant))
        assert re.fullmatch("[A-Z]{3}", row["code"])
        assert row["ends"] > row["starts"] and (row["email"] is None) != (row["phone"] is None)


@pytest.mark.parametrize(
    "check, name",
    [("CONSTRAINT a_never CHECK (a > 1 AND a < 1)", "a_never"), ("CONSTRAINT always_false CHECK (false)", "always_false")],
)
def test_unsatisfiable_check_is_reported_and_the_transaction_survives(db, check, name):
    db.tenants()
    db.sql(f"CREATE TABLE impossible (id serial, tenant_id uuid NOT NULL REFERENCES tenants, a int NOT NULL, {check})")
    with rolled_back(db) as conn:
        synth = synthesizer(conn, "impossible")
        tenant = synth.new_tenant()
        with pytest.raises(Unsatisfiable) as raised:
            synth.insert_row(oid(conn, "impossible"), tenant)
        assert raised.value.reason == f"CHECK constraint {name} on public.impossible could not be satisfied"
        with pytest.raises(Unsatisfiable):
            synth.make_row_values(oid(conn, "impossible"), tenant)
        # The caller's transaction is intact: earlier work is there, new work runs.
        assert count(conn, "tenants", "id = %s", [tenant]) == 1
        assert synth.new_tenant() != tenant


def test_other_refusals_give_sqlstate_and_message_without_row_values(db):
    db.tenants()
    db.sql(
        """
        CREATE TABLE one_per_tenant (tenant_id uuid NOT NULL UNIQUE REFERENCES tenants, code text NOT NULL);
        CREATE TABLE guarded (tenant_id uuid NOT NULL REFERENCES tenants, code text NOT NULL);
        CREATE TABLE secrets (value text);
        INSERT INTO secrets VALUES ('s3cr3t-row-value');
        CREATE FUNCTION reject() RETURNS trigger LANGUAGE plpgsql AS
          $$BEGIN RAISE EXCEPTION 'rejected % (existing %)', NEW.code, (SELECT value FROM secrets); END$$;
        CREATE TRIGGER guard BEFORE INSERT ON guarded FOR EACH ROW EXECUTE FUNCTION reject();
        """
    )
    with rolled_back(db) as conn:
        synth = synthesizer(conn, "one_per_tenant", "guarded")
        tenant = synth.new_tenant()
        synth.insert_row(oid(conn, "one_per_tenant"), tenant)
        with pytest.raises(Unsatisfiable) as raised:
            synth.insert_row(oid(conn, "one_per_tenant"), tenant)
        reason = raised.value.reason
        assert "23505" in reason and "one_per_tenant_tenant_id_key" in reason
        assert str(tenant) not in reason and "Key (" not in reason and "\n" not in reason

        with pytest.raises(Unsatisfiable) as raised:
            synth.insert_row(oid(conn, "guarded"), tenant)
        # a RAISE's text is the function's, and may quote any row: condition and SQLSTATE only
        assert raised.value.reason == "INSERT into public.guarded failed: raise_exception (SQLSTATE P0001)", raised.value.reason
        assert count(conn, "one_per_tenant") == 1


# ---- unique keys ----------------------------------------------------------------------------


def test_unique_keys_do_not_collide_across_tenants_rows_and_synthesizers(db):
    db.tenants()
    db.sql(
        """
        CREATE TABLE skus (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL REFERENCES tenants (id),
          code char(2) NOT NULL UNIQUE,
          ext int NOT NULL UNIQUE,
          slug varchar(4) NOT NULL UNIQUE,
          tiny smallint NOT NULL UNIQUE,
          key uuid NOT NULL UNIQUE
        )
        """
    )
    with rolled_back(db) as conn:
        synth = synthesizer(conn, "skus")
        skus = oid(conn, "skus")
        a, b = synth.new_tenant(), synth.new_tenant()
        ra, rb = synth.insert_row(skus, a), synth.insert_row(skus, b)
        assert (ra.values["tenant_id"], rb.values["tenant_id"]) == (a, b)
        for _ in range(30):
            synth.insert_row(skus, a)
        # A second synthesizer with the same seed proposes the same values first: it must retry.
        twin = synthesizer(conn, "skus")
        twin.insert_row(skus, b)
        assert count(conn, "skus") == 33
        assert count(conn, "skus", "tenant_id = %s", [b]) == 2


# ---- partitions -----------------------------------------------------------------------------


def test_partitioned_tables_route_to_an_existing_partition(db):
    db.tenants()
    db.sql(
        """
        CREATE TABLE sales (tenant_id uuid NOT NULL REFERENCES tenants, region text NOT NULL, amount int NOT NULL)
          PARTITION BY LIST (region);
        CREATE TABLE sales_eu PARTITION OF sales FOR VALUES IN ('eu', 'uk');
        CREATE TABLE sales_us PARTITION OF sales FOR VALUES IN ('us');
        CREATE TABLE events (tenant_id uuid NOT NULL REFERENCES tenants, day date NOT NULL DEFAULT now(), kind text NOT NULL)
          PARTITION BY RANGE (day);
        CREATE TABLE events_2024_01 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
        CREATE TABLE counters (tenant_id uuid NOT NULL REFERENCES tenants, n int NOT NULL) PARTITION BY RANGE (n);
        CREATE TABLE counters_low PARTITION OF counters FOR VALUES FROM (MINVALUE) TO (-100);
        CREATE TABLE logs (tenant_id uuid NOT NULL REFERENCES tenants, region text NOT NULL, day date NOT NULL)
          PARTITION BY LIST (region);
        CREATE TABLE logs_eu PARTITION OF logs FOR VALUES IN ('eu') PARTITION BY RANGE (day);
        CREATE TABLE logs_eu_2023_03 PARTITION OF logs_eu FOR VALUES FROM ('2023-03-01') TO ('2023-04-01');
        CREATE TABLE misc (tenant_id uuid NOT NULL REFERENCES tenants, region text NOT NULL) PARTITION BY LIST (region);
        CREATE TABLE misc_default PARTITION OF misc DEFAULT;
        CREATE TABLE nowhere (tenant_id uuid NOT NULL REFERENCES tenants, x int NOT NULL) PARTITION BY RANGE (x);
        CREATE TABLE spans (tenant_id uuid NOT NULL REFERENCES tenants, at date NOT NULL, id int NOT NULL,
                            PRIMARY KEY (at, id)) PARTITION BY RANGE (at);
        CREATE TABLE spans_late PARTITION OF spans FOR VALUES FROM ('2030-01-01') TO (MAXVALUE);
        CREATE TABLE hashed (tenant_id uuid NOT NULL REFERENCES tenants, n int NOT NULL) PARTITION BY HASH (n);
        CREATE TABLE hashed_0 PARTITION OF hashed FOR VALUES WITH (modulus 4, remainder 0);
        """
    )
    with rolled_back(db) as conn:
        names = ["sales", "events", "counters", "logs", "misc", "nowhere", "sales_us", "logs_eu", "spans", "hashed"]
        synth = synthesizer(conn, *names)
        tenant = synth.new_tenant()
        landed = {
            "sales": "sales_eu", "events": "events_2024_01", "counters": "counters_low",
            "logs": "logs_eu_2023_03", "misc": "misc_default", "sales_us": "sales_us",
            "logs_eu": "logs_eu_2023_03", "spans": "spans_late", "hashed": "hashed_0",
        }
        for table, partition in landed.items():
            ref = synth.insert_row(oid(conn, table), tenant)
            assert ref.tableoid == oid(conn, partition), table
            assert fetch(conn, ref)["tenant_id"] == tenant
        assert count(conn, "events", "day >= '2024-01-01' AND day < '2024-02-01'") == 1
        assert count(conn, "counters", "n < -100") == 1
        for _ in range(5):  # a range key that is also the primary key: values vary inside the range
            synth.insert_row(oid(conn, "spans"), tenant)
        assert count(conn, "spans", "at >= '2030-01-01'") == 6
        with pytest.raises(Unsatisfiable, match=r"^no partition of public\.nowhere accepts the synthetic row$"):
            synth.insert_row(oid(conn, "nowhere"), tenant)


# ---- names that need quoting ----------------------------------------------------------------


def test_quoted_schema_table_column_and_type_names(db):
    db.sql(
        """
        CREATE SCHEMA "Sales-EU";
        CREATE TABLE "Sales-EU"."Tenant List" ("Key" uuid PRIMARY KEY DEFAULT gen_random_uuid(), "Name" text NOT NULL);
        CREATE TYPE "Sales-EU"."Order State" AS ENUM ('Open', 'It''s shipped');
        CREATE TABLE "Sales-EU"."Orders" (
          "ID" uuid NOT NULL DEFAULT gen_random_uuid(),
          "select" uuid NOT NULL REFERENCES "Sales-EU"."Tenant List",
          PRIMARY KEY ("select", "ID")
        );
        CREATE TABLE "Sales-EU"."Order Items" (
          "ID" serial,
          "select" uuid NOT NULL REFERENCES "Sales-EU"."Tenant List",
          "Order" uuid NOT NULL,
          "State" "Sales-EU"."Order State" NOT NULL CHECK ("State" = 'It''s shipped'),
          "100%" int NOT NULL,
          "Sku ""Code"" No" varchar(5) NOT NULL UNIQUE,
          FOREIGN KEY ("select", "Order") REFERENCES "Sales-EU"."Orders" ("select", "ID")
        );
        """
    )
    with rolled_back(db, search_path="") as conn:
        synth = synthesizer(
            conn, '"Sales-EU"."Order Items"', '"Sales-EU"."Orders"',
            tenant_table='"Sales-EU"."Tenant List"', tenant_column="select",
        )
        items, orders = oid(conn, '"Sales-EU"."Order Items"'), oid(conn, '"Sales-EU"."Orders"')
        assert synth.order() == [orders, items]
        tenant = synth.new_tenant()
        row = fetch(conn, synth.insert_row(items, tenant))
        assert row["select"] == tenant and row["State"] == "It's shipped" and row["100%"] is not None
        assert count(conn, '"Sales-EU"."Orders"', '"select" = %s AND "ID" = %s', [tenant, row["Order"]]) == 1


# ---- the write-probe use: values for another tenant, tried as the application role ---------


def test_make_row_values_for_a_caller_that_inserts_as_another_role(db):
    db.tenants()
    items = db.fenced_table("items", columns="body text NOT NULL")
    with rolled_back(db) as conn:
        synth = synthesizer(conn, "items")
        table = oid(conn, "items")
        a, b = synth.new_tenant(), synth.new_tenant()
        conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(db.app_role)))
        conn.execute("SELECT set_config('app.tenant_id', %s, true)", [str(a)])

        values = synth.make_row_values(table, b)  # RLS refuses the proof: proposed values come back
        assert values["tenant_id"] == b and values["body"]
        assert count(conn, items) == 0  # nothing was left behind

        query, params = synth.insert_statement(table, values)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with conn.transaction():
                conn.execute(query, params)  # tenant A may not write a row of tenant B

        conn.execute("SELECT set_config('app.tenant_id', %s, true)", [str(b)])
        with conn.transaction():
            conn.execute(query, params)
        ref = synth.insert_row(table, b)  # as the caller set things up, insert_row works too
        assert fetch(conn, ref)["tenant_id"] == b
        assert count(conn, items) == 2


# ---- cost -----------------------------------------------------------------------------------


def test_catalog_is_loaded_in_a_fixed_number_of_queries(db, monkeypatch):
    db.tenants()
    db.sql(
        "\n".join(
            f"CREATE TABLE t{i} (id serial PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants,"
            f" up int {'REFERENCES t' + str(i - 1) if i else ''}, s text CHECK (s <> 'x'));"
            for i in range(12)
        )
    )
    executed: list[str] = []
    original = psycopg.Cursor.execute

    def counting(self, query, *args, **kwargs):
        executed.append(query)
        return original(self, query, *args, **kwargs)

    with rolled_back(db) as conn:
        few_oids = [oid(conn, "t0"), oid(conn, "t1")]
        many_oids = [oid(conn, f"t{i}") for i in range(12)]
        tenants = oid(conn, TENANT_TABLE)
        monkeypatch.setattr(psycopg.Cursor, "execute", counting)
        Synthesizer(conn, few_oids, tenant_column="tenant_id", tenant_table_oid=tenants)
        few = len(executed)
        executed.clear()
        Synthesizer(conn, many_oids, tenant_column="tenant_id", tenant_table_oid=tenants)
        assert len(executed) == few <= 6
