-- id: tenants_table_exposed
-- category: tenants-table-exposed
-- severity: high
-- title: The application can read or change other tenants' rows of the tenants table
-- why: The tenants table is the root of every fence: its rows say which tenants exist and, under
--   the mapped and role models, which slug, external id or database role selects each of them.
--   With RLS off on it, an unrestricted policy (USING true) for the application, or the
--   application owning it while it is not FORCEd, the application sees every tenant's row (the
--   customer list: medium) and, with UPDATE or DELETE, can rename, remap or delete another
--   tenant (high: changing the mapping column hands that tenant's data to someone else). INSERT
--   alone only creates tenants (low). Checked for each --app-role; with none, for PUBLIC.
-- fix: Revoke the write privileges the application does not need, enable and force RLS on the
--   tenants table and give the application a policy that shows it only the context's tenants.

-- the tenants table (none: %(tenant_table)s is 0 and nothing is reported)
WITH tenants AS (
  SELECT c.oid, c.relname, n.nspname, c.relnamespace, c.relowner, c.relrowsecurity, c.relforcerowsecurity
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.oid = %(tenant_table)s::oid
    AND c.oid <> 0::oid
    AND c.oid <> ALL (%(unaudited)s::oid[])
    AND n.nspname = ANY (%(schemas)s::text[])
    AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
),
-- the roles judged: every application role (in the order given), or PUBLIC when none was given
roles AS (
  SELECT a.name, a.n, r.oid, COALESCE(r.rolsuper OR r.rolbypassrls, false) AS bypassrls
  FROM pg_catalog.unnest(CASE WHEN pg_catalog.cardinality(%(app_roles)s::text[]) = 0 THEN ARRAY['public']
                              ELSE %(app_roles)s::text[] END) WITH ORDINALITY AS a(name, n)
  LEFT JOIN pg_catalog.pg_roles r ON r.rolname = a.name
),
commands(cmd, polcmd, n) AS (
  VALUES ('SELECT', 'r', 1), ('INSERT', 'a', 2), ('UPDATE', 'w', 3), ('DELETE', 'd', 4)
),
-- what each role may do to every tenant's row: the privilege (table or column, with USAGE on the
-- schema), and nothing in the way: RLS off, the role bypasses RLS (superuser, BYPASSRLS, or it
-- has the owner's privileges and the table is not FORCEd), or a permissive policy that applies to
-- it for the command is literally true and no restrictive one applies (RESTRICTIVE policies are
-- AND-ed: the role model's fence beside USING (true))
open_commands AS (
  SELECT t.oid, r.name, r.n, c.cmd, c.n AS cmd_n,
         CASE WHEN NOT t.relrowsecurity THEN 'row level security is off'
              WHEN r.bypassrls THEN 'it bypasses RLS (superuser or BYPASSRLS)'
              WHEN r.oid IS NOT NULL AND pg_catalog.pg_has_role(r.oid, t.relowner, 'USAGE') AND NOT t.relforcerowsecurity
              THEN 'it owns the table, which is not FORCEd'
              ELSE 'a policy that is true for every row applies to it' END AS why
  FROM tenants t
  CROSS JOIN roles r
  CROSS JOIN commands c
  WHERE pg_catalog.has_schema_privilege(r.name, t.relnamespace, 'USAGE')
    AND (pg_catalog.has_table_privilege(r.name, t.oid, c.cmd)
         OR c.cmd <> 'DELETE' AND pg_catalog.has_any_column_privilege(r.name, t.oid, c.cmd))
    AND (NOT t.relrowsecurity
         OR r.bypassrls
         OR r.oid IS NOT NULL AND pg_catalog.pg_has_role(r.oid, t.relowner, 'USAGE') AND NOT t.relforcerowsecurity
         OR EXISTS (SELECT FROM pg_catalog.pg_policy p
                    WHERE p.polrelid = t.oid AND p.polpermissive AND p.polcmd IN (c.polcmd, '*')
                      AND (0::oid = ANY (p.polroles)
                           OR r.oid IS NOT NULL AND EXISTS (SELECT FROM pg_catalog.unnest(p.polroles) AS pr(oid)
                                                            WHERE pg_catalog.pg_has_role(r.oid, pr.oid, 'USAGE')))
                      AND pg_catalog.pg_get_expr(CASE WHEN c.cmd = 'INSERT' THEN COALESCE(p.polwithcheck, p.polqual)
                                                      ELSE p.polqual END, p.polrelid) = 'true')
            AND NOT EXISTS (SELECT FROM pg_catalog.pg_policy p
                            WHERE p.polrelid = t.oid AND NOT p.polpermissive AND p.polcmd IN (c.polcmd, '*')
                              AND (0::oid = ANY (p.polroles)
                                   OR r.oid IS NOT NULL AND EXISTS (SELECT FROM pg_catalog.unnest(p.polroles) AS pr(oid)
                                                                    WHERE pg_catalog.pg_has_role(r.oid, pr.oid, 'USAGE')))))
),
by_role AS (
  SELECT o.oid, o.name, o.n, pg_catalog.min(o.why) AS why,
         pg_catalog.bool_or(o.cmd = 'SELECT') AS reads,
         pg_catalog.bool_or(o.cmd = 'INSERT') AS inserts,
         pg_catalog.string_agg(o.cmd, ', ' ORDER BY o.cmd_n) FILTER (WHERE o.cmd IN ('UPDATE', 'DELETE')) AS changes
  FROM open_commands o
  GROUP BY o.oid, o.name, o.n
)
SELECT t.nspname AS schema_name,
       t.relname AS object_name,
       'table' AS object_kind,
       CASE WHEN pg_catalog.bool_or(b.changes IS NOT NULL) THEN 'high'
            WHEN pg_catalog.bool_or(b.reads) THEN 'medium'
            ELSE 'low' END AS severity,
       'tenants table ' || t.oid::pg_catalog.regclass || ': '
         || pg_catalog.string_agg(
              CASE WHEN b.name = 'public' THEN 'PUBLIC' ELSE pg_catalog.quote_ident(b.name) END || ' can '
                || pg_catalog.concat_ws(' and ',
                     CASE WHEN b.reads THEN 'read every tenant''s row' END,
                     CASE WHEN b.changes IS NOT NULL THEN 'change other tenants'' rows (' || b.changes || ')' END,
                     CASE WHEN b.inserts THEN 'create tenants (INSERT)' END)
                || ' (' || b.why || ')',
              '; ' ORDER BY b.n) AS message,
       pg_catalog.concat_ws(chr(10),
         pg_catalog.string_agg(CASE WHEN b.changes IS NOT NULL
                                    THEN 'REVOKE UPDATE, DELETE ON ' || t.oid::pg_catalog.regclass || ' FROM '
                                         || CASE WHEN b.name = 'public' THEN 'PUBLIC' ELSE pg_catalog.quote_ident(b.name) END || ';' END,
                               chr(10) ORDER BY b.n),
         'ALTER TABLE ' || t.oid::pg_catalog.regclass || ' ENABLE ROW LEVEL SECURITY;',
         'ALTER TABLE ' || t.oid::pg_catalog.regclass || ' FORCE ROW LEVEL SECURITY;',
         '-- then a policy for the application that shows only the context''s tenants, e.g. under the setting model:',
         'CREATE POLICY tenant_self ON ' || t.oid::pg_catalog.regclass || ' FOR SELECT USING ('
           || COALESCE(pg_catalog.quote_ident(k.attname), 'id') || ' = NULLIF(current_setting('
           || pg_catalog.quote_literal(%(setting)s::text) || ', true), '''')::'
           || COALESCE(k.column_type, 'uuid') || ');') AS remediation
FROM tenants t
JOIN by_role b ON b.oid = t.oid
LEFT JOIN LATERAL (
  SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS column_type
  FROM pg_catalog.pg_constraint pk
  JOIN pg_catalog.pg_attribute a ON a.attrelid = pk.conrelid AND a.attnum = pk.conkey[1]
  WHERE pk.conrelid = t.oid AND pk.contype = 'p' AND pg_catalog.cardinality(pk.conkey) = 1
) k ON true
GROUP BY t.oid, t.nspname, t.relname, k.attname, k.column_type
ORDER BY t.nspname, t.relname;
