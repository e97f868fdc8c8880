"""The policy analyzer: what each policy lets through, judged on PostgreSQL's own parser (pglast).

Once per audit, every policy of the audited schemas is read (``pg_get_expr`` of USING and WITH
CHECK, never on a relation another session locks), each distinct expression text is parsed once
(wrapped as ``SELECT <expr>``), and the SQL and simple PL/pgSQL helpers it calls are read level by
level (one catalogue query per level, MAX_DEPTH levels). Each part of each policy gets a verdict
under the tenant context (context.py):

- ``fenced``: the rows it admits are pinned to the context's tenants;
- ``open``: some alternative admits other tenants' rows; the reason names it;
- ``opaque``: it depends on something the tool cannot read (a C or untrusted function, dynamic
  SQL, a body beyond a simple SELECT / RETURN); never a high finding by itself.

Rules: AND is fenced when one conjunct is; OR only when every disjunct is; casts, NULLIF,
COALESCE with a constant and scalar subqueries are transparent around the context value; a
comparison of the tenant column with the context's tenant value (``=``, ``= ANY``, ``IN (SELECT
...)``, ``EXISTS`` correlated on it) fences. The same machinery judges the bodies of SECURITY
DEFINER functions and the queries of views (``judge_query``): a query whose every read of a tenant
table (or of the membership table) is filtered under the model answers only about the context.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

import psycopg
from pglast import ast, enums, parse_plpgsql, parse_sql, parser
from pglast.stream import RawStream

from .context import TenantContext

MAX_DEPTH = 8  # helper of helper of ...: deeper is opaque
FENCED, OPEN, OPAQUE = "fenced", "open", "opaque"
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")
# Settings whose name PostgREST / Supabase split per claim: request.jwt.claim.sub is the 'sub'
# field of request.jwt.claims.
_JWT_CLAIMS = "request.jwt.claims"
_JWT_CLAIM_PREFIX = "request.jwt.claim."

# -- what an expression's value is --------------------------------------------------------------
# A "source" (sig) is a hashable description of where a value comes from:
#   ("setting", name, path)            current_setting(name) at a JSON path
#   ("role",)                          current_user / session_user
#   ("lookup", rel_oid, key, filters)  SELECT key FROM rel WHERE f = <source> ... (filters: frozenset of (f, sig))


@dataclass(frozen=True)
class Val:
    kind: str  # col (a column of the judged table), inner (a column of a subquery's relation), src, const, opaque, other
    name: str = ""  # col / inner: the column name
    sig: tuple = ()  # src: the source
    alias: str = ""  # inner: the range variable
    rel: int = 0  # inner: the relation oid
    reason: str = ""  # opaque: why


OTHER = Val("other")
CONST = Val("const")


@dataclass(frozen=True)
class Verdict:
    verdict: str
    reason: str = ""


@dataclass
class Function:
    oid: int
    schema: str
    name: str
    language: str
    trusted: bool
    retset: bool
    argnames: tuple[str, ...]
    nargs: int
    source: str | None  # prosrc (sql) or pg_get_functiondef (plpgsql, BEGIN ATOMIC sql)
    secdef: bool = False

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.name}()"


@dataclass
class Relation:
    oid: int
    schema: str
    name: str
    columns: frozenset[str]
    unique: frozenset[str]  # single-column unique or primary keys
    primary: str | None


_RELATIONS_SQL = """
SELECT c.oid, n.nspname, c.relname,
       ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
       ARRAY(SELECT a.attname::text FROM pg_catalog.pg_constraint k
             JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
             WHERE k.conrelid = c.oid AND k.contype IN ('p', 'u') AND pg_catalog.cardinality(k.conkey) = 1) AS uniq,
       (SELECT a.attname::text FROM pg_catalog.pg_constraint k
        JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
        WHERE k.conrelid = c.oid AND k.contype = 'p' AND pg_catalog.cardinality(k.conkey) = 1) AS pkey
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_toast'
"""

# Every policy on a relation of the audited schemas; expressions are not deparsed on a relation
# another session locks (pg_get_expr would wait for it).
_POLICIES_SQL = """
SELECT p.oid, p.polrelid, p.polname::text, p.polcmd::text, p.polpermissive,
       CASE WHEN p.polrelid <> ALL (%(unaudited)s::oid[]) THEN pg_catalog.pg_get_expr(p.polqual, p.polrelid) END,
       CASE WHEN p.polrelid <> ALL (%(unaudited)s::oid[]) THEN pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) END
FROM pg_catalog.pg_policy p
JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY (%(schemas)s::text[])
ORDER BY p.oid
"""

_FUNCTIONS_SQL = """
SELECT f.oid, n.nspname, f.proname::text, l.lanname::text, l.lanpltrusted, f.proretset,
       COALESCE(f.proargnames, '{}'::text[]), f.pronargs, f.prosecdef,
       CASE WHEN l.lanname = 'plpgsql' OR (l.lanname = 'sql' AND COALESCE(f.prosrc, '') !~ '[^[:space:]]')
            THEN pg_catalog.pg_get_functiondef(f.oid)
            WHEN l.lanname = 'sql' THEN f.prosrc END
FROM pg_catalog.pg_proc f
JOIN pg_catalog.pg_namespace n ON n.oid = f.pronamespace
JOIN pg_catalog.pg_language l ON l.oid = f.prolang
WHERE f.proname = ANY (%(names)s::text[]) AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND f.prokind IN ('f', 'p')
"""

# Single-column foreign keys of the audited schemas: what a tenant column references.
_FOREIGN_KEYS_SQL = """
SELECT k.conrelid, a.attname::text, k.confrelid, b.attname::text
FROM pg_catalog.pg_constraint k
JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
JOIN pg_catalog.pg_attribute b ON b.attrelid = k.confrelid AND b.attnum = k.confkey[1]
WHERE k.contype = 'f' AND pg_catalog.cardinality(k.conkey) = 1 AND n.nspname = ANY (%(schemas)s::text[])
"""

# SECURITY DEFINER functions of the audited schemas (security_definer_function asks about their
# bodies) and views' queries (view_bypasses_rls): pg_get_viewdef locks what the
# view reads, so not for a view that reads a relation another session locks.
_DEFINERS_SQL = """
SELECT f.oid, f.proname::text
FROM pg_catalog.pg_proc f JOIN pg_catalog.pg_namespace n ON n.oid = f.pronamespace
WHERE f.prosecdef AND n.nspname = ANY (%(schemas)s::text[])
"""
_VIEWS_SQL = """
SELECT c.oid,
       CASE WHEN NOT EXISTS (SELECT FROM pg_catalog.pg_rewrite r
                             JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
                              AND d.objid = r.oid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
                             WHERE r.ev_class = c.oid AND d.refobjid = ANY (%(unaudited)s::oid[]))
            THEN pg_catalog.pg_get_viewdef(c.oid) END,
       EXISTS (SELECT FROM pg_catalog.unnest(c.reloptions) AS o(opt) WHERE o.opt IN ('security_barrier=true', 'security_barrier=on'))
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'v' AND n.nspname = ANY (%(schemas)s::text[])
"""


@dataclass
class Policy:
    oid: int
    relid: int
    name: str
    cmd: str
    permissive: bool
    using: str | None
    check: str | None


def deparse(node: Any) -> str:
    try:
        return RawStream()(node)
    except Exception:  # an odd node the printer does not know: say what it is
        return type(node).__name__


def _names(items: Iterable[Any] | None) -> list[str]:
    return [i.sval for i in items or () if isinstance(i, ast.String)]


def _const_text(node: Any) -> str | None:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.A_Const) and not node.isnull and isinstance(node.val, ast.String):
        return node.val.sval
    return None


def _is_const(node: Any) -> bool:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    return isinstance(node, ast.A_Const)


def _setting(name: str, path: tuple[str, ...] = ()) -> tuple:
    if name.startswith(_JWT_CLAIM_PREFIX):  # request.jwt.claim.sub is request.jwt.claims ->> 'sub'
        return ("setting", _JWT_CLAIMS, (name[len(_JWT_CLAIM_PREFIX):], *path))
    return ("setting", name, tuple(path))


def describe_source(sig: tuple, catalog: "Catalog | None" = None) -> str:
    """A source as a reviewer reads it: current_setting('app.tenant_id'), claims ->> 'org_id', ..."""
    if not sig:
        return "?"
    if sig[0] == "setting":
        text = f"current_setting('{sig[1]}')"
        return text + "".join(f" ->> '{p}'" for p in sig[2])
    if sig[0] == "role":
        return "current_user"
    if sig[0] == "lookup":
        rel = catalog.label(sig[1]) if catalog else str(sig[1])
        filters = " AND ".join(f"{f} = {describe_source(s, catalog)}" for f, s in sorted(sig[3], key=str))
        return f"(SELECT {sig[2]} FROM {rel}" + (f" WHERE {filters})" if filters else ")")
    return "?"


# -- the catalogue, read once --------------------------------------------------------------------


class Catalog:
    def __init__(self, conn: psycopg.Connection, params: dict[str, Any]):
        self.conn = conn
        self.relations: dict[int, Relation] = {}
        self.by_name: dict[str, list[int]] = {}
        for oid, schema, name, columns, uniq, pkey in conn.execute(_RELATIONS_SQL):
            self.relations[oid] = Relation(oid, schema, name, frozenset(columns), frozenset(uniq), pkey)
            self.by_name.setdefault(name, []).append(oid)
        self.policies = [Policy(*row) for row in conn.execute(_POLICIES_SQL, params)]
        self.foreign_keys: dict[tuple[int, str], tuple[int, str]] = {
            (rel, col): (ref, refcol) for rel, col, ref, refcol in conn.execute(_FOREIGN_KEYS_SQL, params)
        }
        self.functions: dict[int, Function] = {}
        self.functions_named: dict[str, list[int]] = {}
        self._asked: set[str] = set()
        self.bodies: dict[int, Body] = {}  # each helper's body parsed once per audit
        self.definers: list[int] = []  # SECURITY DEFINER functions of the audited schemas
        self.views: dict[int, Any] = {}  # views: oid -> parsed query (None: unreadable)
        self.barrier_views: set[int] = set()  # those declared security_barrier

    def label(self, oid: int) -> str:
        rel = self.relations.get(oid)
        return f"{rel.schema}.{rel.name}" if rel else str(oid)

    def relation(self, schema: str | None, name: str) -> int | None:
        found = [o for o in self.by_name.get(name, ()) if schema is None or self.relations[o].schema == schema]
        if len(found) > 1 and schema is None:
            public = [o for o in found if self.relations[o].schema == "public"]
            found = public or found
        return found[0] if len(found) == 1 else None

    def load_functions(self, names: set[str]) -> None:
        """One query for every name not asked before (a level of helpers)."""
        wanted = sorted(names - self._asked)
        if not wanted:
            return
        self._asked.update(wanted)
        for row in self.conn.execute(_FUNCTIONS_SQL, {"names": wanted}):
            oid, schema, name, language, trusted, retset, argnames, nargs, secdef, source = row
            fn = Function(oid, schema, name, language, trusted, retset, tuple(argnames or ()), nargs, source, secdef)
            self.functions[oid] = fn
            self.functions_named.setdefault(name, []).append(oid)

    def function(self, schema: str | None, name: str, nargs: int) -> Function | None | str:
        """The function a call names; None when it is a system one; a reason when ambiguous."""
        found = [self.functions[o] for o in self.functions_named.get(name, ())
                 if (schema is None or self.functions[o].schema == schema) and self.functions[o].nargs >= nargs]
        if not found:
            return None
        if len(found) > 1:
            exact = [f for f in found if f.nargs == nargs] or found
            public = [f for f in exact if f.schema == "public"]
            found = public if len(public) == 1 else exact
        if len(found) > 1:
            return f"{name}() names {len(found)} functions; the tool cannot tell which one runs"
        return found[0]

    @staticmethod
    def parse_expression(text: str) -> Any:
        return parse_sql("SELECT " + text)[0].stmt.targetList[0].val


def _function_calls(node: Any, into: set[str]) -> None:
    """Names of the functions a parse tree calls (for the next level's catalogue query)."""
    calls: list[Any] = []
    _collect(node, ast.FuncCall, calls)
    into.update(names[-1] for names in (_names(c.funcname) for c in calls) if names)


# -- function bodies ---------------------------------------------------------------------------


@dataclass
class Body:
    """What a helper returns: a SELECT (its statement) or an expression, or why it cannot be read."""

    select: Any = None  # ast.SelectStmt
    expr: Any = None
    opaque: str = ""


def _body(fn: Function, cache: dict[int, Body]) -> Body:
    if fn.oid in cache:
        return cache[fn.oid]
    cache[fn.oid] = body = _read_body(fn)
    return body


def _last_select(stmts: list[Any]) -> Body:
    if not stmts:
        return Body(opaque="has an empty body")
    last = stmts[-1]
    last = getattr(last, "stmt", last)
    if isinstance(last, ast.ReturnStmt):
        return Body(expr=last.returnval)
    if isinstance(last, ast.SelectStmt) and last.op == enums.SetOperation.SETOP_NONE:
        return Body(select=last)
    return Body(opaque="has a body other than one SELECT")


def _read_body(fn: Function) -> Body:
    if fn.language not in ("sql", "plpgsql"):
        why = "an untrusted language" if not fn.trusted else "a language the tool does not read"
        if fn.language in ("c", "internal"):
            why = "C, which the tool cannot read"
        return Body(opaque=f"{fn.label} is written in {fn.language} ({why})")
    if fn.source is None:
        return Body(opaque=f"{fn.label} could not be read from the catalogue")
    try:
        if fn.language == "sql":
            if fn.source.lstrip().upper().startswith("CREATE"):
                create = parse_sql(fn.source)[0].stmt
                if create.sql_body is None:
                    return Body(opaque=f"{fn.label} has no body the tool can read")
                stmts = create.sql_body
                if isinstance(stmts, ast.ReturnStmt):
                    return Body(expr=stmts.returnval)
                flat: list[Any] = []
                for item in stmts:
                    flat.extend(item if isinstance(item, (list, tuple)) else [item])
                body = _last_select([s for s in flat if s is not None])
            else:
                body = _last_select(list(parse_sql(fn.source)))
        else:
            body = _read_plpgsql(fn)
    except parser.ParseError:
        return Body(opaque=f"{fn.label} has a body the parser cannot read")
    if body.opaque:
        body.opaque = f"{fn.label} {body.opaque}"
    return body


def _read_plpgsql(fn: Function) -> Body:
    """Simple PL/pgSQL only: a block whose statements are RETURN <expr> or RETURN QUERY SELECT."""
    tree = parse_plpgsql(fn.source)
    text = json.dumps(tree)
    if "PLpgSQL_stmt_dynexecute" in text or "PLpgSQL_stmt_dynfors" in text or "dynquery" in text:
        return Body(opaque="runs dynamic SQL (EXECUTE), which the tool cannot read")
    function = tree[0]["PLpgSQL_function"]
    body = function["action"]["PLpgSQL_stmt_block"].get("body", [])
    stmts = [s for s in body if "PLpgSQL_stmt_return" in s or "PLpgSQL_stmt_return_query" in s]
    if len(stmts) != len(body) or len(stmts) != 1:
        return Body(opaque="has a PL/pgSQL body beyond a single RETURN")
    stmt = stmts[0]
    if "PLpgSQL_stmt_return" in stmt:
        expr = stmt["PLpgSQL_stmt_return"].get("expr")
        if not expr:
            return Body(opaque="returns no value the tool can read")
        return Body(expr=parse_sql("SELECT " + expr["PLpgSQL_expr"]["query"])[0].stmt.targetList[0].val)
    query = stmt["PLpgSQL_stmt_return_query"].get("query")
    if not query:
        return Body(opaque="has a RETURN QUERY the tool cannot read")
    return _last_select(list(parse_sql(query["PLpgSQL_expr"]["query"])))


# -- the analyzer ---------------------------------------------------------------------------------


@dataclass
class Scope:
    """Name resolution in an expression: the judged table, the range variables of the enclosing
    subqueries (innermost first), and a helper's parameters."""

    table: int  # the judged relation (its columns are "col")
    inner: list[dict[str, int]] = field(default_factory=list)  # alias -> relation oid, per subquery level
    params: dict[str, Val] = field(default_factory=dict)
    positional: list[Val] = field(default_factory=list)
    function: str = ""  # a helper's name: fn.param is a parameter
    depth: int = 0
    alias: str = ""  # another name of the judged relation (a range variable of a view's query)

    def nested(self, aliases: dict[str, int]) -> "Scope":
        return Scope(self.table, [aliases, *self.inner], self.params, self.positional, self.function, self.depth,
                     self.alias)


class Analyzer:
    def __init__(self, catalog: Catalog, context: TenantContext | None, *, record: bool = False):
        self.catalog = catalog
        self.context = context
        self.record = record
        self.seen: list[tuple[str, tuple]] = []  # (column, source) of every comparison with a source
        self.bodies = catalog.bodies
        self.user_scoped: set[int] = set()  # tables a policy compares with the context's user

    # -- the model ---------------------------------------------------------------------------

    def is_user(self, sig: tuple) -> bool:
        ctx = self.context
        if ctx is None or ctx.model != "membership":
            return False
        if ctx.session is not None:
            s = ctx.session
            return (sig[:3] == ("lookup", s.table.oid, s.user_column)
                    and any(f == s.key_column and self._is_setting(src) for f, src in sig[3]))
        return self._is_setting(sig)

    def _is_setting(self, sig: tuple) -> bool:
        """The context's setting at its JSON path; the same claim nested elsewhere in the document
        (app_metadata.org_id beside org_id) counts too: the probes set the id at every path the
        policies read, and a signed JWT's claims are not the session's to choose."""
        ctx = self.context
        if not sig or sig[0] != "setting" or sig[1] != ctx.setting:
            return False
        path, wanted = tuple(sig[2]), tuple(ctx.json_path)
        return path == wanted or bool(path and wanted) and path[-1] == wanted[-1]

    def is_tenant(self, sig: tuple) -> bool:
        """Does this source yield only the context's tenants, under the model?"""
        ctx = self.context
        if ctx is None or not sig:
            return False
        table = ctx.tenant_table.oid if ctx.tenant_table else None
        if ctx.model == "setting":
            return self._is_setting(sig)
        if sig[0] != "lookup":
            return ctx.model == "role" and ctx.role_column is None and sig == ("role",)
        _, rel, key, filters = sig
        if ctx.model == "mapped":
            return rel == table and any(f == ctx.mapped_key and self._is_setting(s) for f, s in filters)
        if ctx.model == "role":
            return rel == table and any(f == ctx.role_column and s == ("role",) for f, s in filters)
        m = ctx.membership
        return (m is not None and rel == m.table.oid and key == m.tenant_column
                and any(f == m.user_column and self.is_user(s) for f, s in filters))

    def near_miss(self, sig: tuple) -> str:
        """Why a source that looks like the model's is not its tenant value."""
        ctx = self.context
        if ctx and sig and sig[0] == "lookup":
            m = ctx.membership
            if m is not None and sig[1] == m.table.oid and sig[2] == m.tenant_column:
                return (f"it reads every membership of {m.table.display}: it does not check the calling user "
                        f"({m.user_column} = the context's user)")
            return f"{describe_source(sig, self.catalog)} is not the tenant context"
        return f"{describe_source(sig, self.catalog)} is not the tenant context"

    # -- values --------------------------------------------------------------------------------

    def value(self, node: Any, scope: Scope) -> Val:
        if isinstance(node, ast.TypeCast):
            inner = self.value(node.arg, scope)
            return inner
        if isinstance(node, ast.A_Const):
            return CONST
        if isinstance(node, ast.ColumnRef):
            return self.column(node, scope)
        if isinstance(node, ast.ParamRef):
            i = node.number - 1
            return scope.positional[i] if 0 <= i < len(scope.positional) else OTHER
        if isinstance(node, ast.SQLValueFunction):
            if node.op in (enums.SQLValueFunctionOp.SVFOP_CURRENT_USER, enums.SQLValueFunctionOp.SVFOP_SESSION_USER,
                           enums.SQLValueFunctionOp.SVFOP_USER, enums.SQLValueFunctionOp.SVFOP_CURRENT_ROLE):
                return Val("src", sig=("role",))
            return OTHER
        if isinstance(node, ast.A_Expr):
            if node.kind == enums.A_Expr_Kind.AEXPR_NULLIF:
                return self.value(node.lexpr, scope)
            op = _names(node.name)
            if node.kind == enums.A_Expr_Kind.AEXPR_OP and op and op[-1] in ("->>", "->", "#>>", "#>"):
                base = self.value(node.lexpr, scope)
                key = _const_text(node.rexpr)
                if base.kind == "src" and base.sig[0] == "setting" and key is not None:
                    path = tuple(key.strip("{}").split(",")) if op[-1].startswith("#") else (key,)
                    return Val("src", sig=_setting(base.sig[1], (*base.sig[2], *path)))
                return base if base.kind == "opaque" else OTHER
            return OTHER
        if isinstance(node, ast.CoalesceExpr):
            values = [self.value(a, scope) for a in node.args]
            sources = [v for v in values if v.kind not in ("const",)]
            if len({v for v in sources}) == 1:
                return sources[0]
            settings = [v for v in sources if v.kind == "src" and v.sig[0] == "setting"]
            if len(settings) == len(sources) and len({v.sig[2] for v in settings}) == 1:
                # COALESCE of settings (Supabase's auth.jwt(): request.jwt.claim, then
                # request.jwt.claims): the context sets the last one and leaves the others unset
                return settings[-1]
            return next((v for v in sources if v.kind == "opaque"), OTHER)
        if isinstance(node, ast.FuncCall):
            return self.call_value(node, scope)
        if isinstance(node, ast.SubLink):
            if node.subLinkType in (enums.SubLinkType.EXPR_SUBLINK, enums.SubLinkType.ARRAY_SUBLINK):
                return self.select_value(node.subselect, scope)
            return OTHER
        return OTHER

    def column(self, node: ast.ColumnRef, scope: Scope) -> Val:
        names = _names(node.fields)
        if not names:
            return OTHER
        name = names[-1]
        if len(names) >= 2:
            qualifier = names[-2]
            for level in scope.inner:
                if qualifier in level:
                    return Val("inner", name=name, alias=qualifier, rel=level[qualifier])
            if scope.function and qualifier == scope.function and name in scope.params:
                return scope.params[name]
            table = self.catalog.relations.get(scope.table)
            if table and qualifier in (table.name, scope.alias):
                return Val("col", name=name)
            return OTHER
        for level in scope.inner:
            for alias, rel in level.items():
                relation = self.catalog.relations.get(rel)
                if relation and name in relation.columns:
                    return Val("inner", name=name, alias=alias, rel=rel)
        if name in scope.params:
            return scope.params[name]
        if scope.params or scope.function and not scope.alias:
            return OTHER  # inside a helper: not the judged table's column
        return Val("col", name=name)

    def call_value(self, node: ast.FuncCall, scope: Scope) -> Val:
        names = _names(node.funcname)
        name, schema = names[-1], (names[-2] if len(names) > 1 else None)
        args = list(node.args or ())
        if schema in SYSTEM_SCHEMAS or schema is None and name in ("current_setting", "current_user", "session_user"):
            if name == "current_setting" and args:
                setting = _const_text(args[0])
                return Val("src", sig=_setting(setting)) if setting else OTHER
            if name in ("current_user", "session_user", "current_role"):
                return Val("src", sig=("role",))
        fn = self.catalog.function(schema, name, len(args))
        if isinstance(fn, str):
            return Val("opaque", reason=fn)
        if fn is None:
            if schema not in (None, *SYSTEM_SCHEMAS):
                return Val("opaque", reason=f"{schema}.{name}() is not visible to the auditing role")
            # a built-in function of one context value and constants: transparent (lower, btrim,
            # string_to_array, jsonb_extract_path_text ...)
            values = [self.value(a, scope) for a in args]
            moving = [v for v in values if v.kind != "const"]
            if name in ("jsonb_extract_path_text", "json_extract_path_text", "jsonb_extract_path", "json_extract_path") \
                    and moving and moving[0].kind == "src" and moving[0].sig[0] == "setting":
                path = tuple(_const_text(a) or "?" for a in args[1:])
                return Val("src", sig=_setting(moving[0].sig[1], (*moving[0].sig[2], *path)))
            if len(moving) == 1 and moving[0].kind in ("src", "opaque"):
                return moving[0]
            return OTHER
        return self.helper_value(fn, args, scope)

    def _bind(self, fn: Function, args: list[Any], scope: Scope) -> Scope | Val:
        if scope.depth >= MAX_DEPTH:
            return Val("opaque", reason=f"{fn.label} is nested deeper than {MAX_DEPTH} calls")
        values = [self.value(a, scope) for a in args]
        values += [CONST] * (fn.nargs - len(values))  # defaults
        params = {n: v for n, v in zip(fn.argnames, values) if n}
        return Scope(scope.table, [], params, values, fn.name, scope.depth + 1)

    def helper_value(self, fn: Function, args: list[Any], scope: Scope) -> Val:
        inner = self._bind(fn, args, scope)
        if isinstance(inner, Val):
            return inner
        body = _body(fn, self.bodies)
        if body.opaque:
            return Val("opaque", reason=body.opaque)
        if body.expr is not None:
            return self.value(body.expr, inner)
        return self.select_value(body.select, inner)

    def select_value(self, select: Any, scope: Scope) -> Val:
        """A SELECT's single result: the value of its target (no FROM), or a lookup."""
        if not isinstance(select, ast.SelectStmt) or select.op != enums.SetOperation.SETOP_NONE \
                or not select.targetList or len(select.targetList) != 1:
            return OTHER
        target = select.targetList[0].val
        if not select.fromClause:
            return self.value(target, scope)
        aliases, quals = self.from_items(select.fromClause)
        if aliases is None:
            return Val("opaque", reason=f"reads a FROM item the tool does not follow ({deparse(select)})")
        inner = scope.nested(aliases)
        if isinstance(target, ast.FuncCall) and _names(target.funcname)[-1:] in (["array_agg"],) and target.args:
            target = target.args[0]
        key = self.value(target, inner)
        if key.kind != "inner":
            return key if key.kind == "opaque" else OTHER
        filters = self.filters(key.alias, [*quals, *_conjuncts(select.whereClause)], inner)
        if isinstance(filters, Val):
            return filters
        return Val("src", sig=("lookup", key.rel, key.name, filters))

    def from_items(self, items: Iterable[Any]) -> tuple[dict[str, int] | None, list[Any]]:
        aliases: dict[str, int] = {}
        quals: list[Any] = []
        stack = list(items)
        while stack:
            item = stack.pop()
            if isinstance(item, ast.RangeVar):
                rel = self.catalog.relation(item.schemaname, item.relname)
                if rel is None:
                    return None, []
                aliases[item.alias.aliasname if item.alias else item.relname] = rel
            elif isinstance(item, ast.JoinExpr):
                stack += [item.larg, item.rarg]
                if item.jointype == enums.JoinType.JOIN_INNER:
                    quals += _conjuncts(item.quals)
            else:
                return None, []
        return aliases, quals

    def filters(self, alias: str, conjuncts: list[Any], scope: Scope) -> frozenset | Val:
        """The (column, source) equalities that restrict range variable ``alias``; joins through
        another range variable of the same subquery (m.user_id = s.user_id AND s.id = setting)
        become a lookup on that one."""
        found: set[tuple[str, tuple]] = set()
        pairs = [p for p in (self._equality(c, scope) for c in conjuncts) if p]
        for left, right in pairs:
            for a, b in ((left, right), (right, left)):
                if a.kind != "inner" or a.alias != alias:
                    continue
                if b.kind == "src":
                    found.add((a.name, b.sig))
                elif b.kind == "inner" and b.alias != alias:
                    rest = [c for c in conjuncts if self._equality(c, scope) != (left, right)]
                    sub = self.filters(b.alias, rest, scope)
                    if isinstance(sub, frozenset) and sub:
                        found.add((a.name, ("lookup", b.rel, b.name, sub)))
                elif b.kind == "opaque":
                    return b
        return frozenset(found)

    def _equality(self, node: Any, scope: Scope) -> tuple[Val, Val] | None:
        if isinstance(node, ast.A_Expr) and node.kind == enums.A_Expr_Kind.AEXPR_OP and _names(node.name)[-1:] == ["="]:
            return self.value(node.lexpr, scope), self.value(node.rexpr, scope)
        return None

    # -- predicates ----------------------------------------------------------------------------

    def judge(self, node: Any, scope: Scope) -> Verdict:
        if isinstance(node, ast.BoolExpr):
            parts = [self.judge(a, scope) for a in node.args]
            if node.boolop == enums.BoolExprType.AND_EXPR:
                if any(p.verdict == FENCED for p in parts):
                    return Verdict(FENCED)
                opaque = [p for p in parts if p.verdict == OPAQUE]
                if opaque:
                    return opaque[0]
                return Verdict(OPEN, parts[0].reason if len(parts) == 1 else
                               "none of its AND-ed conditions restricts rows to the tenant: " + parts[0].reason)
            if node.boolop == enums.BoolExprType.OR_EXPR:
                for arg, part in zip(node.args, parts):
                    if part.verdict == OPEN:
                        hint = self._hint(arg, scope)
                        generic = not part.reason or part.reason.endswith("does not compare the tenant column with the tenant context")
                        return Verdict(OPEN, f"OR {deparse(arg)} lets rows through without the tenant fence"
                                             + hint + ("" if hint or generic else f" ({part.reason})"))
                opaque = [p for p in parts if p.verdict == OPAQUE]
                return opaque[0] if opaque else Verdict(FENCED)
            return Verdict(OPEN, f"NOT ({deparse(node.args[0])}) admits the rows the fence would exclude")
        if isinstance(node, ast.A_Const):
            if node.isnull or isinstance(node.val, ast.Boolean) and not node.val.boolval:
                return Verdict(FENCED)  # admits no row at all
            return Verdict(OPEN, f"{deparse(node)} admits every row")
        if isinstance(node, ast.TypeCast):
            return self.judge_value(node, scope)
        if isinstance(node, ast.A_Expr):
            return self.judge_comparison(node, scope)
        if isinstance(node, ast.SubLink):
            return self.judge_sublink(node, scope)
        if isinstance(node, ast.FuncCall):
            return self.judge_call(node, scope)
        if isinstance(node, ast.CaseExpr):
            results = [self.judge(w.result, scope) for w in node.args] + (
                [self.judge(node.defresult, scope)] if node.defresult is not None else [])
            bad = [r for r in results if r.verdict == OPEN]
            if bad:
                return Verdict(OPEN, f"a branch of CASE does not restrict rows to the tenant ({bad[0].reason})")
            opaque = [r for r in results if r.verdict == OPAQUE]
            return opaque[0] if opaque else Verdict(FENCED)
        return self.judge_value(node, scope)

    def _hint(self, node: Any, scope: Scope) -> str:
        settings: list[str] = []
        _settings_read(node, settings)
        if any(s != (self.context.setting if self.context else None) for s in settings):
            return f" (it reads the custom setting {settings[0]}, which any session can set)"
        if isinstance(node, ast.NullTest):
            return " (true for a session that has no user or tenant set)"
        return ""

    def judge_value(self, node: Any, scope: Scope) -> Verdict:
        value = self.value(node, scope)
        if value.kind == "opaque":
            return Verdict(OPAQUE, value.reason)
        return Verdict(OPEN, f"{deparse(node)} does not compare the tenant column with the tenant context")

    def _fence(self, column: Val, source: Val, node: Any, table: int = 0) -> Verdict | None:
        """column <op> source: a fence when the column is the tenant column and the source the
        context's tenant value."""
        if column.kind != "col":
            return None
        if source.kind == "opaque":
            return Verdict(OPAQUE, source.reason)
        if source.kind != "src":
            return None
        if self.record:
            self.seen.append((column.name, source.sig))
        ctx = self.context
        if ctx is not None and table and self.is_user(source.sig):
            self.user_scoped.add(table)  # a users / profiles table fenced to the calling user
        if ctx is not None and ctx.membership is not None and table == ctx.membership.table.oid \
                and column.name == ctx.membership.user_column and self.is_user(source.sig):
            return Verdict(FENCED)  # the membership table: each user sees its own memberships
        if ctx is None or column.name != ctx.tenant_column:
            return Verdict(OPEN, f"{deparse(node)} compares {column.name}, not the tenant column")
        if self.is_tenant(source.sig):
            return Verdict(FENCED)
        return Verdict(OPEN, f"{deparse(node)}: {self.near_miss(source.sig)}")

    def judge_comparison(self, node: ast.A_Expr, scope: Scope) -> Verdict:
        op = _names(node.name)[-1:] if node.name else []
        if node.kind == enums.A_Expr_Kind.AEXPR_OP and op == ["="] or node.kind == enums.A_Expr_Kind.AEXPR_OP_ANY and op == ["="]:
            left, right = self.value(node.lexpr, scope), self.value(node.rexpr, scope)
            for column, source in ((left, right), (right, left)):
                verdict = self._fence(column, source, node, scope.table)
                if verdict is not None:
                    return verdict
            for v in (left, right):
                if v.kind == "opaque":
                    return Verdict(OPAQUE, v.reason)
            return Verdict(OPEN, f"{deparse(node)} does not compare the tenant column with the tenant context")
        if node.kind == enums.A_Expr_Kind.AEXPR_IN and op == ["="] and isinstance(node.rexpr, (list, tuple)):
            column = self.value(node.lexpr, scope)
            verdicts = [self._fence(column, self.value(item, scope), node, scope.table) for item in node.rexpr]
            if verdicts and all(v is not None and v.verdict == FENCED for v in verdicts):
                return Verdict(FENCED)
            return next((v for v in verdicts if v is not None and v.verdict != FENCED),
                        Verdict(OPEN, f"{deparse(node)} does not compare the tenant column with the tenant context"))
        values = [self.value(n, scope) for n in (node.lexpr, node.rexpr) if isinstance(n, ast.Node)]
        opaque = [v for v in values if v.kind == "opaque"]
        if opaque:
            return Verdict(OPAQUE, opaque[0].reason)
        return Verdict(OPEN, f"{deparse(node)} does not compare the tenant column with the tenant context")

    def judge_sublink(self, node: ast.SubLink, scope: Scope) -> Verdict:
        kind = node.subLinkType
        if kind == enums.SubLinkType.ANY_SUBLINK and _names(node.operName)[-1:] in ([], ["="]):
            column = self.value(node.testexpr, scope)
            source = self.select_value(node.subselect, scope)
            verdict = self._fence(column, source, node, scope.table)
            if verdict is not None:
                return verdict
            if source.kind == "opaque":
                return Verdict(OPAQUE, source.reason)
            return Verdict(OPEN, f"{deparse(node)} does not compare the tenant column with the tenant context")
        if kind == enums.SubLinkType.EXISTS_SUBLINK:
            return self.judge_exists(node.subselect, scope)
        if kind == enums.SubLinkType.EXPR_SUBLINK:
            select = node.subselect
            if isinstance(select, ast.SelectStmt) and not select.fromClause and select.targetList and len(select.targetList) == 1:
                return self.judge(select.targetList[0].val, scope)
        return self.judge_value(node, scope)

    def judge_exists(self, select: Any, scope: Scope) -> Verdict:
        """EXISTS (SELECT FROM r WHERE r.k = <tenant column> AND r.f = <source>): the tenant
        column IN (SELECT k FROM r WHERE f = <source>)."""
        if not isinstance(select, ast.SelectStmt) or not select.fromClause:
            if isinstance(select, ast.SelectStmt) and select.whereClause is not None:
                return self.judge(select.whereClause, scope)
            return Verdict(OPEN, "EXISTS without a correlated subquery does not restrict rows to the tenant")
        aliases, quals = self.from_items(select.fromClause)
        if aliases is None:
            return Verdict(OPAQUE, f"EXISTS reads a FROM item the tool does not follow")
        inner = scope.nested(aliases)
        conjuncts = [*quals, *_conjuncts(select.whereClause)]
        # a conjunct that fences on its own (tenant_id = setting inside the subquery) fences it too
        for c in conjuncts:
            if self._mentions_outer(c, inner) and self.judge(c, inner).verdict == FENCED:
                return Verdict(FENCED)
        opaque: Verdict | None = None
        for c in conjuncts:
            pair = self._equality(c, inner)
            if not pair:
                continue
            for a, b in (pair, pair[::-1]):
                if a.kind == "inner" and b.kind == "col":
                    rest = [x for x in conjuncts if x is not c]
                    filters = self.filters(a.alias, rest, inner)
                    if isinstance(filters, Val):
                        opaque = Verdict(OPAQUE, filters.reason)
                        continue
                    verdict = self._fence(b, Val("src", sig=("lookup", a.rel, a.name, filters)), c, scope.table)
                    if verdict is not None:
                        return verdict
                if a.kind == "opaque":
                    opaque = Verdict(OPAQUE, a.reason)
        return opaque or Verdict(OPEN, f"EXISTS ({deparse(select)}) is not correlated on the tenant column")

    def _mentions_outer(self, node: Any, scope: Scope) -> bool:
        refs: list[Any] = []
        _collect(node, ast.ColumnRef, refs)
        return any(self.column(r, scope).kind == "col" for r in refs)

    def judge_call(self, node: ast.FuncCall, scope: Scope) -> Verdict:
        names = _names(node.funcname)
        name, schema = names[-1], (names[-2] if len(names) > 1 else None)
        args = list(node.args or ())
        fn = self.catalog.function(schema, name, len(args))
        if isinstance(fn, str):
            return Verdict(OPAQUE, fn)
        if fn is None:
            return self.judge_value(node, scope)
        inner = self._bind(fn, args, scope)
        if isinstance(inner, Val):
            return Verdict(OPAQUE, inner.reason)
        body = _body(fn, self.bodies)
        if body.opaque:
            return Verdict(OPAQUE, body.opaque)
        if body.expr is not None:
            verdict = self.judge(body.expr, inner)
        else:
            select = body.select
            if select.fromClause:  # SELECT true FROM ... WHERE ...: EXISTS
                verdict = self.judge_exists(select, inner)
            elif select.targetList and len(select.targetList) == 1:
                verdict = self.judge(select.targetList[0].val, inner)
            else:
                verdict = Verdict(OPAQUE, f"{fn.label} returns something the tool cannot judge")
        if verdict.verdict == OPEN:
            return Verdict(OPEN, f"{fn.label}: {verdict.reason}")
        return verdict

    # -- whole queries (views, SECURITY DEFINER bodies) -------------------------------------------

    def query_verdict(self, stmts: list[Any]) -> Verdict:
        """Every read of a tenant table (a relation with the tenant column) or of the membership
        table in these statements is filtered under the model."""
        ctx = self.context
        if ctx is None:
            return Verdict(OPAQUE, "no tenant context")
        selects: list[Any] = []
        _collect(stmts, ast.SelectStmt, selects)
        for select in selects:
            if not select.fromClause:
                continue
            aliases, quals = self.from_items(select.fromClause)
            if aliases is None:
                return Verdict(OPAQUE, f"reads a FROM item the tool does not follow ({deparse(select)[:80]})")
            conjuncts = [*quals, *_conjuncts(select.whereClause)]
            for alias, rel in aliases.items():
                relation = self.catalog.relations[rel]
                m = ctx.membership
                is_members = m is not None and rel == m.table.oid
                if ctx.tenant_column not in relation.columns and not is_members:
                    continue
                others = {a: r for a, r in aliases.items() if a != alias}
                if not self._alias_fenced(alias, rel, others, conjuncts):
                    return Verdict(OPEN, f"it reads {relation.schema}.{relation.name} without restricting it to the "
                                         "tenant context")
        return Verdict(FENCED)

    def _alias_fenced(self, alias: str, rel: int, others: dict[str, int], conjuncts: list[Any]) -> bool:
        """One conjunct restricts range variable ``alias`` (of relation ``rel``) to the context:
        judged as a policy on that relation would be, or, on the membership table, a filter on
        the context's user."""
        ctx = self.context
        m = ctx.membership
        scope = Scope(rel, [others] if others else [], alias=alias)
        users = Scope(0, [{alias: rel, **others}], function="~")
        for c in conjuncts:
            if self.judge(c, scope).verdict == FENCED:
                return True
            pair = self._equality(c, users)
            if pair and m is not None and rel == m.table.oid:
                for a, b in (pair, pair[::-1]):
                    if a.kind == "inner" and a.alias == alias and a.name == m.user_column and b.kind == "src" \
                            and self.is_user(b.sig):
                        return True
        return False


def _conjuncts(node: Any) -> list[Any]:
    if node is None:
        return []
    if isinstance(node, ast.BoolExpr) and node.boolop == enums.BoolExprType.AND_EXPR:
        out: list[Any] = []
        for arg in node.args:
            out += _conjuncts(arg)
        return out
    return [node]


def _collect(node: Any, kind: type, into: list[Any]) -> None:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, kind):
            into.append(item)
        if isinstance(item, ast.Node):
            for slot in type(item).__slots__:
                value = getattr(item, slot, None)
                if isinstance(value, (ast.Node, tuple, list)):
                    stack.append(value)
        elif isinstance(item, (tuple, list)):
            stack.extend(item)


def _settings_read(node: Any, into: list[str]) -> None:
    calls: list[Any] = []
    _collect(node, ast.FuncCall, calls)
    for call in calls:
        if _names(call.funcname)[-1:] == ["current_setting"] and call.args:
            text = _const_text(call.args[0])
            if text:
                into.append(text)


# -- once per audit ---------------------------------------------------------------------------------


@dataclass
class Analysis:
    catalog: Catalog
    parsed: dict[str, Any]  # expression text -> parse tree (or None: unparsable)


def read_policies(conn: psycopg.Connection, params: dict[str, Any]) -> Analysis:
    """The catalogue, the policies, their parse trees, and every helper they reach (one query per
    level of helpers)."""
    catalog = Catalog(conn, params)
    parsed: dict[str, Any] = {}
    names: set[str] = set()
    for policy in catalog.policies:
        for text in (policy.using, policy.check):
            if text is not None and text not in parsed:
                try:
                    parsed[text] = catalog.parse_expression(text)
                except parser.ParseError:
                    parsed[text] = None
                    continue
                _function_calls(parsed[text], names)
    definers = conn.execute(_DEFINERS_SQL, params).fetchall()
    names |= {name for _oid, name in definers}
    catalog.definers = [oid for oid, _name in definers]
    for oid, text, barrier in conn.execute(_VIEWS_SQL, params):
        if barrier:
            catalog.barrier_views.add(oid)
        try:
            catalog.views[oid] = parse_sql(text) if text else None
        except parser.ParseError:
            catalog.views[oid] = None
        if catalog.views[oid]:
            _function_calls(catalog.views[oid], names)
    for _level in range(MAX_DEPTH):
        before = set(catalog.functions)
        catalog.load_functions(names)
        names = set()
        for oid in set(catalog.functions) - before:
            body = _body(catalog.functions[oid], catalog.bodies)
            for tree in (body.expr, body.select):
                if tree is not None:
                    _function_calls(tree, names)
        if not names - catalog._asked:
            break
    return Analysis(catalog, parsed)


def verdicts(analysis: Analysis, context: TenantContext | None, user_scoped: set[int] | None = None) -> dict[str, dict[str, str]]:
    """{policy oid: {using, using_reason, check, check_reason}} under the context; each distinct
    (table, text) judged once. ``user_scoped`` receives the tables whose policies compare a column
    with the context's user (membership model): the users' own rows, not tenant rows."""
    analyzer = Analyzer(analysis.catalog, context)
    if user_scoped is not None:
        analyzer.user_scoped = user_scoped
    memo: dict[tuple[int, str], Verdict] = {}
    out: dict[str, dict[str, str]] = {}
    for policy in analysis.catalog.policies:
        entry: dict[str, str] = {}
        for part, text in (("using", policy.using), ("check", policy.check)):
            if text is None:
                continue
            key = (policy.relid, text)
            if key not in memo:
                memo[key] = _judge_text(analyzer, analysis, policy.relid, text)
            entry[part], entry[part + "_reason"] = memo[key].verdict, memo[key].reason
        out[str(policy.oid)] = entry
    return out


def _judge_text(analyzer: Analyzer, analysis: Analysis, relid: int, text: str) -> Verdict:
    tree = analysis.parsed.get(text)
    if tree is None:
        return Verdict(OPAQUE, "its expression could not be parsed")
    try:
        return analyzer.judge(tree, Scope(relid))
    except RecursionError:
        return Verdict(OPAQUE, "its expression is nested too deeply to judge")


def object_verdicts(analysis: Analysis, context: TenantContext | None) -> dict[str, dict[str, str]]:
    """SECURITY DEFINER functions and views whose own query answers only about the context
    ({oid: {verdict, reason}, and for views barrier: whether it is security_barrier})."""
    analyzer = Analyzer(analysis.catalog, context)
    out: dict[str, dict[str, str]] = {}
    for oid in analysis.catalog.definers:
        fn = analysis.catalog.functions.get(oid)
        if fn is None:
            continue
        body = _body(fn, analyzer.bodies)
        if body.opaque:
            verdict = Verdict(OPAQUE, body.opaque)
        else:
            verdict = analyzer.query_verdict([body.expr if body.expr is not None else body.select])
        out[str(oid)] = {"verdict": verdict.verdict, "reason": verdict.reason}
    for oid, tree in analysis.catalog.views.items():
        verdict = analyzer.query_verdict(list(tree)) if tree else Verdict(OPAQUE, "its query could not be read")
        out[str(oid)] = {"verdict": verdict.verdict, "reason": verdict.reason,
                         "barrier": oid in analysis.catalog.barrier_views}
    return out


def seen_sources(analysis: Analysis) -> list[tuple[int, str, tuple]]:
    """(table, column, source) of every comparison of a column with a context-like source in
    every policy: what inference counts."""
    out: list[tuple[int, str, tuple]] = []
    analyzer = Analyzer(analysis.catalog, None, record=True)
    # without a context the table only names columns, and a text naming its table differs anyway:
    # policies stamped from one template are judged once
    memo: dict[str, list[tuple[str, tuple]]] = {}
    for policy in analysis.catalog.policies:
        for text in (policy.using, policy.check):
            if text is None or analysis.parsed.get(text) is None:
                continue
            if text not in memo:
                analyzer.seen = []
                try:
                    analyzer.judge(analysis.parsed[text], Scope(policy.relid))
                except RecursionError:
                    pass
                memo[text] = analyzer.seen
            out += [(policy.relid, column, sig) for column, sig in memo[text]]
    return out


def fence_sql(context: TenantContext) -> str | None:
    """The fence remediations write, with @type@ for the tenant column's type; None: today's default."""
    col = _ident(context.tenant_column)
    if context.model == "setting":
        read = f"NULLIF(pg_catalog.current_setting({_literal(context.setting)}, true), '')"
        for key in context.json_path:
            read = f"({read}::jsonb ->> {_literal(key)})"
        return f"{col} = {read}::@type@"
    table = _qualified(context.tenant_table) if context.tenant_table else None
    key = _ident(context.tenant_key or "id")
    if context.model == "mapped" and table:
        return (f"{col} = (SELECT {key} FROM {table} WHERE {_ident(context.mapped_key or '')} = "
                f"NULLIF(pg_catalog.current_setting({_literal(context.setting)}, true), ''))")
    if context.model == "role":
        if context.role_column and table:
            return f"{col} = (SELECT {key} FROM {table} WHERE {_ident(context.role_column)} = CURRENT_USER)"
        return f"{col}::text = CURRENT_USER"
    if context.model == "membership" and context.membership:
        m = context.membership
        user = f"NULLIF(pg_catalog.current_setting({_literal(context.setting)}, true), '')"
        for k in context.json_path:
            user = f"({user}::jsonb ->> {_literal(k)})"
        if context.session:
            s = context.session
            user = f"(SELECT {_ident(s.user_column)} FROM {_qualified(s.table)} WHERE {_ident(s.key_column)}::text = {user})"
        return (f"{col} IN (SELECT {_ident(m.tenant_column)} FROM {_qualified(m.table)} "
                f"WHERE {_ident(m.user_column)}::text = {user})")
    return None


def fence_label(context: TenantContext) -> str:
    """How messages name the model's fence."""
    if context.model == "setting":
        return f"{_ident(context.tenant_column)} = {describe_source(_setting(context.setting or '', context.json_path))}"
    where = ""
    if context.model == "membership" and context.membership:
        where = f" ({context.membership.table.display})"
    elif context.tenant_table:
        where = f" ({context.tenant_table.display})"
    return f"{_ident(context.tenant_column)} under the {context.model} model{where}"


def _ident(name: str) -> str:
    """Quoted as PostgreSQL's quote_ident would: bare only when lower case and not a keyword the
    grammar reserves anywhere (pglast carries the server's keyword lists)."""
    import re

    from pglast import keywords

    reserved = keywords.RESERVED_KEYWORDS | keywords.TYPE_FUNC_NAME_KEYWORDS | keywords.COL_NAME_KEYWORDS
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) and name not in reserved:
        return name
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str | None) -> str:
    return "'" + (text or "").replace("'", "''") + "'"


def _qualified(rel) -> str:
    return f"{_ident(rel.schema)}.{_ident(rel.name)}"


def count_sources(seen: list[tuple[int, str, tuple]]) -> Counter:
    """How many tables compare each (column, source)."""
    return Counter({key: len(tables) for key, tables in _group(seen).items()})


def _group(seen: list[tuple[int, str, tuple]]) -> dict[tuple[str, tuple], set[int]]:
    out: dict[tuple[str, tuple], set[int]] = {}
    for rel, column, sig in seen:
        out.setdefault((column, sig), set()).add(rel)
    return out


# -- the context, inferred from what the policies compare ------------------------------------------


def _source_kind(sig: tuple, catalog: Catalog) -> tuple | None:
    """What model a compared source suggests, as (model, details) — None for a source no model
    explains (a constant lookup, a column of an unrelated table)."""
    if sig == ("role",):
        return ("role", None, None)
    if sig[0] == "setting":
        return ("setting", sig[1], tuple(sig[2]))
    if sig[0] != "lookup":
        return None
    _, rel, key, filters = sig
    relation = catalog.relations.get(rel)
    if relation is None:
        return None
    for column, source in sorted(filters, key=str):
        if source == ("role",):
            return ("role", rel, (key, column))
        if source[0] == "setting":
            if column in relation.unique and key == relation.primary:
                return ("mapped", rel, (key, column, source[1], tuple(source[2])))
            return ("membership", rel, (key, column, source, None))
        if source[0] == "lookup":
            # m.user_id = (SELECT user_id FROM sessions WHERE uuid = <setting>): a session
            _, srel, suser, sfilters = source
            for skey, ssource in sorted(sfilters, key=str):
                if ssource[0] == "setting":
                    return ("membership", rel, (key, column, ssource, (srel, skey, suser)))
    return None


def infer_context(analysis: Analysis, scope, config) -> TenantContext | None:
    """The tenant context most policies of the audited schemas imply: the (column, source) pair
    compared on the most tables names the tenant column and the model; the tenants table comes
    from the lookup itself (mapped, role) or from the tenant column's foreign keys. Options the
    user gave are kept. None when no policy compares a column with anything the models know."""
    from .context import Membership, Relation as ContextRelation, SessionMap

    catalog = analysis.catalog
    groups: dict[tuple, set[int]] = {}
    for rel, column, sig in seen_sources(analysis):
        relation = catalog.relations.get(rel)
        if relation is not None and relation.primary == column:
            continue  # the tenants (or users) table fencing its own key: not what tenant tables carry
        kind = _source_kind(sig, catalog)
        if kind is None or config.is_explicit("tenant_column") and column != config.tenant_column:
            continue
        groups.setdefault((column, kind), set()).add(rel)
    # a setting compared where a membership lookup reads it as the user (user_id = auth.uid() on
    # the membership table itself) is the membership model's user, not a tenant setting
    users = {tuple(kind[2][2]) for _column, kind in groups if kind[0] == "membership" and kind[2][3] is None}
    groups = {key: rels for key, rels in groups.items()
              if not (key[1][0] == "setting" and ("setting", key[1][1], key[1][2]) in users)}
    if not groups:
        return None
    # most tables first; on a tie the more specific model (a lookup) over a bare setting
    (column, kind), tables = max(groups.items(), key=lambda item: (len(item[1]), item[0][1][0] != "setting", str(item[0])))
    # the defaults (or the options) stand unless the policies say otherwise more often
    default_key = (config.tenant_column, ("setting", config.setting, tuple(config.claim_path)))
    default = groups.get(default_key, set())
    if len(tables) <= len(default):  # the policies confirm the defaults
        (column, kind), tables = default_key, default
    model = kind[0]
    total = len({rel for rels in groups.values() for rel in rels})

    def as_relation(oid: int | None) -> ContextRelation | None:
        rel = catalog.relations.get(oid) if oid else None
        return ContextRelation(rel.schema, rel.name, rel.oid) if rel else None

    def referenced(by_column: str, on: set[int]) -> int | None:
        """The table the column's foreign keys point at on most of these tables."""
        targets = Counter(catalog.foreign_keys[(rel, by_column)][0] for rel in on if (rel, by_column) in catalog.foreign_keys)
        return targets.most_common(1)[0][0] if targets else None

    tenant_oid: int | None = None
    setting, path, mapped_key, role_column, membership, session = None, (), None, None, None, None
    if model == "setting":
        setting, path = kind[1], kind[2]
        tenant_oid = referenced(column, tables)
    elif model == "mapped":
        tenant_oid = kind[1]
        _key, mapped_key, setting, path = kind[2]
    elif model == "role":
        if kind[1] is not None:
            tenant_oid, role_column = kind[1], kind[2][1]
        else:
            tenant_oid = referenced(column, tables)
    else:
        members = catalog.relations[kind[1]]
        m_tenant, m_user, user_source, session_of = kind[2]
        membership = Membership(ContextRelation(members.schema, members.name, members.oid), m_user, m_tenant)
        setting, path = user_source[1], tuple(user_source[2])
        if session_of is not None:
            srel, skey, suser = session_of
            sessions = catalog.relations[srel]
            session = SessionMap(ContextRelation(sessions.schema, sessions.name, sessions.oid), skey, suser)
        tenant_oid = referenced(m_tenant, {members.oid}) or referenced(column, tables)
    if config.is_explicit("tenant_table"):
        tenant = scope.tenant_relation
    else:
        tenant = as_relation(tenant_oid) or scope.tenant_relation
    tenant_key = None
    if tenant is not None and tenant.oid in catalog.relations:
        tenant_key = catalog.relations[tenant.oid].primary
    if config.is_explicit("setting") and model in ("setting", "mapped"):
        setting = config.setting
    if config.is_explicit("claim_path"):
        path = tuple(config.claim_path)
    evidence = (f"{len(tables)} of the {total} tables whose policies compare a column with a tenant context compare "
                f"{column} with {describe_source(_example_source(kind, catalog), catalog)}")
    if tenant is not None and not config.is_explicit("tenant_table") and tenant_oid is not None:
        evidence += f"; {column} references {tenant.display}" if model == "setting" else ""
    return TenantContext(
        model=model, tenant_column=column, tenant_table=tenant, tenant_key=tenant_key, setting=setting,
        json_path=path, mapped_key=mapped_key, membership=membership, session=session, role_column=role_column,
        claims=dict(config.claims), inferred=True, evidence=evidence,
    )


def _example_source(kind: tuple, catalog: Catalog) -> tuple:
    model = kind[0]
    if model == "setting":
        return ("setting", kind[1], kind[2])
    if model == "role" and kind[1] is None:
        return ("role",)
    if model == "role":
        key, column = kind[2]
        return ("lookup", kind[1], key, frozenset({(column, ("role",))}))
    if model == "mapped":
        key, column, setting, path = kind[2]
        return ("lookup", kind[1], key, frozenset({(column, ("setting", setting, path))}))
    key, column, user_source, session_of = kind[2]
    if session_of is not None:
        srel, skey, suser = session_of
        user_source = ("lookup", srel, suser, frozenset({(skey, user_source)}))
    return ("lookup", kind[1], key, frozenset({(column, user_source)}))


def settle_context(conn: psycopg.Connection, scope, config) -> Analysis:
    """Once per audit, after the lock scan: read the policies, infer the tenant context unless the
    options chose one, and give the checks the analyzer's verdicts as parameters."""
    from psycopg.types.json import Jsonb

    from . import catalog as catalog_module

    for attempt in range(catalog_module.LOCK_RETRIES + 1):
        try:
            with conn.transaction():  # a savepoint: a lock that came after the scan is not fatal
                analysis = read_policies(conn, scope.params)
            break
        except psycopg.errors.LockNotAvailable:
            # a relation locked since the scan: found by a re-scan, left out, and read again
            before = set(scope.unaudited)
            catalog_module.mark_unaudited(scope, catalog_module.find_unaudited(conn, scope, scope.unaudited))
            if attempt == catalog_module.LOCK_RETRIES or set(scope.unaudited) == before and attempt > 0:
                raise
    if not scope.context_configured:
        inferred = infer_context(analysis, scope, config)
        if inferred is not None:
            scope.apply_context(inferred)
    context = scope.context
    user_scoped: set[int] = set()
    scope.params["policy_verdicts"] = Jsonb(verdicts(analysis, context, user_scoped))
    scope.params["user_scoped_tables"] = sorted(user_scoped)
    scope.params["tenant_roles"] = _tenant_roles(conn, context, scope.unaudited)
    scope.params["object_verdicts"] = Jsonb(object_verdicts(analysis, context))
    scope.params["fence_sql"] = fence_sql(context) if context else None
    scope.params["fence_label"] = fence_label(context) if context else None
    membership = context.membership if context else None
    scope.params["membership_table"] = (membership.table.oid or 0) if membership else 0
    return analysis


def _tenant_roles(conn: psycopg.Connection, context: TenantContext | None, unaudited: dict) -> list[str]:
    """The role model's tenant roles: the tenants table's role column (names only, at most
    ROLE_LIMIT); empty under the other models, when the tenants table is locked by another session
    (not audited), or when reading it would run its policies as the auditor: with row_security off
    the server refuses instead of evaluating them, and the savepoint is always rolled back."""
    from psycopg import sql

    if context is None or context.model != "role" or not context.role_column or context.tenant_table is None \
            or context.tenant_table.oid in unaudited:
        return []
    query = sql.SQL("SELECT DISTINCT {col}::text FROM {table} WHERE {col} IS NOT NULL LIMIT {limit}").format(
        col=sql.Identifier(context.role_column),
        table=sql.Identifier(context.tenant_table.schema, context.tenant_table.name),
        limit=sql.Literal(ROLE_LIMIT),
    )
    names: list[str] = []
    try:
        with conn.transaction():  # a savepoint; its SET LOCAL ends with it
            conn.execute("SELECT pg_catalog.set_config('row_security', 'off', true)")
            names = [name for (name,) in conn.execute(query)]
            raise psycopg.Rollback()
    except psycopg.Error:  # no privilege, RLS that would apply, a lock or a timeout: no pairs known
        return []
    return names


ROLE_LIMIT = 10_000  # tenant roles read for the role model's SET ROLE pairs
