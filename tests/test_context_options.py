"""The tenant context options through the real CLI: one-line errors naming the option and the
fix (exit 2), the config file form, repeated --app-role, and the context line in every report."""

from __future__ import annotations

import json

import pytest

from conftest import quote
from test_cli import run_cli


@pytest.fixture
def fenced(db):
    db.tenants()
    db.fenced_table("items")
    return db


@pytest.mark.parametrize(
    "args, names",
    [
        (["--context", "tenancy"], ["--context", "setting, mapped, membership or role"]),
        (["--context", "mapped"], ["--tenant-key"]),
        (["--context", "membership"], ["--membership"]),
        (["--membership", "public.account_user(user_id)"], ["--membership", "two"]),
        (["--membership", "public.account_user(user_id, account_id)", "--role-column", "db_user"], ["cannot be combined"]),
        (["--claim", "user_role"], ["--claim", "NAME=VALUE"]),
        (["--membership", "public.nowhere(user_id, account_id)", "--user-setting", "app.user_id"], ["public.nowhere", "does not exist"]),
        (["--context", "role", "--role-column", "db_user"], ["--role-column", "has no column db_user"]),
    ],
)
def test_bad_context_options_fail_in_one_line_naming_the_option(fenced, args, names):
    proc = run_cli("check", fenced.dsn, "--app-role", fenced.app_role, *args)
    print(proc.returncode, proc.stderr)
    assert proc.returncode == 2
    first = proc.stderr.strip().splitlines()[0]
    assert all(name in proc.stderr for name in names), proc.stderr
    assert "Traceback" not in proc.stderr and first


def test_the_config_file_names_the_context_and_the_report_prints_it(fenced, tmp_path):
    fenced.sql("ALTER TABLE public.tenants ADD COLUMN slug text UNIQUE")
    (tmp_path / "tenantaudit.toml").write_text('context = "mapped"\ntenant-key = "slug"\nsetting = "app.tenant"\n')
    proc = run_cli("check", fenced.dsn, "--app-role", fenced.app_role, "--probe", "none", "--json", "-", cwd=tmp_path)
    print(proc.stderr)
    context = json.loads(proc.stdout)["context"]
    print(context)
    assert (context["model"], context["mapped_key"], context["setting"], context["inferred"]) == ("mapped", "slug", "app.tenant", False)
    # the policy reads the tenant id, not the slug: under the configured model it is not a fence
    categories = {f["category"] for f in json.loads(proc.stdout)["findings"]}
    assert "policy-not-tenant-scoped" in categories, categories


def test_repeated_app_roles_each_count_for_exposure(fenced):
    anon = fenced.role("anon")
    fenced.sql(f"CREATE ROLE {quote(anon)} NOLOGIN; CREATE TABLE public.open_t (id int, tenant_id uuid NOT NULL);"
               f"GRANT SELECT ON public.open_t TO {quote(anon)}")
    one = json.loads(run_cli("check", fenced.dsn, "--app-role", fenced.app_role, "--probe", "none", "--json", "-").stdout)
    both = json.loads(run_cli("check", fenced.dsn, "--app-role", fenced.app_role, "--app-role", anon,
                              "--probe", "none", "--json", "-").stdout)
    severity = {r: {f["category"]: f["severity"] for f in d["findings"] if f["table"] == "open_t"} for r, d in (("one", one), ("both", both))}
    print(severity)
    assert severity["one"]["rls-disabled"] == "low"  # nobody the app logs in as reaches it
    assert severity["both"]["rls-disabled"] == "critical"  # anon can read it
    missing = run_cli("check", fenced.dsn, "--app-role", fenced.app_role, "--app-role", "no_such_role_x")
    assert missing.returncode == 2 and "no_such_role_x" in missing.stderr, missing.stderr


def test_every_renderer_prints_the_context(fenced, tmp_path):
    paths = {k: tmp_path / f"r.{k}" for k in ("html", "junit", "sarif")}
    proc = run_cli("check", fenced.dsn, "--app-role", fenced.app_role, "--probe", "none",
                   *[x for k, p in paths.items() for x in (f"--{k}", str(p))], env={"COLUMNS": "200"})
    print(proc.stdout[:500])
    line = "tenant context: setting (inferred): tenant_id of public.tenants"
    assert line in proc.stdout
    assert line in paths["html"].read_text() and line in paths["junit"].read_text()
    sarif = json.loads(paths["sarif"].read_text())
    assert sarif["runs"][0]["properties"]["tenantContext"]["model"] == "setting"
