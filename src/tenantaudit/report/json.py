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
from collections import Counter
from dataclasses import fields
from operator import attrgetter
from typing import Any

from .. import __version__
from ..findings import REPORT_FORMAT_VERSION, DataResult, Finding, ProbeResult, Report


def _flat(cls):
    """A dataclass of scalars as a dict, in field order, without dataclasses.asdict's deep copy."""
    names = tuple(f.name for f in fields(cls))
    get = attrgetter(*names)
    return lambda obj: dict(zip(names, get(obj)))


_finding = _flat(Finding)
_data_result = _flat(DataResult)
_probe = _flat(ProbeResult)


def _finding_dict(f: Finding) -> dict[str, Any]:
    data = _finding(f)
    data["severity"] = f.severity.value
    return data


def _tally(outcomes) -> dict[str, int]:
    return dict(sorted(Counter(outcomes).items()))


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
        "findings": [_finding_dict(f) for f in report.sorted_findings()],
        "coverage": [
            {"schema": c.schema, "table": c.table, "kind": c.kind, "aspects": c.aspects} for c in report.coverage
        ],
        "data_results": [_data_result(d) for d in report.data_results],
        "probes": [_probe(p) for p in report.probes],
        "sequences_advanced": report.sequences_advanced,
        "notes": report.notes,
        "phases": report.phases,
        "locks": report.locks,
        "incomplete": report.incomplete,
        "unaudited": report.unaudited,
        "probe_batches": report.probe_batches,
    }


# json.dumps(..., indent=2) runs the pure-Python encoder over every value; the C encoder only works
# without indent. _dumps gives the same bytes: containers are laid out here, and a container that
# holds only scalars (a probe, a finding, a coverage row's aspects) goes to the C encoder whole, with
# the separators that indent=2 would have used at its depth.
_SCALARS = (str, int, float, bool, type(None))
_INDENT = 2
_encoders: dict[int, json.JSONEncoder] = {}


def _encoder(depth: int) -> json.JSONEncoder:
    encoder = _encoders.get(depth)
    if encoder is None:
        encoder = _encoders[depth] = json.JSONEncoder(separators=(",\n" + " " * (_INDENT * depth), ": "))
    return encoder


_SCALAR_TYPES = frozenset(_SCALARS)


def _all_scalars(values) -> bool:
    values = tuple(values)
    # the exact types first, at C speed; then subclasses (a str enum) the slow way
    return all(map(_SCALAR_TYPES.__contains__, map(type, values))) or all(isinstance(v, _SCALARS) for v in values)


def _is_str(key) -> bool:
    return isinstance(key, str)


def _dumps(value, depth: int, out: list[str]) -> None:
    if isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = " " * (_INDENT * (depth + 1))
        str_keys = all(map(_is_str, value))
        if str_keys and _all_scalars(value.values()):
            text = _encoder(depth + 1).encode(value)
            out.append("{\n" + inner + text[1:-1] + "\n" + " " * (_INDENT * depth) + "}")
            return
        if not str_keys:  # keys json converts (numbers, None): leave it to json
            out.append(json.dumps(value, indent=_INDENT).replace("\n", "\n" + " " * (_INDENT * depth)))
            return
        out.append("{\n")
        first = True
        for key, item in value.items():
            if not first:
                out.append(",\n")
            first = False
            out.append(inner + json.encoder.encode_basestring_ascii(key) + ": ")
            _dumps(item, depth + 1, out)
        out.append("\n" + " " * (_INDENT * depth) + "}")
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        inner = " " * (_INDENT * (depth + 1))
        if _all_scalars(value):
            text = _encoder(depth + 1).encode(value)
            out.append("[\n" + inner + text[1:-1] + "\n" + " " * (_INDENT * depth) + "]")
            return
        if all(type(item) is dict and item and all(map(_is_str, item)) and _all_scalars(item.values()) for item in value):
            # a list of flat objects (probes, findings): one C encode at the objects' depth; a newline
            # never occurs inside a JSON string, so "},\n<indent>{" only ever joins two items
            item_inner = " " * (_INDENT * (depth + 2))
            text = _encoder(depth + 2).encode(value)
            joint = "\n" + inner + "},\n" + inner + "{\n" + item_inner
            out.append("[\n" + inner + "{\n" + item_inner + text[2:-2].replace("},\n" + item_inner + "{", joint)
                       + "\n" + inner + "}\n" + " " * (_INDENT * depth) + "]")
            return
        out.append("[\n")
        first = True
        for item in value:
            if not first:
                out.append(",\n")
            first = False
            out.append(inner)
            _dumps(item, depth + 1, out)
        out.append("\n" + " " * (_INDENT * depth) + "]")
    else:
        out.append(json.dumps(value, indent=_INDENT).replace("\n", "\n" + " " * (_INDENT * depth)))


def render(report: Report) -> str:
    out: list[str] = []
    _dumps(to_dict(report), 0, out)
    return "".join(out) + "\n"
