-- id: tenant_column_missing
-- category: tenant-column-missing
-- severity: high
-- title: Tenant table has no tenant column
-- why: A table that is not declared global and has no tenant column cannot be fenced by tenant:
--   every row is visible to every tenant, and no policy can say otherwise. A table whose policies
--   fence it to the calling user (a users or profiles table under the membership model) is not one.
-- fix: Add the tenant column (NOT NULL, referencing the tenants table) and backfill it, or declare
--   the table shared by design with --global-table.
-- include: tenant_tables
SELECT t.nspname AS schema_name,
       t.relname AS object_name,
       'table' AS object_kind,
       NULL::text AS severity,
       t.oid::pg_catalog.regclass || ' has no column ' || pg_catalog.quote_ident(%(tenant_column)s) AS message,
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
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = t.oid AND a.attname = %(tenant_column)s
                    AND a.attnum > 0 AND NOT a.attisdropped)
  -- under the membership model, a table whose policies fence it to the calling user (users,
  -- profiles) holds users' rows, not tenants': the policy analyzer found these
  AND t.oid <> ALL (COALESCE(%(user_scoped_tables)s::oid[], '{}'::oid[]))
ORDER BY t.nspname, t.relname;
