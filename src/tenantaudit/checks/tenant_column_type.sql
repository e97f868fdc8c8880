-- id: tenant_column_type
-- category: tenant-column-type
-- severity: medium
-- title: Tenant column type differs from the tenants table key
-- why: When the tenant column is not the same type as the tenants table's primary key, it cannot
--   carry a plain foreign key, policies need casts that can fail or defeat indexes, and values that
--   look alike (text '42' vs integer 42, varchar vs uuid) drift apart.
-- fix: ALTER COLUMN ... TYPE to the key's type (USING col::type), after checking every value casts.
-- include: tenant_tables
, tenant_key AS (
  SELECT a.atttypid, a.atttypmod, pg_catalog.format_type(a.atttypid, a.atttypmod) AS key_type
  FROM pg_catalog.pg_constraint k
  JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
  WHERE k.conrelid = %(tenant_table)s::oid AND k.contype = 'p' AND pg_catalog.cardinality(k.conkey) = 1
),
-- A domain is compared by the type under it (through domains over domains): a tenant_id of
-- CREATE DOMAIN tenant_ref AS uuid NOT NULL carries a plain foreign key to a uuid key and compares
-- with it without casts. domain_base(typid, base, typmod): every domain's base type so far.
domain_base(typid, base, typmod) AS (
  SELECT ty.oid, ty.typbasetype, ty.typtypmod FROM pg_catalog.pg_type ty WHERE ty.typtype = 'd'
  UNION ALL
  SELECT d.typid, ty.typbasetype, CASE WHEN d.typmod <> -1 THEN d.typmod ELSE ty.typtypmod END
  FROM domain_base d JOIN pg_catalog.pg_type ty ON ty.oid = d.base AND ty.typtype = 'd'
),
base_type AS (
  SELECT d.typid, d.base, d.typmod
  FROM domain_base d JOIN pg_catalog.pg_type ty ON ty.oid = d.base AND ty.typtype <> 'd'
),
compared AS (
  SELECT t.*, coalesce(bt.base, t.atttypid) AS base_typid,
         CASE WHEN t.atttypmod <> -1 OR bt.typid IS NULL THEN t.atttypmod ELSE bt.typmod END AS base_typmod,
         k.key_type, coalesce(bk.base, k.atttypid) AS key_typid,
         CASE WHEN k.atttypmod <> -1 OR bk.typid IS NULL THEN k.atttypmod ELSE bk.typmod END AS key_typmod
  FROM tenant_columns t
  CROSS JOIN tenant_key k
  LEFT JOIN base_type bt ON bt.typid = t.atttypid
  LEFT JOIN base_type bk ON bk.typid = k.atttypid
)
SELECT t.nspname AS schema_name,
       t.relname AS object_name,
       'table' AS object_kind,
       NULL::text AS severity,
       t.oid::pg_catalog.regclass || '.' || pg_catalog.quote_ident(%(tenant_column)s) || ' is '
         || t.column_type || ' but ' || %(tenant_table)s::oid::pg_catalog.regclass
         || ' is keyed by ' || t.key_type AS message,
       'ALTER TABLE ' || t.oid::pg_catalog.regclass || ' ALTER COLUMN '
         || pg_catalog.quote_ident(%(tenant_column)s) || ' TYPE ' || t.key_type
         || ' USING ' || pg_catalog.quote_ident(%(tenant_column)s) || '::' || t.key_type || ';' AS remediation
FROM compared t
WHERE t.base_typid <> t.key_typid
   -- a varchar(50) beside a varchar(255) key is a length difference, not a type difference
   OR (t.base_typmod <> t.key_typmod AND t.base_typid NOT IN ('pg_catalog.varchar'::pg_catalog.regtype,
                                                              'pg_catalog.bpchar'::pg_catalog.regtype))
ORDER BY t.nspname, t.relname;
