"""Exposure follows privileges: a finding about an object the application cannot reach today is
at most low.

A hole in a table, view or function matters as much as the application can use it. After the
catalogue has run, one query decides for every object a finding names whether any application
role (``scope.params["app_roles"]``) or PUBLIC can reach it:

- a relation: USAGE on its schema and a table privilege (SELECT, INSERT, UPDATE, DELETE, TRUNCATE,
  which ignores RLS) or a column privilege (SELECT, INSERT, UPDATE) on it, or its ownership;
  through the relation itself, an ancestor (a partition's or inheritance child's parent reads
  its rows) or a view / materialized view that reads it (at any depth);
- a function: USAGE on its schema and EXECUTE, or its ownership;

as the role itself, or as any role it can SET ROLE to (pg_has_role MEMBER: a NOINHERIT member
gets the privileges by one statement). Findings on other objects (roles, migrations) and on
objects the catalogue does not know are left as they are, and so is everything when no
application role was given (nothing can be known then).
"""

from __future__ import annotations

from dataclasses import replace

import psycopg

from ..findings import Finding, Severity
from .catalog import Scope

RELATION_KINDS = ("table", "view", "matview", "partition", "foreign table")
FUNCTION_KINDS = ("function", "procedure")

# One query for every object at once ($1..$3: the objects' schemas, names, kinds; $4: the
# application roles). Functions are named as the checks name them: proname(argument types).
# Returns, for each object's position, whether it exists and whether it is reachable.
_REACHABLE_SQL = """
WITH RECURSIVE objects AS (
  SELECT u.s, u.n, u.k, u.i
  FROM ROWS FROM (pg_catalog.unnest(%(schemas)s::text[]), pg_catalog.unnest(%(names)s::text[]),
                  pg_catalog.unnest(%(kinds)s::text[])) WITH ORDINALITY AS u(s, n, k, i)
),
-- the application roles, every role they can SET ROLE to, and PUBLIC (oid 0)
roles AS (
  SELECT r.oid, r.rolname::text AS name
  FROM pg_catalog.pg_roles r
  WHERE EXISTS (SELECT FROM pg_catalog.unnest(%(app_roles)s::text[]) AS a(name)
                JOIN pg_catalog.pg_roles ar ON ar.rolname = a.name
                WHERE pg_catalog.pg_has_role(ar.oid, r.oid, 'MEMBER'))
  UNION ALL
  SELECT 0::oid, 'public'
),
relations AS (
  SELECT o.i, c.oid
  FROM objects o
  JOIN pg_catalog.pg_namespace ns ON ns.nspname = o.s
  JOIN pg_catalog.pg_class c ON c.relnamespace = ns.oid AND c.relname = o.n
  WHERE o.k = ANY (%(relation_kinds)s::text[])
),
-- what gives access to a relation's rows: itself, its ancestors, the views that read it
paths(i, oid, seen) AS (
  SELECT r.i, r.oid, ARRAY[r.oid] FROM relations r
  UNION ALL
  SELECT p.i, up.oid, p.seen || up.oid
  FROM paths p
  CROSS JOIN LATERAL (
    SELECT h.inhparent AS oid FROM pg_catalog.pg_inherits h WHERE h.inhrelid = p.oid
    UNION
    SELECT w.ev_class FROM pg_catalog.pg_depend d
    JOIN pg_catalog.pg_rewrite w ON w.oid = d.objid
    WHERE d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
      AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
      AND d.refobjid = p.oid AND w.ev_class <> p.oid
  ) up
  WHERE up.oid <> ALL (p.seen)
),
functions AS (
  SELECT o.i, f.oid, f.pronamespace, f.proowner
  FROM objects o
  JOIN pg_catalog.pg_namespace ns ON ns.nspname = o.s
  JOIN pg_catalog.pg_proc f
    ON f.pronamespace = ns.oid AND f.proname || '(' || pg_catalog.oidvectortypes(f.proargtypes) || ')' = o.n
  WHERE o.k = ANY (%(function_kinds)s::text[])
)
SELECT o.i,
       EXISTS (SELECT FROM relations r WHERE r.i = o.i) OR EXISTS (SELECT FROM functions f WHERE f.i = o.i) AS known,
       EXISTS (SELECT FROM paths p
               JOIN pg_catalog.pg_class c ON c.oid = p.oid
               CROSS JOIN roles r
               WHERE p.i = o.i
                 AND (r.oid = c.relowner
                      OR pg_catalog.has_schema_privilege(r.name, c.relnamespace, 'USAGE')
                         AND (pg_catalog.has_table_privilege(r.name, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
                              OR pg_catalog.has_any_column_privilege(r.name, c.oid, 'SELECT, INSERT, UPDATE'))))
       OR EXISTS (SELECT FROM functions f CROSS JOIN roles r
                  WHERE f.i = o.i
                    AND (r.oid = f.proowner
                         OR pg_catalog.has_schema_privilege(r.name, f.pronamespace, 'USAGE')
                            AND pg_catalog.has_function_privilege(r.name, f.oid, 'EXECUTE'))) AS reachable
FROM objects o
ORDER BY o.i
"""


def _role_list(roles: list[str]) -> str:
    if len(roles) == 1:
        return roles[0]
    return ", ".join(roles[:-1]) + " or " + roles[-1]


def cap_unreachable(conn: psycopg.Connection, scope: Scope, findings: list[Finding]) -> list[Finding]:
    """``findings`` with those on a table, view or function no application role (nor PUBLIC) can
    reach capped at low, their message saying so. One query, in the caller's transaction."""
    roles = [r for r in scope.params.get("app_roles") or [] if r]
    if not roles:
        return findings
    keys = sorted(
        {(f.schema, f.table, f.object_kind) for f in findings
         if f.schema and f.table and f.object_kind in RELATION_KINDS + FUNCTION_KINDS}
    )
    if not keys:
        return findings
    rows = conn.execute(
        _REACHABLE_SQL,
        {
            "schemas": [k[0] for k in keys],
            "names": [k[1] for k in keys],
            "kinds": [k[2] for k in keys],
            "app_roles": roles,
            "relation_kinds": list(RELATION_KINDS),
            "function_kinds": list(FUNCTION_KINDS),
        },
    ).fetchall()
    unreachable = {keys[i - 1] for i, known, reachable in rows if known and not reachable}
    if not unreachable:
        return findings
    suffix = f"; not reachable by {_role_list(roles)} today"
    capped = []
    for finding in findings:
        if (finding.schema, finding.table, finding.object_kind) in unreachable:
            severity = Severity.LOW if finding.severity.rank > Severity.LOW.rank else finding.severity
            finding = replace(finding, severity=severity, message=finding.message + suffix)
        capped.append(finding)
    return capped
