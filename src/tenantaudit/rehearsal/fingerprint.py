"""Fingerprints computed inside the server: what a database holds, without moving rows out.

Two kinds, compared the same way:

- A *schema fingerprint* is a normalized snapshot of the catalog: one entry per object, keyed
  ``"<kind> <qualified name>"`` (``"column public.leads.tenant_id"``), valued by a one-line,
  deterministic description (``"uuid not null"``). It holds no OIDs, no column positions and no
  timestamps, and it is read with ``search_path`` set to ``pg_catalog`` (and the other output
  settings pinned) so every name the server prints is schema-qualified the same way whatever the
  caller's session looks like. A bounded number of catalog queries builds it (one per kind of
  object, never one per table).
- A *data fingerprint* is, per table, its row count and an order-independent hash of its rows,
  computed by the server in one pass over the table.

``diff_schema`` and ``diff_data`` turn two snapshots into a sorted list of ``Difference``s, each of
which ``describe()``s itself as a sentence ("column public.leads.tenant_id still exists").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from ..errors import SandboxError

SchemaFingerprint = dict[str, str]
DataFingerprint = dict[str, tuple[int, str]]

__all__ = [
    "DataFingerprint",
    "Difference",
    "SchemaFingerprint",
    "data_fingerprint",
    "diff_data",
    "diff_schema",
    "column_hashes",
    "row_hashes",
    "schema_fingerprint",
    "table_columns",
]


# --------------------------------------------------------------------------------------------
# Schema fingerprint
# --------------------------------------------------------------------------------------------

# Schemas in scope: every user schema (pg_catalog, pg_toast, pg_temp_N, pg_toast_temp_N and
# information_schema are out), optionally restricted to the caller's list.
_NS = """
ns AS (
  SELECT n.oid, n.nspname
  FROM pg_catalog.pg_namespace n
  WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
    AND (%(schemas)s::text[] IS NULL OR n.nspname = ANY (%(schemas)s::text[]))
)"""

# Relations in scope: in a schema in scope and not a member of an extension (the extension is
# listed instead). Children of a relation (columns, indexes, constraints, policies, triggers)
# follow their relation.
_RELS = """
rels AS (
  SELECT c.oid, c.relname, c.relkind, c.relowner, c.relacl, c.relpersistence, c.relispartition,
         c.relrowsecurity, c.relforcerowsecurity, c.reloptions, c.relreplident, c.relispopulated,
         c.reltablespace, ns.nspname, ns.nspname || '.' || c.relname AS qname
  FROM pg_catalog.pg_class c
  JOIN ns ON ns.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S')
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
)"""


def _not_extension_member(catalog: str, oid_expr: str) -> str:
    return (
        "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d"
        f" WHERE d.classid = 'pg_catalog.{catalog}'::pg_catalog.regclass"
        f" AND d.objid = {oid_expr} AND d.deptype = 'e')"
    )


def _acl_text(acl: str, owner: str) -> str:
    """SQL for an ACL as text: 'grantee:PRIV,PRIV; ...' sorted, the owner shown as 'owner',
    the public pseudo-role as 'PUBLIC', '*' after a privilege held WITH GRANT OPTION. NULL when empty."""
    return f"""(SELECT pg_catalog.string_agg(g.who || ':' || g.privs, '; ' ORDER BY g.who)
   FROM (SELECT CASE WHEN x.grantee = {owner} THEN 'owner'
                     WHEN x.grantee = 0 THEN 'PUBLIC'
                     ELSE pg_catalog.pg_get_userbyid(x.grantee)::text END AS who,
                pg_catalog.string_agg(DISTINCT x.privilege_type || CASE WHEN x.is_grantable THEN '*' ELSE '' END, ','
                                      ORDER BY x.privilege_type || CASE WHEN x.is_grantable THEN '*' ELSE '' END) AS privs
         FROM pg_catalog.aclexplode({acl}) x
         GROUP BY 1) g)"""


def _grant_rows(key: str, acl: str, owner: str, objtype: str) -> tuple[str, str]:
    """SELECT list and WHERE condition for an object's grants (``objtype`` is an SQL "char"
    expression for acldefault). A row is emitted only when the grants differ from the defaults
    PostgreSQL gives a new object of that type (a NULL ACL means the defaults), so granting then
    revoking compares equal to never granting."""
    default = f"pg_catalog.acldefault({objtype}, {owner})"
    normalized = _acl_text(f"COALESCE({acl}, {default})", owner)
    return (
        f"SELECT {key}, COALESCE({normalized}, 'none')",
        f"{normalized} IS DISTINCT FROM {_acl_text(default, owner)}",
    )


def _schema_queries(version: int) -> list[str]:
    with_ = f"WITH {_NS},\n{_RELS}\n"
    queries: list[str] = []

    # schemas, their owners and grants
    queries.append(with_ + f"""
SELECT 'schema ' || ns.nspname, 'schema' FROM ns
WHERE {_not_extension_member('pg_namespace', 'ns.oid')}
UNION ALL
SELECT 'owner schema ' || ns.nspname, pg_catalog.pg_get_userbyid(n.nspowner)::text
FROM ns JOIN pg_catalog.pg_namespace n ON n.oid = ns.oid
WHERE {_not_extension_member('pg_namespace', 'ns.oid')}""")
    select, where = _grant_rows("'grant schema ' || ns.nspname", "n.nspacl", "n.nspowner", "'n'")
    queries.append(with_ + f"""{select}
FROM ns JOIN pg_catalog.pg_namespace n ON n.oid = ns.oid
WHERE {_not_extension_member('pg_namespace', 'ns.oid')} AND {where}""")

    # extensions (their member objects are left out everywhere else)
    queries.append(with_ + """
SELECT 'extension ' || e.extname, 'version ' || e.extversion || ', schema ' || n.nspname
FROM pg_catalog.pg_extension e
JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname <> 'plpgsql'
  AND (%(schemas)s::text[] IS NULL OR n.nspname = ANY (%(schemas)s::text[]))""")

    # relations: tables (and partitioned / foreign tables), views, materialized views, sequences
    queries.append(with_ + """
SELECT CASE r.relkind WHEN 'v' THEN 'view ' WHEN 'm' THEN 'matview ' WHEN 'S' THEN 'sequence ' ELSE 'table ' END
       || r.qname,
       pg_catalog.concat_ws(', ',
         CASE r.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'f' THEN 'foreign table'
                        WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'sequence' END,
         CASE r.relpersistence WHEN 'u' THEN 'unlogged' END,
         CASE WHEN r.relkind = 'p' THEN 'partition by ' || pg_catalog.pg_get_partkeydef(r.oid) END,
         CASE WHEN r.relispartition THEN
           'partition of ' || (SELECT pn.nspname || '.' || p.relname
                               FROM pg_catalog.pg_inherits i
                               JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
                               JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
                               WHERE i.inhrelid = r.oid)
           || ' ' || pg_catalog.pg_get_expr(c.relpartbound, r.oid) END,
         CASE WHEN NOT r.relispartition THEN
           (SELECT 'inherits ' || pg_catalog.string_agg(pn.nspname || '.' || p.relname, ', ' ORDER BY i.inhseqno)
            FROM pg_catalog.pg_inherits i
            JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
            JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
            WHERE i.inhrelid = r.oid) END,
         CASE WHEN r.relkind IN ('r', 'p', 'm') AND r.relreplident <> 'd' THEN
           'replica identity ' || CASE r.relreplident WHEN 'n' THEN 'nothing' WHEN 'f' THEN 'full' ELSE 'index' END END,
         CASE WHEN r.reltablespace <> 0 THEN
           'tablespace ' || (SELECT t.spcname FROM pg_catalog.pg_tablespace t WHERE t.oid = r.reltablespace) END,
         (SELECT 'with (' || pg_catalog.string_agg(o, ', ' ORDER BY o) || ')'
          FROM pg_catalog.unnest(r.reloptions) o),
         CASE WHEN r.relkind = 'm' AND NOT r.relispopulated THEN 'with no data' END,
         CASE WHEN r.relkind = 'S' THEN
           (SELECT pg_catalog.format_type(s.seqtypid, NULL)
                   || ' start ' || s.seqstart || ' increment ' || s.seqincrement
                   || ' minvalue ' || s.seqmin || ' maxvalue ' || s.seqmax || ' cache ' || s.seqcache
                   || CASE WHEN s.seqcycle THEN ' cycle' ELSE ' no cycle' END
            FROM pg_catalog.pg_sequence s WHERE s.seqrelid = r.oid) END,
         CASE WHEN r.relkind = 'S' THEN
           (SELECT 'owned by ' || tn.nspname || '.' || t.relname || '.' || a.attname
                   || CASE WHEN d.deptype = 'i' THEN ' (identity)' ELSE '' END
            FROM pg_catalog.pg_depend d
            JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
            JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
            JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
            WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = r.oid
              AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjsubid > 0
              AND d.deptype IN ('a', 'i')
            ORDER BY 1 LIMIT 1) END,
         CASE WHEN r.relkind IN ('v', 'm') THEN 'as ' || pg_catalog.btrim(pg_catalog.pg_get_viewdef(r.oid)) END)
FROM rels r JOIN pg_catalog.pg_class c ON c.oid = r.oid
UNION ALL
SELECT 'owner ' || r.qname, pg_catalog.pg_get_userbyid(r.relowner)::text FROM rels r
UNION ALL
SELECT 'rls ' || r.qname,
       CASE WHEN r.relrowsecurity THEN 'enabled' ELSE 'disabled' END
       || CASE WHEN r.relforcerowsecurity THEN ', forced' WHEN r.relrowsecurity THEN ', not forced' ELSE '' END
FROM rels r WHERE r.relkind IN ('r', 'p')""")

    # grants on relations and on columns
    select, where = _grant_rows(
        "'grant ' || r.qname", "r.relacl", "r.relowner", "(CASE WHEN r.relkind = 'S' THEN 's' ELSE 'r' END)::\"char\""
    )
    queries.append(with_ + f"{select}\nFROM rels r WHERE {where}")
    queries.append(with_ + f"""
SELECT 'grant column ' || r.qname || '.' || a.attname, {_acl_text('a.attacl', 'r.relowner')}
FROM rels r
JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE a.attacl IS NOT NULL AND {_acl_text('a.attacl', 'r.relowner')} IS NOT NULL""")

    # columns of tables (views are described by their definition); positions are left out
    queries.append(with_ + """
SELECT 'column ' || r.qname || '.' || a.attname,
       pg_catalog.concat_ws(' ',
         pg_catalog.format_type(a.atttypid, a.atttypmod),
         CASE WHEN a.attcollation <> t.typcollation THEN
           'collate ' || (SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname)
                          FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
                          WHERE co.oid = a.attcollation) END,
         CASE WHEN a.attnotnull THEN 'not null' END,
         CASE a.attidentity WHEN 'a' THEN 'generated always as identity'
                            WHEN 'd' THEN 'generated by default as identity' END,
         CASE WHEN a.attgenerated = 's' THEN 'generated always as (' || pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) || ') stored'
              WHEN ad.adbin IS NOT NULL THEN 'default ' || pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END)
FROM rels r
JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE r.relkind IN ('r', 'p', 'f')""")

    # constraints on tables (NOT NULL is part of the column; constraints cloned onto partitions
    # or onto the partitions of a referenced table follow their parent constraint)
    queries.append(with_ + """
SELECT 'constraint ' || r.qname || '.' || co.conname, pg_catalog.pg_get_constraintdef(co.oid)
FROM rels r
JOIN pg_catalog.pg_constraint co ON co.conrelid = r.oid
WHERE co.contype <> 'n' AND co.conparentid = 0""")

    # indexes
    queries.append(with_ + """
SELECT 'index ' || r.nspname || '.' || ic.relname,
       pg_catalog.pg_get_indexdef(i.indexrelid)
       || CASE WHEN NOT i.indisvalid THEN ' INVALID' ELSE '' END
       || CASE WHEN i.indisclustered THEN ' CLUSTERED' ELSE '' END
       || CASE WHEN i.indisreplident THEN ' REPLICA IDENTITY' ELSE '' END
FROM rels r
JOIN pg_catalog.pg_index i ON i.indrelid = r.oid
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid""")

    # row level security policies
    queries.append(with_ + """
SELECT 'policy ' || r.qname || '.' || p.polname,
       CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END
       || ' for ' || CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                                   WHEN 'd' THEN 'DELETE' ELSE 'ALL' END
       || ' to ' || (SELECT pg_catalog.string_agg(
                              CASE WHEN ro = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(ro)::text END,
                              ', ' ORDER BY CASE WHEN ro = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(ro)::text END)
                     FROM pg_catalog.unnest(p.polroles) ro)
       || COALESCE(' using (' || pg_catalog.pg_get_expr(p.polqual, p.polrelid) || ')', '')
       || COALESCE(' with check (' || pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) || ')', '')
FROM rels r
JOIN pg_catalog.pg_policy p ON p.polrelid = r.oid""")

    # triggers (not the internal ones behind foreign keys) and rules (not the ones behind views)
    queries.append(with_ + """
SELECT 'trigger ' || r.qname || '.' || tg.tgname,
       pg_catalog.pg_get_triggerdef(tg.oid)
       || CASE tg.tgenabled WHEN 'D' THEN ' (disabled)' WHEN 'R' THEN ' (enabled replica)'
                            WHEN 'A' THEN ' (enabled always)' ELSE '' END
FROM rels r
JOIN pg_catalog.pg_trigger tg ON tg.tgrelid = r.oid
WHERE NOT tg.tgisinternal
UNION ALL
SELECT 'rule ' || r.qname || '.' || ru.rulename, pg_catalog.pg_get_ruledef(ru.oid)
FROM rels r
JOIN pg_catalog.pg_rewrite ru ON ru.ev_class = r.oid
WHERE ru.rulename <> '_RETURN'""")

    # functions, procedures, aggregates: identity by input argument types
    body = "pg_catalog.md5(COALESCE(p.prosrc, '') || '|' || COALESCE(p.probin, '')"
    if version >= 140000:
        body += " || '|' || COALESCE(pg_catalog.pg_get_function_sqlbody(p.oid), '')"
    body += ")"
    fkey = (
        "CASE p.prokind WHEN 'p' THEN 'procedure ' WHEN 'a' THEN 'aggregate ' ELSE 'function ' END"
        " || ns.nspname || '.' || p.proname || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')'"
    )
    queries.append(with_ + f"""
SELECT {fkey},
       pg_catalog.concat_ws(', ',
         CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' WHEN 'w' THEN 'window function'
                        ELSE 'function' END,
         'arguments (' || pg_catalog.pg_get_function_arguments(p.oid) || ')',
         CASE WHEN p.prokind <> 'p' THEN 'returns ' || pg_catalog.pg_get_function_result(p.oid) END,
         'language ' || l.lanname,
         CASE WHEN p.prosecdef THEN 'security definer' ELSE 'security invoker' END,
         CASE p.provolatile WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable' ELSE 'volatile' END,
         CASE WHEN p.proisstrict THEN 'strict' END,
         CASE WHEN p.proleakproof THEN 'leakproof' END,
         CASE p.proparallel WHEN 's' THEN 'parallel safe' WHEN 'r' THEN 'parallel restricted' END,
         (SELECT 'set ' || pg_catalog.string_agg(cfg, ', ' ORDER BY cfg) FROM pg_catalog.unnest(p.proconfig) cfg),
         (SELECT 'transition ' || ag.aggtransfn::pg_catalog.regprocedure::text
                 || CASE WHEN ag.aggfinalfn <> 0 THEN ', final ' || ag.aggfinalfn::pg_catalog.regprocedure::text ELSE '' END
                 || COALESCE(', initial ' || ag.agginitval, '')
          FROM pg_catalog.pg_aggregate ag WHERE ag.aggfnoid = p.oid),
         'body md5 ' || pg_catalog.left({body}, 16))
FROM pg_catalog.pg_proc p
JOIN ns ON ns.oid = p.pronamespace
JOIN pg_catalog.pg_language l ON l.oid = p.prolang
WHERE {_not_extension_member('pg_proc', 'p.oid')}
UNION ALL
SELECT 'owner ' || {fkey}, pg_catalog.pg_get_userbyid(p.proowner)::text
FROM pg_catalog.pg_proc p
JOIN ns ON ns.oid = p.pronamespace
WHERE {_not_extension_member('pg_proc', 'p.oid')}""")
    select, where = _grant_rows("'grant ' || " + fkey, "p.proacl", "p.proowner", "'f'")
    # OFFSET 0 keeps the planner from evaluating the ACL comparison on all of pg_catalog's ~3000
    # functions before the schema filter (26 of the fingerprint's 40 ms; the rehearsal takes one
    # after every DDL statement)
    queries.append(with_ + f"""{select}
FROM (SELECT p0.* FROM pg_catalog.pg_proc p0 WHERE p0.pronamespace IN (SELECT ns.oid FROM ns) OFFSET 0) p
JOIN ns ON ns.oid = p.pronamespace
WHERE {_not_extension_member('pg_proc', 'p.oid')} AND {where}""")

    # types: enums, domains, composite and range types (not array types nor tables' row types)
    type_filter = f"""(t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND c.relkind = 'c')
       OR (t.typtype = 'b' AND t.typcategory <> 'A'))
  AND {_not_extension_member('pg_type', 't.oid')}"""
    queries.append(with_ + f"""
SELECT 'type ' || ns.nspname || '.' || t.typname,
       CASE t.typtype
         WHEN 'e' THEN 'enum (' || COALESCE((SELECT pg_catalog.string_agg(pg_catalog.quote_literal(en.enumlabel), ', '
                                                                        ORDER BY en.enumsortorder)
                                            FROM pg_catalog.pg_enum en WHERE en.enumtypid = t.oid), '') || ')'
         WHEN 'd' THEN pg_catalog.concat_ws(' ',
                         'domain over ' || pg_catalog.format_type(t.typbasetype, t.typtypmod),
                         CASE WHEN t.typnotnull THEN 'not null' END,
                         'default ' || t.typdefault,
                         (SELECT pg_catalog.string_agg(co.conname || ' ' || pg_catalog.pg_get_constraintdef(co.oid), ' '
                                                       ORDER BY co.conname)
                          FROM pg_catalog.pg_constraint co WHERE co.contypid = t.oid))
         WHEN 'c' THEN 'composite (' || COALESCE((SELECT pg_catalog.string_agg(a.attname || ' '
                                                     || pg_catalog.format_type(a.atttypid, a.atttypmod), ', '
                                                     ORDER BY a.attnum)
                                                 FROM pg_catalog.pg_attribute a
                                                 WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped), '')
                      || ')'
         WHEN 'r' THEN 'range over ' || (SELECT pg_catalog.format_type(rg.rngsubtype, NULL)
                                         FROM pg_catalog.pg_range rg WHERE rg.rngtypid = t.oid)
         ELSE 'base type'
       END
FROM pg_catalog.pg_type t
JOIN ns ON ns.oid = t.typnamespace
LEFT JOIN pg_catalog.pg_class c ON c.oid = t.typrelid
WHERE {type_filter}
UNION ALL
SELECT 'owner type ' || ns.nspname || '.' || t.typname, pg_catalog.pg_get_userbyid(t.typowner)::text
FROM pg_catalog.pg_type t
JOIN ns ON ns.oid = t.typnamespace
LEFT JOIN pg_catalog.pg_class c ON c.oid = t.typrelid
WHERE {type_filter}""")
    select, where = _grant_rows("'grant type ' || ns.nspname || '.' || t.typname", "t.typacl", "t.typowner", "'T'")
    # OFFSET 0: as for functions, the schema filter before the ACL comparison
    queries.append(with_ + f"""{select}
FROM (SELECT t0.* FROM pg_catalog.pg_type t0 WHERE t0.typnamespace IN (SELECT ns.oid FROM ns) OFFSET 0) t
JOIN ns ON ns.oid = t.typnamespace
LEFT JOIN pg_catalog.pg_class c ON c.oid = t.typrelid
WHERE {type_filter} AND {where}""")

    # default privileges (ALTER DEFAULT PRIVILEGES), global ones only when every schema is in scope
    queries.append(with_ + f"""
SELECT 'default privileges for ' || pg_catalog.pg_get_userbyid(da.defaclrole)::text
       || COALESCE(' in schema ' || dn.nspname, '')
       || ' on ' || CASE da.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions'
                                          WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas' ELSE da.defaclobjtype::text END,
       COALESCE({_acl_text('da.defaclacl', 'da.defaclrole')}, 'none')
FROM pg_catalog.pg_default_acl da
LEFT JOIN pg_catalog.pg_namespace dn ON dn.oid = da.defaclnamespace
WHERE (da.defaclnamespace = 0 AND %(schemas)s::text[] IS NULL)
   OR da.defaclnamespace IN (SELECT oid FROM ns)""")

    # event triggers are database-wide: only when every schema is in scope
    queries.append(f"""
SELECT 'event trigger ' || et.evtname,
       'on ' || et.evtevent || ' execute ' || et.evtfoid::pg_catalog.regprocedure::text
       || COALESCE(' when tag in (' || pg_catalog.array_to_string(et.evttags, ', ') || ')', '')
       || CASE et.evtenabled WHEN 'D' THEN ' (disabled)' WHEN 'R' THEN ' (enabled replica)'
                             WHEN 'A' THEN ' (enabled always)' ELSE '' END
FROM pg_catalog.pg_event_trigger et
WHERE %(schemas)s::text[] IS NULL AND {_not_extension_member('pg_event_trigger', 'et.oid')}""")
    return queries


# Every setting that changes how the server prints a value, pinned while fingerprinting, so two
# sessions (or a restored copy) print the same text. With search_path = pg_catalog every name
# outside pg_catalog (a table in a default, a type, a regclass value) is printed schema-qualified.
_STABLE_SETTINGS = {
    "search_path": "pg_catalog",
    "TimeZone": "UTC",
    "DateStyle": "ISO, MDY",
    "IntervalStyle": "postgres",
    "extra_float_digits": "1",
    "bytea_output": "hex",
    "lc_monetary": "C",
    # The rehearsal fingerprints between a migration's statements too: one that ran SET ROLE must
    # not have its rows read as that role (RLS would hide rows, a missing grant would fail).
    # NONE is the connecting user; the migration's role is put back afterwards like the rest.
    "role": "none",
    # A table that row-level security would filter for this role errors instead of returning
    # fewer rows: a fingerprint never counts what it could not see (RowsHidden says why first).
    "row_security": "off",
}


class RowsHidden(SandboxError):
    """The role the rehearsal runs as is subject to row-level security on a table (FORCE ROW
    LEVEL SECURITY applies to owners, and it is neither a superuser nor BYPASSRLS): its
    fingerprints would count only the rows the policies let it see and report data loss that is
    not there. Refused instead, naming the privilege that fixes it."""


def _require_every_row(cur: psycopg.Cursor, tables: "set[str] | None") -> None:
    """Raise RowsHidden when row-level security is active, for the current role, on a table to
    be read (``tables``: "schema.table" keys, None for every user table)."""
    hidden = [
        f"{schema}.{table}"
        for schema, table in cur.execute(
            """SELECT n.nspname, c.relname FROM pg_catalog.pg_class c
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
               WHERE c.relkind IN ('r', 'p') AND c.relrowsecurity
                 AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
                 AND pg_catalog.row_security_active(c.oid)
               ORDER BY 1, 2"""
        ).fetchall()
        if tables is None or f"{schema}.{table}" in tables
    ]
    if hidden:
        (user,) = cur.execute("SELECT current_user").fetchone()
        shown = ", ".join(hidden[:3]) + (f" and {len(hidden) - 3} more" if len(hidden) > 3 else "")
        quoted = '"' + user.replace('"', '""') + '"'
        raise RowsHidden(
            f"the sandbox role {user} cannot see every row of {shown} (row-level security applies to it: the table "
            f"is FORCEd and the role has no BYPASSRLS), so the fingerprints would report rows lost that are not",
            fix=f"as a superuser: ALTER ROLE {quoted} BYPASSRLS, or rehearse in the embedded sandbox",
        )


@contextmanager
def _stable_output(cur: psycopg.Cursor) -> Iterator[None]:
    """Pin the output settings for the current transaction, then put the caller's values back
    (the caller may be inside its own transaction, where SET LOCAL would otherwise outlive us).
    Must run inside ``conn.transaction()``: on an error the savepoint or transaction undoes it."""
    names = list(_STABLE_SETTINGS)
    previous = cur.execute(
        "SELECT " + ", ".join("pg_catalog.current_setting(%s)" for _ in names), names
    ).fetchone()
    cur.execute(
        "SELECT " + ", ".join("pg_catalog.set_config(%s, %s, true)" for _ in names),
        [v for name in names for v in (name, _STABLE_SETTINGS[name])],
    )
    yield
    cur.execute(
        "SELECT " + ", ".join("pg_catalog.set_config(%s, %s, true)" for _ in names),
        [v for name, value in zip(names, previous) for v in (name, value)],
    )


def schema_fingerprint(conn: psycopg.Connection, schemas: list[str] | None = None) -> SchemaFingerprint:
    """A normalized snapshot of the catalog: object key -> one-line description.

    Covers schemas, extensions, tables (partitioning, inheritance, options), columns (type,
    collation, NOT NULL, default, identity, generated), constraints, indexes, RLS and FORCE flags,
    policies (command, permissive/restrictive, roles, USING, WITH CHECK), views and materialized
    views (definition, options), sequences, functions/procedures/aggregates (language, security,
    volatility, configuration, a hash of the body), triggers, rules, enum/domain/composite/range
    types, owners, non-default grants, default privileges and event triggers. Extension members
    are left out (the extension is listed). Independent of OIDs, column positions, the order
    objects were created in and the caller's search_path. Reads only; a fixed number of queries.
    """
    cur = conn.cursor(row_factory=tuple_row)
    version = conn.info.server_version
    params = {"schemas": list(schemas) if schemas is not None else None}
    collected: dict[str, list[str]] = {}
    with conn.transaction(), _stable_output(cur):
        for query in _schema_queries(version):
            for key, value in cur.execute(query, params).fetchall():
                collected.setdefault(key, []).append(value if value is not None else "")
    # A key seen twice (which PostgreSQL allows for a few objects) keeps every description, sorted.
    return {key: " | ".join(sorted(values)) for key, values in sorted(collected.items())}


# --------------------------------------------------------------------------------------------
# Data fingerprint
# --------------------------------------------------------------------------------------------

_USER_TABLES = """
SELECT n.nspname, c.relname, c.relkind, c.relispopulated,
       pg_catalog.array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE a.attname IS NOT NULL)
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'm')
  AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
GROUP BY n.nspname, c.relname, c.relkind, c.relispopulated
ORDER BY 1, 2
"""

NOT_POPULATED = "not populated"
MISSING_COLUMNS = "missing columns: "


def table_columns(conn: psycopg.Connection) -> dict[str, list[str]]:
    """Every user table and materialized view ("schema.table") -> its column names in order:
    what to pass as ``columns=`` later to compare rows over the columns that exist now."""
    cur = conn.cursor(row_factory=tuple_row)
    return {f"{s}.{t}": list(cols or []) for s, t, _, _, cols in cur.execute(_USER_TABLES).fetchall()}


def data_fingerprint(
    conn: psycopg.Connection,
    tables: list[str] | None = None,
    columns: dict[str, list[str]] | None = None,
) -> DataFingerprint:
    """Per table: row count and an order-independent hash of every row's text form.

    Keys are "schema.table" (unquoted), for every user table and materialized view, or only those
    named in ``tables``; a named table that does not exist is absent from the result. The hash is
    the sum of a 64-bit hash per row (``hashtextextended`` of the row's text form), so row order
    and physical layout do not matter while any changed, added or removed row changes it;
    duplicates count (unlike XOR). One pass per table, computed in the server; reads only (each
    table is read with ONLY, so an inheritance parent does not count its children's rows).

    ``columns`` maps "schema.table" to column names: that table's hash is then taken over those
    columns only, in that order, so rows can be compared over their pre-existing columns after an
    upgrade added some. If one of them no longer exists, the hash is ``"missing columns: a, b"``.
    An unpopulated materialized view is ``(0, "not populated")``.
    """
    cur = conn.cursor(row_factory=tuple_row)
    wanted = set(tables) if tables is not None else None
    columns = columns or {}
    result: DataFingerprint = {}
    with conn.transaction(), _stable_output(cur):
        _require_every_row(cur, wanted)
        for schema, table, relkind, populated, existing in cur.execute(_USER_TABLES).fetchall():
            key = f"{schema}.{table}"
            if wanted is not None and key not in wanted:
                continue
            if relkind == "m" and not populated:
                result[key] = (0, NOT_POPULATED)
                continue
            result[key] = _table_hash(cur, schema, table, columns.get(key), existing or [])
    return result


def _table_hash(cur: psycopg.Cursor, schema: str, table: str, chosen: list[str] | None, existing: list[str]) -> tuple[int, str]:
    target = sql.SQL("ONLY {}").format(sql.Identifier(schema, table))
    if chosen is None:
        row: sql.Composable = sql.Identifier("t")  # the whole row, every column in order
    else:
        missing = [c for c in chosen if c not in set(existing)]
        if missing:
            (count,) = cur.execute(sql.SQL("SELECT pg_catalog.count(*) FROM {}").format(target)).fetchone()
            return count, MISSING_COLUMNS + ", ".join(missing)
        row = sql.SQL("ROW({})").format(sql.SQL(", ").join(sql.Identifier("t", c) for c in chosen))
    # One pass. sum() over bigint accumulates exactly (128-bit or numeric) and returns numeric.
    query = sql.SQL(
        "SELECT pg_catalog.count(*),"
        " COALESCE(pg_catalog.sum(pg_catalog.hashtextextended(({})::text, 0)), 0)::text"
        " FROM {} AS t"
    ).format(row, target)
    count, digest = cur.execute(query).fetchone()
    return count, digest


def column_hashes(conn: psycopg.Connection, columns: dict[str, list[str]]) -> dict[str, dict[str, str]]:
    """Per table ("schema.table"), per column: an order-independent hash of that column's values
    (NULL counted too), one pass per table. Tells which columns a "rows changed" difference is in,
    and that a column gone is the same values under a new name (a rename). Tables or columns that
    do not exist are left out."""
    cur = conn.cursor(row_factory=tuple_row)
    existing = {f"{s}.{t}": set(cols or []) for s, t, _, populated, cols in cur.execute(_USER_TABLES).fetchall()
                if populated}
    result: dict[str, dict[str, str]] = {}
    with conn.transaction(), _stable_output(cur):
        _require_every_row(cur, set(columns))
        for key, wanted in columns.items():
            present = [c for c in wanted if c in existing.get(key, ())]
            if key not in existing or not present:
                continue
            schema, _, table = key.partition(".")
            sums = sql.SQL(", ").join(
                sql.SQL("COALESCE(pg_catalog.sum(pg_catalog.hashtextextended((ROW({}))::text, 0)), 0)::text").format(
                    sql.Identifier("t", c))
                for c in present
            )
            query = sql.SQL("SELECT {} FROM ONLY {} AS t").format(sums, sql.Identifier(schema, table))
            result[key] = dict(zip(present, cur.execute(query).fetchone()))
    return result


def row_hashes(conn: psycopg.Connection, table: str, columns: list[str]) -> list[int]:
    """One 64-bit hash per row of "schema.table" over `columns` (the same row text the table hash
    sums): compared as multisets, they tell rows added from pre-existing rows gone or changed."""
    schema, _, name = table.partition(".")
    row = sql.SQL("ROW({})").format(sql.SQL(", ").join(sql.Identifier("t", c) for c in columns))
    query = sql.SQL("SELECT pg_catalog.hashtextextended(({})::text, 0) FROM ONLY {} AS t").format(
        row, sql.Identifier(schema, name))
    cur = conn.cursor(row_factory=tuple_row)
    with conn.transaction(), _stable_output(cur):
        _require_every_row(cur, {table})
        return [h for (h,) in cur.execute(query).fetchall()]


# --------------------------------------------------------------------------------------------
# Differences
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """One way two fingerprints differ. ``kind`` is "added", "removed" or "changed"; ``key`` is
    the fingerprint key; ``before`` / ``after`` the descriptions (None on the side it is absent);
    ``note``, when set, is what a change amounts to, said instead of "before -> after"."""

    kind: str
    key: str
    before: str | None
    after: str | None
    note: str | None = None

    def describe(self, *, expected_gone: str = "still exists", expected_back: str = "is missing") -> str:
        """A sentence. An added object is one that should be gone (a rollback: "still exists";
        an upgrade diff might say "was added"); a removed one should be back ("is missing")."""
        if self.kind == "added":
            return f"{self.key} {expected_gone}"
        if self.kind == "removed":
            return f"{self.key} {expected_back}"
        if self.note:
            return f"{self.key}: {self.note}"
        before, after = _elide(_show(self.before), _show(self.after))
        return f"{self.key}: {before} -> {after}"


def _show(value: str | None) -> str:
    if value is None:
        return "(none)"
    shown = " ".join(value.split())
    return shown if shown else "(empty)"


def _elide(before: str, after: str, limit: int = 160, context: int = 30) -> tuple[str, str]:
    """Long descriptions (view definitions) are cut down to the part that differs."""
    if len(before) <= limit and len(after) <= limit:
        return before, after
    prefix = 0
    while prefix < min(len(before), len(after)) and before[prefix] == after[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < min(len(before), len(after)) - prefix
        and before[len(before) - 1 - suffix] == after[len(after) - 1 - suffix]
    ):
        suffix += 1
    start = max(0, prefix - context)

    def cut(text: str) -> str:
        end = min(len(text), len(text) - suffix + context)
        return ("…" if start > 0 else "") + text[start:end] + ("…" if end < len(text) else "")

    return cut(before), cut(after)


def diff_schema(before: SchemaFingerprint, after: SchemaFingerprint) -> list[Difference]:
    """Every object added, removed or changed between two schema fingerprints, sorted by key."""
    differences = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if old is None:
            differences.append(Difference("added", key, None, new))
        elif new is None:
            differences.append(Difference("removed", key, old, None))
        else:
            differences.append(Difference("changed", key, old, new))
    return differences


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def diff_data(
    before: DataFingerprint, after: DataFingerprint, include_added: bool = False
) -> list[Difference]:
    """Per table ("schema.table"), sorted: a table gone ("removed"), its row count changed
    ("public.leads: 8 rows -> 5 rows") or the same count of rows with different content
    ("public.leads: rows changed (same count)"). Tables only in ``after`` are new, not data loss:
    they are ignored unless ``include_added``."""
    differences = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old is None:
            if include_added and new is not None:
                differences.append(Difference("added", key, None, f"{_rows(new[0])}, hash {new[1]}"))
            continue
        if new is None:
            differences.append(Difference("removed", key, f"{_rows(old[0])}, hash {old[1]}", None))
            continue
        (old_count, old_hash), (new_count, new_hash) = old, new
        if old_count != new_count:
            note = None
            if new_hash.startswith(MISSING_COLUMNS) and not old_hash.startswith(MISSING_COLUMNS):
                note = f"{_rows(old_count)} -> {_rows(new_count)}, {new_hash}"
            differences.append(Difference("changed", key, _rows(old_count), _rows(new_count), note))
        elif old_hash != new_hash:
            if new_hash.startswith(MISSING_COLUMNS):
                note = new_hash
            elif new_hash == NOT_POPULATED:
                note = "no longer populated"
            else:
                note = "rows changed (same count)"
            differences.append(
                Difference("changed", key, f"{_rows(old_count)}, hash {old_hash}", f"{_rows(new_count)}, hash {new_hash}", note)
            )
    return differences
