-- id: policy_missing
-- category: policy-missing
-- severity: medium
-- title: RLS is on but no policy applies to the application role
-- why: With row level security enabled and no policy for the role, PostgreSQL denies every row: the
--   application sees nothing and every write fails. It fails closed, so no tenant leaks, but the
--   feature is broken (a common result of a rollback that dropped the policy, or of a policy
--   granted TO a role the application does not log in as).
-- fix: Create a tenant policy for the application role (or PUBLIC), USING and WITH CHECK
--   tenant column = NULLIF(current_setting(setting, true), '') cast to the column's type.
-- include: tenant_tables

-- Policies that bind the application role: TO PUBLIC, or TO a role whose privileges it has.
-- PostgreSQL applies a policy TO r when the current user has the privileges of r (an inheriting
-- member: pg_has_role USAGE), not merely when it could SET ROLE r: a NOINHERIT member (or, from
-- PostgreSQL 16, a member granted WITH INHERIT FALSE) is not bound by r's policies.
-- Without a known role every policy counts.
, policies AS (
  SELECT p.oid, p.polrelid, p.polname, p.polcmd::text AS cmd, p.polpermissive,
         p.polqual IS NOT NULL AS has_using, p.polwithcheck IS NOT NULL AS has_check
  FROM pg_catalog.pg_policy p
  WHERE %(app_role)s::name IS NULL
     OR 0::oid = ANY (p.polroles)
     OR EXISTS (SELECT FROM pg_catalog.unnest(p.polroles) AS r(oid)
                WHERE r.oid <> 0::oid AND pg_catalog.pg_has_role(%(app_role)s::name, r.oid, 'USAGE'))
),
-- Every policy on the table, whoever it is for: to say whom the existing ones serve.
all_policies AS (
  SELECT p.polrelid,
         pg_catalog.count(DISTINCT p.oid) AS n,
         pg_catalog.string_agg(DISTINCT CASE WHEN r.oid = 0::oid THEN 'PUBLIC'
                                             ELSE r.oid::pg_catalog.regrole::text END, ', ') AS roles,
         pg_catalog.bool_or(p.polname = 'tenant_isolation') AS name_taken
  FROM pg_catalog.pg_policy p
  CROSS JOIN LATERAL pg_catalog.unnest(p.polroles) AS r(oid)
  GROUP BY p.polrelid
)
SELECT t.nspname AS schema_name,
       t.relname AS object_name,
       'table' AS object_kind,
       NULL::text AS severity,
       'row level security is enabled on ' || t.oid::pg_catalog.regclass
         || CASE WHEN a.n IS NULL THEN ' but the table has no policy'
                 ELSE ' but no policy applies to role ' || pg_catalog.quote_ident(%(app_role)s)
                      || ' (its ' || a.n || CASE WHEN a.n = 1 THEN ' policy is' ELSE ' policies are' END
                      || ' for ' || a.roles || ')' END
         || ': the application sees no rows and every write fails (fails closed, but the application is broken)'
         AS message,
       'CREATE POLICY '
         || pg_catalog.quote_ident(CASE WHEN a.name_taken THEN 'tenant_isolation_' || %(app_role)s::text
                                        ELSE 'tenant_isolation' END)
         || ' ON ' || t.oid::pg_catalog.regclass
         || coalesce(' TO ' || pg_catalog.quote_ident(%(app_role)s), '')
         || ' USING (' || t.fence_sql || ') WITH CHECK (' || t.fence_sql || ');' AS remediation
FROM rls_tables t
LEFT JOIN all_policies a ON a.polrelid = t.oid
WHERE NOT EXISTS (SELECT FROM policies p WHERE p.polrelid = t.oid)
ORDER BY t.nspname, t.relname;
