-- id: tenant_column_missing
-- category: tenant-column-missing
-- severity: high
-- title: Tenant table has no tenant column
-- why: A table that is not declared global and has no tenant column cannot be fenced by tenant:
--   every row is visible to every tenant, and no policy can say otherwise. A table whose policies
--   fence it to the calling user (a users or profiles table under the membership model) is not one.
--   High where tenants' data can be in it: an application role may write it (a privilege, and no
--   row level security that refuses every write), or it has a foreign
--   key to a tenant table or to the tenants table (rows derived from one tenant's rows). Where no
--   application role may change its rows and it points at no tenant's data, it is shared reference
--   data unless proven otherwise: medium, and low when tenant tables reference it by foreign key
--   (a lookup such as countries or plans). Low where row level security refuses the application
--   every read (an insert-only signup table). Without --app-role nothing is known: high.
-- fix: Add the tenant column (NOT NULL, referencing the tenants table) and backfill it, or declare
--   the table shared by design with --global-table.
-- include: tenant_tables
SELECT t.nspname AS schema_name,
       t.relname AS object_name,
       'table' AS object_kind,
       CASE WHEN w.reads_refused THEN 'low'
            WHEN w.writable OR l.links_tenant_data THEN NULL  -- high
            WHEN l.looked_up THEN 'low' ELSE 'medium' END AS severity,
       t.oid::pg_catalog.regclass || ' has no column ' || pg_catalog.quote_ident(%(tenant_column)s)
         || CASE WHEN w.reads_refused
                 THEN '; its row level security refuses every read to the application (no permissive SELECT '
                      || 'policy): no tenant can read another''s rows here today'
                 WHEN w.writable OR l.links_tenant_data THEN ''
                 ELSE '; every tenant reads all of its rows, but no application role may change them and it has '
                      || 'no foreign key to tenant data'
                      || CASE WHEN l.looked_up THEN ', and tenant tables reference it (a lookup table)' ELSE '' END
                      || ': not proven to hold any tenant''s data (if it is shared by design, --global-table)' END
         AS message,
       'ALTER TABLE ' || t.oid::pg_catalog.regclass
         || ' ADD COLUMN ' || pg_catalog.quote_ident(%(tenant_column)s) || ' '
         -- the tenants table's key type; without a tenants table, the type other tables give it
         || COALESCE((SELECT pg_catalog.format_type(a.atttypid, a.atttypmod)
                      FROM pg_catalog.pg_constraint k
                      JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
                      WHERE k.conrelid = %(tenant_table)s::oid AND k.contype = 'p'),
                     (SELECT pg_catalog.format_type(a.atttypid, a.atttypmod)
                      FROM tenant_tables o
                      JOIN pg_catalog.pg_attribute a ON a.attrelid = o.oid AND a.attname = %(tenant_column)s
                                                     AND a.attnum > 0 AND NOT a.attisdropped
                      GROUP BY 1 ORDER BY pg_catalog.count(*) DESC, 1 LIMIT 1),
                     'uuid')
         || CASE WHEN %(tenant_table)s::oid <> 0 THEN ' REFERENCES ' || %(tenant_table)s::oid::pg_catalog.regclass ELSE '' END
         || ';  -- then backfill it and SET NOT NULL' AS remediation
FROM tenant_tables t
-- privileged: an application role (or a role it can become, or PUBLIC) may INSERT, UPDATE or
-- DELETE rows here (with no application role given, assume it may); rls_binds: row level security
-- applies to every application role (on, and none owns the unforced table or bypasses RLS);
-- write_policy / read_policy: a permissive policy lets some write / read through
CROSS JOIN LATERAL (
  SELECT pg_catalog.cardinality(%(app_roles)s::text[]) = 0
         OR EXISTS (SELECT FROM pg_catalog.unnest(%(app_roles)s::text[]) AS a(name)
                    JOIN pg_catalog.pg_roles r ON r.rolname = a.name
                    WHERE pg_catalog.has_table_privilege(r.oid, t.oid, 'INSERT, UPDATE, DELETE')
                       OR pg_catalog.has_any_column_privilege(r.oid, t.oid, 'INSERT, UPDATE'))
         OR pg_catalog.has_table_privilege('public', t.oid, 'INSERT, UPDATE, DELETE') AS privileged,
         t.relrowsecurity
         AND NOT EXISTS (SELECT FROM pg_catalog.unnest(%(app_roles)s::text[]) AS a(name)
                         JOIN pg_catalog.pg_roles r ON r.rolname = a.name
                         WHERE r.rolsuper OR r.rolbypassrls
                            OR (NOT t.relforcerowsecurity AND pg_catalog.pg_has_role(r.oid, t.relowner, 'USAGE')))
         AS rls_binds,
         EXISTS (SELECT FROM pg_catalog.pg_policy p
                 WHERE p.polrelid = t.oid AND p.polpermissive AND p.polcmd IN ('*', 'a', 'w', 'd')) AS write_policy,
         EXISTS (SELECT FROM pg_catalog.pg_policy p
                 WHERE p.polrelid = t.oid AND p.polpermissive AND p.polcmd IN ('*', 'r')) AS read_policy
) w0
-- writable: a privilege that RLS does not refuse outright (Supabase grants every table to anon and
-- authenticated; the policies decide); reads_refused: an insert-only table (a public signup form)
-- shows no tenant anything
CROSS JOIN LATERAL (
  SELECT w0.privileged AND NOT (w0.rls_binds AND NOT w0.write_policy) AS writable,
         pg_catalog.cardinality(%(app_roles)s::text[]) > 0 AND w0.rls_binds AND NOT w0.read_policy AS reads_refused
) w
-- links_tenant_data: a foreign key from it to a table that has the tenant column, or to the
-- tenants table; looked_up: a foreign key from a table that has the tenant column to it
CROSS JOIN LATERAL (
  SELECT EXISTS (SELECT FROM pg_catalog.pg_constraint f
                 WHERE f.conrelid = t.oid AND f.contype = 'f' AND f.confrelid <> t.oid
                   AND (f.confrelid = %(tenant_table)s::oid
                        OR EXISTS (SELECT FROM tenant_columns c WHERE c.oid = f.confrelid))) AS links_tenant_data,
         EXISTS (SELECT FROM pg_catalog.pg_constraint f
                 WHERE f.confrelid = t.oid AND f.contype = 'f' AND f.conrelid <> t.oid
                   AND EXISTS (SELECT FROM tenant_columns c WHERE c.oid = f.conrelid)) AS looked_up
) l
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = t.oid AND a.attname = %(tenant_column)s
                    AND a.attnum > 0 AND NOT a.attisdropped)
  -- under the membership model, a table whose policies fence it to the calling user (users,
  -- profiles) holds users' rows, not tenants': the policy analyzer found these
  AND t.oid <> ALL (COALESCE(%(user_scoped_tables)s::oid[], '{}'::oid[]))
ORDER BY t.nspname, t.relname;
