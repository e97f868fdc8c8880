"""A disposable PostgreSQL cluster: initdb + pg_ctl in a temp dir, torn down whatever happens.

Binaries come from, in order: an explicit ``pg_bin``, the PATH, ``pg_config --bindir``,
``/usr/lib/postgresql/<major>/bin``, and finally the ones the ``pgserver`` wheel bundles.
PostgreSQL refuses to run as root, so as root the server runs as an unprivileged user
(``$TENANTAUDIT_SANDBOX_USER``, else ``postgres``, else ``nobody``).
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import SandboxError

TEMP_PREFIX = "tenantaudit-sandbox-"
# Copies of bundled binaries that an unprivileged user could not reach where pip put them.
BINARY_CACHE_ROOT = Path(os.environ.get("TENANTAUDIT_BIN_CACHE", "/var/tmp"))

# Durability is worthless in a throwaway cluster; these make it several times faster.
FAST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "50",
    "shared_buffers": "64MB",
}

_live_sandboxes: "set[EmbeddedPostgres]" = set()


@dataclass(frozen=True)
class PgBinaries:
    bindir: Path
    major: int
    source: str  # where they were found, shown to the user

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


def _major_of(bindir: Path) -> int | None:
    try:
        out = subprocess.run(
            [str(bindir / "pg_ctl"), "--version"], capture_output=True, text=True, timeout=20
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(match.group(1)) if match else None


def _has_server_binaries(bindir: Path) -> bool:
    return all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres"))


def _candidate_bindirs() -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    initdb = shutil.which("initdb")
    if initdb:
        found.append((Path(os.path.realpath(initdb)).parent, "PATH"))
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=20)
            if out.returncode == 0 and out.stdout.strip():
                found.append((Path(out.stdout.strip()), "pg_config"))
        except (OSError, subprocess.SubprocessError):
            pass
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = sorted(
            (p for p in debian.iterdir() if p.name.isdigit()), key=lambda p: int(p.name), reverse=True
        )
        found.extend((p / "bin", "/usr/lib/postgresql") for p in versions)
    return found


def _bundled_bindir() -> Path | None:
    # find_spec does not import pgserver (its import has side effects we do not want).
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        return None
    bindir = Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"
    return bindir if _has_server_binaries(bindir) else None


def find_binaries(pg_bin: str | os.PathLike | None = None, major: int | None = None) -> PgBinaries:
    """Locate initdb/pg_ctl/postgres, preferring local ones, matching ``major`` when given."""
    pg_bin = pg_bin or os.environ.get("TENANTAUDIT_PG_BIN") or None
    if pg_bin is not None:
        bindir = Path(pg_bin)
        if not _has_server_binaries(bindir):
            raise SandboxError(
                f"--pg-bin {bindir} does not hold initdb, pg_ctl and postgres",
                fix="point it at a PostgreSQL bin directory (pg_config --bindir prints one)",
            )
        found_major = _major_of(bindir)
        if major is not None and found_major != major:
            raise SandboxError(
                f"--pg-bin {bindir} is PostgreSQL {found_major}, not {major}",
                fix="pass binaries of the wanted major version or drop --pg-version",
            )
        return PgBinaries(bindir, found_major or 0, "--pg-bin")
    seen: set[Path] = set()
    for bindir, source in _candidate_bindirs():
        if bindir in seen or not _has_server_binaries(bindir):
            continue
        seen.add(bindir)
        found_major = _major_of(bindir)
        if found_major is not None and (major is None or found_major == major):
            return PgBinaries(bindir, found_major, source)
    bundled = _bundled_bindir()
    if bundled is not None:
        found_major = _major_of(bundled)
        if found_major is not None and (major is None or found_major == major):
            return PgBinaries(bundled, found_major, "pgserver wheel")
    wanted = f"PostgreSQL {major}" if major else "PostgreSQL"
    raise SandboxError(
        f"no {wanted} server binaries found (PATH, pg_config, /usr/lib/postgresql, pgserver wheel)",
        fix="pip install pgserver, install postgresql, or pass --pg-bin DIR",
    )


def _unprivileged_user() -> pwd.struct_passwd:
    for name in (os.environ.get("TENANTAUDIT_SANDBOX_USER"), "postgres", "nobody"):
        if not name:
            continue
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise SandboxError(
        "running as root and no unprivileged user (postgres, nobody) exists to run PostgreSQL",
        fix="create one (useradd postgres) or set TENANTAUDIT_SANDBOX_USER",
    )


def _world_reachable(path: Path) -> bool:
    """True if any user can traverse to ``path`` and read/execute what is in it."""
    for part in [path, *path.parents]:
        mode = part.stat().st_mode
        if not mode & stat.S_IXOTH:
            return False
    return True


def _reachable_copy(binaries: PgBinaries) -> PgBinaries:
    """Binaries under e.g. /root are out of reach of the server user: copy the install once.

    The wheel's binaries find their libraries through an RPATH of ``$ORIGIN/../../../<pkg>.libs``,
    so the copy keeps that layout: ``<cache>/<pkg>/pginstall`` beside ``<cache>/<pkg>.libs``.
    """
    if _world_reachable(binaries.bindir):
        return binaries
    install_root = binaries.bindir.parent
    package_dir = install_root.parent
    site_dir = package_dir.parent
    digest = hashlib.sha256(str(install_root).encode()).hexdigest()[:12]
    target = BINARY_CACHE_ROOT / f"tenantaudit-pgbin-{binaries.major}-{digest}"
    bindir = target / package_dir.name / install_root.name / "bin"
    if target.exists():
        # root runs pg_dump from here: only trust a copy root made and nobody else can change
        info = target.stat()
        if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise SandboxError(
                f"{target} is not owned by you or is writable by others: it will not be trusted",
                fix=f"remove it (rm -rf {target}) or set TENANTAUDIT_BIN_CACHE to a private directory",
            )
    if not (bindir / "postgres").is_file():
        staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=BINARY_CACHE_ROOT))
        shutil.copytree(install_root, staging / package_dir.name / install_root.name, symlinks=True)
        for libs in site_dir.glob(f"{package_dir.name}*.libs"):
            shutil.copytree(libs, staging / libs.name, symlinks=True)
        for path in [staging, *staging.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        try:
            os.rename(staging, target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)  # another process won the race
    return PgBinaries(bindir, binaries.major, binaries.source + " (copied for the server user)")


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedPostgres:
    """A throwaway cluster. Use as a context manager; ``stop()`` is idempotent.

    The superuser is ``postgres`` with trust over the unix socket. TCP is off unless
    ``tcp=True``; over TCP, password (scram) authentication applies.
    """

    def __init__(
        self,
        *,
        pg_bin: str | os.PathLike | None = None,
        major: int | None = None,
        tcp: bool = False,
        settings: dict[str, str] | None = None,
    ):
        self.binaries = find_binaries(pg_bin, major)
        self.tcp = tcp
        self.port = free_tcp_port() if tcp else 5432
        self.settings = {**FAST_SETTINGS, **(settings or {})}
        self.major = self.binaries.major
        self.roles: list[str] = []  # the cluster goes away whole: nothing to drop one by one
        self.tempdir: Path | None = None
        self.superuser = "postgres"
        self._run_as: pwd.struct_passwd | None = None

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def datadir(self) -> Path:
        assert self.tempdir is not None
        return self.tempdir / "data"

    @property
    def socket_dir(self) -> Path:
        assert self.tempdir is not None
        return self.tempdir

    @property
    def logfile(self) -> Path:
        assert self.tempdir is not None
        return self.tempdir / "server.log"

    def start(self) -> "EmbeddedPostgres":
        if self.tempdir is not None:
            return self
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        if os.geteuid() == 0:
            self._run_as = _unprivileged_user()
            self.binaries = _reachable_copy(self.binaries)
        self.tempdir = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
        _live_sandboxes.add(self)
        if self._run_as is not None:
            os.chown(self.tempdir, self._run_as.pw_uid, self._run_as.pw_gid)
        self._run(
            [
                self.binaries.tool("initdb"),
                "-D", str(self.datadir),
                "-U", self.superuser,
                "-E", "UTF8",
                "--locale=C",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
            ],
            what="initdb",
        )
        options = [
            "-k", str(self.socket_dir),
            "-p", str(self.port),
            "-c", f"listen_addresses={'127.0.0.1' if self.tcp else ''}",
        ]
        for name, value in self.settings.items():
            options += ["-c", f"{name}={value}"]
        self._run(
            [
                self.binaries.tool("pg_ctl"),
                "-D", str(self.datadir),
                "-l", str(self.logfile),
                "-w", "-t", "60",
                "-o", " ".join(_shell_quote(o) for o in options),
                "start",
            ],
            what="pg_ctl start",
        )

    def stop(self) -> None:
        """Stop the server and delete every file of the cluster. Safe to call repeatedly."""
        if self.tempdir is None:
            return
        try:
            if (self.datadir / "postmaster.pid").exists():
                try:
                    self._run(
                        [self.binaries.tool("pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "-t", "30", "stop"],
                        what="pg_ctl stop",
                    )
                except SandboxError:
                    self._kill_postmaster()
        finally:
            shutil.rmtree(self.tempdir, ignore_errors=True)
            _live_sandboxes.discard(self)
            self.tempdir = None

    def _kill_postmaster(self) -> None:
        try:
            pid = int((self.datadir / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        except (OSError, ValueError, IndexError):
            pass

    def detach(self) -> str:
        """--keep: leave the cluster running past this process; returns how to remove it later."""
        _live_sandboxes.discard(self)
        runuser = shutil.which("runuser", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
        user = f"{runuser or 'runuser'} -u {self._run_as.pw_name} -- " if self._run_as else ""
        return f"{user}{self.binaries.tool('pg_ctl')} -D {self.datadir} stop && rm -rf {self.tempdir}"

    def __enter__(self) -> "EmbeddedPostgres":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- running things ------------------------------------------------------------------
    def _run(self, argv: list[str], *, what: str) -> subprocess.CompletedProcess:
        kwargs: dict = {}
        if self._run_as is not None:
            kwargs = dict(user=self._run_as.pw_uid, group=self._run_as.pw_gid, extra_groups=[])
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, cwd=self.tempdir, env=env, timeout=120, **kwargs
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise SandboxError(f"{what} could not run: {exc}", fix="check the PostgreSQL binaries") from exc
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            log_tail = ""
            if self.tempdir is not None and self.logfile.exists():
                log_tail = " | ".join(self.logfile.read_text(errors="replace").strip().splitlines()[-3:])
            reason = detail[-1] if detail else f"exit code {proc.returncode}"
            raise SandboxError(
                f"{what} failed: {reason}" + (f" (server log: {log_tail})" if log_tail else ""),
                fix=f"binaries from {self.binaries.source}: {self.binaries.bindir}",
            )
        return proc

    # -- connecting ----------------------------------------------------------------------
    def dsn(self, dbname: str = "postgres", user: str | None = None) -> str:
        """A key=value DSN over the unix socket (trust authentication)."""
        return f"host={self.socket_dir} port={self.port} dbname={dbname} user={user or self.superuser}"

    def tcp_dsn(self, dbname: str, user: str, password: str) -> str:
        if not self.tcp:
            raise SandboxError("this sandbox was started without TCP", fix="start it with tcp=True")
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres", **kwargs):
        import psycopg

        return psycopg.connect(self.dsn(dbname), autocommit=True, **kwargs)

    def create_database(self, name: str) -> str:
        from psycopg import sql

        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        from psycopg import sql

        with self.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _shell_quote(value: str) -> str:
    # pg_ctl passes -o through a shell: quote anything that is not plainly safe.
    if re.fullmatch(r"[\w./=:-]+", value):
        return value
    return "'" + value.replace("'", "'\"'\"'") + "'"


@atexit.register
def _stop_leftovers() -> None:
    for sandbox in list(_live_sandboxes):
        sandbox.stop()


# -- other backends -------------------------------------------------------------------------

def client_binaries(server_major: int, pg_bin: str | os.PathLike | None = None) -> PgBinaries:
    """pg_dump/pg_restore for a server: the same major if present, else the newest newer one
    (pg_dump reads older servers, never newer ones)."""
    try:
        return find_binaries(pg_bin, server_major)
    except SandboxError:
        if pg_bin is not None:
            raise
    candidates = []
    for bindir, source in [*_candidate_bindirs(), (_bundled_bindir(), "pgserver wheel")]:
        if bindir is not None and (bindir / "pg_dump").is_file():
            major = _major_of(bindir)
            if major is not None and major >= server_major:
                candidates.append(PgBinaries(bindir, major, source))
    if not candidates:
        raise SandboxError(
            f"no pg_dump for PostgreSQL {server_major} or newer was found",
            fix="install the PostgreSQL client of that version or pass --pg-bin",
        )
    return max(candidates, key=lambda b: b.major)


class ExistingServer:
    """A server someone else runs: rehearse creates its own scratch databases there and drops
    them (and the roles it created) when it stops. Needs a role with CREATEDB and CREATEROLE."""

    def __init__(self, dsn: str, *, pg_bin: str | os.PathLike | None = None):
        from ..db import parse_dsn

        self._params = parse_dsn(dsn)
        self._pg_bin = pg_bin
        self._databases: list[str] = []
        self.roles: list[str] = []  # roles the rehearsal created, dropped at stop
        self.binaries: PgBinaries | None = None
        self.major: int | None = None

    def dsn(self, dbname: str = "postgres", user: str | None = None) -> str:
        from psycopg import conninfo

        params = {**self._params, "dbname": dbname}
        if user:
            params["user"] = user
        return conninfo.make_conninfo(**params)

    def connect(self, dbname: str | None = None, **kwargs):
        import psycopg

        return psycopg.connect(self.dsn(dbname or self._params.get("dbname", "postgres")), autocommit=True, **kwargs)

    def start(self) -> "ExistingServer":
        import psycopg

        from ..db import _describe_connect_failure

        try:
            with self.connect() as conn:
                self.major = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000
        except psycopg.OperationalError as exc:
            raise _describe_connect_failure(exc, self._params) from None
        self.binaries = client_binaries(self.major, self._pg_bin)
        return self

    def create_database(self, name: str) -> str:
        from psycopg import sql

        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
        self._databases.append(name)
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        from psycopg import sql

        with self.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if name in self._databases:
            self._databases.remove(name)

    def stop(self) -> None:
        import psycopg
        from psycopg import sql

        if not self._databases and not self.roles:
            return
        try:
            with self.connect() as conn:
                for name in list(self._databases):
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                for role in list(self.roles):
                    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        except psycopg.Error:
            pass  # the server is gone: nothing of ours is left running on it
        self._databases.clear()
        self.roles.clear()

    def detach(self) -> str:
        databases = ", ".join(self._databases)
        self._databases, self.roles = [], []
        return f"DROP DATABASE {databases}; (and the roles the rehearsal created)"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class DockerPostgres(ExistingServer):
    """postgres:<major> in a container started with testcontainers; removed when stopped."""

    def __init__(self, major: int, *, pg_bin: str | os.PathLike | None = None):
        self._container = None
        self._wanted_major = major
        super().__init__("", pg_bin=pg_bin)

    def start(self) -> "DockerPostgres":
        try:
            from testcontainers.postgres import PostgresContainer
        except ImportError:
            raise SandboxError(
                "the docker sandbox needs testcontainers", fix="pip install 'tenantaudit[docker]'"
            ) from None
        try:
            self._container = PostgresContainer(f"postgres:{self._wanted_major}", driver=None)
            self._container.start()
        except Exception as exc:  # docker's errors come in many types; all mean "no usable engine"
            self._container = None
            raise SandboxError(
                f"no Docker engine answered ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})",
                fix="start Docker, or use the embedded sandbox (the default)",
            ) from None
        c = self._container
        self._params = {
            "host": c.get_container_host_ip(),
            "port": str(c.get_exposed_port(5432)),
            "user": c.username,
            "password": c.password,
            "dbname": c.dbname,
        }
        return super().start()

    def stop(self) -> None:
        if self._container is not None:
            try:
                self._container.stop()
            finally:
                self._container = None
                self._databases.clear()
                self.roles.clear()


def open_sandbox(spec: str, *, major: int | None = None, pg_bin: str | os.PathLike | None = None):
    """``embedded`` (default), ``docker``, or a postgresql:// DSN of an existing server."""
    if spec in ("", "embedded"):
        return EmbeddedPostgres(pg_bin=pg_bin, major=major)
    if spec == "docker":
        return DockerPostgres(major or 16, pg_bin=pg_bin)
    if spec.startswith(("postgresql://", "postgres://")) or "=" in spec:
        return ExistingServer(spec, pg_bin=pg_bin)
    raise SandboxError(f"--sandbox {spec!r} is not embedded, docker or a postgresql:// DSN", fix="pick one of those")
