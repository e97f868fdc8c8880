-- id: tenant_index_missing
-- category: tenant-index-missing
-- severity: medium
-- title: No index leads with the tenant column
-- why: Every query under a tenant policy filters by the tenant column. Without a valid index led by
--   it, each tenant's query scans every tenant's rows: slow for all, and a noisy neighbour for the
--   rest. Partial indexes and indexes still being built (invalid, not ready) do not count.
-- fix: CREATE INDEX CONCURRENTLY on the tenant column, or lead the primary key with it:
--   PRIMARY KEY (tenant_id, id) serves both.
-- include: tenant_tables
SELECT t.nspname AS schema_name,
       t.relname AS object_name,
       'table' AS object_kind,
       NULL::text AS severity,
       'no valid, non-partial index on ' || t.oid::pg_catalog.regclass || ' leads with '
         || pg_catalog.quote_ident(%(tenant_column)s) AS message,
       -- CONCURRENTLY is not supported on a partitioned parent
       'CREATE INDEX ' || CASE WHEN t.relkind = 'p' THEN '' ELSE 'CONCURRENTLY ' END
         || pg_catalog.quote_ident(CASE
              -- PostgreSQL cuts names at 63 bytes: "<63-byte table>_tenant_id_idx" would become the
              -- table's own name. A long name keeps what fits of table_column and a hash of both.
              WHEN pg_catalog.octet_length(t.relname || '_' || %(tenant_column)s || '_idx') <= 63
                THEN t.relname || '_' || %(tenant_column)s || '_idx'
              ELSE (SELECT pg_catalog.left(t.relname || '_' || %(tenant_column)s, k)
                    FROM pg_catalog.generate_series(50, 1, -1) AS k
                    WHERE pg_catalog.octet_length(pg_catalog.left(t.relname || '_' || %(tenant_column)s, k)) <= 50
                    LIMIT 1)
                   || '_' || pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
                        t.relname || '.' || %(tenant_column)s, pg_catalog.getdatabaseencoding())), 'hex'), 8)
                   || '_idx'
            END)
         || ' ON ' || t.oid::pg_catalog.regclass || ' (' || pg_catalog.quote_ident(%(tenant_column)s) || ');' AS remediation
FROM tenant_columns t
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_index i
                  WHERE i.indrelid = t.oid AND i.indisvalid AND i.indisready
                    AND i.indpred IS NULL AND i.indkey[0] = t.attnum)
ORDER BY t.nspname, t.relname;
