-- Shared by the policy checks (their header says `include: tenant_tables policy_verdicts`): every
-- policy on a tenant table with RLS that applies to the application role, judged by whether its
-- USING and its effective write check pin the tenant column to the tenant setting (judged: and
-- every policy whomever it binds, by its USING: table_verdicts). It continues the
-- WITH list that sql/tenant_tables.sql opens (so it comes second and starts with a comma); the
-- check's body continues it in turn with ", name AS (...)" and ends in a SELECT.

-- Every policy on those tables, whomever it is for.
, table_policies AS (
  SELECT p.oid, p.polrelid, p.polname, p.polcmd::text AS cmd, p.polpermissive, p.polroles,
         p.polqual IS NOT NULL AS has_using, p.polwithcheck IS NOT NULL AS has_check
  FROM pg_catalog.pg_policy p
  JOIN rls_tables t ON t.oid = p.polrelid
),
-- Policies that bind the application role: TO PUBLIC, or TO a role whose privileges it has.
-- PostgreSQL applies a policy TO r when the current user has the privileges of r (an inheriting
-- member: pg_has_role USAGE), not merely when it could SET ROLE r: a NOINHERIT member (or, from
-- PostgreSQL 16, a member granted WITH INHERIT FALSE) is not bound by r's policies.
-- Without a known role every policy counts.
policies AS (
  SELECT p.oid, p.polrelid, p.polname, p.cmd, p.polpermissive, p.has_using, p.has_check
  FROM table_policies p
  WHERE %(app_role)s::name IS NULL
     OR 0::oid = ANY (p.polroles)
     OR EXISTS (SELECT FROM pg_catalog.unnest(p.polroles) AS r(oid)
                WHERE r.oid <> 0::oid AND pg_catalog.pg_has_role(%(app_role)s::name, r.oid, 'USAGE'))
),
-- Partitions and inheritance children (any depth) of those tables that have RLS on, and the
-- policies on them that bind the application role: querying a child by name applies its own
-- policies, not its parent's (partition_rls_gap judges them with child_judged).
rls_children(oid, root, path) AS (
  SELECT i.inhrelid, t.oid, ARRAY[t.oid, i.inhrelid]
  FROM rls_tables t
  JOIN pg_catalog.pg_inherits i ON i.inhparent = t.oid
  WHERE i.inhrelid <> ALL (%(unaudited)s::oid[])  -- a locked child: not audited, not deparsed
  UNION ALL
  SELECT i.inhrelid, c.root, c.path || i.inhrelid
  FROM rls_children c
  JOIN pg_catalog.pg_inherits i ON i.inhparent = c.oid
  WHERE i.inhrelid <> ALL (c.path) AND i.inhrelid <> ALL (%(unaudited)s::oid[])
),
child_policies AS (
  SELECT p.oid, p.polrelid, p.polname, p.polcmd::text AS cmd, p.polpermissive,
         p.polqual IS NOT NULL AS has_using, p.polwithcheck IS NOT NULL AS has_check
  FROM pg_catalog.pg_policy p
  WHERE p.polrelid IN (SELECT c.oid FROM rls_children c)
    AND (%(app_role)s::name IS NULL
         OR 0::oid = ANY (p.polroles)
         OR EXISTS (SELECT FROM pg_catalog.unnest(p.polroles) AS r(oid)
                    WHERE r.oid <> 0::oid AND pg_catalog.pg_has_role(%(app_role)s::name, r.oid, 'USAGE')))
),
-- Fence detection reads the deparsed expression text. The names it looks for become regular
-- expressions: quoted as the deparser quotes them, regex metacharacters escaped.
names AS (
  SELECT pg_catalog.regexp_replace(pg_catalog.quote_ident(%(tenant_column)s),
                                   '([]\\[(){}.*+?^$|])', '\\\1', 'g') AS column_re,
         pg_catalog.regexp_replace(pg_catalog.quote_literal(%(setting)s::text),
                                   '([]\\[(){}.*+?^$|])', '\\\1', 'g') AS setting_re
),
-- Functions whose body reads the setting (e.g. app.current_tenant()): a call counts as reading it.
-- The schema is optional in the pattern: the deparser omits it when the function is visible.
setting_functions AS (
  SELECT '(?:' || pg_catalog.regexp_replace(pg_catalog.quote_ident(fn.nspname), '([]\\[(){}.*+?^$|])', '\\\1', 'g')
         || '\.)?'
         || pg_catalog.regexp_replace(pg_catalog.quote_ident(f.proname), '([]\\[(){}.*+?^$|])', '\\\1', 'g') AS name_re,
         f.prorettype = 'pg_catalog.bool'::pg_catalog.regtype AND f.pronargs = 1 AS predicate,
         f.oid
  FROM pg_catalog.pg_proc f
  JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace
  CROSS JOIN names n
  WHERE fn.nspname NOT IN ('pg_catalog', 'information_schema')
    AND f.prosrc ~ 'current_setting' AND f.prosrc ~ n.setting_re
),
patterns AS (
  SELECT
    -- current_setting('<setting>'::text[, missing_ok])
    '(?:pg_catalog\.)?current_setting\(' || n.setting_re || '::text(?:, (?:true|false))?\)' AS setting_call,
    -- the tenant column itself: not a longer name, another relation's column or a function
    '(?<![[:alnum:]_$."])' || n.column_re || '(?![[:alnum:]_$"(])' AS column_ref,
    -- a call of a setting function (NULL when there is none)
    (SELECT '(?<![[:alnum:]_$."])(?:' || pg_catalog.string_agg(f.name_re, '|' ORDER BY f.oid) || ')\([^()]*\)'
     FROM setting_functions f) AS setting_function,
    -- a boolean setting function applied to the tenant column (e.g. app.is_current(tenant_id)): a fence
    (SELECT '(?<![[:alnum:]_$."])(?:' || pg_catalog.string_agg(f.name_re, '|' ORDER BY f.oid) || ')\(' || n.column_re || '\)'
     FROM setting_functions f WHERE f.predicate) AS setting_predicate
  FROM names n
),
expressions AS (
  SELECT p.oid, x.part, x.expr
  FROM (SELECT oid FROM table_policies UNION ALL SELECT oid FROM child_policies) p
  JOIN pg_catalog.pg_policy pp ON pp.oid = p.oid
  CROSS JOIN LATERAL (VALUES ('using', CASE WHEN pp.polrelid <> ALL (%(unaudited)s::oid[]) THEN pg_catalog.pg_get_expr(pp.polqual, pp.polrelid) END),
                             ('check', CASE WHEN pp.polrelid <> ALL (%(unaudited)s::oid[]) THEN pg_catalog.pg_get_expr(pp.polwithcheck, pp.polrelid) END)) AS x(part, expr)
  WHERE x.expr IS NOT NULL
),
-- Tokens: @S@ reads the setting, @C@ is the tenant column, @F@ is a fence. String literals and
-- other quoted identifiers are blanked so that parentheses inside them cannot upset the matching.
-- Policies are usually stamped from one template: judge each distinct text once.
distinct_expressions AS (
  SELECT DISTINCT expr FROM expressions
),
tokens AS (
  SELECT e.expr, s5.s
  FROM distinct_expressions e
  CROSS JOIN patterns r
  CROSS JOIN LATERAL (SELECT pg_catalog.regexp_replace(e.expr, r.setting_call, '@S@', 'g') AS s) s1
  CROSS JOIN LATERAL (SELECT pg_catalog.regexp_replace(s1.s, '''(?:[^'']|'''')*''', '''?''', 'g') AS s) s2
  CROSS JOIN LATERAL (SELECT coalesce(pg_catalog.regexp_replace(s2.s, r.setting_predicate, '@F@', 'g'), s2.s) AS s) s3
  CROSS JOIN LATERAL (SELECT coalesce(pg_catalog.regexp_replace(s3.s, r.setting_function, '@S@', 'g'), s3.s) AS s) s4
  CROSS JOIN LATERAL (SELECT pg_catalog.regexp_replace(pg_catalog.regexp_replace(s4.s, r.column_ref, '@C@', 'g'),
                                                       '"(?:[^"]|"")*"', '"?"', 'g') AS s) s5
),
-- Rewrite rules over the tokens, tried in this order.
rules AS (
  SELECT
    -- f(@S@, <literals>) -> @S@: NULLIF(@S@, ''), COALESCE(@S@, '...'), string_to_array(@S@, ',')
    '[[:alnum:]_.]+\(@S@(?:, (?:E?''\?''(?:::[[:alnum:]_. ]+)?|true|false|-?[0-9.]+))*\)' AS unwrap_call,
    -- (@S@)::type -> @S@, (@C@)::type -> @C@
    '\((@[SC]@)\)::[[:alnum:]_."?]+(?: varying| precision| with(?:out)? time zone)?(?:\([0-9, ]+\))?(?:\[\])*'
      AS unwrap_cast,
    -- ( SELECT @S@ AS x) -> @S@: a setting function wrapped in a scalar subquery; also
    -- ARRAY( SELECT @S@ AS x), the set a set-returning setting function yields
    '(?:ARRAY)?\( SELECT @S@ AS [^()]*\)' AS unwrap_select,
    -- (@S@ ->> 'key'::text) -> @S@: a field of a JSON setting (Supabase-style request.jwt.claims,
    -- read inline or through auth.jwt()); also ->, #> and #>> with a path
    '\(@S@ (?:->>?|#>>?) ''\?''(?:::text(?:\[\])?)?\)' AS unwrap_json,
    -- (@C@ = @S@), (@S@ = @C@), (@C@ = ANY (@S@)) -> @F@: the fence itself; @C@ IN @S@ is
    -- what unwrap_select leaves of tenant_id IN (SELECT setting_function())
    '\((?:@C@ = (?:@S@|ANY \(@S@\))|@S@ = @C@|@C@ IN @S@)\)' AS fence,
    -- (x AND @F@ AND y) -> @F@: a fence AND-ed with anything still fences
    '\((?:[^() ]+ AND )*@F@(?: AND [^() ]+)*\)' AS and_fence
),
-- Rewrite to a fixed point, one rule per step: the first that matches anywhere. Only when none
-- does, every innermost (...) collapses to _, so a fence under OR, NOT, CASE or a function call is
-- lost. An expression is fenced when it rewrites to exactly @F@.
rewrite(expr, s, step) AS (
  SELECT expr, s, 0 FROM tokens
  UNION ALL
  SELECT w.expr, n.s, w.step + 1
  FROM rewrite w
  CROSS JOIN rules k
  CROSS JOIN LATERAL (SELECT CASE
      WHEN w.s ~ k.unwrap_call THEN pg_catalog.regexp_replace(w.s, k.unwrap_call, '@S@', 'g')
      WHEN w.s ~ k.unwrap_cast THEN pg_catalog.regexp_replace(w.s, k.unwrap_cast, '\1', 'g')
      WHEN w.s ~ k.unwrap_select THEN pg_catalog.regexp_replace(w.s, k.unwrap_select, '@S@', 'g')
      WHEN w.s ~ k.unwrap_json THEN pg_catalog.regexp_replace(w.s, k.unwrap_json, '@S@', 'g')
      WHEN w.s ~ k.fence THEN pg_catalog.regexp_replace(w.s, k.fence, '@F@', 'g')
      WHEN w.s ~ k.and_fence THEN pg_catalog.regexp_replace(w.s, k.and_fence, '@F@', 'g')
      ELSE pg_catalog.regexp_replace(w.s, '\([^()]*\)', '_', 'g')
    END AS s) n
  WHERE n.s <> w.s AND w.step < 200
),
-- @F@ is a fixed point, so "some step reached @F@" is "the last step is @F@".
fences AS (
  SELECT expr, pg_catalog.bool_or(s = '@F@') AS fenced
  FROM rewrite
  GROUP BY expr
),
-- Each applicable policy with its verdicts. The write check of INSERT/UPDATE/ALL is WITH CHECK,
-- or USING when there is none (PostgreSQL reuses it).
judged AS (
  SELECT p.*,
         coalesce(fu.fenced, false) AS using_fenced,
         CASE WHEN p.has_check THEN coalesce(fc.fenced, false) ELSE coalesce(fu.fenced, false) END AS check_fenced,
         p.has_using OR p.has_check AS has_write_check
  FROM policies p
  LEFT JOIN expressions eu ON eu.oid = p.oid AND eu.part = 'using'
  LEFT JOIN fences fu ON fu.expr = eu.expr
  LEFT JOIN expressions ec ON ec.oid = p.oid AND ec.part = 'check'
  LEFT JOIN fences fc ON fc.expr = ec.expr
),
-- Every policy on the tables with its USING verdict, for checks that judge the policies binding
-- another role than the application role (view_bypasses_rls: a view's owner).
table_verdicts AS (
  SELECT p.*, coalesce(fu.fenced, false) AS using_fenced
  FROM table_policies p
  LEFT JOIN expressions eu ON eu.oid = p.oid AND eu.part = 'using'
  LEFT JOIN fences fu ON fu.expr = eu.expr
),
-- The same verdicts for the policies on RLS-enabled partitions and inheritance children.
child_judged AS (
  SELECT p.*,
         coalesce(fu.fenced, false) AS using_fenced,
         CASE WHEN p.has_check THEN coalesce(fc.fenced, false) ELSE coalesce(fu.fenced, false) END AS check_fenced,
         p.has_using OR p.has_check AS has_write_check
  FROM child_policies p
  LEFT JOIN expressions eu ON eu.oid = p.oid AND eu.part = 'using'
  LEFT JOIN fences fu ON fu.expr = eu.expr
  LEFT JOIN expressions ec ON ec.oid = p.oid AND ec.part = 'check'
  LEFT JOIN fences fc ON fc.expr = ec.expr
)
