-- id: rls_disabled
-- category: rls-disabled
-- severity: critical
-- title: Row level security is off
-- why: With RLS off, the tenant column is only a convention: any query that forgets the WHERE
--   clause, any ORM default scope that is skipped, any hand-written report reads every tenant's
--   rows.
-- fix: Enable and force RLS and add a policy that pins the tenant column to the tenant setting,
--   in USING and WITH CHECK, NULLIF-guarded so an empty setting fails closed without an error.
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
       'row level security is disabled on ' || t.oid::pg_catalog.regclass
         || ': every tenant''s rows are readable and writable by the application' AS message,
       'ALTER TABLE ' || t.oid::pg_catalog.regclass || ' ENABLE ROW LEVEL SECURITY;' || chr(10)
         || 'ALTER TABLE ' || t.oid::pg_catalog.regclass || ' FORCE ROW LEVEL SECURITY;' || chr(10)
         || 'CREATE POLICY ' || pg_catalog.quote_ident('tenant_isolation_' || t.relname)
         || ' ON ' || t.oid::pg_catalog.regclass
         || ' USING (' || f.fence || ') WITH CHECK (' || f.fence || ');' AS remediation
FROM tenant_columns t
CROSS JOIN LATERAL (
  SELECT pg_catalog.quote_ident(%(tenant_column)s) || ' = NULLIF(current_setting('
         || pg_catalog.quote_literal(%(setting)s) || ', true), '''')::' || t.column_type AS fence
) f
WHERE NOT t.relrowsecurity
ORDER BY t.nspname, t.relname;
