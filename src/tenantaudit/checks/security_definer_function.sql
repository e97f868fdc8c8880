-- id: security_definer_function
-- category: security-definer-function
-- severity: high
-- title: SECURITY DEFINER function reads tenant tables with its owner's rights
-- why: A SECURITY DEFINER function runs as its owner. When that owner is a superuser, has
--   BYPASSRLS, owns a tenant table whose row level security is not FORCEd, or the table has RLS
--   off, any role that may execute the function reads (or writes) every tenant's rows through it.
--   Functions are new objects EXECUTE-able by PUBLIC unless revoked. A function counts as reading
--   a table when it depends on it (SQL-standard BEGIN ATOMIC bodies) or its source names it. A
--   function whose own query answers only about the calling context (the policy analyzer reads
--   SQL and simple PL/pgSQL bodies: e.g. the caller's memberships) is the documented way to keep
--   policies from recursing, not a bypass; one whose body cannot be read is medium, not proven.
-- fix: REVOKE EXECUTE on the function FROM PUBLIC and the application role, or make it SECURITY
--   INVOKER so the caller's policies apply.
-- include: tenant_tables
, funcs AS (
  -- Audited SECURITY DEFINER functions the application role can execute; with no --app-role, any
  -- EXECUTE beyond the owner (a NULL proacl means PUBLIC has it: acldefault says so).
  SELECT p.oid, p.proname, p.proowner, p.prokind, p.prosrc, p.proargtypes, n.nspname,
         (SELECT pg_catalog.string_agg(DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                                    ELSE pg_catalog.quote_ident(g.rolname) END COLLATE "C",
                                       ', ' ORDER BY CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                                          ELSE pg_catalog.quote_ident(g.rolname) END COLLATE "C")
          FROM pg_catalog.aclexplode(COALESCE(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
          LEFT JOIN pg_catalog.pg_roles g ON g.oid = a.grantee
          WHERE a.grantee <> p.proowner AND a.privilege_type = 'EXECUTE'
            AND (%(app_role)s::text IS NULL OR a.grantee = 0
                 OR pg_catalog.pg_has_role(%(app_role)s::name, a.grantee, 'MEMBER'))) AS grantees
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_catalog.pg_language l ON l.oid = p.prolang
  WHERE p.prosecdef
    AND l.lanname NOT IN ('internal', 'c')  -- their prosrc is a symbol name, not code
    AND n.nspname = ANY (%(schemas)s::text[])
    AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                      AND d.objid = p.oid AND d.deptype = 'e')
    AND CASE WHEN %(app_role)s::text IS NULL
             THEN EXISTS (SELECT FROM pg_catalog.aclexplode(COALESCE(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
                          WHERE a.grantee <> p.proowner AND a.privilege_type = 'EXECUTE')
             ELSE pg_catalog.has_function_privilege(%(app_role)s::name, p.oid, 'EXECUTE') END
),
-- Tenant tables each function reads: a recorded dependency, or the table's name as a whole word
-- (case-insensitive, regex metacharacters escaped) anywhere in its source, dynamic SQL included.
reads AS (
  SELECT f.oid AS fn, t.oid AS rel,
         EXISTS (SELECT FROM pg_catalog.pg_depend d
                 WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = f.oid
                   AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
                   AND d.refobjid = t.oid) AS recorded
  FROM funcs f
  CROSS JOIN tenant_tables t
  WHERE EXISTS (SELECT FROM pg_catalog.pg_depend d
                WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = f.oid
                  AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
                  AND d.refobjid = t.oid)
     OR f.prosrc ~* ('(^|[^[:alnum:]_$])'
                     || pg_catalog.regexp_replace(t.relname, '([]\\[^$.*+?(){}|-])', '\\\1', 'g')
                     || '($|[^[:alnum:]_$])')
),
-- Of those, the tables row level security does not restrict for the owner (the server's rule:
-- superuser, BYPASSRLS, RLS off, or owner (or member of it) without FORCE).
exposed AS (
  SELECT r.fn, r.rel, r.recorded,
         CASE WHEN o.rolsuper THEN 'its owner ' || pg_catalog.quote_ident(o.rolname) || ' is a superuser'
              WHEN o.rolbypassrls THEN 'its owner ' || pg_catalog.quote_ident(o.rolname) || ' has BYPASSRLS'
              WHEN NOT t.relrowsecurity THEN 'row level security is disabled on the table'
              ELSE 'its owner ' || pg_catalog.quote_ident(o.rolname)
                   || ' owns the table and row level security is not forced' END AS reason
  FROM reads r
  JOIN funcs f ON f.oid = r.fn
  JOIN pg_catalog.pg_class t ON t.oid = r.rel
  JOIN pg_catalog.pg_roles o ON o.oid = f.proowner
  WHERE o.rolsuper OR o.rolbypassrls
     OR NOT t.relrowsecurity
     OR (NOT t.relforcerowsecurity AND pg_catalog.pg_has_role(o.oid, t.relowner, 'USAGE'))
)
SELECT f.nspname AS schema_name,
       f.proname || '(' || pg_catalog.oidvectortypes(f.proargtypes) || ')' AS object_name,
       'function' AS object_kind,
       CASE WHEN v.verdict = 'open' THEN NULL ELSE 'medium' END AS severity,
       'SECURITY DEFINER ' || f.oid::pg_catalog.regprocedure || ' reads '
         || (SELECT pg_catalog.string_agg(e.rel::pg_catalog.regclass || ' ('
                                          || CASE WHEN e.recorded THEN '' ELSE 'named in its source; ' END
                                          || e.reason || ')', ', ' ORDER BY e.rel::pg_catalog.regclass::text)
             FROM exposed e WHERE e.fn = f.oid)
         || '; ' || COALESCE(pg_catalog.quote_ident(%(app_role)s), f.grantees) || ' can execute it'
         || CASE WHEN v.verdict = 'open' THEN ' (' || v.reason || ')'
                 ELSE '; not proven to return other tenants'' rows: ' || v.reason END AS message,
       CASE WHEN f.grantees IS NOT NULL
            THEN 'REVOKE EXECUTE ON ' || CASE WHEN f.prokind = 'p' THEN 'PROCEDURE ' ELSE 'FUNCTION ' END
                 || f.oid::pg_catalog.regprocedure || ' FROM ' || f.grantees || ';  -- or: '
            ELSE '' END
         || 'ALTER ' || CASE WHEN f.prokind = 'p' THEN 'PROCEDURE ' ELSE 'FUNCTION ' END
         || f.oid::pg_catalog.regprocedure || ' SECURITY INVOKER;' AS remediation
FROM funcs f
-- the policy analyzer's judgement of the body (%(object_verdicts)s): fenced when every read of a
-- tenant table (or of the membership table) is restricted to the calling context, as a helper that
-- answers only about the caller's memberships is; opaque when it cannot read the body
CROSS JOIN LATERAL (SELECT COALESCE(%(object_verdicts)s::jsonb -> (f.oid::text), '{}'::jsonb) AS j) ov
CROSS JOIN LATERAL (SELECT COALESCE(ov.j ->> 'verdict', 'opaque') AS verdict,
                           COALESCE(ov.j ->> 'reason', 'its body was not analysed') AS reason) v
WHERE EXISTS (SELECT FROM exposed e WHERE e.fn = f.oid)
  AND v.verdict <> 'fenced'
ORDER BY f.nspname, f.proname, pg_catalog.oidvectortypes(f.proargtypes);
