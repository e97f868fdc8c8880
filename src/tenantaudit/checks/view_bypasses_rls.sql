-- id: view_bypasses_rls
-- category: view-bypasses-rls
-- severity: high
-- title: View reads tenant tables with its owner's rights
-- why: A view without security_invoker reads its tables with the rights of the view's owner, not of
--   the role that queries it. When that owner is a superuser, has BYPASSRLS, owns a table whose row
--   level security is not FORCEd, or the table has RLS off, the view returns every tenant's rows to
--   whoever may select from it, whatever the tables' policies say. Otherwise the policies that bind
--   the owner apply, not those for the application role: a permissive policy for the owner that
--   does not fence the tenant is enough. Views over views are followed:
--   a view read by another view is read with its own owner's rights unless it is security_invoker
--   itself, and a materialized view on the way holds a copy no policy applies to.
--   A view whose own query fences every tenant table it reads to the tenant context is no bypass
--   when it is security_barrier, and medium when it is not: without the barrier, the planner may
--   run a caller's condition (a leaky function) on every tenant's rows before the view's filter.
-- fix: ALTER VIEW ... SET (security_invoker = on) (PostgreSQL 15+) so that the querying role's
--   policies apply, or revoke SELECT on the view from the application role; for a view that
--   filters by the tenant context itself, ALTER VIEW ... SET (security_barrier = on).
-- include: tenant_tables policy_verdicts
, readers AS (
  -- Views and materialized views; security_invoker is read from reloptions (the option exists from
  -- PostgreSQL 15; before that no view has it, and the column read works on every version).
  SELECT c.oid, c.relkind, c.relowner,
         -- CASE: only the security_invoker value is cast (check_option=local is not a boolean)
         c.relkind = 'v' AND EXISTS (SELECT FROM pg_catalog.unnest(c.reloptions) AS o(opt)
                                     WHERE CASE WHEN pg_catalog.split_part(o.opt, '=', 1) = 'security_invoker'
                                                THEN pg_catalog.split_part(o.opt, '=', 2)::boolean
                                                ELSE false END) AS invoker
  FROM pg_catalog.pg_class c
  WHERE c.relkind IN ('v', 'm')
),
-- The relations a view's query reads directly: what its ON SELECT rule depends on.
reads AS (
  SELECT DISTINCT r.ev_class AS reader, d.refobjid AS rel
  FROM pg_catalog.pg_rewrite r
  JOIN pg_catalog.pg_depend d
    ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
   AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid <> r.ev_class
  WHERE r.ev_type = '1'
),
-- Audited views that run with their owner's rights, and who reads each relation under them:
-- an inner view without security_invoker switches to its own owner (the culprit to fix); a
-- materialized view on the way means its rows are a copy that no policy filters.
walk (top, rel, checker, culprit, via_matview, path) AS (
  SELECT v.oid, rd.rel, v.relowner, v.oid, false, ARRAY[v.oid]
  FROM readers v
  JOIN pg_catalog.pg_class vc ON vc.oid = v.oid
  JOIN pg_catalog.pg_namespace n ON n.oid = vc.relnamespace
  JOIN reads rd ON rd.reader = v.oid
  WHERE v.relkind = 'v' AND NOT v.invoker
    AND n.nspname = ANY (%(schemas)s::text[])
    AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                      AND d.objid = v.oid AND d.deptype = 'e')
  UNION ALL
  SELECT w.top, rd.rel,
         CASE WHEN x.relkind = 'v' AND NOT x.invoker THEN x.relowner ELSE w.checker END,
         CASE WHEN w.via_matview OR (x.relkind = 'v' AND x.invoker) THEN w.culprit ELSE x.oid END,
         w.via_matview OR x.relkind = 'm',
         w.path || x.oid
  FROM walk w
  JOIN readers x ON x.oid = w.rel
  JOIN reads rd ON rd.reader = x.oid
  WHERE x.oid <> ALL (w.path)
),
-- A tenant table read by a role that row level security does not restrict there (the same rule
-- the server applies: superuser, BYPASSRLS, RLS off, or owner (or member of it) without FORCE), or
-- whose own policies let every tenant's rows through: a permissive SELECT policy binding it (TO
-- PUBLIC or a role whose privileges it has) that does not fence the tenant, and no restrictive
-- policy binding it that does. A policy TO the application role alone does not bind the owner.
exposed AS (
  SELECT DISTINCT w.top, w.culprit, w.via_matview, t.oid AS rel,
         CASE WHEN w.via_matview
              THEN 'copied by materialized view ' || w.culprit::pg_catalog.regclass
              ELSE 'read as ' || pg_catalog.quote_ident(o.rolname)
                   || CASE WHEN w.culprit <> w.top
                           THEN ', the owner of view ' || w.culprit::pg_catalog.regclass ELSE '' END
                   || CASE WHEN o.rolsuper THEN ', a superuser'
                           WHEN o.rolbypassrls THEN ', which has BYPASSRLS'
                           WHEN NOT t.relrowsecurity THEN '; row level security is disabled on the table'
                           WHEN x.owner_bypass THEN ', which owns the table; row level security is not forced'
                           ELSE ', whose policies on the table let every tenant''s rows through ('
                                || u.policies || ')' END
         END AS reason
  FROM walk w
  JOIN tenant_tables tt ON tt.oid = w.rel
  JOIN pg_catalog.pg_class t ON t.oid = w.rel
  JOIN pg_catalog.pg_roles o ON o.oid = w.checker
  CROSS JOIN LATERAL (
    SELECT NOT t.relforcerowsecurity AND pg_catalog.pg_has_role(o.oid, t.relowner, 'USAGE') AS owner_bypass
  ) x
  LEFT JOIN LATERAL (
    SELECT pg_catalog.string_agg(DISTINCT 'policy ' || pg_catalog.quote_ident(v.polname), ', ') AS policies
    FROM table_verdicts v
    WHERE v.polrelid = t.oid AND v.cmd IN ('*', 'r') AND v.polpermissive AND v.has_using AND NOT v.using_fenced
      AND (0::oid = ANY (v.polroles)
           OR EXISTS (SELECT FROM pg_catalog.unnest(v.polroles) AS r(oid)
                      WHERE r.oid <> 0::oid AND pg_catalog.pg_has_role(o.oid, r.oid, 'USAGE')))
      AND NOT EXISTS (SELECT FROM table_verdicts k
                      WHERE k.polrelid = t.oid AND k.cmd IN ('*', 'r') AND NOT k.polpermissive AND k.using_fenced
                        AND (0::oid = ANY (k.polroles)
                             OR EXISTS (SELECT FROM pg_catalog.unnest(k.polroles) AS r(oid)
                                        WHERE r.oid <> 0::oid AND pg_catalog.pg_has_role(o.oid, r.oid, 'USAGE'))))
  ) u ON true
  WHERE w.via_matview
     OR o.rolsuper OR o.rolbypassrls
     OR NOT t.relrowsecurity
     OR x.owner_bypass
     OR u.policies IS NOT NULL
),
-- Views the application role can select from; with no --app-role, any grant beyond the owner.
granted AS (
  SELECT v.oid, n.nspname, v.relname,
         (SELECT pg_catalog.string_agg(DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                                    ELSE pg_catalog.quote_ident(g.rolname) END COLLATE "C",
                                       ', ' ORDER BY CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                                          ELSE pg_catalog.quote_ident(g.rolname) END COLLATE "C")
          FROM pg_catalog.aclexplode(COALESCE(v.relacl, pg_catalog.acldefault('r', v.relowner))) a
          LEFT JOIN pg_catalog.pg_roles g ON g.oid = a.grantee
          WHERE a.grantee <> v.relowner AND a.privilege_type = 'SELECT'
            AND (%(app_role)s::text IS NULL OR a.grantee = 0
                 OR pg_catalog.pg_has_role(%(app_role)s::name, a.grantee, 'MEMBER'))) AS grantees
       , f.fenced
  FROM pg_catalog.pg_class v
  JOIN pg_catalog.pg_namespace n ON n.oid = v.relnamespace
  -- fenced: the view's own query restricts every tenant table it reads to the tenant context (the
  -- policy analyzer's judgement, %(object_verdicts)s), and every exposed table is one it reads
  -- itself (through an inner view or a materialized view, its own filter says nothing of them)
  CROSS JOIN LATERAL (
    SELECT COALESCE(%(object_verdicts)s::jsonb -> (v.oid::text) ->> 'verdict', '') = 'fenced'
           AND NOT EXISTS (SELECT FROM exposed e WHERE e.top = v.oid AND (e.culprit <> e.top OR e.via_matview)) AS fenced,
           COALESCE((%(object_verdicts)s::jsonb -> (v.oid::text) ->> 'barrier')::boolean, false) AS barrier
  ) f
  WHERE v.oid IN (SELECT e.top FROM exposed e)
    -- a fenced security_barrier view is a fence, not a bypass
    AND NOT (f.fenced AND f.barrier)
    AND CASE WHEN %(app_role)s::text IS NULL
             THEN EXISTS (SELECT FROM pg_catalog.aclexplode(COALESCE(v.relacl, pg_catalog.acldefault('r', v.relowner))) a
                          WHERE a.grantee <> v.relowner AND a.privilege_type = 'SELECT')
             ELSE pg_catalog.has_table_privilege(%(app_role)s::name, v.oid, 'SELECT') END
)
SELECT g.nspname AS schema_name,
       g.relname AS object_name,
       'view' AS object_kind,
       CASE WHEN g.fenced THEN 'medium' END AS severity,
       g.oid::pg_catalog.regclass
         || CASE WHEN g.fenced
                 THEN ' filters by the tenant context itself but is not security_barrier, so a condition the caller '
                      || 'adds (a leaky function) can run on other tenants'' rows before that filter: '
                 ELSE ' returns tenant rows without row level security: ' END
         || (SELECT pg_catalog.string_agg(DISTINCT e.rel::pg_catalog.regclass || ' (' || e.reason || ')', '; '
                                          ORDER BY e.rel::pg_catalog.regclass || ' (' || e.reason || ')')
             FROM exposed e WHERE e.top = g.oid)
         || '; ' || COALESCE(pg_catalog.quote_ident(%(app_role)s), g.grantees) || ' can select from it' AS message,
       CASE WHEN g.fenced THEN 'ALTER VIEW ' || g.oid::pg_catalog.regclass || ' SET (security_barrier = on);  -- or: '
            ELSE '' END
         || COALESCE((SELECT pg_catalog.string_agg(DISTINCT 'ALTER VIEW ' || e.culprit::pg_catalog.regclass
                                                       || ' SET (security_invoker = on);', ' '
                                              ORDER BY 'ALTER VIEW ' || e.culprit::pg_catalog.regclass
                                                       || ' SET (security_invoker = on);')
                 FROM exposed e
                 WHERE e.top = g.oid AND NOT e.via_matview
                   AND pg_catalog.current_setting('server_version_num')::int >= 150000)
                || '  -- or: ', '')
         || 'REVOKE SELECT ON ' || g.oid::pg_catalog.regclass || ' FROM '
         || COALESCE(g.grantees, pg_catalog.quote_ident(%(app_role)s), 'PUBLIC') || ';' AS remediation
FROM granted g
ORDER BY g.nspname, g.relname;
