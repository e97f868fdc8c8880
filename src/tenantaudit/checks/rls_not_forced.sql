-- id: rls_not_forced
-- category: rls-not-forced
-- severity: high
-- title: RLS is not forced and the application role owns the table
-- why: A table's owner bypasses its RLS policies unless the table is FORCEd. Applications that
--   connect as the role that ran the migrations (the usual default) own every table and see every
--   tenant's rows whatever the policies say. Reported at high when the app role owns the table
--   (directly or as an inheriting member of the owner), at medium when no --app-role was given and
--   it is unknown, or when the app role is a member of the owner that does not inherit its
--   privileges (NOINHERIT): it bypasses the policies only after SET ROLE to the owner. With
--   several application roles (--app-role given more than once), any of them.
-- fix: ALTER TABLE ... FORCE ROW LEVEL SECURITY, and let the application connect as a role that
--   owns nothing.
-- include: tenant_tables
SELECT t.nspname AS schema_name,
       t.relname AS object_name,
       'table' AS object_kind,
       CASE WHEN NOT x.known OR x.owners IS NULL THEN 'medium' ELSE 'high' END AS severity,
       CASE WHEN NOT x.known
            THEN t.oid::pg_catalog.regclass || ' is not FORCEd: its owner ' || pg_catalog.quote_ident(o.rolname)
                 || ' bypasses RLS; whether the application connects as it is unknown (no --app-role)'
            WHEN x.owners IS NULL
            THEN t.oid::pg_catalog.regclass || ' is not FORCEd and the app role ' || x.members
                 || ' can SET ROLE to its owner ' || pg_catalog.quote_ident(o.rolname)
                 || ' (a member that does not inherit its privileges): after SET ROLE it bypasses every policy'
            ELSE t.oid::pg_catalog.regclass || ' is not FORCEd and the app role ' || x.owners
                 || ' owns it (as ' || pg_catalog.quote_ident(o.rolname)
                 || '): the application bypasses every policy' END AS message,
       'ALTER TABLE ' || t.oid::pg_catalog.regclass || ' FORCE ROW LEVEL SECURITY;' AS remediation
FROM tenant_columns t
JOIN pg_catalog.pg_roles o ON o.oid = t.relowner
-- The owner bypass applies to a role that has the owner's privileges (pg_has_role USAGE: the owner
-- itself or an inheriting member), as PostgreSQL's ownership check does; a NOINHERIT member has
-- them only after SET ROLE (pg_has_role MEMBER): reported, at medium. owners / members: the
-- application roles of each kind (NULL: none).
CROSS JOIN LATERAL (
  SELECT pg_catalog.cardinality(%(app_roles)s::text[]) > 0 AS known,
         pg_catalog.string_agg(pg_catalog.quote_ident(a.name), ', ' ORDER BY a.n)
           FILTER (WHERE pg_catalog.pg_has_role(a.name::name, t.relowner, 'USAGE')) AS owners,
         pg_catalog.string_agg(pg_catalog.quote_ident(a.name), ', ' ORDER BY a.n)
           FILTER (WHERE pg_catalog.pg_has_role(a.name::name, t.relowner, 'MEMBER')) AS members
  FROM pg_catalog.unnest(%(app_roles)s::text[]) WITH ORDINALITY AS a(name, n)
) x
WHERE t.relrowsecurity
  AND NOT t.relforcerowsecurity
  AND (NOT x.known OR x.members IS NOT NULL)
ORDER BY t.nspname, t.relname;
