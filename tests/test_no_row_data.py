"""No row data in any report: server messages from a live database are reported by condition
name and SQLSTATE, with text only for PostgreSQL's own message shapes, values masked.

The schema is built to leak: a policy helper RAISEs the row's secret, another policy casts a
text column that holds an out-of-range number. The audit runs through the real CLI and writes
every report format; the secrets must appear in none of them, nor on stdout/stderr.
"""

from __future__ import annotations

import psycopg
import pytest
from conftest import quote, run_cli

from tenantaudit import db as tenantaudit_db

TENANT_A = "00000000-0000-0000-0000-00000000000a"
TENANT_B = "00000000-0000-0000-0000-00000000000b"
SECRET = "SECRET-4c1d-row-value"
BIG_NUMBER = "123456789012"
FENCE = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"


@pytest.fixture
def leaky(db):
    db.tenants()
    app = db.app_role
    db.sql(
        f"""
        INSERT INTO tenants (id, name) VALUES ('{TENANT_A}', 'a'), ('{TENANT_B}', 'b');
        CREATE FUNCTION public.row_ok(s text) RETURNS boolean LANGUAGE plpgsql AS
          $$BEGIN IF s LIKE 'SECRET%' THEN RAISE EXCEPTION '%', s; END IF; RETURN true; END$$;
        CREATE TABLE public.notes (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL REFERENCES tenants, body text NOT NULL);
        CREATE INDEX ON public.notes (tenant_id);
        ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
        ALTER TABLE public.notes FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON public.notes USING ({FENCE} AND public.row_ok(body)) WITH CHECK ({FENCE});
        CREATE TABLE public.codes (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL REFERENCES tenants, code text NOT NULL);
        CREATE INDEX ON public.codes (tenant_id);
        ALTER TABLE public.codes ENABLE ROW LEVEL SECURITY;
        ALTER TABLE public.codes FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON public.codes USING ({FENCE} AND code::int > 0) WITH CHECK ({FENCE});
        GRANT SELECT, INSERT, UPDATE, DELETE ON public.notes, public.codes TO "{app}";
        GRANT EXECUTE ON FUNCTION public.row_ok(text) TO "{app}";
        -- in every tenant's rows: whichever tenant the probe sets, the policy meets them
        INSERT INTO public.notes (tenant_id, body) SELECT id, '{SECRET}' FROM tenants;
        INSERT INTO public.codes (tenant_id, code) SELECT id, '{BIG_NUMBER}' FROM tenants;
        """
    )
    return db


def test_secret_row_values_reach_no_report_format(leaky, tmp_path):
    outputs = {fmt: tmp_path / f"report.{fmt}" for fmt in ("json", "html", "junit", "sarif")}
    args = [f"--{fmt}={path}" for fmt, path in outputs.items()]
    proc = run_cli("check", leaky.dsn, "--app-role", leaky.app_role, *args, env={"COLUMNS": "250"})
    assert proc.returncode in (0, 1, 4), proc.stderr
    texts = {"terminal": proc.stdout + proc.stderr, **{fmt: path.read_text() for fmt, path in outputs.items()}}
    for fmt, text in texts.items():
        assert SECRET not in text, fmt
        assert BIG_NUMBER not in text, fmt
    # the probes did meet both errors: their condition names are in the report (else this proves nothing)
    print(texts["json"])
    assert "raise_exception (SQLSTATE P0001)" in texts["json"]
    assert "numeric_value_out_of_range (SQLSTATE 22003)" in texts["json"]


def test_server_message_keeps_the_shape_and_masks_the_value(leaky):
    """The rule of db.server_message on real errors: PostgreSQL's own shapes keep their names,
    values become "…"; RAISE text never shows, not even when it imitates a server message."""
    with psycopg.connect(leaky.dsn, autocommit=True) as conn:
        def message(statement: str) -> str:
            with pytest.raises(psycopg.Error) as raised:
                conn.execute(statement)
            return tenantaudit_db.server_message(raised.value)

        assert message(f"SELECT '{BIG_NUMBER}'::int") == (
            'numeric_value_out_of_range (SQLSTATE 22003): value "…" is out of range for type integer'
        )
        assert message("SELECT ''::uuid").endswith('invalid input syntax for type uuid: ""')
        assert message(f"SELECT '{SECRET}'::uuid").endswith('invalid input syntax for type uuid: "…"')
        assert message(f"SELECT public.row_ok('{SECRET}')") == "raise_exception (SQLSTATE P0001)"
        forged = message(
            "DO $$BEGIN RAISE EXCEPTION USING ERRCODE = '23505',"
            f" MESSAGE = 'duplicate key value violates unique constraint \"{SECRET}\"'; END$$"
        )
        assert forged == "unique_violation (SQLSTATE 23505)"
        duplicate = leaky.sql("SELECT id::text FROM public.notes LIMIT 1")[0][0]
        unique = message(f"INSERT INTO public.notes (id, tenant_id, body) VALUES ('{duplicate}', '{TENANT_A}', 'x')")
        assert unique == 'unique_violation (SQLSTATE 23505): duplicate key value violates unique constraint "notes_pkey"'
        # another language: the text is not recognised, the SQLSTATE still says what happened
        conn.execute("SET lc_messages = 'C'")
        assert message("SELECT 1/0") == "division_by_zero (SQLSTATE 22012): division by zero"


def test_an_internal_error_line_names_where_not_what(leaky):
    """A bug that lets a server error (or any exception quoting a value) escape: the one-line
    "internal error" names its type and place and the safe server message, never its text."""
    from tenantaudit.cli import _internal_error

    with psycopg.connect(leaky.dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as raised:
            conn.execute(f"SELECT public.row_ok('{SECRET}')")
    line = _internal_error(raised.value)
    print(line)
    assert line == "RaiseException: raise_exception (SQLSTATE P0001)"
    try:
        int(SECRET)  # a value in a Python error's text
    except ValueError as exc:
        line = _internal_error(exc)
    print(line)
    assert line.startswith("ValueError") and SECRET not in line


def test_condition_names_come_from_psycopg_for_every_sqlstate_it_knows():
    from psycopg import errors

    condition_name = tenantaudit_db.condition_name
    assert condition_name("22P02") == "invalid_text_representation"
    assert condition_name("42501") == "insufficient_privilege"
    assert condition_name("22004") == "null_value_not_allowed"
    assert condition_name("ZZ999") is None
    known = {cls.sqlstate for cls in vars(errors).values() if isinstance(cls, type) and isinstance(getattr(cls, "sqlstate", None), str)}
    assert len(known) > 200
    unnamed = sorted(code for code in known if condition_name(code) is None)
    assert unnamed == [], unnamed


def test_messages_in_another_language_keep_their_meaning_and_lose_their_values(leaky):
    """lc_messages = German: no English shape matches, so known server errors are rebuilt in
    English from SQLSTATE, source function and the server's name fields; others show only the
    condition. Skipped where the server cannot have a German locale."""
    with psycopg.connect(leaky.dsn, autocommit=True) as conn:
        try:
            conn.execute("SET lc_messages = 'de_DE.UTF-8'")
        except psycopg.Error as exc:
            pytest.skip(f"the server cannot use a German locale: {exc.diag.message_primary}")

        def raised(statement: str) -> psycopg.Error:
            with pytest.raises(psycopg.Error) as caught:
                conn.execute(statement)
            return caught.value

        division = raised("SELECT 1/0")
        if division.diag.message_primary == "division by zero":
            pytest.skip("the server binaries have no German translations (NLS)")
        print("German:", division.diag.message_primary)
        assert tenantaudit_db.server_message(division) == "division_by_zero (SQLSTATE 22012): division by zero"
        duplicate = leaky.sql("SELECT id::text FROM public.notes LIMIT 1")[0][0]
        unique = raised(f"INSERT INTO public.notes (id, tenant_id, body) VALUES ('{duplicate}', '{TENANT_A}', 'x')")
        assert tenantaudit_db.server_message(unique) == (
            'unique_violation (SQLSTATE 23505): duplicate key value violates unique constraint "notes_pkey"'
        )
        out_of_range = raised(f"SELECT '{BIG_NUMBER}'::int")
        assert tenantaudit_db.server_message(out_of_range) == "numeric_value_out_of_range (SQLSTATE 22003)"
        assert tenantaudit_db.server_message(raised(f"SELECT public.row_ok('{SECRET}')")) == "raise_exception (SQLSTATE P0001)"
        conn.execute(f"SET ROLE {quote(leaky.app_role)}")
        conn.execute(f"SELECT pg_catalog.set_config('app.tenant_id', '{TENANT_A}', false)")
        refused = raised(f"INSERT INTO public.notes (tenant_id, body) VALUES ('{TENANT_B}', 'x')")
        assert tenantaudit_db.server_message(refused) == (
            "insufficient_privilege (SQLSTATE 42501): new row violates row-level security policy"
        )
