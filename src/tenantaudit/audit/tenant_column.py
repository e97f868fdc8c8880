"""A wrong --tenant-column is a configuration error, not a finding on every table.

When no tenant table in scope has the tenant column, the audit would report "add the column"
on each of them. Where the schema shows which column the tables do share, that is almost
certainly a wrong --tenant-column (or a file that sets it): fail with one line that names the
column they share, instead. A schema that really has no tenant column anywhere (and shows no
candidate) keeps its findings when it has one table only; with two or more it fails as well.
"""

from __future__ import annotations

import shlex
from typing import Any

import psycopg

from ..errors import ConfigError

# The fragment opens the WITH list (tenant_tables, tenant_columns, rls_tables); this continues it.
_CANDIDATES_SQL = """
, own_key AS (
  -- columns that are a table's own single-column primary or unique key: "id" is shared by name
  -- by every table, and is never the tenant column
  SELECT k.conrelid AS oid, k.conkey[1] AS attnum
  FROM pg_catalog.pg_constraint k
  WHERE k.contype IN ('p', 'u') AND pg_catalog.cardinality(k.conkey) = 1
),
tenant_key AS (
  SELECT a.attnum, a.atttypid
  FROM pg_catalog.pg_constraint k
  JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
  WHERE k.conrelid = %(tenant_table)s::oid AND k.contype = 'p' AND pg_catalog.cardinality(k.conkey) = 1
),
referencing AS (
  -- single-column foreign keys from a tenant table to the tenants table's key
  SELECT a.attname, pg_catalog.count(DISTINCT t.oid) AS tables, 1 AS strength
  FROM tenant_tables t
  JOIN pg_catalog.pg_constraint f ON f.conrelid = t.oid AND f.contype = 'f'
   AND f.confrelid = %(tenant_table)s::oid AND pg_catalog.cardinality(f.conkey) = 1
  JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = f.conkey[1]
  GROUP BY a.attname
),
same_type AS (
  -- otherwise: a column name shared by tables, of the tenant key's type (uuid or an integer
  -- when the tenants table has no single-column key), not a table's own key, not a foreign key
  -- to another table
  SELECT a.attname, pg_catalog.count(DISTINCT t.oid) AS tables, 2 AS strength
  FROM tenant_tables t
  JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
  WHERE CASE WHEN EXISTS (SELECT FROM tenant_key) THEN a.atttypid = (SELECT atttypid FROM tenant_key)
             ELSE a.atttypid IN ('pg_catalog.uuid'::pg_catalog.regtype, 'pg_catalog.int8'::pg_catalog.regtype,
                                 'pg_catalog.int4'::pg_catalog.regtype) END
    AND NOT EXISTS (SELECT FROM own_key o WHERE o.oid = t.oid AND o.attnum = a.attnum)
    AND NOT EXISTS (SELECT FROM pg_catalog.pg_constraint f
                    WHERE f.conrelid = t.oid AND f.contype = 'f' AND a.attnum = ANY (f.conkey)
                      AND f.confrelid <> %(tenant_table)s::oid)
  GROUP BY a.attname
  HAVING pg_catalog.count(DISTINCT t.oid) >= 2
)
SELECT (SELECT pg_catalog.count(*) FROM tenant_tables) AS tables,
       (SELECT pg_catalog.count(*) FROM tenant_columns) AS with_column,
       c.attname, c.tables AS sharing, c.strength
FROM (SELECT 1) one
LEFT JOIN LATERAL (
  SELECT * FROM (SELECT * FROM referencing UNION ALL SELECT * FROM same_type) u
  ORDER BY u.strength, u.tables DESC, u.attname LIMIT 1
) c ON true
"""


def require_tenant_column(conn: psycopg.Connection, params: dict[str, Any], config) -> None:
    """Raise ConfigError when no tenant table in scope has ``params['tenant_column']`` and the
    option is evidently wrong. Runs in the caller's read-only transaction, one query."""
    from .catalog import _fragment

    query = _fragment("tenant_tables", "tenant_column.py") + _CANDIDATES_SQL
    # the fragment may name parameters the caller fills later (tables set aside as not audited)
    tables, with_column, candidate, sharing, strength = conn.execute(query, {"unaudited": [], **params}).fetchone()
    if tables == 0 or with_column > 0:
        return
    if candidate is None and tables < 2:
        return  # one table without it: its tenant-column-missing finding says exactly that
    column = config.tenant_column
    origin = "--tenant-column" if config.source == "defaults" else f"--tenant-column or {config.source}"
    message = f"no table has a column {column} ({origin})"
    if candidate is None:
        raise ConfigError(
            f"{message}; none of the {tables} tables shares a column that could hold the tenant id",
            fix="pass --tenant-column naming the column that holds the tenant id, or add it to the tables",
        )
    tenants = config.tenant_table
    what = f"a foreign key to {tenants}" if strength == 1 else "the type of the tenant id"
    noun = "table has" if sharing == 1 else "tables share"
    raise ConfigError(
        f"{message}; {sharing} {noun} {candidate} ({what})",
        fix=f"pass --tenant-column {shlex.quote(candidate)}",
    )
