"""Behavioural cross-tenant probes: what the application role really sees and can change.

Every experiment runs as the application role (``SET LOCAL ROLE``) with the tenant setting put
the way a correct application does (``set_config(setting, value, true)``), inside a savepoint
that is always rolled back. Read probes use the rows already there and run in the audit's READ
ONLY transaction. Write probes (``--probe write``) use synthetic rows in a transaction of their
own that always ends in ROLLBACK. Tenant ids and row data never leave this module: results say
only what was visible or allowed.
"""

from __future__ import annotations

import json
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import psycopg
from psycopg import sql

from .catalog import Scope
from .context import TenantContext
from .data_checks import TenantTable, hidden_by_rls
from .data_checks import bounded
from .. import progress
from ..db import duration_ms, identifier, server_message
from ..findings import (
    FAILS_CLOSED_BY_ERROR,
    LEAK,
    NOT_PROVEN,
    SKIPPED,
    Finding,
    ProbeResult,
    Severity,
)

PASS = "pass"


class ProbeError(Exception):
    """An experiment could not be run (privileges, timeout): the property is not proven.

    ``cause``: the SQLSTATE when the server could not do the work now (see server_side_state)."""

    def __init__(self, message: str, cause: str | None = None):
        super().__init__(message)
        self.cause = cause


def server_side_state(state: str | None) -> bool:
    """A SQLSTATE that says the server could not do the work now, not that the schema or the data
    answered: query canceled (57014, timeouts), lock not available (55P03), serialization failure
    and deadlock (40001, 40P01), insufficient resources (class 53), system errors (class 58)."""
    state = state or ""
    return state in ("57014", "55P03", "40001", "40P01") or state[:2] in ("53", "58")


class Reason(str):
    """Why a result is not proven, carrying ``server_cause`` (a SQLSTATE) when the reason is
    server-side. str() of it is itself, so the cause survives the str(value) of callers."""

    server_cause: str | None

    def __new__(cls, text: str, server_cause: str | None = None) -> "Reason":
        self = super().__new__(cls, text)
        self.server_cause = server_cause
        return self

    def __str__(self) -> str:
        return self


def _unproven(text: str, exc: BaseException | None = None, cause: str | None = None) -> tuple[str, Reason]:
    state = getattr(exc, "sqlstate", None) if exc is not None else cause
    return "unproven", Reason(text, state if server_side_state(state) else None)


# Where PostgreSQL raises an RLS refusal of a written row (WITH CHECK, also for UPDATE's USING on
# ON CONFLICT and MERGE): the error's source function, a diagnostic field sent in every language.
_RLS_REFUSAL = "ExecWithCheckOptions"
_RLS_UNAVAILABLE = "check_enable_rls"  # row_security = off on a table with RLS: the query raises
_PRIVILEGES = """
SELECT u.s, u.t, pg_catalog.has_schema_privilege(%(role)s, c.relnamespace, 'USAGE'),
       pg_catalog.has_any_column_privilege(%(role)s, c.oid, 'SELECT'),
       pg_catalog.has_table_privilege(%(role)s, c.oid, 'INSERT'),
       pg_catalog.has_column_privilege(%(role)s, c.oid, a.attnum, 'UPDATE'),
       pg_catalog.has_table_privilege(%(role)s, c.oid, 'DELETE')
FROM ROWS FROM (pg_catalog.unnest(%(schemas)s::text[]), pg_catalog.unnest(%(tables)s::text[])) AS u (s, t)
JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(pg_catalog.quote_ident(u.s) || '.' || pg_catalog.quote_ident(u.t))
LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = %(column)s AND NOT a.attisdropped
"""
# A tenant's role (role model): whether the auditing role may SET ROLE to it (PostgreSQL 16
# separates membership from the right to SET ROLE), and its name quoted for messages.
_ROLE_REACHABLE = """
SELECT pg_catalog.pg_has_role(r.oid, CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 160000
                                          THEN 'SET' ELSE 'MEMBER' END), pg_catalog.quote_ident(r.rolname)
FROM pg_catalog.pg_roles r WHERE r.rolname = %s
"""
# Transaction-local settings applied one after another (volatile output is computed after the
# sort), so that a setting after 'role' is set as that role.
_SET_IN_ORDER = """
SELECT pg_catalog.set_config(s.name, s.value, true)
FROM ROWS FROM (pg_catalog.unnest(%s::text[]), pg_catalog.unnest(%s::text[])) WITH ORDINALITY AS s (name, value, n)
ORDER BY s.n
"""
# Where current_setting(name) without missing_ok raises for a setting never set (42704): the
# source function, sent in every language (find_option since PostgreSQL 15 or so).
_UNKNOWN_SETTING = ("find_option", "GetConfigOptionByName")
# The app role's own settings as PostgreSQL applies them at login: for this database and role,
# for the role, for this database, for everyone (the first of these that sets a name wins).
_ROLE_SETTINGS = """
SELECT s.cfg, s.rank FROM (
  SELECT c.cfg, CASE WHEN d.setdatabase <> 0 AND d.setrole <> 0 THEN 0 WHEN d.setrole <> 0 THEN 1
                     WHEN d.setdatabase <> 0 THEN 2 ELSE 3 END AS rank
  FROM pg_catalog.pg_db_role_setting d, pg_catalog.unnest(d.setconfig) AS c (cfg)
  WHERE d.setdatabase IN (0, (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()))
    AND d.setrole IN (0, (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %s))
) s ORDER BY s.rank
"""
# Settings a probe keeps its own: its bounds, its transaction, its identity and the tenant setting.
_OWN_SETTINGS = (
    "statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout", "idle_session_timeout",
    "transaction_timeout", "client_encoding", "application_name", "role", "session_authorization",
)


def load_privileges(conn: psycopg.Connection, app_role: str, tables: list[TenantTable], tenant_column: str) -> dict:
    """(schema, table) -> the privileges the app role holds for the probes' statements: SELECT,
    INSERT, UPDATE (of the tenant column), DELETE; none without USAGE on the schema. One query."""
    rows = conn.execute(
        _PRIVILEGES,
        {"role": app_role, "schemas": [t.schema for t in tables], "tables": [t.table for t in tables], "column": tenant_column},
    ).fetchall()
    held: dict[tuple[str, str], set[str]] = {}
    for schema, table, usage, *granted in rows:
        held[(schema, table)] = {p for p, ok in zip(("SELECT", "INSERT", "UPDATE", "DELETE"), granted) if ok and usage}
    return held


@dataclass
class Subject:
    """Who or what is put in context for one tenant A, per the tenant context model.

    ``value`` goes into the context's setting (setting: A's id; mapped: A's mapped key; membership:
    the user whose tenants are exactly {A}, or a session of that user); ``role`` is the role to SET
    LOCAL ROLE to instead of the app role (role model). ``tenants`` is the context's tenant set as
    the auditor read it (text); for membership it is re-read before any leak is reported."""

    tenants: frozenset[str]
    value: str | None = None
    role: str | None = None
    user: str | None = None  # membership: the user id, as text
    user_row: Any = None  # membership, write mode: the synthetic user's synth.RowRef (if users are a table)


# Why tenant A could not be put in context, per model (ProbeError messages).
NO_SINGLE_TENANT_USER = (
    "no user of {table} belongs to exactly one tenant that owns rows here, so no user's context is one tenant's: "
    "use --probe write to test with a synthetic user"
)


@dataclass
class ProbeContext:
    conn: psycopg.Connection
    scope: Scope
    app_role: str
    timeout: str
    results: list[ProbeResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    # How a tenant id is written into the setting: None is the id itself; a JSON path (keys) is a
    # JSON document holding the id there, for settings the policies read as JSON (Supabase's
    # request.jwt.claims, read as current_setting(...)::json ->> 'org_id'). See calibrate().
    json_path: tuple[str, ...] | None = None
    _json_paths: list[tuple[str, ...]] | None = None
    # (schema, table) -> privileges the app role holds (load_privileges); None: not read
    privileges: dict[tuple[str, str], set[str]] | None = None
    _app_settings: list[tuple[str, str]] | None = None
    # tenant id (text) -> who is in context for it; membership subjects are chosen (read mode) or
    # synthesized (write mode) up front, the others are looked up on first use
    subjects: dict[str, Subject] = field(default_factory=dict)
    _lookups: dict[str, Any] = field(default_factory=dict)
    # True in the read-only audit's one snapshot: what the auditor read stays true (cached)
    snapshot_fixed: bool = False
    _scratch_open: bool = False
    _tenant_sets: dict[str, frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.json_path is None and self.context.json_path:
            self.json_path = tuple(self.context.json_path)

    @property
    def context(self) -> TenantContext:
        if self.scope.context is not None:
            return self.scope.context
        return TenantContext(model="setting", tenant_column=self.scope.params["tenant_column"], tenant_table=None,
                             setting=self.scope.params["setting"])

    @property
    def model(self) -> str:
        return self.context.model

    @property
    def setting(self) -> str | None:
        """The setting that carries the context (None for the role model)."""
        if self.model == "role":
            return None
        return self.context.setting or self.scope.params.get("setting")

    def encode(self, value: str) -> str:
        """The setting's value for ``value`` ('' stays '': the reset setting): the value itself, or
        a JSON document holding it at json_path, merged with the context's extra claims."""
        if self.json_path is None or value == "":
            return value
        document: dict[str, Any] = {}
        for name, claim in self.context.claims.items():
            document[name] = claim
        here = document
        for key in self.json_path[:-1]:
            nested = here.get(key)
            here[key] = nested = dict(nested) if isinstance(nested, dict) else {}
            here = nested
        here[self.json_path[-1]] = value
        return json.dumps(document)

    def settings_for(self, value: str) -> list[tuple[str, str]]:
        """set_config pairs that put ``value`` in context ('' = every one reset). For Supabase's
        request.jwt.claims, each top-level claim also goes into request.jwt.claim.<name>, the
        legacy form auth.uid() and auth.role() read."""
        if self.setting is None:
            return []
        pairs = [(self.setting, self.encode(value))]
        if self.setting == "request.jwt.claims" and self.json_path:
            if len(self.json_path) == 1:
                pairs.append((f"request.jwt.claim.{self.json_path[0]}", value))
            for name, claim in self.context.claims.items():
                if name != (self.json_path[0] if len(self.json_path) == 1 else None):
                    pairs.append((f"request.jwt.claim.{name}", "" if value == "" else str(claim)))
        return pairs

    def context_settings(self) -> list[str]:
        """The names of every setting the context uses."""
        return [name for name, _ in self.settings_for("x")]

    def subject(self, tenant: str) -> Subject:
        """Who is in context for ``tenant`` (text). Raises ProbeError with the reason when the
        model gives no way to put that tenant, and only it, in context."""
        if tenant in self.subjects:
            return self.subjects[tenant]
        model = self.model
        if model == "setting":
            subject = Subject(frozenset([tenant]), value=tenant)
        elif model == "mapped":
            key = self._tenant_attribute(tenant, self.context.mapped_key)
            if key is None:
                raise ProbeError(f"this tenant has no {self.context.mapped_key} in the tenants table to put in {self.setting}")
            subject = Subject(frozenset([tenant]), value=key)
        elif model == "role":
            subject = Subject(frozenset([tenant]), role=self._tenant_role(tenant))
        else:
            membership = self.context.membership
            raise ProbeError(NO_SINGLE_TENANT_USER.format(table=membership.table.display if membership else "the membership table"))
        self.subjects[tenant] = subject
        return subject

    def enter(self, tenant: str) -> None:
        """As the auditor (inside the caller's transaction or savepoint): entry_settings(tenant)."""
        for name, value in self.entry_settings(tenant):
            self.conn.execute("SELECT pg_catalog.set_config(%s, %s, true)", (name, value))

    def entry_settings(self, tenant: str) -> list[tuple[str, str]]:
        """The context's settings for ``tenant``, set as the auditor so that tables whose RLS
        applies to the auditor too admit its rows; none for a tenant that cannot be put in
        context (the experiments then say why)."""
        try:
            subject = self.subject(tenant)
        except ProbeError:
            return []
        return self.settings_for(subject.value) if subject.value is not None else []

    def tenant_set(self, subject: Subject) -> frozenset[str] | None:
        """The context's tenant set as the auditor reads it now (membership: every tenant the
        user's membership rows name); None when it could not be read."""
        if self.model != "membership" or subject.user is None:
            return subject.tenants
        if self.snapshot_fixed and subject.user in self._tenant_sets:
            return self._tenant_sets[subject.user]
        m = self.context.membership
        query = sql.SQL("SELECT pg_catalog.array_agg(DISTINCT m.{t}::text) FROM {table} m WHERE m.{u}::text = %s").format(
            t=sql.Identifier(m.tenant_column), u=sql.Identifier(m.user_column), table=identifier(m.table.schema, m.table.name)
        )
        try:
            row = bounded(self.conn, self.timeout, query, (subject.user,))
        except psycopg.OperationalError:
            raise
        except psycopg.Error:
            return None
        found = frozenset(row[0] or ()) | subject.tenants
        if self.snapshot_fixed:
            self._tenant_sets[subject.user] = found
        return found

    def outside(self, subject: Subject, tenant: str | None) -> tuple[bool, str]:
        """Whether ``tenant`` (a row's tenant, read by the auditor) is outside the context's tenant
        set: (True, "") is the proof a leak needs; (False, why not) otherwise."""
        if tenant is None:
            return False, "the row seen has no tenant (NULL), so it is no other tenant's"
        own = self.tenant_set(subject)
        if own is None:
            return False, "the auditing role could not read the user's memberships to tell whose the row seen is"
        if tenant in own:
            return False, "the row seen belongs to a tenant inside the context's own tenant set (the user is a member of it)"
        return True, ""

    def _tenant_attribute(self, tenant: str, column: str | None) -> str | None:
        """``column`` of ``tenant``'s row in the tenants table, read by the auditor (cached)."""
        context = self.context
        key = context.tenant_key or self.scope.tenant_key
        if column is None or key is None or context.tenant_table is None:
            return None
        cache = (column, tenant)
        if cache not in self._lookups:
            query = sql.SQL("SELECT t.{c}::text FROM {table} t WHERE t.{k}::text = %s LIMIT 1").format(
                c=sql.Identifier(column), k=sql.Identifier(key),
                table=identifier(context.tenant_table.schema, context.tenant_table.name),
            )
            row = bounded(self.conn, self.timeout, query, (tenant,))
            self._lookups[cache] = row[0] if row else None
        return self._lookups[cache]

    def _tenant_role(self, tenant: str) -> str:
        """The role of ``tenant`` (its role column, or the role named like its key), if the
        auditing role may SET ROLE to it; else ProbeError with the reason."""
        column = self.context.role_column
        name = self._tenant_attribute(tenant, column) if column else tenant
        if name is None:
            raise ProbeError(f"this tenant has no role in the tenants table's {column} column")
        reachable = self.conn.execute(_ROLE_REACHABLE, (name,)).fetchone()
        if reachable is None:
            raise ProbeError("no role is named like this tenant's role" + (f" ({column})" if column else " (the tenant key)"))
        if not reachable[0]:
            raise ProbeError(
                f"the auditing role may not SET ROLE to this tenant's role {reachable[1]}: GRANT {reachable[1]} TO the auditing role"
            )
        return name

    def unset_label(self) -> str:
        return f"{self.app_role}, no tenant's role" if self.model == "role" else "reset to ''"

    def unset_words(self) -> str:
        """How "no tenant in context" was observed, before unset_label()'s observations."""
        return "as" if self.model == "role" else "with the setting"

    def calibrate(self, tenant: str, sees_own: Callable[[psycopg.Connection], bool]) -> None:
        """Settle how the setting carries a tenant id, on a row of ``tenant`` the app role should see.

        The id itself is tried first; when that does not show the tenant its own row (a policy
        reads the setting as JSON, so a bare id raises or matches nothing), each JSON path the
        policies and setting functions apply to it (->> 'org_id', -> 'app_metadata' ->> 'org_id')
        is tried, tenant column name first. The first that works is kept, and tried first on the
        next table (tables may read different paths of one setting).
        """
        kept = self.json_path
        if attempt(self, tenant, sees_own) == ("ok", True):
            return
        for path in dict.fromkeys([None, *self.json_paths()]):
            if path == kept:
                continue
            self.json_path = path
            if attempt(self, tenant, sees_own) == ("ok", True):
                return
        self.json_path = kept

    def json_paths(self) -> list[tuple[str, ...]]:
        if self._json_paths is None:
            texts = [row[0] for row in self.conn.execute(_JSON_SOURCES, (self.setting,)) if row[0]] if self.setting else []
            wanted = self.json_path[-1] if self.json_path else self.scope.params["tenant_column"]
            self._json_paths = json_paths(texts, wanted)
        return self._json_paths

    @property
    def column(self) -> sql.Composable:
        return identifier(self.scope.params["tenant_column"])

    def as_app(self, tenant: str | None, action: Callable[[psycopg.Connection], Any]) -> Any:
        """Run ``action`` as the app role with tenant ``tenant`` in context ('' = the context reset,
        None = untouched): its setting (the tenant id, its mapped key, or its user), or, for the
        role model, as the tenant's role instead of the app role.

        The savepoint is always rolled back, which also undoes SET LOCAL ROLE and the setting.
        Raises ProbeError when the experiment itself could not run; any other database error is
        returned by the caller's handling as the server refusing the operation.
        """
        settings = self.app_settings()
        role, pairs = self.app_role, []
        if tenant == "":
            pairs = self.settings_for("")
        elif tenant is not None:
            subject = self.subject(tenant)
            role = subject.role or self.app_role
            pairs = self.settings_for(subject.value) if subject.value is not None else []
        # In this order, in one statement: the bound, the context, the role (set_config('role')
        # is SET LOCAL ROLE), then what the application's sessions start with (search_path above
        # all), set as the app role as its sessions would.
        ordered = [("statement_timeout", str(duration_ms(self.timeout))), *pairs, ("role", role), *settings]
        if not self.snapshot_fixed:
            with savepoint_with(self.conn, (_SET_IN_ORDER, ([n for n, _ in ordered], [v for _, v in ordered]))):
                return action(self.conn)
        with self.scratch():
            self.conn.execute(_SET_IN_ORDER, ([n for n, _ in ordered], [v for _, v in ordered]))
            return action(self.conn)

    @contextmanager
    def scratch(self) -> Iterator[None]:
        """A savepoint rolled back after the block, undoing its settings, its role, its locks and
        any error. In the read-only audit one savepoint serves every experiment (kept after ROLLBACK
        TO, released by release_scratch()): two round trips fewer each time."""
        if not self.snapshot_fixed:
            with self.conn.transaction(force_rollback=True):
                yield
            return
        if not self._scratch_open:
            self.conn.execute("SAVEPOINT tenantaudit_probe")
            self._scratch_open = True
        try:
            yield
        finally:
            self.conn.execute("ROLLBACK TO SAVEPOINT tenantaudit_probe")

    def release_scratch(self) -> None:
        if self._scratch_open:
            self.conn.execute("RELEASE SAVEPOINT tenantaudit_probe")
            self._scratch_open = False

    def app_settings(self) -> list[tuple[str, str]]:
        """The app role's settings (ALTER ROLE / DATABASE ... SET), read once: those a session
        of the app role could set itself, without the probe's own (timeouts, the tenant setting).
        Each is tried once as the app role; one the server refuses is left out."""
        if self._app_settings is None:
            chosen: dict[str, str] = {}
            for cfg, _rank in self.conn.execute(_ROLE_SETTINGS, (self.app_role,)):
                name, _, value = cfg.partition("=")
                name = name.strip().lower()
                if name and name not in chosen:
                    chosen[name] = value
            for name in [*_OWN_SETTINGS, *(n.lower() for n in self.context_settings())]:
                chosen.pop(name, None)
            # Without ALTER ROLE / DATABASE ... SET search_path, the application's sessions get
            # PostgreSQL's default, not the auditor's pg_catalog: defaults and policy helpers that
            # name functions unqualified resolve as they do for the application.
            chosen.setdefault("search_path", '"$user", public')
            usable: list[tuple[str, str]] = []
            for name, value in chosen.items():
                if name.startswith(("transaction_", "default_transaction_")):
                    continue
                try:
                    with self.conn.transaction(force_rollback=True):
                        self.conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(self.app_role)))
                        self.conn.execute("SELECT pg_catalog.set_config(%s, %s, true)", (name, value))
                    usable.append((name, value))
                except psycopg.OperationalError:
                    raise
                except psycopg.Error:
                    continue  # e.g. a superuser-only setting: a session of the app role could not set it either
            self._app_settings = usable
        return self._app_settings

    def holds(self, table: TenantTable, privilege: str) -> bool | None:
        """Whether the app role holds ``privilege`` (SELECT/INSERT/UPDATE/DELETE) for the probes
        on ``table``; None when not known."""
        if self.privileges is None or (table.schema, table.table) not in self.privileges:
            return None
        return privilege in self.privileges[(table.schema, table.table)]

    def record(self, table: TenantTable, operation: str, outcome: str, detail: str = "") -> None:
        cause = getattr(detail, "server_cause", None) if outcome == NOT_PROVEN else None
        self.results.append(ProbeResult(table.schema, table.table, operation, outcome, str.__str__(detail), server_cause=cause))

    def leak(self, table: TenantTable, category: str, severity: Severity, message: str, remediation: str) -> None:
        self.findings.append(
            Finding(
                category=category,
                check=f"probe:{category.removeprefix('probe-')}",
                severity=severity,
                schema=table.schema,
                table=table.table,
                message=message,
                remediation=remediation,
                title="Cross-tenant behaviour",
            )
        )


# Where a JSON setting's fields are read: policy expressions and functions that read the setting.
_JSON_SOURCES = """
SELECT pg_catalog.concat_ws(' ', pg_catalog.pg_get_expr(p.polqual, p.polrelid), pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid))
FROM pg_catalog.pg_policy p
UNION ALL
SELECT f.prosrc FROM pg_catalog.pg_proc f
WHERE f.prosrc ~ 'current_setting' AND pg_catalog.strpos(f.prosrc, pg_catalog.quote_literal(%s::text)) > 0
"""
_JSON_STEP = re.compile(r"(#>>?|->>?)\s*'((?:[^']|'')*)'(?:::text(?:\[\])?)?")
_JSON_GAP = re.compile(r"[\s)]*")


def json_paths(texts: list[str], tenant_column: str, limit: int = 6) -> list[tuple[str, ...]]:
    """The JSON paths (chains of -> / ->> / #> / #>> with literal keys) the texts read, those that
    end in a key named like the tenant column first; at most ``limit``."""
    found: dict[tuple[str, ...], None] = {}
    for text in texts:
        chain: list[str] = []
        end = None
        for m in _JSON_STEP.finditer(text):
            if end is None or not _JSON_GAP.fullmatch(text[end:m.start()]):
                if chain:
                    found.setdefault(tuple(chain))
                chain = []
            key = m.group(2).replace("''", "'")
            if m.group(1).startswith("#"):
                chain += [k.strip().strip('"') for k in key.strip("{}").split(",") if k.strip()]
            else:
                chain.append(key)
            end = m.end()
        if chain:
            found.setdefault(tuple(chain))
    paths = sorted(found, key=lambda path: path[-1] != tenant_column)
    return paths[:limit]


_EXPERIMENT = "tenantaudit_experiment"


@contextmanager
def savepoint_with(conn: psycopg.Connection, *statements: tuple[Any, Any]) -> Iterator[None]:
    """A savepoint rolled back (and released) after the block, undoing its settings, role, locks
    and any error, opened together with ``statements`` ((query, params) pairs) in one round trip:
    pipeline mode sends them all, then waits once. Savepoints of the same name nest as a stack,
    so experiments inside experiments are fine."""
    try:
        with conn.pipeline():
            conn.execute(f"SAVEPOINT {_EXPERIMENT}")
            for query, params in statements:
                conn.execute(query, params)
    except psycopg.Error:
        _rollback_experiment(conn, opened=None)
        raise
    try:
        yield
    finally:
        _rollback_experiment(conn, opened=True)


def _rollback_experiment(conn: psycopg.Connection, opened: bool | None) -> None:
    """``opened`` None: the pipeline failed, and the savepoint may never have opened (the
    transaction had already failed), in which case the caller's own error is the one to see."""
    if conn.broken or conn.closed:
        return
    try:
        conn.execute(f"ROLLBACK TO SAVEPOINT {_EXPERIMENT}; RELEASE SAVEPOINT {_EXPERIMENT}")
    except psycopg.OperationalError:
        raise
    except psycopg.Error:
        if opened:
            raise


def attempt(
    ctx: ProbeContext,
    tenant: str | None,
    action: Callable[[psycopg.Connection], Any],
    *,
    needs: tuple[TenantTable, str] | None = None,
) -> tuple[str, Any]:
    """Run an experiment as the app role and say what the server did:

    ("ok", value): it was allowed; ("denied", message): row level security refused it (the
    fence held); ("error", message): evaluating the fence raised (e.g. ''::uuid): nothing was
    shown or changed, the fence fails closed by error; ("unproven", reason): something else
    stopped it (a privilege, a constraint, a timeout), so it proves nothing about the fence.

    Judged by SQLSTATE and by what the tool knows, never by message text (which follows the
    server's lc_messages): ``needs`` = (table, privilege) the statement needs; 42501 (insufficient
    privilege) is a refusal by the policy only when the app role holds that privilege and the
    server raised it where it checks rows against policies (the error's source function, a
    diagnostic field in every language). A server-side cause (timeout, lock, resources) rides on
    the reason as ``server_cause``.
    """
    try:
        return "ok", ctx.as_app(tenant, action)
    except ProbeError as exc:
        return "unproven", Reason(str(exc), exc.cause)
    except psycopg.errors.InsufficientPrivilege as exc:
        held = ctx.holds(*needs) if needs else None
        if held is False:
            table, privilege = needs
            return _unproven(f"the app role lacks {privilege} on {table.schema}.{table.table}: {server_message(exc)}")
        source = exc.diag.source_function
        if source == _RLS_REFUSAL or (source is None and held):
            return "denied", server_message(exc)
        if source == _RLS_UNAVAILABLE:  # row_security = off for the app role: every query on the table raises
            return "error", server_message(exc)
        return _unproven(f"the app role lacks a privilege: {server_message(exc)}")
    except psycopg.errors.QueryCanceled as exc:
        return _unproven(f"did not finish within --data-timeout {ctx.timeout}", exc)
    except psycopg.errors.LockNotAvailable as exc:
        return _unproven("another session holds a conflicting lock", exc)
    except psycopg.OperationalError:
        raise  # the connection is gone: nothing more can be proven
    except psycopg.Error as exc:
        state = exc.sqlstate or ""
        if state.startswith("22"):
            return "error", server_message(exc)
        if state == "42704" and exc.diag.source_function in _UNKNOWN_SETTING:
            # current_setting('app.x') without missing_ok, the setting never set in this session:
            # the policy raises instead of showing rows, i.e. it fails closed (by error).
            return "error", server_message(exc)
        if state.startswith("23"):
            return _unproven(f"refused by a constraint, not by the tenant fence: {server_message(exc)}")
        return _unproven(server_message(exc), exc)


def _fence_hint(ctx: ProbeContext, table: TenantTable) -> str:
    # Names quoted as SQL needs them (a tenant column named "select", a setting with a quote).
    column, setting = ctx.conn.execute(
        "SELECT pg_catalog.quote_ident(%s), pg_catalog.quote_literal(%s::text)",
        (ctx.scope.params["tenant_column"], ctx.setting),
    ).fetchone()
    context = ctx.context
    if context.model == "membership" and context.membership is not None:
        m = context.membership
        return (
            f"run `tenantaudit check` findings for {table.schema}.{table.table}: enable and force RLS with policies "
            f"USING and WITH CHECK ({column} IN (SELECT {m.tenant_column} FROM {m.table.display} WHERE {m.user_column} = "
            "<the user in context>)), or a STABLE SECURITY DEFINER helper that checks the calling user"
        )
    if context.model == "role":
        return (
            f"run `tenantaudit check` findings for {table.schema}.{table.table}: enable and force RLS with a RESTRICTIVE "
            f"policy USING and WITH CHECK ({column} = (SELECT <key> FROM <tenants> WHERE <role column> = current_user))"
        )
    if context.model == "mapped":
        return (
            f"run `tenantaudit check` findings for {table.schema}.{table.table}: enable and force RLS with a policy "
            f"USING and WITH CHECK ({column} = (SELECT <key> FROM <tenants> WHERE {context.mapped_key} = "
            f"current_setting({setting}, true)))"
        )
    return (
        f"run `tenantaudit check` findings for {table.schema}.{table.table}: enable and force RLS with a policy "
        f"USING and WITH CHECK ({column} = NULLIF(current_setting({setting}, true), '')::<type>)"
    )


def setting_is_absent(conn: psycopg.Connection, setting: str | list[str] | None) -> bool:
    """Whether the context's setting(s) were never set in this session (False without any: the
    role model has no setting to be absent)."""
    names = [setting] if isinstance(setting, str) else list(setting or ())
    if not names:
        return False
    return conn.execute(
        "SELECT pg_catalog.bool_and(pg_catalog.current_setting(n, true) IS NULL) FROM pg_catalog.unnest(%s::text[]) AS n",
        (names,),
    ).fetchone()[0]


def can_become(conn: psycopg.Connection, role: str) -> bool:
    return conn.execute("SELECT pg_catalog.pg_has_role(current_user, %s, 'MEMBER')", (role,)).fetchone()[0]


def observe_absent(ctx: ProbeContext, visible: Callable[[psycopg.Connection], bool]) -> tuple[str, str, Any]:
    """What the app role sees before the setting was ever set in this session.

    Must run before any set_config of the setting in the session: once set, even a rolled-back
    set_config leaves the custom setting defined as '' for the rest of the session.
    """
    return ("absent", *attempt(ctx, None, visible))


def unset_outcome(
    ctx: ProbeContext,
    table: TenantTable,
    visible: Callable[[psycopg.Connection], bool],
    absent: tuple[str, str, Any] | None,
    reset: tuple[str, Any] | None = None,
) -> None:
    """With no tenant set, and with the setting reset to '' (a pooled connection after SET LOCAL
    ended), the app role must see nothing. Raising an error also keeps rows hidden: 'fails closed
    by error', worth knowing (it breaks every query on that connection) but not a leak.
    ``reset``: what attempt() of ``visible`` with the context reset gave, when already run."""
    observations = [absent] if absent else []
    observations.append((ctx.unset_label(), *(reset or attempt(ctx, "", visible))))
    leaked = [name for name, status, value in observations if status == "ok" and value]
    errors = [f"{name}: {value}" for name, status, value in observations if status in ("denied", "error")]
    unproven = [f"{name}: {value}" for name, status, value in observations if status == "unproven"]
    causes = [getattr(value, "server_cause", None) for _name, status, value in observations if status == "unproven"]
    if unproven:
        unproven = [Reason("; ".join(unproven), next((c for c in causes if c), None))]
    if leaked:
        ctx.record(table, "unset-read", LEAK, f"rows visible {ctx.unset_words()} " + " and ".join(leaked))
        ctx.leak(
            table,
            "probe-unset-leak",
            Severity.HIGH,
            f"as {ctx.app_role} with no tenant set ({' and '.join(leaked)}), rows of {table.schema}.{table.table} were visible: "
            "the fence does not fail closed",
            _fence_hint(ctx, table),
        )
    elif errors:
        ctx.record(table, "unset-read", FAILS_CLOSED_BY_ERROR, "; ".join(errors))
    elif unproven:
        ctx.record(table, "unset-read", NOT_PROVEN, unproven[0])
    else:
        ctx.record(table, "unset-read", PASS, f"nothing visible {ctx.unset_words()} " + " or ".join(n for n, *_ in observations))


def run_read_probes(
    conn: psycopg.Connection,
    scope: Scope,
    tables: list[TenantTable],
    *,
    app_role: str,
    timeout: str,
    probe_side_effects: bool = False,
) -> tuple[list[Finding], list[ProbeResult]]:
    """Probe the rows already in the database, in the audit's read-only transaction. Tables whose
    policies can act outside that transaction (side_effects.inspect) are skipped, with the
    reason, unless ``probe_side_effects``."""
    ctx = ProbeContext(conn, scope, app_role, timeout, snapshot_fixed=True)
    if not can_become(conn, app_role):
        for table in tables:
            for operation in ("read", "unset-read"):
                ctx.record(table, operation, NOT_PROVEN, f"the auditing role cannot SET ROLE {app_role}; GRANT {app_role} TO it")
        return ctx.findings, ctx.results
    ctx.privileges = load_privileges(conn, app_role, tables, scope.params["tenant_column"])
    unsafe = {} if probe_side_effects else side_effect_skips(conn, tables, ("read", "unset-read"))
    for table in tables:
        if table in unsafe:
            for operation in ("read", "unset-read"):
                ctx.record(table, operation, SKIPPED, unsafe[table])
    tables = [t for t in tables if t not in unsafe]
    hidden = hidden_by_rls(conn, [(t.schema, t.table) for t in tables])
    probed = [t for t in tables if (t.schema, t.table) not in hidden]
    for table in tables:
        if (table.schema, table.table) in hidden:
            reason = "RLS hides this table's rows from the auditing role; audit as its owner or a BYPASSRLS role"
            ctx.record(table, "read", NOT_PROVEN, reason)
            ctx.record(table, "unset-read", NOT_PROVEN, reason)

    # Each table's name quoted once (statements over a batch are put together as text from
    # these; parameters stay parameters).
    names = {t: identifier(t.schema, t.table).as_string(None) for t in probed}
    col = ctx.column.as_string(None)

    def anything_visible(table: TenantTable) -> Callable[[psycopg.Connection], bool]:
        query = sql.SQL(f"SELECT EXISTS (SELECT FROM {names[table]})")
        return lambda c: c.execute(query, ()).fetchone()[0]

    def visible_part(table: TenantTable) -> Part:
        return [f"EXISTS (SELECT FROM {names[table]})"], ()

    start = len(ctx.results), len(ctx.findings)
    batches = read_batches(conn, probed)
    absent: dict[TenantTable, tuple[str, str, Any]] = {}
    if setting_is_absent(conn, ctx.context_settings()):
        for batch in batches:  # all before any set_config of the setting (observe_absent)
            absent.update({t: ("absent", status, value[0] if status == "ok" else value)
                           for t, (status, value) in attempt_each(ctx, None, batch, visible_part).items()})

    def unset_each(tables: list[TenantTable]) -> None:
        reset = attempt_each(ctx, "", tables, visible_part) if tables else {}
        for table in tables:
            status, value = reset[table]
            unset_outcome(ctx, table, anything_visible(table), absent.get(table), (status, value[0] if status == "ok" else value))

    try:
        among = _read_candidates(ctx)
    except ProbeError as exc:
        for batch in batches:
            for table in batch:
                ctx.record(table, "read", NOT_PROVEN, exc.args[0] if exc.args else str(exc))
            unset_each(batch)
        _in_table_order(ctx, probed, *start)
        ctx.release_scratch()
        return ctx.findings, ctx.results

    # A tenant owning rows of the table and, where the context holds that one tenant alone (all
    # models but membership), whether rows of any other tenant are there too (text[], or NULL).
    among_sql = f" AND x.{col}::text = ANY (%s::text[])" if among is not None else ""
    alone = ctx.model != "membership"

    def tenant_part(table: TenantTable) -> Part:
        first = f"SELECT x.{col}::text AS t FROM {names[table]} x WHERE x.{col} IS NOT NULL{among_sql} LIMIT 1"
        others = f"(EXISTS (SELECT FROM {names[table]} y WHERE {_outside_sql(col, 'y', 'ARRAY[a.t]')}))::text" if alone else "NULL"
        return [f"SELECT ARRAY[a.t, {others}] FROM ({first}) a"], ((among,) if among is not None else ())

    task = progress.current().task("read probes, table by table", total=len(probed))
    for batch in batches:
        task.advance(len(batch))
        owners = {} if among is not None and not among else bounded_each(ctx, batch, tenant_part)
        readable, unset, known = [], [], {}
        for table in batch:
            ident = names[table]
            try:
                if table in owners:
                    found = owners[table][0]
                    tenant = found[0] if found else None
                    if found and found[1] is not None:
                        known[table] = found[1] == "true"
                else:
                    tenant = _some_tenant_with_rows(ctx, sql.SQL(ident), among)
            except ProbeError as exc:
                ctx.record(table, "read", NOT_PROVEN, str(exc))
                ctx.record(table, "unset-read", NOT_PROVEN, str(exc))
                continue
            if tenant is None and among is not None:
                ctx.record(table, "read", NOT_PROVEN, _no_candidate_reason(ctx))
                unset.append(table)
                continue
            if tenant is None:
                ctx.record(table, "read", NOT_PROVEN, "no rows with a tenant: use --probe write to test with synthetic rows")
                ctx.record(table, "unset-read", NOT_PROVEN, "no rows")
                continue
            readable.append((table, ident, tenant))
            unset.append(table)
        _read_other_tenants(ctx, readable, known)
        unset_each(unset)
    _in_table_order(ctx, probed, *start)
    ctx.release_scratch()
    task.done(f"{len(probed)} tables as {app_role}")
    return ctx.findings, ctx.results


def _in_table_order(ctx: ProbeContext, tables: list[TenantTable], results_from: int, findings_from: int) -> None:
    """The results and findings recorded since ``results_from`` / ``findings_from``, batch by
    batch, put back in the order of ``tables`` (each table's own in the order recorded)."""
    rank = {(t.schema, t.table): i for i, t in enumerate(tables)}
    ctx.results[results_from:] = sorted(ctx.results[results_from:], key=lambda r: rank.get((r.schema, r.table), -1))
    ctx.findings[findings_from:] = sorted(ctx.findings[findings_from:], key=lambda f: rank.get((f.schema, f.table), -1))


# -- many tables per statement ------------------------------------------------------------------
# A read probe's statement covers a batch of tables, one scalar subquery (or a few) per table.
# A batch is bounded by the relation locks its statement takes (each table, its partitions and
# the indexes of each, which the planner opens), released when the savepoint around the
# statement rolls back. A batch that raises is split in two until the table that raises is alone:
# its statement then asks what one table's always did, so the outcome is the same.

READ_LOCK_SHARE = 2  # a statement's locks stay under max_locks_per_transaction / READ_LOCK_SHARE
READ_LOCK_MARGIN = 4  # relations a policy reads besides the table (the tenants or membership table)
READ_BATCH_TABLES = 100  # and at most this many tables per statement
_READ_WEIGHTS = """
WITH RECURSIVE tree (root, rel) AS (
  SELECT u.oid, u.oid FROM pg_catalog.unnest(%s::pg_catalog.oid[]) AS u (oid)
  UNION
  SELECT t.root, i.inhrelid FROM tree t JOIN pg_catalog.pg_inherits i ON i.inhparent = t.rel
)
SELECT t.root, (pg_catalog.count(*) + pg_catalog.sum((SELECT pg_catalog.count(*) FROM pg_catalog.pg_index x
                                                       WHERE x.indrelid = t.rel)))::int
FROM tree t GROUP BY t.root
"""
# One table's share of a batch statement: its expressions (SQL text put together from names quoted
# by db.identifier, never from values) and their parameters.
Part = tuple[list[str], tuple]


def read_batches(conn: psycopg.Connection, tables: list[TenantTable]) -> list[list[TenantTable]]:
    """``tables`` in order, cut into batches whose statements stay within the lock budget."""
    if not tables:
        return []
    oids = [row[1] for row in conn.execute(_TABLE_OIDS, ([t.schema for t in tables], [t.table for t in tables]))]
    weights = dict(conn.execute(_READ_WEIGHTS, ([o for o in oids if o is not None],)).fetchall())
    max_locks = int(conn.execute("SELECT pg_catalog.current_setting('max_locks_per_transaction')").fetchone()[0])
    budget = max(1, max_locks // READ_LOCK_SHARE - READ_LOCK_MARGIN)
    batches: list[list[TenantTable]] = []
    current: list[TenantTable] = []
    used = 0
    for table, oid in zip(tables, oids):
        weight = weights.get(oid, 1)
        if current and (used + weight > budget or len(current) >= READ_BATCH_TABLES):
            batches.append(current)
            current, used = [], 0
        current.append(table)
        used += weight
    if current:
        batches.append(current)
    return batches


def _batch_statement(parts: list[Part]) -> tuple[sql.Composable, tuple]:
    columns = ", ".join(f"({expression})" for expressions, _ in parts for expression in expressions)
    return sql.SQL("SELECT " + columns), tuple(p for _, params in parts for p in params)


def _split(batch: list, value: Any) -> list[list]:
    """Halves of a batch whose statement failed; single tables after a timeout (each then gets
    the whole bound, as one table's statement always did)."""
    if getattr(value, "server_cause", None) == "57014":
        return [[t] for t in batch]
    return [batch[: len(batch) // 2], batch[len(batch) // 2 :]]


def attempt_each(
    ctx: ProbeContext, tenant: str | None, batch: list[TenantTable], part: Callable[[TenantTable], Part]
) -> dict[TenantTable, tuple[str, Any]]:
    """attempt() of one statement over the batch: per table ("ok", its values) where it ran,
    else what attempt() said of the table's statement alone."""
    parts = [part(t) for t in batch]
    query, params = _batch_statement(parts)
    status, value = attempt(ctx, tenant, lambda c: c.execute(query, params).fetchone())
    if status == "ok":
        found, at = {}, 0
        for table, (expressions, _) in zip(batch, parts):
            found[table] = ("ok", tuple(value[at : at + len(expressions)]))
            at += len(expressions)
        return found
    if len(batch) == 1:
        return {batch[0]: (status, value)}
    found = {}
    for half in _split(batch, value):
        found.update(attempt_each(ctx, tenant, half, part))
    return found


def bounded_each(ctx: ProbeContext, batch: list[TenantTable], part: Callable[[TenantTable], Part]) -> dict[TenantTable, tuple]:
    """The auditing role's reads of a batch in one statement under --data-timeout: per table its
    values; a table whose read raised (alone) is left out, for the caller's one-table code to
    read and to judge the error as it always has."""
    if not batch:
        return {}
    parts = [part(t) for t in batch]
    query, params = _batch_statement(parts)
    try:
        value = bounded(ctx.conn, ctx.timeout, query, params)
    except psycopg.OperationalError:
        raise
    except psycopg.Error as exc:
        if len(batch) == 1 or isinstance(exc, psycopg.errors.QueryCanceled):
            return {}
        found = {}
        for half in _split(batch, None):
            found.update(bounded_each(ctx, half, part))
        return found
    found, at = {}, 0
    for table, (expressions, _) in zip(batch, parts):
        found[table] = tuple(value[at : at + len(expressions)])
        at += len(expressions)
    return found


# At most this many candidate tenants (users with one tenant, reachable tenant roles) are read.
CANDIDATES = 200


def _read_candidates(ctx: ProbeContext) -> list[str] | None:
    """Tenants that can be put in context alone, read by the auditor once per run (None: any
    tenant can, as in the setting and mapped models). Membership: tenants of users with exactly
    one tenant (each registered as that tenant's subject, with a session of the user where the
    context holds a session id); role: tenants whose role the auditing role may SET ROLE to."""
    context = ctx.context
    if context.model == "role":
        if context.tenant_table is None or not (context.tenant_key or ctx.scope.tenant_key):
            raise ProbeError("the role model needs the tenants table and its key to find a tenant's role")
        key = context.tenant_key or ctx.scope.tenant_key
        named = sql.Identifier(context.role_column) if context.role_column else sql.Identifier(key)
        query = sql.SQL(
            "SELECT t.{k}::text FROM {table} t JOIN pg_catalog.pg_roles r ON r.rolname = t.{named}::text "
            "WHERE pg_catalog.pg_has_role(r.oid, CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 160000 "
            "THEN 'SET' ELSE 'MEMBER' END) ORDER BY 1 LIMIT %s"
        ).format(k=sql.Identifier(key), named=named, table=identifier(context.tenant_table.schema, context.tenant_table.name))
        return [row[0] for row in _bounded_all(ctx, query, (CANDIDATES,))]
    if context.model != "membership":
        return None
    m = context.membership
    if m is None:
        raise ProbeError("the membership model names no membership table")
    query = sql.SQL(
        "SELECT pg_catalog.min(m.{t}::text), m.{u}::text FROM {table} m WHERE m.{u} IS NOT NULL AND m.{t} IS NOT NULL "
        "GROUP BY m.{u} HAVING pg_catalog.count(DISTINCT m.{t}) = 1 ORDER BY 1, 2 LIMIT %s"
    ).format(t=sql.Identifier(m.tenant_column), u=sql.Identifier(m.user_column), table=identifier(m.table.schema, m.table.name))
    users: dict[str, str] = {}
    for tenant, user in _bounded_all(ctx, query, (CANDIDATES,)):
        users.setdefault(tenant, user)
    session = context.session
    for tenant, user in users.items():
        value = user
        if session is not None:
            lookup = sql.SQL("SELECT s.{k}::text FROM {table} s WHERE s.{u}::text = %s AND s.{k} IS NOT NULL LIMIT 1").format(
                k=sql.Identifier(session.key_column), u=sql.Identifier(session.user_column),
                table=identifier(session.table.schema, session.table.name),
            )
            row = bounded(ctx.conn, ctx.timeout, lookup, (user,))
            if row is None:
                continue  # a user without a session cannot be put in this context
            value = row[0]
        ctx.subjects[tenant] = Subject(frozenset([tenant]), value=value, user=user)
    return list(ctx.subjects)


def _no_candidate_reason(ctx: ProbeContext) -> str:
    context = ctx.context
    if context.model == "role":
        return (
            "no tenant that owns rows here has a role the auditing role may SET ROLE to "
            f"({'its ' + context.role_column if context.role_column else 'a role named like the tenant'}): "
            "GRANT the tenant roles TO the auditing role"
        )
    table = context.membership.table.display if context.membership else "the membership table"
    if context.session is not None:
        return NO_SINGLE_TENANT_USER.format(table=table) + f" (and has a session in {context.session.table.display})"
    return NO_SINGLE_TENANT_USER.format(table=table)


def _bounded_all(ctx: ProbeContext, query: sql.Composable, params=None) -> list[tuple]:
    """Like data_checks.bounded, every row; a timeout or error is a ProbeError (not proven)."""
    try:
        with ctx.conn.transaction(force_rollback=True):
            ctx.conn.execute("SELECT pg_catalog.set_config('statement_timeout', %s, true)", (str(duration_ms(ctx.timeout)),))
            return ctx.conn.execute(query, params).fetchall()
    except psycopg.errors.QueryCanceled as exc:
        raise ProbeError(f"reading the tenant context did not finish within --data-timeout {ctx.timeout}", exc.sqlstate) from None
    except psycopg.OperationalError:
        raise
    except psycopg.Error as exc:
        raise ProbeError(f"the tenant context could not be read: {server_message(exc)}",
                         exc.sqlstate if server_side_state(exc.sqlstate) else None) from None


def _some_tenant_with_rows(ctx: ProbeContext, ident: sql.Composable, among: list[str] | None = None) -> str | None:
    """A tenant owning rows of the table (among ``among``, the tenants the model can put in
    context alone, when given)."""
    if among is not None and not among:
        return None
    where = sql.SQL(" AND x.{col}::text = ANY (%s::text[])").format(col=ctx.column) if among is not None else sql.SQL("")
    query = sql.SQL("SELECT x.{col}::text FROM {t} x WHERE x.{col} IS NOT NULL{where} LIMIT 1").format(
        col=ctx.column, t=ident, where=where
    )
    try:
        row = bounded(ctx.conn, ctx.timeout, query, (among,) if among is not None else ())
    except psycopg.errors.QueryCanceled as exc:
        raise ProbeError(f"finding a tenant's rows did not finish within --data-timeout {ctx.timeout}", exc.sqlstate) from None
    except psycopg.OperationalError:
        raise
    except psycopg.Error as exc:
        raise ProbeError(server_message(exc), exc.sqlstate if server_side_state(exc.sqlstate) else None) from None
    return row[0] if row else None


def _outside_sql(col: str, alias: str = "x", tenants: str = "%s::text[]") -> str:
    """Rows of a tenant outside the set ``tenants`` (an array; a parameter by default)."""
    return f"{alias}.{col} IS NOT NULL AND NOT ({alias}.{col}::text = ANY ({tenants}))"


def _own_sql(col: str, ident: str) -> str:
    return f"EXISTS (SELECT FROM {ident} x WHERE x.{col}::text = %s)"


def _seen_sql(col: str, ident: str) -> str:
    """A row outside the tenant set, as its table oid and ctid (text, space-separated)."""
    return (f"SELECT x.tableoid::pg_catalog.oid::text || ' ' || x.ctid::pg_catalog.text FROM {ident} x "
            f"WHERE {_outside_sql(col)} LIMIT 1")


def _read_other_tenants(
    ctx: ProbeContext, readable: list[tuple[TenantTable, str, str]], known: dict[TenantTable, bool] | None = None
) -> None:
    """For each (table, its quoted name, a tenant owning rows of it): with that tenant in context,
    is a row of a tenant outside the context's tenant set visible? Reported only once the
    auditor, reading that very row itself, has confirmed its tenant is outside the set (for
    membership: none of the user's memberships names it). ``known``: whether other tenants' rows
    are there, where already read for a context of that one tenant. One statement per step for
    the batch's tables."""
    col = ctx.column.as_string(None)
    known = known or {}
    prepared: dict[TenantTable, tuple[str, str, Subject, list[str]]] = {}
    for table, ident, tenant in readable:
        try:
            subject = ctx.subject(tenant)
        except ProbeError as exc:
            ctx.record(table, "read", NOT_PROVEN, Reason(str(exc), exc.cause))
            continue
        own_set = ctx.tenant_set(subject)
        if own_set is None:
            ctx.record(table, "read", NOT_PROVEN, "the auditing role could not read the user's memberships")
            continue
        prepared[table] = (ident, tenant, subject, sorted(own_set))
    # As the auditor first: without rows of another tenant there is nothing to leak.
    unknown = [t for t, (_i, tenant, _s, own) in prepared.items() if not (t in known and own == [tenant])]
    others = {t: (known[t],) for t in prepared if t not in unknown}
    others.update(bounded_each(
        ctx, unknown, lambda t: ([f"EXISTS (SELECT FROM {prepared[t][0]} x WHERE {_outside_sql(col)})"], (prepared[t][3],))
    ))
    by_tenant: dict[str, list[TenantTable]] = {}
    for table, (ident, tenant, _subject, own_tenants) in prepared.items():
        if table in others:
            (exists,) = others[table]
        else:
            query = sql.SQL(f"SELECT EXISTS (SELECT FROM {ident} x WHERE {_outside_sql(col)})")
            try:
                (exists,) = bounded(ctx.conn, ctx.timeout, query, (own_tenants,))
            except psycopg.errors.QueryCanceled as exc:
                ctx.record(
                    table, "read", NOT_PROVEN,
                    Reason(f"looking for other tenants' rows did not finish within --data-timeout {ctx.timeout}", exc.sqlstate),
                )
                continue
        if not exists:
            ctx.record(table, "read", NOT_PROVEN, "only one tenant owns rows: use --probe write to test with synthetic rows")
            continue
        by_tenant.setdefault(tenant, []).append(table)
    # As the app role, one tenant at a time: its own rows visible (calibrate()'s first try) and
    # a row outside its set, in one statement.
    for tenant, tables in by_tenant.items():
        seen = attempt_each(
            ctx, tenant, tables,
            lambda t: ([_own_sql(col, prepared[t][0]), _seen_sql(col, prepared[t][0])], (tenant, prepared[t][3])),
        )
        for table in tables:
            ident, _tenant, subject, own_tenants = prepared[table]
            status, value = seen[table]
            if status == "ok" and value[0] is True:
                if value[1] is None:
                    ctx.record(table, "read", PASS, "only the rows of the tenant in context visible")
                else:
                    oid, ctid = value[1].split(" ", 1)
                    _confirm_leak(ctx, table, ident, subject, (int(oid), ctid))
            else:  # the tenant does not see its own rows this way: calibrate, one table alone
                _read_as_tenant(ctx, table, ident, tenant, subject, own_tenants)


def _read_as_tenant(
    ctx: ProbeContext, table: TenantTable, ident: str, tenant: str, subject: Subject, own_tenants: list[str]
) -> None:
    col = ctx.column.as_string(None)
    own = sql.SQL("SELECT " + _own_sql(col, ident))
    ctx.calibrate(tenant, lambda c: c.execute(own, (tenant,)).fetchone()[0])
    seen_row = sql.SQL(_seen_sql(col, ident))
    status, value = attempt(ctx, tenant, lambda c: c.execute(seen_row, (own_tenants,)).fetchone())
    if status == "ok" and value:
        oid, ctid = value[0].split(" ", 1)
        _confirm_leak(ctx, table, ident, subject, (int(oid), ctid))
    elif status == "ok":
        # Seeing nothing proves the fence only if the tenant sees its own rows.
        sees_own = attempt(ctx, tenant, lambda c: c.execute(own, (tenant,)).fetchone()[0])
        if sees_own == ("ok", True):
            ctx.record(table, "read", PASS, "only the rows of the tenant in context visible")
        else:
            ctx.record(table, "read", NOT_PROVEN, OWN_ROWS_HIDDEN)
    elif status in ("denied", "error"):
        ctx.record(table, "read", FAILS_CLOSED_BY_ERROR, str(value))
    else:
        ctx.record(table, "read", NOT_PROVEN, str(value))


def _confirm_leak(ctx: ProbeContext, table: TenantTable, ident: str, subject: Subject, row_id: tuple[int, str]) -> None:
    """The proof: the auditor reads the row the app role saw, and its tenant is outside the set."""
    whose = sql.SQL("SELECT x.{col}::text FROM {t} x WHERE x.tableoid = %s AND x.ctid = %s::pg_catalog.tid").format(
        t=sql.SQL(ident), col=ctx.column
    )
    row = bounded(ctx.conn, ctx.timeout, whose, row_id)
    proven, why = ctx.outside(subject, row[0] if row else None)
    if not proven:
        ctx.record(table, "read", NOT_PROVEN, f"a row was visible, but it is not proven another tenant's: {why}")
        return
    ctx.record(table, "read", LEAK, "rows of other tenants visible with one tenant in context")
    ctx.leak(
        table,
        "probe-read-leak",
        Severity.CRITICAL,
        f"as {_acting(ctx)} with one tenant in context ({_context_words(ctx)}), a row of a tenant outside the context's "
        f"tenant set in {table.schema}.{table.table} was visible (confirmed by the auditing role's own read of that row)",
        _fence_hint(ctx, table),
    )


def _acting(ctx: ProbeContext) -> str:
    return f"the tenant's role (not {ctx.app_role})" if ctx.model == "role" else ctx.app_role


def _context_words(ctx: ProbeContext) -> str:
    """How tenant A was put in context, in words (no values)."""
    context = ctx.context
    if context.model == "membership":
        where = "a session of " if context.session else ""
        return f"{where}a user whose only tenant is A, in {ctx.setting}" + (
            f" -> {' -> '.join(ctx.json_path)}" if ctx.json_path else ""
        )
    if context.model == "role":
        return "SET ROLE to tenant A's role"
    if context.model == "mapped":
        return f"tenant A's {context.mapped_key} in {ctx.setting}"
    return f"tenant A's id in {ctx.setting}" + (f" -> {' -> '.join(ctx.json_path)}" if ctx.json_path else "")


OWN_ROWS_HIDDEN = (
    "with a tenant set, the app role did not see that tenant's own rows either, so hiding the others proves "
    "nothing: check --setting and --tenant-column, and that a policy lets a tenant see its rows"
)


def side_effect_skips(
    conn: psycopg.Connection, tables: list[TenantTable], operations: tuple[str, ...], *, inserted: tuple[int, ...] = ()
) -> dict:
    """TenantTable (or, for ``inserted`` oids, the oid) -> why probing it could act outside the
    transaction (side_effects.inspect); absent = safe to probe."""
    from .side_effects import inspect

    oids = [row[1] for row in conn.execute(_TABLE_OIDS, ([t.schema for t in tables], [t.table for t in tables]))]
    reasons = inspect(conn, [o for o in oids if o is not None], operations=operations, inserted=inserted)
    found: dict = {table: reasons[oid] for table, oid in zip(tables, oids) if oid in reasons}
    found.update({oid: reasons[oid] for oid in inserted if oid in reasons})
    return found


# What each server-side cause means, by SQLSTATE (class when no state of its own is listed), and
# what to do: the same words in every server language.
_SERVER_CAUSES = {
    "57014": ("a query did not finish within its timeout", "raise --data-timeout, or run when the server is less busy"),
    "55P03": ("a lock was not granted within lock_timeout (another session holds a conflicting lock)",
              "retry when the other transaction has ended"),
    "40001": ("a serialization failure with another session", "retry"),
    "40P01": ("a deadlock with another session", "retry"),
    "53": ("the server ran out of a resource (memory, shared lock table, disk or connections)",
           "retry when the server is less busy, or ask its administrator"),
    "58": ("the server hit a system error", "ask the server's administrator"),
}


def incomplete_probe_lines(results: list[ProbeResult]) -> list[str]:
    """One line per server-side cause of probe results not proven (Report.incomplete: exit 4)."""
    by_cause: dict[str, list[ProbeResult]] = {}
    for result in results:
        if result.outcome == NOT_PROVEN and result.server_cause:
            by_cause.setdefault(result.server_cause, []).append(result)
    lines = []
    for state, affected in sorted(by_cause.items()):
        what, fix = _SERVER_CAUSES.get(state) or _SERVER_CAUSES.get(state[:2]) or ("a server-side error", "retry")
        tables = len({(r.schema, r.table) for r in affected})
        lines.append(
            f"{len(affected)} probe results on {tables} table{'s' if tables != 1 else ''} not proven: "
            f"{what} (SQLSTATE {state}); {fix}"
        )
    return lines


def skipped_write_operations(tables: list[TenantTable], read_results: list[ProbeResult]) -> list[ProbeResult]:
    """The write operations --probe read does not run; where the read probes skipped a table for
    its side effects, --probe write would skip it too, and that reason is the one to give."""
    skipped = {(r.schema, r.table): r.detail for r in read_results if r.outcome == SKIPPED}
    return [
        ProbeResult(t.schema, t.table, op, SKIPPED, skipped.get((t.schema, t.table), "run with --probe write"))
        for t in tables
        for op in ("insert", "update", "delete", "move")
    ]


# -- write probes ----------------------------------------------------------------------------

_TABLE_OIDS = """
SELECT u.n, pg_catalog.to_regclass(pg_catalog.quote_ident(u.s) || '.' || pg_catalog.quote_ident(u.t))::oid
FROM ROWS FROM (pg_catalog.unnest(%s::text[]), pg_catalog.unnest(%s::text[])) WITH ORDINALITY AS u(s, t, n)
ORDER BY u.n
"""
_TRIGGERED = """
SELECT DISTINCT tgrelid FROM pg_catalog.pg_trigger
WHERE NOT tgisinternal AND tgenabled <> 'D' AND tgrelid = ANY (%s::oid[])
"""
_COLUMN_TYPES = """
SELECT a.attrelid, pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
WHERE a.attrelid = ANY (%s::oid[]) AND a.attname = %s AND NOT a.attisdropped
"""
# Sequences, then their values a few at a time: pg_sequence_last_value locks the sequence until
# the transaction ends, so each chunk is rolled back before the next (pg_sequences would lock them all).
_SEQUENCE_NAMES = """
SELECT c.oid, pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'S' AND NOT pg_catalog.pg_is_other_temp_schema(n.oid)
"""
_SEQUENCE_VALUES = """
SELECT u.oid, CASE WHEN pg_catalog.has_sequence_privilege(u.oid, 'SELECT,USAGE')
                   THEN pg_catalog.pg_sequence_last_value(u.oid) END
FROM pg_catalog.unnest(%s::pg_catalog.oid[]) AS u(oid)
WHERE EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = u.oid)
"""


def sequence_values(conn: psycopg.Connection, chunk: int) -> dict[str, Any]:
    """Every sequence's last value (None where not readable or never called), by qualified name.
    Ends (rolls back) the current transaction."""
    names = dict(conn.execute(_SEQUENCE_NAMES).fetchall())
    conn.rollback()
    values: dict[str, Any] = {}
    oids = list(names)
    for start in range(0, len(oids), max(1, chunk)):
        for oid, value in conn.execute(_SEQUENCE_VALUES, (oids[start : start + max(1, chunk)],)).fetchall():
            values[names[oid]] = value
        conn.rollback()
    return values


def lock_budget(conn: psycopg.Connection) -> int:
    """Locks one write-probe transaction may hold: max_locks_per_transaction / LOCK_SHARE."""
    max_locks = int(conn.execute("SELECT pg_catalog.current_setting('max_locks_per_transaction')").fetchone()[0])
    return max(1, max_locks // LOCK_SHARE)
# Where a write probe takes locks, for sizing batches: foreign keys (both ways), partition trees,
# and per relation its indexes and the sequences its defaults and identity columns draw from.
# Not its TOAST table: that is opened only to store or fetch out-of-line values, and synthetic
# rows are far below the TOAST threshold while the probes read no column of existing rows
# (measured: a fenced table with text columns and a serial takes 6 relation locks, none TOAST).
_FK_EDGES = "SELECT conrelid, confrelid FROM pg_catalog.pg_constraint WHERE contype = 'f'"
_INHERITS = "SELECT inhparent, inhrelid FROM pg_catalog.pg_inherits"
_LOCK_WEIGHTS = """
WITH rel AS (SELECT pg_catalog.unnest(%s::pg_catalog.oid[]) AS oid),
uses AS (
  SELECT d.refobjid AS rel, d.objid AS seq FROM pg_catalog.pg_depend d
  WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
    AND d.deptype IN ('a', 'i') AND d.refobjid IN (SELECT oid FROM rel)
  UNION
  SELECT ad.adrelid, d.refobjid FROM pg_catalog.pg_attrdef ad
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass AND d.objid = ad.oid
   AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
  WHERE ad.adrelid IN (SELECT oid FROM rel)
)
SELECT c.oid,
       1 + (SELECT pg_catalog.count(*) FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid)::int
         + (SELECT pg_catalog.count(*) FROM uses u JOIN pg_catalog.pg_class s ON s.oid = u.seq AND s.relkind = 'S'
            WHERE u.rel = c.oid)::int
FROM rel JOIN pg_catalog.pg_class c ON c.oid = rel.oid
"""
# Besides relations, a batch holds its virtual and its transaction id (a released savepoint gives
# its own transaction id's lock back to the parent transaction; its relation locks stay).
XID_LOCKS_PER_BATCH = 2
# A batch's locks stay under this share of max_locks_per_transaction (the shared lock table holds
# max_locks_per_transaction * (max_connections + ...) entries for every session together).
LOCK_SHARE = 4
OPERATIONS = ("read", "insert", "update", "delete", "move", "unset-read")

def _server_state(exc: BaseException) -> str | None:
    """The SQLSTATE of an error the server raised because it could not do the work now (lock
    table full, lock or statement timeout, lost connection), not because of the schema or row."""
    from .synth import is_server_side

    state = getattr(exc, "sqlstate", None) or ""
    if not state and isinstance(exc, psycopg.OperationalError):
        return "08006"  # connection_failure: the connection was lost
    return state if is_server_side(state) else None


class _Trouble:
    """Server-side errors met while probing each table, wherever they surfaced (the actions handed
    to attempt() are watched on the way out), so that every result they left not proven carries
    its server_cause, whatever reason it shows (e.g. "own rows hidden" after a failed check)."""

    def __init__(self) -> None:
        self.table: int | None = None
        self.seen: dict[int, str] = {}  # table oid -> first server-side SQLSTATE

    def note(self, exc: BaseException, oid: int | None = None) -> str | None:
        state = _server_state(exc)
        key = oid if oid is not None else self.table
        if state is not None and key is not None:
            self.seen.setdefault(key, state)
        return state

    def watch(self, action: Callable[[psycopg.Connection], Any]) -> Callable[[psycopg.Connection], Any]:
        def watched(c: psycopg.Connection) -> Any:
            try:
                return action(c)
            except psycopg.Error as exc:
                self.note(exc)
                raise

        return watched

    def stamp(self, results: list[ProbeResult], by_oid: dict[int, TenantTable]) -> None:
        for oid, state in self.seen.items():
            if oid not in by_oid:
                continue
            key = (by_oid[oid].schema, by_oid[oid].table)
            for result in results:
                if (result.schema, result.table) == key and result.outcome == NOT_PROVEN and not result.server_cause:
                    result.server_cause = state


_trouble = _Trouble()  # replaced per run_write_probes


@dataclass
class SyntheticPair:
    """One synthetic row per tenant, in one table."""

    table: TenantTable
    oid: int
    column_type: str  # the tenant column's type, as format_type prints it
    rows: dict[str, Any] = field(default_factory=dict)  # "A"/"B" -> synth.RowRef


@dataclass
class WriteProbeRun:
    findings: list[Finding]
    results: list[ProbeResult]
    sequences_advanced: list[str] = field(default_factory=list)
    batches: int = 0  # transactions run, each rolled back
    incomplete: list[str] = field(default_factory=list)  # one line per server-side cause


READ_ONLY_FIX = "use --probe read, or point at the primary"


def refuse_read_only(conn: psycopg.Connection) -> None:
    """--probe write needs a server that takes writes (they are always rolled back): a hot
    standby, a server or database whose transactions are read-only by default, or a session
    forced read-only is refused with one line."""
    from ..errors import ConnectError

    # Outside a transaction: on a standby, the session's BEGIN ... READ WRITE itself is refused.
    conn.rollback()
    conn.autocommit = True
    try:
        recovery, default_ro = conn.execute(
            "SELECT pg_catalog.pg_is_in_recovery(),"
            " (SELECT s.reset_val FROM pg_catalog.pg_settings s WHERE s.name = 'default_transaction_read_only')"
        ).fetchone()
    finally:
        conn.autocommit = False
    try:
        now_ro = conn.execute("SELECT pg_catalog.current_setting('transaction_read_only')").fetchone()[0]
    except (psycopg.errors.ReadOnlySqlTransaction, psycopg.errors.FeatureNotSupported):
        now_ro = "on"  # BEGIN READ WRITE refused
    finally:
        conn.rollback()
    if recovery:
        raise ConnectError("--probe write needs a writable server: this one is a hot standby (in recovery)", fix=READ_ONLY_FIX)
    if default_ro == "on":
        raise ConnectError(
            "--probe write needs a writable server: default_transaction_read_only is on for this server, "
            "database or role, and the probes will not override it",
            fix=READ_ONLY_FIX,
        )
    if now_ro == "on":
        raise ConnectError("--probe write needs a writable server: its transactions are read-only", fix=READ_ONLY_FIX)


def _read_only_now(conn: psycopg.Connection) -> bool:
    """Whether the server became read-only (a primary demoted to a standby mid-run)."""
    try:
        conn.rollback()
        conn.autocommit = True
        return bool(conn.execute("SELECT pg_catalog.pg_is_in_recovery()").fetchone()[0])
    except psycopg.Error:
        return False
    finally:
        if not conn.closed:
            conn.autocommit = False


class _Session:
    """The write probes' connection; renewed when a batch needs a session in which the tenant
    setting was never set (see observe_absent). The next one can be opened ahead, in a thread,
    while the current batch runs: at most two connections at a time."""

    def __init__(self, connect: Callable[[], psycopg.Connection]):
        self._connect = connect
        self.conn = connect()
        self._next: tuple[threading.Thread, dict[str, Any]] | None = None

    def prefetch(self, warm: sql.Composable | None = None) -> None:
        """Open the next session in a thread; ``warm``, if given, runs there once in a transaction
        that is rolled back (a new server process starts with cold caches)."""
        if self._next is not None:
            return
        box: dict[str, Any] = {}

        def open_next() -> None:
            try:
                conn = self._connect()
                box["conn"] = conn
                if warm is not None:
                    try:
                        conn.execute(warm)
                    except psycopg.Error:
                        pass
                    finally:
                        conn.rollback()
            except BaseException as exc:  # noqa: BLE001 - re-raised by renew()
                box["error"] = exc

        thread = threading.Thread(target=open_next, name="tenantaudit-next-session", daemon=True)
        thread.start()
        self._next = (thread, box)

    def _take_next(self) -> psycopg.Connection | None:
        if self._next is None:
            return None
        thread, box = self._next
        self._next = None
        thread.join()
        if "error" in box:
            raise box["error"]
        return box["conn"]

    def renew(self) -> psycopg.Connection:
        self._close(self.conn)
        self.conn = self._take_next() or self._connect()
        return self.conn

    def close(self) -> None:
        try:
            self._close(self.conn)
        finally:
            try:
                spare = self._take_next()
            except Exception:  # noqa: BLE001 - a spare that failed to open has nothing to close
                spare = None
            if spare is not None:
                spare.close()

    @staticmethod
    def _close(conn: psycopg.Connection) -> None:
        try:
            if not conn.closed and not conn.broken:
                conn.rollback()
        finally:
            conn.close()


def run_write_probes(
    dsn: str,
    scope: Scope,
    tables: list[TenantTable],
    *,
    app_role: str,
    timeout: str,
    statement_timeout: str,
    lock_timeout: str,
    probe_triggers: bool,
    probe_side_effects: bool = False,
) -> WriteProbeRun:
    """Synthetic rows for two synthetic tenants, then every cross-tenant operation as the app role.

    Tables are probed in batches, each in a transaction of its own that always ends in ROLLBACK,
    sized so that the locks one batch holds stay under a quarter of max_locks_per_transaction.
    Synthetic rows are inserted as each table's owner, the experiments run as the app role. Only
    sequences advanced by nextval stay advanced (returned, for the report). Results that could
    not be proven for a server-side reason (lock table full, lock or statement timeout, lost
    connection) are summed up in ``incomplete``.
    """
    from ..db import connect_session

    session = _Session(
        lambda: connect_session(dsn, read_only=False, statement_timeout=statement_timeout, lock_timeout=lock_timeout)
    )
    try:
        refuse_read_only(session.conn)
        return _write_probes(session, scope, tables, app_role=app_role, timeout=timeout, probe_triggers=probe_triggers,
                             probe_side_effects=probe_side_effects)
    finally:
        session.close()


def _write_probes(
    session: _Session,
    scope: Scope,
    tables: list[TenantTable],
    *,
    app_role: str,
    timeout: str,
    probe_triggers: bool,
    probe_side_effects: bool = False,
) -> WriteProbeRun:
    global _trouble
    from .synth import Synthesizer

    conn = session.conn
    ctx = ProbeContext(conn, scope, app_role, timeout)
    run = WriteProbeRun(ctx.findings, ctx.results)
    trouble = _trouble = _Trouble()

    if not can_become(conn, app_role):
        for table in tables:
            _not_proven_all(ctx, table, f"the auditing role cannot SET ROLE {app_role}; GRANT {app_role} TO it")
        return run
    if not scope.params["tenant_table"]:
        # synthetic tenants are rows of the tenants table: without one (--tenant-table none, a
        # service whose tenants live elsewhere) the write probes have none to make; read probes run
        for table in tables:
            _not_proven_all(ctx, table, "the database has no tenants table to make synthetic tenants in "
                                        "(--probe read proves isolation on the rows already there)", SKIPPED)
        return run
    oids = [row[1] for row in conn.execute(_TABLE_OIDS, ([t.schema for t in tables], [t.table for t in tables]))]
    by_oid = dict(zip(oids, tables))
    triggered = {row[0] for row in conn.execute(_TRIGGERED, (oids,))}
    # What the probes make the server execute, read first (side_effects.py); synthetic tenants go
    # into the tenants table too: where that is unsafe, no table is probed.
    tenants_oid = scope.params["tenant_table"]
    # The membership model's synthetic users go into its membership (and users, sessions) tables.
    members = _member_tables(ctx)
    unsafe = {} if probe_side_effects else side_effect_skips(
        conn, tables, ("read", "insert", "update", "delete", "move", "unset-read"), inserted=(tenants_oid, *members)
    )
    tenants_unsafe = unsafe.pop(tenants_oid, None)
    if tenants_unsafe:
        tenants_unsafe = f"synthetic tenants are inserted into the tenants table, where {tenants_unsafe}"
    for oid in members:
        why = unsafe.pop(oid, None)
        if why and not tenants_unsafe:
            tenants_unsafe = f"synthetic users of the membership model are inserted into {members[oid]}, where {why}"
    probed: list[int] = []
    for oid, table in by_oid.items():
        if tenants_unsafe or table in unsafe:
            reason = unsafe.get(table) or tenants_unsafe
            _not_proven_all(ctx, table, reason, SKIPPED)
        elif oid in triggered and not probe_triggers:
            _not_proven_all(ctx, table, "has triggers, which can act outside the transaction: pass --probe-triggers", SKIPPED)
        else:
            probed.append(oid)
    # 42501 is a refusal by a policy only where the app role holds the privilege (attempt()).
    ctx.privileges = load_privileges(conn, _privileged_role(ctx), [by_oid[oid] for oid in probed], scope.params["tenant_column"])
    absent_at_start = setting_is_absent(conn, ctx.context_settings())
    column_types = dict(conn.execute(_COLUMN_TYPES, (probed, scope.params["tenant_column"])).fetchall())
    # The catalog is read once (it locks system catalogs only); synthetic rows go in as each table's owner.
    synth = Synthesizer(
        conn, probed, tenant_column=scope.params["tenant_column"], tenant_table_oid=scope.params["tenant_table"],
        as_owner=True, also=list(members),
        tenant_fill=(ctx.context.mapped_key,) if ctx.model == "mapped" and ctx.context.mapped_key else (),
    )
    batches = plan_batches(conn, synth.order(), scope.params["tenant_table"], always=tuple(members))
    conn.rollback()
    sequences_before = sequence_values(conn, lock_budget(conn))

    task = progress.current().task("write probes, table by table", total=len(probed))
    for position, batch in enumerate(batches):
        task.advance(len(batches[position - 1]) if position else 0)
        if conn.broken or conn.closed or (absent_at_start and not setting_is_absent(conn, ctx.context_settings())):
            # A set_config, even rolled back, leaves the setting defined for the session: the
            # "setting absent" experiment needs a session where it never was.
            try:
                conn = ctx.conn = synth.conn = session.renew()
            except Exception as exc:  # noqa: BLE001 - the server went away: the rest is not proven
                reason = Reason(f"could not reconnect: {getattr(exc, 'message', None) or type(exc).__name__}", "08006")
                for rest in batches[position:]:
                    for oid in rest:
                        _not_proven_all(ctx, by_oid[oid], reason)
                break
            conn.rollback()
        run.batches += 1
        if absent_at_start and position + 1 < len(batches):
            # The next batch's fresh session opens while this one runs, and reads (reading
            # nothing, as the app role) the tables it will probe: their definitions and policies
            # are then cached in its server process.
            session.prefetch(_warm_up(app_role, [by_oid[oid] for oid in batches[position + 1]]))
        try:
            _write_batch(ctx, synth, batch, by_oid, column_types, absent_at_start)
        except (psycopg.errors.ReadOnlySqlTransaction, psycopg.errors.FeatureNotSupported) as exc:
            if isinstance(exc, psycopg.errors.FeatureNotSupported) and not _read_only_now(conn):
                raise
            from ..errors import ConnectError

            raise ConnectError("--probe write needs a writable server: its transactions became read-only", fix=READ_ONLY_FIX) from None
        except psycopg.Error as exc:
            state = _server_state(exc)
            if state is None:
                raise
            for oid in batch:
                _fill_missing(ctx, by_oid[oid], Reason(f"the server could not run the probe: {server_message(exc)}", state))
        finally:
            if not conn.broken and not conn.closed:
                conn.rollback()

    task.done(f"{len(probed)} tables in {run.batches} rolled-back transactions")
    trouble.stamp(ctx.results, by_oid)
    run.incomplete = incomplete_probe_lines(ctx.results)
    if not conn.broken and not conn.closed:
        sequences_after = sequence_values(conn, lock_budget(conn))
        run.sequences_advanced = sorted(name for name, value in sequences_after.items() if sequences_before.get(name) != value)
    return run


def _warm_up(app_role: str, tables: list[TenantTable]) -> sql.Composable:
    reads = [sql.SQL("SELECT FROM {} WHERE false").format(identifier(t.schema, t.table)) for t in tables]
    return sql.SQL("; ").join([sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(app_role)), *reads])


def _not_proven_all(ctx: ProbeContext, table: TenantTable, reason: str, outcome: str = NOT_PROVEN) -> None:
    for operation in OPERATIONS:
        ctx.record(table, operation, outcome, reason)


def _fill_missing(ctx: ProbeContext, table: TenantTable, reason: str) -> None:
    """Not proven, for every operation of ``table`` that has no result yet."""
    done = {r.operation for r in ctx.results if (r.schema, r.table) == (table.schema, table.table)}
    for operation in OPERATIONS:
        if operation not in done:
            ctx.record(table, operation, NOT_PROVEN, reason)


def plan_batches(conn: psycopg.Connection, ordered: list[int], tenant_table: int, always: tuple[int, ...] = ()) -> list[list[int]]:
    """The tables (in FK order) cut into batches whose estimated locks stay under
    max_locks_per_transaction / LOCK_SHARE. A table's estimate is every relation a probe of it
    can lock (itself, its partitions, the tables its foreign keys reference, up the chain, as
    their rows are synthesized in the same batch, and the tables whose foreign keys reference it),
    each with its indexes and sequences; plus the batch's own transaction ids. A table over the
    budget on its own gets a batch of its own."""
    if not ordered:
        return []
    budget = lock_budget(conn)
    fk_up: dict[int, list[int]] = {}
    fk_down: dict[int, list[int]] = {}
    for child, parent in conn.execute(_FK_EDGES):
        fk_up.setdefault(child, []).append(parent)
        fk_down.setdefault(parent, []).append(child)
    below: dict[int, list[int]] = {}
    for parent, child in conn.execute(_INHERITS):
        below.setdefault(parent, []).append(child)

    def tree(oid: int) -> set[int]:
        seen: set[int] = set()
        stack = [oid]
        while stack:
            r = stack.pop()
            if r not in seen:
                seen.add(r)
                stack.extend(below.get(r, ()))
        return seen

    def rows_in(oid: int) -> set[int]:
        """The table and every table its synthetic rows need rows in (FK parents, transitively)."""
        seen: set[int] = set()
        stack = [oid, tenant_table, *always]  # every batch also makes rows there (a model's users)
        while stack:
            r = stack.pop()
            if r not in seen:
                seen.add(r)
                for member in tree(r):
                    stack.extend(fk_up.get(member, ()))
        return seen

    sets: dict[int, tuple[set[int], set[int]]] = {}
    for oid in ordered:
        rows = rows_in(oid)
        relations: set[int] = set()
        for r in rows:
            relations |= tree(r)
        for member in tree(oid):
            for child in fk_down.get(member, ()):
                relations |= tree(child)
        sets[oid] = (rows, relations)
    every = sorted(set().union(*(relations for _, relations in sets.values())))
    weight = dict(conn.execute(_LOCK_WEIGHTS, (every,)).fetchall())

    def cost(rows: set[int], relations: set[int]) -> int:
        return sum(weight.get(r, 1) for r in relations) + XID_LOCKS_PER_BATCH

    batches: list[list[int]] = []
    rows: set[int] = set()
    relations: set[int] = set()
    for oid in ordered:
        more_rows, more_relations = rows | sets[oid][0], relations | sets[oid][1]
        if batches and batches[-1] and cost(more_rows, more_relations) > budget:
            batches.append([])
            more_rows, more_relations = set(sets[oid][0]), set(sets[oid][1])
        if not batches:
            batches.append([])
        batches[-1].append(oid)
        rows, relations = more_rows, more_relations
    return batches


def _write_batch(
    ctx: ProbeContext,
    synth,
    batch: list[int],
    by_oid: dict[int, TenantTable],
    column_types: dict[int, str],
    observe_unset: bool,
) -> None:
    """One batch, inside the caller's transaction (which the caller rolls back): two synthetic
    tenants, a row for each in every table of the batch (parents first), then the experiments."""
    from .synth import Unsatisfiable, is_server_side

    conn, trouble = ctx.conn, _trouble
    # Opens the batch's transaction, which must take writes (they are all rolled back).
    if conn.execute("SELECT pg_catalog.current_setting('transaction_read_only')").fetchone()[0] == "on":
        from ..errors import ConnectError

        raise ConnectError("--probe write needs a writable server: its transactions are read-only", fix=READ_ONLY_FIX)
    try:
        tenants = {"A": _tenant_a(ctx, synth), "B": synth.new_tenant()}
    except Unsatisfiable as exc:
        for oid in batch:
            _not_proven_all(ctx, by_oid[oid], f"no synthetic tenant could be created: {exc.reason}")
        return
    except ProbeError as exc:
        for oid in batch:
            _not_proven_all(ctx, by_oid[oid], Reason(str(exc), exc.cause))
        return
    # the membership model's member tables ride along in every batch (synthetic users go there)
    # without being probed themselves: no pair for them
    pairs = {oid: SyntheticPair(by_oid[oid], oid, column_types[oid]) for oid in batch if oid in column_types}
    failures: dict[int, str] = {}

    def insert_pairs(with_setting: bool) -> None:
        for oid, pair in pairs.items():
            for label, tenant in tenants.items():
                if label in pair.rows or oid in trouble.seen:
                    continue
                parents = {p_oid: p.rows[label] for p_oid, p in pairs.items() if label in p.rows}
                try:
                    with conn.transaction():
                        if with_setting:
                            ctx.enter(str(tenant))
                        pair.rows[label] = synth.insert_row(oid, tenant, parents=parents, fallback=with_setting)
                    failures.pop(oid, None)
                except Unsatisfiable as exc:
                    failures[oid] = exc.reason
                except psycopg.Error as exc:
                    if conn.broken or not is_server_side(exc.sqlstate or ""):
                        raise
                    failures[oid] = Reason(f"the server could not insert it: {server_message(exc)}", trouble.note(exc, oid))

    # Insert without touching the setting where the owner may (RLS not forced on it): then the
    # "setting absent" experiment is still possible, which any set_config would spoil for good.
    insert_pairs(with_setting=False)
    absent: dict[int, tuple[str, str, Any]] = {}
    if observe_unset:
        for oid, pair in pairs.items():
            if len(pair.rows) == 2:
                trouble.table = oid
                absent[oid] = observe_absent(ctx, _row_visible(pair, "A", "B"))
    if ctx.model == "membership":
        # A user whose tenants are exactly {A} (and one for B, for the auditor's own aim at B's row),
        # made after the tables' own rows, so that no synthetic row points at these users (a
        # membership row of the probed table naming user A for tenant B would make B A's too).
        for label, tenant in tenants.items():
            try:
                ctx.subjects[str(tenant)] = _synthetic_member(ctx, synth, tenant)
            except Unsatisfiable as exc:
                if label == "A":
                    for oid in batch:
                        _not_proven_all(ctx, by_oid[oid], f"no synthetic user with a membership of tenant A: {exc.reason}")
                    return
    if any(len(p.rows) < 2 for p in pairs.values()):
        insert_pairs(with_setting=True)

    for oid, pair in pairs.items():
        table = pair.table
        trouble.table = oid
        if len(pair.rows) < 2:
            failure = failures.get(oid, "unknown reason")
            _not_proven_all(ctx, table, Reason(f"no synthetic rows: {failure}", getattr(failure, "server_cause", None)))
            continue
        parents_b = {p_oid: p.rows["B"] for p_oid, p in pairs.items() if "B" in p.rows}
        try:
            if _probe_pair(ctx, synth, pair, tenants, parents_b) is not False:
                unset_outcome(ctx, table, _row_visible(pair, "A", "B"), absent.get(oid))
        except psycopg.Error as exc:
            state = trouble.note(exc, oid)
            if conn.broken or state is None:
                raise
            _fill_missing(ctx, table, Reason(f"the server could not run the probe: {server_message(exc)}", state))
    trouble.table = None


_MEMBER_TABLES = """
SELECT r.oid, pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(r.relname), u.n
FROM ROWS FROM (pg_catalog.unnest(%(schemas)s::text[]), pg_catalog.unnest(%(tables)s::text[])) WITH ORDINALITY AS u (s, t, n)
JOIN pg_catalog.pg_namespace n ON n.nspname = u.s
JOIN pg_catalog.pg_class r ON r.relnamespace = n.oid AND r.relname = u.t
UNION ALL
SELECT k.confrelid, pg_catalog.quote_ident(fn.nspname) || '.' || pg_catalog.quote_ident(f.relname), 0
FROM pg_catalog.pg_constraint k
JOIN pg_catalog.pg_class c ON c.oid = k.conrelid JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
JOIN pg_catalog.pg_class f ON f.oid = k.confrelid JOIN pg_catalog.pg_namespace fn ON fn.oid = f.relnamespace
WHERE k.contype = 'f' AND pg_catalog.cardinality(k.conkey) = 1
  AND cn.nspname = %(member_schema)s AND c.relname = %(member_table)s AND a.attname = %(user_column)s
ORDER BY 3
"""


def _member_tables(ctx: ProbeContext) -> dict[int, str]:
    """Membership model: oid -> name of the tables synthetic users go into (the membership table
    first, its sessions table, the users table its user column references). Empty otherwise."""
    context = ctx.context
    if context.model != "membership" or context.membership is None:
        return {}
    m = context.membership
    named = [m.table] + ([context.session.table] if context.session else [])
    rows = ctx.conn.execute(
        _MEMBER_TABLES,
        {"schemas": [r.schema for r in named], "tables": [r.name for r in named], "member_schema": m.table.schema,
         "member_table": m.table.name, "user_column": m.user_column},
    ).fetchall()
    found = {oid: name for oid, name, _n in rows}
    ctx._lookups["member_oids"] = {n: oid for oid, _name, n in rows}  # 1: membership, 2: sessions
    return found


def _privileged_role(ctx: ProbeContext) -> str:
    """The role whose privileges judge 42501 (attempt()): the app role, or for the role model
    the first tenant role the auditor may become (tenant roles are granted alike)."""
    if ctx.model != "role":
        return ctx.app_role
    try:
        candidates = _read_candidates(ctx)
        return ctx.subject(candidates[0]).role if candidates else ctx.app_role
    except ProbeError:
        return ctx.app_role


def _tenant_a(ctx: ProbeContext, synth) -> Any:
    """Tenant A of a write batch: a synthetic tenant; for the role model an existing tenant
    whose role the auditing role may SET ROLE to (a synthetic tenant would have no role)."""
    if ctx.model != "role":
        return synth.new_tenant()
    candidates = _read_candidates(ctx)
    if not candidates:
        raise ProbeError(_no_candidate_reason(ctx).replace("that owns rows here ", ""))
    ctx.subject(candidates[0])
    return candidates[0]


def _synthetic_member(ctx: ProbeContext, synth, tenant: Any) -> Subject:
    """A fresh user whose only membership is ``tenant``, inserted as the owners of the users and
    membership tables (and a session of it, where the context holds a session id), like every
    synthetic row: all rolled back with the batch."""
    context = ctx.context
    m = context.membership
    oids = ctx._lookups.get("member_oids", {})
    member_oid = oids.get(1)
    if member_oid is None:
        from .synth import Unsatisfiable

        raise Unsatisfiable(f"membership table {m.table.display} not found")
    parents: dict[int, Any] = {}
    user_row = None
    user_fk = synth.foreign_key_of(member_oid, m.user_column)
    if user_fk is not None:
        user_row = synth.insert_row(user_fk[0], None, fallback=True)
        user = user_row.values[user_fk[1]]
        parents[user_fk[0]] = user_row
    else:
        user = synth.value_for(member_oid, m.user_column)
    synth.insert_row(member_oid, tenant, parents=parents, fixed={m.user_column: user, m.tenant_column: tenant}, fallback=True)
    value = str(user)
    if context.session is not None:
        session_oid = oids.get(2)
        if session_oid is None:
            from .synth import Unsatisfiable

            raise Unsatisfiable(f"sessions table {context.session.table.display} not found")
        session = synth.insert_row(session_oid, None, parents=parents, fixed={context.session.user_column: user}, fallback=True)
        value = str(session.values[context.session.key_column])
    return Subject(frozenset([str(tenant)]), value=value, user=str(user), user_row=user_row)


def _locate(ref) -> tuple[sql.Composable, tuple]:
    return sql.SQL("tableoid = %s AND ctid = %s::tid"), (ref.tableoid, ref.ctid)


def _row_visible(pair: SyntheticPair, *labels: str) -> Callable[[psycopg.Connection], bool]:
    ident = identifier(pair.table.schema, pair.table.table)
    where = sql.SQL(" OR ").join(sql.SQL("(") + _locate(pair.rows[label])[0] + sql.SQL(")") for label in labels)
    params = tuple(value for label in labels for value in _locate(pair.rows[label])[1])
    query = sql.SQL("SELECT EXISTS (SELECT FROM {} WHERE {})").format(ident, where)
    return _trouble.watch(lambda c: c.execute(query, params).fetchone()[0])


# Update, delete and move act on one synthetic row through WHERE CURRENT OF a cursor that the
# auditing role declares. A WHERE that reads the table (e.g. ctid = ...) makes PostgreSQL apply the
# table's SELECT policies too (and require SELECT): a fenced SELECT policy then hides B's row from
# the probe, while a statement that reads no column, `UPDATE t SET note = ''` or `DELETE FROM t`,
# is judged by the UPDATE / DELETE policies alone and reaches every row they let through. The SET
# values are constants for the same reason (SET c = c reads c).
_CURSOR = sql.Identifier("tenantaudit_probe_row")


def _on_row(
    ctx: ProbeContext, pair: SyntheticPair, label: str, tenants: dict[str, Any], statement: sql.Composable,
    params: tuple, privilege: str,
) -> tuple[str, Any]:
    """``statement WHERE CURRENT OF`` the synthetic row ``label``, as the app role with tenant A
    set: attempt()'s ("ok", rowcount), ("denied", message) or ("unproven", reason)."""
    ident = identifier(pair.table.schema, pair.table.table)
    where, located = _locate(pair.rows[label])
    declare = sql.SQL("DECLARE {} NO SCROLL CURSOR FOR SELECT FROM {} WHERE ").format(_CURSOR, ident) + where
    positioned = statement + sql.SQL(" WHERE CURRENT OF {}").format(_CURSOR)

    @_trouble.watch
    def run(c: psycopg.Connection) -> int:
        try:
            return c.execute(positioned, params).rowcount
        except psycopg.errors.InvalidCursorState as exc:  # the aim failed: not the server refusing
            raise ProbeError(server_message(exc)) from None

    # The row's own tenant in context, in case RLS applies to the auditing role as well.
    entry = ctx.entry_settings(str(tenants[label]))
    setup = [(declare, located)]
    if entry:
        setup.insert(0, (_SET_IN_ORDER, ([n for n, _ in entry], [v for _, v in entry])))
    try:
        with savepoint_with(ctx.conn, *setup):
            if ctx.conn.execute(sql.SQL("FETCH NEXT FROM {}").format(_CURSOR), ()).fetchone() is None:
                return "unproven", "the auditing role cannot see the synthetic row to aim the probe at it"
            return attempt(ctx, str(tenants["A"]), run, needs=(pair.table, privilege))
    except psycopg.OperationalError:
        raise
    except psycopg.Error as exc:
        return "unproven", Reason(f"could not aim the probe at the synthetic row: {server_message(exc)}", _trouble.note(exc))


def _probe_pair(
    ctx: ProbeContext, synth, pair: SyntheticPair, tenants: dict[str, Any], parents_b: dict[int, Any]
) -> bool | None:
    """As the app role with tenant A set: read, update (or take over), delete B's row; insert a row
    for B; move A's row to B. Each denied or invisible is a pass."""
    from .synth import Unsatisfiable

    table, ident, column = pair.table, identifier(pair.table.schema, pair.table.table), ctx.column
    tenant_a = str(tenants["A"])
    # Refusing B's row proves the fence only if tenant A can see its own row (first settling how
    # the setting carries a tenant id: the id itself, or a JSON document holding it).
    try:
        subject_a = ctx.subject(tenant_a)
    except ProbeError as exc:
        _not_proven_all(ctx, table, Reason(str(exc), exc.cause))
        return False
    ctx.calibrate(tenant_a, _row_visible(pair, "A"))
    sees_own = attempt(ctx, tenant_a, _row_visible(pair, "A")) == ("ok", True)

    def outcome(operation: str, status: str, value: Any, leaked: bool, what: str) -> None:
        if status == "unproven":
            ctx.record(table, operation, NOT_PROVEN, str(value))
        elif status in ("denied", "error") and not sees_own:
            ctx.record(table, operation, NOT_PROVEN, OWN_ROWS_HIDDEN)
        elif status == "denied":
            ctx.record(table, operation, PASS, f"refused: {value}")
        elif status == "error":
            ctx.record(table, operation, FAILS_CLOSED_BY_ERROR, str(value))
        elif leaked and not (proof := ctx.outside(subject_a, str(tenants["B"])))[0]:
            ctx.record(table, operation, NOT_PROVEN, f"B's row was reached, but it is not proven another tenant's: {proof[1]}")
        elif leaked:
            ctx.record(table, operation, LEAK, what)
            category, severity = (
                ("probe-read-leak", Severity.CRITICAL) if operation == "read" else ("probe-write-leak", Severity.CRITICAL)
            )
            ctx.leak(table, category, severity,
                     f"as {_acting(ctx)} with tenant A in context ({_context_words(ctx)}), {what} in {table.schema}.{table.table}",
                     _fence_hint(ctx, table))
        elif not sees_own:
            ctx.record(table, operation, NOT_PROVEN, OWN_ROWS_HIDDEN)
        else:
            ctx.record(table, operation, PASS, "invisible" if operation == "read" else "no row affected")

    status, value = attempt(ctx, tenant_a, _row_visible(pair, "B"))
    outcome("read", status, value, bool(value), "another tenant's row was visible")

    # Set the tenant column to a constant, passed as text and cast by the column's type.
    # format_type's output is a type name from the catalog: safe to compose as SQL.
    set_tenant = sql.SQL("UPDATE {t} SET {c} = %s::text::{type}").format(
        t=ident, c=column, type=sql.SQL(pair.column_type)
    )
    # Update B's row keeping its tenant. If the server refuses (e.g. a WITH CHECK that pins the
    # tenant column), can A take the row over, its tenant set to A? (A composite foreign key may
    # refuse that one instead: hence both.)
    status, value = _on_row(ctx, pair, "B", tenants, set_tenant, (str(tenants["B"]),), "UPDATE")
    what = "another tenant's row could be updated"
    if status == "denied":
        taken = _on_row(ctx, pair, "B", tenants, set_tenant, (tenant_a,), "UPDATE")
        if taken[0] == "ok" and taken[1] > 0:
            (status, value), what = taken, "another tenant's row could be taken over (its tenant set to A)"
    outcome("update", status, value, status == "ok" and value > 0, what)

    status, value = _on_row(ctx, pair, "B", tenants, sql.SQL("DELETE FROM {}").format(ident), (), "DELETE")
    outcome("delete", status, value, status == "ok" and value > 0, "another tenant's row could be deleted")

    # Move A's row to B.
    status, value = _on_row(ctx, pair, "A", tenants, set_tenant, (str(tenants["B"]),), "UPDATE")
    if status == "ok" and value == 0:
        ctx.record(table, "move", NOT_PROVEN, "tenant A's own row was not visible to its UPDATE")
    else:
        outcome("move", status, value, status == "ok" and value > 0, "a row could be moved to another tenant")

    try:
        values = synth.make_row_values(pair.oid, tenants["B"], parents=parents_b)
    except Unsatisfiable as exc:
        ctx.record(table, "insert", NOT_PROVEN, exc.reason)
        return
    insert, params = synth.insert_statement(pair.oid, values)
    status, value = attempt(
        ctx, tenant_a, _trouble.watch(lambda c: c.execute(insert, params).rowcount), needs=(table, "INSERT")
    )
    what = "a row could be inserted for another tenant"
    if pair.oid == ctx._lookups.get("member_oids", {}).get(1) and not (status == "ok" and value > 0):
        # The takeover path: the user in context adds itself to tenant B (an INSERT policy that
        # checks only `user_id = auth.uid()` lets any user join any tenant).
        taken = _join_other_tenant(ctx, synth, pair, tenants, parents_b, subject_a)
        if taken is not None and (taken[0] == "ok" and taken[1] > 0 or status == "unproven"):
            (status, value), what = taken, (
                "a membership row could be inserted for another tenant, naming the user in context "
                "(a takeover path: the user joins tenant B)"
            )
    outcome("insert", status, value, status == "ok" and value > 0, what)


def _join_other_tenant(
    ctx: ProbeContext, synth, pair: SyntheticPair, tenants: dict[str, Any], parents_b: dict[int, Any], subject_a: Subject
) -> tuple[str, Any] | None:
    """As the app role with user U (tenant A) in context: INSERT a membership row (U, B)."""
    from .synth import Unsatisfiable

    m = ctx.context.membership
    parents = dict(parents_b)
    if subject_a.user_row is not None:
        parents[subject_a.user_row.table_oid] = subject_a.user_row
    user = subject_a.user_row.values[synth.foreign_key_of(pair.oid, m.user_column)[1]] if subject_a.user_row else subject_a.user
    try:
        values = synth.make_row_values(pair.oid, tenants["B"], parents=parents, fixed={m.user_column: user, m.tenant_column: tenants["B"]})
    except Unsatisfiable as exc:
        return "unproven", exc.reason
    insert, params = synth.insert_statement(pair.oid, values)
    return attempt(ctx, str(tenants["A"]), _trouble.watch(lambda c: c.execute(insert, params).rowcount), needs=(pair.table, "INSERT"))
