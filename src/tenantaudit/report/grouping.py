"""What the terminal and the HTML report say first, computed once: the verdict, the counts, the
findings grouped by root cause, and which tables need a row in the matrices.

A *group* is one object (a table, view, function, role; for rehearsals also the migration line):
its headline is the most severe catalogue finding on it (what to fix), the probe and data findings
on the same object are folded under it (what that defect was seen to do), and the other catalogue
findings on it are listed beside the headline. Groups go most severe first, then by name.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..findings import FAIL, FAILS_CLOSED_BY_ERROR, LEAK, NOT_PROVEN, PASS, SKIPPED, Finding, Report, Severity

DATA_CATEGORIES = ("tenant-null-rows", "orphan-tenant-rows")
LEAK_CATEGORIES = ("probe-read-leak", "probe-write-leak", "probe-unset-leak")


def is_consequence(finding: Finding) -> bool:
    """A behaviour or data finding: what a catalogue defect on the same object was seen to do."""
    return finding.category.startswith("probe-") or finding.category in DATA_CATEGORIES


def _finding_key(f: Finding):
    return (-f.severity.rank, f.category, f.schema or "", f.table or "", f.message)


@dataclass
class Group:
    headline: Finding
    also: list[Finding] = field(default_factory=list)  # other catalogue findings on the same object
    explains: list[Finding] = field(default_factory=list)  # probe and data findings folded under it

    @property
    def findings(self) -> list[Finding]:
        return [self.headline, *self.also, *self.explains]

    @property
    def severity(self) -> Severity:
        return max((f.severity for f in self.findings), key=lambda s: s.rank)

    @property
    def name(self) -> str:
        return self.headline.qualified_name

    def explained(self) -> list[tuple[str, int, Severity]]:
        """The folded categories in order: (category, how many, the most severe of them)."""
        seen: dict[str, list] = {}
        for f in self.explains:
            entry = seen.setdefault(f.category, [0, f.severity])
            entry[0] += 1
            if f.severity.rank > entry[1].rank:
                entry[1] = f.severity
        return [(category, n, severity) for category, (n, severity) in seen.items()]

    def shape(self) -> tuple:
        """What groups must share to be told as one line over many objects."""
        return (
            self.severity, self.headline.severity, self.headline.category, self.headline.object_kind,
            tuple((f.severity, f.category) for f in self.also),
            tuple(self.explained()),
        )


def group_findings(findings: list[Finding]) -> list[Group]:
    buckets: dict[tuple, list[Finding]] = {}
    for index, f in enumerate(sorted(findings, key=_finding_key)):
        if f.table or f.schema:
            key = (f.object_kind, f.schema or "", f.table or "", f.migration or "", f.line or 0)
        else:  # no object to gather around: a finding of its own
            key = ("", "", "", f.migration or "", f.line or 0, index)
        buckets.setdefault(key, []).append(f)
    groups = []
    for members in buckets.values():
        causes = [f for f in members if not is_consequence(f)]
        effects = [f for f in members if is_consequence(f)]
        if causes:
            groups.append(Group(causes[0], causes[1:], effects))
        else:
            groups.append(Group(effects[0], [], effects[1:]))
    groups.sort(key=lambda g: (-g.severity.rank, g.name, g.headline.category, g.headline.migration or "",
                               g.headline.line or 0))
    return groups


@dataclass
class Cluster:
    """Groups of one shape (same severities and categories) told together: one line naming all."""

    groups: list[Group]

    @property
    def first(self) -> Group:
        return self.groups[0]

    @property
    def severity(self) -> Severity:
        return self.first.severity


def cluster(groups: list[Group], cost, budget: int) -> list[Group | Cluster]:
    """Keep every group on its own while the groups' lines (``cost(item)``) fit in ``budget``;
    beyond it, fold the largest sets of same-shaped groups into one Cluster each, largest first,
    until they fit (or nothing more can be folded). The order stays: most severe first."""
    items: list[Group | Cluster] = list(groups)
    total = sum(cost(item) for item in items)
    if total <= budget:
        return items
    by_shape: dict[tuple, list[Group]] = {}
    for g in groups:
        by_shape.setdefault(g.shape(), []).append(g)
    for members in sorted((m for m in by_shape.values() if len(m) > 1), key=len, reverse=True):
        if total <= budget:
            break
        folded = Cluster(members)
        first = next(i for i, item in enumerate(items) if item is members[0])
        ids = {id(m) for m in members}
        before = sum(cost(m) for m in members)
        items = [item for item in items if id(item) not in ids]
        items.insert(first, folded)
        total += cost(folded) - before
    return items


# -- the verdict and the counts --------------------------------------------------------------------


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n:,} " + (word if n == 1 else (words or word + "s"))


@dataclass
class Verdict:
    word: str  # PASS, FAIL or INCOMPLETE: what the exit code says (1 FAIL, 4 INCOMPLETE, 0 PASS)
    why: str

    @property
    def line(self) -> str:
        return f"{self.word}: {self.why}"


def _fail_on(report: Report, fail_on: Severity | str | None) -> Severity:
    if isinstance(fail_on, Severity):
        return fail_on
    value = fail_on or report.settings.get("fail_on") or Severity.HIGH.value
    try:
        return Severity.parse(str(value))
    except ValueError:
        return Severity.HIGH


def leaking_tables(report: Report) -> list[str]:
    return sorted({f.qualified_name for f in report.findings if f.category in LEAK_CATEGORIES})


def verdict(report: Report, fail_on: Severity | str | None = None) -> Verdict:
    """The one word first, as the CLI's exit code decides it: FAIL (exit 1) when a finding is at or
    above --fail-on, else INCOMPLETE (exit 4) when part of the audit could not be proven, else PASS."""
    threshold = _fail_on(report, fail_on)
    counts = report.counts()
    at_or_above = [(s, counts[s.value]) for s in Severity if s.at_least(threshold) and counts[s.value]]
    below = sum(counts[s.value] for s in Severity if not s.at_least(threshold))
    incomplete = bool(report.incomplete)
    if report.fails(threshold):
        parts = []
        leaks = leaking_tables(report)
        if leaks:
            parts.append(f"{plural(len(leaks), 'table')} leak{'s' if len(leaks) == 1 else ''} across tenants")
        if len(at_or_above) == 1:
            parts.append(f"{plural(at_or_above[0][1], at_or_above[0][0].value + ' finding')}")
        else:
            total = sum(n for _, n in at_or_above)
            parts.append(f"{plural(total, 'finding')} at or above {threshold.value}")
        if incomplete:
            parts.append("and the audit is INCOMPLETE (below)")
        return Verdict("FAIL", ", ".join(parts))
    nothing = f"nothing at or above {threshold.value}"
    if below:
        nothing += f" ({plural(below, 'finding')} below it)"
    if incomplete:
        return Verdict("INCOMPLETE", f"{nothing} in what was audited, but part of the audit was not proven (below)")
    if report.unaudited:
        return Verdict("PASS", f"{nothing} in what was audited; {plural(len(report.unaudited), 'object')} not audited (below)")
    return Verdict("PASS", nothing)


def count_lines(report: Report, groups: list[Group]) -> list[str]:
    """The counts under the verdict: findings per severity, tables, probes, data checks."""
    counts = report.counts()
    lines = []
    if report.findings:
        per = ", ".join(f"{n:,} {s}" for s, n in counts.items() if n)
        lines.append(f"findings: {len(report.findings):,} ({per}) on {plural(len(groups), 'object')}")
    else:
        lines.append("findings: none" + (" in what was audited" if report.incomplete or report.unaudited else ""))
    if report.coverage:
        kinds = Counter(row.kind for row in report.coverage)
        detail = ", ".join(f"{n:,} {kind}" for kind, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
        line = f"tables audited: {len(report.coverage):,} ({detail})"
        if report.unaudited:
            line += f"; {len(report.unaudited):,} not audited"
        lines.append(line)
    elif report.unaudited:
        lines.append(f"not audited: {plural(len(report.unaudited), 'object')}")
    if report.probes:
        outcomes = Counter(p.outcome for p in report.probes)
        run = len(report.probes) - outcomes.get(SKIPPED, 0)
        words = {PASS: "passed", LEAK: "leaked", FAILS_CLOSED_BY_ERROR: "failed closed by error", NOT_PROVEN: "not proven"}
        detail = ", ".join(f"{outcomes[o]:,} {w}" for o, w in words.items() if outcomes.get(o))
        line = f"probes: {run:,} run" + (f" ({detail})" if detail else "")
        if outcomes.get(SKIPPED):
            line += f", {outcomes[SKIPPED]:,} skipped"
        lines.append(line)
    if report.data_results:
        outcomes = Counter(d.outcome for d in report.data_results)
        detail = ", ".join(f"{n:,} {o}" for o, n in sorted(outcomes.items(), key=lambda kv: (-kv[1], kv[0])))
        lines.append(f"data checks: {len(report.data_results):,} ({detail})")
    return lines


def settings_line(report: Report) -> str | None:
    """What was configured beside the tenant context: the app role, the probes, the threshold."""
    s = report.settings
    parts = []
    roles = s.get("app_roles") or ([s["app_role"]] if s.get("app_role") else [])
    if roles:
        parts.append("app role " + ", ".join(roles))
    elif report.command == "check":
        parts.append("no --app-role (ownership and privileges assume the worst)")
    if report.command == "check":  # rehearse's verify step chooses its own probes (its phase says so)
        if s.get("probe"):
            parts.append(f"probes: {s['probe']}")
        if "data_checks" in s:
            parts.append("data checks " + ("on" if s["data_checks"] else "off"))
    if s.get("fail_on"):
        parts.append(f"fail on {s['fail_on']}")
    if s.get("schemas"):
        parts.append("schemas " + ", ".join(s["schemas"]))
    if s.get("global_tables"):
        parts.append(plural(len(s["global_tables"]), "global table"))
    return "; ".join(parts) if parts else None


# -- which tables need a row -----------------------------------------------------------------------


def attention(report: Report) -> set[tuple[str, str]]:
    """Tables with a failing or unproven aspect: a fence aspect fails, a finding names the table, a
    data check failed or was not proven, or a probe leaked, failed closed by error, or was not proven
    for a reason on the server. Tables whose probes had nothing to work on (no rows) are not listed
    for that alone: the matrices say it in one line per reason."""
    keys = {(f.schema, f.table) for f in report.findings if f.object_kind == "table" and f.schema and f.table}
    for row in report.coverage:
        if FAIL in row.aspects.values():
            keys.add((row.schema, row.table))
    for d in report.data_results:
        if d.outcome in (FAIL, NOT_PROVEN):
            keys.add((d.schema, d.table))
    for p in report.probes:
        if p.outcome in (LEAK, FAILS_CLOSED_BY_ERROR) or (p.outcome == NOT_PROVEN and p.server_cause):
            keys.add((p.schema, p.table))
    return keys


FENCED_KINDS = ("tenant", "partition")
