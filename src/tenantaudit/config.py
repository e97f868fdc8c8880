"""Options: CLI > tenantaudit.toml or [tool.tenantaudit] in pyproject.toml > defaults."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .findings import Severity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

CONFIG_FILE = "tenantaudit.toml"
PROBE_MODES = ("none", "read", "write")
# The tenant context models (audit/context.py MODELS; repeated here: config must not import the
# audit package, which imports this module).
CONTEXT_MODELS = ("setting", "mapped", "membership", "role")
NO_TENANT_TABLE = "none"  # --tenant-table none: the database has no tenants table


@dataclass(frozen=True)
class TableColumns:
    """``schema.table(first, second)`` from an option: a membership table (user column, tenant
    column) or a sessions table (key column, user column)."""

    schema: str
    table: str
    columns: tuple[str, str]

    @property
    def display(self) -> str:
        return f"{self.schema}.{self.table}({', '.join(self.columns)})"


@dataclass
class AuditConfig:
    tenant_column: str = "tenant_id"
    tenant_table: str = "public.tenants"
    setting: str = "app.tenant_id"
    app_role: str | None = None
    schemas: list[str] = field(default_factory=list)  # empty: every non-system schema
    global_tables: list[str] = field(default_factory=list)
    fail_on: Severity = Severity.HIGH
    statement_timeout: str = "30s"
    lock_timeout: str = "2s"
    checks_dirs: list[str] = field(default_factory=list)  # user checks, beside the built-in ones
    data_checks: bool = True  # read tables lacking NOT NULL / a foreign key for NULL and orphan tenants
    probe: str = "read"  # none, read (rows already there), write (synthetic rows, rolled back)
    data_timeout: str = "5s"  # bound for each per-table data check or probe query
    probe_triggers: bool = False  # write-probe tables with triggers (a trigger can act outside the transaction)
    # probe tables whose policies, defaults, checks, indexes or triggers can act outside the
    # transaction (dblink, foreign tables, COPY PROGRAM, ...; see side_effects.py) instead of skipping them
    probe_side_effects: bool = False
    # The tenant context (DESIGN.md "The tenant context"). None: inferred from the policies.
    context_model: str | None = None
    claim_path: tuple[str, ...] = ()  # where the value sits in the setting's JSON document ("org_id", "sub")
    tenant_key: str | None = None  # mapped: the tenants table's column the setting holds (slug)
    membership: TableColumns | None = None  # membership: table(user column, tenant column)
    user_setting: str | None = None  # membership: the setting that carries the user (or the session id)
    session_table: TableColumns | None = None  # membership: table(session key column, user column)
    role_column: str | None = None  # role: the tenants table's column holding the role name
    claims: dict[str, str] = field(default_factory=dict)  # extra JWT claims the fences need
    # every role the application logs in as (--app-role repeated); app_role is the first, the one probed
    app_roles: list[str] = field(default_factory=list)
    source: str = "defaults"  # where file options came from, for error messages
    # option name -> where it was given ("--tenant-column", "tenantaudit.toml: option 'setting'"):
    # inference may replace a default, never an option the user gave
    origins: dict[str, str] = field(default_factory=dict)

    def is_explicit(self, name: str) -> bool:
        """True when the option ``name`` (e.g. "tenant_column") came from the CLI or a config file."""
        return name in self.origins

    @property
    def has_tenant_table(self) -> bool:
        return self.tenant_table != NO_TENANT_TABLE

    @property
    def query_timeout(self) -> str:
        """The bound for each data check and probe query: --data-timeout, but never above
        --statement-timeout (the upper bound for any one query)."""
        from .db import duration_ms

        data, statement = self.data_timeout, self.statement_timeout
        return statement if duration_ms(statement) < duration_ms(data) else data

    def as_settings(self) -> dict[str, Any]:
        """What the report shows of the configuration (no secrets live here)."""
        return {
            "tenant_column": self.tenant_column,
            "tenant_table": self.tenant_table,
            "setting": self.setting,
            "app_role": self.app_role,
            "schemas": list(self.schemas),
            "global_tables": list(self.global_tables),
            "fail_on": self.fail_on.value,
            "statement_timeout": self.statement_timeout,
            "lock_timeout": self.lock_timeout,
            "data_checks": self.data_checks,
            "probe": self.probe,
            "data_timeout": self.data_timeout,
            "probe_triggers": self.probe_triggers,
            "probe_side_effects": self.probe_side_effects,
            "context": self.context_model,  # None: inferred (the report's context says what was used)
        }


_LIST_OPTIONS = {"schemas", "global_tables", "checks_dirs", "app_roles"}
_FILE_KEYS = {
    f.name.replace("_", "-"): f.name for f in fields(AuditConfig) if f.name not in ("source", "origins", "context_model")
}
# Accept the singular spellings the CLI uses, too.
_FILE_KEYS.update({"schema": "schemas", "global-table": "global_tables", "checks-dir": "checks_dirs", "context": "context_model"})
_ALIASES = ("schema", "global-table", "checks-dir")
_CLI_NAMES = {"schemas": "--schema", "global_tables": "--global-table", "checks_dirs": "--checks-dir", "app_roles": "--app-role",
              "context_model": "--context", "claims": "--claim"}


def find_config_file(start: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """tenantaudit.toml, else a pyproject.toml with [tool.tenantaudit], in the working directory."""
    folder = start or Path.cwd()
    own = folder / CONFIG_FILE
    if own.is_file():
        return own, _read_toml(own)
    pyproject = folder / "pyproject.toml"
    if pyproject.is_file():
        table = _read_toml(pyproject).get("tool", {}).get("tenantaudit")
        if table is not None:
            return pyproject, table
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except UnicodeDecodeError as exc:  # TOML is UTF-8 by definition; tomllib does not wrap this
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})",
            fix="save the file as UTF-8",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})", fix="fix the file's syntax") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})", fix="check the path") from None


def load_config(cli_options: dict[str, Any], config_path: Path | None = None) -> AuditConfig:
    """Merge CLI options (None = not given) over the config file over defaults, validating each."""
    config = AuditConfig()
    if config_path is not None:
        if not config_path.is_file():
            raise ConfigError(f"--config {config_path}: no such file", fix="check the path")
        data = _read_toml(config_path)
        if config_path.name == "pyproject.toml":
            data = data.get("tool", {}).get("tenantaudit", {})
        found: tuple[Path, dict[str, Any]] | None = (config_path, data)
    else:
        found = find_config_file()
    if found is not None:
        path, data = found
        config.source = str(path)
        for key, value in data.items():
            name = _FILE_KEYS.get(key) or _FILE_KEYS.get(key.replace("_", "-"))
            if name is None:
                known = ", ".join(sorted(k for k in _FILE_KEYS if k not in _ALIASES))
                raise ConfigError(f"{path}: unknown option {key!r}", fix=f"known options: {known}")
            set_option(config, name, value, origin=f"{path}: option {key!r}")
    for name, value in cli_options.items():
        if value is None or (name in _LIST_OPTIONS and not value):
            continue
        set_option(config, name, value, origin=_CLI_NAMES.get(name, "--" + name.replace("_", "-")))
    # the probed role first, then the others, each once
    config.app_roles = list(dict.fromkeys([r for r in (config.app_role, *config.app_roles) if r]))
    if config.app_roles and not config.app_role:
        config.app_role = config.app_roles[0]
    validate_context(config)
    return config


def set_option(config: AuditConfig, name: str, value: Any, *, origin: str) -> None:
    """Validate one option and set it; ``origin`` names where it came from for the error."""
    config.origins[name] = origin
    if name in _CONTEXT_PARSERS:
        value = _CONTEXT_PARSERS[name](config, value, origin)
    elif name in _LIST_OPTIONS:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{origin}: expected a list of names, got {value!r}", fix="write e.g. [\"public\"]")
        value = list(value)
    elif name == "fail_on":
        try:
            value = Severity.parse(str(value))
        except ValueError as exc:
            raise ConfigError(f"{origin}: {exc}", fix="use critical, high, medium, low or info") from None
    elif name == "probe":
        value = str(value).strip().lower()
        if value not in PROBE_MODES:
            raise ConfigError(f"{origin}: {value!r} is not a probe mode", fix="use none, read or write")
    elif name in ("probe_triggers", "probe_side_effects", "data_checks"):
        if not isinstance(value, bool):
            raise ConfigError(f"{origin}: expected true or false, got {value!r}", fix="write true or false")
    elif name in ("statement_timeout", "lock_timeout", "data_timeout"):
        from .db import duration_ms

        value = str(value).strip()
        try:
            milliseconds = duration_ms(value)
        except ConfigError:
            milliseconds = -1
        # 0 would switch the bound off; PostgreSQL's limit is INT_MAX milliseconds
        if not 0 < milliseconds <= 2_147_483_647:
            raise ConfigError(
                f"{origin}: {value!r} is not a duration between 1ms and 24 days", fix="write e.g. 30s, 500ms or 2min"
            )
    else:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{origin}: expected a non-empty string, got {value!r}", fix="give a name")
        value = value.strip()
        if name == "setting":
            _require_custom_setting(value, origin)
        if name == "tenant_table" and value.lower() == NO_TENANT_TABLE:
            value = NO_TENANT_TABLE
        elif name == "tenant_table":
            split_qualified_name(value)  # a malformed name fails here, naming the option
    setattr(config, name, value)


def _require_custom_setting(value: str, origin: str) -> None:
    # PostgreSQL only accepts custom settings with a prefix: app.tenant_id, not tenant_id
    if "." not in value or value.startswith(".") or value.endswith("."):
        raise ConfigError(f"{origin}: {value!r} is not a custom setting name", fix="write prefix.name, e.g. app.tenant_id")


def _name(value: Any, origin: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{origin}: expected {what}, got {value!r}", fix=f"give {what}")
    return value.strip()


def _parse_context_model(config: AuditConfig, value: Any, origin: str) -> str | None:
    model = _name(value, origin, "a tenant context model").lower()
    if model not in CONTEXT_MODELS:
        raise ConfigError(
            f"{origin}: {value!r} is not a tenant context model",
            fix="use setting, mapped, membership or role, or leave it out to infer it from the policies",
        )
    return model


def _parse_claim_path(config: AuditConfig, value: Any, origin: str) -> tuple[str, ...]:
    """``org_id`` or ``app_metadata.org_id``: the keys leading to the value in the setting's JSON."""
    if isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        parts = _name(value, origin, "a JSON path such as org_id or app_metadata.org_id").split(".")
    if not parts or not all(isinstance(p, str) and p.strip() and p == p.strip() for p in parts):
        raise ConfigError(
            f"{origin}: {value!r} is not a JSON path (keys separated by dots, none empty)",
            fix="write e.g. org_id, sub or app_metadata.org_id",
        )
    return tuple(parts)


def _parse_column(config: AuditConfig, value: Any, origin: str) -> str:
    return _name(value, origin, "a column name")


def _parse_user_setting(config: AuditConfig, value: Any, origin: str) -> str:
    text = _name(value, origin, "a setting name such as app.user_id or request.jwt.claims")
    _require_custom_setting(text, origin)
    return text


def _parse_claims(config: AuditConfig, value: Any, origin: str) -> dict[str, str]:
    """A file's ``claims = { user_role = "member" }`` or the CLI's repeated ``--claim user_role=member``:
    merged over what is there (the CLI's claims over the file's, key by key)."""
    fix = 'write --claim user_role=member, or claims = { user_role = "member" } in the file'
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, (list, tuple, str)):
        pairs = []
        for item in [value] if isinstance(value, str) else value:
            key, sep, val = str(item).partition("=")
            if not sep:
                raise ConfigError(f"{origin}: {item!r} is not NAME=VALUE", fix=fix)
            pairs.append((key, val))
    else:
        raise ConfigError(f"{origin}: expected NAME=VALUE claims, got {value!r}", fix=fix)
    claims = dict(config.claims)
    for key, val in pairs:
        key = key.strip() if isinstance(key, str) else key
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{origin}: a claim has an empty name", fix=fix)
        if not isinstance(val, str):
            raise ConfigError(f"{origin}: claim {key!r} must be a string, got {val!r}", fix=fix)
        claims[key] = val
    return claims


def _table_columns_parser(example: str, first: str, second: str):
    def parse(config: AuditConfig, value: Any, origin: str) -> TableColumns:
        fix = f"write {example}: the table, then ({first}, {second})"
        if isinstance(value, dict):  # a file may spell it out: { table = "...", columns = ["a", "b"] }
            table, columns = value.get("table"), value.get("columns")
            if not isinstance(table, str) or not isinstance(columns, list) or len(columns) != 2 or set(value) - {"table", "columns"}:
                raise ConfigError(f"{origin}: expected table and two columns, got {value!r}", fix=fix)
            schema, name = split_qualified_name(table)
            if not all(isinstance(c, str) and c.strip() for c in columns):
                raise ConfigError(f"{origin}: expected two column names, got {columns!r}", fix=fix)
            return TableColumns(schema, name, (columns[0].strip(), columns[1].strip()))
        return parse_table_columns(_name(value, origin, example), origin, fix)

    return parse


def parse_table_columns(spec: str, origin: str, fix: str) -> TableColumns:
    """``schema.table(col_a, col_b)``, read by PostgreSQL's own parser (as the call of a function
    of that name), so quoting and case folding are exactly SQL's."""
    import pglast
    from pglast import ast

    def bad(why: str) -> ConfigError:
        return ConfigError(f"{origin}: {spec!r} {why}", fix=fix)

    try:
        statements = pglast.parse_sql(f"SELECT {spec}")
    except pglast.parser.ParseError:
        raise bad("is not table(column, column)") from None
    if len(statements) != 1:
        raise bad("is not table(column, column)")
    select = statements[0].stmt
    targets = getattr(select, "targetList", None) or ()
    clauses = ("fromClause", "whereClause", "groupClause", "havingClause", "sortClause", "limitCount", "withClause")
    if not isinstance(select, ast.SelectStmt) or len(targets) != 1 or any(getattr(select, c, None) for c in clauses):
        raise bad("is not table(column, column)")
    call = targets[0].val
    if targets[0].name or not isinstance(call, ast.FuncCall) or call.agg_star or call.over or call.agg_order:
        raise bad("is not table(column, column)")
    names = [n.sval for n in call.funcname]
    if len(names) > 2:
        raise bad("names more than schema.table")
    args = call.args or ()
    columns = [a.fields[0].sval for a in args
               if isinstance(a, ast.ColumnRef) and len(a.fields) == 1 and isinstance(a.fields[0], ast.String)]
    if len(args) != 2 or len(columns) != 2:
        raise bad("does not list exactly two plain column names (a reserved word such as user needs double quotes)")
    schema, table = (names if len(names) == 2 else ["public", names[0]])
    return TableColumns(schema, table, (columns[0], columns[1]))


_CONTEXT_PARSERS = {
    "context_model": _parse_context_model,
    "claim_path": _parse_claim_path,
    "tenant_key": _parse_column,
    "role_column": _parse_column,
    "user_setting": _parse_user_setting,
    "claims": _parse_claims,
    "membership": _table_columns_parser("public.account_user(user_id, account_id)", "user column", "tenant column"),
    "session_table": _table_columns_parser("app_private.sessions(uuid, user_id)", "session key column", "user column"),
}

# The options that belong to one model only: given without --context, they choose it.
_MODEL_OPTIONS = {
    "tenant_key": "mapped",
    "membership": "membership",
    "user_setting": "membership",
    "session_table": "membership",
    "role_column": "role",
}


def validate_context(config: AuditConfig) -> None:
    """The tenant context options together: each model gets what it needs and nothing another
    model's; an option of one model alone chooses that model."""
    origin = config.origins.get
    given = {name: model for name, model in _MODEL_OPTIONS.items() if config.is_explicit(name)}
    if config.context_model is None and given:
        models = sorted(set(given.values()))
        if len(models) > 1:
            first, second = (next(n for n, m in given.items() if m == model) for model in models[:2])
            raise ConfigError(
                f"{origin(first)} ({models[0]} model) and {origin(second)} ({models[1]} model) cannot be combined",
                fix="keep the options of one model, or choose it with --context",
            )
        config.context_model = models[0]
        config.origins["context_model"] = f"implied by {origin(next(iter(given)))}"
    model = config.context_model
    if model is None:
        return
    where = origin("context_model", "--context")
    for name, owner in given.items():
        if owner != model:
            raise ConfigError(
                f"{origin(name)} belongs to the {owner} model, not {model} ({where})",
                fix=f"drop it, or use --context {owner}",
            )
    if model == "role" and config.is_explicit("claim_path"):
        raise ConfigError(f"{origin('claim_path')}: the role model reads no setting ({where})",
                          fix="drop --claim-path, or choose the model whose setting holds a JSON document")
    if model == "mapped" and not config.tenant_key:
        raise ConfigError(f"{where}: the mapped model needs --tenant-key",
                          fix="pass --tenant-key COLUMN: the tenants table's column the setting holds, e.g. slug")
    if model == "membership":
        if config.membership is None:
            raise ConfigError(f"{where}: the membership model needs --membership",
                              fix="pass --membership schema.table(user_column, tenant_column), e.g. public.account_user(user_id, account_id)")
        if not config.user_setting:
            raise ConfigError(
                f"{where}: the membership model needs --user-setting",
                fix="pass --user-setting NAME: the setting that carries the user id (request.jwt.claims with --claim-path sub), "
                "or the session id with --session-table",
            )
    if not config.has_tenant_table:
        needs = {"mapped": "--tenant-key", "role": "--role-column"}
        if model == "mapped" or (model == "role" and config.role_column):
            raise ConfigError(
                f"{origin('tenant_table')} none: {needs[model]} names a column of the tenants table ({where})",
                fix="name the tenants table with --tenant-table, or use a model that needs none",
            )


def split_qualified_name(spec: str, default_schema: str = "public") -> tuple[str, str]:
    """Parse ``schema.table`` where either part may be double-quoted (``"Sales-EU"."Order Items"``)."""
    parts: list[str] = []
    i, text = 0, spec.strip()
    while i < len(text):
        if text[i] == '"':
            j, buf = i + 1, []
            while True:
                if j >= len(text):
                    raise ConfigError(f"{spec!r}: unterminated double quote", fix='write "schema"."table"')
                if text[j] == '"':
                    if j + 1 < len(text) and text[j + 1] == '"':
                        buf.append('"')
                        j += 2
                        continue
                    break
                buf.append(text[j])
                j += 1
            parts.append("".join(buf))
            i = j + 1
        else:
            j = text.find(".", i)
            j = len(text) if j == -1 else j
            # unquoted identifiers fold to lower case, as in SQL
            parts.append(text[i:j].strip().lower())
            i = j
        if i < len(text):
            if text[i] != ".":
                raise ConfigError(f"{spec!r}: expected '.' after a quoted name", fix='write "schema"."table"')
            i += 1
    if len(parts) == 1 and parts[0]:
        return default_schema, parts[0]
    if len(parts) == 2 and all(parts):
        return parts[0], parts[1]
    raise ConfigError(f"{spec!r} is not a table name", fix="write table or schema.table")
