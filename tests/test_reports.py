"""Reports for machines and reviewers: JSON, JUnit (valid per schema), SARIF (valid per schema), HTML."""

import json
from pathlib import Path

import jsonschema
import psycopg
import pytest
import xmlschema

from tenantaudit.config import AuditConfig
from tenantaudit.findings import Severity
from tenantaudit.report import html, junit, sarif
from tenantaudit.report import json as json_report
from conftest import quote

SCHEMAS = Path(__file__).parent / "schemas"
HOSTILE = "<script>alert('x')</script>"


@pytest.fixture
def report(db):
    db.tenants()
    db.fenced_table("items")
    db.sql(f'CREATE TABLE public."{HOSTILE}" (id int, tenant_id uuid)')
    db.sql(f'GRANT SELECT ON public."{HOSTILE}" TO {quote(db.app_role)}')  # reachable: its findings stand
    db.sql("ALTER TABLE items DISABLE ROW LEVEL SECURITY")
    return db.audit(probe="write")


def test_json_is_versioned_and_carries_the_contract_fields(report):
    data = json.loads(json_report.render(report))
    assert data["format_version"] == 1 and data["command"] == "check"
    finding = data["findings"][0]
    for key in ("category", "check", "severity", "schema", "table", "message", "remediation"):
        assert key in finding
    assert {p["operation"] for p in data["probes"]} == {"read", "insert", "update", "delete", "move", "unset-read"}


def test_junit_is_valid_and_fails_the_right_cases(report):
    text = junit.render(report, fail_on=Severity.HIGH)
    xmlschema.XMLSchema(str(SCHEMAS / "junit.xsd")).validate(text)
    doc = xmlschema.XMLSchema(str(SCHEMAS / "junit.xsd")).to_dict(text)
    suite = doc["testsuite"][0]
    cases = {(c["@classname"], c["@name"]): c for c in suite["testcase"]}
    assert "failure" in cases[("tenantaudit.check.public", "items")]
    assert "failure" not in cases[("tenantaudit.check.public", "tenants")]
    assert int(suite["@failures"]) >= 2 and int(suite["@tests"]) == len(suite["testcase"])


def test_sarif_is_valid_with_rules_and_locations(report):
    data = json.loads(sarif.render(report))
    jsonschema.validate(data, json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text()))
    run = data["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert "rls-disabled" in rule_ids and len(rule_ids) == len(set(rule_ids))
    located = {
        r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]: r for r in run["results"] if r["ruleId"] == "rls-disabled"
    }
    assert set(located) == {"public.items", f"public.{HOSTILE}"}
    assert located["public.items"]["level"] == "error"


def test_html_is_self_contained_and_escapes_names(report):
    page = html.render(report)
    assert "Tenant fence, table by table" in page and "Cross-tenant probes" in page
    assert "rls-disabled" in page and "ENABLE ROW LEVEL SECURITY" in page
    assert HOSTILE not in page and "&lt;script&gt;" in page
    # the one script is the page's own filter, inline: the hostile name never became one
    assert page.count("<script") == 1 and "<script>\n(function ()" in page and " src=" not in page
    assert "http://" not in page and "https://" not in page
    # the verdict and the findings first, the grids after them, collapsible
    assert page.index('id="verdict"') < page.index("rls-disabled") < page.index("Tenant fence, table by table")
    assert page.index('<details class="grids"') < page.index('<table class="grid fence"')
    # items: one group, its probe findings folded under the catalogue finding
    groups = [g for g in page.split('<div class="group')[1:] if '<span class="where">public.items</span>' in g]
    assert len(groups) == 1, groups
    assert "rls-disabled" in groups[0] and "explains: probe-" in groups[0]


def test_rehearsal_report_renders_in_every_format(tmp_path):
    from tenantaudit.rehearsal.run import RehearsalOptions, rehearse

    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "001_t.up.sql").write_text("CREATE TABLE tenants (id uuid PRIMARY KEY);\nCREAT TABLE oops();")
    (folder / "001_t.down.sql").write_text("DROP TABLE tenants;")
    report = rehearse(RehearsalOptions(path=folder, config=AuditConfig()))
    text = junit.render(report)
    xmlschema.XMLSchema(str(SCHEMAS / "junit.xsd")).validate(text)
    assert "<skipped" in text and "migration-failed" in text
    data = json.loads(sarif.render(report))
    jsonschema.validate(data, json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text()))
    location = data["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"].endswith("001_t.up.sql") and location["region"]["startLine"] == 2
    assert "Rehearsal phases" in html.render(report)


def test_cli_writes_every_format(db, tmp_path):
    from conftest import quote, run_cli

    db.tenants()
    db.fenced_table()
    paths = {fmt: tmp_path / f"r.{fmt}" for fmt in ("json", "html", "junit", "sarif")}
    args = [a for fmt, p in paths.items() for a in (f"--{fmt}", str(p))]
    proc = run_cli("check", db.dsn, "--app-role", db.app_role, *args)
    assert proc.returncode == 0, proc.stderr
    assert all(p.stat().st_size > 0 for p in paths.values())
    proc = run_cli("check", db.dsn, "--json", "-", "--sarif", "-")
    assert proc.returncode == 2 and "only one report can go to stdout" in proc.stderr
