"""Terminal rendering with rich: the coverage matrix, then findings by severity with their fix."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.markup import escape
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


def coverage_table(report: Report) -> Table:
    table = Table(
        title="Tenant fence, table by table",
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
    )
    table.add_column("table", overflow="fold", min_width=20)
    table.add_column("kind", no_wrap=True, min_width=6)
    for aspect in ASPECTS:
        header = _ASPECT_HEADERS[aspect]
        table.add_column(header, justify="center", no_wrap=True, min_width=len(header))
    for row in report.coverage:
        cells = [_CELL.get(row.aspects.get(a, ""), Text("–", style="dim")) for a in ASPECTS]
        table.add_row(escape(row.qualified_name), row.kind, *cells)
    return table


def render(report: Report, console: Console) -> None:
    if report.coverage:
        console.print(coverage_table(report))
        console.print(Text(_LEGEND, style="dim"))
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
    console.print()
    console.print(Text(f"{report.command}: {report.target} — {summary}", style="bold"))
