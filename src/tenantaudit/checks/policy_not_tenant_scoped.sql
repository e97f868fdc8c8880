-- id: policy_not_tenant_scoped
-- category: policy-not-tenant-scoped
-- severity: high
-- title: No policy restricts rows to the current tenant
-- why: Permissive policies are OR-ed. When those that apply to the application role grant rows to
--   SELECT (or UPDATE / DELETE) without comparing the tenant column with the tenant context, and no
--   restrictive policy does, every tenant reads (or changes) every other tenant's rows. The policy
--   analyzer (PostgreSQL's parser) judges each policy under the tenant context model; a policy it
--   cannot read (a C function, dynamic SQL) is reported low as not proven, for the probes to decide.
-- fix: Add a restrictive tenant fence (it is AND-ed with whatever the permissive policies allow), or
--   rewrite the permissive policies as tenant column = NULLIF(current_setting(setting, true), '').
-- include: tenant_tables policy_verdicts
, commands(cmd, label, ord) AS (VALUES ('r', 'SELECT', 1), ('w', 'UPDATE', 2), ('d', 'DELETE', 3)),
-- A command is unscoped when permissive policies grant it rows through USING, none of them fenced,
-- and no restrictive policy fences it (one restrictive fence is AND-ed onto everything).
-- A policy without USING grants no rows, so only those with one count. It is proven open when
-- a permissive policy is open (the analyzer names the disjunct) and no restrictive policy is
-- opaque; otherwise the analyzer could not tell, and only the probes can.
unscoped AS (
  SELECT p.polrelid, c.cmd, c.label, c.ord,
         pg_catalog.bool_or(p.polpermissive AND p.using_verdict = 'open')
           AND NOT pg_catalog.bool_or(NOT p.polpermissive AND p.using_verdict = 'opaque') AS proven
  FROM judged p
  JOIN commands c ON p.cmd IN ('*', c.cmd)
  WHERE p.has_using
  GROUP BY p.polrelid, c.cmd, c.label, c.ord
  HAVING pg_catalog.bool_or(p.polpermissive) AND NOT pg_catalog.bool_or(p.using_fenced)
),
-- One row per table: the unscoped commands, the permissive policies that open them, and why
-- (the first open policy's reason; else the first opaque one's).
per_table AS (
  SELECT u.polrelid,
         pg_catalog.bool_or(u.proven) AS proven,
         pg_catalog.string_agg(u.label, ', ' ORDER BY u.ord) AS commands,
         (SELECT CASE WHEN pg_catalog.count(DISTINCT p.oid) = 1 THEN 'policy ' ELSE 'policies ' END
                 || pg_catalog.string_agg(DISTINCT pg_catalog.quote_ident(p.polname), ', '
                                       ORDER BY pg_catalog.quote_ident(p.polname))
          FROM unscoped v
          JOIN judged p ON p.polrelid = v.polrelid AND p.cmd IN ('*', v.cmd)
          WHERE v.polrelid = u.polrelid AND p.polpermissive AND p.has_using) AS opened_by,
         (SELECT pg_catalog.quote_ident(p.polname) || ': ' || p.using_reason
          FROM judged p
          WHERE p.polrelid = u.polrelid AND p.has_using AND NOT p.using_fenced AND p.using_reason IS NOT NULL
          ORDER BY p.using_verdict = 'open' DESC, NOT p.polpermissive, p.polname LIMIT 1) AS reason
  FROM unscoped u
  GROUP BY u.polrelid
)
SELECT t.nspname AS schema_name,
       t.relname AS object_name,
       'table' AS object_kind,
       CASE WHEN u.proven THEN NULL ELSE 'low' END AS severity,
       CASE WHEN u.proven
            THEN 'no policy on ' || t.oid::pg_catalog.regclass
                 || coalesce(' that applies to role ' || pg_catalog.quote_ident(%(app_role)s), '')
                 || ' restricts rows to ' || %(fence_label)s || ': ' || u.commands
                 || ' reach every tenant''s rows through permissive ' || u.opened_by
                 || coalesce(' (' || u.reason || ')', '')
            ELSE 'not proven: the policies on ' || t.oid::pg_catalog.regclass
                 || coalesce(' that apply to role ' || pg_catalog.quote_ident(%(app_role)s), '')
                 || ' could not be judged against ' || %(fence_label)s || ' for ' || u.commands
                 || coalesce(' (' || u.reason || ')', '') || '; the probes decide'
       END AS message,
       'CREATE POLICY tenant_fence ON ' || t.oid::pg_catalog.regclass || ' AS RESTRICTIVE FOR ALL'
         || coalesce(' TO ' || pg_catalog.quote_ident(%(app_role)s), '')
         || ' USING (' || t.fence_sql || ') WITH CHECK (' || t.fence_sql || ');' AS remediation
FROM rls_tables t
JOIN per_table u ON u.polrelid = t.oid
ORDER BY t.nspname, t.relname;
