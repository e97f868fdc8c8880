"""The command as a user runs it: exit codes, one-line errors, no secrets, and --help."""

import json
import socket
import threading

import pytest
from conftest import run_cli

from tenantaudit.sandbox import free_tcp_port


def assert_one_line_error(proc, code: int, *needles: str) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def fenced(db):
    db.tenants()
    db.fenced_table()
    return db


def test_clean_database_exits_0_and_writes_json(fenced, tmp_path):
    out = tmp_path / "report.json"
    proc = run_cli("check", fenced.dsn, "--app-role", fenced.app_role, "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["format_version"] == 1 and report["findings"] == []
    assert {c["table"] for c in report["coverage"]} == {"items", "tenants"}


def test_findings_at_or_above_fail_on_exit_1(fenced):
    fenced.sql(
        "ALTER TABLE items ALTER COLUMN body SET NOT NULL; CREATE TABLE public.loose (id int);"
        f"GRANT SELECT, INSERT ON public.loose TO {fenced.app_role}"  # the app may write it: high
    )
    proc = run_cli("check", fenced.dsn, "--app-role", fenced.app_role, "--json", "-")
    assert proc.returncode == 1
    categories = {f["category"] for f in json.loads(proc.stdout)["findings"]}
    assert "tenant-column-missing" in categories
    # the same findings under a stricter threshold do not fail the run
    proc = run_cli("check", fenced.dsn, "--app-role", fenced.app_role, "--fail-on", "critical", "--json", "-")
    assert proc.returncode == 0


def test_terminal_report_shows_matrix_and_fix(fenced):
    fenced.sql("ALTER TABLE items DISABLE ROW LEVEL SECURITY")
    proc = run_cli("check", fenced.dsn, "--app-role", fenced.app_role, env={"COLUMNS": "160"})
    assert proc.returncode == 1
    assert "public.items" in proc.stdout and "rls-disabled" in proc.stdout
    assert "ENABLE ROW LEVEL SECURITY" in proc.stdout


def test_terminal_report_opens_with_the_verdict_and_lists_only_tables_that_need_it(fenced):
    fenced.fenced_table("other")
    fenced.sql("ALTER TABLE items DISABLE ROW LEVEL SECURITY")

    def fence_matrix(out: str) -> str:
        start = out.index("Tenant fence, table by table")
        return out[start: out.index("fully fenced", start)]

    proc = run_cli("check", fenced.dsn, "--app-role", fenced.app_role, env={"COLUMNS": "80"})
    print(proc.stdout)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("FAIL: ")
    assert not [line for line in lines if line != line.rstrip()]  # no padding in a pipe
    assert max(map(len, lines)) <= 80
    assert proc.stdout.index("rls-disabled public.items") < proc.stdout.index("Tenant fence, table by table")
    assert "public.items" in fence_matrix(proc.stdout) and "public.other" not in fence_matrix(proc.stdout)
    assert "1 table fully fenced" in proc.stdout
    proc = run_cli("check", fenced.dsn, "--app-role", fenced.app_role, "--all-tables", env={"COLUMNS": "80"})
    assert proc.returncode == 1
    assert "public.other" in fence_matrix(proc.stdout) and "public.tenants" in fence_matrix(proc.stdout)
    # the same audit, clean: PASS
    fenced.sql("ALTER TABLE items ENABLE ROW LEVEL SECURITY")
    proc = run_cli("check", fenced.dsn, "--app-role", fenced.app_role)
    assert proc.returncode == 0 and proc.stdout.startswith("PASS: ")


def test_config_file_supplies_options_and_cli_overrides(fenced, tmp_path):
    fenced.sql("CREATE TABLE public.countries (code text PRIMARY KEY)")
    (tmp_path / "tenantaudit.toml").write_text('global-tables = ["public.countries"]\nfail-on = "critical"\n')
    proc = run_cli("check", fenced.dsn, "--app-role", fenced.app_role, "--json", "-", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["findings"] == []
    proc = run_cli("check", fenced.dsn, "--app-role", fenced.app_role, "--fail-on", "info", cwd=tmp_path)
    assert proc.returncode == 0  # still no findings: countries is global by the file


def test_bad_config_file_names_file_and_option(fenced, tmp_path):
    (tmp_path / "tenantaudit.toml").write_text('tenant-colum = "tid"\n')
    proc = run_cli("check", fenced.dsn, cwd=tmp_path)
    assert_one_line_error(proc, 2, "tenantaudit.toml", "tenant-colum")
    (tmp_path / "tenantaudit.toml").write_text('fail-on = "urgent"\n')
    assert_one_line_error(run_cli("check", fenced.dsn, cwd=tmp_path), 2, "fail-on", "urgent")


def test_bad_option_value_exits_2(fenced):
    assert_one_line_error(run_cli("check", fenced.dsn, "--fail-on", "urgent"), 2, "--fail-on")
    assert_one_line_error(run_cli("check", fenced.dsn, "--statement-timeout", "soon"), 2, "--statement-timeout")


def test_malformed_dsn_exits_2(fenced):
    assert_one_line_error(run_cli("check", "host=localhost bogus=1"), 2, "DSN is malformed")


def test_unknown_tenant_table_role_and_schema_exit_2(fenced):
    assert_one_line_error(run_cli("check", fenced.dsn, "--tenant-table", "public.accounts"), 2, "public.accounts", "--tenant-table")
    assert_one_line_error(run_cli("check", fenced.dsn, "--app-role", "nobody_here"), 2, "nobody_here")
    assert_one_line_error(run_cli("check", fenced.dsn, "--schema", "nope"), 2, "nope")
    assert_one_line_error(run_cli("check", fenced.dsn, "--global-table", "nope.nope"), 2, "nope.nope")


def test_server_down_exits_3():
    port = free_tcp_port()
    proc = run_cli("check", f"postgresql://u@127.0.0.1:{port}/db")
    assert_one_line_error(proc, 3, "no PostgreSQL server is listening", str(port))


def test_wrong_password_exits_3_and_never_shows_it(db):
    role = db.role("login")
    db.sql(f"CREATE ROLE \"{role}\" LOGIN PASSWORD 'right-secret'")
    dsn = db.sandbox.tcp_dsn(db.name, role, "wrong-s3cret-value")
    proc = run_cli("check", dsn)
    line = assert_one_line_error(proc, 3, "authentication failed", role)
    assert "wrong-s3cret-value" not in proc.stdout + proc.stderr


def test_password_is_not_in_any_output(fenced):
    role = fenced.role("auditor")
    fenced.sql(f"CREATE ROLE \"{role}\" LOGIN PASSWORD 'hunter2-very-secret'")
    dsn = fenced.sandbox.tcp_dsn(fenced.name, role, "hunter2-very-secret")
    proc = run_cli("check", dsn, "--json", "-")
    # 4: this auditor may not SELECT the tables the data checks read (they are listed as not audited)
    assert proc.returncode in (0, 1, 4), proc.stderr
    assert "hunter2" not in proc.stdout + proc.stderr
    assert "host=127.0.0.1" in json.loads(proc.stdout)["target"]
    proc = run_cli("check", dsn, env={"COLUMNS": "200"})
    assert "hunter2" not in proc.stdout + proc.stderr


def test_server_that_is_not_postgresql_exits_3():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def answer_like_a_web_server():
        for _ in range(4):  # libpq may retry (SSL, then plain)
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(1024)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            conn.close()

    thread = threading.Thread(target=answer_like_a_web_server, daemon=True)
    thread.start()
    try:
        proc = run_cli("check", f"postgresql://u@127.0.0.1:{port}/db?connect_timeout=5")
    finally:
        listener.close()
    assert_one_line_error(proc, 3, "did not answer as PostgreSQL")


def test_missing_catalog_privilege_exits_3(fenced):
    role = fenced.role("weak")
    fenced.sql(f"CREATE ROLE \"{role}\" LOGIN PASSWORD 'pw'; REVOKE SELECT ON pg_catalog.pg_constraint FROM PUBLIC")
    proc = run_cli("check", fenced.sandbox.tcp_dsn(fenced.name, role, "pw"))
    assert_one_line_error(proc, 3, "missing privilege", "pg_constraint")


def test_help_teaches(tmp_path):
    proc = run_cli("--help")
    assert proc.returncode == 0
    assert "check" in proc.stdout and "demo" in proc.stdout and "Exit codes" in proc.stdout
    proc = run_cli("check", "--help")
    for option in ("--tenant-column", "--tenant-table", "--setting", "--app-role", "--schema",
                   "--global-table", "--fail-on", "--json", "--statement-timeout", "--all-tables"):
        assert option in proc.stdout
    assert run_cli("--version").stdout.startswith("tenantaudit ")


def test_checks_lists_the_catalogue_and_shows_one_check():
    proc = run_cli("checks", env={"COLUMNS": "160"})
    assert proc.returncode == 0
    assert "rls-disabled" in proc.stdout and "partition-rls-gap" in proc.stdout
    proc = run_cli("checks", "setting-cast-unsafe", env={"COLUMNS": "160"})
    assert proc.returncode == 0
    assert "why:" in proc.stdout and "SELECT" in proc.stdout and "%(setting)s" in proc.stdout
    assert_one_line_error(run_cli("checks", "no-such-check"), 2, "no-such-check")


def test_timeouts_cannot_be_switched_off(fenced):
    assert_one_line_error(run_cli("check", fenced.dsn, "--statement-timeout", "0"), 2, "--statement-timeout")
    assert_one_line_error(run_cli("check", fenced.dsn, "--data-timeout", "0s"), 2, "--data-timeout")
    assert_one_line_error(run_cli("check", fenced.dsn, "--statement-timeout", "99999999h"), 2, "--statement-timeout")


def test_more_bad_inputs_are_one_line_usage_errors(fenced, tmp_path):
    fenced.sql("CREATE VIEW tenants_v AS SELECT * FROM tenants")
    assert_one_line_error(run_cli("check", fenced.dsn, "--tenant-table", "tenants_v"), 2, "not a table")
    assert_one_line_error(run_cli("check", fenced.dsn + " connect_timeout=abc"), 2, "DSN")
    assert_one_line_error(run_cli("check", fenced.dsn, "--setting", "tenant"), 2, "--setting")
    (tmp_path / "latin1.sql").write_bytes("-- id: x\n-- caf\xe9\n".encode("latin-1"))
    assert_one_line_error(run_cli("check", fenced.dsn, "--checks-dir", str(tmp_path)), 2, "UTF-8")
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert_one_line_error(run_cli("check", fenced.dsn, "--json", str(blocked / "r.json")), 2, "--json")


def test_statement_timeout_hit_mid_audit_says_so(fenced, tmp_path):
    (tmp_path / "slow.sql").write_text(
        "-- id: slow\n-- category: slow-check\n-- severity: low\n-- title: t\n-- why: w\n-- fix: f\n"
        "SELECT NULL::text AS schema_name, NULL::text AS object_name, NULL::text AS object_kind,"
        " NULL::text AS severity, 'x' AS message, NULL::text AS remediation FROM pg_sleep(2) ORDER BY 1;\n"
    )
    proc = run_cli("check", fenced.dsn, "--checks-dir", str(tmp_path), "--statement-timeout", "200ms")
    assert_one_line_error(proc, 3, "slow", "statement timeout", "--statement-timeout")
