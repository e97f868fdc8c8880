"""A self-contained HTML page for reviewers: no external assets, everything escaped, one inline
script (the filter). The verdict and the findings grouped by root cause come first; the grids
follow, collapsed, in a markup compact enough for thousands of tables (cells without end tags,
a column's most common cell written once, in the style sheet, as the content of its empty cells;
each probe detail written once, as a numbered note)."""

from __future__ import annotations

from datetime import datetime, timezone

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from .. import __version__
from ..findings import ASPECTS, FAIL, FAILS_CLOSED_BY_ERROR, LEAK, NOT_PROVEN, PASS, PROBE_OPERATIONS, Report, Severity
from .grouping import attention, count_lines, group_findings, settings_line, verdict

_ENV = Environment(
    loader=PackageLoader("tenantaudit", "report/templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
# Grids open by themselves up to this many rows; larger ones wait for a click (or the filter).
OPEN_GRID_ROWS = 50

_FENCE_CELLS = {PASS: "<td>", FAIL: "<td class=f>✗"}  # an empty cell is a pass (the style sheet says ✓)
_FENCE_NA = "<td class=n>–"
_PROBE_CLASS = {PASS: ("", "✓"), LEAK: (" class=f", "✗"), FAILS_CLOSED_BY_ERROR: (" class=e", "!"),
                NOT_PROVEN: (" class=u", "?")}
_PROBE_OTHER = (" class=n", "·")  # skipped


def _fence_rows(report: Report, listed: set) -> Markup:
    rows = []
    for row in report.coverage:
        cells = "".join(_FENCE_CELLS.get(row.aspects.get(a), _FENCE_NA) for a in ASPECTS)
        mark = " class=x" if (row.schema, row.table) in listed else ""
        rows.append(f"<tr{mark}><td>{escape(row.qualified_name)}<td>{escape(row.kind)}{cells}")
    return Markup("\n".join(rows))


def _probe_rows(report: Report, listed: set) -> tuple[Markup, list[tuple[int, str, str, str]], Markup]:
    """The probe grid's rows, its notes (number, operation(s), outcome, detail: each distinct
    detail once; a cell carries its note's number) and the style rules that fill each column's
    empty cells with that column's most common cell."""
    notes: dict[tuple[str, str], int] = {}
    ops: dict[int, list[str]] = {}
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for p in report.probes:
        key = (p.outcome, p.detail)
        number = notes.get(key)
        if number is None:
            number = notes[key] = len(notes) + 1
            ops[number] = []
        if p.operation not in ops[number]:
            ops[number].append(p.operation)
        css, mark = _PROBE_CLASS.get(p.outcome, _PROBE_OTHER)
        cells.setdefault((p.schema, p.table), {})[p.operation] = f"<td{css}>{mark}{number}"
    common: dict[str, str] = {}
    style = []
    for column, op in enumerate(PROBE_OPERATIONS, start=2):
        seen: dict[str, int] = {}
        for row in cells.values():
            cell = row.get(op)
            if cell:
                seen[cell] = seen.get(cell, 0) + 1
        if seen:
            cell = common[op] = max(seen, key=seen.__getitem__)
            css, content = cell[3:].split(">", 1)
            colour = {" class=f": "#b3261e", " class=e": "#a05a00", " class=u": "#7a3fa0", " class=n": "#aaa"}.get(css, "#17612a")
            style.append(f'.probes td:nth-child({column}):empty::before {{ content: "{content}"; color: {colour}; }}')
    rows = []
    for (schema, table), row in cells.items():
        mark = " class=x" if (schema, table) in listed else ""
        tds = "".join("<td>" if row.get(op) == common.get(op) else row.get(op, "<td class=n>–") for op in PROBE_OPERATIONS)
        rows.append(f"<tr{mark}><td>{escape(schema)}.{escape(table)}{tds}")
    legend = [(n, ", ".join(ops[n]), outcome, detail) for (outcome, detail), n in notes.items()]
    return Markup("\n".join(rows)), legend, Markup("\n".join(style))


def render(report: Report, *, fail_on: Severity = Severity.HIGH) -> str:
    groups = group_findings(report.findings)
    listed = attention(report)
    probe_rows, probe_notes, probe_style = _probe_rows(report, listed)
    probed = len({(p.schema, p.table) for p in report.probes})
    return _ENV.get_template("report.html.j2").render(
        report=report,
        version=__version__,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        verdict=verdict(report, fail_on),
        count_lines=count_lines(report, groups),
        settings_line=settings_line(report),
        severities=list(Severity),
        groups=groups,
        counts=report.counts(),
        incomplete=bool(report.incomplete or report.unaudited),
        fail_on=fail_on.value,
        aspects=list(ASPECTS),
        operations=PROBE_OPERATIONS,
        fence_rows=_fence_rows(report, listed),
        fence_listed=sum(1 for row in report.coverage if (row.schema, row.table) in listed),
        probe_rows=probe_rows,
        probe_notes=probe_notes,
        probe_style=probe_style,
        probed=probed,
        probe_listed=len({(p.schema, p.table) for p in report.probes} & listed),
        open_rows=OPEN_GRID_ROWS,
        unproven_data=[d for d in report.data_results if d.outcome == NOT_PROVEN],
        heavy_locks=[(t, lock) for t in report.locks for lock in t.get("locks", []) if lock.get("blocks") and lock.get("rows")],
    )
