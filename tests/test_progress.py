"""Progress goes to stderr while the work runs, on a terminal only, each phase once; a pipe or a
log gets nothing but the report (and one-line errors)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import ROOT, run_cli

PHASES = ("catalogue audit", "data checks", "read probes")


def rows_in_two_tenants(db) -> None:
    db.tenants()
    db.sql("INSERT INTO tenants (name) VALUES ('a'), ('b')")
    for name in ("orders", "invoices"):
        q = db.fenced_table(name)
        db.sql(f"INSERT INTO {q} (tenant_id, body) SELECT id, name FROM tenants")


def stderr_on_a_terminal(*args: str) -> tuple[int, str]:
    """Run the CLI with stderr on a pseudo-terminal (stdout a pipe); what the terminal showed."""
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "tenantaudit.cli", *args], stdout=subprocess.PIPE, stderr=slave,
                            stdin=subprocess.DEVNULL, cwd=ROOT, env={**os.environ, "COLUMNS": "100"})
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        shown += chunk
    proc.stdout.read()
    code = proc.wait(timeout=120)
    os.close(master)
    return code, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode(errors="replace"))


def test_check_shows_each_phase_once_on_a_terminal_and_nothing_in_a_pipe(db):
    rows_in_two_tenants(db)
    piped = run_cli("check", db.dsn, "--app-role", db.app_role, "--json", "-")
    print("stderr into a pipe:", repr(piped.stderr))
    assert piped.returncode == 0, piped.stdout[-2000:]
    assert piped.stderr == ""

    code, shown = stderr_on_a_terminal("check", db.dsn, "--app-role", db.app_role, "--json", "-")
    finished = [line.strip() for line in shown.replace("\r", "\n").splitlines() if line.strip().startswith("✓")]
    print("phases finished on the terminal:", *finished, sep="\n  ")
    assert code == 0
    for phase in PHASES:
        assert len([line for line in finished if phase in line]) == 1, phase
    # in the order the work happens, with the time each took
    assert [next(i for i, line in enumerate(finished) if p in line) for p in PHASES] == sorted(
        next(i for i, line in enumerate(finished) if p in line) for p in PHASES)
    assert all(re.search(r"\(\d+\.\d\ds\)", line) for line in finished)
