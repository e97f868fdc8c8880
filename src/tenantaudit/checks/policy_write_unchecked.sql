-- id: policy_write_unchecked
-- category: policy-write-unchecked
-- severity: high
-- title: A write policy does not pin the tenant column
-- why: INSERT and UPDATE are checked against WITH CHECK (an ALL or UPDATE policy without one reuses
--   USING). A permissive policy whose check does not compare the tenant column with the tenant
--   context, e.g. WITH CHECK (true), lets a tenant insert rows into another tenant or move its own
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
-- Permissive policies whose write check lets a row of any tenant through, per command: proven
-- when the analyzer found the check open and no restrictive write check is opaque (AND-ed, it
-- might pin the command); an opaque check alone is reported low, not proven.
opaque_restrictive AS (
  SELECT DISTINCT p.polrelid, c.cmd
  FROM judged p
  JOIN commands c ON p.cmd IN ('*', c.cmd)
  WHERE NOT p.polpermissive AND p.has_write_check AND p.check_verdict = 'opaque'
),
unchecked AS (
  SELECT p.oid, p.polrelid, p.polname, p.cmd, p.has_check, p.check_reason,
         pg_catalog.bool_and(p.check_verdict = 'open'
                             AND NOT EXISTS (SELECT FROM opaque_restrictive o WHERE o.polrelid = p.polrelid AND o.cmd = c.cmd)) AS proven,
         pg_catalog.string_agg(c.label, ', ' ORDER BY c.ord) AS commands
  FROM judged p
  JOIN commands c ON p.cmd IN ('*', c.cmd)
  WHERE p.polpermissive AND p.has_write_check AND NOT p.check_fenced
    AND NOT EXISTS (SELECT FROM pinned k WHERE k.polrelid = p.polrelid AND k.cmd = c.cmd)
    AND NOT EXISTS (SELECT FROM read_unscoped u WHERE u.polrelid = p.polrelid)
  GROUP BY p.oid, p.polrelid, p.polname, p.cmd, p.has_check, p.check_reason
)
SELECT t.nspname AS schema_name,
       t.relname AS object_name,
       'table' AS object_kind,
       CASE WHEN w.proven THEN NULL ELSE 'low' END AS severity,
       CASE WHEN w.proven THEN '' ELSE 'not proven: ' END
         || 'permissive policy ' || pg_catalog.quote_ident(w.polname) || ' on ' || t.oid::pg_catalog.regclass
         || ' (FOR ' || CASE w.cmd WHEN '*' THEN 'ALL' WHEN 'a' THEN 'INSERT' ELSE 'UPDATE' END
         || CASE WHEN w.proven THEN ') lets ' || w.commands || ' write rows of any tenant: its '
                 ELSE ') may let ' || w.commands || ' write rows of any tenant: its ' END
         || CASE WHEN w.has_check
                 THEN 'WITH CHECK (' || CASE WHEN pp.polrelid <> ALL (%(unaudited)s::oid[]) THEN pg_catalog.pg_get_expr(pp.polwithcheck, pp.polrelid) END || ')'
                 ELSE 'USING (' || CASE WHEN pp.polrelid <> ALL (%(unaudited)s::oid[]) THEN pg_catalog.pg_get_expr(pp.polqual, pp.polrelid) END || '), reused as the write check,'
            END
         || CASE WHEN w.proven THEN ' does not pin ' ELSE ' could not be judged against ' END
         || %(fence_label)s || coalesce(' (' || w.check_reason || ')', '')
         || CASE WHEN w.proven THEN '' ELSE '; the write probes decide' END AS message,
       'ALTER POLICY ' || pg_catalog.quote_ident(w.polname) || ' ON ' || t.oid::pg_catalog.regclass
         || ' WITH CHECK (' || t.fence_sql || ');' AS remediation
FROM unchecked w
JOIN rls_tables t ON t.oid = w.polrelid
JOIN pg_catalog.pg_policy pp ON pp.oid = w.oid
ORDER BY t.nspname, t.relname, w.polname;
