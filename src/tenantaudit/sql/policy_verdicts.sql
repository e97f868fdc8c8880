-- Shared by the policy checks (their header says `include: tenant_tables policy_verdicts`): every
-- policy on a tenant table with RLS that applies to the application role, judged by whether its
-- USING and its effective write check pin the tenant column to the context's tenants, as the policy
-- analyzer judged them (judged; and every policy whomever it binds, by its USING: table_verdicts). It continues the
-- WITH list that sql/tenant_tables.sql opens (so it comes second and starts with a comma); the
-- check's body continues it in turn with ", name AS (...)" and ends in a SELECT.

-- Every policy on those tables, whomever it is for.
, table_policies AS (
  SELECT p.oid, p.polrelid, p.polname, p.polcmd::text AS cmd, p.polpermissive, p.polroles,
         p.polqual IS NOT NULL AS has_using, p.polwithcheck IS NOT NULL AS has_check
  FROM pg_catalog.pg_policy p
  JOIN rls_tables t ON t.oid = p.polrelid
),
-- Policies that bind the application role: TO PUBLIC, or TO a role whose privileges it has.
-- PostgreSQL applies a policy TO r when the current user has the privileges of r (an inheriting
-- member: pg_has_role USAGE), not merely when it could SET ROLE r: a NOINHERIT member (or, from
-- PostgreSQL 16, a member granted WITH INHERIT FALSE) is not bound by r's policies.
-- Without a known role every policy counts.
policies AS (
  SELECT p.oid, p.polrelid, p.polname, p.cmd, p.polpermissive, p.has_using, p.has_check
  FROM table_policies p
  WHERE %(app_role)s::name IS NULL
     OR 0::oid = ANY (p.polroles)
     OR EXISTS (SELECT FROM pg_catalog.unnest(p.polroles) AS r(oid)
                WHERE r.oid <> 0::oid AND pg_catalog.pg_has_role(%(app_role)s::name, r.oid, 'USAGE'))
),
-- Partitions and inheritance children (any depth) of those tables that have RLS on, and the
-- policies on them that bind the application role: querying a child by name applies its own
-- policies, not its parent's (partition_rls_gap judges them with child_judged).
rls_children(oid, root, path) AS (
  SELECT i.inhrelid, t.oid, ARRAY[t.oid, i.inhrelid]
  FROM rls_tables t
  JOIN pg_catalog.pg_inherits i ON i.inhparent = t.oid
  WHERE i.inhrelid <> ALL (%(unaudited)s::oid[])  -- a locked child: not audited, not deparsed
  UNION ALL
  SELECT i.inhrelid, c.root, c.path || i.inhrelid
  FROM rls_children c
  JOIN pg_catalog.pg_inherits i ON i.inhparent = c.oid
  WHERE i.inhrelid <> ALL (c.path) AND i.inhrelid <> ALL (%(unaudited)s::oid[])
),
child_policies AS (
  SELECT p.oid, p.polrelid, p.polname, p.polcmd::text AS cmd, p.polpermissive,
         p.polqual IS NOT NULL AS has_using, p.polwithcheck IS NOT NULL AS has_check
  FROM pg_catalog.pg_policy p
  WHERE p.polrelid IN (SELECT c.oid FROM rls_children c)
    AND (%(app_role)s::name IS NULL
         OR 0::oid = ANY (p.polroles)
         OR EXISTS (SELECT FROM pg_catalog.unnest(p.polroles) AS r(oid)
                    WHERE r.oid <> 0::oid AND pg_catalog.pg_has_role(%(app_role)s::name, r.oid, 'USAGE')))
),
-- The verdicts of the policy analyzer (tenantaudit/audit/policy.py, on PostgreSQL's parser), computed
-- once per audit under the tenant context model and passed in as %(policy_verdicts)s:
-- {"<policy oid>": {"using": "fenced"|"open"|"opaque", "using_reason": ..., "check": ..., "check_reason": ...}}.
-- A policy the analyzer did not see (not in the parameter) is opaque: never proven fenced, never a
-- high finding.
verdicts AS (
  SELECT v.key::oid AS oid,
         v.value ->> 'using' AS using_verdict, v.value ->> 'using_reason' AS using_reason,
         v.value ->> 'check' AS check_verdict, v.value ->> 'check_reason' AS check_reason
  FROM pg_catalog.jsonb_each(COALESCE(%(policy_verdicts)s::jsonb, '{}'::jsonb)) AS v(key, value)
),
-- Each policy part's verdict; the write check of INSERT/UPDATE/ALL is WITH CHECK, or USING when
-- there is none (PostgreSQL reuses it).
part_verdicts AS (
  SELECT p.oid,
         CASE WHEN p.has_using THEN COALESCE(v.using_verdict, 'opaque') END AS using_verdict,
         CASE WHEN p.has_using THEN COALESCE(v.using_reason, 'not analysed') END AS using_reason,
         CASE WHEN p.has_check THEN COALESCE(v.check_verdict, 'opaque')
              WHEN p.has_using THEN COALESCE(v.using_verdict, 'opaque') END AS check_verdict,
         CASE WHEN p.has_check THEN COALESCE(v.check_reason, 'not analysed')
              WHEN p.has_using THEN COALESCE(v.using_reason, 'not analysed') END AS check_reason
  FROM (SELECT oid, has_using, has_check FROM table_policies
        UNION ALL SELECT oid, has_using, has_check FROM child_policies) p
  LEFT JOIN verdicts v ON v.oid = p.oid
),
-- Each applicable policy with its verdicts (using_fenced / check_fenced: proven fenced;
-- *_verdict and *_reason: fenced, open or opaque, and why).
judged AS (
  SELECT p.*,
         coalesce(v.using_verdict = 'fenced', false) AS using_fenced,
         coalesce(v.check_verdict = 'fenced', false) AS check_fenced,
         v.using_verdict, v.using_reason, v.check_verdict, v.check_reason,
         p.has_using OR p.has_check AS has_write_check
  FROM policies p
  LEFT JOIN part_verdicts v ON v.oid = p.oid
),
-- Every policy on the tables with its USING verdict, for checks that judge the policies binding
-- another role than the application role (view_bypasses_rls: a view's owner).
table_verdicts AS (
  SELECT p.*, coalesce(v.using_verdict = 'fenced', false) AS using_fenced, v.using_verdict, v.using_reason
  FROM table_policies p
  LEFT JOIN part_verdicts v ON v.oid = p.oid
),
-- The same verdicts for the policies on RLS-enabled partitions and inheritance children.
child_judged AS (
  SELECT p.*,
         coalesce(v.using_verdict = 'fenced', false) AS using_fenced,
         coalesce(v.check_verdict = 'fenced', false) AS check_fenced,
         v.using_verdict, v.using_reason, v.check_verdict, v.check_reason,
         p.has_using OR p.has_check AS has_write_check
  FROM child_policies p
  LEFT JOIN part_verdicts v ON v.oid = p.oid
)
