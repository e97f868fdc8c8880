"""The report at 2,000 tables with 20 planted defects: the terminal shows the verdict and every
defective table within its first 60 lines at 80 columns, the matrix only what needs attention
(every row with all_tables), the HTML stays under 500 KB with the verdict before the grids, and the
JSON is byte for byte what json.dumps(indent=2) gives."""

from __future__ import annotations

import io
import json
import re
import time

import pytest
import conftest
from conftest import quote
from rich.console import Console

from tenantaudit.report import html, terminal
from tenantaudit.report import json as json_report

N_TABLES = 2000
FENCE = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
# Every 100th table from t00007 on is defective, the kinds in turn: 5 of each, 20 in all.
KINDS = ("rls-disabled", "tenant-column-nullable", "tenant-fk-missing", "unique-without-tenant")
DEFECTS = {i: KINDS[(i // 100) % len(KINDS)] for i in range(1, N_TABLES + 1) if i % 100 == 7}
WITH_ROWS = sorted({1, 2, 3, 4, 5, *DEFECTS})  # two tenants' rows here; the other tables are empty


def name(i: int) -> str:
    return f"t{i:05d}"


def table_ddl(i: int, app_role: str) -> str:
    q = f"public.{name(i)}"
    kind = DEFECTS.get(i)
    nullable = kind == "tenant-column-nullable"
    fk = "" if kind == "tenant-fk-missing" else " REFERENCES public.tenants (id)"
    key = "PRIMARY KEY (id)" if nullable else "PRIMARY KEY (tenant_id, id)"  # a key column is NOT NULL
    unique = f", CONSTRAINT {name(i)}_name_key UNIQUE (name)" if kind == "unique-without-tenant" else ""
    parts = [
        f"CREATE TABLE {q} (id uuid NOT NULL DEFAULT gen_random_uuid(), "
        f"tenant_id uuid{'' if nullable else ' NOT NULL'}{fk}, name text NOT NULL, {key}{unique});"
    ]
    if nullable or kind == "tenant-fk-missing":  # an index leading with tenant_id all the same
        parts.append(f"CREATE INDEX {name(i)}_tenant_idx ON {q} (tenant_id);")
    if kind != "rls-disabled":
        parts.append(f"ALTER TABLE {q} ENABLE ROW LEVEL SECURITY; ALTER TABLE {q} FORCE ROW LEVEL SECURITY;")
    parts.append(f"CREATE POLICY tenant_isolation ON {q} USING ({FENCE}) WITH CHECK ({FENCE});")
    parts.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {q} TO {quote(app_role)};")
    return "\n".join(parts)


@pytest.fixture(scope="module")
def scale(sandbox):
    """One database for the module (the db fixture is per test): 2,000 fenced tables, 20 defects."""
    with conftest.fresh_database(sandbox, "_scale") as db:
        started = time.monotonic()
        db.tenants()
        db.sql(f"INSERT INTO public.tenants (name) VALUES ('a'), ('b');"
               f"GRANT SELECT ON public.tenants TO {quote(db.app_role)}")
        # In chunks: one transaction creating thousands of tables would exhaust the lock table.
        for start in range(1, N_TABLES + 1, 250):
            db.sql("\n".join(table_ddl(i, db.app_role) for i in range(start, min(N_TABLES, start + 249) + 1)))
        db.sql("\n".join(
            f"INSERT INTO public.{name(i)} (tenant_id, name) "
            f"SELECT id, name || '-' || g FROM public.tenants, generate_series(1, {1 + i % 3}) g;"
            for i in WITH_ROWS
        ) + "\nANALYZE")
        built = time.monotonic()
        report = db.audit()  # the defaults: read probes and data checks
        print(f"built in {built - started:.1f}s, audited in {time.monotonic() - built:.1f}s")
        yield report


def render_terminal(report, **options) -> tuple[str, float]:
    """As cli.py renders for a pipe: a Console that is not a terminal, here 80 columns wide."""
    out = io.StringIO()
    started = time.perf_counter()
    terminal.render(report, Console(file=out, width=80, highlight=False), **options)
    return out.getvalue(), time.perf_counter() - started


def test_the_audit_found_the_planted_defects(scale):
    found = {(f.category, f.table) for f in scale.findings}
    assert {(kind, name(i)) for i, kind in DEFECTS.items()} <= found
    assert {f.table for f in scale.findings if f.category == "probe-read-leak"} == {
        name(i) for i, kind in DEFECTS.items() if kind == "rls-disabled"}


def test_terminal_verdict_and_every_defective_table_within_60_lines(scale):
    text, seconds = render_terminal(scale)
    lines = text.splitlines()
    head = lines[:60]
    print(f"terminal: {len(lines)} lines in {seconds:.3f}s; the first 60:", *head, sep="\n")
    assert lines[0].startswith("FAIL: ") and "5 tables leak across tenants" in lines[0]
    missing = [name(i) for i in DEFECTS if f"public.{name(i)}" not in "\n".join(head)]
    assert not missing, missing
    # each defect a headline of its own catalogue category (or one naming the objects it spans, if
    # the head would not fit otherwise), never a probe finding's
    for kind in KINDS:
        assert any(re.match(rf"(CRITICAL|HIGH|MEDIUM) +{kind} (public\.t\d{{5}}:|on \d+ tables:)", line) for line in head), kind
    assert not [line for line in head if re.match(r"\S+ +probe-", line)]
    # the probe leaks folded under the missing RLS, not blocks of their own
    assert any("explains: probe-read-leak, probe-unset-leak" in line for line in head)
    assert not [line for line in lines if line != line.rstrip()], "trailing spaces"
    assert max(map(len, lines)) <= 80
    # the matrix after the findings, listing only the defective tables and the tenants table
    assert text.index("public.t01907") < text.index("Tenant fence, table by table")
    fenced = N_TABLES - len(DEFECTS)
    assert f"{fenced:,} tables fully fenced" in text
    rows = [line for line in lines if re.match(r"public\.\S+ +(tenant|tenants) ", line)]
    assert {line.split()[0] for line in rows} == {f"public.{name(i)}" for i in DEFECTS} | {"public.tenants"}
    assert seconds < 1.0


def test_terminal_all_tables_lists_every_row(scale):
    text, seconds = render_terminal(scale, all_tables=True)
    print(f"terminal --all-tables: {text.count(chr(10))} lines in {seconds:.3f}s")
    rows = {line.split()[0] for line in text.splitlines() if re.match(r"public\.\S+ +(tenant|tenants) ", line)}
    assert rows == {f"public.{name(i)}" for i in range(1, N_TABLES + 1)} | {"public.tenants"}
    assert f"{N_TABLES - len(DEFECTS):,} tables fully fenced" in text
    assert not [line for line in text.splitlines() if line != line.rstrip()]


def test_terminal_honours_no_color(scale, monkeypatch):
    colour = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-79]|4[0-79]|9[0-7]|10[0-7]|38;|48;)")
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = io.StringIO()
    terminal.render(scale, Console(file=out, width=80, highlight=False, force_terminal=True))
    assert colour.search(out.getvalue())  # a terminal gets colour ...
    monkeypatch.setenv("NO_COLOR", "1")
    out = io.StringIO()
    terminal.render(scale, Console(file=out, width=80, highlight=False, force_terminal=True))
    assert not colour.search(out.getvalue())  # ... unless NO_COLOR says no
    assert out.getvalue().startswith("\x1b[1m") or out.getvalue().startswith("FAIL")


def test_html_under_500_kb_with_the_verdict_first_and_nothing_lost(scale):
    started = time.perf_counter()
    page = html.render(scale)
    seconds = time.perf_counter() - started
    size = len(page.encode("utf-8"))
    print(f"html: {size:,} bytes in {seconds:.3f}s")
    assert size < 500_000
    assert page.index('id="verdict"') < page.index("rls-disabled") < page.index('<table class="grid')
    assert ">FAIL</span>" in page
    for i in range(1, N_TABLES + 1):  # every table still has its row in both grids
        assert page.count(f"<td>public.{name(i)}<td") == 2, i
    assert page.count("<script") == 1


def test_json_is_byte_for_byte_json_dumps(scale):
    started = time.perf_counter()
    text = json_report.render(scale)
    seconds = time.perf_counter() - started
    print(f"json: {len(text):,} bytes in {seconds:.3f}s")
    assert text == json.dumps(json_report.to_dict(scale), indent=2, sort_keys=False) + "\n"
    data = json.loads(text)
    assert len(data["probes"]) == len(scale.probes) and data["probes"][0] == scale.probes[0].to_dict()
    assert data["findings"][0] == scale.sorted_findings()[0].to_dict()
    assert data["data_results"][0] == scale.data_results[0].to_dict()
