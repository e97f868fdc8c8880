-- id: setting_cast_unsafe
-- category: setting-cast-unsafe
-- severity: medium
-- title: Policy casts the tenant setting without a NULLIF guard
-- why: current_setting(setting, true) is NULL only until a session first sets the setting. After a
--   RESET, or the end of a transaction that used SET LOCAL / set_config(..., true) on a pooled
--   connection, it returns the empty string, and a cast such as ''::uuid raises "invalid input
--   syntax": every query on the table fails instead of returning no rows.
-- fix: Wrap the read in NULLIF(..., '') before the cast, so an unset tenant is NULL and matches nothing.
-- include: tenant_tables

-- An unguarded read is a cast applied straight to current_setting(<setting>, ...), or to
-- COALESCE(current_setting(...), <default>): after a RESET the value is '' rather than NULL, so
-- COALESCE alone does not help. NULLIF(..., '') around the operand is the guard (and the fix).
-- Casts to text-like types cannot fail on ''.
, call AS (
  SELECT '(?:pg_catalog\.)?current_setting\('
         || pg_catalog.regexp_replace(pg_catalog.quote_literal(%(setting)s::text), '([]\\[(){}.*+?^$|])', '\\\1', 'g')
         || '::text(?:, (?:true|false))?\)' AS call_re,
         '::(?!(?:text|character varying|character|name|bpchar|"char")(?:$|[^[:alnum:]_\[]))' AS cast_re
),
patterns AS (
  SELECT
    -- (<read>)::type, the type captured for the message
    '(?<![[:alnum:]_])\((?:' || c.call_re || '|COALESCE\(' || c.call_re || ', [^()]*\))\)' || c.cast_re
      || '([^ ()]+(?: varying| precision)?)' AS unsafe_re,
    -- the same, capturing the operand the guard must wrap
    '(?<![[:alnum:]_])\(((?:' || c.call_re || '|COALESCE\(' || c.call_re || ', [^()]*\)))\)' || c.cast_re AS operand_re
  FROM call c
),
-- Every policy on the table, whoever it applies to: an unguarded cast breaks the table for its roles.
unsafe AS (
  SELECT p.oid, p.polname, t.oid AS relid, t.nspname, t.relname, x.using_expr, x.check_expr,
         coalesce((pg_catalog.regexp_match(x.using_expr, r.unsafe_re))[1],
                  (pg_catalog.regexp_match(x.check_expr, r.unsafe_re))[1]) AS cast_type,
         r.operand_re
  FROM pg_catalog.pg_policy p
  JOIN rls_tables t ON t.oid = p.polrelid
  CROSS JOIN patterns r
  CROSS JOIN LATERAL (SELECT CASE WHEN p.polrelid <> ALL (%(unaudited)s::oid[]) THEN pg_catalog.pg_get_expr(p.polqual, p.polrelid) END AS using_expr,
                             CASE WHEN p.polrelid <> ALL (%(unaudited)s::oid[]) THEN pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) END AS check_expr) x
),
-- The same unguarded cast inside a function the policies call (app.current_tenant(), Supabase's
-- auth.org_id() reading current_setting('request.jwt.claims', true)::json): read in the raw
-- source, current_setting(<setting>[, missing_ok]) directly followed by :: or inside CAST(... AS).
-- Policies record a dependency on every function their expressions call.
unsafe_functions AS (
  SELECT f.oid, n.nspname, f.proname, f.proargtypes, f.prosrc, x.src_re, x.cast_type,
         pg_catalog.string_agg(DISTINCT t.oid::pg_catalog.regclass::text, ', ') AS tables
  FROM pg_catalog.pg_policy p
  JOIN rls_tables t ON t.oid = p.polrelid
  JOIN pg_catalog.pg_depend d
    ON d.classid = 'pg_catalog.pg_policy'::pg_catalog.regclass AND d.objid = p.oid
   AND d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
  JOIN pg_catalog.pg_proc f ON f.oid = d.refobjid
  JOIN pg_catalog.pg_namespace n ON n.oid = f.pronamespace
  JOIN pg_catalog.pg_language l ON l.oid = f.prolang AND l.lanname IN ('sql', 'plpgsql')
  CROSS JOIN LATERAL (
    SELECT '(current_setting\(\s*'
           || pg_catalog.regexp_replace(pg_catalog.quote_literal(%(setting)s::text), '([]\\[(){}.*+?^$|])', '\\\1', 'g')
           || '(?:\s*::\s*text)?\s*(?:,\s*(?:true|false)\s*)?\))' AS call_src,
           '(?!(?:text|varchar|character varying|character|name|bpchar)(?![[:alnum:]_]))([[:alnum:]_.]+)' AS type_src
  ) c
  CROSS JOIN LATERAL (
    SELECT c.call_src || '\s*::\s*' AS src_re,
           coalesce((pg_catalog.regexp_match(f.prosrc, c.call_src || '\s*::\s*' || c.type_src, 'i'))[2],
                    (pg_catalog.regexp_match(f.prosrc, 'cast\(\s*' || c.call_src || '\s+as\s+' || c.type_src, 'i'))[2])
             AS cast_type
  ) x
  WHERE x.cast_type IS NOT NULL
    AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend e
                    WHERE e.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                      AND e.objid = f.oid AND e.deptype = 'e')
  GROUP BY f.oid, n.nspname, f.proname, f.proargtypes, f.prosrc, x.src_re, x.cast_type
)
SELECT u.nspname AS schema_name,
       u.relname AS object_name,
       'table' AS object_kind,
       NULL::text AS severity,
       'policy ' || pg_catalog.quote_ident(u.polname) || ' on ' || u.relid::pg_catalog.regclass
         || ' casts current_setting(' || pg_catalog.quote_literal(%(setting)s::text) || ', ...) to '
         || u.cast_type || ' without NULLIF: once a session has set and reset the setting (RESET, or'
         || ' the end of a SET LOCAL / set_config(..., true) transaction on a pooled connection) it reads'
         || ' the empty string and every query on the table fails with invalid input syntax for type '
         || u.cast_type AS message,
       -- the policy's own expressions with the guard added around each unguarded read
       'ALTER POLICY ' || pg_catalog.quote_ident(u.polname) || ' ON ' || u.relid::pg_catalog.regclass
         || coalesce(' USING (' || f.using_fixed || ')', '')
         || coalesce(' WITH CHECK (' || f.check_fixed || ')', '') || ';' AS remediation
FROM unsafe u
CROSS JOIN LATERAL (
  SELECT pg_catalog.regexp_replace(u.using_expr, u.operand_re, '(NULLIF(\1, ''''::text))::', 'g') AS using_fixed,
         pg_catalog.regexp_replace(u.check_expr, u.operand_re, '(NULLIF(\1, ''''::text))::', 'g') AS check_fixed
) f
WHERE u.cast_type IS NOT NULL
UNION ALL
SELECT uf.nspname AS schema_name,
       uf.proname || '(' || pg_catalog.oidvectortypes(uf.proargtypes) || ')' AS object_name,
       'function' AS object_kind,
       NULL::text AS severity,
       uf.oid::pg_catalog.regprocedure || ', which the policies on ' || uf.tables
         || ' call, casts current_setting(' || pg_catalog.quote_literal(%(setting)s::text) || ', ...) to '
         || uf.cast_type || ' without NULLIF: once a session has set and reset the setting it reads the'
         || ' empty string and every query on those tables fails with invalid input syntax for type '
         || uf.cast_type AS message,
       -- its definition with the guard added where a direct :: cast follows the read
       CASE WHEN uf.prosrc ~* uf.src_re
            THEN pg_catalog.regexp_replace(pg_catalog.pg_get_functiondef(uf.oid), uf.src_re, 'NULLIF(\1, '''')::', 'gi') || ';'
            ELSE 'CREATE OR REPLACE FUNCTION ' || uf.oid::pg_catalog.regprocedure
                 || ' ... -- wrap each current_setting(' || pg_catalog.quote_literal(%(setting)s::text)
                 || ', true) in NULLIF(..., '''') before its cast' END AS remediation
FROM unsafe_functions uf
ORDER BY 1, 2, 5;
