"""Errors a user can hit, each with the exit code the CLI turns it into."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_RUNTIME = 3
# The audit ran, nothing at or above --fail-on was found, but part of it could not be proven for a
# server-side reason (a lock not granted, a timeout, a schema the auditor cannot read, the lock
# table full): never reported as clean. Report.incomplete says why.
EXIT_INCOMPLETE = 4


class TenantAuditError(Exception):
    """A failure with a one-line message naming the cause and the fix."""

    exit_code = EXIT_RUNTIME

    def __init__(self, message: str, *, fix: str | None = None):
        self.message = message
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        return f"{self.message} — {self.fix}" if self.fix else self.message


class ConfigError(TenantAuditError):
    """Bad options, a bad configuration file, or a name that does not exist."""

    exit_code = EXIT_USAGE


class ConnectError(TenantAuditError):
    """The database could not be reached or the audit could not run."""

    exit_code = EXIT_RUNTIME


class SandboxError(TenantAuditError):
    """The disposable PostgreSQL could not be started or used."""

    exit_code = EXIT_RUNTIME
