"""Every error line says the real cause, once, and never echoes a password or the DSN.

Through the real CLI (tests/conftest.py's run_cli) and real PostgreSQL: DSNs that libpq reads
differently from what the user meant, config files that are not UTF-8, report paths that
cannot be created, a --tenant-column no table has, long table names in index remediations,
and --statement-timeout as the bound for data checks and probes too.
"""

from __future__ import annotations

import json
import time

import psycopg
import pytest
from conftest import quote, run_cli

from tenantaudit.sandbox import free_tcp_port

PASSWORD_PARTS = ("s3cr", "Qz7", "wq9x")


def one_line_error(proc, code: int, *needles: str) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def no_secret(proc, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in proc.stdout + proc.stderr, (secret, proc.stderr)


# ---- DSNs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password", ["s3cr@Qz7wq9x", "s3cr/Qz7wq9x", "s3cr/Qz7@wq9x", "s3cr@Qz7/wq9x"], ids=["at", "slash", "slash-at", "at-slash"]
)
def test_unencoded_at_or_slash_in_a_uri_password_is_named_without_echoing_it(password):
    port = free_tcp_port()  # nothing listens: the line must be about the DSN, before any connection
    proc = run_cli("check", f"postgresql://alice:{password}@127.0.0.1:{port}/app")
    line = one_line_error(proc, 2, "unencoded '@' or '/'", "%40", "%2F", "PGPASSWORD")
    print(line)
    no_secret(proc, *PASSWORD_PARTS, "127.0.0.1", str(port))


def test_percent_encoded_password_is_accepted(db):
    role = db.role("enc")
    db.sql(f"CREATE ROLE {quote(role)} LOGIN PASSWORD 's3cr@Qz7/wq9x'; GRANT CONNECT ON DATABASE {quote(db.name)} TO {quote(role)}")
    host, port = db.sandbox.tcp_dsn(db.name, role, "x").split("@", 1)[1].split("/", 1)[0].split(":")
    dsn = f"postgresql://{role}:s3cr%40Qz7%2Fwq9x@{host}:{port}/{db.name}"
    proc = run_cli("check", dsn, "--json", "-", "--probe", "none", "--no-data-checks")
    assert proc.returncode in (0, 1, 2), proc.stderr  # connected: whatever the audit says, not a DSN error
    assert "DSN" not in proc.stderr and "authentication" not in proc.stderr, proc.stderr
    no_secret(proc, *PASSWORD_PARTS)


@pytest.mark.parametrize(
    "dsn, cause",
    [
        ("host=localhost dbname", "missing '=' after 'dbname'"),
        ("host localhost", "missing '=' after 'host'"),
        ("host=localhost bogus=1", "unknown option 'bogus'"),
        ("host='localhost", "a quote that is not closed"),
        ("postgresql://h/d?bogus=1", "unknown URI parameter 'bogus'"),
    ],
)
def test_malformed_dsn_gives_the_real_cause(dsn, cause):
    line = one_line_error(run_cli("check", dsn), 2, "DSN is malformed", cause)
    assert "(missing)" not in line


@pytest.mark.parametrize(
    "dsn",
    [
        "host=localhost password=s3cr Qz7wq9x",  # unquoted space: libpq quotes back "Qz7wq9x"
        "host=localhost password=s3cr Qz7=wq9x",  # reads as an option named Qz7
        "postgresql://alice:s3cr Qz7wq9x@localhost/app",  # libpq quotes the whole userinfo
        "postgresql://alice:s3cr%zzQz7wq9x@localhost/app",  # bad percent-encoding, quoted back
        "postgresql://alice:s3crQz7wq9x@[::1/app",  # libpq quotes the whole URI
    ],
)
def test_a_dsn_that_cannot_be_parsed_is_never_echoed(dsn):
    proc = run_cli("check", dsn)
    print(one_line_error(proc, 2, "DSN is malformed"))
    no_secret(proc, *PASSWORD_PARTS, "alice")


def test_port_that_is_not_a_number_says_so():
    one_line_error(run_cli("check", "host=localhost port=abc"), 2, "port 'abc'", "is not a number")
    one_line_error(run_cli("check", "host=localhost", env={"PGPORT": "abc"}), 2, "port 'abc' in PGPORT", "is not a number")
    one_line_error(run_cli("check", "host=localhost port=99999"), 2, "port '99999'", "out of range")
    # in a URI the port is not quoted back: "alice:secret/" (the '@host' forgotten) reads as host:port
    proc = run_cli("check", "postgresql://alice:s3crQz7wq9x/app")
    one_line_error(proc, 2, "port", "is not a number")
    no_secret(proc, *PASSWORD_PARTS)


# ---- config files -----------------------------------------------------------------------------


@pytest.mark.parametrize("name, text", [
    ("tenantaudit.toml", b'app-role = "caf\xe9"\n'),
    ("pyproject.toml", b'[tool.tenantaudit]\napp-role = "caf\xe9"\n'),
])
def test_config_file_that_is_not_utf8_is_a_one_line_error(tmp_path, name, text):
    (tmp_path / name).write_bytes(text)
    one_line_error(run_cli("check", f"host=127.0.0.1 port={free_tcp_port()}", cwd=tmp_path), 2, name, "not UTF-8", "save the file as UTF-8")
    proc = run_cli("check", "host=127.0.0.1", "--config", str(tmp_path / name))
    one_line_error(proc, 2, name, "not UTF-8")


# ---- report paths -----------------------------------------------------------------------------


def test_report_path_that_cannot_be_created_fails_before_connecting(tmp_path):
    port = free_tcp_port()  # nothing listens: reaching the connection would be exit 3
    dsn = f"postgresql://u@127.0.0.1:{port}/db?connect_timeout=30"
    started = time.monotonic()
    proc = run_cli("check", dsn, "--json", "/proc/x/y.json")
    one_line_error(proc, 2, "--json /proc/x/y.json", "cannot be written")
    assert time.monotonic() - started < 20
    # nothing is left behind by the proof: neither a file nor the folders it made
    target = tmp_path / "new" / "deeper" / "r.html"
    proc = run_cli("check", dsn, "--html", str(target))
    one_line_error(proc, 3, "no PostgreSQL server is listening")
    assert not (tmp_path / "new").exists()
    # an existing report is not truncated by the proof when the audit then fails
    existing = tmp_path / "old.json"
    existing.write_text('{"previous": true}')
    one_line_error(run_cli("check", dsn, "--json", str(existing)), 3)
    assert existing.read_text() == '{"previous": true}'
    one_line_error(run_cli("check", dsn, "--json", "-", "--sarif", "-"), 2, "only one report can go to stdout")
    one_line_error(run_cli("check", dsn, "--json", str(existing), "--sarif", str(existing)), 2, "both write")


# ---- a wrong --tenant-column ------------------------------------------------------------------


@pytest.fixture
def org_schema(db):
    db.sql(
        """
        CREATE TABLE public.tenants (id uuid PRIMARY KEY DEFAULT gen_random_uuid());
        CREATE TABLE public.users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          org_id uuid NOT NULL REFERENCES public.tenants);
        CREATE TABLE public.projects (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          org_id uuid NOT NULL REFERENCES public.tenants, owner_id uuid REFERENCES public.users);
        CREATE TABLE public.tasks (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          org_id uuid NOT NULL REFERENCES public.tenants, project_id uuid REFERENCES public.projects);
        """
    )
    return db


def test_tenant_column_no_table_has_names_the_shared_one(org_schema):
    proc = run_cli("check", org_schema.dsn)
    line = one_line_error(proc, 2, "no table has a column tenant_id (--tenant-column)", "3 tables share org_id",
                          "pass --tenant-column org_id")
    print(line)
    # with the column named, the audit runs (findings or not, no usage error)
    proc = run_cli("check", org_schema.dsn, "--tenant-column", "org_id", "--json", "-")
    assert proc.returncode in (0, 1), proc.stderr
    assert not any(f["category"] == "tenant-column-missing" for f in json.loads(proc.stdout)["findings"])


def test_tenant_column_without_foreign_keys_is_found_by_type(db):
    db.sql(
        """
        CREATE TABLE public.tenants (id bigint PRIMARY KEY);
        CREATE TABLE public.a (id bigint PRIMARY KEY, account bigint NOT NULL, n int);
        CREATE TABLE public.b (id bigint PRIMARY KEY, account bigint NOT NULL, n int);
        """
    )
    one_line_error(run_cli("check", db.dsn), 2, "2 tables share account", "pass --tenant-column account")


def test_one_table_without_the_column_is_still_a_finding(db):
    db.tenants()
    db.sql("CREATE TABLE public.notes (id serial PRIMARY KEY, body text)")
    proc = run_cli("check", db.dsn, "--json", "-")
    assert proc.returncode == 1, proc.stderr
    assert [f["table"] for f in json.loads(proc.stdout)["findings"] if f["category"] == "tenant-column-missing"] == ["notes"]


# ---- index names that fit 63 bytes --------------------------------------------------------------


def test_index_remediation_for_63_byte_table_names_runs_and_stays_unique(db):
    db.tenants()
    names = ["t" * 60 + "abc", "t" * 60 + "abd", "ü" * 25 + "x" * 13]  # 63 bytes each (ü is 2 bytes)
    assert all(len(n.encode()) == 63 for n in names)
    for name in names:
        db.sql(f"CREATE TABLE public.{quote(name)} (id uuid PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants)")
    proc = run_cli("check", db.dsn, "--json", "-", "--probe", "none")
    findings = [f for f in json.loads(proc.stdout)["findings"] if f["category"] == "tenant-index-missing"]
    assert sorted(f["table"] for f in findings) == sorted(names)
    for finding in findings:
        print(finding["remediation"])
        db.sql(finding["remediation"])  # CREATE INDEX CONCURRENTLY: autocommit, one statement
    indexes = db.sql(
        "SELECT c.relname, i.relname FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid"
        " JOIN pg_class i ON i.oid = x.indexrelid WHERE c.relname = ANY (%s) AND x.indkey[0] = 2",
        (names,),
    )
    assert len(indexes) == 3 and len({index for _, index in indexes}) == 3
    assert all(len(index.encode()) <= 63 and index != table for table, index in indexes)
    proc = run_cli("check", db.dsn, "--json", "-", "--probe", "none")
    assert not [f for f in json.loads(proc.stdout)["findings"] if f["category"] == "tenant-index-missing"]


def test_short_table_names_keep_the_readable_index_name(db):
    db.tenants()
    db.sql("CREATE TABLE public.items (id uuid PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants)")
    proc = run_cli("check", db.dsn, "--json", "-", "--probe", "none")
    (finding,) = [f for f in json.loads(proc.stdout)["findings"] if f["category"] == "tenant-index-missing"]
    assert finding["remediation"] == "CREATE INDEX CONCURRENTLY items_tenant_id_idx ON public.items (tenant_id);"


# ---- --statement-timeout bounds data checks and probes ---------------------------------------------


def test_statement_timeout_bounds_each_data_and_probe_query(db):
    from tenantaudit.config import AuditConfig
    from tenantaudit.audit.data_checks import bounded
    from tenantaudit.db import connect_readonly

    assert AuditConfig(statement_timeout="500ms").query_timeout == "500ms"
    assert AuditConfig(statement_timeout="30s", data_timeout="2s").query_timeout == "2s"
    conn = connect_readonly(db.dsn, statement_timeout="500ms")
    try:
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            bounded(conn, "5s", "SELECT pg_catalog.pg_sleep(2)", ())
        elapsed = time.monotonic() - started
        print(f"bounded(5s) under statement_timeout 500ms was cancelled after {elapsed:.2f}s")
        assert elapsed < 1.8
        assert bounded(conn, "5s", "SELECT 1", ()) == (1,)  # the session's own bound is back after the savepoint
    finally:
        conn.rollback()
        conn.close()


def test_slow_policy_is_not_proven_within_statement_timeout(db):
    """A policy that takes 2 s on each row of another tenant: with --statement-timeout 500ms the read probe is cut at
    500 ms and reported not proven; before, it ran for --data-timeout's 5 s and passed."""
    db.tenants()
    fence = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
    db.sql(
        f"""
        CREATE FUNCTION public.slow_ok() RETURNS boolean LANGUAGE sql AS $$SELECT pg_sleep(2) IS NOT NULL$$;
        CREATE TABLE public.items (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL REFERENCES tenants);
        CREATE INDEX ON public.items (tenant_id);
        ALTER TABLE public.items ENABLE ROW LEVEL SECURITY;
        ALTER TABLE public.items FORCE ROW LEVEL SECURITY;
        CREATE POLICY p ON public.items USING ({fence} OR NOT public.slow_ok()) WITH CHECK ({fence});
        GRANT SELECT ON public.items TO {quote(db.app_role)};
        INSERT INTO tenants (name) VALUES ('a'), ('b');
        INSERT INTO public.items (tenant_id) SELECT id FROM tenants;
        """
    )
    started = time.monotonic()
    proc = run_cli("check", db.dsn, "--app-role", db.app_role, "--statement-timeout", "500ms", "--json", "-")
    elapsed = time.monotonic() - started
    assert proc.returncode in (0, 1, 3, 4), proc.stderr
    report = json.loads(proc.stdout)
    read = next(p for p in report["probes"] if p["table"] == "items" and p["operation"] == "read")
    print(f"{elapsed:.1f}s", read, [p for p in report["probes"] if p["table"] == "items"], report.get("data_results"))
    assert read["outcome"] == "not proven", read
