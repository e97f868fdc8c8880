"""Terminal rendering with rich, for a person at any size of database.

The order: the verdict as a word (PASS / FAIL / INCOMPLETE, and why), the counts, what the audit
took "the current tenant" to mean and what was configured; then the findings grouped by root
cause (one group per object, a headline, what it explains, one line for the fix); then the
matrices, listing only the tables with a failing or unproven aspect (``all_tables``: every row).
Every line is laid out here to the console's width and printed as is: no padding, no trailing
spaces, colour only where the console has it (rich honours NO_COLOR and non-terminals).
"""

from __future__ import annotations

import re
from pathlib import Path

from rich.console import Console
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
    Finding,
    Report,
    Severity,
)
from .grouping import (
    FENCED_KINDS,
    Cluster,
    Group,
    attention,
    cluster,
    count_lines,
    group_findings,
    plural,
    settings_line,
    verdict,
)

SEVERITY_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
VERDICT_STYLE = {"PASS": "bold green", "FAIL": "bold red", "INCOMPLETE": "bold magenta"}
# The verdict and every finding group within this many lines (two screens of 30) when they can be.
HEAD_LINES = 60
# Objects not audited listed at the top when there are at most this many (else after the findings).
UNAUDITED_AT_TOP = 5
# Names listed per "not proven" reason unless all_tables.
NAMES_PER_REASON = 4
_SEV_WIDTH = 8
_INDENT = " " * (_SEV_WIDTH + 1)

_MARKS = {PASS: ("✓", "green"), FAIL: ("✗", "bold red")}
# Short headers keep the matrix readable in an 80-column terminal; the legend spells them out.
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
_PROBE_MARKS = {
    PASS: ("✓", "green"),
    LEAK: ("✗", "bold red"),
    FAILS_CLOSED_BY_ERROR: ("!", "yellow"),
    NOT_PROVEN: ("?", "magenta"),
    SKIPPED: ("·", "dim"),
}
_PROBE_LEGEND = "✓ pass · ✗ leak · ! fails closed by error · ? not proven · · skipped"
_PHASE_MARKS = {"passed": ("✓", "green"), "passed with findings": ("!", "yellow"), "failed": ("✗", "bold red")}


class _Layout:
    """Lines fitted to one width: each Text appended here is one physical line."""

    def __init__(self, console: Console, width: int):
        self.console = console
        self.width = max(20, width)
        self.lines: list[Text] = []

    def wrap(self, text: str | Text, *, indent: int = 0, style: str = "") -> list[Text]:
        """Word-wrapped to the width, continuation lines indented."""
        t = text if isinstance(text, Text) else Text(text, style=style)
        out = []
        for i, line in enumerate(t.wrap(self.console, self.width - indent, justify="default", overflow="fold")):
            line.rstrip()
            out.append(Text(" " * indent) + line if indent and i else line)
        return out

    def fit(self, text: Text) -> Text:
        """One line, cut with an ellipsis where it is wider than the console."""
        text.rstrip()
        if text.cell_len > self.width:
            text.truncate(self.width, overflow="ellipsis")
        return text

    def add(self, *lines: Text) -> None:
        self.lines.extend(lines)

    def blank(self) -> None:
        if self.lines and self.lines[-1].plain:
            self.lines.append(Text())

    def height(self, line: Text) -> int:
        """Rows a line takes on the screen (lines kept whole are wrapped by the terminal)."""
        return max(1, -(-line.cell_len // self.width))


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _short(message: str, f: Finding) -> str:
    """The message without the object's name where the headline already shows it."""
    text = _one_line(message)
    name = f.qualified_name
    if not name:
        return text
    for lead in (name + ".", name + ": ", name + " "):
        if text.startswith(lead):
            text = text[len(lead):]
            break
    for joint in (" on ", " in ", " of "):
        text = text.replace(joint + name + ":", ":").replace(joint + name + " ", " ")
    return text


# -- findings -------------------------------------------------------------------------------------


def _where(f: Finding) -> str:
    location = Path(f.migration).name + (f":{f.line}" if f.line else "") if f.migration else ""
    if not f.qualified_name:
        return location or (f"[{f.phase}]" if f.phase else "-")
    where = f.qualified_name
    if location:
        where += f" [{location}]"
    elif f.phase:
        where += f" [{f.phase}]"
    return where


def _headline(layout: _Layout, severity: Severity, category: str, subject: str, message: str) -> Text:
    line = Text()
    line.append(severity.value.upper().ljust(_SEV_WIDTH), style=SEVERITY_STYLE[severity])
    line.append(" ")
    line.append(category, style="bold")
    line.append(" ")
    line.append(subject, style="bold cyan")
    room = layout.width - line.cell_len - 2
    if message and room >= 12:
        line.append(": " + _one_line(message))
        return layout.fit(line)
    return line  # the object is never cut: the terminal wraps a name wider than the screen


def _explains_line(layout: _Layout, group: Group) -> Text | None:
    explained = group.explained()
    if not explained:
        return None
    head = group.headline
    parts = []
    for category, n, severity in explained:
        part = category + (f" ×{n}" if n > 1 else "")
        if severity.rank > head.severity.rank:
            part += f" ({severity.value})"
        parts.append(part)
    label = "with: " if head.category.startswith("probe-") or head.category in ("tenant-null-rows", "orphan-tenant-rows") else "explains: "
    return layout.fit(Text(_INDENT + label, style="dim") + Text(", ".join(parts), style="magenta"))


def _also_lines(layout: _Layout, group: Group) -> list[Text]:
    out = []
    for f in group.also:
        line = Text(_INDENT + "also ", style="dim")
        line.append(f.severity.value.upper(), style=SEVERITY_STYLE[f.severity])
        line.append(" " + f.category, style="bold")
        if f.message:
            line.append(": " + _short(f.message, f))
        out.append(layout.fit(line))
    return out


def _fix_line(layout: _Layout, remediation: str | None, label: str = "fix: ") -> Text | None:
    if not remediation:
        return None
    return layout.fit(Text(_INDENT + label, style="dim") + Text(_one_line(remediation), style="green"))


def _group_lines(layout: _Layout, item: Group | Cluster) -> list[Text]:
    if isinstance(item, Group):
        f = item.headline
        lines = [_headline(layout, f.severity, f.category, _where(f), _short(f.message, f))]
        explains = _explains_line(layout, item)
        lines += [explains] if explains else []
        lines += _also_lines(layout, item)
        fix = _fix_line(layout, f.remediation)
        return lines + ([fix] if fix else [])
    first = item.first
    f = first.headline
    noun = {"table": ("table", "tables")}.get(f.object_kind, (f.object_kind, f.object_kind + "s"))
    lines = [_headline(layout, f.severity, f.category, f"on {plural(len(item.groups), *noun)}", f.title or "")]
    names = [_where(g.headline) for g in item.groups]
    lines += layout.wrap(Text(_INDENT + ", ".join(names), style="bold cyan"), indent=len(_INDENT))
    explains = _explains_line(layout, first)
    lines += [Text(explains.plain.replace("explains: ", "each explains: ", 1), style="magenta")] if explains else []
    lines += _also_lines(layout, first)
    fix = _fix_line(layout, f.remediation, label=f"fix, e.g. {f.qualified_name}: " if f.qualified_name else "fix, e.g.: ")
    return lines + ([fix] if fix else [])


# -- matrices -------------------------------------------------------------------------------------


def _name_width(names: list[str]) -> int:
    return max(12, min(48, max(map(len, names), default=0)))


def _shown(name: str, width: int) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def _names(names: list[str], all_tables: bool) -> str:
    if all_tables or len(names) <= NAMES_PER_REASON + 1:
        return ", ".join(names)
    more = len(names) - NAMES_PER_REASON
    return ", ".join(names[:NAMES_PER_REASON]) + f" … and {more:,} more (--all-tables lists them)"


def coverage_section(layout: _Layout, report: Report, listed: set, all_tables: bool) -> None:
    """The fence matrix: the tables that need attention (every table with all_tables), then the
    count of the others."""
    rows = [row for row in report.coverage if all_tables or (row.schema, row.table) in listed]
    hidden = [row for row in report.coverage if (row.schema, row.table) not in listed]
    fenced = sum(1 for row in hidden if row.kind in FENCED_KINDS)
    others = len(hidden) - fenced
    title = Text("Tenant fence, table by table", style="bold")
    if not all_tables:
        title.append(f": {len(report.coverage) - len(hidden):,} of {plural(len(report.coverage), 'table')} "
                     "failing or unproven")
    layout.add(*layout.wrap(title))
    if rows:
        names = [row.qualified_name for row in rows]
        name_width = _name_width(names)
        kind_width = 9
        widths = [max(3, len(_ASPECT_HEADERS[a])) for a in ASPECTS]
        header = "table".ljust(name_width) + "  " + "kind".ljust(kind_width)
        header += "".join(" " + _ASPECT_HEADERS[a].center(w) for a, w in zip(ASPECTS, widths))
        layout.add(layout.fit(Text(header, style="bold")), layout.fit(Text("─" * len(header.rstrip()), style="dim")))
        for name, row in zip(names, rows):
            line = Text(_shown(name, name_width).ljust(name_width) + "  " + row.kind.ljust(kind_width))
            for aspect, width in zip(ASPECTS, widths):
                mark, style = _MARKS.get(row.aspects.get(aspect, ""), ("–", "dim"))
                line.append(" " + mark.center(width), style=style)
            layout.add(layout.fit(line))
    summary = f"{plural(fenced, 'table')} fully fenced"
    if others:
        kinds = sorted({row.kind for row in hidden if row.kind not in FENCED_KINDS})
        summary += f"; {plural(others, 'other table')} ({', '.join(kinds)}) with nothing to report"
    if hidden and not all_tables:
        summary += " (--all-tables lists every row)"
    layout.add(*layout.wrap(Text(summary, style="green" if fenced else "")))
    if rows:
        layout.add(*layout.wrap(Text(_LEGEND, style="dim")))


def probe_section(layout: _Layout, report: Report, listed: set, all_tables: bool) -> None:
    """Table × operation outcomes of the probes for the tables that need attention, then one line
    per reason anything was not proven or failed closed, naming its tables."""
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for probe in report.probes:
        cells.setdefault((probe.schema, probe.table), {})[probe.operation] = probe.outcome
    shown = [key for key in cells if all_tables or key in listed]
    title = Text("Cross-tenant probes, as the application role", style="bold")
    if not all_tables:
        title.append(f": {len(shown):,} of {plural(len(cells), 'table')} listed")
    layout.add(*layout.wrap(title))
    if shown:
        names = [f"{s}.{t}" for s, t in shown]
        name_width = _name_width(names)
        widths = [len(op) for op in PROBE_OPERATIONS]
        header = "table".ljust(name_width) + "".join(" " + op.center(w) for op, w in zip(PROBE_OPERATIONS, widths))
        layout.add(layout.fit(Text(header, style="bold")), layout.fit(Text("─" * len(header), style="dim")))
        for name, key in zip(names, shown):
            row = cells[key]
            line = Text(_shown(name, name_width).ljust(name_width))
            for op, width in zip(PROBE_OPERATIONS, widths):
                mark, style = _PROBE_MARKS.get(row.get(op, SKIPPED), ("·", "dim"))
                line.append(" " + mark.center(width), style=style)
            layout.add(layout.fit(line))
        layout.add(layout.fit(Text(_PROBE_LEGEND, style="dim")))
    hidden = [row for key, row in cells.items() if key not in shown]
    if hidden:
        passed = sum(1 for row in hidden if PASS in row.values() and set(row.values()) <= {PASS, SKIPPED})
        parts = [f"{plural(passed, 'table')} passed every probe that ran"] if passed else []
        if len(hidden) > passed:
            parts.append(f"{len(hidden) - passed:,} not proven for the reasons below")
        summary = ", ".join(parts) + ("" if all_tables else " (--all-tables lists every row)")
        layout.add(*layout.wrap(Text(summary, style="green" if passed == len(hidden) else ""), indent=2))
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for p in report.probes:
        if p.outcome in (NOT_PROVEN, FAILS_CLOSED_BY_ERROR):
            grouped.setdefault((p.operation, p.outcome, p.detail), []).append(f"{p.schema}.{p.table}")
    for (operation, outcome, detail), tables in sorted(grouped.items()):
        text = f"{operation} {outcome} on {plural(len(tables), 'table')}: {detail} — {_names(tables, all_tables)}"
        layout.add(*layout.wrap(Text("  " + text, style="dim"), indent=4))


def phase_lines(layout: _Layout, report: Report) -> list[Text]:
    out = [Text("Rehearsal phases", style="bold")]
    for phase in report.phases:
        mark, style = _PHASE_MARKS.get(phase["status"], ("·", "dim"))
        out.append(layout.fit(Text(f"{mark} {phase['name']:<12} {phase['status']:<21} {phase['seconds']:>7.2f}s", style=style)))
        for detail in phase["details"]:
            out += layout.wrap(Text(f"    {detail}", style="dim"), indent=6)
    return out


def lock_section(layout: _Layout, report: Report) -> None:
    """Statements whose locks block reads or writes of a table that already held rows."""
    heavy = [
        (trace, lock)
        for trace in report.locks
        for lock in trace.get("locks", [])
        if lock.get("blocks") and lock.get("rows")
    ]
    layout.add(*layout.wrap(Text(f"Locks: {len(report.locks)} statements traced, {len(heavy)} blocking locks on tables with rows", style="bold")))
    for trace, lock in heavy:
        where = f"{Path(trace['file']).name}:{trace['line']}"
        layout.add(*layout.wrap(f"  {where:<36} {lock['mode']:<24} {lock['relation']} ({lock['rows']} rows): blocks {lock['blocks']}", indent=6))
        layout.add(layout.fit(Text(f"      {_one_line(trace['statement'])}", style="dim")))


def unaudited_lines(report: Report) -> list[str]:
    lines = []
    for u in report.unaudited:
        where = ".".join(part for part in (u.get("schema"), u.get("object")) if part)
        lines.append(f"not audited: {where} ({u.get('kind', 'table')}) — {u.get('reason', '')}")
    return lines


# -- the report -----------------------------------------------------------------------------------


def render(report: Report, console: Console, *, fail_on: Severity | str | None = None, all_tables: bool = False) -> None:
    layout = _Layout(console, console.width)
    judged = verdict(report, fail_on)
    groups = group_findings(report.findings)

    head = Text(judged.word, style=VERDICT_STYLE.get(judged.word, "bold"))
    head.append(": " + judged.why, style="bold")
    layout.add(*layout.wrap(head))
    for line in count_lines(report, groups):
        layout.add(*layout.wrap(line, indent=2))
    configured = settings_line(report)
    if configured:
        layout.add(*layout.wrap(Text(configured, style="dim"), indent=2))
    if report.context:  # what "the current tenant" was taken to mean: every verdict depends on it
        layout.add(*layout.wrap(Text(report.context["description"], style="cyan"), indent=2))
    # Before any finding: a partial audit must not read as a clean one. Kept whole (they carry
    # the GRANT that fixes them and who holds a lock): the terminal wraps them.
    soft = [Text(f"INCOMPLETE: {line}", style="bold magenta") for line in report.incomplete]
    unaudited = unaudited_lines(report)
    late_unaudited = len(unaudited) > UNAUDITED_AT_TOP
    if late_unaudited:
        soft.append(Text(f"not audited: {plural(len(unaudited), 'object')}, listed after the findings", style="bold magenta"))
    else:
        soft += [Text(line, style="bold magenta") for line in unaudited]
    layout.add(*soft)
    if report.phases:
        layout.blank()
        layout.add(*phase_lines(layout, report))

    used = sum(layout.height(line) for line in layout.lines) + 2
    if groups:
        budget = max(20, HEAD_LINES - used)
        items = cluster(groups, lambda item: len(_group_lines(layout, item)), budget)
        layout.blank()
        title = f"Findings by root cause, most severe first: {plural(len(report.findings), 'finding')}"
        title += f" on {plural(len(groups), 'object')}"
        if len(items) < len(groups):
            title += " (same-shaped objects told together)"
        layout.add(*layout.wrap(Text(title, style="bold")))
        for item in items:
            layout.add(*_group_lines(layout, item))
        if any(line.plain.endswith("…") for line in layout.lines):
            layout.add(layout.fit(Text("(… cut to fit: --html or --json carry every message and fix in full)", style="dim")))

    if late_unaudited:
        layout.blank()
        layout.add(*[Text(line, style="magenta") for line in unaudited])
    listed = attention(report)
    if report.coverage:
        layout.blank()
        coverage_section(layout, report, listed, all_tables)
    if report.probes:
        layout.blank()
        probe_section(layout, report, listed, all_tables)
    unproven: dict[tuple[str, str], list[str]] = {}
    for d in report.data_results:
        if d.outcome == NOT_PROVEN:
            unproven.setdefault((d.check, d.detail), []).append(f"{d.schema}.{d.table}")
    if unproven:
        layout.blank()
    for (check, detail), tables in sorted(unproven.items()):
        text = f"data {check} not proven on {plural(len(tables), 'table')}: {detail} — {', '.join(tables)}"
        layout.add(*layout.wrap(Text(text, style="magenta"), indent=4))
    if report.locks:
        layout.blank()
        lock_section(layout, report)
    if report.sequences_advanced:
        layout.blank()
        layout.add(*layout.wrap(Text("sequences advanced by the write probes (nextval is not rolled back): "
                                     + ", ".join(report.sequences_advanced), style="dim"), indent=2))
    for note in report.notes:
        layout.add(*layout.wrap(Text("note: " + note, style="dim"), indent=2))
    layout.blank()
    closing = Text(f"{report.command}: {report.target} — ", style="bold")
    closing.append(judged.word, style=VERDICT_STYLE.get(judged.word, "bold"))
    closing.append(": " + judged.why, style="bold")
    layout.add(*layout.wrap(closing, indent=2))
    if console.color_system is None:  # a pipe (or TERM=dumb): no styles to render, skip rich's styling work
        console.print(Text("\n".join(line.plain for line in layout.lines)), soft_wrap=True, crop=False)
    else:
        console.print(Text("\n").join(layout.lines), soft_wrap=True, crop=False)
