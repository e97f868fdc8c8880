-- id: rls_not_forced
-- category: rls-not-forced
-- severity: high
-- title: RLS is not forced and the application role owns the table
-- why: A table's owner bypasses its RLS policies unless the table is FORCEd. Applications that
--   connect as the role that ran the migrations (the usual default) own every table and see every
--   tenant's rows whatever the policies say. Reported at high when the app role owns the table
--   (directly or as an inheriting member of the owner), at medium when no --app-role was given and
--   it is unknown, or when the app role is a member of the owner that does not inherit its
--   privileges (NOINHERIT): it bypasses the policies only after SET ROLE to the owner.
-- fix: ALTER TABLE ... FORCE ROW LEVEL SECURITY, and let the application connect as a role that
--   owns nothing.
-- include: tenant_tables
SELECT t.nspname AS schema_name,
       t.relname AS object_name,
       'table' AS object_kind,
       CASE WHEN %(app_role)s::text IS NULL OR NOT x.inherits THEN 'medium' ELSE 'high' END AS severity,
       CASE WHEN %(app_role)s::text IS NULL
            THEN t.oid::pg_catalog.regclass || ' is not FORCEd: its owner ' || pg_catalog.quote_ident(o.rolname)
                 || ' bypasses RLS; whether the application connects as it is unknown (no --app-role)'
            WHEN NOT x.inherits
            THEN t.oid::pg_catalog.regclass || ' is not FORCEd and the app role '
                 || pg_catalog.quote_ident(%(app_role)s) || ' can SET ROLE to its owner '
                 || pg_catalog.quote_ident(o.rolname)
                 || ' (a member that does not inherit its privileges): after SET ROLE it bypasses every policy'
            ELSE t.oid::pg_catalog.regclass || ' is not FORCEd and the app role '
                 || pg_catalog.quote_ident(%(app_role)s) || ' owns it (as ' || pg_catalog.quote_ident(o.rolname)
                 || '): the application bypasses every policy' END AS message,
       'ALTER TABLE ' || t.oid::pg_catalog.regclass || ' FORCE ROW LEVEL SECURITY;' AS remediation
FROM tenant_columns t
JOIN pg_catalog.pg_roles o ON o.oid = t.relowner
-- The owner bypass applies to a role that has the owner's privileges (pg_has_role USAGE: the owner
-- itself or an inheriting member), as PostgreSQL's ownership check does; a NOINHERIT member has
-- them only after SET ROLE (pg_has_role MEMBER): reported, at medium.
CROSS JOIN LATERAL (
  SELECT %(app_role)s::text IS NOT NULL AND pg_catalog.pg_has_role(%(app_role)s::name, t.relowner, 'USAGE') AS inherits
) x
WHERE t.relrowsecurity
  AND NOT t.relforcerowsecurity
  AND (%(app_role)s::text IS NULL OR pg_catalog.pg_has_role(%(app_role)s::name, t.relowner, 'MEMBER'))
ORDER BY t.nspname, t.relname;
