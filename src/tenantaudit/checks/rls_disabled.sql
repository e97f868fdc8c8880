-- id: rls_disabled
-- category: rls-disabled
-- severity: critical
-- title: Row level security is off
-- why: With RLS off, the tenant column is only a convention: any query that forgets the WHERE
--   clause, any ORM default scope that is skipped, any hand-written report reads every tenant's
--   rows. Critical when the application can reach the table; where no application role (nor
--   PUBLIC) has a privilege on it, the audit caps the finding at low and says so.
-- fix: Enable and force RLS and add a policy that pins the tenant column to the tenant setting,
--   in USING and WITH CHECK, NULLIF-guarded so an empty setting fails closed without an error.
-- include: tenant_tables
SELECT t.nspname AS schema_name,
       t.relname AS object_name,
       'table' AS object_kind,
       NULL::text AS severity,
       'row level security is disabled on ' || t.oid::pg_catalog.regclass
         || ': every role with a privilege on it reads and writes every tenant''s rows' AS message,
       'ALTER TABLE ' || t.oid::pg_catalog.regclass || ' ENABLE ROW LEVEL SECURITY;' || chr(10)
         || 'ALTER TABLE ' || t.oid::pg_catalog.regclass || ' FORCE ROW LEVEL SECURITY;' || chr(10)
         || 'CREATE POLICY ' || pg_catalog.quote_ident('tenant_isolation_' || t.relname)
         || ' ON ' || t.oid::pg_catalog.regclass
         || ' USING (' || f.fence || ') WITH CHECK (' || f.fence || ');' AS remediation
FROM tenant_columns t
CROSS JOIN LATERAL (
  -- the tenant context model's fence (fence_sql, @type@ for the column's type); NULL: the setting's
  SELECT COALESCE(pg_catalog.replace(%(fence_sql)s::text, '@type@', t.column_type),
                  pg_catalog.quote_ident(%(tenant_column)s) || ' = NULLIF(current_setting('
         || pg_catalog.quote_literal(%(setting)s) || ', true), '''')::' || t.column_type) AS fence
) f
WHERE NOT t.relrowsecurity
ORDER BY t.nspname, t.relname;
