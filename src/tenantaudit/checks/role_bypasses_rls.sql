-- id: role_bypasses_rls
-- category: role-bypasses-rls
-- severity: critical
-- title: Application role bypasses row level security
-- why: Row level security never applies to superusers nor to roles with BYPASSRLS, so every policy
--   is void for an application connecting as one. The attributes are not inherited through role
--   membership, but SET ROLE acquires them: an application role that can SET ROLE to such a role is
--   one statement away from every tenant's rows. Runs only when the application role is given.
--   Under the role model (a database role per tenant) a tenant role that can SET ROLE to another
--   tenant's role becomes that tenant: current_user is the whole tenant context.
-- fix: ALTER ROLE ... NOSUPERUSER NOBYPASSRLS for the application role, or revoke the membership
--   that leads to a role that has them.
WITH RECURSIVE app AS (
  SELECT r.oid, r.rolname FROM pg_catalog.pg_roles r WHERE r.rolname = %(app_role)s
),
-- Roles the application role can SET ROLE to, with the shortest grant chain. From PostgreSQL 16 a
-- grant can withhold SET (set_option); read through to_jsonb so older versions, which lack the
-- column, still run this query (there every membership allows SET ROLE).
reach (roleid, path, names) AS (
  SELECT a.oid, ARRAY[a.oid], ARRAY[a.rolname::text] FROM app a
  UNION ALL
  SELECT m.roleid, r.path || m.roleid, r.names || g.rolname::text
  FROM reach r
  JOIN pg_catalog.pg_auth_members m ON m.member = r.roleid
  JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
  WHERE m.roleid <> ALL (r.path)
    AND COALESCE((pg_catalog.to_jsonb(m.*) ->> 'set_option')::boolean, true)
),
bypass AS (
  SELECT DISTINCT ON (x.roleid) x.roleid, x.names, g.rolname, g.rolsuper, g.rolbypassrls,
         pg_catalog.cardinality(x.path) - 1 AS depth
  FROM reach x
  JOIN pg_catalog.pg_roles g ON g.oid = x.roleid
  WHERE g.rolsuper OR g.rolbypassrls
  ORDER BY x.roleid, pg_catalog.cardinality(x.path), x.names::text COLLATE "C"
),
-- The role model: %(tenant_roles)s lists the tenants' roles (read from the tenants table's role
-- column; empty under the other models). A pair where one can SET ROLE to the other (membership,
-- direct or inherited) lets a session of the first tenant act as the second.
tenant_roles AS (
  SELECT g.oid, g.rolname FROM pg_catalog.pg_roles g
  WHERE g.rolname = ANY (COALESCE(%(tenant_roles)s::text[], '{}'::text[]))
),
crossing AS (
  SELECT a.rolname AS member, b.rolname AS target
  FROM tenant_roles a
  JOIN tenant_roles b ON b.oid <> a.oid
  WHERE pg_catalog.pg_has_role(a.oid, b.oid, 'MEMBER')
),
found AS (
SELECT NULL::text AS schema_name,
       %(app_role)s::text AS object_name,
       'role' AS object_kind,
       NULL::text AS severity,
       CASE WHEN b.depth = 0
            THEN pg_catalog.quote_ident(b.rolname)
                 || CASE WHEN b.rolsuper THEN ' is a superuser' ELSE ' has BYPASSRLS' END
                 || ': row level security does not apply to it'
            ELSE pg_catalog.quote_ident(b.names[1]) || ' can SET ROLE ' || pg_catalog.quote_ident(b.rolname)
                 || CASE WHEN b.depth > 1
                         THEN ' (through ' || (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(u.nm), ' -> ' ORDER BY u.i)
                                              FROM pg_catalog.unnest(b.names[2:b.depth]) WITH ORDINALITY AS u(nm, i)) || ')'
                         ELSE '' END
                 || ', which ' || CASE WHEN b.rolsuper THEN 'is a superuser' ELSE 'has BYPASSRLS' END
                 || ': row level security does not apply after SET ROLE'
       END AS message,
       CASE WHEN b.depth = 0
            THEN 'ALTER ROLE ' || pg_catalog.quote_ident(b.rolname)
                 || CASE WHEN b.rolsuper THEN ' NOSUPERUSER' ELSE '' END || ' NOBYPASSRLS;'
            ELSE 'REVOKE ' || pg_catalog.quote_ident(b.names[2]) || ' FROM ' || pg_catalog.quote_ident(b.names[1]) || ';'
                 || CASE WHEN b.depth > 1
                         THEN '  -- or: REVOKE ' || pg_catalog.quote_ident(b.rolname) || ' FROM '
                              || pg_catalog.quote_ident(b.names[b.depth]) || ';'
                         ELSE '' END
                 || '  -- or: ALTER ROLE ' || pg_catalog.quote_ident(b.rolname)
                 || CASE WHEN b.rolsuper THEN ' NOSUPERUSER' ELSE '' END || ' NOBYPASSRLS;'
       END AS remediation
FROM bypass b
UNION ALL
SELECT NULL::text, c.member::text, 'role', NULL::text,
       'tenant role ' || pg_catalog.quote_ident(c.member) || ' can SET ROLE ' || pg_catalog.quote_ident(c.target)
         || ', the role of another tenant: after SET ROLE its session is that tenant (current_user decides every fence)',
       'REVOKE ' || pg_catalog.quote_ident(c.target) || ' FROM ' || pg_catalog.quote_ident(c.member) || ';'
FROM crossing c
)
SELECT * FROM found
ORDER BY object_name COLLATE "C", message COLLATE "C";
