"""The tenant context model: what "the current tenant" means in the audited database.

Every verdict depends on it (DESIGN.md, "The tenant context"). Four models:

- ``setting``: a tenant id in a custom setting, or at a JSON path of one (Supabase's
  ``request.jwt.claims`` read through ``auth.jwt()``);
- ``mapped``: the setting holds another unique key of the tenants table (a slug, an external id);
- ``membership``: the context names a user (a setting, a JWT claim such as ``sub``, or a session
  id mapped to a user through a table), and a membership table decides which tenants it reaches;
- ``role``: the tenant is the database role (``current_user``), mapped through a column of the
  tenants table, or the role name itself.

The analyzer (policy.py) decides what a fence is under the model; the probes use it to put
"tenant A" in context and to decide what counts as another tenant's row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MODELS = ("setting", "mapped", "membership", "role")


@dataclass(frozen=True)
class Relation:
    schema: str
    name: str
    oid: int | None = None

    @property
    def display(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class SessionMap:
    """A session id in the context, mapped to a user: ``table.key_column = <setting>`` gives
    ``table.user_column``."""

    table: Relation
    key_column: str
    user_column: str


@dataclass(frozen=True)
class Membership:
    """``table`` links users to tenants: a row (user_column = the context's user,
    tenant_column = T) lets that user reach tenant T."""

    table: Relation
    user_column: str
    tenant_column: str


@dataclass(frozen=True)
class TenantContext:
    model: str  # one of MODELS
    tenant_column: str  # the column every tenant table carries
    tenant_table: Relation | None  # None: no tenants table in this database (--tenant-table none)
    tenant_key: str | None = None  # the tenants table's key the tenant column holds (its primary key)
    # setting, mapped: the setting that carries the tenant (or its key); membership: the one that
    # carries the user (or the session id); role: None
    setting: str | None = None
    json_path: tuple[str, ...] = ()  # where in the setting's JSON document the value sits, e.g. ("sub",)
    mapped_key: str | None = None  # mapped: the tenants table's column the setting holds (slug)
    membership: Membership | None = None  # membership
    session: SessionMap | None = None  # membership: the setting holds a session id, not a user id
    role_column: str | None = None  # role: the tenants table's column holding the role name; None: the role name is the key
    claims: dict[str, str] = field(default_factory=dict)  # extra JWT claims the fences need ({"user_role": "member"})
    inferred: bool = False  # True: read from the policies, not given in the options
    evidence: str = ""  # why this model, in one sentence (what the policies compare the tenant column with)

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"unknown tenant context model {self.model!r}")

    def describe(self) -> str:
        """One line for the top of every report."""
        column = self.tenant_column
        table = self.tenant_table.display if self.tenant_table else "no tenants table"
        where = self.setting or ""
        if self.json_path:
            where += " -> " + " -> ".join(self.json_path)
        if self.model == "setting":
            what = f"the tenant id in {where}"
        elif self.model == "mapped":
            what = f"{table}.{self.mapped_key} in {where}"
        elif self.model == "membership":
            assert self.membership is not None
            user = f"a user in {where}"
            if self.session:
                user = f"a session in {where} ({self.session.table.display}.{self.session.user_column})"
            m = self.membership
            what = f"{user}, reaching the tenants of {m.table.display} ({m.user_column} -> {m.tenant_column})"
        else:
            what = "current_user" + (f" = {table}.{self.role_column}" if self.role_column else " (the role name)")
        how = "inferred" if self.inferred else "configured"
        line = f"tenant context: {self.model} ({how}): {column} of {table} from {what}"
        if self.claims:
            line += "; claims " + ", ".join(f"{k}={v}" for k, v in sorted(self.claims.items()))
        return line + (f" — {self.evidence}" if self.evidence else "")

    def as_dict(self) -> dict:
        """What the report carries of the model (renderers never see the dataclass)."""
        return {
            "model": self.model,
            "tenant_column": self.tenant_column,
            "tenant_table": self.tenant_table.display if self.tenant_table else None,
            "tenant_key": self.tenant_key,
            "setting": self.setting,
            "json_path": list(self.json_path),
            "mapped_key": self.mapped_key,
            "membership": (
                {"table": self.membership.table.display, "user_column": self.membership.user_column,
                 "tenant_column": self.membership.tenant_column} if self.membership else None
            ),
            "session": (
                {"table": self.session.table.display, "key_column": self.session.key_column,
                 "user_column": self.session.user_column} if self.session else None
            ),
            "role_column": self.role_column,
            "claims": dict(self.claims),
            "inferred": self.inferred,
            "evidence": self.evidence,
            "description": self.describe(),
        }


def configured_context(config, scope) -> TenantContext | None:
    """The context the options describe (``config``: AuditConfig, ``scope``: the resolved Scope,
    whose tenants table and named tables it uses); None when the model is left to inference."""
    model = config.context_model
    if model is None:
        return None

    def relation(named) -> Relation:
        return Relation(named.schema, named.table, scope.relations.get((named.schema, named.table)))

    membership = session = None
    if model == "membership":
        user_column, tenant_column = config.membership.columns
        membership = Membership(relation(config.membership), user_column, tenant_column)
        if config.session_table is not None:
            key_column, session_user = config.session_table.columns
            session = SessionMap(relation(config.session_table), key_column, session_user)
    return TenantContext(
        model=model,
        tenant_column=config.tenant_column,
        tenant_table=scope.tenant_relation,
        tenant_key=scope.tenant_key,
        setting={"setting": config.setting, "mapped": config.setting, "membership": config.user_setting}.get(model),
        json_path=tuple(config.claim_path) if model != "role" else (),
        mapped_key=config.tenant_key if model == "mapped" else None,
        membership=membership,
        session=session,
        role_column=config.role_column if model == "role" else None,
        claims=dict(config.claims),
    )
