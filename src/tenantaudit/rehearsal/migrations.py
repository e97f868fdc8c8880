"""Discovering and ordering migrations; splitting them into statements.

Four layouts are understood, one per folder (``discover``):

- ``up-down``: ``NNN_name.up.sql`` with ``NNN_name.down.sql`` (golang-migrate and friends);
- ``dbmate``: one ``NNN_name.sql`` per migration with ``-- migrate:up`` / ``-- migrate:down`` sections;
- ``flyway``: ``V<version>__name.sql`` with ``U<version>__name.sql`` undo scripts;
- ``plain``: ``NNN_name.sql`` only, rolled back by one ``--rollback FILE`` script.

A missing down migration is reported in ``MigrationSet.problems``, never guessed.

Statements are split the way psql splits a file (``split_statements``), so a migration that
runs under ``psql -v ON_ERROR_STOP=1 -f FILE`` is rehearsed statement by statement, each one
keeping its file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sqlparse import lexer as _sqlparse_lexer
from sqlparse import tokens as T

from ..errors import ConfigError

__all__ = [
    "LAYOUTS",
    "Migration",
    "MigrationSet",
    "Statement",
    "discover",
    "flyway_version_key",
    "split_statements",
    "version_key",
]

LAYOUTS = ("up-down", "dbmate", "flyway", "plain")

LAYOUTS_HELP = (
    "expected one of: NNN_name.up.sql + NNN_name.down.sql; "
    "dbmate NNN_name.sql files with '-- migrate:up' / '-- migrate:down' sections; "
    "Flyway V<version>__name.sql (+ U<version>__name.sql undo scripts); "
    "plain NNN_name.sql files with --rollback FILE"
)


# -- statements -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    sql: str  # the statement text, stripped, without the trailing semicolon
    file: Path
    line: int  # 1-based line in `file` of the statement's first non-comment character
    # COPY ... FROM STDIN: the data lines psql reads from the file after the statement, up to a
    # line "\." (pg_dump's plain output, seed data in migrations); None for any other statement
    copy_data: str | None = None

    @cached_property
    def _words(self) -> list[str]:
        """The statement's unquoted words, upper-cased (comments, literals and quoted names removed)."""
        code = _QUOTED_IN_MASK.sub(" ", _scan(self.sql).masked)
        return [word.upper() for word in _WORD.findall(code)]

    @property
    def transactional(self) -> bool:
        """False for statements PostgreSQL refuses inside a transaction block."""
        return not _refused_in_transaction(self._words)

    @property
    def controls_transaction(self) -> bool:
        """True for BEGIN / START TRANSACTION / COMMIT / END / ROLLBACK / ABORT / PREPARE TRANSACTION."""
        return _controls_transaction(self._words)

    @property
    def copy_from_stdin(self) -> bool:
        """COPY ... FROM STDIN: psql feeds it the lines that follow it in the file."""
        w = self._words
        return bool(w) and w[0] == "COPY" and any(a == "FROM" and b == "STDIN" for a, b in zip(w, w[1:]))

    @property
    def summary(self) -> str:
        """The statement without comments, whitespace collapsed, cut at 100 characters."""
        text = " ".join(_scan(self.sql).uncommented.split())
        return text if len(text) <= 100 else text[:99] + "…"


def split_statements(text: str, file: Path, first_line: int = 1) -> list[Statement]:
    """Split SQL text into statements, as psql does; `first_line` is the line of text's first line.

    Comment-only chunks and empty statements are dropped; psql meta-commands (a backslash outside
    literals, to the end of its line) are dropped; a last statement without a semicolon is kept.
    """
    return _split(text, Path(file), first_line)[0]


def _split(text: str, file: Path, first_line: int = 1) -> tuple[list[Statement], list[tuple[int, str]]]:
    r"""Statements, and the psql meta-commands that were dropped as (line, text).

    COPY ... FROM STDIN (pg_dump's plain output, seed data): psql reads the lines after the
    statement as its data, up to a line "\." or the end of the file. Those lines are not SQL (a
    lone quote in them would swallow the rest of the file), so the text is split up to the COPY,
    its data is cut out, and splitting goes on after the "\." line. Each piece is scanned only up
    to the next "\." line (the data must end there), which keeps a dump with many COPY blocks linear.
    """
    statements: list[Statement] = []
    meta: list[tuple[int, str]] = []
    start, n = 0, len(text)
    line = first_line
    search_from = 0
    while True:
        end_mark = _COPY_END.search(text, search_from)
        piece_end = end_mark.end() if end_mark else n
        piece = text[start:piece_end]
        scan = _scan(piece)
        spans = _boundaries(scan.masked)
        line_of = _LineCounter(piece, line)
        found = [Statement(scan.clean[a:b], file, line_of(a)) for a, b in spans]
        copy_at = next((i for i, s in enumerate(found) if s.copy_from_stdin), None)
        semicolon = scan.masked.find(";", spans[copy_at][1]) if copy_at is not None else -1
        if copy_at is None or semicolon < 0:
            if end_mark is not None:  # no COPY before this "\." line (e.g. it is inside a literal): look further
                search_from = piece_end
                continue
            line_of = _LineCounter(piece, line)
            statements += found
            meta += [(line_of(a), piece[a:b].strip()) for a, b in scan.meta]
            return statements, meta
        newline = piece.find("\n", semicolon)
        data_start = len(piece) if newline < 0 else newline + 1
        data_end = _COPY_END.search(piece, data_start)
        if data_end is None and end_mark is not None:  # the "\." line came before the data: look further
            search_from = piece_end
            continue
        copy = found[copy_at]
        data = piece[data_start : data_end.start() if data_end else len(piece)]
        statements += found[:copy_at] + [Statement(copy.sql, copy.file, copy.line, copy_data=data)]
        line_of = _LineCounter(piece, line)
        meta += [(line_of(a), piece[a:b].strip()) for a, b in scan.meta if a < data_start]
        if data_end is None:
            return statements, meta
        consumed = data_end.end() + 1 if data_end.end() < len(piece) else data_end.end()
        line += piece.count("\n", 0, consumed)
        start = search_from = start + consumed
        if start >= n:
            return statements, meta


_COPY_END = re.compile(r"^\\\.$", re.M)  # the line that ends COPY data in a psql script


class _LineCounter:
    """Line numbers of increasing offsets, counting each newline once (linear, not quadratic)."""

    def __init__(self, text: str, first_line: int):
        self.text, self.offset, self.line = text, 0, first_line

    def __call__(self, offset: int) -> int:
        self.line += self.text.count("\n", self.offset, offset)
        self.offset = offset
        return self.line


# How the splitting works, and why it does not call sqlparse.split():
#
# sqlparse 0.5/0.6 was checked against what PostgreSQL and psql do, and gets these wrong:
#   - nested block comments: "/* a; /* b; */ c; */" is split at the inner semicolons;
#   - "#" is PostgreSQL's XOR operator, but sqlparse lexes "# ..." as a MySQL comment, so
#     "SELECT 5 # 3; SELECT 2;" swallows the rest of the line, semicolons included;
#   - backslashes in standard strings: with standard_conforming_strings (the default since
#     9.1) 'C:\' is a complete literal; sqlparse treats \' as an escaped quote;
#   - its StatementSplitter merges "BEGIN ISOLATION LEVEL SERIALIZABLE; SELECT 1; COMMIT;"
#     into one statement (a BEGIN block it never closes), and splits in the middle of
#     "CREATE TABLE t (id int, GO int)" (T-SQL's GO batch separator).
# Dollar quotes ($$ and $tag$), doubled quotes, E'' strings and BEGIN ATOMIC bodies it gets right.
#
# So: _scan() first finds comments, literals (standard, E'', dollar-quoted), quoted names and
# psql meta-commands itself, following PostgreSQL's lexer, and produces a same-length "masked"
# copy of the text in which none of them can mislead sqlparse (comments and meta-commands become
# spaces, literals become 'xxx', and the characters sqlparse misreads, # ` $ and non-ASCII, are
# replaced). sqlparse's lexer then tokenizes the masked text, and _boundaries() applies psql's
# own rule for where a statement ends (a semicolon outside parentheses and outside a
# CREATE FUNCTION/PROCEDURE ... BEGIN ATOMIC ... END body) instead of sqlparse's splitter.
# Offsets are identical in the masked and the original text, which is what keeps lines exact.


@dataclass
class _Scan:
    masked: str  # for the sqlparse lexer: same length, no comments, inert literals
    clean: str  # the original text without psql meta-commands: what statements are cut from
    uncommented: str  # the original text without comments nor meta-commands (for summaries)
    meta: list[tuple[int, int]]  # spans of psql meta-commands


_IDENT_START = "A-Za-z_\x80-\U0010ffff"
_IDENT_CONT = "A-Za-z0-9_\x80-\U0010ffff"
_SCAN_TOKEN = re.compile(
    rf"""
      (?P<space>[ \t\n\r\f\v]+)
    | (?P<line_comment>--[^\n]*)
    | (?P<block_comment>/\*)
    | (?P<estring>[eE]')
    | (?P<word>[{_IDENT_START}][{_IDENT_CONT}$]*)
    | (?P<string>')
    | (?P<ident>")
    | (?P<param>\$[0-9]+)
    | (?P<dollar>\$(?:[{_IDENT_START}][{_IDENT_CONT}]*)?\$)
    | (?P<meta>\\)
    | (?P<other>[^ \t\n\r\f\v'"$\\/{_IDENT_START}-]+|.)
    """,
    re.X | re.S,
)
_BLOCK_DELIM = re.compile(r"/\*|\*/")
_NOT_NEWLINE = re.compile(r"[^\n]")
_NEUTRAL = str.maketrans({"#": "+", "`": "+", "$": "x"})
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_QUOTED_IN_MASK = re.compile(r"'[^']*'|\"[^\"]*\"")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _blank(s: str) -> str:
    return _NOT_NEWLINE.sub(" ", s)


def _fill(s: str) -> str:
    return _NOT_NEWLINE.sub("x", s)


def _literal(s: str, quote: str = "'") -> str:
    """An inert literal of the same length (a closed literal is at least two characters)."""
    return quote + _fill(s[1:-1]) + quote


def _scan(text: str) -> _Scan:
    masked: list[str] = []
    clean: list[str] = []
    uncommented: list[str] = []
    meta: list[tuple[int, int]] = []
    pos, n = 0, len(text)
    while pos < n:
        match = _SCAN_TOKEN.match(text, pos)
        assert match is not None  # the last alternative matches any character
        kind, end = match.lastgroup, match.end()
        if kind == "line_comment":
            masked.append(_blank(match.group()))
            clean.append(match.group())
            uncommented.append(" " * (end - pos))
        elif kind == "block_comment":
            end, closed = _block_comment_end(text, pos)
            piece = text[pos:end]
            # An unterminated comment is kept as code, so the server reports it where it is.
            masked.append(_blank(piece) if closed else _fill(piece))
            clean.append(piece)
            uncommented.append(_blank(piece) if closed else piece)
        elif kind in ("string", "estring", "ident"):
            quote = '"' if kind == "ident" else "'"
            end, closed = _quoted_end(text, end, quote, backslash=kind == "estring")
            piece = text[pos:end]
            masked.append(_literal(piece, quote) if closed else _fill(piece))
            clean.append(piece)
            uncommented.append(piece)
        elif kind == "dollar":
            close = text.find(match.group(), end)
            end = n if close < 0 else close + len(match.group())
            piece = text[pos:end]
            masked.append(_literal(piece) if close >= 0 else _fill(piece))
            clean.append(piece)
            uncommented.append(piece)
        elif kind == "meta":
            # psql reads a backslash outside literals as a meta-command running to the end of the line.
            newline = text.find("\n", pos)
            end = n if newline < 0 else newline
            meta.append((pos, end))
            masked.append(" " * (end - pos))
            clean.append(" " * (end - pos))
            uncommented.append(" " * (end - pos))
        else:  # space, word, param, other
            piece = match.group()
            masked.append(_NON_ASCII.sub("x", piece.translate(_NEUTRAL)))
            clean.append(piece)
            uncommented.append(piece)
        pos = end
    return _Scan("".join(masked), "".join(clean), "".join(uncommented), meta)


def _block_comment_end(text: str, pos: int) -> tuple[int, bool]:
    """End of the (nested, as in PostgreSQL) block comment opening at pos."""
    depth = 0
    for delim in _BLOCK_DELIM.finditer(text, pos):
        depth += 1 if delim.group() == "/*" else -1
        if depth == 0:
            return delim.end(), True
    return len(text), False


def _quoted_end(text: str, pos: int, quote: str, backslash: bool) -> tuple[int, bool]:
    """End of a literal whose opening quote ends at pos: doubled quotes, and backslashes in E''."""
    n = len(text)
    while pos < n:
        char = text[pos]
        if backslash and char == "\\":
            pos += 2
        elif char == quote:
            if pos + 1 < n and text[pos + 1] == quote:
                pos += 2
            else:
                return pos + 1, True
        else:
            pos += 1
    return n, False


_ROUTINE_WORDS = ("create", "function", "procedure", "or", "replace")


def _is_create_routine(head: list[str]) -> bool:
    """CREATE [OR REPLACE] FUNCTION|PROCEDURE, the statements whose BEGIN ... END psql tracks."""
    padded = head + [""] * (4 - len(head))
    if padded[0] != "create":
        return False
    if padded[1] in ("function", "procedure"):
        return True
    return padded[1:3] == ["or", "replace"] and padded[3] in ("function", "procedure")


def _boundaries(masked: str) -> list[tuple[int, int]]:
    """(start, end) of each non-empty statement: first non-blank character to before the `;`.

    psql's rule (psqlscan.l): a semicolon ends a statement when outside parentheses and, in a
    CREATE [OR REPLACE] FUNCTION/PROCEDURE, outside BEGIN ... END (CASE ... END nests inside).
    """
    spans: list[tuple[int, int]] = []

    def emit(start: int, end: int) -> None:
        chunk = masked[start:end]
        stripped = chunk.lstrip()
        if stripped.strip():
            first = start + len(chunk) - len(stripped)
            spans.append((first, first + len(stripped.rstrip())))

    offset = start = 0
    paren = begin = count = 0
    head: list[str] = []
    for ttype, value in _sqlparse_lexer.tokenize(masked):
        here, offset = offset, offset + len(value)
        if ttype in T.Punctuation:
            if value == "(":
                paren += 1
            elif value == ")":
                paren = max(0, paren - 1)
            elif value == ";" and paren == 0 and begin == 0:
                emit(start, here)
                start = offset
                paren = begin = count = 0
                head = []
        elif ttype in T.Keyword or (ttype in T.Name and ttype not in T.Name.Placeholder):
            for word in value.split():  # sqlparse joins some keywords: "CREATE OR REPLACE", "END IF"
                lower = word.lower()
                if count < 4:
                    head.append(lower if lower in _ROUTINE_WORDS else "")
                count += 1
                if paren == 0 and _is_create_routine(head):
                    if lower == "begin":
                        begin += 1
                    elif lower == "case" and begin > 0:
                        begin += 1
                    elif lower == "end" and begin > 0:
                        begin -= 1
    if offset != len(masked):  # sqlparse's lexer is lossless; this guards the offsets
        raise AssertionError("sqlparse lexer lost characters; statement offsets would be wrong")
    emit(start, len(masked))
    return spans


def _refused_in_transaction(w: list[str]) -> bool:
    """Statements PostgreSQL refuses inside a transaction block (PreventInTransactionBlock)."""
    if not w:
        return False

    def starts(*seq: str) -> bool:
        return tuple(w[: len(seq)]) == seq

    head = w[0]
    if head == "VACUUM":
        return True
    if starts("CREATE", "INDEX", "CONCURRENTLY") or starts("CREATE", "UNIQUE", "INDEX", "CONCURRENTLY"):
        return True
    if starts("DROP", "INDEX", "CONCURRENTLY"):
        return True
    if head == "REINDEX":
        kind = next((x for x in w[1:] if x in ("INDEX", "TABLE", "SCHEMA", "DATABASE", "SYSTEM")), None)
        return "CONCURRENTLY" in w or kind in ("SCHEMA", "DATABASE", "SYSTEM")
    if starts("CREATE", "DATABASE") or starts("DROP", "DATABASE"):
        return True
    if starts("ALTER", "DATABASE") and any(a == "SET" and b == "TABLESPACE" for a, b in zip(w, w[1:])):
        return True
    if starts("CREATE", "TABLESPACE") or starts("DROP", "TABLESPACE"):
        return True
    if starts("ALTER", "SYSTEM"):
        return True
    # CLUSTER with no table (re-cluster everything) is refused; CLUSTER table [USING index] is fine.
    if head == "CLUSTER" and all(x == "VERBOSE" for x in w[1:]):
        return True
    if starts("ALTER", "TABLE") and "DETACH" in w and w[-1] == "CONCURRENTLY":
        return True
    if starts("DISCARD", "ALL"):
        return True
    if starts("COMMIT", "PREPARED") or starts("ROLLBACK", "PREPARED"):
        return True
    return False


def _controls_transaction(w: list[str]) -> bool:
    if not w:
        return False
    head = w[0]
    if head in ("BEGIN", "START", "END", "ABORT"):
        return True
    if head == "COMMIT":
        return w[1:2] != ["PREPARED"]
    if head == "ROLLBACK":
        return w[1:2] not in (["TO"], ["PREPARED"])
    return head == "PREPARE" and w[1:2] == ["TRANSACTION"]


# -- migrations -------------------------------------------------------------------------------


@dataclass
class Migration:
    version: str  # as written ("001", "1.2.3", "20240101120000", Flyway "1_1")
    name: str  # e.g. "create_tenants"
    up: list[Statement]
    down: list[Statement] | None  # None = no down migration
    up_file: Path
    down_file: Path | None
    up_transaction: bool = True  # False: dbmate "-- migrate:up transaction:false"
    down_transaction: bool = True  # False: dbmate "-- migrate:down transaction:false"
    # True when the migration tool itself wraps the section in a transaction (dbmate without
    # "transaction:false"): a statement refused in a transaction block (CREATE INDEX CONCURRENTLY)
    # then fails there, and the rehearsal must let it fail rather than quietly run it outside one.
    up_wrapped: bool = False
    down_wrapped: bool = False

    @property
    def label(self) -> str:
        """The file name without its .up.sql / .sql suffix: "001_create_tenants", "V1_1__init"."""
        name = self.up_file.name
        for suffix in (".up.sql", ".sql"):
            if name.lower().endswith(suffix):
                return name[: -len(suffix)]
        return name

    @property
    def manages_transaction(self) -> bool:
        """The up migration has its own BEGIN / COMMIT / ROLLBACK."""
        return any(s.controls_transaction for s in self.up)

    @property
    def transactional(self) -> bool:
        """Whether the up migration can run wrapped in one transaction.

        False when a statement is refused inside a transaction block (CREATE INDEX CONCURRENTLY,
        VACUUM, ...), when the migration has its own BEGIN/COMMIT (a wrapper would be committed
        half-way by it), and for dbmate's "transaction:false".
        """
        if self.up_wrapped and not self.manages_transaction:
            return True  # as the tool runs it: CREATE INDEX CONCURRENTLY fails with SQLSTATE 25001
        return self.up_transaction and all(s.transactional and not s.controls_transaction for s in self.up)

    @property
    def down_transactional(self) -> bool:
        """Like `transactional`, for the down migration (True when there is none)."""
        if self.down is None:
            return True
        if self.down_wrapped and not any(s.controls_transaction for s in self.down):
            return True
        return self.down_transaction and all(
            s.transactional and not s.controls_transaction for s in self.down
        )


@dataclass
class MigrationSet:
    layout: str  # "up-down", "dbmate", "flyway", "plain"
    migrations: list[Migration]  # natural version order
    rollback: list[Statement] | None  # the --rollback script, split
    rollback_file: Path | None
    problems: list[str] = field(default_factory=list)  # human sentences


def version_key(version: str) -> tuple:
    """Natural order: digit runs compare as numbers ("2" < "10", "1.2" < "1.10")."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.findall(r"[0-9]+|[^0-9]+", version)
    )


def flyway_version_key(version: str) -> tuple[int, ...]:
    """Flyway's order: "." and "_" separate numbers ("1_1" == "1.1"), trailing zeros ignored."""
    parts = [int(p) for p in re.split(r"[._]", version)]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


_VERSION = r"[0-9]+(?:\.[0-9]+)*"
_UP_DOWN_FILE = re.compile(rf"^(?P<version>{_VERSION})(?:_(?P<name>.*?))?\.(?P<direction>up|down)\.sql$", re.I)
_FLYWAY_FILE = re.compile(r"^(?P<kind>[VU])(?P<version>[0-9]+(?:[._][0-9]+)*)__(?P<name>.+)\.sql$", re.I)
_FLYWAY_REPEATABLE = re.compile(r"^R__.+\.sql$", re.I)
_PLAIN_FILE = re.compile(rf"^(?P<version>{_VERSION})_(?P<name>.+)\.sql$", re.I)
_DBMATE_MARKER = re.compile(r"^--[ \t]*migrate:(?P<direction>up|down)(?P<options>(?:[ \t].*)?)$", re.M)


@dataclass
class _File:
    path: Path
    layout: str
    version: str = ""
    name: str = ""
    kind: str = ""  # up / down (up-down, flyway), or "" (dbmate, plain)
    text: str | None = None


def discover(path: Path, rollback: Path | None = None) -> MigrationSet:
    """Find the migrations in a folder (not recursive), in natural version order."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path} does not exist", fix="pass the folder that holds the migration files")
    if not path.is_dir():
        raise ConfigError(f"{path} is not a directory", fix="pass the folder that holds the migration files")
    rollback_path = Path(rollback) if rollback is not None else None
    if rollback_path is not None and not rollback_path.is_file():
        what = "does not exist" if not rollback_path.exists() else "is not a file"
        raise ConfigError(f"rollback script {rollback_path} {what}", fix="pass --rollback the SQL file that undoes the migrations")

    problems: list[str] = []
    files: list[_File] = []
    for candidate in sorted(path.iterdir(), key=lambda p: p.name):
        if not candidate.is_file() or not candidate.name.lower().endswith(".sql"):
            continue
        if rollback_path is not None and _same_file(candidate, rollback_path):
            continue
        classified = _classify(candidate, problems)
        if classified is not None:
            files.append(classified)

    layouts: dict[str, Path] = {}
    for f in files:
        layouts.setdefault(f.layout, f.path)
    if len(layouts) > 1:
        (l1, f1), (l2, f2) = list(layouts.items())[:2]
        raise ConfigError(
            f"mixed migration layouts in {path}: {f1.name} is {l1}, {f2.name} is {l2}",
            fix="keep one layout per folder (" + ", ".join(LAYOUTS) + ")",
        )
    layout = next(iter(layouts), None)

    if layout == "up-down":
        migrations = _up_down(files, problems)
    elif layout == "dbmate":
        migrations = _dbmate(files, problems)
    elif layout == "flyway":
        migrations = _flyway(files, problems)
    elif layout == "plain":
        migrations = _plain(files, problems)
    else:
        migrations = []
    if not migrations:
        raise ConfigError(f"no migrations found in {path}", fix=LAYOUTS_HELP)

    rollback_statements = None
    if rollback_path is not None:
        rollback_statements, meta = _split(_read(rollback_path), rollback_path)
        problems.extend(_meta_problems(rollback_path, meta))
    elif layout == "plain":
        problem = "no down migrations and no --rollback script: rollback cannot be rehearsed"
        if (path / "rollback.sql").is_file():
            problem += (
                f"; {path / 'rollback.sql'} exists but is not used unless passed: "
                f"--rollback {path / 'rollback.sql'}"
            )
        problems.append(problem)

    assert layout is not None
    return MigrationSet(layout, migrations, rollback_statements, rollback_path, problems)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def _classify(p: Path, problems: list[str]) -> _File | None:
    name = p.name
    m = _UP_DOWN_FILE.match(name)
    if m:
        return _File(p, "up-down", m["version"], m["name"] or "", m["direction"].lower())
    if _FLYWAY_REPEATABLE.match(name):
        problems.append(f"{name}: repeatable migrations are not rehearsed (ignored)")
        return _File(p, "flyway", kind="repeatable")
    m = _FLYWAY_FILE.match(name)
    if m:
        return _File(p, "flyway", m["version"], m["name"], "up" if m["kind"] in "Vv" else "down")
    m = _PLAIN_FILE.match(name)
    if m:
        text = _read(p)
        layout = "dbmate" if _DBMATE_MARKER.search(text) else "plain"
        return _File(p, layout, m["version"], m["name"], text=text)
    if name.lower().endswith((".up.sql", ".down.sql")):
        problems.append(f"{name} ignored: its name does not start with a version (NNN_name.up.sql)")
    return None


def _read(p: Path) -> str:
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {p}: {exc.strerror or exc}", fix="check the path and its permissions") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{p} is not valid UTF-8 (line {line}, byte {exc.start})", fix="save the file as UTF-8"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _statements(p: Path, problems: list[str], text: str | None = None, first_line: int = 1) -> list[Statement]:
    statements, meta = _split(_read(p) if text is None else text, p, first_line)
    problems.extend(_meta_problems(p, meta))
    return statements


def _meta_problems(p: Path, meta: list[tuple[int, str]]) -> list[str]:
    return [f"{p.name} line {line}: psql meta-command {command!r} is not run by the rehearsal" for line, command in meta]


def _check_duplicates(files: list[_File], key) -> None:
    seen: dict[tuple, _File] = {}
    for f in files:
        k = (f.kind, key(f.version))
        if k in seen:
            raise ConfigError(
                f"duplicate migration version {f.version}: {seen[k].path.name} and {f.path.name}",
                fix="give each migration its own version",
            )
        seen[k] = f


def _up_down(files: list[_File], problems: list[str]) -> list[Migration]:
    _check_duplicates(files, version_key)
    downs = {version_key(f.version): f for f in files if f.kind == "down"}
    ups = sorted((f for f in files if f.kind == "up"), key=lambda f: version_key(f.version))
    migrations = []
    for f in ups:
        down = downs.pop(version_key(f.version), None)
        up = _statements(f.path, problems)
        migration = Migration(
            f.version,
            f.name,
            up,
            # an up with no statements (empty, comments only) needs no down: it was reported
            # "has no down migration" and failed the rollback
            _statements(down.path, problems) if down else [] if not up else None,
            f.path,
            down.path if down else None,
        )
        if down is None and up:
            expected = f.path.name[: -len(".up.sql")] + ".down.sql"
            problems.append(f"{migration.label} has no down migration ({expected})")
        migrations.append(migration)
    for down in sorted(downs.values(), key=lambda f: version_key(f.version)):
        problems.append(f"{down.path.name} has no up migration (ignored)")
    return migrations


def _dbmate(files: list[_File], problems: list[str]) -> list[Migration]:
    _check_duplicates(files, version_key)
    migrations = []
    for f in sorted(files, key=lambda f: version_key(f.version)):
        assert f.text is not None
        migrations.append(_dbmate_migration(f, f.text, problems))
    return migrations


def _dbmate_migration(f: _File, text: str, problems: list[str]) -> Migration:
    markers = list(_DBMATE_MARKER.finditer(text))
    by_direction: dict[str, re.Match] = {}
    for marker in markers:
        direction = marker["direction"]
        if direction in by_direction:
            raise ConfigError(
                f"{f.path.name} has two '-- migrate:{direction}' markers "
                f"(lines {_line_of(text, by_direction[direction].start())} and {_line_of(text, marker.start())})",
                fix=f"keep one '-- migrate:{direction}' section",
            )
        by_direction[direction] = marker
    up, down = by_direction.get("up"), by_direction.get("down")
    if up is None:
        raise ConfigError(f"{f.path.name} has no '-- migrate:up' section", fix="start the up migration with a '-- migrate:up' line")
    if down is not None and down.start() < up.start():
        raise ConfigError(
            f"{f.path.name}: '-- migrate:down' comes before '-- migrate:up'",
            fix="put the up section first, as dbmate requires",
        )
    if _split(text[: up.start()], f.path)[0]:
        raise ConfigError(
            f"{f.path.name} has SQL before its '-- migrate:up' line",
            fix="move it into the up section (dbmate refuses statements before '-- migrate:up')",
        )
    up_end = down.start() if down is not None else len(text)
    up_statements = _statements(f.path, problems, text[up.start() : up_end], _line_of(text, up.start()))
    down_statements = None
    if down is not None:
        down_statements = _statements(f.path, problems, text[down.start() :], _line_of(text, down.start()))
    nothing_to_undo = not up_statements and not down_statements  # an up of comments only needs no down
    migration = Migration(
        f.version,
        f.name,
        up_statements,
        [] if nothing_to_undo else down_statements or None,
        f.path,
        f.path if down_statements else None,
        up_transaction=_dbmate_transaction(up["options"]),
        down_transaction=_dbmate_transaction(down["options"]) if down is not None else True,
        up_wrapped=_dbmate_transaction(up["options"]),
        down_wrapped=_dbmate_transaction(down["options"]) if down is not None else False,
    )
    if nothing_to_undo:
        pass
    elif down is None:
        problems.append(f"{migration.label} has no down migration (no '-- migrate:down' section in {f.path.name})")
    elif not down_statements:
        problems.append(f"{migration.label} has no down migration (its '-- migrate:down' section in {f.path.name} is empty)")
    return migration


def _dbmate_transaction(options: str) -> bool:
    values = dict(pair.split(":", 1) for pair in options.split() if pair.count(":") == 1)
    return values.get("transaction", "true").lower() != "false"


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _flyway(files: list[_File], problems: list[str]) -> list[Migration]:
    files = [f for f in files if f.kind != "repeatable"]
    _check_duplicates(files, flyway_version_key)
    undos = {flyway_version_key(f.version): f for f in files if f.kind == "down"}
    ups = sorted((f for f in files if f.kind == "up"), key=lambda f: flyway_version_key(f.version))
    migrations = []
    for f in ups:
        undo = undos.pop(flyway_version_key(f.version), None)
        up = _statements(f.path, problems)
        migration = Migration(
            f.version,
            f.name,
            up,
            _statements(undo.path, problems) if undo else [] if not up else None,  # as in _up_down
            f.path,
            undo.path if undo else None,
        )
        if undo is None and up:
            problems.append(f"{migration.label} has no down migration (U{f.version}__{f.name}.sql)")
        migrations.append(migration)
    for undo in sorted(undos.values(), key=lambda f: flyway_version_key(f.version)):
        problems.append(f"{undo.path.name} undoes no V migration (ignored)")
    return migrations


def _plain(files: list[_File], problems: list[str]) -> list[Migration]:
    _check_duplicates(files, version_key)
    return [
        Migration(f.version, f.name, _statements(f.path, problems, f.text), None, f.path, None)
        for f in sorted(files, key=lambda f: version_key(f.version))
    ]
