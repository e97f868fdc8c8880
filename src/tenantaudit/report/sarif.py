"""SARIF 2.1.0 for code-scanning UIs: one rule per category, one result per finding.

Findings from migrations point at their file and line; catalog findings carry a logical
location (schema.table, view, function or role). Severity maps to level: critical and high are
errors, medium warnings, low and info notes.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import __version__
from ..audit.catalog import builtin_checks
from ..findings import Finding, Report, Severity

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}


def _rules(findings: list[Finding]) -> list[dict]:
    catalogue = {c.category: c for c in builtin_checks()}
    rules, seen = [], set()
    for f in findings:
        if f.category in seen:
            continue
        seen.add(f.category)
        check = catalogue.get(f.category)
        rule = {
            "id": f.category,
            "name": "".join(part.capitalize() for part in f.category.split("-")),
            "shortDescription": {"text": (check.title if check else f.title) or f.category},
            "defaultConfiguration": {"level": LEVEL[check.severity if check else f.severity]},
        }
        if check:
            rule["fullDescription"] = {"text": check.why}
            rule["help"] = {"text": check.fix}
        rules.append(rule)
    return rules


def _result(f: Finding, rule_index: dict[str, int]) -> dict:
    text = f.message + (f"\nFix:\n{f.remediation}" if f.remediation else "")
    result: dict = {
        "ruleId": f.category,
        "ruleIndex": rule_index[f.category],
        "level": LEVEL[f.severity],
        "message": {"text": text},
        "properties": {"severity": f.severity.value, "check": f.check, "phase": f.phase},
    }
    location: dict = {}
    if f.migration and f.line:
        location["physicalLocation"] = {
            "artifactLocation": {"uri": Path(f.migration).as_posix()},
            "region": {"startLine": f.line},
        }
    if f.table or f.schema:
        location["logicalLocations"] = [{"fullyQualifiedName": f.qualified_name, "kind": f.object_kind}]
    if location:
        result["locations"] = [location]
    return result


def to_dict(report: Report) -> dict:
    findings = report.sorted_findings()
    rules = _rules(findings)
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "tenantaudit",
                "version": __version__,
                "rules": rules,
            }},
            "automationDetails": {"id": f"tenantaudit/{report.command}/"},
            # A partial audit is not a clean one: what was not audited, and why, one notification each.
            "invocations": [{
                "executionSuccessful": not (report.incomplete or report.unaudited),
                "toolExecutionNotifications": [
                    {"level": "error", "message": {"text": line}, "descriptor": {"id": "incomplete"}}
                    for line in report.incomplete
                ] + [
                    {
                        "level": "error",
                        "message": {"text": "not audited: "
                                    + ".".join(p for p in (u.get("schema"), u.get("object")) if p)
                                    + f" ({u.get('kind', 'table')}) — {u.get('reason', '')}"},
                        "descriptor": {"id": "not-audited"},
                        "locations": [{"logicalLocations": [{
                            "fullyQualifiedName": ".".join(p for p in (u.get("schema"), u.get("object")) if p),
                            "kind": u.get("kind", "table"),
                        }]}],
                    }
                    for u in report.unaudited
                ],
            }],
            "results": [_result(f, index) for f in findings],
            # the tenant context every verdict was judged under (null for rehearsals)
            "properties": {"tenantContext": report.context},
        }],
    }


def render(report: Report) -> str:
    return json.dumps(to_dict(report), indent=2) + "\n"
