"""Connecting to a live database safely: read-only, bounded by timeouts, password never shown."""

from __future__ import annotations

import re

import psycopg
from psycopg import conninfo

from .errors import ConfigError, ConnectError

APPLICATION_NAME = "tenantaudit"
DEFAULT_CONNECT_TIMEOUT = 10


_URI_PREFIXES = ("postgresql://", "postgres://")
_DSN_FIX = "use postgresql://user@host:5432/dbname or 'host=... dbname=...'"
_ENCODE_FIX = (
    "percent-encode the password in the URI ('@' as %40, '/' as %2F, ':' as %3A), "
    "or leave it out of the DSN and use PGPASSWORD or a passfile (~/.pgpass)"
)


def _keywords() -> frozenset[str]:
    """The connection option names this libpq knows."""
    return frozenset(d.keyword.decode() for d in psycopg.pq.Conninfo.get_defaults())


def _parse_failure(dsn: str, message: str) -> str:
    """libpq's reason, without quoting back anything of the DSN that could be (part of) a password.

    libpq quotes the token it choked on, and a token is a password piece when an unquoted
    password holds a space ("password=se cret" -> missing "=" after "cret") or the URI holds
    one. A token is named only when it is an option name libpq knows, or, for an unknown
    option, when the DSN names no password at all.
    """
    is_uri = dsn.lstrip().startswith(_URI_PREFIXES)
    has_secret = "password" in dsn.lower() or (is_uri and "@" in dsn)
    quoted = re.findall(r'"([^"]*)"', message.replace('"="', ""))
    token = quoted[0] if quoted else ""
    plain = bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,40}", token))
    if message.startswith("missing \"=\" after"):
        if token in _keywords():
            return f"missing '=' after '{token}'"
        return "a word without '=' (a value with spaces must be quoted: password='a b')"
    if message.startswith("invalid connection option"):
        if plain and not has_secret:
            return f"unknown option '{token}'"
        return "an unknown option name (a value with spaces must be quoted: password='a b')"
    if message.startswith("unterminated quoted string"):
        return "a quote that is not closed"
    if message.startswith("invalid URI query parameter"):
        if plain and not has_secret:
            return f"unknown URI parameter '{token}'"
        return "an unknown URI parameter"
    if "unexpected spaces found" in message:
        return "a space in the URI (percent-encode it as %20)"
    if "invalid percent-encoded token" in message:
        return "an invalid percent-encoding (% must be followed by two hex digits; write % itself as %25)"
    if "forbidden value %00" in message:
        return "a percent-encoded NUL (%00)"
    if "IPv6 host address" in message:
        return "an IPv6 host in [...] that is not closed"
    if "unexpected character" in message and "at position" in message:
        position = re.search(r"at position (\d+)", message)
        return f"an unexpected character at position {position.group(1)}" if position and not has_secret else "an unexpected character"
    return "it cannot be parsed"


def parse_dsn(dsn: str) -> dict[str, str]:
    """A URI, a key=value string, or '' (PG* environment). Raises ConfigError when malformed.

    The error never quotes the DSN: a DSN that cannot be parsed may hold a password anywhere.
    A URI whose password holds an unencoded '@' or '/' parses, but wrongly (part of the password
    becomes the host, the port or the database name): that is detected and refused too.
    """
    try:
        params = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        reason = _parse_failure(dsn, str(exc).strip().splitlines()[0] if str(exc).strip() else "")
        raise ConfigError(f"the DSN is malformed: {reason}", fix=_DSN_FIX) from None
    if dsn.lstrip().startswith(_URI_PREFIXES) and _misparsed_credentials(params):
        raise ConfigError(
            "the DSN's password (or user name) holds an unencoded '@' or '/', so the URI cannot be read as meant",
            fix=_ENCODE_FIX,
        )
    _check_ports(dsn, params)
    return params


def _misparsed_credentials(params: dict[str, str]) -> bool:
    """libpq ends the user:password part at the first '@' or '/': with an unencoded '@' in the
    password the rest of it lands in the host ("ss@db.example"); with an unencoded '/' there is
    no user:password at all, the user name becomes the host, the password's start the port and
    the rest the database name ("ss@db.example/app"). Host names never hold '@', and a database
    name that does is written %40 in a URI."""
    hosts = params.get("host", "")
    return "@" in hosts or "@" in params.get("dbname", "") or "@" in params.get("hostaddr", "")


def _check_ports(dsn: str, params: dict[str, str]) -> None:
    import os

    port = params.get("port")
    origin = "the DSN"
    if port is None and os.environ.get("PGPORT") is not None:
        port, origin = os.environ["PGPORT"], "PGPORT"
    if port is None:
        return
    # In a URI, "user:secret/" (the '@host' forgotten) reads as host:port: a URI's port is not quoted.
    quote_it = origin == "PGPORT" or not dsn.lstrip().startswith(_URI_PREFIXES)
    for one in port.split(","):
        one = one.strip()
        if one == "":
            continue  # libpq's default port for that host
        shown = f"port '{one}'" if quote_it else "the port"
        if not one.isdigit():
            raise ConfigError(f"{shown} in {origin} is not a number", fix="write the port as digits, e.g. 5432")
        if not 0 < int(one) < 65536:
            raise ConfigError(f"{shown} in {origin} is out of range", fix="write a port between 1 and 65535, e.g. 5432")


def mask_dsn(dsn: str) -> str:
    """The DSN as it can be shown: password removed, parameters in key=value form."""
    try:
        params = parse_dsn(dsn)
    except ConfigError:
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
        # Never prepared: every savepoint rolled back makes psycopg DEALLOCATE ALL, so statements
        # prepared after five runs would cost two extra round trips each time (the probes roll
        # back thousands of savepoints), and a plan prepared under one role serves no other.
        conn.prepare_threshold = None
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = read_only
        conn.autocommit = False
    except psycopg.Error as exc:
        conn.close()
        raise ConnectError(
            f"the server accepted the connection but not the session settings: {server_message(exc)}",
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


# Message shapes whose text is shown (see server_message). Each is PostgreSQL's English primary
# message as a pattern; (?P<name...>) groups are catalogue names (kept), (?P<value...>) groups are
# input the server quotes back (shown as "…", or as "" when provably empty). `files` are the
# server source files that raise it (diag.source_file): a procedural language (pl_exec.c for
# RAISE, plpy_*.c, plperl.c, ...) can imitate any text and SQLSTATE, never the source file.
_SHAPES: tuple[tuple[str, str, frozenset[str]], ...] = tuple(
    (state, pattern, frozenset(files.split()))
    for state, pattern, files in (
        ("42501", r'new row violates row-level security policy (?:"(?P<name1>[^"]*)" )?for table "(?P<name2>[^"]*)"', "execMain.c"),
        ("42501", r"permission denied for (?:table|schema|sequence|function|view|relation|column|type|database|"
                  r"materialized view|foreign table|procedure|routine|large object|language) (?P<name1>\S[^\n]*)", "aclchk.c"),
        ("23502", r'null value in column "(?P<name1>[^"]*)"(?: of relation "(?P<name2>[^"]*)")? violates not-null constraint', "execMain.c"),
        ("23514", r'new row for relation "(?P<name1>[^"]*)" violates (?:check|partition) constraint(?: "(?P<name2>[^"]*)")?', "execMain.c"),
        ("23505", r'duplicate key value violates unique constraint "(?P<name1>[^"]*)"', "nbtinsert.c execIndexing.c"),
        ("23P01", r'conflicting key value violates exclusion constraint "(?P<name1>[^"]*)"', "execIndexing.c"),
        ("23503", r'(?:insert or update|update or delete) on table "(?P<name1>[^"]*)" violates foreign key constraint '
                  r'"(?P<name2>[^"]*)"(?: on table "(?P<name3>[^"]*)")?', "ri_triggers.c"),
        ("57014", r"canceling statement due to (?:statement timeout|lock timeout|user request)", "postgres.c"),
        ("55P03", r'could not obtain lock on (?:row in )?relation(?: "(?P<name1>[^"]*)")?', "lmgr.c nodeLockRows.c heapam.c heapam_handler.c"),
        ("25006", r"cannot execute (?P<name1>[A-Z][A-Z ]*) in a read-only transaction", "utility.c"),
        ("53200", r"out of shared memory", "lock.c predicate.c dynahash.c shmem.c"),
        ("22012", r"division by zero", "int.c int8.c numeric.c float.c"),
        ("22003", r"(?:smallint|integer|bigint|OID) out of range", "int.c int8.c numeric.c float.c oid.c"),
        ("22003", r"numeric field overflow", "numeric.c"),
        ("22003", r'value "(?P<value1>[^\n]*)" is out of range for type (?P<name1>[a-z][a-z0-9 ]*)', "numutils.c int8.c int.c float.c oid.c"),
        ("22001", r"value too long for type (?P<name1>[a-z][a-z ]*\(\d+\))", "varchar.c varbit.c"),
        ("22P02", r'invalid input syntax for type (?P<name1>[a-z][a-z0-9 ]*)(?:: "(?P<value1>[^\n]*)")?',
                  "uuid.c numutils.c int.c int8.c float.c bool.c numeric.c oid.c network.c mac.c mac8.c cash.c "
                  "jsonfuncs.c json.c datetime.c date.c timestamp.c rangetypes.c arrayfuncs.c varbit.c tid.c geo_ops.c"),
        ("22P02", r'invalid input value for enum (?P<name1>[^\n:]*): "(?P<value1>[^\n]*)"', "enum.c"),
        ("22007", r'invalid input syntax for type (?P<name1>[a-z][a-z0-9 ]*): "(?P<value1>[^\n]*)"', "datetime.c date.c timestamp.c"),
        ("22008", r'date/time field value out of range: "(?P<value1>[^\n]*)"', "datetime.c date.c timestamp.c"),
    )
)


# errcodes.txt names psycopg registers for another SQLSTATE only (the same name serves two classes)
_SHARED_CONDITION_NAMES = {
    "22004": "null_value_not_allowed",
    "2F002": "modifying_sql_data_not_permitted",
    "2F003": "prohibited_sql_statement_attempted",
    "2F004": "reading_sql_data_not_permitted",
}


# The same messages in any language (lc_messages): rebuilt in English from the SQLSTATE, the
# server function that raised it (diag.source_function) and the structured name fields the server
# sets for it (table_name, column_name, constraint_name: catalogue names, never values). Used when
# no English shape matched, i.e. the server speaks another language.
_CANONICAL: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("42501", "ExecWithCheckOptions"): ("new row violates row-level security policy", ()),
    ("42501", "aclcheck_error"): ("permission denied", ()),
    ("23502", "ExecConstraints"): ('null value in column "{column}" of relation "{table}" violates not-null constraint',
                                   ("column", "table")),
    ("23514", "ExecConstraints"): ('new row for relation "{table}" violates check constraint "{constraint}"',
                                   ("table", "constraint")),
    ("23505", "_bt_check_unique"): ('duplicate key value violates unique constraint "{constraint}"', ("constraint",)),
    ("23503", "ri_ReportViolation"): ('foreign key constraint "{constraint}" on table "{table}" violated',
                                      ("constraint", "table")),
    ("57014", "ProcessInterrupts"): ("canceling statement (statement timeout or cancel request)", ()),
    ("55P03", "ProcessInterrupts"): ("canceling statement due to lock timeout", ()),
    ("25006", "PreventCommandIfReadOnly"): ("cannot execute this command in a read-only transaction", ()),
    ("22012", "int4div"): ("division by zero", ()),
    ("22012", "int8div"): ("division by zero", ()),
    ("22012", "numeric_div"): ("division by zero", ()),
}


def condition_name(sqlstate: str | None) -> str | None:
    """PostgreSQL's condition name for a SQLSTATE (errcodes.txt, as psycopg's error classes
    carry it): '22P02' -> 'invalid_text_representation'. None when psycopg does not know it."""
    from psycopg import errors

    if not sqlstate:
        return None
    if sqlstate in _SHARED_CONDITION_NAMES:
        return _SHARED_CONDITION_NAMES[sqlstate]
    try:
        cls = errors.lookup(sqlstate)
    except KeyError:
        return None
    # psycopg registers each class under its SQLSTATE and its condition name (upper case).
    for key, registered in getattr(errors, "_sqlcodes", {}).items():
        if registered is cls and key != sqlstate and not re.fullmatch(r"[0-9A-Z]{5}", key):
            return key.lower()
    # without that table: the class name is the condition name in CamelCase; keep it only if
    # psycopg agrees that the spelling names the same condition.
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", cls.__name__.rstrip("_")).lower()
    try:
        return snake if errors.lookup(snake.upper()) is cls else None
    except KeyError:
        return None


def _shown_text(exc: psycopg.Error, state: str) -> str | None:
    diag = exc.diag
    primary = diag.message_primary or ""
    source = (diag.source_file or "").rsplit("/", 1)[-1]
    if not primary or "\n" in primary or diag.source_function == "exec_stmt_raise":
        return None
    for shape_state, pattern, files in _SHAPES:
        if shape_state != state or source not in files:
            continue
        match = re.fullmatch(pattern, primary)
        if match is None:
            continue
        text = primary
        # value groups from the end backwards, so earlier offsets stay valid
        spans = sorted(
            (match.span(g) for g, v in match.groupdict().items() if g.startswith("value") and v is not None), reverse=True
        )
        for start, end in spans:
            if start != end:
                text = text[:start] + "…" + text[end:]
        return text
    canonical = _CANONICAL.get((state, diag.source_function or ""))
    if canonical is not None:
        template, fields = canonical
        names = {f: getattr(diag, f"{f}_name", None) for f in fields}
        if all(names.values()):
            return template.format(**names)
    return None


def server_message(exc: psycopg.Error) -> str:
    """What a report may say about a server error: the condition name and SQLSTATE, e.g.
    ``invalid_text_representation (SQLSTATE 22P02)``, plus the server's message text only when
    that text cannot carry values.

    The rule: message text is shown only when it is one of the English message shapes in
    ``_SHAPES`` — PostgreSQL's own wording, whose only variable parts are names of catalogue
    objects (tables, columns, constraints, policies, type names) — and the server reports it was
    raised by its own C source file for that message (``diag.source_file``), so that a policy
    function cannot forge it with ``RAISE ... USING ERRCODE``. Where a shape quotes the offending
    input (``invalid input syntax for type uuid: "..."``, ``value "..." is out of range``), the
    input is replaced by "…", except the empty string, kept as "" (it is what tells a fence that
    casts an unset setting). Everything else is reduced to condition and SQLSTATE: RAISE
    messages (any SQLSTATE; P0001 raise_exception), DETAIL and HINT (DETAIL holds row values:
    "Key (email)=(...) already exists", "Failing row contains ..."), CONTEXT, names parsed out of
    SQL text (``relation "x" does not exist`` can come from a dynamic query built from a value),
    and the text of messages in another language (lc_messages): for the few the tool meets
    most (row-level security, not-null, check, unique and foreign-key violations, timeouts) an
    English text is rebuilt from the raising server function and the server's structured name
    fields (``_CANONICAL``); for the others the SQLSTATE says it. Errors without a SQLSTATE
    (raised by the client library) show only their class name.
    """
    state = getattr(exc, "sqlstate", None)
    if not state:
        return f"{type(exc).__name__} (no SQLSTATE)"
    name = condition_name(state)
    head = f"{name} (SQLSTATE {state})" if name else f"SQLSTATE {state}"
    text = _shown_text(exc, state) if getattr(exc, "diag", None) is not None else None
    return f"{head}: {text}" if text else head


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
