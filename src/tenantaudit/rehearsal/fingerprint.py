"""Fingerprints computed inside the server: what a database holds, without moving rows out."""

from __future__ import annotations

import psycopg
from psycopg import sql

_USER_TABLES = """
SELECT n.nspname, c.relname
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm')
  AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
ORDER BY 1, 2
"""


def data_fingerprint(conn: psycopg.Connection) -> dict[str, tuple[int, str]]:
    """Per table: row count and an order-independent hash of every row's text form.

    The hash is the sum of a 64-bit hash per row, so row order (and physical layout) does not
    matter, while any changed, added or removed row changes it. Reads only.
    """
    result: dict[str, tuple[int, str]] = {}
    for schema, table in conn.execute(_USER_TABLES).fetchall():
        query = sql.SQL(
            "SELECT pg_catalog.count(*), COALESCE(pg_catalog.sum(pg_catalog.hashtextextended(t::text, 0)::numeric), 0)::text"
            " FROM {} AS t"
        ).format(sql.Identifier(schema, table))
        count, digest = conn.execute(query).fetchone()
        result[f"{schema}.{table}"] = (count, digest)
    return result
