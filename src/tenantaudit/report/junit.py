"""JUnit XML for CI servers: one test case per audited table and per rehearsal phase.

A test case fails when it carries a finding at or above --fail-on; findings below it are listed
in system-out. Phases that did not run are skipped. An object the audit could not look at
(Report.unaudited: a table another session locked, a schema the auditor may not use) is an
errored test case, never a pass; and when the audit is incomplete a test case "audit complete"
errors with each cause. Valid against the windyroad JUnit schema.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

from ..findings import Finding, Report, Severity


def _case(suite: ET.Element, classname: str, name: str, seconds: float = 0.0) -> ET.Element:
    return ET.SubElement(suite, "testcase", name=name, classname=classname, time=f"{seconds:.3f}")


def _describe(findings: list[Finding]) -> str:
    lines = []
    for f in findings:
        where = f" [{f.migration}:{f.line}]" if f.migration and f.line else ""
        lines.append(f"{f.severity.value} {f.category}{where}: {f.message}")
        if f.remediation:
            lines.append("  fix: " + f.remediation.replace("\n", "\n       "))
    return "\n".join(lines)


def _judge(case: ET.Element, findings: list[Finding], fail_on: Severity, counts: dict[str, int]) -> None:
    failing = [f for f in findings if f.severity.at_least(fail_on)]
    if failing:
        failure = ET.SubElement(
            case, "failure", type=failing[0].category,
            message="; ".join(sorted({f"{f.category} ({f.severity.value})" for f in failing})),
        )
        failure.text = _describe(failing)
        counts["failures"] += 1


def _error(case: ET.Element, entry: dict, counts: dict[str, int]) -> None:
    error = ET.SubElement(case, "error", type="not-audited", message="not audited: " + entry.get("reason", ""))
    error.text = entry.get("reason", "")
    counts["errors"] += 1


def render(report: Report, *, fail_on: Severity = Severity.HIGH) -> str:
    root = ET.Element("testsuites")
    suite = ET.SubElement(
        root, "testsuite",
        name=f"tenantaudit.{report.command}", package="tenantaudit", id="0",
        timestamp=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
        hostname=socket.gethostname() or "localhost",
    )
    properties = ET.SubElement(suite, "properties")
    if report.context:
        ET.SubElement(properties, "property", name="tenant_context", value=report.context["description"])
    counts = {"tests": 0, "failures": 0, "skipped": 0, "errors": 0}
    unaudited = {(u.get("schema") or "", u.get("object") or ""): u for u in report.unaudited}
    findings = report.sorted_findings()
    placed: set[int] = set()

    for phase in report.phases:
        case = _case(suite, f"tenantaudit.{report.command}.phase", phase["name"], phase["seconds"])
        counts["tests"] += 1
        mine = [f for f in findings if f.phase == phase["name"] and f.object_kind != "table"]
        placed.update(id(f) for f in mine)
        if phase["status"] == "not run":
            ET.SubElement(case, "skipped", message="not run: an earlier phase failed")
            counts["skipped"] += 1
        elif phase["status"] == "failed" and not any(f.severity.at_least(fail_on) for f in mine):
            failure = ET.SubElement(case, "failure", type="phase-failed", message=f"{phase['name']} failed")
            failure.text = "\n".join(phase["details"])
            counts["failures"] += 1
        else:
            _judge(case, mine, fail_on, counts)

    for row in report.coverage:
        mine = [f for f in findings if (f.schema, f.table) == (row.schema, row.table) and f.object_kind == "table"]
        placed.update(id(f) for f in mine)
        case = _case(suite, f"tenantaudit.{report.command}.{row.schema}", row.table)
        counts["tests"] += 1
        _judge(case, mine, fail_on, counts)
        entry = unaudited.pop((row.schema, row.table), None)
        if entry is not None:  # judged from the catalogue only: part of it was not audited
            if case.find("failure") is not None:
                case.find("failure").text += "\nnot audited in part: " + entry.get("reason", "")
            else:
                _error(case, entry, counts)
    # objects not audited at all (not in the coverage): errored, not passed
    for (schema, name), entry in unaudited.items():
        mine = [f for f in findings if (f.schema, f.table) == (schema, name) and f.object_kind == "table"]
        placed.update(id(f) for f in mine)  # found before a lock came mid-audit: kept on the same case
        case = _case(suite, f"tenantaudit.{report.command}.{schema or entry.get('kind', 'object')}", name)
        counts["tests"] += 1
        _judge(case, mine, fail_on, counts)
        if case.find("failure") is not None:
            case.find("failure").text += "\nnot audited: " + entry.get("reason", "")
        else:
            _error(case, entry, counts)
    if report.incomplete:
        case = _case(suite, f"tenantaudit.{report.command}", "audit complete")
        counts["tests"] += 1
        error = ET.SubElement(case, "error", type="incomplete", message=report.incomplete[0])
        error.text = "\n".join(report.incomplete)
        counts["errors"] += 1

    # findings on objects that are not audited tables: roles, views, functions, partitions, data loss
    rest: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        if id(f) not in placed:
            rest.setdefault((f.schema or f.object_kind, f.table or f.category), []).append(f)
    for (classname, name), mine in rest.items():
        case = _case(suite, f"tenantaudit.{report.command}.{classname}", name)
        counts["tests"] += 1
        _judge(case, mine, fail_on, counts)

    below = [f for f in findings if not f.severity.at_least(fail_on)]
    ET.SubElement(suite, "system-out").text = _describe(below) + ("\n" if below else "") + "\n".join(report.notes)
    ET.SubElement(suite, "system-err").text = ""
    suite.set("tests", str(counts["tests"]))
    suite.set("failures", str(counts["failures"]))
    suite.set("errors", str(counts["errors"]))
    suite.set("skipped", str(counts["skipped"]))
    suite.set("time", f"{sum(p['seconds'] for p in report.phases):.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
