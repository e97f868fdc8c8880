"""Terminal rendering with rich: the coverage matrix, then findings by severity with their fix."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.padding import Padding
from rich.markup import escape
from rich.syntax import Syntax
from rich.text import Text

from ..findings import (
    ASPECTS,
    FAIL,
    FAILS_CLOSED_BY_ERROR,
    LEAK,
    NOT_PROVEN,
    PASS,
    PROBE_OPERATIONS,
    SKIPPED,
    Report,
    Severity,
)

SEVERITY_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
_MARKS = {PASS: ("✓", "green"), FAIL: ("✗", "bold red")}
# Short headers keep the matrix readable in an 80-column terminal; the caption spells them out.
_ASPECT_HEADERS = {
    "column": "col",
    "not_null": "nn",
    "type": "type",
    "foreign_key": "fk",
    "index": "idx",
    "rls": "rls",
    "force": "force",
    "policy": "pol",
}
_LEGEND = "col tenant column · nn NOT NULL · type matches tenants key · fk foreign key · idx index · rls enabled · force FORCEd · pol tenant policy"


def coverage_matrix(report: Report) -> Text:
    """The matrix as fixed-width text: rich's Table costs seconds at thousands of rows."""
    names = [row.qualified_name for row in report.coverage]
    name_width = max(12, min(48, max(map(len, names), default=0)))
    kind_width = 9
    widths = [max(3, len(_ASPECT_HEADERS[a])) for a in ASPECTS]
    matrix = Text(no_wrap=True, overflow="ellipsis")
    matrix.append("Tenant fence, table by table\n", style="bold")
    header = "table".ljust(name_width) + "  " + "kind".ljust(kind_width)
    header += "".join(" " + _ASPECT_HEADERS[a].center(w) for a, w in zip(ASPECTS, widths))
    matrix.append(header + "\n", style="bold")
    matrix.append("─" * len(header) + "\n", style="dim")
    for name, row in zip(names, report.coverage):
        shown = name if len(name) <= name_width else name[: name_width - 1] + "…"
        matrix.append(shown.ljust(name_width) + "  " + row.kind.ljust(kind_width))
        for aspect, width in zip(ASPECTS, widths):
            status = row.aspects.get(aspect, "")
            mark, style = _MARKS.get(status, ("–", "dim"))
            matrix.append(" " + mark.center(width), style=style)
        matrix.append("\n")
    matrix.append(_LEGEND, style="dim")
    return matrix


_PROBE_MARKS = {
    PASS: ("✓", "green"),
    LEAK: ("✗", "bold red"),
    FAILS_CLOSED_BY_ERROR: ("!", "yellow"),
    NOT_PROVEN: ("?", "magenta"),
    SKIPPED: ("·", "dim"),
}
_PROBE_LEGEND = "✓ pass · ✗ leak · ! fails closed by error · ? not proven · · skipped"


def probe_matrix(report: Report) -> Text:
    """Table × operation outcomes of the behavioural probes, then why anything was not proven."""
    cells: dict[str, dict[str, tuple[str, str]]] = {}
    for probe in report.probes:
        cells.setdefault(f"{probe.schema}.{probe.table}", {})[probe.operation] = (probe.outcome, probe.detail)
    name_width = max(12, min(48, max(map(len, cells), default=0)))
    widths = [len(op) for op in PROBE_OPERATIONS]
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append("Cross-tenant probes, as the application role\n", style="bold")
    header = "table".ljust(name_width) + "".join(" " + op.center(w) for op, w in zip(PROBE_OPERATIONS, widths))
    out.append(header + "\n", style="bold")
    out.append("─" * len(header) + "\n", style="dim")
    for name, row in cells.items():
        shown = name if len(name) <= name_width else name[: name_width - 1] + "…"
        out.append(shown.ljust(name_width))
        for op, width in zip(PROBE_OPERATIONS, widths):
            mark, style = _PROBE_MARKS.get(row.get(op, (SKIPPED, ""))[0], ("·", "dim"))
            out.append(" " + mark.center(width), style=style)
        out.append("\n")
    out.append(_PROBE_LEGEND + "\n", style="dim")
    # One line per distinct reason, naming its tables: the same cause repeats across tables.
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for p in report.probes:
        if p.outcome in (NOT_PROVEN, FAILS_CLOSED_BY_ERROR):
            grouped.setdefault((p.operation, p.outcome, p.detail), []).append(f"{p.schema}.{p.table}")
    for (operation, outcome, detail), tables in sorted(grouped.items()):
        out.append(f"  {operation} {outcome}: {detail} — {', '.join(tables)}\n", style="dim")
    return out


_PHASE_MARKS = {"passed": ("✓", "green"), "passed with findings": ("!", "yellow"), "failed": ("✗", "bold red")}


def phase_summary(report: Report) -> Text:
    out = Text()
    out.append("Rehearsal phases\n", style="bold")
    for phase in report.phases:
        mark, style = _PHASE_MARKS.get(phase["status"], ("·", "dim"))
        out.append(f"{mark} {phase['name']:<12} {phase['status']:<21} {phase['seconds']:>7.2f}s\n", style=style)
        for detail in phase["details"]:
            out.append(f"    {detail}\n", style="dim")
    return out


def lock_summary(report: Report) -> Text:
    """Statements whose locks block reads or writes of a table that already held rows."""
    out = Text()
    heavy = [
        (trace, lock)
        for trace in report.locks
        for lock in trace.get("locks", [])
        if lock.get("blocks") and lock.get("rows")
    ]
    out.append(f"Locks: {len(report.locks)} statements traced, {len(heavy)} blocking locks on tables with rows\n", style="bold")
    for trace, lock in heavy:
        where = f"{Path(trace['file']).name}:{trace['line']}"
        out.append(f"  {where:<36} {lock['mode']:<24} {lock['relation']} ({lock['rows']} rows): blocks {lock['blocks']}\n")
        out.append(f"      {trace['statement']}\n", style="dim")
    return out


def incomplete_lines(report: Report) -> list[str]:
    """What the audit did not prove, one line each: the causes, then every object not audited."""
    lines = [f"INCOMPLETE: {line}" for line in report.incomplete]
    for u in report.unaudited:
        where = ".".join(part for part in (u.get("schema"), u.get("object")) if part)
        lines.append(f"not audited: {where} ({u.get('kind', 'table')}) — {u.get('reason', '')}")
    return lines


def render(report: Report, console: Console) -> None:
    if report.context:  # what "the current tenant" was taken to mean: every verdict depends on it
        console.print(Text(report.context["description"], style="cyan"), soft_wrap=True)
    # First, before any matrix or finding: a partial audit must not read as a clean one.
    for line in incomplete_lines(report):
        console.print(Text(line, style="bold magenta"), soft_wrap=True)
    if report.incomplete or report.unaudited:
        console.print()
    if report.phases:
        console.print(phase_summary(report))
    if report.locks:
        console.print(lock_summary(report))
    if report.coverage:
        console.print(coverage_matrix(report))
    if report.probes:
        console.print()
        console.print(probe_matrix(report))
    unproven = [d for d in report.data_results if d.outcome == NOT_PROVEN]
    for result in unproven:
        console.print(Text(f"data {result.check} on {result.schema}.{result.table}: not proven — {result.detail}", style="magenta"))
    if report.sequences_advanced:
        console.print(Text("sequences advanced by the write probes (nextval is not rolled back): "
                           + ", ".join(report.sequences_advanced), style="dim"))
    findings = report.sorted_findings()
    for severity in Severity:
        group = [f for f in findings if f.severity is severity]
        if not group:
            continue
        console.print()
        console.print(Text(f"{severity.value.upper()} ({len(group)})", style=SEVERITY_STYLE[severity]))
        for finding in group:
            where = finding.qualified_name or "-"
            if finding.migration:
                where += f"  [{finding.migration}" + (f":{finding.line}" if finding.line else "") + "]"
            console.print(Text.assemble(("  " + finding.category, SEVERITY_STYLE[severity]), "  ", (where, "bold")))
            console.print(Padding(Text(finding.message), (0, 0, 0, 4)))
            if finding.remediation:
                fix = Syntax(finding.remediation, "sql", word_wrap=True, background_color="default")
                console.print(Padding(fix, (0, 0, 0, 4)))
    for note in report.notes:
        console.print(Text("note: " + note, style="dim"))
    counts = report.counts()
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no findings"
    unproven = sum(1 for p in report.probes if p.outcome == NOT_PROVEN) + sum(
        1 for d in report.data_results if d.outcome == NOT_PROVEN
    )
    if unproven:
        # a clean exit code with nothing proven would read as "isolated"
        summary += f"; {unproven} probe or data results not proven (see above)"
    if report.incomplete or report.unaudited:
        # "no findings" alone would read as clean: say what the audit did not cover
        n = len(report.unaudited)
        summary += (f"; INCOMPLETE: {n} object{'' if n == 1 else 's'} not audited"
                    if report.unaudited else "; INCOMPLETE") + " (see the top)"
        if not report.findings:
            summary = summary.replace("no findings", "no findings in what was audited", 1)
    console.print()
    console.print(Text(f"{report.command}: {report.target} — {summary}", style="bold"))
