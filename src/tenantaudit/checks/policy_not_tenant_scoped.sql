-- id: policy_not_tenant_scoped
-- category: policy-not-tenant-scoped
-- severity: high
-- title: No policy restricts rows to the current tenant
-- why: Permissive policies are OR-ed. When those that apply to the application role grant rows to
--   SELECT (or UPDATE / DELETE) without comparing the tenant column with the tenant setting, and no
--   restrictive policy does, every tenant reads (or changes) every other tenant's rows.
-- fix: Add a restrictive tenant fence (it is AND-ed with whatever the permissive policies allow), or
--   rewrite the permissive policies as tenant column = NULLIF(current_setting(setting, true), '').
-- include: tenant_tables policy_verdicts
, commands(cmd, label, ord) AS (VALUES ('r', 'SELECT', 1), ('w', 'UPDATE', 2), ('d', 'DELETE', 3)),
-- A command is unscoped when permissive policies grant it rows through USING, none of them fenced,
-- and no restrictive policy fences it (one restrictive fence is AND-ed onto everything).
-- A policy without USING grants no rows, so only those with one count.
unscoped AS (
  SELECT p.polrelid, c.cmd, c.label, c.ord
  FROM judged p
  JOIN commands c ON p.cmd IN ('*', c.cmd)
  WHERE p.has_using
  GROUP BY p.polrelid, c.cmd, c.label, c.ord
  HAVING pg_catalog.bool_or(p.polpermissive) AND NOT pg_catalog.bool_or(p.using_fenced)
),
-- One row per table: the unscoped commands and the permissive policies that open them.
per_table AS (
  SELECT u.polrelid,
         pg_catalog.string_agg(u.label, ', ' ORDER BY u.ord) AS commands,
         (SELECT CASE WHEN pg_catalog.count(DISTINCT p.oid) = 1 THEN 'policy ' ELSE 'policies ' END
                 || pg_catalog.string_agg(DISTINCT pg_catalog.quote_ident(p.polname), ', '
                                       ORDER BY pg_catalog.quote_ident(p.polname))
          FROM unscoped v
          JOIN judged p ON p.polrelid = v.polrelid AND p.cmd IN ('*', v.cmd)
          WHERE v.polrelid = u.polrelid AND p.polpermissive AND p.has_using) AS opened_by
  FROM unscoped u
  GROUP BY u.polrelid
)
SELECT t.nspname AS schema_name,
       t.relname AS object_name,
       'table' AS object_kind,
       NULL::text AS severity,
       'no policy on ' || t.oid::pg_catalog.regclass
         || coalesce(' that applies to role ' || pg_catalog.quote_ident(%(app_role)s), '')
         || ' restricts rows to ' || pg_catalog.quote_ident(%(tenant_column)s) || ' = current_setting('
         || pg_catalog.quote_literal(%(setting)s::text) || '): ' || u.commands
         || ' reach every tenant''s rows through permissive ' || u.opened_by AS message,
       'CREATE POLICY tenant_fence ON ' || t.oid::pg_catalog.regclass || ' AS RESTRICTIVE FOR ALL'
         || coalesce(' TO ' || pg_catalog.quote_ident(%(app_role)s), '')
         || ' USING (' || t.fence_sql || ') WITH CHECK (' || t.fence_sql || ');' AS remediation
FROM rls_tables t
JOIN per_table u ON u.polrelid = t.oid
ORDER BY t.nspname, t.relname;
