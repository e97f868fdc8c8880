"""The one model every check, probe and rehearsal phase writes, and every renderer reads."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class Severity(str, enum.Enum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @classmethod
    def parse(cls, value: str) -> "Severity":
        try:
            return cls(value.strip().lower())
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown severity {value!r} (expected one of: {names})") from None

    def at_least(self, other: "Severity") -> bool:
        return self.rank >= other.rank


_RANK = {Severity.INFO: 0, Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3, Severity.CRITICAL: 4}


@dataclass
class Finding:
    category: str  # a name from DESIGN.md's category table: a contract
    check: str  # the catalogue id that produced it
    severity: Severity
    schema: str | None
    table: str | None  # the table, or the view / function / role the finding is about
    message: str
    remediation: str | None = None
    object_kind: str = "table"
    title: str | None = None
    phase: str | None = None
    migration: str | None = None
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        return data

    @property
    def qualified_name(self) -> str:
        return ".".join(part for part in (self.schema, self.table) if part)


# Coverage matrix: aspects of a tenant table, and the categories that make an aspect fail.
ASPECTS: dict[str, tuple[str, ...]] = {
    "column": ("tenant-column-missing",),
    "not_null": ("tenant-column-nullable",),
    "type": ("tenant-column-type",),
    "foreign_key": ("tenant-fk-missing",),
    "index": ("tenant-index-missing",),
    "rls": ("rls-disabled",),
    "force": ("rls-not-forced",),
    "policy": (
        "policy-missing",
        "policy-not-tenant-scoped",
        "policy-permissive-bypass",
        "policy-write-unchecked",
        "setting-cast-unsafe",
    ),
}
# Aspects that mean nothing once the tenant column is missing.
_NEEDS_COLUMN = ("not_null", "type", "foreign_key", "index", "rls", "force", "policy")
_NEEDS_RLS = ("force", "policy")

PASS, FAIL, NOT_APPLICABLE = "pass", "fail", "n/a"


@dataclass
class TableCoverage:
    schema: str
    table: str
    kind: str  # tenant, global, tenants, user (fenced to the calling user, no tenant column), partition
    aspects: dict[str, str] = field(default_factory=dict)

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.table}"


def build_coverage(
    tables: list[tuple[str, str, str]], findings: list[Finding], *, has_tenants_table: bool = True
) -> list[TableCoverage]:
    """Derive each audited table's aspect status from the findings (no extra queries). Without a
    tenants table in the database, the key type and the foreign key have nothing to compare with."""
    failing: dict[tuple[str, str], set[str]] = {}
    for finding in findings:
        if finding.object_kind == "table" and finding.schema and finding.table:
            failing.setdefault((finding.schema, finding.table), set()).add(finding.category)
    rows = []
    for schema, table, kind in tables:
        categories = failing.get((schema, table), set())
        aspects: dict[str, str] = {}
        for aspect, aspect_categories in ASPECTS.items():
            if kind != "tenant":
                aspects[aspect] = NOT_APPLICABLE
            elif aspect in ("type", "foreign_key") and not has_tenants_table:
                aspects[aspect] = NOT_APPLICABLE
            elif aspect in _NEEDS_COLUMN and "tenant-column-missing" in categories:
                aspects[aspect] = NOT_APPLICABLE
            elif aspect in _NEEDS_RLS and "rls-disabled" in categories:
                aspects[aspect] = NOT_APPLICABLE
            else:
                aspects[aspect] = FAIL if categories.intersection(aspect_categories) else PASS
        if kind == "partition":
            aspects["rls"] = FAIL if "partition-rls-gap" in categories else PASS
        rows.append(TableCoverage(schema, table, kind, aspects))
    return rows


# Outcomes of data checks and behavioural probes.
PROVEN_BY_CONSTRAINT = "proven by constraint"
NOT_PROVEN = "not proven"
LEAK = "leak"
FAILS_CLOSED_BY_ERROR = "fails closed by error"
SKIPPED = "skipped"


@dataclass
class DataResult:
    """Whether a data property (no NULL tenant, no orphan tenant) holds for one table."""

    schema: str
    table: str
    check: str  # tenant-null-rows or orphan-tenant-rows
    outcome: str  # pass, fail, proven by constraint, not proven
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PROBE_OPERATIONS = ("read", "insert", "update", "delete", "move", "unset-read")


@dataclass
class ProbeResult:
    """One behavioural experiment on one table, run as the application role."""

    schema: str
    table: str
    operation: str  # one of PROBE_OPERATIONS
    outcome: str  # pass, leak, fails closed by error, not proven, skipped
    detail: str = ""
    # The SQLSTATE when not proven for a server-side reason (timeout 57014, lock 55P03, class 53
    # resources, 58 system errors): the server could not do the work now; None for data-side reasons.
    server_cause: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


REPORT_FORMAT_VERSION = 1


@dataclass
class Report:
    command: str  # "check" or "rehearse"
    target: str  # masked DSN or what was rehearsed
    findings: list[Finding] = field(default_factory=list)
    coverage: list[TableCoverage] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    server_version: str | None = None
    notes: list[str] = field(default_factory=list)
    data_results: list[DataResult] = field(default_factory=list)
    probes: list[ProbeResult] = field(default_factory=list)
    sequences_advanced: list[str] = field(default_factory=list)  # nextval is not rolled back
    phases: list[dict[str, Any]] = field(default_factory=list)
    locks: list[dict[str, Any]] = field(default_factory=list)
    # One line per server-side reason that left part of the audit unproven (exit 4 when nothing
    # else fails): e.g. "3 tables not audited: a lock was not granted within lock_timeout".
    incomplete: list[str] = field(default_factory=list)
    # Objects the audit could not look at, each {"schema", "object", "kind", "reason"}.
    unaudited: list[dict[str, Any]] = field(default_factory=list)
    probe_batches: int | None = None  # write-probe transactions run (each rolled back)
    # The tenant context the audit judged under (TenantContext.as_dict: model, columns, tables,
    # "inferred", "evidence", and "description", one line every renderer prints); None: rehearse
    context: dict[str, Any] | None = None

    def sorted_findings(self) -> list[Finding]:
        return sorted(
            self.findings,
            key=lambda f: (-f.severity.rank, f.category, f.schema or "", f.table or "", f.message),
        )

    def worst_severity(self) -> Severity | None:
        return max((f.severity for f in self.findings), key=lambda s: s.rank, default=None)

    def fails(self, threshold: Severity) -> bool:
        return any(f.severity.at_least(threshold) for f in self.findings)

    def counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in Severity}
        for finding in self.findings:
            counts[finding.severity.value] += 1
        return counts
