-- id: tenant_column_type
-- category: tenant-column-type
-- severity: medium
-- title: Tenant column type differs from the tenants table key
-- why: When the tenant column is not the same type as the tenants table's primary key, it cannot
--   carry a plain foreign key, policies need casts that can fail or defeat indexes, and values that
--   look alike (text '42' vs integer 42, varchar vs uuid) drift apart.
-- fix: ALTER COLUMN ... TYPE to the key's type (USING col::type), after checking every value casts.
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
),
tenant_key AS (
  SELECT a.atttypid, a.atttypmod, pg_catalog.format_type(a.atttypid, a.atttypmod) AS key_type
  FROM pg_catalog.pg_constraint k
  JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
  WHERE k.conrelid = %(tenant_table)s::oid AND k.contype = 'p' AND pg_catalog.cardinality(k.conkey) = 1
)
SELECT t.nspname AS schema_name,
       t.relname AS object_name,
       'table' AS object_kind,
       NULL::text AS severity,
       t.oid::pg_catalog.regclass || '.' || pg_catalog.quote_ident(%(tenant_column)s) || ' is '
         || t.column_type || ' but ' || %(tenant_table)s::oid::pg_catalog.regclass
         || ' is keyed by ' || k.key_type AS message,
       'ALTER TABLE ' || t.oid::pg_catalog.regclass || ' ALTER COLUMN '
         || pg_catalog.quote_ident(%(tenant_column)s) || ' TYPE ' || k.key_type
         || ' USING ' || pg_catalog.quote_ident(%(tenant_column)s) || '::' || k.key_type || ';' AS remediation
FROM tenant_columns t
CROSS JOIN tenant_key k
WHERE t.atttypid <> k.atttypid
   -- a varchar(50) beside a varchar(255) key is a length difference, not a type difference
   OR (t.atttypmod <> k.atttypmod AND t.atttypid NOT IN ('pg_catalog.varchar'::pg_catalog.regtype,
                                                          'pg_catalog.bpchar'::pg_catalog.regtype))
ORDER BY t.nspname, t.relname;
