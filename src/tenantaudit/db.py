"""Connecting to a live database safely: read-only, bounded by timeouts, password never shown."""

from __future__ import annotations

import re

import psycopg
from psycopg import conninfo

from .errors import ConfigError, ConnectError

APPLICATION_NAME = "tenantaudit"
DEFAULT_CONNECT_TIMEOUT = 10


def parse_dsn(dsn: str) -> dict[str, str]:
    """A URI, a key=value string, or '' (PG* environment). Raises ConfigError when malformed."""
    try:
        return conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        reason = str(exc).splitlines()[0]
        # libpq's message can quote the DSN back: drop anything after the first colon-quote.
        reason = re.sub(r'".*', "", reason).rstrip(": ")
        raise ConfigError(
            f"the DSN is malformed ({reason})",
            fix="use postgresql://user@host:5432/dbname or 'host=... dbname=...'",
        ) from None


def mask_dsn(dsn: str) -> str:
    """The DSN as it can be shown: password removed, parameters in key=value form."""
    try:
        params = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<malformed DSN>"
    params.pop("password", None)
    shown = {k: v for k, v in params.items() if k in ("host", "hostaddr", "port", "dbname", "user", "sslmode")}
    return conninfo.make_conninfo(**shown) if shown else "(PG* environment)"


def _describe_connect_failure(exc: psycopg.OperationalError, params: dict[str, str]) -> ConnectError:
    text = str(exc)
    where = params.get("host") or params.get("hostaddr") or "the default socket"
    port = params.get("port", "5432")
    user = params.get("user", "(default user)")
    dbname = params.get("dbname", "(default database)")
    lowered = text.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return ConnectError(
            f"authentication failed for user {user!r} at {where}:{port}",
            fix="check the password in the DSN, PGPASSWORD or ~/.pgpass",
        )
    if "does not exist" in lowered and "database" in lowered:
        return ConnectError(f"database {dbname!r} does not exist at {where}:{port}", fix="check dbname in the DSN")
    if "role" in lowered and "does not exist" in lowered:
        return ConnectError(f"role {user!r} does not exist at {where}:{port}", fix="check user in the DSN")
    if "could not translate host name" in lowered or "name or service not known" in lowered:
        return ConnectError(f"unknown host {where!r}", fix="check host in the DSN")
    if "connection refused" in lowered or "no such file or directory" in lowered:
        return ConnectError(
            f"no PostgreSQL server is listening at {where}:{port}",
            fix="start the server or fix host/port in the DSN",
        )
    if "timeout expired" in lowered or "timed out" in lowered:
        return ConnectError(
            f"connecting to {where}:{port} timed out",
            fix="check the host is reachable, or raise connect_timeout in the DSN",
        )
    if (
        "invalid response to ssl negotiation" in lowered
        or "expected authentication request" in lowered
        or "server closed the connection unexpectedly" in lowered
        or "unsupported frontend protocol" in lowered
        or "received invalid response" in lowered
    ):
        return ConnectError(
            f"the server at {where}:{port} did not answer as PostgreSQL",
            fix="check host and port point at a PostgreSQL server",
        )
    if "pg_hba.conf" in lowered:
        return ConnectError(
            f"the server at {where}:{port} refused this client (pg_hba.conf)",
            fix="ask the DBA for a pg_hba.conf entry or use sslmode=require",
        )
    first = next((line.strip() for line in text.splitlines() if line.strip()), "unknown error")
    return ConnectError(f"could not connect to {where}:{port}: {first}", fix="check the DSN")


def duration_ms(value: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*(ms|s|min|h)?\s*", value)
    if not match:
        raise ConfigError(f"{value!r} is not a duration", fix="write e.g. 30s or 500ms")
    number, unit = int(match.group(1)), match.group(2) or "ms"
    return number * {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000}[unit]


def connect_readonly(dsn: str, *, statement_timeout: str = "30s", lock_timeout: str = "2s") -> psycopg.Connection:
    """A session for auditing: every transaction READ ONLY and REPEATABLE READ, timeouts set,
    application_name set. The caller always ends its transaction with ROLLBACK."""
    return connect_session(dsn, read_only=True, statement_timeout=statement_timeout, lock_timeout=lock_timeout)


def connect_session(
    dsn: str, *, read_only: bool, statement_timeout: str = "30s", lock_timeout: str = "2s"
) -> psycopg.Connection:
    """A bounded session. ``read_only=False`` is only for write probes, whose one transaction
    the caller always rolls back."""
    params = parse_dsn(dsn)
    extra = {"application_name": APPLICATION_NAME}
    if "connect_timeout" not in params:
        extra["connect_timeout"] = str(DEFAULT_CONNECT_TIMEOUT)
    try:
        conn = psycopg.connect(dsn, autocommit=True, **extra)
    except psycopg.OperationalError as exc:
        raise _describe_connect_failure(exc, params) from None
    except psycopg.ProgrammingError as exc:  # e.g. connect_timeout=abc: libpq rejects the value
        raise ConfigError(f"the DSN has an invalid value ({first_line(exc)})", fix="check the DSN's parameters") from None
    try:
        statement_ms = duration_ms(statement_timeout)
        lock_ms = duration_ms(lock_timeout)
        conn.execute(
            "SELECT pg_catalog.set_config('statement_timeout', %s, false),"
            " pg_catalog.set_config('lock_timeout', %s, false),"
            " pg_catalog.set_config('idle_in_transaction_session_timeout', %s, false),"
            " pg_catalog.set_config('default_transaction_read_only', %s, false),"
            # Nothing user-defined can shadow a catalog function, and regclass prints schema-qualified.
            " pg_catalog.set_config('search_path', 'pg_catalog', false)",
            (str(statement_ms), str(lock_ms), str(max(statement_ms * 2, 60_000)), "on" if read_only else "off"),
        )
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = read_only
        conn.autocommit = False
    except psycopg.Error as exc:
        conn.close()
        raise ConnectError(
            f"the server accepted the connection but not the session settings: {first_line(exc)}",
            fix="connect to PostgreSQL 12 or newer",
        ) from None
    except BaseException:
        conn.close()
        raise
    return conn


def identifier(*names: str):
    """A (qualified) name for a query run WITH parameters: psycopg reads every % as a placeholder,
    also inside a quoted name such as "promo%s", so % is doubled. Run such queries with a params
    tuple, () when there is none."""
    from psycopg import sql

    return sql.SQL(".").join(sql.SQL(('"' + n.replace('"', '""') + '"').replace("%", "%%")) for n in names)


def server_message(exc: psycopg.Error) -> str:
    """SQLSTATE and the primary message, without the values the server quotes back.

    DETAIL is never shown (it holds row values: "Key (email)=(...) already exists"); data errors
    quote the offending input after a colon, kept only when it is the empty string.
    """
    state = getattr(exc, "sqlstate", None) or "?????"
    primary = (getattr(exc.diag, "message_primary", None) if hasattr(exc, "diag") else None) or first_line(exc)
    if state.startswith("22") and ":" in primary:
        head, _, quoted = primary.partition(":")
        primary = head + (': ""' if quoted.strip() == '""' else ': "…"')
    return f"{primary} (SQLSTATE {state})"


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
