-- id: policy_permissive_bypass
-- category: policy-permissive-bypass
-- severity: high
-- title: A permissive policy is OR-ed with the tenant fence
-- why: Permissive policies are combined with OR: beside a fenced tenant policy, a second permissive
--   policy such as USING (true) or USING (is_public) lets the rows it matches through for every
--   tenant, whatever the fence says. Only a restrictive policy is AND-ed.
-- fix: Drop the extra policy, fold the fence into it, or make the tenant fence RESTRICTIVE so that it
--   holds whatever the permissive policies allow.
-- include: tenant_tables policy_verdicts
, commands(cmd, label, ord) AS (VALUES ('r', 'SELECT', 1), ('w', 'UPDATE', 2), ('d', 'DELETE', 3)),
-- Commands a permissive policy fences while no restrictive one does: there, any other permissive
-- policy is OR-ed with the fence. (A restrictive fence is AND-ed onto everything: nothing to report.)
fenced_commands AS (
  SELECT p.polrelid, c.cmd, c.label, c.ord
  FROM judged p
  JOIN commands c ON p.cmd IN ('*', c.cmd)
  WHERE p.has_using
  GROUP BY p.polrelid, c.cmd, c.label, c.ord
  HAVING pg_catalog.bool_or(p.polpermissive AND p.using_fenced)
     AND NOT pg_catalog.bool_or(NOT p.polpermissive AND p.using_fenced)
),
-- The unfenced permissive policies beside the fence, with the commands they widen.
-- Materialized so the join below scans only these few policies, not every judged policy per command.
-- Proven only when the analyzer found the policy open and no restrictive policy of the table is
-- opaque (AND-ed, it might fence); otherwise low, not proven, for the probes to decide.
unfenced AS MATERIALIZED (
  SELECT p.oid, p.polrelid, p.polname, p.cmd, p.using_reason,
         p.using_verdict = 'open'
           AND NOT EXISTS (SELECT FROM judged r WHERE r.polrelid = p.polrelid AND NOT r.polpermissive
                             AND r.has_using AND r.using_verdict = 'opaque') AS proven
  FROM judged p
  WHERE p.polpermissive AND p.has_using AND NOT p.using_fenced
),
bypasses AS (
  SELECT p.oid, p.polrelid, p.polname, p.cmd, p.proven, p.using_reason,
         pg_catalog.string_agg(f.label, ', ' ORDER BY f.ord) AS commands
  FROM unfenced p
  JOIN fenced_commands f ON f.polrelid = p.polrelid AND p.cmd IN ('*', f.cmd)
  GROUP BY p.oid, p.polrelid, p.polname, p.cmd, p.proven, p.using_reason
)
SELECT t.nspname AS schema_name,
       t.relname AS object_name,
       'table' AS object_kind,
       CASE WHEN b.proven THEN NULL ELSE 'low' END AS severity,
       CASE WHEN b.proven THEN '' ELSE 'not proven: ' END || 'permissive policy ' || pg_catalog.quote_ident(b.polname) || ' on ' || t.oid::pg_catalog.regclass
         || ' (FOR ' || CASE b.cmd WHEN '*' THEN 'ALL' WHEN 'r' THEN 'SELECT' WHEN 'w' THEN 'UPDATE'
                                   WHEN 'd' THEN 'DELETE' ELSE 'INSERT' END
         || ') is OR-ed with the tenant fence for ' || b.commands || ': its USING ('
         || CASE WHEN pp.polrelid <> ALL (%(unaudited)s::oid[]) THEN pg_catalog.pg_get_expr(pp.polqual, pp.polrelid) END
         || CASE WHEN b.proven THEN ') lets other tenants'' rows through'
                 ELSE ') may let other tenants'' rows through (' || coalesce(b.using_reason, 'not analysed')
                      || '); the probes decide' END AS message,
       'CREATE POLICY tenant_fence ON ' || t.oid::pg_catalog.regclass || ' AS RESTRICTIVE FOR ALL'
         || coalesce(' TO ' || pg_catalog.quote_ident(%(app_role)s), '')
         || ' USING (' || t.fence_sql || ') WITH CHECK (' || t.fence_sql || ');'
         || '  -- or drop the bypass: DROP POLICY ' || pg_catalog.quote_ident(b.polname)
         || ' ON ' || t.oid::pg_catalog.regclass || ';' AS remediation
FROM bypasses b
JOIN rls_tables t ON t.oid = b.polrelid
JOIN pg_catalog.pg_policy pp ON pp.oid = b.oid
ORDER BY t.nspname, t.relname, b.polname;
