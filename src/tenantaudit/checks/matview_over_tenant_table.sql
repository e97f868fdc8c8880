-- id: matview_over_tenant_table
-- category: matview-over-tenant-table
-- severity: high
-- title: Materialized view copies tenant rows outside row level security
-- why: A materialized view stores the rows its query saw when it was last refreshed, and row level
--   security cannot be enabled on it: whoever may select from it reads every tenant's copied rows.
--   Tenant tables read through views (and other materialized views) count too.
-- fix: Revoke SELECT on the materialized view from the application role (keep it for reporting
--   roles), or replace it with a view WITH (security_invoker = on) so the tables' policies apply.
-- include: tenant_tables
, reads AS (
  -- The relations a view's or materialized view's query reads directly: what its ON SELECT rule
  -- depends on.
  SELECT DISTINCT r.ev_class AS reader, d.refobjid AS rel
  FROM pg_catalog.pg_rewrite r
  JOIN pg_catalog.pg_depend d
    ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
   AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid <> r.ev_class
  WHERE r.ev_type = '1'
),
-- Audited materialized views, and everything their queries read, through views and other
-- materialized views (whatever rights those run with, the copy holds what the refresh saw).
walk (top, rel, path) AS (
  SELECT m.oid, rd.rel, ARRAY[m.oid]
  FROM pg_catalog.pg_class m
  JOIN pg_catalog.pg_namespace n ON n.oid = m.relnamespace
  JOIN reads rd ON rd.reader = m.oid
  WHERE m.relkind = 'm'
    AND n.nspname = ANY (%(schemas)s::text[])
    AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                      AND d.objid = m.oid AND d.deptype = 'e')
  UNION ALL
  SELECT w.top, rd.rel, w.path || x.oid
  FROM walk w
  JOIN pg_catalog.pg_class x ON x.oid = w.rel AND x.relkind IN ('v', 'm')
  JOIN reads rd ON rd.reader = x.oid
  WHERE x.oid <> ALL (w.path)
),
copies AS (
  SELECT DISTINCT w.top, w.rel
  FROM walk w
  JOIN tenant_tables tt ON tt.oid = w.rel
),
-- Materialized views the application role can select from; with no --app-role, any grant
-- beyond the owner.
granted AS (
  SELECT m.oid, n.nspname, m.relname,
         (SELECT pg_catalog.string_agg(DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                                    ELSE pg_catalog.quote_ident(g.rolname) END COLLATE "C",
                                       ', ' ORDER BY CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                                          ELSE pg_catalog.quote_ident(g.rolname) END COLLATE "C")
          FROM pg_catalog.aclexplode(COALESCE(m.relacl, pg_catalog.acldefault('r', m.relowner))) a
          LEFT JOIN pg_catalog.pg_roles g ON g.oid = a.grantee
          WHERE a.grantee <> m.relowner AND a.privilege_type = 'SELECT'
            AND (%(app_role)s::text IS NULL OR a.grantee = 0
                 OR pg_catalog.pg_has_role(%(app_role)s::name, a.grantee, 'MEMBER'))) AS grantees
  FROM pg_catalog.pg_class m
  JOIN pg_catalog.pg_namespace n ON n.oid = m.relnamespace
  WHERE m.oid IN (SELECT c.top FROM copies c)
    AND CASE WHEN %(app_role)s::text IS NULL
             THEN EXISTS (SELECT FROM pg_catalog.aclexplode(COALESCE(m.relacl, pg_catalog.acldefault('r', m.relowner))) a
                          WHERE a.grantee <> m.relowner AND a.privilege_type = 'SELECT')
             ELSE pg_catalog.has_table_privilege(%(app_role)s::name, m.oid, 'SELECT') END
)
SELECT g.nspname AS schema_name,
       g.relname AS object_name,
       'matview' AS object_kind,
       NULL::text AS severity,
       g.oid::pg_catalog.regclass || ' holds a copy of rows of '
         || (SELECT pg_catalog.string_agg(c.rel::pg_catalog.regclass::text, ', '
                                          ORDER BY c.rel::pg_catalog.regclass::text)
             FROM copies c WHERE c.top = g.oid)
         || ' that no row level security policy filters; '
         || COALESCE(pg_catalog.quote_ident(%(app_role)s), g.grantees) || ' can select from it' AS message,
       'REVOKE SELECT ON ' || g.oid::pg_catalog.regclass || ' FROM '
         || COALESCE(g.grantees, pg_catalog.quote_ident(%(app_role)s), 'PUBLIC')
         || ';  -- or replace it with a view WITH (security_invoker = on) over the tenant tables' AS remediation
FROM granted g
ORDER BY g.nspname, g.relname;
