"""The catalogue itself: every built-in check is well-formed, and users can add their own."""

import re

import pytest
from conftest import hits

from tenantaudit.audit.catalog import builtin_checks
from tenantaudit.errors import ConfigError

DESIGN_CATEGORIES = {
    "tenant-column-missing", "tenant-column-nullable", "tenant-column-type", "tenant-fk-missing",
    "tenant-index-missing", "rls-disabled", "rls-not-forced", "policy-missing", "policy-not-tenant-scoped",
    "policy-permissive-bypass", "policy-write-unchecked", "setting-cast-unsafe", "cross-tenant-foreign-key",
    "unique-without-tenant", "view-bypasses-rls", "matview-over-tenant-table", "security-definer-function",
    "role-bypasses-rls", "partition-rls-gap", "tenants-table-exposed",
}


def test_every_static_category_has_exactly_one_check():
    checks = builtin_checks()
    assert sorted(c.category for c in checks) == sorted(DESIGN_CATEGORIES)
    for check in checks:
        assert check.id == check.path.split("/")[-1].removesuffix(".sql")
        assert re.search(r"ORDER BY [^;]+;\s*$", check.sql), f"{check.id}: needs a deterministic ORDER BY"
        # every catalog relation is schema-qualified, so a user's objects cannot shadow one
        unqualified = re.findall(r"(?<![.\w])(pg_(?:class|namespace|attribute|constraint|index|policy|roles|proc|depend|inherits|rewrite|authid|auth_members|attrdef))\b", check.sql)
        assert not unqualified, f"{check.id}: unqualified {unqualified}"


def test_user_check_from_a_folder_fires(db, tmp_path):
    db.tenants()
    db.fenced_table("items")
    (tmp_path / "no_comment.sql").write_text(
        """-- id: table_without_comment
-- category: table-comment-missing
-- severity: low
-- title: Tenant table has no comment
-- why: Reviewers need to know what a table holds.
-- fix: COMMENT ON TABLE.
SELECT n.nspname AS schema_name, c.relname AS object_name, 'table' AS object_kind, NULL::text AS severity,
       'no comment' AS message, 'COMMENT ON TABLE ' || c.oid::pg_catalog.regclass || ' IS ''...'';' AS remediation
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname = ANY (%(schemas)s::text[])
  AND pg_catalog.obj_description(c.oid, 'pg_class') IS NULL
ORDER BY 1, 2;
"""
    )
    report = db.audit(checks_dirs=[str(tmp_path)])
    assert hits(report, "table-comment-missing") == ["public.items", "public.tenants"]


def test_broken_user_check_becomes_a_note_not_a_crash(db, tmp_path):
    db.tenants()
    (tmp_path / "broken.sql").write_text(
        "-- id: broken\n-- category: broken-check\n-- severity: low\n-- title: t\n-- why: w\n-- fix: f\n"
        "SELECT * FROM no_such_table;\n"
    )
    report = db.audit(checks_dirs=[str(tmp_path)])
    assert any("broken" in note and "undefined_table (SQLSTATE 42P01)" in note for note in report.notes), report.notes


def test_failing_user_check_does_not_quote_row_values(db, tmp_path):
    """A user check that fails on a row's value: the note names the fault, never the value."""
    db.tenants()
    db.sql("CREATE TABLE secrets (value text); INSERT INTO secrets VALUES ('hunter2-row-value');")
    (tmp_path / "casts.sql").write_text(
        "-- id: casts\n-- category: cast-check\n-- severity: low\n-- title: t\n-- why: w\n-- fix: f\n"
        "SELECT value::int AS schema_name FROM public.secrets ORDER BY 1;\n"
    )
    report = db.audit(checks_dirs=[str(tmp_path)])
    notes = [n for n in report.notes if "casts" in n]
    assert notes and "invalid_text_representation (SQLSTATE 22P02)" in notes[0], report.notes
    assert "hunter2" not in " ".join(report.notes), report.notes


def test_user_check_without_header_is_a_config_error(db, tmp_path):
    db.tenants()
    (tmp_path / "bad.sql").write_text("SELECT 1;\n")
    with pytest.raises(ConfigError, match="header lacks"):
        db.audit(checks_dirs=[str(tmp_path)])
