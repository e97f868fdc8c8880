-- id: tenant_fk_missing
-- category: tenant-fk-missing
-- severity: medium
-- title: Tenant column has no foreign key to the tenants table
-- why: Without a validated foreign key, rows can name tenants that do not exist (typos, deleted
--   tenants, ids from another environment): orphans that no tenant owns and that reappear if the
--   id is ever reused.
-- fix: Add the foreign key NOT VALID (brief lock), then VALIDATE CONSTRAINT (no write lock).
-- include: tenant_tables
-- A foreign key proves the tenant exists when it maps the tenant column to the tenants table's
-- primary key column: a single-column key, or a wider one such as (tenant_id, region) ->
-- tenants (id, region) as long as it is checked for every row (MATCH FULL, or its other columns
-- are NOT NULL: under MATCH SIMPLE a NULL in any column skips the check).
, tenant_fks AS (
  SELECT t.oid, k.conname, k.convalidated
  FROM tenant_columns t
  JOIN pg_catalog.pg_constraint k ON k.conrelid = t.oid AND k.contype = 'f' AND k.confrelid = %(tenant_table)s::oid
  LEFT JOIN pg_catalog.pg_constraint pk ON pk.conrelid = k.confrelid AND pk.contype = 'p' AND pg_catalog.cardinality(pk.conkey) = 1
  WHERE k.conkey = ARRAY[t.attnum]
     OR (EXISTS (SELECT FROM ROWS FROM (pg_catalog.unnest(k.conkey), pg_catalog.unnest(k.confkey)) AS u(child_att, parent_att)
                 WHERE u.child_att = t.attnum AND u.parent_att = pk.conkey[1])
         AND (k.confmatchtype = 'f'
              OR NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
                             WHERE a.attrelid = t.oid AND a.attnum = ANY (k.conkey) AND NOT a.attnotnull)))
)
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
  SELECT k.conname FROM tenant_fks k
  WHERE k.oid = t.oid
  ORDER BY k.convalidated DESC, k.conname
  LIMIT 1
) fk ON true
WHERE NOT EXISTS (SELECT FROM tenant_fks k WHERE k.oid = t.oid AND k.convalidated)
  AND %(tenant_table)s::oid <> 0  -- no tenants table in this database (--tenant-table none): n/a
ORDER BY t.nspname, t.relname;
