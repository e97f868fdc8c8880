"""A disposable PostgreSQL cluster: initdb + pg_ctl in a temp dir, torn down whatever happens.

Binaries come from, in order: an explicit ``pg_bin``, the PATH, ``pg_config --bindir``,
``/usr/lib/postgresql/<major>/bin``, and finally the ones the ``pgserver`` wheel bundles.
PostgreSQL refuses to run as root, so as root the server runs as an unprivileged user
(``$TENANTAUDIT_SANDBOX_USER``, else ``postgres``, else ``nobody``).

No sandbox outlives its run unnoticed: each temp folder holds a marker naming the process that
owns it (pid, its start time from /proc, the boot id and the host), and every start of an
embedded sandbox first removes the folders (and stops the servers) of owners that are dead. On
an existing server, every scratch database and role is marked the same way with a comment
(COMMENT ON DATABASE / ROLE), so later runs list the leftovers of dead runs and
``tenantaudit rehearse --cleanup`` drops them. An object is a dead run's when its marker names
this host and a process that is gone (or a pid now running a process that started at another
time, or another boot). Objects of other hosts are never touched: whether their run is alive
cannot be told from here.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import importlib.util
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import SandboxError

TEMP_PREFIX = "tenantaudit-sandbox-"
WORK_PREFIX = "tenantaudit-rehearse-"  # the rehearsal's own files (the backup, pg_dump's passfile)
OWNER_MARKER = "tenantaudit-owner.json"
# Scratch databases and roles on an existing server carry this comment, then the owner as JSON.
SCRATCH_MARK = "tenantaudit rehearse scratch object, owner: "
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


# -- who owns a sandbox, and whether it is still alive ----------------------------------------

def _proc_start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot, /proc/<pid>/stat field 22): with the
    pid it names one process, whatever pid reuse does later. None when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()
    if len(fields) < 20 or fields[0] == "Z":  # a zombie has ended: only its exit status is left
        return None
    return fields[19]


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class RunOwner:
    """The process a sandbox (a temp folder, a scratch database or role) belongs to."""

    pid: int
    start: str  # "" where /proc is not there to read
    boot: str
    host: str
    run: str = ""

    @classmethod
    def current(cls, run: str = "") -> "RunOwner":
        pid = os.getpid()
        return cls(pid, _proc_start_time(pid) or "", _boot_id(), socket.gethostname(), run)

    def alive(self) -> bool | None:
        """True or False on this host; None for another host (it cannot be told from here)."""
        if self.host != socket.gethostname():
            return None
        if self.boot and _boot_id() and self.boot != _boot_id():
            return False  # the machine rebooted since: every process of that boot is gone
        if Path("/proc").is_dir() and self.start:
            return _proc_start_time(self.pid) == self.start
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "RunOwner | None":
        try:
            data = json.loads(text)
            return cls(int(data["pid"]), str(data.get("start", "")), str(data.get("boot", "")),
                       str(data["host"]), str(data.get("run", "")))
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        return f"pid {self.pid}" + ("" if self.host == socket.gethostname() else f" on host {self.host}")


def say(line: str) -> None:
    """One line on stderr (never fails: after SIGHUP the terminal may be gone)."""
    try:
        print(f"tenantaudit: {line}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


# -- signals: cleanup is never cut short ------------------------------------------------------

class Interrupted(KeyboardInterrupt):
    """A signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT) asked the run to stop: unwind and clean up."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class _Shield:
    depth = 0
    pending: int | None = None


def interrupt(signum: int) -> None:
    """Called by the CLI's signal handler: raise Interrupted now, or as soon as the cleanup or
    setup step under way (``shielded``) is done, so that no server is left half-stopped."""
    if _Shield.depth:
        _Shield.pending = signum
        return
    raise Interrupted(signum)


@contextmanager
def shielded():
    _Shield.depth += 1
    try:
        yield
    finally:
        _Shield.depth -= 1
    if not _Shield.depth and _Shield.pending is not None:
        signum, _Shield.pending = _Shield.pending, None
        raise Interrupted(signum)


def make_owned_dir(prefix: str, owner: RunOwner | None = None) -> tuple[Path, int]:
    """A private temp folder with an owner marker in it. Returns the folder and an open fd of
    the marker, locked shared for as long as the owner lives (close it when done)."""
    with shielded():
        folder = Path(tempfile.mkdtemp(prefix=prefix))
        fd = os.open(folder / OWNER_MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, (owner or RunOwner.current()).to_json().encode())
        fcntl.flock(fd, fcntl.LOCK_SH)
    return folder, fd


def _stop_leftover_postmaster(datadir: Path) -> None:
    """Stop the server of a dead run's data directory: the pid in postmaster.pid, only if that
    process is a postgres started on this very directory (a reused pid is left alone)."""
    try:
        pid = int((datadir / "postmaster.pid").read_text().splitlines()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, IndexError):
        return
    if str(datadir).encode() not in cmdline:
        return
    for sig, wait in ((signal.SIGQUIT, 10.0), (signal.SIGKILL, 5.0)):  # SIGQUIT: immediate shutdown
        try:
            os.kill(pid, sig)
        except OSError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if _proc_start_time(pid) is None:
                return
            time.sleep(0.05)


def reap_dead_sandboxes(tmpdir: str | os.PathLike | None = None, *, quiet: bool = False) -> list[str]:
    """Remove the temp folders (and stop the servers) that runs now dead left behind in the temp
    dir; one line per folder, also said on stderr unless ``quiet``. Only folders with a marker
    this user wrote are looked at; a folder whose owner lives is never touched."""
    root = Path(tmpdir or tempfile.gettempdir())
    lines: list[str] = []
    try:
        candidates = sorted(p for p in root.iterdir() if p.name.startswith((TEMP_PREFIX, WORK_PREFIX)))
    except OSError:
        return lines
    for folder in candidates:
        marker = folder / OWNER_MARKER
        try:
            info = os.lstat(marker)
            if folder.is_symlink() or not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
                continue
            owner = RunOwner.from_json(marker.read_text())
        except OSError:
            continue
        if owner is None or owner.alive() is not False:
            continue
        with shielded():
            try:
                fd = os.open(marker, os.O_RDONLY)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another run reaping it, or its owner alive
            except OSError:
                os.close(fd)
                continue
            try:
                _stop_leftover_postmaster(folder / "data")
                shutil.rmtree(folder, ignore_errors=True)
            finally:
                os.close(fd)
        what = "a sandbox" if folder.name.startswith(TEMP_PREFIX) else "temporary files"
        line = f"removed {what} left by dead run {owner.describe()} ({folder})"
        if folder.exists():
            line = f"could not remove {what} left by dead run {owner.describe()}: remove it by hand (rm -rf {folder})"
        lines.append(line)
        if not quiet:
            say(line)
    return lines


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
        owner: RunOwner | None = None,
    ):
        self.binaries = find_binaries(pg_bin, major)
        self.owner = owner
        self.reaped: list[str] = []  # what this start removed of dead runs, one line each
        self._marker_fd: int | None = None
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
        self.reaped = reap_dead_sandboxes()
        with shielded():
            self.tempdir, self._marker_fd = make_owned_dir(TEMP_PREFIX, self.owner)
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
        """Stop the server and delete every file of the cluster. Safe to call repeatedly.
        A signal that arrives meanwhile takes effect once this is done."""
        if self.tempdir is None:
            return
        with shielded():
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
                self._release_marker()

    def _release_marker(self) -> None:
        if self._marker_fd is not None:
            os.close(self._marker_fd)
            self._marker_fd = None

    def _kill_postmaster(self) -> None:
        try:
            pid = int((self.datadir / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        except (OSError, ValueError, IndexError):
            pass

    def detach(self) -> str:
        """--keep: leave the cluster running past this process; returns how to remove it later.
        Its owner marker goes: a kept sandbox is the user's, later runs do not reap it."""
        _live_sandboxes.discard(self)
        if self.tempdir is not None:
            (self.tempdir / OWNER_MARKER).unlink(missing_ok=True)
        self._release_marker()
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

    def create_role(self, name: str, *, member: bool = False) -> None:
        """A NOLOGIN role (the cluster is private: it goes away whole). The superuser rehearse
        connects as can SET ROLE to it whatever ``member`` says."""
        from psycopg import sql

        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))
        self.roles.append(name)

    def app_role_name(self, run: str) -> str:
        return "tenantaudit_app"  # nobody else uses this cluster


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

@contextmanager
def client_connection(dsn: str, where: str | os.PathLike | None = None):
    """How a child (pg_dump, pg_restore) connects without a secret on its command line, where
    every local user can read it (/proc/<pid>/cmdline): yields ``(conninfo, env)``, the
    connection string without the password (or sslpassword) and an environment in which
    PGPASSFILE names a 0600 passfile (and PGSERVICEFILE a 0600 service file holding the
    sslpassword) in a private (0700) temp folder, removed when the block ends. A DSN without
    secrets is passed as it is, in the caller's environment (PGPASSWORD, ~/.pgpass still apply)."""
    from psycopg import conninfo

    from .db import parse_dsn

    params = parse_dsn(dsn)
    password = params.pop("password", None)
    sslpassword = params.pop("sslpassword", None) if "service" not in params else None
    env = dict(os.environ)
    if password is None and sslpassword is None:
        yield dsn, env
        return
    params.pop("passfile", None)
    folder = Path(tempfile.mkdtemp(prefix="pgpass-", dir=where))
    try:
        def private(name: str, text: str) -> str:
            fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            return str(folder / name)

        if password is not None:
            env.pop("PGPASSWORD", None)  # it would win over the passfile
            if "\n" in password or "\r" in password:  # a passfile line cannot hold it: the child's environment can
                env["PGPASSWORD"] = password
            else:
                escaped = password.replace("\\", "\\\\").replace(":", "\\:")
                env["PGPASSFILE"] = private("pgpass", f"*:*:*:*:{escaped}\n")
        if sslpassword is not None:
            env["PGSERVICEFILE"] = private("pg_service.conf", f"[tenantaudit]\nsslpassword={sslpassword}\n")
            params["service"] = "tenantaudit"
        yield conninfo.make_conninfo(**params), env
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def tool_error(stderr: str, tool: str, fallback: str) -> str:
    """The line that says why pg_dump / pg_restore failed: its first "error:" line, not the
    DETAIL ("Query was: ...") that follows it."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(f"{tool}: error:"):
            return line
    for line in lines:
        if not line.lower().startswith((f"{tool}: detail:", f"{tool}: hint:", "detail:", "hint:")):
            return line
    return lines[-1] if lines else fallback


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
    them (and the roles it created) when it stops. Needs a role with CREATEDB and CREATEROLE
    (and BYPASSRLS where a migration FORCEs row-level security: the fingerprints must see every row).

    Every database and role it creates is marked with a comment naming its run (the process, its
    start time, the boot and the host), so that a later run can tell the leftovers of a run that
    was killed from those of a run still going (``leftovers()``, ``cleanup()``)."""

    def __init__(self, dsn: str, *, pg_bin: str | os.PathLike | None = None, owner: RunOwner | None = None):
        from .db import parse_dsn

        self._params = parse_dsn(dsn)
        self._pg_bin = pg_bin
        self._databases: list[str] = []
        self.roles: list[str] = []  # roles the rehearsal created, dropped at stop
        self.binaries: PgBinaries | None = None
        self.major: int | None = None
        self.owner = owner
        self.reaped: list[str] = []  # leftovers of dead runs found at start, one line each

    def dsn(self, dbname: str = "postgres", user: str | None = None) -> str:
        from psycopg import conninfo

        params = {**self._params, "dbname": dbname}
        if user:
            params["user"] = user
        return conninfo.make_conninfo(**params)

    def connect(self, dbname: str | None = None, **kwargs):
        import psycopg

        return psycopg.connect(self.dsn(dbname or self._params.get("dbname", "postgres")), autocommit=True, **kwargs)

    def _connect_checked(self):
        import psycopg

        from .db import _describe_connect_failure

        try:
            return self.connect()
        except psycopg.OperationalError as exc:
            raise _describe_connect_failure(exc, self._params) from None

    def start(self) -> "ExistingServer":
        with self._connect_checked() as conn:
            self.major = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000
            user, can_create = conn.execute(
                "SELECT current_user, rolcreatedb OR rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user"
            ).fetchone()
            if not can_create:
                raise SandboxError(
                    f"the --sandbox role {user} cannot create databases, and rehearse makes its scratch databases there",
                    fix=f"as a superuser: ALTER ROLE {_quote_ident(user)} CREATEDB (it needs CREATEROLE too)",
                )
            self._user = user
            for run, objects in self._marked(conn).items():
                if run.alive() is False:
                    self.reaped.append(
                        f"found the leftovers of dead run {run.describe()} on this server: {_list_objects(objects)}"
                        " (drop them with: tenantaudit rehearse --cleanup --sandbox DSN)"
                    )
                    say(self.reaped[-1])
        self.binaries = client_binaries(self.major, self._pg_bin)
        return self

    # -- marked objects --------------------------------------------------------------------
    def _mark(self) -> str:
        return SCRATCH_MARK + (self.owner or RunOwner.current()).to_json()

    @staticmethod
    def _marked(conn) -> "dict[RunOwner, list[tuple[str, str]]]":
        """Every database and role marked by a tenantaudit run: owner -> [(kind, name)]."""
        rows = conn.execute(
            """SELECT 'database', d.datname, pg_catalog.shobj_description(d.oid, 'pg_database')
               FROM pg_catalog.pg_database d
               WHERE pg_catalog.starts_with(pg_catalog.shobj_description(d.oid, 'pg_database'), %(mark)s)
               UNION ALL
               SELECT 'role', r.rolname, pg_catalog.shobj_description(r.oid, 'pg_authid')
               FROM pg_catalog.pg_roles r
               WHERE pg_catalog.starts_with(pg_catalog.shobj_description(r.oid, 'pg_authid'), %(mark)s)
               ORDER BY 1, 2""",
            {"mark": SCRATCH_MARK},
        ).fetchall()
        found: dict[RunOwner, list[tuple[str, str]]] = {}
        for kind, name, comment in rows:
            owner = RunOwner.from_json(comment[len(SCRATCH_MARK):])
            if owner is not None:
                found.setdefault(owner, []).append((kind, name))
        return found

    def create_database(self, name: str) -> str:
        import psycopg
        from psycopg import sql

        with self.connect() as conn:
            with shielded():  # created and marked, or neither
                try:
                    conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
                except psycopg.errors.InsufficientPrivilege:
                    raise SandboxError(
                        f"the --sandbox role {getattr(self, '_user', '')} may not create databases",
                        fix=f"as a superuser: ALTER ROLE {_quote_ident(getattr(self, '_user', 'ROLE'))} CREATEDB",
                    ) from None
                self._databases.append(name)
                conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(self._mark())))
        return self.dsn(name)

    def create_role(self, name: str, *, member: bool = False) -> None:
        """A NOLOGIN role, marked as this run's (created and marked in one transaction); with
        ``member``, granted to the --sandbox role, which must SET ROLE to it (the probes run as
        the application role: a role that is not a superuser needs the membership)."""
        import psycopg
        from psycopg import sql

        with self.connect() as conn:
            with shielded():
                try:
                    with conn.transaction():
                        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))
                        conn.execute(sql.SQL("COMMENT ON ROLE {} IS {}").format(sql.Identifier(name), sql.Literal(self._mark())))
                        if member:
                            conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(name)))
                except psycopg.errors.InsufficientPrivilege:
                    user = getattr(self, "_user", "ROLE")
                    raise SandboxError(
                        f"the --sandbox role {user} may not create roles, and rehearse needs one (the application role, "
                        f"or a role the source's policies name: {name})",
                        fix=f"as a superuser: ALTER ROLE {_quote_ident(user)} CREATEROLE",
                    ) from None
                self.roles.append(name)

    def app_role_name(self, run: str) -> str:
        return f"tenantaudit_app_{run}"  # never shared with a concurrent run

    def drop_database(self, name: str) -> None:
        from psycopg import sql

        with self.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if name in self._databases:
            self._databases.remove(name)

    def stop(self) -> None:
        import psycopg

        if not self._databases and not self.roles:
            return
        with shielded():
            try:
                with self.connect() as conn:
                    _drop(conn, [("database", d) for d in self._databases] + [("role", r) for r in self.roles])
            except psycopg.Error:
                pass  # the server is gone: nothing of ours is left running on it
            self._databases.clear()
            self.roles.clear()

    def detach(self) -> str:
        """--keep: the scratch databases and roles stay (unmarked: later runs leave them alone);
        returns the SQL that drops them, to run as the --sandbox role."""
        import psycopg
        from psycopg import sql

        objects = [("database", d) for d in self._databases] + [("role", r) for r in self.roles]
        kept = sql.Literal(f"tenantaudit rehearse --keep (pid {os.getpid()}): drop it by hand")
        try:
            with self.connect() as conn:
                for kind, name in objects:
                    conn.execute(sql.SQL("COMMENT ON {} {} IS {}").format(
                        sql.SQL(kind.upper()), sql.Identifier(name), kept))
        except psycopg.Error:
            pass
        self._databases, self.roles = [], []
        return " ".join(_drop_statement(kind, name) for kind, name in objects)

    def cleanup(self) -> tuple[list[str], bool]:
        """Drop the marked databases and roles of dead runs; lines saying what was dropped and
        what was kept and why, and whether everything that should go went."""
        lines: list[str] = []
        ok = True
        with self._connect_checked() as conn:
            for owner, objects in self._marked(conn).items():
                alive = owner.alive()
                if alive is None:
                    lines.append(f"kept {_list_objects(objects)}: run {owner.describe()}, whether it still runs cannot "
                                 f"be told from this host (to drop them: "
                                 + " ".join(_drop_statement(k, n) for k, n in objects) + ")")
                    continue
                if alive:
                    lines.append(f"kept {_list_objects(objects)}: run {owner.describe()} is still running")
                    continue
                failures = _drop(conn, objects)
                dropped = [o for o in objects if o not in dict(failures)]
                if dropped:
                    lines.append(f"dropped {_list_objects(dropped)} left by dead run {owner.describe()}")
                for obj, reason in failures:
                    ok = False
                    lines.append(f"could not drop {obj[0]} {obj[1]} left by dead run {owner.describe()}: {reason}")
        return lines, ok

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _drop_statement(kind: str, name: str) -> str:
    if kind == "database":
        return f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE);"
    return f"DROP ROLE IF EXISTS {_quote_ident(name)};"


def _list_objects(objects: list[tuple[str, str]]) -> str:
    parts = []
    for kind in ("database", "role"):
        names = [n for k, n in objects if k == kind]
        if names:
            parts.append(f"{kind}{'s' if len(names) > 1 else ''} {', '.join(names)}")
    return " and ".join(parts)


def _drop(conn, objects: list[tuple[str, str]]) -> list[tuple[tuple[str, str], str]]:
    """Drop databases first (a role cannot go while it owns one), each on its own; the ones that
    could not be dropped, with the server's reason."""
    import psycopg
    from psycopg import sql

    from .db import server_message

    failures = []
    for kind, name in sorted(objects, key=lambda o: o[0] != "database"):
        statement = (sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)") if kind == "database"
                     else sql.SQL("DROP ROLE IF EXISTS {}")).format(sql.Identifier(name))
        try:
            conn.execute(statement)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            failures.append(((kind, name), server_message(exc)))
    return failures


def cleanup_leftovers(spec: str) -> tuple[list[str], bool]:
    """`rehearse --cleanup`: what dead runs left behind, removed (see the module docstring)."""
    if spec in ("", "embedded"):
        return reap_dead_sandboxes(quiet=True), True
    if spec == "docker":
        return ["docker sandboxes go with their container: nothing to clean up here"], True
    local = reap_dead_sandboxes(quiet=True)  # this machine's temp folders of dead runs too
    lines, ok = open_sandbox(spec).cleanup()
    return local + lines, ok


class DockerPostgres(ExistingServer):
    """postgres:<major> in a container started with testcontainers; removed when stopped."""

    def __init__(self, major: int, *, pg_bin: str | os.PathLike | None = None, owner: RunOwner | None = None):
        self._container = None
        self._wanted_major = major
        super().__init__("", pg_bin=pg_bin, owner=owner)

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


def open_sandbox(
    spec: str, *, major: int | None = None, pg_bin: str | os.PathLike | None = None, owner: RunOwner | None = None
):
    """``embedded`` (default), ``docker``, or a postgresql:// DSN of an existing server."""
    if spec in ("", "embedded"):
        return EmbeddedPostgres(pg_bin=pg_bin, major=major, owner=owner)
    if spec == "docker":
        return DockerPostgres(major or 16, pg_bin=pg_bin, owner=owner)
    if spec.startswith(("postgresql://", "postgres://")) or "=" in spec:
        return ExistingServer(spec, pg_bin=pg_bin, owner=owner)
    raise SandboxError(f"--sandbox {spec!r} is not embedded, docker or a postgresql:// DSN", fix="pick one of those")
