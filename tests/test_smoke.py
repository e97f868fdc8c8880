from conftest import hits


def test_fenced_table_is_clean(db):
    db.tenants()
    db.fenced_table()
    report = db.audit()
    assert report.findings == []
    assert [(c.table, c.kind) for c in report.coverage] == [("items", "tenant"), ("tenants", "tenants")]


def test_table_without_tenant_column_is_reported(db):
    db.tenants()
    db.sql("CREATE TABLE public.notes (id serial PRIMARY KEY, body text)")
    report = db.audit()
    assert hits(report, "tenant-column-missing") == ["public.notes"]
    assert hits(db.audit(global_tables=["public.notes"]), "tenant-column-missing") == []
