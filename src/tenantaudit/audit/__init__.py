"""`tenantaudit check`: one catalogue snapshot, then behaviour (data checks, probes)."""

from .run import audit

__all__ = ["audit"]
