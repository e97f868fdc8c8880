-- id: unique_without_tenant
-- category: unique-without-tenant
-- severity: medium
-- title: Unique key on natural data without the tenant column
-- why: A unique key shared by all tenants is an existence oracle: when tenant B's insert of an
--   email, phone number or text id fails with a duplicate-key error, B has learned that some other
--   tenant holds that value, and the two tenants can never hold the same value. Keys whose single
--   column is generated (a sequence, identity, gen_random_uuid(), uuid_generate_v4()) reveal
--   nothing and are not reported.
-- fix: Include the tenant column in the key: UNIQUE (tenant_id, email), PRIMARY KEY (tenant_id, id).
-- include: tenant_tables
, unique_keys AS (
  SELECT t.oid, t.nspname, t.relname, t.attnum AS tenant_attnum, i.indexrelid, i.indnkeyatts,
         (i.indkey::int2[])[0:i.indnkeyatts - 1] AS key_atts,
         k.conname, k.contype,
         -- a single generated column (sequence, identity, random uuid) reveals nothing; a scalar
         -- subquery keeps this lookup to the few single-column keys instead of every default
         CASE WHEN i.indnkeyatts = 1 AND i.indkey[0] <> 0 THEN (
           SELECT a.attidentity <> '' OR a.attgenerated <> ''
                  OR COALESCE(CASE WHEN d.adrelid <> ALL (%(unaudited)s::oid[]) THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid) END
                     ~* '^(nextval\(|(public\.|extensions\.|pg_catalog\.)?(gen_random_uuid|uuid_generate_v1|uuid_generate_v1mc|uuid_generate_v4|uuidv4|uuidv7|uuid_generate_v7)\(\))', false)
           FROM pg_catalog.pg_attribute a
           LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
           WHERE a.attrelid = t.oid AND a.attnum = i.indkey[0])
         ELSE false END AS generated_single_column
  FROM tenant_columns t
  JOIN pg_catalog.pg_index i ON i.indrelid = t.oid AND i.indisunique
  LEFT JOIN pg_catalog.pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = t.oid AND k.contype IN ('p', 'u')
)
SELECT u.nspname AS schema_name,
       u.relname AS object_name,
       'table' AS object_kind,
       NULL::text AS severity,
       CASE u.contype WHEN 'p' THEN 'primary key ' WHEN 'u' THEN 'unique constraint ' ELSE 'unique index ' END
         || pg_catalog.quote_ident(COALESCE(u.conname, ic.relname)) || ' (' || cols.key_cols || ') on '
         || u.oid::pg_catalog.regclass || ' does not include ' || pg_catalog.quote_ident(%(tenant_column)s)
         || ': one tenant can detect another''s values by collision' AS message,
       CASE WHEN u.contype IS NOT NULL
            THEN 'ALTER TABLE ' || u.oid::pg_catalog.regclass || ' DROP CONSTRAINT ' || pg_catalog.quote_ident(u.conname)
                 || ', ADD CONSTRAINT ' || pg_catalog.quote_ident(u.conname)
                 || CASE u.contype WHEN 'p' THEN ' PRIMARY KEY (' ELSE ' UNIQUE (' END
                 || pg_catalog.quote_ident(%(tenant_column)s) || ', ' || cols.key_cols || ');'
            ELSE 'DROP INDEX ' || u.indexrelid::pg_catalog.regclass || ';' || chr(10)
                 || 'CREATE UNIQUE INDEX ' || pg_catalog.quote_ident(ic.relname) || ' ON ' || u.oid::pg_catalog.regclass
                 || ' (' || pg_catalog.quote_ident(%(tenant_column)s) || ', ' || cols.key_cols || ');' END AS remediation
FROM unique_keys u
JOIN pg_catalog.pg_class ic ON ic.oid = u.indexrelid
CROSS JOIN LATERAL (
  SELECT pg_catalog.string_agg(CASE WHEN u.oid <> ALL (%(unaudited)s::oid[]) THEN pg_catalog.pg_get_indexdef(u.indexrelid, n::int, true) END, ', ' ORDER BY n) AS key_cols
  FROM pg_catalog.generate_series(1, u.indnkeyatts) AS n
) cols
WHERE u.tenant_attnum <> ALL (u.key_atts)
  AND NOT u.generated_single_column
ORDER BY u.nspname, u.relname, 5;
