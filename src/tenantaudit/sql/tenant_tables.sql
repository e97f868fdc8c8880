-- What a tenant table is, defined once for every check (its header says `include: tenant_tables`,
-- listed first: this fragment opens the WITH list, and its RECURSIVE covers the whole list, so a
-- check with a recursive CTE of its own needs no second WITH). The catalogue prepends it to the
-- check's body, which continues the list with ", name AS (...)" or goes straight to its SELECT.
-- tenant_tables: ordinary and partitioned tables in the audited schemas that are not partitions or
--   inheritance children (their parent carries the checks), not the tenants table, not declared
--   global (--global-table), not part of an extension, and not locked by another session
--   (%(unaudited)s: the report lists those as not audited).
-- tenant_columns: those of them that have the tenant column, with the column's attnum, type and
--   nullability (the others are tenant-column-missing's finding).
-- NOT MATERIALIZED: tenant_columns refers to tenant_tables even in the checks that never read
-- tenant_columns, and PostgreSQL materializes a CTE referred to twice; this keeps tenant_tables
-- inlined into the query that reads it, as it was when each check had its own copy.
WITH RECURSIVE tenant_tables AS NOT MATERIALIZED (
  SELECT c.oid, n.nspname, c.relname, c.relkind, c.relowner, c.relrowsecurity, c.relforcerowsecurity
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p')
    AND NOT c.relispartition
    AND NOT EXISTS (SELECT FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid)
    AND n.nspname = ANY (%(schemas)s::text[])
    AND c.oid <> %(tenant_table)s::oid
    AND c.oid <> ALL (%(global_tables)s::oid[])
    -- not audited: another session locks it (deparsing its expressions would wait for that lock)
    AND c.oid <> ALL (%(unaudited)s::oid[])
    AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
),
tenant_columns AS (
  -- tenant tables that have the tenant column; the others are tenant-column-missing
  SELECT t.*, a.attnum, a.atttypid, a.atttypmod, a.attnotnull,
         pg_catalog.format_type(a.atttypid, a.atttypmod) AS column_type
  FROM tenant_tables t
  JOIN pg_catalog.pg_attribute a
    ON a.attrelid = t.oid AND a.attname = %(tenant_column)s AND a.attnum > 0 AND NOT a.attisdropped
)
-- rls_tables: those with the tenant column and RLS enabled, with the fence as remediations write it
-- (the policy checks judge these; the others belong to tenant-column-missing and rls-disabled).
-- %(fence_sql)s: the tenant context model's fence with @type@ for the column's type (NULL: the
-- setting model's, from %(setting)s).
, rls_tables AS (
  SELECT t.oid, t.nspname, t.relname,
         COALESCE(pg_catalog.replace(%(fence_sql)s::text, '@type@', t.column_type),
                  pg_catalog.quote_ident(%(tenant_column)s) || ' = NULLIF(pg_catalog.current_setting('
                    || pg_catalog.quote_literal(%(setting)s::text) || ', true), '''')::' || t.column_type) AS fence_sql
  FROM tenant_columns t
  WHERE t.relrowsecurity
)
