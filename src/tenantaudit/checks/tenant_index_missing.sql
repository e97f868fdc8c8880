-- id: tenant_index_missing
-- category: tenant-index-missing
-- severity: medium
-- title: No index leads with the tenant column
-- why: Every query under a tenant policy filters by the tenant column. Without a valid index led by
--   it, each tenant's query scans every tenant's rows: slow for all, and a noisy neighbour for the
--   rest. Partial indexes and indexes still being built (invalid, not ready) do not count.
-- fix: CREATE INDEX CONCURRENTLY on the tenant column, or lead the primary key with it:
--   PRIMARY KEY (tenant_id, id) serves both.
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
       'no valid, non-partial index on ' || t.oid::pg_catalog.regclass || ' leads with '
         || pg_catalog.quote_ident(%(tenant_column)s) AS message,
       -- CONCURRENTLY is not supported on a partitioned parent
       'CREATE INDEX ' || CASE WHEN t.relkind = 'p' THEN '' ELSE 'CONCURRENTLY ' END
         || pg_catalog.quote_ident(t.relname || '_' || %(tenant_column)s || '_idx')
         || ' ON ' || t.oid::pg_catalog.regclass || ' (' || pg_catalog.quote_ident(%(tenant_column)s) || ');' AS remediation
FROM tenant_columns t
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_index i
                  WHERE i.indrelid = t.oid AND i.indisvalid AND i.indisready
                    AND i.indpred IS NULL AND i.indkey[0] = t.attnum)
ORDER BY t.nspname, t.relname;
