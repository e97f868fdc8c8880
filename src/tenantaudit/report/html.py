"""A self-contained HTML page for reviewers: no scripts, no external assets, everything escaped."""

from __future__ import annotations

from datetime import datetime, timezone

from jinja2 import Environment, PackageLoader, select_autoescape

from .. import __version__
from ..findings import ASPECTS, PROBE_OPERATIONS, Report, Severity

_ENV = Environment(
    loader=PackageLoader("tenantaudit", "report/templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(report: Report, *, fail_on: Severity = Severity.HIGH) -> str:
    findings = report.sorted_findings()
    probes: dict[str, dict[str, object]] = {}
    for probe in report.probes:
        probes.setdefault(f"{probe.schema}.{probe.table}", {})[probe.operation] = probe
    return _ENV.get_template("report.html.j2").render(
        report=report,
        version=__version__,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        severities=list(Severity),
        findings=findings,
        by_severity={s: [f for f in findings if f.severity is s] for s in Severity},
        counts=report.counts(),
        failed=report.fails(fail_on),
        incomplete=bool(report.incomplete or report.unaudited),
        fail_on=fail_on.value,
        aspects=list(ASPECTS),
        operations=PROBE_OPERATIONS,
        probes=probes,
        heavy_locks=[(t, lock) for t in report.locks for lock in t.get("locks", []) if lock.get("blocks") and lock.get("rows")],
    )
