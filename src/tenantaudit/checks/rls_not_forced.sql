-- id: rls_not_forced
-- category: rls-not-forced
-- severity: high
-- title: RLS is not forced and the application role owns the table
-- why: A table's owner bypasses its RLS policies unless the table is FORCEd. Applications that
--   connect as the role that ran the migrations (the usual default) own every table and see every
--   tenant's rows whatever the policies say. Reported at high when the app role owns the table
--   (directly or through membership), at medium when no --app-role was given and it is unknown.
-- fix: ALTER TABLE ... FORCE ROW LEVEL SECURITY, and let the application connect as a role that
--   owns nothing.
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
       CASE WHEN %(app_role)s::text IS NULL THEN 'medium' ELSE 'high' END AS severity,
       CASE WHEN %(app_role)s::text IS NULL
            THEN t.oid::pg_catalog.regclass || ' is not FORCEd: its owner ' || pg_catalog.quote_ident(o.rolname)
                 || ' bypasses RLS; whether the application connects as it is unknown (no --app-role)'
            ELSE t.oid::pg_catalog.regclass || ' is not FORCEd and the app role '
                 || pg_catalog.quote_ident(%(app_role)s) || ' owns it (as ' || pg_catalog.quote_ident(o.rolname)
                 || '): the application bypasses every policy' END AS message,
       'ALTER TABLE ' || t.oid::pg_catalog.regclass || ' FORCE ROW LEVEL SECURITY;' AS remediation
FROM tenant_columns t
JOIN pg_catalog.pg_roles o ON o.oid = t.relowner
WHERE t.relrowsecurity
  AND NOT t.relforcerowsecurity
  AND (%(app_role)s::text IS NULL OR pg_catalog.pg_has_role(%(app_role)s, t.relowner, 'MEMBER'))
ORDER BY t.nspname, t.relname;
