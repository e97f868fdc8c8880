"""Machine-readable report. Versioned: ``format_version`` changes when a field changes meaning.

Fields: ``format_version``, ``tool``, ``command``, ``target`` (DSN without password),
``server_version``, ``settings``, ``context`` (the tenant context judged under: ``model``
setting/mapped/membership/role, ``tenant_column``, ``tenant_table``, ``setting``, ``json_path``,
``membership``, ``session``, ``role_column``, ``claims``, ``inferred``, ``evidence``,
``description``; null for rehearsals), ``summary`` (counts per severity, ``worst``), ``findings``
(each: ``category``, ``check``, ``severity``, ``schema``, ``table``, ``object_kind``,
``title``, ``message``, ``remediation``, and for rehearsals ``phase``, ``migration``, ``line``),
``coverage`` (each: ``schema``, ``table``, ``kind``, ``aspects`` mapping aspect to pass/fail/n/a),
``data_results`` (each: ``schema``, ``table``, ``check`` tenant-null-rows or orphan-tenant-rows,
``outcome`` pass/fail/proven by constraint/not proven, ``detail``), ``probes`` (each: ``schema``,
``table``, ``operation`` read/insert/update/delete/move/unset-read, ``outcome`` pass/leak/fails
closed by error/not proven/skipped, ``detail``), ``sequences_advanced`` (sequences a write probe
advanced: nextval is not rolled back), ``notes``, ``phases``, ``locks``, ``incomplete`` (one line
per server-side cause that left part of the audit unproven: a lock not granted, a schema the
auditor may not use, a check that could not run; non-empty means the CLI exits 4 unless findings
fail), ``unaudited`` (each: ``schema``, ``object``, ``kind``, ``reason``: the objects the audit could
not look at, or only partly, with why and the fix), ``probe_batches`` (write-probe transactions,
each rolled back; null when none ran). ``summary.complete`` is false when ``incomplete`` or
``unaudited`` is non-empty: an empty ``findings`` then does not mean clean.
"""

from __future__ import annotations

import json
from typing import Any

from .. import __version__
from ..findings import REPORT_FORMAT_VERSION, Report


def _tally(outcomes) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome] = counts.get(outcome, 0) + 1
    return dict(sorted(counts.items()))


def to_dict(report: Report) -> dict[str, Any]:
    worst = report.worst_severity()
    return {
        "format_version": REPORT_FORMAT_VERSION,
        "tool": {"name": "tenantaudit", "version": __version__},
        "command": report.command,
        "target": report.target,
        "server_version": report.server_version,
        "settings": report.settings,
        "context": report.context,
        "summary": {
            "counts": report.counts(),
            "worst": worst.value if worst else None,
            "probe_outcomes": _tally(p.outcome for p in report.probes),
            "data_outcomes": _tally(d.outcome for d in report.data_results),
            "complete": not (report.incomplete or report.unaudited),
            "unaudited": len(report.unaudited),
        },
        "findings": [f.to_dict() for f in report.sorted_findings()],
        "coverage": [
            {"schema": c.schema, "table": c.table, "kind": c.kind, "aspects": c.aspects} for c in report.coverage
        ],
        "data_results": [d.to_dict() for d in report.data_results],
        "probes": [p.to_dict() for p in report.probes],
        "sequences_advanced": report.sequences_advanced,
        "notes": report.notes,
        "phases": report.phases,
        "locks": report.locks,
        "incomplete": report.incomplete,
        "unaudited": report.unaudited,
        "probe_batches": report.probe_batches,
    }


def render(report: Report) -> str:
    return json.dumps(to_dict(report), indent=2, sort_keys=False) + "\n"
