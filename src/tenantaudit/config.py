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
    source: str = "defaults"  # where file options came from, for error messages

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
        }


_LIST_OPTIONS = {"schemas", "global_tables", "checks_dirs"}
_FILE_KEYS = {f.name.replace("_", "-"): f.name for f in fields(AuditConfig) if f.name != "source"}
# Accept the singular spellings the CLI uses, too.
_FILE_KEYS.update({"schema": "schemas", "global-table": "global_tables", "checks-dir": "checks_dirs"})
_CLI_NAMES = {"schemas": "--schema", "global_tables": "--global-table", "checks_dirs": "--checks-dir"}


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
                known = ", ".join(sorted(k for k in _FILE_KEYS if k not in ("schema", "global-table", "checks-dir")))
                raise ConfigError(f"{path}: unknown option {key!r}", fix=f"known options: {known}")
            set_option(config, name, value, origin=f"{path}: option {key!r}")
    for name, value in cli_options.items():
        if value is None or (name in _LIST_OPTIONS and not value):
            continue
        set_option(config, name, value, origin=_CLI_NAMES.get(name, "--" + name.replace("_", "-")))
    return config


def set_option(config: AuditConfig, name: str, value: Any, *, origin: str) -> None:
    """Validate one option and set it; ``origin`` names where it came from for the error."""
    if name in _LIST_OPTIONS:
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
        if name == "setting" and "." not in value:
            # PostgreSQL only accepts custom settings with a prefix: app.tenant_id, not tenant_id
            raise ConfigError(f"{origin}: {value!r} is not a custom setting name", fix="write prefix.name, e.g. app.tenant_id")
    setattr(config, name, value)


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
