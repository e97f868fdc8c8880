-- include: tenant_tables
-- Every table the audit covers, with its kind: the coverage matrix's rows.
-- tenants: the tenant table itself; global: shared by design (--global-table);
-- tenant: a tenant table as the shared fragment defines it, which must be fenced;
-- user: a table without the tenant column whose policies fence it to the calling user (a
--   users or profiles table of the membership model): stricter than a tenant, not a tenant table;
-- partition: a partition or inheritance child (its parent carries the tenant checks).
SELECT n.nspname AS schema_name,
       c.relname AS table_name,
       CASE
         WHEN c.oid = %(tenant_table)s::oid THEN 'tenants'
         WHEN c.oid = ANY (%(global_tables)s::oid[]) THEN 'global'
         WHEN c.oid = ANY (COALESCE(%(user_scoped_tables)s::oid[], '{}'::oid[]))
          AND NOT EXISTS (SELECT FROM tenant_columns t WHERE t.oid = c.oid) THEN 'user'
         WHEN EXISTS (SELECT FROM tenant_tables t WHERE t.oid = c.oid) THEN 'tenant'
         ELSE 'partition'
       END AS kind
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname = ANY (%(schemas)s::text[])
  AND c.oid <> ALL (%(unaudited)s::oid[])  -- not audited (locked): listed in the report instead
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                    AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY n.nspname, c.relname;
