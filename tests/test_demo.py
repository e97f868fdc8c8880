"""The README's main command: the bundled example on an embedded PostgreSQL."""

import json

from conftest import run_cli


def test_demo_as_written_shows_matrix_and_findings_and_exits_1():
    proc = run_cli("demo", env={"COLUMNS": "120"}, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "Tenant fence, table by table" in proc.stdout
    for expected in ("rls-disabled", "tenant-column-nullable", "cross-tenant-foreign-key",
                     "setting-cast-unsafe", "unique-without-tenant", "public.company_search_cache"):
        assert expected in proc.stdout
    # the verdict first, then the findings grouped by root cause, the matrix after them
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("FAIL: ") and "leak across tenants" in lines[0]
    assert proc.stdout.index("rls-disabled public.company_search_cache") < proc.stdout.index("Tenant fence, table by table")
    assert "explains: probe-read-leak" in proc.stdout  # the cache tables' leaks folded under their missing RLS
    assert not [line for line in lines if line != line.rstrip()]


def test_demo_corrected_has_nothing_at_high_and_exits_0():
    proc = run_cli("demo", "--corrected", "--json", "-", timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [f for f in report["findings"] if f["severity"] in ("high", "critical")] == []
    assert {c["table"] for c in report["coverage"] if c["kind"] == "tenant"} == {
        "leads", "company_search_cache", "employees_cache", "voice_calls", "voice_agents", "voices", "phone_numbers"}
