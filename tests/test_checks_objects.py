"""Checks on objects around tenant tables: views, materialized views, SECURITY DEFINER functions,
roles and partitions. Each runs against real PostgreSQL through ``db.audit()``."""

from __future__ import annotations

import pytest

from conftest import hits, of, quote

FENCE = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"


def server_version_num(db) -> int:
    return int(db.sql("SHOW server_version_num")[0][0])


def fix_part(remediation: str) -> str:
    """The first suggestion of a remediation (before ``-- or:``), to run it."""
    return remediation.split("-- or:")[0]


def partitioned(db, table: str = "events", schema: str = "public") -> str:
    """A tenant table partitioned by tenant, fenced on the parent only; partitions p0 and p1."""
    q = f"{quote(schema)}.{quote(table)}"
    db.sql(
        f"""
        CREATE SCHEMA IF NOT EXISTS {quote(schema)};
        GRANT USAGE ON SCHEMA {quote(schema)} TO {quote(db.app_role)};
        CREATE TABLE {q} (
          id uuid NOT NULL DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL REFERENCES public.tenants (id),
          body text,
          PRIMARY KEY (tenant_id, id)
        ) PARTITION BY HASH (tenant_id);
        CREATE TABLE {quote(schema)}.{quote(table + '_p0')} PARTITION OF {q} FOR VALUES WITH (MODULUS 2, REMAINDER 0);
        CREATE TABLE {quote(schema)}.{quote(table + '_p1')} PARTITION OF {q} FOR VALUES WITH (MODULUS 2, REMAINDER 1);
        ALTER TABLE {q} ENABLE ROW LEVEL SECURITY;
        ALTER TABLE {q} FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON {q} USING ({FENCE}) WITH CHECK ({FENCE});
        GRANT SELECT, INSERT, UPDATE, DELETE ON {q} TO {quote(db.app_role)};
        """
    )
    return q


# -- view-bypasses-rls ---------------------------------------------------------------------------


def test_view_owned_by_superuser_granted_to_app_fires(db):
    db.tenants()
    db.fenced_table()
    db.sql(f"CREATE VIEW public.items_v AS SELECT id, body FROM public.items; GRANT SELECT ON public.items_v TO {db.app_role}")
    report = db.audit()
    assert hits(report, "view-bypasses-rls") == ["public.items_v"]
    (finding,) = of(report, "view-bypasses-rls")
    assert finding.object_kind == "view"
    assert finding.check == "view_bypasses_rls"
    assert "public.items (read as postgres, a superuser)" in finding.message
    assert finding.remediation.startswith("ALTER VIEW public.items_v SET (security_invoker = on);")
    assert f"REVOKE SELECT ON public.items_v FROM {db.app_role};" in finding.remediation
    if server_version_num(db) >= 150000:
        db.sql(fix_part(finding.remediation))
        assert hits(db.audit(), "view-bypasses-rls") == []


def test_view_that_filters_by_the_context_is_medium_without_security_barrier_and_quiet_with_it(db):
    """A definer view whose own query keeps the current tenant's rows: without security_barrier a
    caller's leaky condition can still run on every tenant's rows first (medium, the barrier as
    the fix); once the fix is applied, it is a fence (no finding). An unfiltered view stays high."""
    db.tenants()
    db.fenced_table()
    db.sql(
        f"""CREATE VIEW public.my_items AS SELECT id, body FROM public.items WHERE {FENCE};
            CREATE VIEW public.all_items AS SELECT id, body FROM public.items;
            GRANT SELECT ON public.my_items, public.all_items TO {db.app_role}"""
    )
    found = {f.table: (f.severity.value, f.remediation) for f in of(db.audit(), "view-bypasses-rls")}
    print("view-bypasses-rls:", found)
    assert found["all_items"][0] == "high"
    assert found["my_items"][0] == "medium"
    assert found["my_items"][1].startswith("ALTER VIEW public.my_items SET (security_barrier = on);")
    db.sql(fix_part(found["my_items"][1]))
    assert hits(db.audit(), "view-bypasses-rls") == ["public.all_items"]


def test_view_with_security_invoker_or_not_granted_is_quiet(db):
    if server_version_num(db) < 150000:
        pytest.skip("security_invoker needs PostgreSQL 15")
    db.tenants()
    db.fenced_table()
    db.sql(
        f"""
        CREATE VIEW public.invoker_v WITH (security_invoker = on) AS SELECT id FROM public.items;
        GRANT SELECT ON public.invoker_v TO {db.app_role};
        CREATE VIEW public.truthy_v WITH (security_invoker = yes) AS SELECT id FROM public.items;
        GRANT SELECT ON public.truthy_v TO {db.app_role};
        CREATE VIEW public.ungranted_v AS SELECT id FROM public.items;
        """
    )
    assert hits(db.audit(), "view-bypasses-rls") == []
    # Switched off again, the same view is reported.
    db.sql("ALTER VIEW public.invoker_v SET (security_invoker = off)")
    assert hits(db.audit(), "view-bypasses-rls") == ["public.invoker_v"]


def test_view_not_over_tenant_table_is_quiet(db):
    db.tenants()
    db.fenced_table()
    db.sql(f"CREATE VIEW public.tenant_names AS SELECT name FROM public.tenants; GRANT SELECT ON public.tenant_names TO {db.app_role}")
    assert hits(db.audit(), "view-bypasses-rls") == []


def test_view_owner_subject_to_rls_is_quiet_unless_it_owns_an_unforced_table(db):
    db.tenants()
    db.fenced_table()
    owner = db.role("viewowner")
    db.sql(
        f"""
        CREATE ROLE {owner} NOLOGIN;
        GRANT USAGE ON SCHEMA public TO {owner};
        GRANT SELECT ON public.items TO {owner};
        CREATE VIEW public.items_v AS SELECT id, body FROM public.items;
        ALTER VIEW public.items_v OWNER TO {owner};
        GRANT SELECT ON public.items_v TO {db.app_role};
        """
    )
    # The owner is neither superuser nor BYPASSRLS and does not own the FORCEd table: policies apply.
    assert hits(db.audit(), "view-bypasses-rls") == []
    # Owning the table without FORCE, the owner escapes the policies, and so does the view.
    db.sql(f"ALTER TABLE public.items OWNER TO {owner}; ALTER TABLE public.items NO FORCE ROW LEVEL SECURITY")
    report = db.audit()
    assert hits(report, "view-bypasses-rls") == ["public.items_v"]
    assert "which owns the table; row level security is not forced" in of(report, "view-bypasses-rls")[0].message
    # FORCE again: quiet.
    db.sql("ALTER TABLE public.items FORCE ROW LEVEL SECURITY")
    assert hits(db.audit(), "view-bypasses-rls") == []
    # A BYPASSRLS owner reads through any policy.
    db.sql(f"ALTER ROLE {owner} BYPASSRLS")
    assert hits(db.audit(), "view-bypasses-rls") == ["public.items_v"]


def test_view_over_view_is_followed_to_the_inner_owner(db):
    db.tenants()
    db.fenced_table()
    owner = db.role("outerowner")
    db.sql(
        f"""
        CREATE ROLE {owner} NOLOGIN;
        GRANT USAGE ON SCHEMA public TO {owner};
        CREATE VIEW public.inner_v AS SELECT id, body FROM public.items;  -- owned by the superuser
        GRANT SELECT ON public.inner_v TO {owner};
        CREATE VIEW public.outer_v AS SELECT id FROM public.inner_v;
        ALTER VIEW public.outer_v OWNER TO {owner};
        GRANT SELECT ON public.outer_v TO {db.app_role};
        """
    )
    report = db.audit()
    # Only the view the application can select from is reported; the culprit is named.
    assert hits(report, "view-bypasses-rls") == ["public.outer_v"]
    (finding,) = of(report, "view-bypasses-rls")
    assert "read as postgres, the owner of view public.inner_v, a superuser" in finding.message
    assert finding.remediation.startswith("ALTER VIEW public.inner_v SET (security_invoker = on);")
    if server_version_num(db) >= 150000:
        db.sql(fix_part(finding.remediation))
        assert hits(db.audit(), "view-bypasses-rls") == []


def test_view_with_quoted_names(db):
    db.tenants()
    db.fenced_table(table="Order Items", schema="Sales-EU")
    db.sql(
        f"""
        CREATE VIEW "Sales-EU"."Order View" AS SELECT id FROM "Sales-EU"."Order Items";
        GRANT SELECT ON "Sales-EU"."Order View" TO {db.app_role};
        """
    )
    report = db.audit()
    assert hits(report, "view-bypasses-rls") == ["Sales-EU.Order View"]
    (finding,) = of(report, "view-bypasses-rls")
    assert finding.schema == "Sales-EU" and finding.table == "Order View"
    assert '"Sales-EU"."Order View" returns tenant rows' in finding.message
    assert '"Sales-EU"."Order Items" (read as postgres, a superuser)' in finding.message
    assert f'REVOKE SELECT ON "Sales-EU"."Order View" FROM {db.app_role};' in finding.remediation
    db.sql(f'REVOKE SELECT ON "Sales-EU"."Order View" FROM {db.app_role}')
    assert hits(db.audit(), "view-bypasses-rls") == []


def test_view_without_app_role_uses_grants(db):
    db.tenants()
    db.fenced_table()
    db.sql("CREATE VIEW public.items_v AS SELECT id FROM public.items")
    # Only the owner may select: nobody else is exposed.
    assert hits(db.audit(app_role=None), "view-bypasses-rls") == []
    db.sql("GRANT SELECT ON public.items_v TO PUBLIC")
    report = db.audit(app_role=None)
    assert hits(report, "view-bypasses-rls") == ["public.items_v"]
    assert "REVOKE SELECT ON public.items_v FROM PUBLIC;" in of(report, "view-bypasses-rls")[0].remediation


# -- matview-over-tenant-table -------------------------------------------------------------------


def test_matview_granted_to_app_fires_and_ungranted_is_quiet(db):
    db.tenants()
    db.fenced_table()
    db.sql("CREATE MATERIALIZED VIEW public.items_mv AS SELECT tenant_id, count(*) AS n FROM public.items GROUP BY tenant_id")
    assert hits(db.audit(), "matview-over-tenant-table") == []
    db.sql(f"GRANT SELECT ON public.items_mv TO {db.app_role}")
    report = db.audit()
    assert hits(report, "matview-over-tenant-table") == ["public.items_mv"]
    (finding,) = of(report, "matview-over-tenant-table")
    assert finding.object_kind == "matview"
    assert "public.items_mv holds a copy of rows of public.items" in finding.message
    db.sql(fix_part(finding.remediation))
    assert hits(db.audit(), "matview-over-tenant-table") == []


def test_matview_through_a_view_fires_and_over_global_data_is_quiet(db):
    db.tenants()
    db.fenced_table()
    db.sql(
        f"""
        CREATE VIEW public.items_v WITH (check_option = local) AS SELECT id, tenant_id FROM public.items;
        CREATE MATERIALIZED VIEW public.via_view_mv AS SELECT tenant_id FROM public.items_v;
        CREATE MATERIALIZED VIEW public.tenants_mv AS SELECT id, name FROM public.tenants;
        GRANT SELECT ON public.via_view_mv, public.tenants_mv TO {db.app_role};
        """
    )
    assert hits(db.audit(), "matview-over-tenant-table") == ["public.via_view_mv"]
    # A view over the materialized view hands out the copy whatever its owner: reported too.
    db.sql(
        f"""
        CREATE VIEW public.summary_v AS SELECT tenant_id FROM public.via_view_mv;
        GRANT SELECT ON public.summary_v TO {db.app_role};
        """
    )
    report = db.audit()
    assert hits(report, "view-bypasses-rls") == ["public.summary_v"]
    assert "public.items (copied by materialized view public.via_view_mv)" in of(report, "view-bypasses-rls")[0].message


# -- security-definer-function -------------------------------------------------------------------

COUNT_ITEMS = """
CREATE FUNCTION public.count_items(t uuid) RETURNS bigint LANGUAGE plpgsql {security} AS $$
BEGIN
  RETURN (SELECT count(*) FROM public.items WHERE tenant_id = t);
END $$;
"""


def test_security_definer_function_executable_by_public_fires(db):
    db.tenants()
    db.fenced_table()
    db.sql(COUNT_ITEMS.format(security="SECURITY DEFINER"))
    report = db.audit()
    assert hits(report, "security-definer-function") == ["public.count_items(uuid)"]
    (finding,) = of(report, "security-definer-function")
    assert finding.object_kind == "function"
    assert finding.message.startswith("SECURITY DEFINER public.count_items(uuid) reads public.items")
    assert "its owner postgres is a superuser" in finding.message
    assert finding.remediation.startswith("REVOKE EXECUTE ON FUNCTION public.count_items(uuid) FROM PUBLIC;")
    db.sql(fix_part(finding.remediation))
    assert hits(db.audit(), "security-definer-function") == []
    # Granted to the application role directly: reported again, and revoked from it.
    db.sql(f"GRANT EXECUTE ON FUNCTION public.count_items(uuid) TO {db.app_role}")
    (finding,) = of(db.audit(), "security-definer-function")
    assert finding.remediation.startswith(f"REVOKE EXECUTE ON FUNCTION public.count_items(uuid) FROM {db.app_role};")


def test_security_invoker_function_is_quiet(db):
    db.tenants()
    db.fenced_table()
    db.sql(COUNT_ITEMS.format(security="SECURITY INVOKER"))
    assert hits(db.audit(), "security-definer-function") == []


def test_security_definer_function_owned_by_role_subject_to_rls_is_quiet(db):
    db.tenants()
    db.fenced_table()
    owner = db.role("fnowner")
    db.sql(
        f"""
        CREATE ROLE {owner} NOLOGIN;
        GRANT USAGE ON SCHEMA public TO {owner};
        GRANT SELECT ON public.items TO {owner};
        {COUNT_ITEMS.format(security="SECURITY DEFINER")}
        ALTER FUNCTION public.count_items(uuid) OWNER TO {owner};
        """
    )
    assert hits(db.audit(), "security-definer-function") == []
    db.sql(f"ALTER ROLE {owner} BYPASSRLS")
    assert hits(db.audit(), "security-definer-function") == ["public.count_items(uuid)"]


def test_security_definer_function_matches_whole_names_only(db):
    db.tenants()
    db.fenced_table()
    db.fenced_table(table="items.v2")
    db.sql(
        """
        CREATE TABLE public.items_archive (id int);
        CREATE FUNCTION public.archived() RETURNS bigint LANGUAGE sql SECURITY DEFINER
          AS 'SELECT count(*) FROM public.items_archive';
        CREATE FUNCTION public.lookalike() RETURNS bigint LANGUAGE sql SECURITY DEFINER
          AS 'SELECT count(*) FROM public.items_archive WHERE ''itemsXv2'' <> ''''';
        CREATE FUNCTION public.dotted() RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
          AS $$ BEGIN EXECUTE 'SELECT count(*) FROM public."items.v2"'; RETURN 0; END $$;
        CREATE FUNCTION public.upper_case() RETURNS bigint LANGUAGE sql SECURITY DEFINER
          AS 'SELECT count(*) FROM PUBLIC.ITEMS';
        """
    )
    assert hits(db.audit(global_tables=["public.items_archive"]), "security-definer-function") == [
        "public.dotted()",
        "public.upper_case()",
    ]


def test_security_definer_function_with_sql_standard_body(db):
    if server_version_num(db) < 140000:
        pytest.skip("BEGIN ATOMIC needs PostgreSQL 14")
    db.tenants()
    db.fenced_table(table="Order Items", schema="Sales-EU")
    db.sql(
        """
        CREATE FUNCTION "Sales-EU"."count orders"(t uuid, since timestamptz DEFAULT now()) RETURNS bigint
          LANGUAGE sql SECURITY DEFINER
          BEGIN ATOMIC SELECT count(*) FROM "Sales-EU"."Order Items" WHERE tenant_id = t; END;
        """
    )
    report = db.audit()
    assert hits(report, "security-definer-function") == ["Sales-EU.count orders(uuid, timestamp with time zone)"]
    (finding,) = of(report, "security-definer-function")
    signature = '"Sales-EU"."count orders"(uuid,timestamp with time zone)'
    assert f'{signature} reads "Sales-EU"."Order Items" (its owner postgres is a superuser)' in finding.message
    db.sql(fix_part(finding.remediation))
    assert hits(db.audit(), "security-definer-function") == []


def test_security_definer_function_without_app_role(db):
    db.tenants()
    db.fenced_table()
    db.sql(COUNT_ITEMS.format(security="SECURITY DEFINER"))
    assert hits(db.audit(app_role=None), "security-definer-function") == ["public.count_items(uuid)"]
    db.sql("REVOKE EXECUTE ON FUNCTION public.count_items(uuid) FROM PUBLIC")
    assert hits(db.audit(app_role=None), "security-definer-function") == []


# -- role-bypasses-rls ---------------------------------------------------------------------------


def test_plain_app_role_is_quiet_and_no_app_role_is_silent(db):
    db.tenants()
    db.fenced_table()
    assert hits(db.audit(), "role-bypasses-rls") == []
    db.sql(f"ALTER ROLE {db.app_role} BYPASSRLS")
    assert hits(db.audit(app_role=None), "role-bypasses-rls") == []


def test_app_role_with_bypassrls_or_superuser_fires(db):
    db.tenants()
    db.sql(f"ALTER ROLE {db.app_role} BYPASSRLS")
    report = db.audit()
    assert hits(report, "role-bypasses-rls") == [db.app_role]
    (finding,) = of(report, "role-bypasses-rls")
    assert finding.object_kind == "role" and finding.schema is None
    assert finding.message == f"{db.app_role} has BYPASSRLS: row level security does not apply to it"
    assert finding.remediation == f"ALTER ROLE {db.app_role} NOBYPASSRLS;"
    db.sql(f"ALTER ROLE {db.app_role} NOBYPASSRLS SUPERUSER")
    (finding,) = of(db.audit(), "role-bypasses-rls")
    assert finding.message.startswith(f"{db.app_role} is a superuser")
    assert finding.remediation == f"ALTER ROLE {db.app_role} NOSUPERUSER NOBYPASSRLS;"


def test_app_role_member_of_bypassrls_role_fires_with_the_path(db):
    db.tenants()
    admin = db.role("admin")
    ops = db.role("ops")
    db.sql(f"CREATE ROLE {admin} NOLOGIN BYPASSRLS; CREATE ROLE {ops} NOLOGIN NOINHERIT")
    db.sql(f"GRANT {admin} TO {db.app_role}")
    report = db.audit()
    assert hits(report, "role-bypasses-rls") == [db.app_role]
    (finding,) = of(report, "role-bypasses-rls")
    assert finding.message == (
        f"{db.app_role} can SET ROLE {admin}, which has BYPASSRLS: row level security does not apply after SET ROLE"
    )
    assert finding.remediation.startswith(f"REVOKE {admin} FROM {db.app_role};")
    db.sql(fix_part(finding.remediation))
    assert hits(db.audit(), "role-bypasses-rls") == []
    # Through an intermediate role (NOINHERIT does not stop SET ROLE).
    db.sql(f"GRANT {ops} TO {db.app_role}; GRANT {admin} TO {ops}")
    (finding,) = of(db.audit(), "role-bypasses-rls")
    assert finding.message.startswith(f"{db.app_role} can SET ROLE {admin} (through {ops}), which has BYPASSRLS")
    assert finding.remediation.startswith(f"REVOKE {ops} FROM {db.app_role};  -- or: REVOKE {admin} FROM {ops};")


def test_membership_without_set_option_is_quiet(db):
    if server_version_num(db) < 160000:
        pytest.skip("GRANT ... WITH SET FALSE needs PostgreSQL 16")
    db.tenants()
    admin = db.role("admin")
    db.sql(f"CREATE ROLE {admin} NOLOGIN BYPASSRLS; GRANT {admin} TO {db.app_role} WITH SET FALSE")
    assert hits(db.audit(), "role-bypasses-rls") == []


# -- partition-rls-gap ---------------------------------------------------------------------------


def test_partition_granted_to_app_without_its_own_rls_fires(db):
    db.tenants()
    partitioned(db)
    # Through the parent only: no gap.
    assert hits(db.audit(), "partition-rls-gap") == []
    db.sql(f"GRANT SELECT ON public.events_p0 TO {db.app_role}")
    report = db.audit()
    assert hits(report, "partition-rls-gap") == ["public.events_p0"]
    (finding,) = of(report, "partition-rls-gap")
    assert finding.object_kind == "table"
    assert finding.message.startswith(
        "public.events_p0 is a partition of public.events, which has row level security, "
        "but row level security is disabled on it"
    )
    assert "CREATE POLICY tenant_isolation ON public.events_p0 FOR ALL TO PUBLIC USING (" in finding.remediation
    assert finding.remediation.endswith(f"REVOKE ALL ON public.events_p0 FROM {db.app_role};")
    # The suggested fix (RLS, FORCE and the parent's policy on the partition) closes the gap.
    db.sql(fix_part(finding.remediation))
    assert hits(db.audit(), "partition-rls-gap") == []
    (row,) = db.sql("SELECT count(*) FROM pg_policy WHERE polrelid = 'public.events_p0'::regclass")
    assert row == (1,)


def test_partition_with_own_rls_and_policy_is_quiet(db):
    db.tenants()
    partitioned(db)
    db.sql(
        f"""
        ALTER TABLE public.events_p1 ENABLE ROW LEVEL SECURITY;
        ALTER TABLE public.events_p1 FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON public.events_p1 USING ({FENCE}) WITH CHECK ({FENCE});
        GRANT SELECT, INSERT ON public.events_p1 TO {db.app_role};
        """
    )
    assert hits(db.audit(), "partition-rls-gap") == []


def test_partition_of_parent_without_rls_is_left_to_rls_disabled(db):
    db.tenants()
    partitioned(db)
    db.sql(f"ALTER TABLE public.events DISABLE ROW LEVEL SECURITY; GRANT SELECT ON public.events_p0 TO {db.app_role}")
    assert hits(db.audit(), "partition-rls-gap") == []


def test_partition_owned_by_app_role_without_force_fires(db):
    db.tenants()
    partitioned(db)
    db.sql(
        f"""
        ALTER TABLE public.events_p1 ENABLE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON public.events_p1 USING ({FENCE});
        ALTER TABLE public.events_p1 OWNER TO {db.app_role};
        """
    )
    report = db.audit()
    assert hits(report, "partition-rls-gap") == ["public.events_p1"]
    (finding,) = of(report, "partition-rls-gap")
    assert f"but {db.app_role} owns it and row level security is not forced" in finding.message
    assert finding.remediation.startswith("ALTER TABLE public.events_p1 FORCE ROW LEVEL SECURITY;  -- or:")
    db.sql(fix_part(finding.remediation))
    assert hits(db.audit(), "partition-rls-gap") == []


def test_inheritance_child_with_quoted_names(db):
    db.tenants()
    partitioned(db, table="Order Items", schema="Sales-EU")
    db.fenced_table(table="Notes", schema="Sales-EU")
    db.sql(
        f"""
        CREATE TABLE "Sales-EU"."Notes Archive" () INHERITS ("Sales-EU"."Notes");
        GRANT SELECT ON "Sales-EU"."Notes Archive", "Sales-EU"."Order Items_p1" TO {db.app_role};
        """
    )
    report = db.audit()
    assert hits(report, "partition-rls-gap") == ["Sales-EU.Notes Archive", "Sales-EU.Order Items_p1"]
    messages = sorted(f.message for f in of(report, "partition-rls-gap"))
    assert messages[0].startswith(
        '"Sales-EU"."Notes Archive" is a child of "Sales-EU"."Notes", which has row level security'
    )
    assert messages[1].startswith('"Sales-EU"."Order Items_p1" is a partition of "Sales-EU"."Order Items"')
    for finding in of(report, "partition-rls-gap"):
        db.sql(fix_part(finding.remediation))
    assert hits(db.audit(), "partition-rls-gap") == []


def test_subpartitions_are_followed_to_the_tenant_table(db):
    db.tenants()
    db.sql(
        f"""
        CREATE TABLE public.logs (
          tenant_id uuid NOT NULL REFERENCES public.tenants (id),
          at date NOT NULL,
          body text
        ) PARTITION BY RANGE (at);
        CREATE TABLE public.logs_2024 PARTITION OF public.logs
          FOR VALUES FROM ('2024-01-01') TO ('2025-01-01') PARTITION BY HASH (tenant_id);
        CREATE TABLE public.logs_2024_h0 PARTITION OF public.logs_2024 FOR VALUES WITH (MODULUS 1, REMAINDER 0);
        CREATE INDEX ON public.logs (tenant_id);
        ALTER TABLE public.logs ENABLE ROW LEVEL SECURITY;
        ALTER TABLE public.logs FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON public.logs USING ({FENCE}) WITH CHECK ({FENCE});
        GRANT SELECT ON public.logs, public.logs_2024_h0 TO {db.app_role};
        """
    )
    report = db.audit()
    assert hits(report, "partition-rls-gap") == ["public.logs_2024_h0"]
    assert of(report, "partition-rls-gap")[0].message.startswith(
        "public.logs_2024_h0 is a partition of public.logs, which has row level security"
    )


def test_partition_without_app_role_uses_grants(db):
    db.tenants()
    partitioned(db)
    assert hits(db.audit(app_role=None), "partition-rls-gap") == []
    db.sql(f"GRANT SELECT ON public.events_p0 TO {db.app_role}")
    report = db.audit(app_role=None)
    assert hits(report, "partition-rls-gap") == ["public.events_p0"]
    assert of(report, "partition-rls-gap")[0].remediation.endswith(f"REVOKE ALL ON public.events_p0 FROM {db.app_role};")


def test_check_headers_match_their_files():
    from tenantaudit.audit.catalog import builtin_checks

    ids = {"view_bypasses_rls", "matview_over_tenant_table", "security_definer_function", "role_bypasses_rls", "partition_rls_gap"}
    checks = {c.id: c for c in builtin_checks() if c.id in ids}
    assert set(checks) == ids
    for check in checks.values():
        assert check.path == f"checks/{check.id}.sql"
        assert check.category == check.id.replace("_", "-")
