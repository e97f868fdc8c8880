"""Terminal rendering with rich: the coverage matrix, then findings by severity with their fix."""

from __future__ import annotations

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from ..findings import ASPECTS, FAIL, PASS, Report, Severity

SEVERITY_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
_CELL = {PASS: Text("✓", style="green"), FAIL: Text("✗", style="bold red")}
_ASPECT_HEADERS = {
    "column": "column",
    "not_null": "not null",
    "type": "type",
    "foreign_key": "fk",
    "index": "index",
    "rls": "rls",
    "force": "force",
    "policy": "policy",
}


def coverage_table(report: Report) -> Table:
    table = Table(title="Tenant fence, table by table", title_justify="left", header_style="bold")
    table.add_column("table", overflow="fold")
    table.add_column("kind")
    for aspect in ASPECTS:
        table.add_column(_ASPECT_HEADERS[aspect], justify="center")
    for row in report.coverage:
        cells = [_CELL.get(row.aspects.get(a, ""), Text("–", style="dim")) for a in ASPECTS]
        table.add_row(escape(row.qualified_name), row.kind, *cells)
    return table


def render(report: Report, console: Console) -> None:
    if report.coverage:
        console.print(coverage_table(report))
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
            head = Text.assemble(
                ("  " + finding.category, SEVERITY_STYLE[severity]), "  ", (where, "bold"), "  ", finding.message
            )
            console.print(head)
            if finding.remediation:
                console.print(Syntax(finding.remediation, "sql", word_wrap=True, background_color="default"), style="dim")
    for note in report.notes:
        console.print(Text("note: " + note, style="dim"))
    counts = report.counts()
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no findings"
    console.print()
    console.print(Text(f"{report.command}: {report.target} — {summary}", style="bold"))
