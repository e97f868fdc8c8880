"""What the probes execute on a live server, and how their outcome is judged (issue 7).

Side effects are looked for before they can happen (dblink, pg_notify, COPY ... PROGRAM, dynamic
SQL, foreign tables ... anywhere a probe would run them); refusals are recognised by SQLSTATE and
what the tool knows, in any server language; probes run with the application role's own settings;
results not proven for a server-side reason are told apart from data-side ones. Real PostgreSQL.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from conftest import hits, quote, run_cli

from tenantaudit.findings import LEAK, NOT_PROVEN, SKIPPED
from tenantaudit.audit.side_effects import MAX_DEPTH, inspect

TENANT_A = "00000000-0000-0000-0000-00000000000a"
TENANT_B = "00000000-0000-0000-0000-00000000000b"
FENCE = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"


def outcomes(report, table: str) -> dict[str, str]:
    return {p.operation: p.outcome for p in report.probes if p.table == table}


def details(report, table: str) -> dict[str, str]:
    return {p.operation: p.detail for p in report.probes if p.table == table}


@pytest.fixture
def two_tenants(db):
    db.tenants()
    db.fenced_table("items")
    db.sql(
        f"""INSERT INTO tenants (id, name) VALUES ('{TENANT_A}', 'a'), ('{TENANT_B}', 'b');
            INSERT INTO items (tenant_id, body) SELECT t.id, 'row ' || g FROM tenants t, generate_series(1, 3) g;"""
    )
    return db


def oid_of(db, table: str) -> int:
    return db.sql("SELECT %s::regclass::oid", (table,))[0][0]


def judged(db, tables: list[str], operations=("read", "insert", "update", "delete", "move", "unset-read")) -> dict:
    """table -> reason (absent = safe), straight from side_effects.inspect."""
    with psycopg.connect(db.dsn) as conn:
        reasons = inspect(conn, [oid_of(db, t) for t in tables], operations=operations)
    return {t: reasons[oid_of(db, t)] for t in tables if oid_of(db, t) in reasons}


# -- 1. side effects looked for before they can happen ------------------------------------------

def _create_extension(db, name: str) -> None:
    try:
        db.sql(f"CREATE EXTENSION IF NOT EXISTS {name}")
    except psycopg.Error as exc:
        pytest.skip(f"the test server cannot have the {name} extension: {exc.diag.message_primary}")


def test_dblink_in_a_policy_commits_nothing_during_the_default_check(two_tenants):
    """A policy helper that writes through dblink (its own connection, which commits): the
    default `check` (read probes, read-only transaction) must not run it: the table is skipped
    with the reason, and nothing is committed. With --probe-side-effects it does run: the row
    count that stays 0 by default is really what the option changes."""
    db = two_tenants
    _create_extension(db, "dblink")
    connstr = db.dsn.replace("'", "''")
    db.sql(
        f"""CREATE TABLE public.audit_log (n int);
            CREATE SCHEMA app; GRANT USAGE ON SCHEMA app TO {quote(db.app_role)};
            CREATE FUNCTION app.audit_read() RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER AS $$
            BEGIN
              PERFORM public.dblink_exec('{connstr}', 'INSERT INTO public.audit_log VALUES (1)');
              RETURN true;
            END $$;
            CREATE POLICY audited ON items AS RESTRICTIVE USING (app.audit_read());"""
    )
    result = run_cli("check", db.dsn, "--app-role", db.app_role, "--json", "-")
    assert result.returncode in (0, 1, 4), result.stderr
    probes = [p for p in json.loads(result.stdout)["probes"] if p["table"] == "items"]
    read = {p["operation"]: p for p in probes}
    print("read probes on items:", {op: (p["outcome"], p["detail"]) for op, p in read.items()})
    assert read["read"]["outcome"] == SKIPPED and read["unset-read"]["outcome"] == SKIPPED
    assert "app.audit_read()" in read["read"]["detail"] and "dblink_exec" in read["read"]["detail"]
    assert "--probe-side-effects" in read["read"]["detail"]
    assert db.sql("SELECT count(*) FROM public.audit_log") == [(0,)]

    # The premise: the probes do run the helper when told to, and dblink commits.
    result = run_cli("check", db.dsn, "--app-role", db.app_role, "--probe-side-effects", "--json", "-")
    assert result.returncode in (0, 1, 4), result.stderr
    committed = db.sql("SELECT count(*) FROM public.audit_log")[0][0]
    print("rows committed through dblink with --probe-side-effects:", committed)
    assert committed > 0


def test_pg_notify_in_a_policy_helper_is_skipped(two_tenants):
    """pg_notify in a policy helper: read probes skip the table, naming the call. A second
    session LISTENing receives nothing. (What was exercised: NOTIFY is only delivered at commit,
    so no notification arrives from the rolled-back audit transaction even when the helper runs;
    what fails without the inspection is the skip with its reason.)"""
    db = two_tenants
    db.sql(
        """CREATE FUNCTION public.tell() RETURNS boolean LANGUAGE plpgsql AS $$
           BEGIN PERFORM pg_notify('tenantaudit_probe_seen', 'x'); RETURN true; END $$;
           CREATE POLICY told ON items AS RESTRICTIVE USING (public.tell());"""
    )
    with psycopg.connect(db.dsn, autocommit=True) as listener:
        listener.execute("LISTEN tenantaudit_probe_seen")
        report = db.audit()
        arrived = list(listener.notifies(timeout=1.0, stop_after=1))
    print("outcomes:", outcomes(report, "items"), "notifications:", len(arrived))
    assert outcomes(report, "items")["read"] == SKIPPED
    assert outcomes(report, "items")["unset-read"] == SKIPPED
    detail = details(report, "items")["read"]
    assert "policy told calls public.tell()" in detail and "pg_notify" in detail
    # the write operations --probe read does not run: --probe write would skip them for the same reason
    assert details(report, "items")["insert"] == detail
    assert arrived == []


@pytest.fixture
def server_writable_folder():
    """A folder the server's OS user (postgres or nobody) can write in."""
    folder = Path(tempfile.mkdtemp(prefix="tenantaudit-program-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_default_that_runs_copy_to_program_is_not_run_by_write_probes(two_tenants, server_writable_folder):
    """A column DEFAULT whose function runs COPY ... TO PROGRAM: --probe write inserts synthetic
    rows, which would evaluate the default (an operating-system command on the server). The
    table is skipped with the reason and the program never runs; with --probe-side-effects it
    does (the marker file appears), so the skip is what prevents it."""
    db = two_tenants
    marker = server_writable_folder / "ran"
    db.sql(
        f"""CREATE FUNCTION public.stamp() RETURNS text LANGUAGE plpgsql AS $$
            BEGIN COPY (SELECT 1) TO PROGRAM 'cat > {marker}'; RETURN 'stamped'; END $$;
            ALTER TABLE items ADD COLUMN stamp text DEFAULT public.stamp();"""
    )
    marker.unlink(missing_ok=True)  # ALTER TABLE ... ADD COLUMN evaluated the default once
    report = db.audit(probe="write")
    seen = outcomes(report, "items")
    print("write probes on items:", seen, details(report, "items").get("insert"))
    assert set(seen.values()) == {SKIPPED}
    detail = details(report, "items")["insert"]
    assert "default of column stamp calls public.stamp()" in detail and "COPY with PROGRAM" in detail
    assert not marker.exists()

    db.audit(probe="write", probe_side_effects=True)
    print("marker after --probe-side-effects:", marker.exists())
    assert marker.exists()


def test_a_plain_safe_schema_is_still_probed(db):
    """No false skips: helpers in SQL and PL/pgSQL, defaults, CHECKs with functions, an
    expression index, a domain, ON DELETE CASCADE, an allowed extension function — all safe."""
    db.tenants()
    db.sql(
        f"""
        CREATE SCHEMA app; GRANT USAGE ON SCHEMA app TO {quote(db.app_role)};
        CREATE DOMAIN app.label AS text CHECK (VALUE <> '' AND length(VALUE) < 200);
        CREATE FUNCTION app.current_tenant() RETURNS uuid LANGUAGE sql STABLE
          AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;
        CREATE FUNCTION app.tidy(t text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
          DECLARE x text := lower(t);
          BEGIN IF x IS NULL THEN RETURN ''; END IF; x := btrim(x); RETURN x; END $$;
        CREATE TABLE public.projects (
          id uuid NOT NULL DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
          name app.label NOT NULL DEFAULT 'p',
          slug text GENERATED ALWAYS AS (app.tidy(name)) STORED,
          created timestamptz NOT NULL DEFAULT now(),
          CHECK (app.tidy(name) IS NOT NULL),
          PRIMARY KEY (tenant_id, id)
        );
        CREATE INDEX ON public.projects (tenant_id, lower(name)) WHERE created > '2000-01-01';
        CREATE TABLE public.tasks (
          id bigserial, tenant_id uuid NOT NULL REFERENCES tenants,
          project uuid NOT NULL, PRIMARY KEY (tenant_id, id),
          FOREIGN KEY (tenant_id, project) REFERENCES public.projects (tenant_id, id) ON DELETE CASCADE
        );
        """
    )
    for table in ("projects", "tasks"):
        db.sql(
            f"""ALTER TABLE public.{table} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
                CREATE POLICY fence ON public.{table} USING (tenant_id = app.current_tenant())
                  WITH CHECK (tenant_id = app.current_tenant());
                GRANT SELECT, INSERT, UPDATE, DELETE ON public.{table} TO {quote(db.app_role)};"""
        )
    db.sql(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {quote(db.app_role)}")
    assert judged(db, ["projects", "tasks", "tenants"]) == {}
    report = db.audit(probe="write")
    for table in ("projects", "tasks"):
        assert SKIPPED not in outcomes(report, table).values(), (table, details(report, table))
        assert outcomes(report, table)["insert"] == "pass", (table, details(report, table))


def test_what_runs_is_followed_through_triggers_cascades_views_and_helpers(db):
    """The paths a side effect can hide on, each judged by side_effects.inspect."""
    db.tenants()
    chain = "\n".join(
        f"CREATE FUNCTION app.level{i}() RETURNS boolean LANGUAGE sql AS $$ SELECT app.level{i + 1}() $$;"
        for i in range(MAX_DEPTH + 2, 0, -1)
    )
    db.sql(
        f"""
        CREATE SCHEMA app;
        SET check_function_bodies = off;
        CREATE FUNCTION app.level{MAX_DEPTH + 3}() RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
        {chain}
        CREATE FUNCTION app.dynamic() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN EXECUTE 'SELECT 1'; RETURN NEW; END $$;
        CREATE FUNCTION app.notifier() RETURNS boolean LANGUAGE sql AS $$ NOTIFY somewhere; SELECT true $$;
        CREATE TABLE public.parent (id int PRIMARY KEY, tenant_id uuid);
        CREATE TABLE public.child (id int, parent int REFERENCES public.parent ON DELETE CASCADE, tenant_id uuid);
        CREATE TRIGGER dyn BEFORE DELETE ON public.child FOR EACH ROW EXECUTE FUNCTION app.dynamic();
        CREATE TABLE public.deep (id int, tenant_id uuid);
        CREATE POLICY deep ON public.deep USING (app.level1());
        CREATE TABLE public.shallow (id int, tenant_id uuid);
        CREATE POLICY shallow ON public.shallow USING (app.level{MAX_DEPTH + 3 - MAX_DEPTH + 1}());
        CREATE VIEW app.noisy_view AS SELECT 1 AS x WHERE app.notifier();
        CREATE TABLE public.via_view (id int, tenant_id uuid);
        CREATE POLICY v ON public.via_view USING (EXISTS (SELECT FROM app.noisy_view));
        CREATE TABLE public.write_only (id int, tenant_id uuid);
        CREATE POLICY w ON public.write_only FOR INSERT WITH CHECK (app.notifier());
        """
    )
    write = judged(db, ["parent", "child", "deep", "shallow", "via_view", "write_only"])
    read = judged(db, ["parent", "child", "deep", "shallow", "via_view", "write_only"], operations=("read",))
    print(json.dumps({"write": write, "read": read}, indent=1))
    assert "ON DELETE action of foreign key" in write["parent"] and "dynamic SQL" in write["parent"]
    assert "trigger dyn calls app.dynamic()" in write["child"]
    assert f"deeper than {MAX_DEPTH} levels" in write["deep"] and "deep" in read
    assert "shallow" not in write  # MAX_DEPTH levels are followed
    assert "noisy_view" in read["via_view"] and "NOTIFY" in read["via_view"]
    assert "write_only" not in read and "policy w calls app.notifier()" in write["write_only"]
    assert "parent" not in read and "child" not in read  # reads fire no triggers or cascades


def test_trigger_functions_are_inspected_with_probe_triggers(two_tenants):
    db = two_tenants
    db.sql(
        """CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN PERFORM pg_advisory_lock(42); RETURN NEW; END $$;
           CREATE TRIGGER touch BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION public.touch();"""
    )
    report = db.audit(probe="write", probe_triggers=True)
    assert set(outcomes(report, "items").values()) == {SKIPPED}
    assert "advisory lock" in details(report, "items")["read"]


def test_a_foreign_table_read_by_a_policy_is_skipped(two_tenants, tmp_path):
    db = two_tenants
    _create_extension(db, "file_fdw")
    data = tmp_path / "remote.csv"
    data.write_text(f"{TENANT_A}\n")
    data.chmod(0o644)
    tmp_path.chmod(0o755)
    db.sql(
        f"""CREATE SERVER files FOREIGN DATA WRAPPER file_fdw;
            CREATE FOREIGN TABLE public.remote_tenants (id uuid) SERVER files OPTIONS (filename '{data}', format 'csv');
            GRANT SELECT ON public.remote_tenants TO {quote(db.app_role)};
            CREATE POLICY remote ON items AS RESTRICTIVE USING (EXISTS (SELECT FROM public.remote_tenants));"""
    )
    report = db.audit()
    assert outcomes(report, "items")["read"] == SKIPPED
    assert "reads public.remote_tenants, which is a foreign table" in details(report, "items")["read"]


def test_an_operator_planted_for_the_probes_own_statements_is_looked_at(two_tenants):
    """The probes run as the app role with its search_path; an operator outside pg_catalog on
    the types the probes' own statements compare can be picked over the built-in one, and would
    run: it is inspected like a policy helper."""
    db = two_tenants
    db.sql(
        """CREATE FUNCTION public.oid_eq_int(oid, integer) RETURNS boolean LANGUAGE plpgsql AS $$
           BEGIN PERFORM pg_notify('planted', 'x'); RETURN $1 = $2::oid; END $$;
           CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = integer, FUNCTION = public.oid_eq_int);"""
    )
    report = db.audit()
    print(details(report, "items"))
    assert outcomes(report, "items")["read"] == SKIPPED
    assert "operator public.=(oid, integer)" in details(report, "items")["read"]
    db.sql("DROP OPERATOR public.= (oid, integer)")
    assert outcomes(db.audit(), "items")["read"] == "pass"


def test_inspection_reads_the_catalogue_in_a_constant_number_of_queries(db):
    """2,000 fenced tables with a shared PL/pgSQL helper: the same number of catalogue queries
    as for 2 tables, and fast."""
    db.tenants()
    db.sql(
        """CREATE FUNCTION public.tenant_now() RETURNS uuid LANGUAGE plpgsql STABLE AS $$
           BEGIN RETURN NULLIF(current_setting('app.tenant_id', true), '')::uuid; END $$;
           DO $$ BEGIN FOR i IN 1..2000 LOOP
             EXECUTE format('CREATE TABLE public.t%s (id serial, tenant_id uuid NOT NULL DEFAULT public.tenant_now(), '
                            'CHECK (tenant_id IS NOT NULL))', i);
             EXECUTE format('CREATE POLICY p ON public.t%s USING (tenant_id = public.tenant_now())', i);
           END LOOP; END $$;"""
    )
    oids = [row[0] for row in db.sql("SELECT oid FROM pg_class WHERE relname ~ '^t[0-9]+$' AND relkind = 'r'")]
    with psycopg.connect(db.dsn) as conn:
        counted = []
        original = conn.execute

        def counting(*args, **kwargs):
            counted.append(args[0])
            return original(*args, **kwargs)

        conn.execute = counting
        inspect(conn, oids[:2], operations=("insert",))
        few = len(counted)
        counted.clear()
        started = time.monotonic()
        reasons = inspect(conn, oids, operations=("insert", "update", "delete"))
        elapsed = time.monotonic() - started
    print(f"{len(oids)} tables: {len(counted)} queries (2 tables: {few}), {elapsed:.2f} s")
    assert reasons == {}
    assert len(counted) == few
    assert elapsed < 15


# -- 2. refusals judged by SQLSTATE and what the tool knows, in any language -------------------

def _german(db) -> str:
    """Make the database speak German; return what the server really does ('de' or 'en')."""
    if "de_DE.utf8" not in subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout.split():
        source = Path("/usr/share/i18n/locales/de_DE")
        if shutil.which("localedef") and source.exists() and os.geteuid() == 0:
            subprocess.run(["localedef", "-i", "de_DE", "-f", "UTF-8", "de_DE.UTF-8"], check=True)
    try:
        db.sql(f"ALTER DATABASE {quote(db.name)} SET lc_messages = 'de_DE.UTF-8'")
    except psycopg.Error as exc:
        pytest.skip(f"the server cannot use a German locale (lc_messages): {exc.diag.message_primary}")
    with psycopg.connect(db.dsn) as conn:
        try:
            conn.execute("SELECT 1 / 0")
        except psycopg.errors.DivisionByZero as exc:
            message = exc.diag.message_primary or ""
    return "en" if message == "division by zero" else "de"


def test_refusals_are_recognised_in_german(db):
    """With lc_messages = de_DE.UTF-8 on the database, an UPDATE takeover (an UPDATE policy
    whose WITH CHECK only pins the new tenant) is still found as critical: the refusal of the
    first UPDATE (keeping tenant B) must be recognised as an RLS refusal to try the takeover.
    A correctly fenced table still passes every write probe. Where the server binaries have no
    German translations, messages stay English and the test says so (the outcomes are still
    asserted with lc_messages changed)."""
    db.tenants()
    db.fenced_table("items")
    db.fenced_table("loose")
    db.sql(
        f"""DROP POLICY tenant_isolation ON loose;
            CREATE POLICY r ON loose FOR SELECT USING ({FENCE});
            CREATE POLICY i ON loose FOR INSERT WITH CHECK ({FENCE});
            CREATE POLICY d ON loose FOR DELETE USING ({FENCE});
            CREATE POLICY u ON loose FOR UPDATE USING (true) WITH CHECK ({FENCE});"""
    )
    language = _german(db)
    print(f"server messages under lc_messages=de_DE.UTF-8: {language}"
          + (" (German: classification by text would fail here)" if language == "de"
             else " (no NLS translations: only the independence from the setting is exercised)"))
    report = db.audit(probe="write")
    print("items:", outcomes(report, "items"), "loose:", outcomes(report, "loose"))
    assert outcomes(report, "loose")["update"] == LEAK
    assert "public.loose" in hits(report, "probe-write-leak")
    assert {outcomes(report, "items")[op] for op in ("read", "insert", "update", "delete", "move")} == {"pass"}
    assert outcomes(report, "loose")["insert"] == "pass"

    result = run_cli("check", db.dsn, "--app-role", db.app_role, "--probe", "write", "--fail-on", "critical")
    print(result.stdout[-2000:], result.stderr)
    assert result.returncode == 1


def test_a_missing_privilege_is_not_a_refusal_by_the_policy(db):
    """42501 is also 'permission denied' (a table or a sequence privilege): not a pass."""
    db.tenants()
    db.fenced_table("no_insert")
    db.fenced_table("no_sequence", columns="n bigserial")
    db.fenced_table("no_update")
    db.sql(f"REVOKE INSERT ON no_insert FROM {quote(db.app_role)}")  # and no USAGE on no_sequence's sequence
    db.sql(f"REVOKE UPDATE, DELETE ON no_update FROM {quote(db.app_role)}")
    _german(db)
    report = db.audit(probe="write")
    for table in ("no_insert", "no_sequence"):
        print(table, outcomes(report, table)["insert"], details(report, table)["insert"])
        assert outcomes(report, table)["insert"] == NOT_PROVEN
        assert "42501" in details(report, table)["insert"]
    assert "the app role lacks INSERT on public.no_insert" in details(report, "no_insert")["insert"]
    assert outcomes(report, "no_insert")["update"] == "pass"
    print("no_update:", outcomes(report, "no_update"), details(report, "no_update"))
    for operation, privilege in (("update", "UPDATE"), ("delete", "DELETE"), ("move", "UPDATE")):
        assert outcomes(report, "no_update")[operation] == NOT_PROVEN
        assert f"the app role lacks {privilege} on public.no_update" in details(report, "no_update")[operation]
    assert outcomes(report, "no_update")["insert"] == "pass"


# -- 3. probes see what the application sees -----------------------------------------------------

def test_a_helper_that_reads_an_unqualified_table_is_judged_with_the_app_roles_search_path(two_tenants):
    """A policy helper reads `shares` unqualified: it works for the application, whose role has
    search_path = app_schema, public (for this database; the role's own default elsewhere is
    wrong, and the role-in-database setting wins, as at login) and lets every tenant's rows
    through. The probe must find the leak, not fail on the auditor's pg_catalog search_path."""
    db = two_tenants
    role = quote(db.app_role)
    db.sql(
        f"""CREATE SCHEMA app_schema; GRANT USAGE ON SCHEMA app_schema TO {role};
            CREATE TABLE app_schema.shares (tenant_id uuid);
            INSERT INTO app_schema.shares VALUES ('{TENANT_A}'), ('{TENANT_B}');
            GRANT SELECT ON app_schema.shares TO {role};
            SET check_function_bodies = off;
            CREATE FUNCTION app_schema.shared_tenants() RETURNS SETOF uuid LANGUAGE sql STABLE
              AS $$ SELECT tenant_id FROM shares $$;
            CREATE POLICY shared ON items FOR SELECT USING (tenant_id IN (SELECT app_schema.shared_tenants()));
            ALTER ROLE {role} SET search_path = public;
            ALTER ROLE {role} IN DATABASE {quote(db.name)} SET search_path = app_schema, public;
            ALTER DATABASE {quote(db.name)} SET search_path = nowhere;"""
    )
    report = db.audit()
    print("items:", outcomes(report, "items"), details(report, "items"))
    assert outcomes(report, "items")["read"] == LEAK
    assert "public.items" in hits(report, "probe-read-leak")


# -- 4. server-side reasons told apart from data-side ones ---------------------------------------

def test_results_not_proven_for_a_server_side_reason_make_the_audit_incomplete(two_tenants):
    db = two_tenants
    db.fenced_table("empty")  # no rows: not proven, for a data-side reason
    db.sql("CREATE POLICY slow ON items AS RESTRICTIVE USING (pg_sleep(0.3) IS NOT NULL)")
    report = db.audit(data_timeout="100ms")
    slow = [p for p in report.probes if p.table == "items" and p.outcome == NOT_PROVEN]
    empty = [p for p in report.probes if p.table == "empty" and p.outcome == NOT_PROVEN]
    print("incomplete:", report.incomplete, [(p.operation, p.detail, p.server_cause) for p in slow + empty])
    assert slow and {p.server_cause for p in slow} == {"57014"}
    assert empty and {p.server_cause for p in empty} == {None}
    assert len(report.incomplete) == 1 and "SQLSTATE 57014" in report.incomplete[0]
    assert "on 1 table " in report.incomplete[0]

    result = run_cli("check", db.dsn, "--app-role", db.app_role, "--data-timeout", "100ms", "--fail-on", "critical")
    print(result.stdout[-1500:], result.stderr)
    assert result.returncode == 4
