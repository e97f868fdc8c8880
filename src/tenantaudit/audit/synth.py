"""Synthetic rows that satisfy a table's constraints, built inside the server.

Behavioural write probes need, inside one transaction that always ends in ROLLBACK, a row per
tenant table per synthetic tenant; rehearsals reuse the same machinery to seed N rows per table.
Rather than re-implementing PostgreSQL's rules in Python, a row is *proposed* from the catalog
(types, NOT NULL, defaults, foreign keys, partition bounds) and the server is asked to take it:
every INSERT attempt runs in its own SAVEPOINT, and a refusal (CHECK, unique key, partition
routing, NOT NULL) adjusts the proposal and tries again, a bounded number of times. What cannot be
satisfied raises :class:`Unsatisfiable` with a one-line reason that never contains row data.

The catalog is read once, in a fixed number of queries whatever the number of tables, and every
name is composed as an identifier (never interpolated): values always travel as parameters,
cast explicitly to the column type (``%s::<type>``) so PostgreSQL does the coercion.

The synthesizer never commits and never changes settings. By default it inserts as the current
role; with ``as_owner=True`` (write probes on a live database) every INSERT, and every lookup of an
existing parent row, runs as the owner of the table it touches (``SET LOCAL ROLE`` inside that
attempt's savepoint, restored right after), so column defaults, CHECK functions, index expressions
and foreign-key lookups run with the owner's rights, never the auditing role's (often a
superuser's). A table whose owner the current role cannot become is Unsatisfiable, with the fix.
Everything happens inside the caller's transaction, which the caller rolls back.
"""

from __future__ import annotations

import random
import re
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from ipaddress import IPv4Address, IPv4Network
from itertools import islice, product
from typing import Any, Callable, Iterator

import psycopg
from psycopg import pq, sql
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Json, Jsonb

from ..db import server_message

# Bounds: a row is worth a few dozen round trips, never an unbounded search.
MAX_ATTEMPTS = 100  # INSERT attempts (savepoints) for one row, all causes together
MAX_COMBOS = 48  # value combinations tried for one CHECK constraint
MAX_CANDIDATES = 16  # candidate values per column per CHECK constraint
MAX_UNIQUE_RETRIES = 6  # fresh values after unique violations
MAX_DEPTH = 4  # how deep parent rows are synthesized through foreign keys
MAX_ROUTES = 32  # partition routes tried for a partitioned table
MAX_REROUTES = 32  # fresh values tried once known routes are exhausted (HASH partitions with gaps)

Maker = Callable[[], Any]


class Unsatisfiable(Exception):
    """No row could be made. ``reason`` is one line and carries no row values."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass
class RowRef:
    table_oid: int  # the table asked for
    tableoid: int  # the physical table the row landed in (a partition, for a partitioned table)
    ctid: str  # with tableoid: WHERE tableoid = %s AND ctid = %s::tid
    values: dict[str, Any]  # the row as inserted (RETURNING *), e.g. for FK children


# --------------------------------------------------------------------------------------------
# The catalog, as far as making rows needs it
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Type:
    oid: int
    name: str
    schema: str
    typtype: str  # b base, d domain, e enum, r range, m multirange, c composite, p pseudo
    category: str  # 'A' for arrays
    elem: int
    base: int  # a domain's underlying type
    typmod: int  # a domain's typmod (varchar(3) under a domain)
    notnull: bool  # a domain's NOT NULL
    labels: tuple[str, ...]  # an enum's labels, in sort order
    natts: int  # a composite type's attribute count


@dataclass
class _Column:
    name: str
    num: int
    type_oid: int
    typmod: int
    cast: str  # the type as SQL, qualified when not in pg_catalog (search_path independent)
    notnull: bool
    has_default: bool
    identity: str  # '', 'a' (ALWAYS), 'd' (BY DEFAULT)
    generated: str  # '', 's' (STORED)
    # Resolved through domains once types are loaded:
    kind: str = "unknown"  # pg_catalog type name, or enum/array/range/multirange/composite/unknown
    base_typmod: int = -1
    domains: tuple[int, ...] = ()
    labels: tuple[str, ...] = ()
    natts: int = 0

    @property
    def settable(self) -> bool:
        """GENERATED columns and identity ALWAYS columns refuse explicit values."""
        return self.identity != "a" and not self.generated

    @property
    def defaulted(self) -> bool:
        return self.has_default or bool(self.identity) or bool(self.generated)


@dataclass(frozen=True)
class _Check:
    name: str
    definition: str  # pg_get_constraintdef: where candidate literals come from
    columns: tuple[str, ...] = ()  # a table CHECK's columns (conkey)
    domain: int | None = None  # set for a domain CHECK: applies to columns of that domain
    domain_name: str = ""


@dataclass(frozen=True)
class _ForeignKey:
    name: str
    columns: tuple[str, ...]
    ref_table: int
    ref_columns: tuple[str, ...]


@dataclass
class _Table:
    oid: int
    schema: str
    name: str
    display: str  # "schema.table", quoted where needed: for messages
    relkind: str
    columns: dict[str, _Column] = field(default_factory=dict)  # in attnum order
    checks: dict[str, _Check] = field(default_factory=dict)
    fks: list[_ForeignKey] = field(default_factory=list)
    primary_key: tuple[str, ...] = ()
    routes: list[Route] | None = None  # partition key values that route somewhere
    is_partition: bool = False
    owner: str = ""  # the owner's role name, as set_config('role', ...) takes it
    owner_display: str = ""  # quoted as SQL needs it: for messages
    can_become: bool = True  # the current role may SET ROLE to the owner
    search_path: str = '"$user", public'  # the owner's sessions' search_path (see _TABLES_SQL)


_TABLES_SQL = """
WITH RECURSIVE closure(oid) AS (
  SELECT pg_catalog.unnest(%(roots)s::pg_catalog.oid[])
  UNION
  SELECT k.confrelid FROM pg_catalog.pg_constraint k JOIN closure ON k.conrelid = closure.oid
  WHERE k.contype = 'f'
)
SELECT c.oid, n.nspname AS schema, c.relname AS name, c.relkind, c.relispartition,
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) AS display,
       pg_catalog.pg_get_userbyid(c.relowner) AS owner,
       pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(c.relowner)) AS owner_display,
       -- PostgreSQL 16 separates membership from the right to SET ROLE
       pg_catalog.pg_has_role(c.relowner, CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 160000
                                               THEN 'SET' ELSE 'MEMBER' END) AS can_become,
       -- the search_path the owner's own sessions get in this database (ALTER ROLE / DATABASE ... SET,
       -- the most specific first), else PostgreSQL's default: defaults and CHECK functions are written for it
       COALESCE((
         SELECT pg_catalog.substr(cfg, pg_catalog.strpos(cfg, '=') + 1)
         FROM pg_catalog.pg_db_role_setting d, pg_catalog.unnest(d.setconfig) AS cfg
         WHERE pg_catalog.lower(pg_catalog.split_part(cfg, '=', 1)) = 'search_path'
           AND d.setdatabase IN (0, (SELECT db.oid FROM pg_catalog.pg_database db WHERE db.datname = pg_catalog.current_database()))
           AND d.setrole IN (0, c.relowner)
         ORDER BY (d.setdatabase <> 0 AND d.setrole <> 0) DESC, (d.setrole <> 0) DESC, (d.setdatabase <> 0) DESC
         LIMIT 1), '"$user", public') AS search_path
FROM closure
JOIN pg_catalog.pg_class c ON c.oid = closure.oid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
ORDER BY c.oid
"""

_COLUMNS_SQL = """
SELECT a.attrelid, a.attnum, a.attname, a.atttypid, a.atttypmod, a.attnotnull, a.atthasdef,
       a.attidentity::pg_catalog.text AS attidentity, a.attgenerated::pg_catalog.text AS attgenerated,
       CASE WHEN tn.nspname = 'pg_catalog' THEN pg_catalog.format_type(a.atttypid, a.atttypmod)
            ELSE pg_catalog.quote_ident(tn.nspname) || '.' || pg_catalog.quote_ident(t.typname)
       END AS cast_type
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace
WHERE a.attrelid = ANY (%(tables)s::pg_catalog.oid[]) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

# Column types, then what they are built on: a domain's base type, an array's element type.
_TYPES_SQL = """
WITH RECURSIVE walk(oid) AS (
  SELECT pg_catalog.unnest(%(types)s::pg_catalog.oid[])
  UNION
  SELECT nxt.oid FROM walk
  JOIN pg_catalog.pg_type t ON t.oid = walk.oid
  CROSS JOIN LATERAL (VALUES (t.typbasetype), (CASE WHEN t.typcategory = 'A' THEN t.typelem END)) AS nxt(oid)
  WHERE nxt.oid IS NOT NULL AND nxt.oid <> 0
)
SELECT t.oid, t.typname AS name, n.nspname AS schema, t.typtype::pg_catalog.text AS typtype,
       t.typcategory::pg_catalog.text AS category, t.typelem AS elem, t.typbasetype AS base,
       t.typtypmod AS typmod, t.typnotnull AS notnull,
       ARRAY(SELECT e.enumlabel::pg_catalog.text FROM pg_catalog.pg_enum e
             WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) AS labels,
       (SELECT pg_catalog.count(*) FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped)::int AS natts
FROM walk
JOIN pg_catalog.pg_type t ON t.oid = walk.oid
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
"""

# Table CHECKs, FKs and primary keys, and domain CHECKs. A foreign key that references a
# partitioned table is cloned once per referenced partition (conparentid points at a constraint
# of the same table): those clones are skipped; a partition's inherited FK is kept.
_CONSTRAINTS_SQL = """
SELECT k.conrelid, k.contypid, k.conname, k.contype::pg_catalog.text AS contype,
       COALESCE(k.conkey, '{}') AS conkey, k.confrelid, COALESCE(k.confkey, '{}') AS confkey,
       pg_catalog.pg_get_constraintdef(k.oid) AS definition,
       ty.typname AS domain_name, tn.nspname AS domain_schema
FROM pg_catalog.pg_constraint k
LEFT JOIN pg_catalog.pg_type ty ON ty.oid = k.contypid
LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = ty.typnamespace
WHERE (k.conrelid = ANY (%(tables)s::pg_catalog.oid[]) AND k.contype IN ('c', 'f', 'p')
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_constraint p
                       WHERE p.oid = k.conparentid AND p.conrelid = k.conrelid))
   OR (k.contypid = ANY (%(domains)s::pg_catalog.oid[]) AND k.contype = 'c')
ORDER BY k.conrelid, k.contypid, k.conname
"""

# Partition bounds: the partition trees under the partitioned tables, plus the own bound of any
# table that is itself a partition. key_names are the parent's partition key columns (NULL for
# an expression key). A bound holds constants only, so pg_get_expr gets relid 0: with the
# partition's oid it would open, and lock until the transaction ends, every partition.
_PARTITIONS_SQL = """
WITH RECURSIVE tree(parent, child) AS (
  SELECT i.inhparent, i.inhrelid FROM pg_catalog.pg_inherits i
  JOIN pg_catalog.pg_class p ON p.oid = i.inhparent AND p.relkind = 'p'
  WHERE i.inhparent = ANY (%(tables)s::pg_catalog.oid[])
  UNION
  SELECT i.inhparent, i.inhrelid FROM tree JOIN pg_catalog.pg_inherits i ON i.inhparent = tree.child
),
edges AS (
  SELECT parent, child, false AS own FROM tree
  UNION ALL
  SELECT i.inhparent, i.inhrelid, true FROM pg_catalog.pg_inherits i
  WHERE i.inhrelid = ANY (%(tables)s::pg_catalog.oid[])
)
SELECT e.parent, e.child, e.own, c.relkind::pg_catalog.text AS relkind,
       pg_catalog.pg_get_expr(c.relpartbound, 0) AS bound,
       ARRAY(SELECT a.attname::pg_catalog.text
             FROM pg_catalog.pg_partitioned_table pt
             CROSS JOIN LATERAL pg_catalog.unnest(pt.partattrs::pg_catalog.int2[]) WITH ORDINALITY AS k(num, ord)
             LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = k.num
             WHERE pt.partrelid = e.parent ORDER BY k.ord) AS key_names
FROM edges e
JOIN pg_catalog.pg_class c ON c.oid = e.child AND c.relispartition
ORDER BY e.parent, c.oid
"""


# Where PostgreSQL raises an RLS refusal of a written row: the error's source function, sent in
# every language.
_RLS_REFUSAL = "ExecWithCheckOptions"
# Volatile functions of PostgreSQL's own that a default may call without acting outside the
# transaction. Every other function an INSERT would run must be a built-in immutable or stable one.
_HARMLESS_VOLATILE = ("nextval", "gen_random_uuid", "random", "clock_timestamp", "statement_timestamp", "timeofday",
                      "txid_current", "pg_current_xact_id")
_AUDITOR_MAY_INSERT = """
WITH RECURSIVE tree(oid) AS (
  SELECT %s::pg_catalog.oid
  UNION
  SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree ON i.inhparent = tree.oid
),
domains(oid) AS (
  SELECT a.atttypid FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
  WHERE a.attrelid IN (SELECT oid FROM tree) AND a.attnum > 0 AND t.typtype = 'd'
  UNION
  SELECT t.typbasetype FROM pg_catalog.pg_type t JOIN domains ON t.oid = domains.oid
  JOIN pg_catalog.pg_type b ON b.oid = t.typbasetype AND b.typtype = 'd'
),
objects(classid, objid) AS (
  SELECT 'pg_catalog.pg_attrdef'::pg_catalog.regclass, ad.oid FROM pg_catalog.pg_attrdef ad WHERE ad.adrelid IN (SELECT oid FROM tree)
  UNION ALL
  SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass, k.oid FROM pg_catalog.pg_constraint k
  WHERE (k.conrelid IN (SELECT oid FROM tree) OR k.contypid IN (SELECT oid FROM domains)) AND k.contype = 'c'
  UNION ALL
  SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, i.indexrelid FROM pg_catalog.pg_index i WHERE i.indrelid IN (SELECT oid FROM tree)
),
called(fn) AS (
  SELECT d.refobjid FROM pg_catalog.pg_depend d JOIN objects o ON o.classid = d.classid AND o.objid = d.objid
  WHERE d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
  UNION
  SELECT op.oprcode::pg_catalog.oid FROM pg_catalog.pg_depend d JOIN objects o ON o.classid = d.classid AND o.objid = d.objid
  JOIN pg_catalog.pg_operator op ON op.oid = d.refobjid
  WHERE d.refclassid = 'pg_catalog.pg_operator'::pg_catalog.regclass
)
SELECT (SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r WHERE r.rolname = current_user),
       COALESCE(
         (SELECT 'trigger ' || pg_catalog.quote_ident(t.tgname) FROM pg_catalog.pg_trigger t
          WHERE t.tgrelid IN (SELECT oid FROM tree) AND NOT t.tgisinternal LIMIT 1),
         (SELECT 'rule ' || pg_catalog.quote_ident(r.rulename) FROM pg_catalog.pg_rewrite r
          WHERE r.ev_class IN (SELECT oid FROM tree) AND r.rulename <> '_RETURN' LIMIT 1),
         (SELECT 'function ' || f.oid::pg_catalog.regprocedure::pg_catalog.text FROM called JOIN pg_catalog.pg_proc f ON f.oid = called.fn
          WHERE f.oid >= 16384 OR (f.provolatile = 'v' AND f.proname <> ALL (%s::pg_catalog.name[])) LIMIT 1))
"""


def _load_catalog(conn: psycopg.Connection, roots: list[int]) -> tuple[dict[int, _Table], dict]:
    """Tables (roots and everything they reference by FK), in five queries whatever their number."""
    with conn.cursor(row_factory=dict_row) as cur:
        tables = {
            r["oid"]: _Table(
                r["oid"], r["schema"], r["name"], r["display"], r["relkind"], is_partition=r["relispartition"],
                owner=r["owner"], owner_display=r["owner_display"], can_become=r["can_become"],
                search_path=r["search_path"],
            )
            for r in cur.execute(_TABLES_SQL, {"roots": roots}).fetchall()
        }
        oids = list(tables)
        for r in cur.execute(_COLUMNS_SQL, {"tables": oids}).fetchall():
            tables[r["attrelid"]].columns[r["attname"]] = _Column(
                r["attname"], r["attnum"], r["atttypid"], r["atttypmod"], r["cast_type"], r["attnotnull"],
                r["atthasdef"], r["attidentity"], r["attgenerated"],
            )
        column_types = sorted({c.type_oid for t in tables.values() for c in t.columns.values()})
        types = {r["oid"]: _Type(**{**r, "labels": tuple(r["labels"])}) for r in cur.execute(_TYPES_SQL, {"types": column_types})}
        for table in tables.values():
            for column in table.columns.values():
                _resolve_type(column, types)
        domains = [t.oid for t in types.values() if t.typtype == "d"]
        domain_checks: dict[tuple[str, str, str], _Check] = {}  # (schema, domain, constraint)
        for r in cur.execute(_CONSTRAINTS_SQL, {"tables": oids, "domains": domains}).fetchall():
            if r["contypid"]:
                domain_checks[(r["domain_schema"], r["domain_name"], r["conname"])] = _Check(
                    r["conname"], r["definition"], domain=r["contypid"], domain_name=r["domain_name"]
                )
                continue
            table = tables[r["conrelid"]]
            names = _attnames(table, r["conkey"])
            if r["contype"] == "c":
                table.checks[r["conname"]] = _Check(r["conname"], r["definition"], columns=names)
            elif r["contype"] == "p":
                table.primary_key = names
            elif r["confrelid"] in tables:
                ref_names = _attnames(tables[r["confrelid"]], r["confkey"])
                table.fks.append(_ForeignKey(r["conname"], names, r["confrelid"], ref_names))
        _load_routes(cur, tables)
    return tables, domain_checks


def _attnames(table: _Table, attnums: list[int]) -> tuple[str, ...]:
    by_num = {c.num: c.name for c in table.columns.values()}
    return tuple(by_num[n] for n in attnums if n in by_num)


def _resolve_type(column: _Column, types: dict[int, _Type]) -> None:
    """Walk through domains to the type values are made for; a domain adds NOT NULL and CHECKs."""
    typ = types[column.type_oid]
    typmod = column.typmod
    domains: list[int] = []
    while typ.typtype == "d":
        domains.append(typ.oid)
        column.notnull = column.notnull or typ.notnull
        typmod = typmod if typmod != -1 else typ.typmod
        typ = types[typ.base]
    column.domains = tuple(domains)
    column.base_typmod = typmod
    column.labels = typ.labels
    column.natts = typ.natts
    if typ.category == "A" and typ.elem:
        column.kind = "array"
    elif typ.typtype in _KIND_OF_TYPTYPE:
        column.kind = _KIND_OF_TYPTYPE[typ.typtype]
    elif typ.schema == "pg_catalog" and typ.name in _BUILTIN_KINDS:
        column.kind = typ.name
    else:
        column.kind = "unknown"  # citext and other extension types: a string, cast by the server


def _load_routes(cur: psycopg.Cursor, tables: dict[int, _Table]) -> None:
    """For partitioned tables (and partitions asked for directly): key values that route a row."""
    children: dict[int, list[dict]] = {}
    own: dict[int, list[Route]] = {}
    for r in cur.execute(_PARTITIONS_SQL, {"tables": list(tables)}).fetchall():
        if r["own"]:
            own[r["child"]] = _bound_routes(r["bound"], r["key_names"])
        else:
            children.setdefault(r["parent"], []).append(r)
    for table in tables.values():
        above = own.get(table.oid, [{}])
        below = _tree_routes(table.oid, children, depth=0) if table.relkind == "p" else [{}]
        if table.relkind == "p" or table.oid in own:
            table.routes = [{**a, **b} for a in above for b in below][:MAX_ROUTES]


def _tree_routes(parent: int, children: dict[int, list[dict]], depth: int) -> list[Route]:
    """Routes through sub-partitions; DEFAULT partitions last (they take what others refuse)."""
    routes: list[Route] = []
    ordered = sorted(children.get(parent, []), key=lambda r: r["bound"] == "DEFAULT")
    for child in ordered:
        below = _tree_routes(child["child"], children, depth + 1) if child["relkind"] == "p" and depth < 8 else [{}]
        for here in _bound_routes(child["bound"], child["key_names"]):
            routes.extend({**here, **sub} for sub in below)
        if len(routes) >= MAX_ROUTES:
            break
    return routes


# --------------------------------------------------------------------------------------------
# Partition bounds, as pg_get_expr(relpartbound) prints them:
#   FOR VALUES IN ('eu', 'us')      FOR VALUES FROM ('2024-01-01', MINVALUE) TO ('2024-02-01', 5)
#   FOR VALUES WITH (modulus 4, remainder 0)      DEFAULT
# --------------------------------------------------------------------------------------------

_MINVALUE, _MAXVALUE = object(), object()


@dataclass(frozen=True)
class _Span:
    """A single-column RANGE partition [low, high): values are drawn inside it, so a partition
    key that is also a unique key does not collide on the second row."""

    low: str | None  # None: MINVALUE
    high: str | None  # None: MAXVALUE


Route = dict[str, Any]  # partition key column -> literal text, None (NULL) or a _Span


def _bound_routes(bound: str | None, keys: list[str | None]) -> list[Route]:
    """Key values that land a row in the partition with this bound (keys: the parent's
    partition key columns, None for an expression, which is left to chance)."""
    bound = (bound or "").strip()
    if bound.startswith("FOR VALUES IN"):
        items, _ = _paren_items(bound, bound.index("("))
        return [{keys[0]: item} for item in items[:3] if keys and keys[0]] or [{}]
    if bound.startswith("FOR VALUES FROM"):
        lower, end = _paren_items(bound, bound.index("("))
        upper, _ = _paren_items(bound, bound.index("(", end))
        if len(keys) == 1 and keys[0] and lower and upper:
            low = None if lower[0] is _MINVALUE else lower[0]
            high = None if upper[0] is _MAXVALUE else upper[0]
            if all(v is None or isinstance(v, str) for v in (low, high)) and (low, high) != (None, None):
                return [{keys[0]: _Span(low, high)}]
        route: Route = {}
        for key, low, high in zip(keys, lower, upper):
            # FROM is inclusive: its value lands inside; with MINVALUE, just below TO does.
            value = _just_below(high) if low is _MINVALUE else low
            if key and value is not None and value is not _MAXVALUE:
                route[key] = value
        return [route]
    return [{}]  # DEFAULT, or HASH (any value lands in some remainder if all exist)


def _paren_items(text: str, start: int) -> tuple[list, int]:
    """The comma-separated items of the parenthesised list at text[start]; and where it ends."""
    items: list = []
    depth, token, i, quoted = 0, "", start, False
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == "'" and text[i + 1 : i + 2] == "'":
                token += "''"
                i += 1
            elif ch == "'":
                quoted = False
                token += ch
            else:
                token += ch
        elif ch == "'":
            quoted = True
            token += ch
        elif ch == "(":
            depth += 1
            if depth > 1:
                token += ch
        elif ch == ")":
            depth -= 1
            if depth == 0:
                items.append(_bound_literal(token))
                return items, i + 1
            token += ch
        elif ch == "," and depth == 1:
            items.append(_bound_literal(token))
            token = ""
        else:
            token += ch
        i += 1
    return items, i


def _bound_literal(raw: str) -> Any:
    raw = raw.strip()
    while raw.startswith("(") and raw.endswith(")"):
        raw = raw[1:-1].strip()
    if raw.startswith("'") and raw.endswith("'"):
        return raw[1:-1].replace("''", "'")
    upper = raw.upper()
    return {"NULL": None, "MINVALUE": _MINVALUE, "MAXVALUE": _MAXVALUE}.get(upper, raw)


def _just_below(high: Any) -> str | None:
    """A value just under an exclusive upper bound, for numbers and dates; else None."""
    if not isinstance(high, str):
        return None
    try:
        return str(Decimal(high) - 1)
    except ArithmeticError:
        pass
    day = _as_date(high)
    return (day - timedelta(days=1)).isoformat() if day else None


def _as_int(text: str | None) -> int | None:
    return int(text) if text and re.fullmatch(r"-?\d+", text) else None


def _as_date(text: str | None) -> date | None:
    """The date at the start of a bound such as '2024-01-01' or '2024-01-01 00:00:00+00'."""
    match = re.match(r"^(\d{4})-(\d{2})-(\d{2})", text or "")
    try:
        return date(*map(int, match.groups())) if match else None
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------

_KIND_OF_TYPTYPE = {"e": "enum", "r": "range", "m": "multirange", "c": "composite"}
_INT_KINDS = {"int2", "int4", "int8", "oid"}
_NUMERIC_KINDS = _INT_KINDS | {"numeric", "float4", "float8", "money"}
_TEXT_KINDS = {"text", "varchar", "bpchar", "name", "char", "unknown"}
_INT_LIMITS = {"int2": 32_767, "int4": 2_147_483_647, "int8": 2_147_483_647, "oid": 2_147_483_647}
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_EPOCH = datetime(2020, 1, 1)
# Fixed literals for types where one valid value is as good as another.
_CONSTANTS = {
    "point": "(1,1)", "line": "{1,-1,0}", "lseg": "[(0,0),(1,1)]", "box": "(1,1),(0,0)",
    "path": "[(0,0),(1,1)]", "polygon": "((0,0),(1,1),(1,0))", "circle": "<(0,0),1>",
    "pg_lsn": "0/1", "xml": "<synthetic/>", "range": "empty", "multirange": "{}",
}


class _ValueSource:
    """Fresh values: a seeded random start plus a counter, so each call differs from the last
    (two rows never collide on a unique key) and a seed reproduces a run."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.start = self.rng.randrange(1, 100_000)
        self.count = 0

    def jump(self) -> None:
        """Leave the current sequence after a unique key collided: another synthesizer with the
        same seed (or existing rows) is on it. Reseeding from our own state stays reproducible
        yet lands on a trajectory the other one never took."""
        self.rng = random.Random(self.rng.getrandbits(64) ^ 0x5EED)
        self.start = self.rng.randrange(1, 10**6)

    def number(self, limit: int) -> int:
        """1..limit; distinct across the first `limit` calls."""
        self.count += 1
        return 1 + (self.start + self.count) % limit

    def token(self, length: int) -> str:
        """Exactly `length` characters of [0-9a-z]; distinct across the first 36**length calls."""
        if length <= 0:
            return ""
        n = self.number(36**length) - 1
        chars = []
        for _ in range(length):
            n, digit = divmod(n, 36)
            chars.append(_BASE36[digit])
        return "".join(reversed(chars))

    def letters(self, length: int) -> str:
        """Exactly `length` characters of [a-z]; distinct across the first 26**length calls."""
        n = self.number(26**length) - 1 if length > 0 else 0
        chars = []
        for _ in range(length):
            n, letter = divmod(n, 26)
            chars.append(chr(ord("a") + letter))
        return "".join(reversed(chars))

    def digits(self, length: int) -> str:
        return str(self.number(10**length) - 1).zfill(length) if length > 0 else ""

    def text(self, max_length: int | None) -> str:
        """A short unique string: 's' + 8 characters, or exactly max_length characters when less."""
        if max_length is not None and max_length <= 9:
            return self.token(max_length)
        return "s" + self.token(8)

    def within(self, span: _Span) -> Maker:
        """Values in [low, high) for integer and date bounds (either end may be open); else the
        inclusive low bound, or just below the high one."""
        for parse, step, unit in ((_as_int, 1, lambda n: n), (_as_date, timedelta(days=1), lambda n: timedelta(days=n))):
            low, high = (parse(v) if v is not None else None for v in (span.low, span.high))
            if (span.low is not None and low is None) or (span.high is not None and high is None):
                continue  # not this kind of bound
            width = 10**6 if low is None or high is None else (high - low) // step
            if width < 1:
                break
            if low is not None:
                return lambda low=low, width=width, unit=unit: str(low + unit(self.number(width) - 1))
            return lambda high=high, width=width, unit=unit: str(high - unit(self.number(width)))
        return (lambda: span.low) if span.low is not None else (lambda: _just_below(span.high))

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def for_column(self, column: _Column) -> Any:
        """A value of the column's type (through domains), fresh on every call."""
        kind, mod = column.kind, column.base_typmod
        if kind in _INT_LIMITS:
            return self.number(_INT_LIMITS[kind] - 1)
        if kind == "numeric":
            return self._numeric(mod)
        if kind in ("float4", "float8"):
            return float(self.number(10**6))
        if kind == "money":
            return str(self.number(10**6))
        if kind in ("text", "varchar", "bpchar", "name", "unknown"):
            return self.text(_max_length(column))
        if kind == "char":  # the one-byte "char"
            return self.token(1)
        if kind == "bool":
            return self.number(2) == 1
        if kind == "uuid":
            return self.uuid()
        if kind == "date":
            return _EPOCH.date() + timedelta(days=self.number(3650))
        if kind in ("timestamp", "timestamptz"):
            moment = _EPOCH + timedelta(seconds=self.number(10**8))
            return moment.replace(tzinfo=timezone.utc) if kind == "timestamptz" else moment
        if kind in ("time", "timetz"):
            moment = (datetime.min + timedelta(seconds=self.number(86_399))).time()
            return moment.replace(tzinfo=timezone.utc) if kind == "timetz" else moment
        if kind == "interval":
            return timedelta(seconds=self.number(10**6))
        if kind == "json":
            return Json({})
        if kind == "jsonb":
            return Jsonb({})
        if kind == "bytea":
            return self.token(8).encode()
        if kind in ("inet", "cidr"):
            address = IPv4Address(0x0A000000 + self.number(2**24 - 2))  # 10.0.0.0/8
            return IPv4Network(f"{address}/32") if kind == "cidr" else address
        if kind in ("macaddr", "macaddr8"):
            raw = self.number(2**32 - 1).to_bytes(6 if kind == "macaddr" else 8, "big")
            return ":".join(f"{b:02x}" for b in (b"\x02" + raw[1:]))  # locally administered
        if kind == "bit":
            width = mod if mod > 0 else 1
            return "0" * (width - 1) + "1"
        if kind == "varbit":
            return "1"
        if kind in ("tsvector", "tsquery"):
            return self.token(6)
        if kind == "enum":
            return column.labels[self.number(len(column.labels)) - 1] if column.labels else self.text(None)
        if kind == "array":
            return []
        if kind == "composite":
            return "(" + "," * max(column.natts - 1, 0) + ")"  # every attribute NULL
        if kind in _CONSTANTS:
            return _CONSTANTS[kind]
        return self.text(None)

    def _numeric(self, typmod: int) -> Decimal:
        """Within numeric(p,s): a small integer when integer digits are allowed, else a fraction."""
        if typmod < 4:
            return Decimal(self.number(10**6))
        precision = ((typmod - 4) >> 16) & 0xFFFF
        scale = (((typmod - 4) & 0x7FF) ^ 1024) - 1024  # PostgreSQL 15 allows negative scales
        integer_digits = precision - scale
        if 1 <= integer_digits and scale >= 0:
            return Decimal(self.number(10 ** min(integer_digits, 6) - 1))
        return Decimal(self.number(10 ** min(precision, 6) - 1)).scaleb(-scale)


_BUILTIN_KINDS = {
    "int2", "int4", "int8", "oid", "numeric", "float4", "float8", "money", "text", "varchar",
    "bpchar", "name", "char", "bool", "uuid", "date", "timestamp", "timestamptz", "time", "timetz",
    "interval", "json", "jsonb", "bytea", "inet", "cidr", "macaddr", "macaddr8", "bit", "varbit",
    "tsvector", "tsquery", "point", "line", "lseg", "box", "path", "polygon", "circle", "pg_lsn", "xml",
}


def _max_length(column: _Column) -> int | None:
    """varchar(n) / char(n): n; char without length is char(1); else unbounded."""
    if column.kind in ("varchar", "bpchar") and column.base_typmod >= 4:
        return column.base_typmod - 4
    return 1 if column.kind == "bpchar" else None


# --------------------------------------------------------------------------------------------
# CHECK candidates: literals the constraint itself mentions, and values around them
# --------------------------------------------------------------------------------------------

_QUOTED = re.compile(r"'((?:[^']|'')*)'")
_NUMBER = re.compile(r"(?<![\w.$\"])-?\d+(?:\.\d+)?(?![\w.])")
_NUMERIC_TEXT = re.compile(r"^-?\d+(?:\.\d+)?$")


def _literals(definition: str) -> tuple[list[str], list[Decimal]]:
    """Quoted strings and numbers in a constraint definition, in order, without repeats.
    pg_get_constraintdef prints IN as = ANY (ARRAY['a'::text, ...]) and BETWEEN as >= AND <=."""
    strings = list(dict.fromkeys(m.group(1).replace("''", "'") for m in _QUOTED.finditer(definition)))
    bare = _NUMBER.findall(_QUOTED.sub(" ", definition))
    numbers = [Decimal(n) for n in bare] + [Decimal(s) for s in strings if _NUMERIC_TEXT.match(s)]
    # Last, counts inside strings: a pattern's '^[A-Z]{3}$' asks for three characters.
    numbers += [Decimal(n) for s in strings for n in re.findall(r"\d+", s)]
    return strings, list(dict.fromkeys(numbers))


def _around(x: Decimal, integral: bool) -> list[Decimal]:
    """x and its neighbours: satisfies = x, >= x, > x, < x, <= x, BETWEEN x AND ..."""
    values = [x, x + 1, x - 1]
    if integral:
        values = [v.to_integral_value(rounding="ROUND_FLOOR") for v in values] + [
            x.to_integral_value(rounding="ROUND_CEILING")
        ]
    return list(dict.fromkeys(values))


# --------------------------------------------------------------------------------------------
# A row in the making
# --------------------------------------------------------------------------------------------


@dataclass
class _Draft:
    """The values proposed for one row, and what may still change when the server refuses them."""

    table: _Table
    values: dict[str, Any] = field(default_factory=dict)
    makers: dict[str, Maker] = field(default_factory=dict)  # columns whose value can be regenerated
    pinned: set[str] = field(default_factory=set)  # the tenant column: never changes
    linked: set[str] = field(default_factory=set)  # FK columns: change only with their parent
    mirrors: dict[str, str] = field(default_factory=dict)  # self-reference: column copies column
    check_iterators: dict[tuple, Iterator[dict[str, Maker]]] = field(default_factory=dict)
    active_check: _Check | None = None  # the CHECK whose candidates are being tried
    routes: Iterator[Route] = field(default_factory=lambda: iter(()))
    unique_retries: int = 0
    reroutes: int = 0

    def fixed(self, name: str) -> bool:
        return name in self.pinned or name in self.linked

    def pin(self, name: str, value: Any) -> None:
        self.values[name] = value
        self.pinned.add(name)

    def link(self, name: str, value: Any) -> None:
        self.values[name] = value
        self.linked.add(name)
        self.makers.pop(name, None)

    def unlink(self, name: str) -> None:
        """Leave an FK column NULL."""
        self.values.pop(name, None)
        self.linked.add(name)
        self.makers.pop(name, None)

    def set(self, name: str, maker: Maker) -> None:
        self.makers[name] = maker
        self.values[name] = maker()
        self._sync()

    def refresh(self) -> None:
        """New values for every generated column: a unique key collided."""
        for name, maker in self.makers.items():
            self.values[name] = maker()
        self._sync()

    def _sync(self) -> None:
        for name, source in self.mirrors.items():
            self.values[name] = self.values.get(source)


# --------------------------------------------------------------------------------------------
# The synthesizer
# --------------------------------------------------------------------------------------------


class Synthesizer:
    """Makes rows that satisfy a table's constraints, inside the caller's transaction.

    Catalog facts for ``table_oids`` (and every table they reference by FK, and the tenants
    table) are loaded once here, in a fixed number of queries.
    """

    def __init__(
        self,
        conn: psycopg.Connection,
        table_oids: list[int],
        *,
        tenant_column: str,
        tenant_table_oid: int,
        seed: int = 0,
        as_owner: bool = False,
        also: list[int] = (),
        tenant_fill: tuple[str, ...] = (),
    ):
        self.conn = conn
        self.tenant_column = tenant_column
        self.tenant_table_oid = tenant_table_oid
        self.as_owner = as_owner
        self._fallback = False  # see insert_row(fallback=...)
        self._auditor_verdicts: dict[int, str | None] = {}
        # The role inserting now: a table it owns needs no switch (two round trips per attempt).
        self._me = conn.execute("SELECT current_user::pg_catalog.text").fetchone()[0] if as_owner else None
        self._requested = list(dict.fromkeys(table_oids))
        self._values = _ValueSource(seed)
        # ``also``: tables rows are made in without being probed (a membership model's users,
        # memberships and sessions): loaded with the rest, not in order().
        self._tables, self._domain_checks = _load_catalog(conn, [*self._requested, tenant_table_oid, *also])
        for oid in [*self._requested, tenant_table_oid, *also]:
            if oid not in self._tables:
                raise ValueError(f"no table with oid {oid}")
        # Columns of the tenants table that a wider foreign key references beside its key, e.g.
        # (tenant_id, region) -> tenants (id, region): a synthetic tenant gets a value in each
        # (even if nullable), since a tenant row's child must reference that very tenant row.
        self._tenant_fill = {
            ref
            for table in self._tables.values()
            for fk in table.fks
            if fk.ref_table == tenant_table_oid and len(fk.ref_columns) > 1
            for ref in fk.ref_columns
        }
        # and columns the caller needs on every synthetic tenant (a mapped model's slug, even if nullable)
        self._tenant_fill |= {name for name in tenant_fill if name in self._tables[tenant_table_oid].columns}

    # ---- public API ----

    def order(self) -> list[int]:
        """The tables asked for, parents before children (FK order through any table);
        self-references are ignored and cycles are broken where first met."""
        seen: set[int] = set()
        ordered: list[int] = []

        def visit(oid: int) -> None:
            if oid in seen:
                return
            seen.add(oid)
            for fk in self._tables[oid].fks:
                if fk.ref_table != oid:
                    visit(fk.ref_table)
            ordered.append(oid)

        for oid in self._requested:
            visit(oid)
        wanted = set(self._requested)
        return [oid for oid in ordered if oid in wanted]

    def new_tenant(self) -> Any:
        """Insert a synthetic tenant; return its primary-key value (a tuple for a composite key)."""
        table = self._table(self.tenant_table_oid)
        if not table.primary_key:
            raise Unsatisfiable(f"tenants table {table.display} has no primary key")
        row = self.insert_row(self.tenant_table_oid, None, fallback=True)
        key = tuple(row.values[name] for name in table.primary_key)
        return key[0] if len(key) == 1 else key

    def insert_row(
        self, table_oid: int, tenant: Any, *, parents: dict[int, RowRef] | None = None, fallback: bool = False,
        fixed: dict[str, Any] | None = None,
    ) -> RowRef:
        """Insert one row of tenant `tenant` (FKs to `parents` where given, columns in ``fixed`` set
        to those values, e.g. a membership's user). Raises Unsatisfiable.

        With ``as_owner`` and ``fallback``, a row that row level security refuses to the owner
        (FORCEd policies that do not admit it) is inserted by the current role instead, where that
        runs none of the owner's code (see _auditor_refuses)."""
        self._fallback = fallback
        try:
            row, _ = self._synthesize(
                self._table(table_oid), tenant, parents or {}, keep=True, depth=0, path=frozenset(), fixed=fixed
            )
        finally:
            self._fallback = False
        assert row is not None
        return row

    def make_row_values(
        self, table_oid: int, tenant: Any, parents: dict[int, RowRef] | None = None, *, verify: bool = True,
        fixed: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The column -> value mapping insert_row would use; no row of this table is left behind.

        With verify (the default) the values are proven by an INSERT that is rolled back to its
        savepoint (so defaults' sequences advance and triggers fire, as with insert_row); if the
        current role or tenant setting may not insert that row (SQLSTATE 42501, e.g. RLS for
        another tenant), the values are returned unproven. Parent rows an FK needs may be
        inserted (and kept) either way. ``verify=False`` only proposes, without any INSERT.
        """
        table = self._table(table_oid)
        if not verify:
            return dict(self._draft(table, tenant, parents or {}, depth=0, path=frozenset(), fixed=fixed).values)
        _, values = self._synthesize(table, tenant, parents or {}, keep=False, depth=0, path=frozenset(), fixed=fixed)
        return values

    def foreign_key_of(self, table_oid: int, column: str) -> tuple[int, str] | None:
        """(referenced table oid, referenced column) of the single-column foreign key on
        ``column``, if there is one (a membership's user column -> users.id)."""
        for fk in self._table(table_oid).fks:
            if fk.columns == (column,):
                return fk.ref_table, fk.ref_columns[0]
        return None

    def value_for(self, table_oid: int, column: str) -> Any:
        """A fresh value of ``column``'s type (a user id where users are no table here)."""
        return self._values.for_column(self._table(table_oid).columns[column])

    def insert_statement(self, table_oid: int, values: dict[str, Any]) -> tuple[sql.Composed, list[Any]]:
        """INSERT for `values` with each parameter cast to its column type: for callers that run
        the INSERT themselves (e.g. as another role). Execute it with the returned parameters."""
        table = self._table(table_oid)
        columns = [c for c in table.columns.values() if c.name in values]
        target = _qualified(table)
        if not columns:
            return sql.SQL("INSERT INTO {} DEFAULT VALUES").format(target), []
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            target,
            sql.SQL(", ").join(_identifier(c.name) for c in columns),
            sql.SQL(", ").join(sql.SQL("{}::{}").format(sql.Placeholder(), _type_sql(c.cast)) for c in columns),
        )
        return query, [values[c.name] for c in columns]

    # ---- making one row ----

    def _table(self, oid: int) -> _Table:
        try:
            return self._tables[oid]
        except KeyError:
            raise ValueError(f"table oid {oid} was not loaded by this Synthesizer") from None

    def _synthesize(
        self, table: _Table, tenant: Any, parents: dict[int, RowRef], *, keep: bool, depth: int, path: frozenset,
        fixed: dict[str, Any] | None = None,
    ) -> tuple[RowRef | None, dict[str, Any]]:
        """Propose a row, let the server judge it, adjust, repeat. Each attempt is a savepoint."""
        self._require_transaction()
        if self.as_owner and not table.can_become:
            raise Unsatisfiable(self.owner_unreachable(table))
        draft = self._draft(table, tenant, parents, depth=depth, path=path, fixed=fixed)
        as_auditor = False
        for _ in range(MAX_ATTEMPTS):
            try:
                with self.conn.transaction() as savepoint:
                    with self._owner_of(table, not as_auditor):
                        row = self._execute_insert(table, draft.values)
                    if not keep:
                        raise psycopg.Rollback(savepoint)
                return (row if keep else None), dict(draft.values)
            except psycopg.errors.InsufficientPrivilege as exc:
                if not keep:
                    return None, dict(draft.values)  # proposed, not provable as this role/tenant
                if self.as_owner and not as_auditor and self._fallback and exc.diag.source_function == _RLS_REFUSAL:
                    why = self._auditor_refuses(table)
                    if why is None:
                        as_auditor = True
                        continue
                    raise Unsatisfiable(
                        f"{self._failure(draft, exc)} (as its owner, under FORCE ROW LEVEL SECURITY); the auditing "
                        f"role would insert it itself only where that runs no code of the owner's, but {why}"
                    ) from None
                raise Unsatisfiable(self._failure(draft, exc)) from None
            except psycopg.Error as exc:
                self._recover(draft, exc, tenant, parents, depth, path)
        raise Unsatisfiable(f"no row for {table.display} within {MAX_ATTEMPTS} attempts")

    def _draft(
        self, table: _Table, tenant: Any, parents: dict[int, RowRef], *, depth: int, path: frozenset,
        fixed: dict[str, Any] | None = None,
    ) -> _Draft:
        """The first proposal: fixed columns, tenant column, NOT NULL columns without default, FKs, a partition."""
        draft = _Draft(table)
        for name, value in (fixed or {}).items():
            if name not in table.columns:
                raise ValueError(f"{table.display} has no column {name!r}")
            draft.pin(name, value)
        tenant_col = table.columns.get(self.tenant_column)
        if tenant_col is not None and table.oid != self.tenant_table_oid and tenant is not None and not draft.fixed(tenant_col.name):
            draft.pin(tenant_col.name, tenant)
        fk_columns = {name for fk in table.fks for name in fk.columns}
        for column in table.columns.values():
            if draft.fixed(column.name) or column.name in fk_columns:
                continue
            if column.settable and not column.defaulted and (
                column.notnull or (table.oid == self.tenant_table_oid and column.name in self._tenant_fill)
            ):
                draft.set(column.name, self._maker(column))
        self._resolve_fks(draft, tenant, parents, depth, path, fresh=False)
        if table.routes is not None:
            draft.routes = iter(table.routes)
            self._next_route(draft)
        return draft

    def _maker(self, column: _Column) -> Maker:
        return lambda: self._values.for_column(column)

    def _auditor_refuses(self, table: _Table) -> str | None:
        """Why the auditing role will not insert into ``table`` itself (None: it may). The
        fallback for a table whose FORCEd policies refuse its own owner even with the tenant set
        (e.g. policies only TO the app role): the auditing role inserts only if it bypasses RLS
        (so no policy function runs) and the INSERT runs nothing but PostgreSQL's own side-effect-
        free functions (defaults, CHECKs of the table and its domains, index expressions; no
        trigger, no rule; on every partition): then none of the owner's code runs with its rights."""
        if table.oid not in self._auditor_verdicts:
            bypasses, owner_code = self.conn.execute(_AUDITOR_MAY_INSERT, (table.oid, list(_HARMLESS_VOLATILE))).fetchone()
            if not bypasses:
                verdict = "the auditing role does not bypass row level security"
            elif owner_code:
                verdict = f"inserting into {table.display} runs {owner_code}"
            else:
                verdict = None
            self._auditor_verdicts[table.oid] = verdict
        return self._auditor_verdicts[table.oid]

    def owner_unreachable(self, table: _Table) -> str:
        me = self.conn.execute("SELECT pg_catalog.quote_ident(current_user)").fetchone()[0]
        return (
            f"the auditing role cannot SET ROLE {table.owner_display}, the owner of {table.display}, to insert "
            f"synthetic rows with the owner's rights (never its own): GRANT {table.owner_display} TO {me}, "
            f"or audit as {table.owner_display}"
        )

    @contextmanager
    def _owner_of(self, table: _Table, switch: bool = True) -> Iterator[None]:
        """With ``as_owner``: the block runs as the table's owner. Only ever inside a savepoint:
        if the block fails, rolling the savepoint back restores the role; if it succeeds, the
        role is put back here, before the savepoint is released."""
        if not (self.as_owner and switch):
            yield
            return
        # The owner's role and the owner's search_path: a default such as make_code() whose body
        # calls an unqualified helper resolves it as in the owner's own sessions, not under the
        # auditor's pg_catalog-only path. (Side effects were judged for any schema's namesakes.)
        # (A table the auditor owns needs no role switch: current_setting('role') stays as it is.)
        role = None if table.owner == self._me else table.owner
        prior_role, prior_path = self.conn.execute(
            "SELECT pg_catalog.current_setting('role'), pg_catalog.current_setting('search_path'),"
            " pg_catalog.set_config('role', COALESCE(%s, pg_catalog.current_setting('role')), true),"
            " pg_catalog.set_config('search_path', %s, true)",
            (role, table.search_path),
        ).fetchone()[:2]
        yield
        self.conn.execute(
            "SELECT pg_catalog.set_config('role', %s, true), pg_catalog.set_config('search_path', %s, true)",
            (prior_role, prior_path),
        )

    def _next_route(self, draft: _Draft) -> bool:
        """Set the partition key columns to the next route's values (the tenant column stays)."""
        route = next(draft.routes, None)
        if route is None:
            return False
        for name, value in route.items():
            column = draft.table.columns.get(name)
            if column is not None and column.settable and not draft.fixed(name):
                draft.set(name, self._values.within(value) if isinstance(value, _Span) else (lambda v=value: v))
        return True

    def _execute_insert(self, table: _Table, values: dict[str, Any]) -> RowRef:
        query, params = self.insert_statement(table.oid, values)
        query = query + sql.SQL(" RETURNING tableoid::pg_catalog.oid, ctid::pg_catalog.text, *")
        with self.conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(query, params)
            row = cur.fetchone()
            names = [d.name for d in cur.description][2:]
        return RowRef(table.oid, row[0], row[1], dict(zip(names, row[2:])))

    def _require_transaction(self) -> None:
        # Outside a transaction, conn.transaction() would BEGIN and COMMIT: synthetic rows must
        # only ever live in a transaction the caller rolls back.
        if self.conn.info.transaction_status != pq.TransactionStatus.INTRANS:
            raise RuntimeError(
                "Synthesizer inserts only inside an open transaction that the caller rolls back "
                f"(connection is {self.conn.info.transaction_status.name})"
            )

    # ---- when the server refuses ----

    def _recover(
        self, draft: _Draft, exc: psycopg.Error, tenant: Any, parents: dict[int, RowRef], depth: int, path: frozenset
    ) -> None:
        """Adjust the draft for the next attempt, or raise Unsatisfiable."""
        if self.conn.broken:
            raise exc  # the connection is gone: not a property of the row
        state = exc.sqlstate or ""
        if is_server_side(state):
            raise exc  # the server's trouble (lock table full, lock timeout, cancel): not the row's
        if state == "23514":  # check_violation (also: partition routing)
            self._on_check_violation(draft, exc)
        elif state == "23505":  # unique_violation
            self._on_unique_violation(draft, exc, tenant, parents, depth, path)
        elif state == "23502" and self._fill_null(draft, exc.diag.column_name):
            pass
        elif state.startswith("22") and draft.active_check is not None:
            # A CHECK candidate the column's type cannot take ('abc' for an integer): next one.
            self._next_candidates(draft, draft.active_check)
        else:
            raise Unsatisfiable(self._failure(draft, exc))

    def _on_unique_violation(
        self, draft: _Draft, exc: psycopg.Error, tenant: Any, parents: dict[int, RowRef], depth: int, path: frozenset
    ) -> None:
        """Fresh values for the key; if the key holds FK columns (a one-to-one child), a fresh
        parent too. A key made only of the tenant column cannot be helped."""
        key = _unique_key_columns(exc.diag.message_detail)
        draft.unique_retries += 1
        if draft.unique_retries > MAX_UNIQUE_RETRIES or (key and key <= draft.pinned):
            raise Unsatisfiable(self._failure(draft, exc))
        if key & draft.linked or (not key and draft.unique_retries > 1):
            self._resolve_fks(draft, tenant, parents, depth, path, fresh=True, only=key or None)
        self._values.jump()
        draft.refresh()

    def _on_check_violation(self, draft: _Draft, exc: psycopg.Error) -> None:
        table, diag = draft.table, exc.diag
        if diag.constraint_name is None:
            # "no partition of relation ... found for row" / "violates partition constraint":
            # the next known route, else fresh values (a HASH partition set with gaps).
            if table.routes is None:
                raise Unsatisfiable(self._failure(draft, exc))
            if not self._next_route(draft):
                draft.reroutes += 1
                if draft.reroutes > MAX_REROUTES:
                    raise Unsatisfiable(f"no partition of {table.display} accepts the synthetic row")
                draft.refresh()
            return
        if diag.datatype_name:
            check = self._domain_checks.get((diag.schema_name, diag.datatype_name, diag.constraint_name))
        else:
            check = table.checks.get(diag.constraint_name)
        if check is None:  # e.g. a CHECK that only a partition has
            raise Unsatisfiable(f"CHECK constraint {diag.constraint_name} on {table.display} could not be satisfied")
        self._next_candidates(draft, check)

    def _next_candidates(self, draft: _Draft, check: _Check) -> None:
        key = (check.domain, check.name)
        if key not in draft.check_iterators:
            draft.check_iterators[key] = self._combinations(draft, check)
        combo = next(draft.check_iterators[key], None)
        if combo is None:
            where = f"domain {check.domain_name} of " if check.domain else ""
            raise Unsatisfiable(f"CHECK constraint {check.name} on {where}{draft.table.display} could not be satisfied")
        for name, maker in combo.items():
            draft.set(name, maker)
        draft.active_check = check

    def _combinations(self, draft: _Draft, check: _Check) -> Iterator[dict[str, Maker]]:
        """Candidate values for the columns a CHECK mentions (the tenant and FK columns stay)."""
        if check.domain is not None:
            names = [c.name for c in draft.table.columns.values() if check.domain in c.domains]
        else:
            names = list(check.columns)
        columns = [draft.table.columns[n] for n in names if not draft.fixed(n) and draft.table.columns[n].settable]
        if not columns:
            return iter(())
        lists = [self._candidates(column, check.definition) for column in columns]
        return (
            {column.name: maker for column, maker in zip(columns, combo)}
            for combo in islice(product(*lists), MAX_COMBOS)
        )

    def _candidates(self, column: _Column, definition: str) -> list[Maker]:
        """Literals from the constraint first (as text, cast by the server), then fresh values;
        NULL last for a nullable column (CHECK (num_nonnulls(a, b) = 1))."""
        strings, numbers = _literals(definition)
        literals: list[Any] = []
        fresh: list[Maker] = []
        first: list[Maker] = []
        kind = column.kind
        if kind in _NUMERIC_KINDS:
            literals += [str(v) for x in numbers for v in _around(x, integral=kind in _INT_KINDS)]
        elif kind in _TEXT_KINDS:
            if any("@" in text for text in strings) and (_max_length(column) or 64) >= 22:
                # An e-mail CHECK (x ~ '@', a ~* '^[^@]+@...\.[a-z]{2,}$' pattern): a fresh address
                # satisfies most, and unlike the literal '@' stays unique under UNIQUE (tenant, email): first.
                first.append(lambda: self._values.text(None) + "@example.com")
            literals += strings
            fresh += self._text_of_lengths(column, numbers)
            literals += [str(x) for x in numbers]
        elif kind == "enum":
            literals += [s for s in strings if s in column.labels] + list(column.labels)
        elif kind == "bool":
            literals += ["true", "false"]
        else:
            literals += strings  # dates, uuids, ...: whatever the constraint compares with
        makers = first + [(lambda v=v: v) for v in dict.fromkeys(literals)] + fresh
        makers = makers[: MAX_CANDIDATES - 3] + [self._maker(column)] * 3
        if not column.notnull:
            makers.append(lambda: None)
        return makers

    def _text_of_lengths(self, column: _Column, numbers: list[Decimal]) -> list[Maker]:
        """For length(x) = n / char_length(x) > n: strings of n, n+1, n-1 characters, in
        lowercase, uppercase and digits (x ~ '^[A-Z]{3}$' is satisfied by one of them)."""
        limit = _max_length(column)
        out: list[Maker] = []
        for x in numbers:
            if x != x.to_integral_value() or not 0 <= x <= 255:
                continue
            for n in dict.fromkeys((int(x), int(x) + 1, int(x) - 1)):
                if n < 0 or (limit is not None and n > limit):
                    continue
                out += [
                    lambda n=n: self._values.letters(n),
                    lambda n=n: self._values.letters(n).upper(),
                    lambda n=n: self._values.digits(n),
                ]
        return out

    def _fill_null(self, draft: _Draft, name: str | None) -> bool:
        """A NOT NULL the catalog did not show (e.g. a trigger or an explicit DEFAULT NULL)."""
        column = draft.table.columns.get(name or "")
        if column is None or not column.settable or draft.fixed(column.name) or draft.values.get(column.name) is not None:
            return False
        draft.set(column.name, self._maker(column))
        return True

    def _failure(self, draft: _Draft, exc: psycopg.Error) -> str:
        """The safe form of the server's error (db.server_message): a CHECK function's RAISE or
        a DETAIL can carry the values of rows; with the draft's own values masked as well."""
        return f"INSERT into {draft.table.display} failed: {_redact(server_message(exc), draft.values)}"

    # ---- foreign keys ----

    def _resolve_fks(
        self,
        draft: _Draft,
        tenant: Any,
        parents: dict[int, RowRef],
        depth: int,
        path: frozenset,
        *,
        fresh: bool,
        only: set[str] | None = None,
    ) -> None:
        """Point every FK (or those with a column in `only`) at a row: the caller's parent, else
        an existing row, else a new one (always a new one when `fresh`)."""
        table = draft.table
        for fk in table.fks:
            if only is not None and not only & set(fk.columns):
                continue
            pairs = [(local, ref) for local, ref in zip(fk.columns, fk.ref_columns) if local not in draft.pinned]
            pairs = [(local, ref) for local, ref in pairs if table.columns[local].settable]
            if not pairs:
                continue  # e.g. tenant_id -> tenants(id): the tenant column already says it
            target = self._fk_target(draft, fk, pairs, tenant, parents, depth, path, fresh)
            for local, _ in pairs:
                if target is None:
                    draft.unlink(local)
                elif local not in draft.mirrors:
                    draft.link(local, target[local])

    def _fk_target(
        self,
        draft: _Draft,
        fk: _ForeignKey,
        pairs: list[tuple[str, str]],
        tenant: Any,
        parents: dict[int, RowRef],
        depth: int,
        path: frozenset,
        fresh: bool,
    ) -> dict[str, Any] | None:
        """Values for the FK's free columns, or None to leave them NULL (only when nullable)."""
        table, ref = draft.table, self._tables[fk.ref_table]
        nullable = all(not table.columns[local].notnull for local, _ in pairs)
        pinned = {r: draft.values[l] for l, r in zip(fk.columns, fk.ref_columns) if l in draft.pinned}
        if fk.ref_table in parents:
            parent = parents[fk.ref_table]
            return {local: parent.values[r] for local, r in pairs}
        if fk.ref_table == table.oid:  # self-reference
            if nullable:
                return None
            existing = None if fresh else self._existing_row(ref, [r for _, r in pairs], pinned, tenant)
            return _existing_as(pairs, existing) if existing else self._point_at_itself(draft, fk, pairs)
        if depth >= MAX_DEPTH or fk.ref_table in path:
            if nullable:
                return None
            raise Unsatisfiable(
                f"foreign key {fk.name} on {table.display}: cannot make a row of {ref.display} (cycle or deeper than {MAX_DEPTH})"
            )
        if not fresh:
            existing = self._existing_row(ref, [r for _, r in pairs], pinned, tenant)
            if existing:
                return _existing_as(pairs, existing)
        try:
            parent, _ = self._synthesize(ref, tenant, parents, keep=True, depth=depth + 1, path=path | {table.oid})
        except Unsatisfiable as exc:
            if nullable:
                return None
            raise Unsatisfiable(f"foreign key {fk.name} on {table.display} needs a row of {ref.display}: {exc.reason}") from None
        assert parent is not None
        return {local: parent.values[r] for local, r in pairs}

    def _point_at_itself(self, draft: _Draft, fk: _ForeignKey, pairs: list[tuple[str, str]]) -> dict[str, Any]:
        """A NOT NULL self-reference with no row to point at: the row references itself, so the
        referenced columns are set explicitly (even if they have a default) and mirrored."""
        for local, ref in pairs:
            column = draft.table.columns[ref]
            if not column.settable:
                raise Unsatisfiable(f"foreign key {fk.name} on {draft.table.display} references itself through a generated column")
            if draft.values.get(ref) is None and not draft.fixed(ref):
                draft.set(ref, self._maker(column))
            draft.mirrors[local] = ref
            draft.linked.add(local)
        draft._sync()
        return {local: draft.values.get(ref) for local, ref in pairs}

    def _existing_row(self, table: _Table, columns: list[str], pinned: dict[str, Any], tenant: Any) -> dict[str, Any] | None:
        """SELECT the referenced columns of one row (of this tenant, when the table has a tenant
        column), as the current role; None if there is none or it may not be read."""
        conditions = [sql.SQL("{} IS NOT NULL").format(_identifier(c)) for c in columns]
        params: list[Any] = []
        filters = dict(pinned)
        tenant_col = table.columns.get(self.tenant_column)
        if tenant is not None and tenant_col is not None and table.oid != self.tenant_table_oid:
            filters.setdefault(tenant_col.name, tenant)
        for name, value in filters.items():
            conditions.append(
                sql.SQL("{} = {}::{}").format(_identifier(name), sql.Placeholder(), _type_sql(table.columns[name].cast))
            )
            params.append(value)
        query = sql.SQL("SELECT {} FROM {} WHERE {} LIMIT 1").format(
            sql.SQL(", ").join(_identifier(c) for c in columns), _qualified(table), sql.SQL(" AND ").join(conditions)
        )
        if self.as_owner and not table.can_become:
            return None  # making a new row says why
        try:
            with self.conn.transaction(), self._owner_of(table), self.conn.cursor(row_factory=tuple_row) as cur:
                row = cur.execute(query, params).fetchone()
        except psycopg.Error as exc:
            if self.conn.broken or is_server_side(exc.sqlstate or ""):
                raise
            return None
        return dict(zip(columns, row)) if row else None


def is_server_side(state: str) -> bool:
    """SQLSTATEs that say the server could not do the work now, not that the row was wrong:
    insufficient resources (53: out of shared memory, too many connections), lock not available,
    query canceled (a timeout), operator intervention and connection failures."""
    return state[:2] in ("53", "57", "08", "58") or state in ("55P03", "40001", "40P01")


def _unique_key_columns(detail: str | None) -> set[str]:
    """The column names of a violated unique key, from DETAIL "Key (a, b)=(...) already exists."
    Only the names are read: the values in DETAIL are row data and go nowhere."""
    match = re.match(r"Key \((.*?)\)=\(", detail or "")
    if not match:
        return set()
    return {name.strip().strip('"').replace('""', '"') for name in match.group(1).split(",")}


def _existing_as(pairs: list[tuple[str, str]], existing: dict[str, Any]) -> dict[str, Any]:
    """Map a referenced row's key values onto the FK's local column names."""
    return {local: existing[ref] for local, ref in pairs}


# --------------------------------------------------------------------------------------------
# SQL composition. psycopg reads '%' in a composed query as a placeholder even inside a quoted
# identifier, so names are quoted here and '%' doubled.
# --------------------------------------------------------------------------------------------


def _identifier(name: str) -> sql.Composable:
    from ..db import identifier

    return identifier(name)


def _qualified(table: _Table) -> sql.Composed:
    return sql.SQL(".").join([_identifier(table.schema), _identifier(table.name)])


def _type_sql(cast: str) -> sql.SQL:
    """A type name from format_type / quote_ident (catalog output, never user input)."""
    return sql.SQL(cast.replace("%", "%%"))


def _redact(message: str, values: dict[str, Any]) -> str:
    """Drop any synthetic value a trigger may have echoed into its message."""
    for value in values.values():
        text = str(value) if value is not None else ""
        if len(text) >= 4 and text in message:
            message = message.replace(text, "…")
    return message
