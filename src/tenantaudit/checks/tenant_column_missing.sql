-- id: tenant_column_missing
-- category: tenant-column-missing
-- severity: high
-- title: Tenant table has no tenant column
-- why: A table that is not declared global and has no tenant column cannot be fenced by tenant:
--   every row is visible to every tenant, and no policy can say otherwise.
-- fix: Add the tenant column (NOT NULL, referencing the tenants table) and backfill it, or declare
--   the table shared by design with --global-table.
-- include: tenant_tables
SELECT t.nspname AS schema_name,
       t.relname AS object_name,
       'table' AS object_kind,
       NULL::text AS severity,
       t.oid::pg_catalog.regclass || ' has no column ' || pg_catalog.quote_ident(%(tenant_column)s) AS message,
       'ALTER TABLE ' || t.oid::pg_catalog.regclass
         || ' ADD COLUMN ' || pg_catalog.quote_ident(%(tenant_column)s)
         || ' ' || (SELECT pg_catalog.format_type(a.atttypid, a.atttypmod)
                    FROM pg_catalog.pg_constraint k
                    JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
                    WHERE k.conrelid = %(tenant_table)s::oid AND k.contype = 'p')
         || ' REFERENCES ' || %(tenant_table)s::oid::pg_catalog.regclass
         || ';  -- then backfill it and SET NOT NULL' AS remediation
FROM tenant_tables t
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = t.oid AND a.attname = %(tenant_column)s
                    AND a.attnum > 0 AND NOT a.attisdropped)
ORDER BY t.nspname, t.relname;
