-- id: tenant_column_nullable
-- category: tenant-column-nullable
-- severity: high
-- title: Tenant column allows NULL
-- why: A row whose tenant column is NULL belongs to no tenant: a policy comparing it with the
--   tenant setting never matches it (the row silently vanishes for everyone), and code that
--   bypasses RLS treats it as shared. Legacy rows and forgotten backfills end up here.
-- fix: Backfill the column, then make it NOT NULL. On a large table add a CHECK (col IS NOT NULL)
--   NOT VALID constraint, VALIDATE it, then SET NOT NULL (PostgreSQL 12+ uses the constraint and
--   skips the full-table scan under ACCESS EXCLUSIVE).
-- include: tenant_tables
SELECT t.nspname AS schema_name,
       t.relname AS object_name,
       'table' AS object_kind,
       NULL::text AS severity,
       t.oid::pg_catalog.regclass || '.' || pg_catalog.quote_ident(%(tenant_column)s)
         || ' allows NULL: rows can belong to no tenant' AS message,
       'ALTER TABLE ' || t.oid::pg_catalog.regclass || ' ADD CONSTRAINT '
         || pg_catalog.quote_ident(t.relname || '_' || %(tenant_column)s || '_not_null')
         || ' CHECK (' || pg_catalog.quote_ident(%(tenant_column)s) || ' IS NOT NULL) NOT VALID;' || chr(10)
         || 'ALTER TABLE ' || t.oid::pg_catalog.regclass || ' VALIDATE CONSTRAINT '
         || pg_catalog.quote_ident(t.relname || '_' || %(tenant_column)s || '_not_null') || ';' || chr(10)
         || 'ALTER TABLE ' || t.oid::pg_catalog.regclass || ' ALTER COLUMN '
         || pg_catalog.quote_ident(%(tenant_column)s) || ' SET NOT NULL;' AS remediation
FROM tenant_columns t
WHERE NOT t.attnotnull
ORDER BY t.nspname, t.relname;
