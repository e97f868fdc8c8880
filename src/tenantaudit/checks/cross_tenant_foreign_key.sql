-- id: cross_tenant_foreign_key
-- category: cross-tenant-foreign-key
-- severity: medium
-- title: Foreign key between tenant tables ignores the tenant
-- why: Foreign key checks run without RLS. A key such as voice_calls(lead_id) -> leads(id) lets
--   tenant A's row point at tenant B's row (the id is found, whoever owns it): joins through the
--   key then carry B's data into A's results, the key's ON DELETE / ON UPDATE actions reach across
--   tenants, and whether an insert is accepted tells A which ids B has. Medium where the
--   referencing table holds ordinary tenant data; high where it is the tenants table itself (the
--   tenant mapping of the model: a tenant row that points at another tenant's row is a takeover
--   path). Including the tenant column in the key makes the database refuse the link.
-- fix: Give the parent a UNIQUE (tenant, id) key and reference it with a composite foreign key
--   (tenant, fk_column) -> (tenant, id).
-- include: tenant_tables
, referencing AS (
  -- the tables a key may start from: the tenant tables (their tenant column) and the tenants table
  -- itself (its single-column key is its tenant column)
  SELECT t.oid, t.nspname, t.relname, t.attnum, false AS is_tenants FROM tenant_columns t
  UNION ALL
  SELECT c.oid, n.nspname, c.relname, pk.conkey[1], true
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_constraint pk ON pk.conrelid = c.oid AND pk.contype = 'p' AND pg_catalog.cardinality(pk.conkey) = 1
  WHERE c.oid = %(tenant_table)s::oid
    AND c.oid <> ALL (%(unaudited)s::oid[])
    AND n.nspname = ANY (%(schemas)s::text[])
),
foreign_keys AS (
  SELECT k.oid, k.conname, k.conkey, k.confkey, k.confdeltype, k.confupdtype,
         child.oid AS child_oid, child.nspname, child.relname, child.attnum AS child_tenant,
         child.is_tenants,
         parent.oid AS parent_oid, parent.attnum AS parent_tenant
  FROM pg_catalog.pg_constraint k
  JOIN referencing child ON child.oid = k.conrelid
  JOIN tenant_columns parent ON parent.oid = k.confrelid
  WHERE k.contype = 'f'
    AND k.conparentid = 0  -- one row per key, not one per partition
)
SELECT fk.nspname AS schema_name,
       fk.relname AS object_name,
       'table' AS object_kind,
       -- high where the referencing rows grant access: the tenants table, or the membership table
       -- of the membership model (a membership row pointing at another tenant's row is a takeover)
       CASE WHEN fk.is_tenants OR fk.child_oid = COALESCE(%(membership_table)s, 0)::oid THEN 'high' END AS severity,
       'foreign key ' || pg_catalog.quote_ident(fk.conname) || ' (' || cols.child_cols || ') -> '
         || fk.parent_oid::pg_catalog.regclass || ' (' || cols.parent_cols || ') '
         || CASE WHEN fk.is_tenants
                 THEN 'does not pair the tenant (' || pg_catalog.quote_ident(ct.attname) || ') with '
                      || pg_catalog.quote_ident(%(tenant_column)s)
                      || ': a tenant''s row can point at another tenant''s row, and what trusts that link (the tenant '
                      || 'mapping of the model) hands one tenant''s access to another (a takeover path)'
                 ELSE 'does not include ' || pg_catalog.quote_ident(%(tenant_column)s)
                      || ': a row of one tenant can reference another tenant''s row, so joins through the key bring '
                      || 'that tenant''s data into this tenant''s results' END
         || CASE fk.confdeltype
              WHEN 'c' THEN ', deleting the other tenant''s row deletes this one (ON DELETE CASCADE)'
              WHEN 'n' THEN ', deleting the other tenant''s row changes this one (ON DELETE SET NULL)'
              WHEN 'd' THEN ', deleting the other tenant''s row changes this one (ON DELETE SET DEFAULT)'
              ELSE ', the other tenant cannot delete its row while it is referenced' END
         || CASE WHEN fk.confupdtype IN ('c', 'n', 'd')
                 THEN ', changing its key changes this one (ON UPDATE '
                      || CASE fk.confupdtype WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' ELSE 'SET DEFAULT' END || ')'
                 ELSE '' END
         || ', and whether an insert is accepted tells which ids other tenants have' AS message,
       -- the parent's UNIQUE (tenant, id) only when it has no such key yet (e.g. PRIMARY KEY (tenant_id, id))
       CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_index i
                         WHERE i.indrelid = fk.parent_oid AND i.indisunique AND i.indisvalid
                           AND i.indpred IS NULL AND i.indexprs IS NULL
                           AND i.indnkeyatts = pg_catalog.cardinality(fk.confkey) + 1
                           AND (i.indkey::int2[])[0:i.indnkeyatts - 1] @> (fk.confkey || fk.parent_tenant)
                           AND (i.indkey::int2[])[0:i.indnkeyatts - 1] <@ (fk.confkey || fk.parent_tenant))
            THEN ''
            ELSE 'ALTER TABLE ' || fk.parent_oid::pg_catalog.regclass || ' ADD UNIQUE ('
                 || pg_catalog.quote_ident(%(tenant_column)s) || ', ' || cols.parent_cols || ');' || chr(10) END
         || 'ALTER TABLE ' || fk.child_oid::pg_catalog.regclass || ' DROP CONSTRAINT '
         || pg_catalog.quote_ident(fk.conname) || ', ADD CONSTRAINT ' || pg_catalog.quote_ident(fk.conname)
         || ' FOREIGN KEY (' || pg_catalog.quote_ident(ct.attname) || ', ' || cols.child_cols
         || ') REFERENCES ' || fk.parent_oid::pg_catalog.regclass || ' ('
         || pg_catalog.quote_ident(%(tenant_column)s) || ', ' || cols.parent_cols || ')'
         -- keeping the key's actions and options (ON DELETE CASCADE, DEFERRABLE, ...)
         || pg_catalog.regexp_replace(COALESCE((pg_catalog.regexp_match(pg_catalog.pg_get_constraintdef(fk.oid),
                                                                        'REFERENCES .*?\([^()]*\)(.*)$'))[1], ''),
                                      ' NOT VALID$', '')
         || ' NOT VALID;' || chr(10)
         -- then check the existing rows (fails while a cross-tenant link remains: fix those first)
         || 'ALTER TABLE ' || fk.child_oid::pg_catalog.regclass || ' VALIDATE CONSTRAINT '
         || pg_catalog.quote_ident(fk.conname) || ';' AS remediation
FROM foreign_keys fk
CROSS JOIN LATERAL (
  SELECT pg_catalog.string_agg(pg_catalog.quote_ident(ca.attname), ', ' ORDER BY u.n) AS child_cols,
         pg_catalog.string_agg(pg_catalog.quote_ident(pa.attname), ', ' ORDER BY u.n) AS parent_cols
  FROM ROWS FROM (pg_catalog.unnest(fk.conkey), pg_catalog.unnest(fk.confkey)) WITH ORDINALITY AS u(child_att, parent_att, n)
  JOIN pg_catalog.pg_attribute ca ON ca.attrelid = fk.child_oid AND ca.attnum = u.child_att
  JOIN pg_catalog.pg_attribute pa ON pa.attrelid = fk.parent_oid AND pa.attnum = u.parent_att
) cols
JOIN pg_catalog.pg_attribute ct ON ct.attrelid = fk.child_oid AND ct.attnum = fk.child_tenant
-- safe only when the child's tenant column is matched to the parent's tenant column
WHERE NOT EXISTS (SELECT FROM ROWS FROM (pg_catalog.unnest(fk.conkey), pg_catalog.unnest(fk.confkey)) AS u(child_att, parent_att)
                  WHERE u.child_att = fk.child_tenant AND u.parent_att = fk.parent_tenant)
ORDER BY fk.nspname, fk.relname, fk.conname;
