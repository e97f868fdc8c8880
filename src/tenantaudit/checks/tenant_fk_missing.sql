-- id: tenant_fk_missing
-- category: tenant-fk-missing
-- severity: medium
-- title: Tenant column has no foreign key to the tenants table
-- why: Without a validated foreign key, rows can name tenants that do not exist (typos, deleted
--   tenants, ids from another environment): orphans that no tenant owns and that reappear if the
--   id is ever reused.
-- fix: Add the foreign key NOT VALID (brief lock), then VALIDATE CONSTRAINT (no write lock).
-- include: tenant_tables
SELECT t.nspname AS schema_name,
       t.relname AS object_name,
       'table' AS object_kind,
       NULL::text AS severity,
       t.oid::pg_catalog.regclass || '.' || pg_catalog.quote_ident(%(tenant_column)s)
         || CASE WHEN fk.conname IS NOT NULL
                 THEN ' references ' || %(tenant_table)s::oid::pg_catalog.regclass || ' only through NOT VALID constraint '
                      || pg_catalog.quote_ident(fk.conname) || ': existing rows are unchecked'
                 ELSE ' has no foreign key to ' || %(tenant_table)s::oid::pg_catalog.regclass END AS message,
       CASE WHEN fk.conname IS NOT NULL
            THEN 'ALTER TABLE ' || t.oid::pg_catalog.regclass || ' VALIDATE CONSTRAINT ' || pg_catalog.quote_ident(fk.conname) || ';'
            ELSE 'ALTER TABLE ' || t.oid::pg_catalog.regclass || ' ADD CONSTRAINT '
                 || pg_catalog.quote_ident(t.relname || '_' || %(tenant_column)s || '_fkey')
                 || ' FOREIGN KEY (' || pg_catalog.quote_ident(%(tenant_column)s) || ') REFERENCES '
                 || %(tenant_table)s::oid::pg_catalog.regclass || ' NOT VALID;' || chr(10)
                 || 'ALTER TABLE ' || t.oid::pg_catalog.regclass || ' VALIDATE CONSTRAINT '
                 || pg_catalog.quote_ident(t.relname || '_' || %(tenant_column)s || '_fkey') || ';' END AS remediation
FROM tenant_columns t
LEFT JOIN LATERAL (
  SELECT k.conname FROM pg_catalog.pg_constraint k
  WHERE k.conrelid = t.oid AND k.contype = 'f' AND k.confrelid = %(tenant_table)s::oid
    AND k.conkey = ARRAY[t.attnum]
  ORDER BY k.convalidated DESC, k.conname
  LIMIT 1
) fk ON true
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_constraint k
                  WHERE k.conrelid = t.oid AND k.contype = 'f' AND k.confrelid = %(tenant_table)s::oid
                    AND k.conkey = ARRAY[t.attnum] AND k.convalidated)
ORDER BY t.nspname, t.relname;
