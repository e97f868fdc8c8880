"""Names that need quoting ("Sales-EU"."Order Items", a tenant column named "select") work, and
every remediation the table checks print is SQL that runs and makes its finding go away."""

import psycopg
import pytest
from conftest import of


@pytest.fixture
def awkward(db):
    db.sql(
        """
        CREATE SCHEMA "Sales-EU";
        CREATE TABLE "Sales-EU"."Tenant List" ("Key" uuid PRIMARY KEY DEFAULT gen_random_uuid());
        CREATE TABLE "Sales-EU"."Order Items" (
          "ID" uuid DEFAULT gen_random_uuid() PRIMARY KEY,
          "select" uuid,
          "Sku Code" text UNIQUE
        );
        CREATE TABLE "Sales-EU"."Order Notes" (
          id serial PRIMARY KEY,
          "select" uuid NOT NULL REFERENCES "Sales-EU"."Tenant List",
          item uuid REFERENCES "Sales-EU"."Order Items"
        );
        CREATE INDEX ON "Sales-EU"."Order Notes" ("select");
        ALTER TABLE "Sales-EU"."Order Notes" ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
        CREATE POLICY "Fence" ON "Sales-EU"."Order Notes"
          USING ("select" = NULLIF(current_setting('app.tenant', true), '')::uuid);
        """
    )
    return db


def options(db):
    return dict(
        tenant_table='"Sales-EU"."Tenant List"', tenant_column="select", setting="app.tenant",
        schemas=["Sales-EU"], app_role=db.app_role,
    )


TABLE_CATEGORIES = [
    "tenant-column-nullable", "tenant-fk-missing", "tenant-index-missing", "rls-disabled",
    "unique-without-tenant", "cross-tenant-foreign-key",
]


def test_checks_name_quoted_objects_correctly(awkward):
    report = awkward.audit(**options(awkward))
    for category in TABLE_CATEGORIES:
        findings = of(report, category)
        assert findings, category
        assert {(f.schema, f.table) for f in findings} <= {("Sales-EU", "Order Items"), ("Sales-EU", "Order Notes")}
        assert all('"Sales-EU"."Order' in f.remediation for f in findings), category
    assert '"Sales-EU"."Order Items"."select" allows NULL' in of(report, "tenant-column-nullable")[0].message


@pytest.mark.parametrize("category", TABLE_CATEGORIES)
def test_remediation_runs_and_clears_the_finding(awkward, category):
    (finding, *_) = of(awkward.audit(**options(awkward)), category)
    with psycopg.connect(awkward.dsn, autocommit=True) as conn:
        if category == "cross-tenant-foreign-key":
            # the composite key needs the parent's tenant column to be usable first
            conn.execute('UPDATE "Sales-EU"."Order Items" SET "select" = NULL')
        for statement in finding.remediation.split(";\n"):
            conn.execute(statement)
    remaining = [f for f in of(awkward.audit(**options(awkward)), category) if f.table == finding.table]
    assert remaining == []
