-- id: tenant_column_type
-- category: tenant-column-type
-- severity: medium
-- title: Tenant column type differs from the tenants table key
-- why: When the tenant column is not the same type as the tenants table's primary key, it cannot
--   carry a plain foreign key, policies need casts that can fail or defeat indexes, and values that
--   look alike (text '42' vs integer 42, varchar vs uuid) drift apart.
-- fix: ALTER COLUMN ... TYPE to the key's type (USING col::type), after checking every value casts.
-- include: tenant_tables
, tenant_key AS (
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
