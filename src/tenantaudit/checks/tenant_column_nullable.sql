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
WITH tenant_tables AS (
  SELECT c.oid, n.nspname, c.relname, c.relkind, c.relowner, c.relrowsecurity, c.relforcerowsecurity
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p')
    AND NOT c.relispartition
    AND NOT EXISTS (SELECT FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid)
    AND n.nspname = ANY (%(schemas)s::text[])
    AND c.oid <> %(tenant_table)s::oid
    AND c.oid <> ALL (%(global_tables)s::oid[])
    AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
),
tenant_columns AS (
  -- tenant tables that have the tenant column; the others are tenant-column-missing
  SELECT t.*, a.attnum, a.atttypid, a.atttypmod, a.attnotnull,
         pg_catalog.format_type(a.atttypid, a.atttypmod) AS column_type
  FROM tenant_tables t
  JOIN pg_catalog.pg_attribute a
    ON a.attrelid = t.oid AND a.attname = %(tenant_column)s AND a.attnum > 0 AND NOT a.attisdropped
)
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
