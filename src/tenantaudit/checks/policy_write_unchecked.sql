-- id: policy_write_unchecked
-- category: policy-write-unchecked
-- severity: high
-- title: A write policy does not pin the tenant column
-- why: INSERT and UPDATE are checked against WITH CHECK (an ALL or UPDATE policy without one reuses
--   USING). A permissive policy whose check does not compare the tenant column with the tenant
--   setting, e.g. WITH CHECK (true), lets a tenant insert rows into another tenant or move its own
--   rows there, while reads look fenced.
-- fix: ALTER POLICY ... WITH CHECK (tenant column = NULLIF(current_setting(setting, true), '')::type),
--   or add a restrictive policy whose WITH CHECK fences the command.
-- include: tenant_tables policy_verdicts
, commands(cmd, label, ord) AS (VALUES ('a', 'INSERT', 1), ('w', 'UPDATE', 2)),
-- Tables whose SELECT is wholly unscoped are policy-not-tenant-scoped's finding: not repeated here.
read_unscoped AS (
  SELECT p.polrelid
  FROM judged p
  WHERE p.has_using AND p.cmd IN ('*', 'r')
  GROUP BY p.polrelid
  HAVING pg_catalog.bool_or(p.polpermissive) AND NOT pg_catalog.bool_or(p.using_fenced)
),
-- Write commands a restrictive policy pins: AND-ed, it holds whatever the permissive checks allow.
pinned AS (
  SELECT DISTINCT p.polrelid, c.cmd
  FROM judged p
  JOIN commands c ON p.cmd IN ('*', c.cmd)
  WHERE NOT p.polpermissive AND p.has_write_check AND p.check_fenced
),
-- Permissive policies whose write check lets a row of any tenant through, per command.
unchecked AS (
  SELECT p.oid, p.polrelid, p.polname, p.cmd, p.has_check,
         pg_catalog.string_agg(c.label, ', ' ORDER BY c.ord) AS commands
  FROM judged p
  JOIN commands c ON p.cmd IN ('*', c.cmd)
  WHERE p.polpermissive AND p.has_write_check AND NOT p.check_fenced
    AND NOT EXISTS (SELECT FROM pinned k WHERE k.polrelid = p.polrelid AND k.cmd = c.cmd)
    AND NOT EXISTS (SELECT FROM read_unscoped u WHERE u.polrelid = p.polrelid)
  GROUP BY p.oid, p.polrelid, p.polname, p.cmd, p.has_check
)
SELECT t.nspname AS schema_name,
       t.relname AS object_name,
       'table' AS object_kind,
       NULL::text AS severity,
       'permissive policy ' || pg_catalog.quote_ident(w.polname) || ' on ' || t.oid::pg_catalog.regclass
         || ' (FOR ' || CASE w.cmd WHEN '*' THEN 'ALL' WHEN 'a' THEN 'INSERT' ELSE 'UPDATE' END
         || ') lets ' || w.commands || ' write rows of any tenant: its '
         || CASE WHEN w.has_check
                 THEN 'WITH CHECK (' || CASE WHEN pp.polrelid <> ALL (%(unaudited)s::oid[]) THEN pg_catalog.pg_get_expr(pp.polwithcheck, pp.polrelid) END || ')'
                 ELSE 'USING (' || CASE WHEN pp.polrelid <> ALL (%(unaudited)s::oid[]) THEN pg_catalog.pg_get_expr(pp.polqual, pp.polrelid) END || '), reused as the write check,'
            END
         || ' does not pin ' || pg_catalog.quote_ident(%(tenant_column)s) || ' to current_setting('
         || pg_catalog.quote_literal(%(setting)s::text) || ')' AS message,
       'ALTER POLICY ' || pg_catalog.quote_ident(w.polname) || ' ON ' || t.oid::pg_catalog.regclass
         || ' WITH CHECK (' || t.fence_sql || ');' AS remediation
FROM unchecked w
JOIN rls_tables t ON t.oid = w.polrelid
JOIN pg_catalog.pg_policy pp ON pp.oid = w.oid
ORDER BY t.nspname, t.relname, w.polname;
