-- id: partition_rls_gap
-- category: partition-rls-gap
-- severity: high
-- title: Partition or inheritance child is reachable without its parent's row level security
-- why: Querying a partition (or an inheritance child) by name applies that table's own row level
--   security, not its parent's: a child with RLS disabled, or with RLS not FORCEd and owned by the
--   application role, shows and accepts every tenant's rows to a role granted privileges on it,
--   although the parent is fenced; so does a child with RLS on whose own policies do not fence the
--   tenant (USING (true)). Children of a parent with RLS disabled are left to rls-disabled.
-- fix: ENABLE and FORCE row level security on the child with the parent's policies, or REVOKE ALL
--   on the child from the application role (it keeps working through the parent).
-- include: tenant_tables policy_verdicts
, descendants (root, child, path) AS (
  -- Every descendant (sub-partitions too) of a tenant table whose RLS is on, with that root.
  SELECT t.oid, i.inhrelid, ARRAY[t.oid, i.inhrelid]
  FROM tenant_tables t
  JOIN pg_catalog.pg_class tc ON tc.oid = t.oid
  JOIN pg_catalog.pg_inherits i ON i.inhparent = t.oid
  WHERE tc.relrowsecurity AND i.inhrelid <> ALL (%(unaudited)s::oid[])  -- locked: not audited
  UNION ALL
  SELECT d.root, i.inhrelid, d.path || i.inhrelid
  FROM descendants d
  JOIN pg_catalog.pg_inherits i ON i.inhparent = d.child
  WHERE i.inhrelid <> ALL (d.path) AND i.inhrelid <> ALL (%(unaudited)s::oid[])
),
-- A child with several parents (multiple inheritance) is reported once, under its nearest root.
children AS (
  SELECT DISTINCT ON (d.child) d.root, d.child
  FROM descendants d
  ORDER BY d.child, pg_catalog.cardinality(d.path), d.root::pg_catalog.regclass::text COLLATE "C"
),
-- Children with RLS on whose own policies let the application role reach every tenant's rows:
-- as policy_not_tenant_scoped (USING of SELECT / UPDATE / DELETE) and policy_write_unchecked
-- (the write check of INSERT / UPDATE) judge a tenant table, a restrictive fence holding it.
child_commands(cmd, label, ord, part) AS (
  VALUES ('r', 'SELECT', 1, 'using'), ('a', 'INSERT', 2, 'check'), ('w', 'UPDATE', 3, 'using'),
         ('w', 'UPDATE', 3, 'check'), ('d', 'DELETE', 4, 'using')
),
child_open AS (
  SELECT p.polrelid, c.label, c.ord,
         pg_catalog.array_agg(p.polname ORDER BY p.polname)
           FILTER (WHERE p.polpermissive AND NOT CASE c.part WHEN 'using' THEN p.using_fenced ELSE p.check_fenced END)
           AS opened_by
  FROM child_judged p
  JOIN child_commands c ON p.cmd IN ('*', c.cmd)
  WHERE CASE c.part WHEN 'using' THEN p.has_using ELSE p.has_write_check END
  GROUP BY p.polrelid, c.label, c.ord, c.part
  HAVING pg_catalog.bool_or(p.polpermissive)
     AND NOT pg_catalog.bool_or(CASE c.part WHEN 'using' THEN p.using_fenced ELSE p.check_fenced END)
),
child_unfenced AS (
  SELECT o.polrelid,
         (SELECT pg_catalog.string_agg(x.label, ', ' ORDER BY x.ord)
          FROM (SELECT DISTINCT y.label, y.ord FROM child_open y WHERE y.polrelid = o.polrelid) x) AS commands,
         (SELECT pg_catalog.array_agg(DISTINCT n.polname ORDER BY n.polname)
          FROM child_open x CROSS JOIN LATERAL pg_catalog.unnest(x.opened_by) AS n(polname)
          WHERE x.polrelid = o.polrelid) AS opened_by
  FROM child_open o
  GROUP BY o.polrelid
),
-- Children whose own RLS does not restrict the application role: off (foreign tables cannot have
-- it), or on but not FORCEd and owned by the application role (or a role it inherits from), or on
-- with policies that do not fence the tenant. With no --app-role the owner case cannot be known
-- and is not guessed.
gaps AS (
  SELECT k.root, c.oid, c.relkind, c.relrowsecurity, c.relforcerowsecurity, c.relowner, c.relacl, c.relname, n.nspname,
         CASE WHEN NOT c.relrowsecurity THEN 'row level security is disabled on it'
              WHEN u.polrelid IS NOT NULL
                THEN 'its own ' || CASE WHEN pg_catalog.cardinality(u.opened_by) = 1 THEN 'policy ' ELSE 'policies ' END
                     || (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(x), ', ') FROM pg_catalog.unnest(u.opened_by) AS x)
                     || ' (' || u.commands || ')'
                     || CASE WHEN pg_catalog.cardinality(u.opened_by) = 1 THEN ' does' ELSE ' do' END
                     || ' not restrict rows to the tenant'
              ELSE pg_catalog.quote_ident(%(app_role)s) || ' owns it and row level security is not forced'
         END AS reason,
         u.opened_by
  FROM children k
  JOIN pg_catalog.pg_class c ON c.oid = k.child
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN child_unfenced u ON u.polrelid = c.oid
  WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
    AND (NOT c.relrowsecurity
         OR (NOT c.relforcerowsecurity AND %(app_role)s::text IS NOT NULL
             AND pg_catalog.pg_has_role(%(app_role)s::name, c.relowner, 'USAGE'))
         OR u.polrelid IS NOT NULL)
    -- the application role may read or write the child directly; with no --app-role, any grant
    -- beyond the owner
    AND CASE WHEN %(app_role)s::text IS NULL
             THEN EXISTS (SELECT FROM pg_catalog.aclexplode(COALESCE(c.relacl, pg_catalog.acldefault('r', c.relowner))) a
                          WHERE a.grantee <> c.relowner
                            AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE'))
             ELSE pg_catalog.has_table_privilege(%(app_role)s::name, c.oid, 'SELECT, INSERT, UPDATE, DELETE') END
)
SELECT g.nspname AS schema_name,
       g.relname AS object_name,
       'table' AS object_kind,
       NULL::text AS severity,
       g.oid::pg_catalog.regclass || ' is a '
         || CASE WHEN c.relispartition THEN 'partition' ELSE 'child' END || ' of '
         || g.root::pg_catalog.regclass || ', which has row level security, but ' || g.reason || '; '
         || COALESCE(pg_catalog.quote_ident(%(app_role)s), w.grantees)
         || ' can query it directly and see or change every tenant''s rows' AS message,
       CASE WHEN g.relkind = 'f' THEN ''  -- a foreign table cannot have row level security
            ELSE CASE WHEN g.relrowsecurity THEN ''
                      ELSE 'ALTER TABLE ' || g.oid::pg_catalog.regclass || ' ENABLE ROW LEVEL SECURITY; ' END
                 || CASE WHEN g.relforcerowsecurity THEN ''
                         ELSE 'ALTER TABLE ' || g.oid::pg_catalog.regclass || ' FORCE ROW LEVEL SECURITY; ' END
                 -- the child's own policies that open it
                 || COALESCE((SELECT pg_catalog.string_agg('DROP POLICY ' || pg_catalog.quote_ident(x)
                                                           || ' ON ' || g.oid::pg_catalog.regclass || '; ', '')
                              FROM pg_catalog.unnest(g.opened_by) AS x), '')
                 -- the root's policies, rendered for the child (columns are matched by name)
                 || COALESCE((SELECT pg_catalog.string_agg(
                                'CREATE POLICY ' || pg_catalog.quote_ident(pol.polname)
                                || ' ON ' || g.oid::pg_catalog.regclass
                                || CASE WHEN pol.polpermissive THEN '' ELSE ' AS RESTRICTIVE' END
                                || ' FOR ' || CASE pol.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT'
                                                             WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE'
                                                             ELSE 'ALL' END
                                || ' TO ' || (SELECT pg_catalog.string_agg(CASE WHEN u.r = 0 THEN 'PUBLIC'
                                                                                ELSE pg_catalog.quote_ident(pr.rolname) END,
                                                                           ', ' ORDER BY u.i)
                                              FROM pg_catalog.unnest(pol.polroles) WITH ORDINALITY AS u(r, i)
                                              LEFT JOIN pg_catalog.pg_roles pr ON pr.oid = u.r)
                                || COALESCE(' USING (' || CASE WHEN pol.polrelid <> ALL (%(unaudited)s::oid[]) THEN pg_catalog.pg_get_expr(pol.polqual, pol.polrelid) END || ')', '')
                                || COALESCE(' WITH CHECK (' || CASE WHEN pol.polrelid <> ALL (%(unaudited)s::oid[]) THEN pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid) END || ')', '')
                                || '; ', '' ORDER BY pol.polname)
                              FROM pg_catalog.pg_policy pol
                              WHERE pol.polrelid = g.root
                                AND NOT EXISTS (SELECT FROM pg_catalog.pg_policy cp
                                                WHERE cp.polrelid = g.oid AND cp.polname = pol.polname
                                                  AND cp.polname <> ALL (COALESCE(g.opened_by, '{}')))), '')
                 || ' -- or: '
       END
         || 'REVOKE ALL ON ' || g.oid::pg_catalog.regclass || ' FROM '
         || COALESCE(w.grantees, pg_catalog.quote_ident(%(app_role)s), 'PUBLIC') || ';' AS remediation
FROM gaps g
JOIN pg_catalog.pg_class c ON c.oid = g.oid
-- who holds the privileges to revoke: the application role and the roles (PUBLIC included) it
-- gets them from; with no --app-role, every grantee but the owner
CROSS JOIN LATERAL (
  SELECT pg_catalog.string_agg(DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                            ELSE pg_catalog.quote_ident(r.rolname) END COLLATE "C",
                               ', ' ORDER BY CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                                  ELSE pg_catalog.quote_ident(r.rolname) END COLLATE "C") AS grantees
  FROM pg_catalog.aclexplode(COALESCE(g.relacl, pg_catalog.acldefault('r', g.relowner))) a
  LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
  WHERE a.grantee <> g.relowner
    AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
    AND (%(app_role)s::text IS NULL OR a.grantee = 0
         OR pg_catalog.pg_has_role(%(app_role)s::name, a.grantee, 'MEMBER'))
) w
ORDER BY g.nspname, g.relname;
