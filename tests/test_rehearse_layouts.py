"""`tenantaudit rehearse` on migration sets of every layout, and the defects each must report
with its category, file and line (regressions found stress-testing the rehearsal)."""

import json
from pathlib import Path

import pytest
from conftest import of, phases, run_cli, write
from conftest import rehearse_folder as run

from tenantaudit.config import AuditConfig
from tenantaudit.errors import ConfigError
from tenantaudit.findings import Severity
from tenantaudit.rehearsal.migrations import discover, split_statements


def where(finding) -> tuple[str, int | None]:
    return Path(finding.migration).name if finding.migration else None, finding.line


POLICY = "(tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)"
FENCED = f"""
CREATE TABLE tenants (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL);
CREATE TABLE docs (id bigserial, tenant_id uuid NOT NULL REFERENCES tenants, title text NOT NULL,
                   PRIMARY KEY (tenant_id, id));
ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
ALTER TABLE docs FORCE ROW LEVEL SECURITY;
CREATE POLICY iso ON docs USING {POLICY} WITH CHECK {POLICY};
INSERT INTO tenants VALUES ('00000000-0000-4000-8000-000000000001', 't1');
INSERT INTO docs (tenant_id, title) VALUES ('00000000-0000-4000-8000-000000000001', 'a'),
                                           ('00000000-0000-4000-8000-000000000001', 'b');
"""


@pytest.fixture
def fenced(tmp_path) -> Path:
    baseline = tmp_path / "baseline.sql"
    baseline.write_text(FENCED)
    return baseline


# -- lock findings name the file of their direction ----------------------------------------

def test_upgrade_lock_findings_name_the_up_file_not_the_down_file_with_the_same_line(tmp_path, fenced):
    # an up and its down share the migration's label and here line 1: the upgrade's finding
    # named U2__idx.sql
    folder = write(tmp_path / "m", {
        "V1__status.sql": "CREATE TYPE doc_status AS ENUM ('draft', 'published');",
        "U1__status.sql": "DROP TYPE doc_status;",
        "V1_1__col.sql": "ALTER TABLE docs ADD COLUMN status doc_status NOT NULL DEFAULT 'draft';",
        "U1_1__col.sql": "ALTER TABLE docs DROP COLUMN status;",
        "V2__idx.sql": "CREATE INDEX docs_status ON docs (tenant_id, status);",
        "U2__idx.sql": "DROP INDEX docs_status;",
    })
    report = run(folder, baseline=fenced)
    heavy = sorted((f.phase, *where(f)) for f in of(report, "lock-heavy-statement"))
    assert heavy == [
        ("rollback", "U1_1__col.sql", 1), ("rollback", "U2__idx.sql", 1),
        ("upgrade", "V1_1__col.sql", 1), ("upgrade", "V2__idx.sql", 1),
    ]
    assert set(phases(report).values()) == {"passed"}


# -- seeding ----------------------------------------------------------------------------------

def test_seeding_when_the_migrations_create_the_tenants_table(tmp_path):
    # was: internal error "no table with oid 0"
    baseline = tmp_path / "baseline.sql"
    baseline.write_text("CREATE TABLE projects (id bigserial PRIMARY KEY, name text NOT NULL CHECK (length(name) > 2));")
    folder = write(tmp_path / "m", {
        "001_orgs.up.sql": "CREATE TABLE orgs (id uuid PRIMARY KEY DEFAULT gen_random_uuid());",
        "001_orgs.down.sql": "DROP TABLE orgs;",
    })
    report = run(folder, baseline=baseline, seed_tenants=3, rows_per_table=4,
                 config=AuditConfig(tenant_table="orgs", tenant_column="org_id"))
    details = next(p for p in report.phases if p["name"] == "baseline")["details"]
    assert details[1] == "seeded 4 synthetic rows; no tenants seeded: the baseline has no tenants table orgs"
    assert phases(report)["restore"] == "passed"


# -- rollback drift: the statement that made it ----------------------------------------------

def test_down_that_leaves_objects_behind_names_the_statement_that_made_each(tmp_path, fenced):
    fenced.write_text(FENCED + "CREATE TYPE doc_status AS ENUM ('draft'); CREATE ROLE reporting_layouts NOLOGIN;")
    noop = "SELECT 1;"
    folder = write(tmp_path / "m", {
        "001_fn.up.sql": "CREATE FUNCTION up_title(t text) RETURNS text LANGUAGE plpgsql AS $body$\n"
                         "BEGIN\n  RETURN upper(t); -- a semicolon;\nEND;\n$body$;",
        "001_fn.down.sql": noop,
        "002_trg.up.sql": "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n"
                          "\nCREATE TRIGGER docs_touch BEFORE UPDATE ON docs FOR EACH ROW EXECUTE FUNCTION touch();",
        "002_trg.down.sql": noop,
        "003_grant.up.sql": "GRANT SELECT ON docs TO reporting_layouts;",
        "003_grant.down.sql": noop,
        "004_enum.up.sql": "-- enum values cannot be dropped\nALTER TYPE doc_status ADD VALUE 'archived';",
        "004_enum.down.sql": noop,
        "005_seq.up.sql": "CREATE SEQUENCE invoice_no START 1000;",
        "005_seq.down.sql": noop,
        "006_pol.up.sql": "CREATE POLICY reporting ON docs FOR SELECT TO reporting_layouts USING (true);",
        "006_pol.down.sql": noop,
        "007_idx.up.sql": "CREATE INDEX docs_title ON docs (title);",
        "007_idx.down.sql": "DROP INDEX docs_title;\nCREATE INDEX docs_title ON docs (lower(title));",
        "008_tbl.up.sql": "CREATE TABLE audit_log (id bigserial PRIMARY KEY, at timestamptz);",
        "008_tbl.down.sql": noop,
    })
    report = run(folder, baseline=fenced)
    drift = sorted((f.message, *where(f)) for f in of(report, "rollback-schema-drift"))
    assert drift == [
        ("function public.touch() still exists", "002_trg.up.sql", 1),
        ("function public.up_title(text) still exists", "001_fn.up.sql", 1),
        ("grant public.docs still exists", "003_grant.up.sql", 1),
        # the down touched it last: it points there, not at the up's CREATE INDEX
        ("index public.docs_title still exists", "007_idx.down.sql", 2),
        ("policy public.docs.reporting still exists", "006_pol.up.sql", 1),
        ("sequence public.invoice_no still exists", "005_seq.up.sql", 1),
        # one line for the table: not also its primary key index, serial sequence, owner, columns
        ("table public.audit_log still exists", "008_tbl.up.sql", 1),
        ("trigger public.docs.docs_touch still exists", "002_trg.up.sql", 3),
        ("type public.doc_status: enum ('draft') -> enum ('draft', 'archived')", "004_enum.up.sql", 2),
    ]
    assert of(report, "reapply-failed")[0].line == 1


# -- data: loss, change, rename ----------------------------------------------------------------

def test_pre_existing_rows_lost_changed_renamed_or_backfilled(tmp_path):
    baseline = tmp_path / "baseline.sql"
    baseline.write_text(
        "CREATE TABLE changed (id int PRIMARY KEY, code text);"
        "CREATE TABLE renamed (id int PRIMARY KEY, label text);"
        "CREATE TABLE deleted (id int PRIMARY KEY, body text);"
        "INSERT INTO changed VALUES (1, 'a'), (2, 'b'); INSERT INTO renamed VALUES (1, 'x'), (2, 'y');"
        "INSERT INTO deleted VALUES (1, 'p'), (2, 'q');"
        "CREATE TABLE grown (id int PRIMARY KEY); INSERT INTO grown VALUES (1);"
    )
    folder = write(tmp_path / "m", {
        "001_data.up.sql": (
            "ALTER TABLE changed ADD COLUMN slug text;\n"
            "UPDATE changed SET slug = 'c-' || id;\n"  # a backfill of a new column: no finding
            "UPDATE changed SET code = upper(code);\n"
            "ALTER TABLE renamed RENAME COLUMN label TO title;\n"
            "DELETE FROM deleted WHERE id = 2;\n"
            "INSERT INTO grown VALUES (2);\n"  # rows only added: nothing lost (was critical)
        ),
        "001_data.down.sql": (
            "ALTER TABLE renamed RENAME COLUMN title TO label;\n"
            "UPDATE changed SET code = lower(code);\n"
            "ALTER TABLE changed DROP COLUMN slug;\n"
        ),
    })
    report = run(folder, baseline=baseline)
    upgrade = sorted((f.table, f.severity, f.message, *where(f)) for f in of(report, "upgrade-data-loss"))
    assert upgrade == [
        ("changed", Severity.MEDIUM, "public.changed: values changed in pre-existing column code (same 2 rows): "
         "a data change, not rows lost; the old values are only in the backup", "001_data.up.sql", 3),
        ("deleted", Severity.CRITICAL, "public.deleted: 2 rows -> 1 row", "001_data.up.sql", 5),
        ("renamed", Severity.HIGH, "public.renamed: pre-existing column renamed (label is now title): the values "
         "are kept, but whatever still reads the old name breaks", "001_data.up.sql", 4),
    ]
    # the down restores code and the name; the deleted row it cannot bring back, the added one it leaves
    rollback = sorted((f.table, f.severity, f.message, *where(f)) for f in of(report, "rollback-data-loss"))
    assert rollback == [
        ("deleted", Severity.CRITICAL, "public.deleted: 2 rows -> 1 row", "001_data.up.sql", 5),
        ("grown", Severity.CRITICAL, "public.grown: 1 row added by the upgrade still there (1 row -> 2 rows)",
         "001_data.up.sql", 6),
    ]


def test_a_down_that_does_not_restore_values_points_at_its_own_statement(tmp_path, fenced):
    fenced.write_text(FENCED + "CREATE ROLE migrator_layouts NOLOGIN; GRANT ALL ON docs TO migrator_layouts;"
                      " GRANT USAGE, CREATE ON SCHEMA public TO migrator_layouts;")
    folder = write(tmp_path / "m", {
        # SET ROLE: the fingerprints between statements are still read as the connecting user
        # (as migrator_layouts, FORCEd RLS hid every row and reading tenants failed)
        "001_r.up.sql": "SET ROLE migrator_layouts;\nCREATE TABLE mine (id int);\nCREATE TABLE mine2 (id int);\nRESET ROLE;",
        "001_r.down.sql": "DROP TABLE mine2;\nDROP TABLE mine;\nUPDATE docs SET title = title || '?';",
    })
    report = run(folder, baseline=fenced)
    (lost,) = of(report, "rollback-data-loss")
    assert where(lost) == ("001_r.down.sql", 3) and "values changed in pre-existing column title" in lost.message
    assert of(report, "upgrade-data-loss") == []


# -- COPY ... FROM stdin -----------------------------------------------------------------------

COPY_BASELINE = """CREATE TABLE public.notes (id integer NOT NULL, body text);
\\restrict abc
COPY public.notes (id, body) FROM stdin;
1\tit's; not SQL
2\t\\N
\\.

CREATE TABLE public.after_copy (id int);
"""


def test_copy_from_stdin_in_a_pg_dump_baseline_and_in_a_migration(tmp_path):
    statements = split_statements(COPY_BASELINE, Path("b.sql"))
    assert [(s.line, s.sql.split()[0], s.copy_data) for s in statements] == [
        (1, "CREATE", None), (3, "COPY", "1\tit's; not SQL\n2\t\\N\n"), (8, "CREATE", None),
    ]
    baseline = tmp_path / "baseline.sql"
    baseline.write_text(COPY_BASELINE)
    folder = write(tmp_path / "m", {
        "001_seed.up.sql": "COPY notes (id, body) FROM stdin;\n3\tseeded\n\\.\nCREATE INDEX notes_id ON notes (id);\n",
        "001_seed.down.sql": "DROP INDEX notes_id;\nDELETE FROM notes WHERE id = 3;\n",
    })
    report = run(folder, baseline=baseline)
    fingerprint = next(p for p in report.phases if p["name"] == "fingerprint")["details"]
    assert fingerprint[0].endswith(" schema objects, 2 tables, 2 rows")
    assert set(phases(report).values()) <= {"passed", "passed with findings"}, report.phases
    assert of(report, "upgrade-data-loss") == [] and of(report, "rollback-data-loss") == []


def test_baseline_with_a_bom_and_crlf_runs_and_one_not_utf8_is_a_usage_error(tmp_path):
    folder = write(tmp_path / "m", {"001_t.up.sql": "CREATE TABLE t2 (id int);", "001_t.down.sql": "DROP TABLE t2;"})
    baseline = tmp_path / "baseline.sql"
    baseline.write_bytes(b"\xef\xbb\xbfCREATE TABLE t (id int);\r\nINSERT INTO t VALUES (1);\r\n")
    assert phases(run(folder, baseline=baseline))["restore"] == "passed"
    baseline.write_bytes(b"CREATE TABLE t (id int); -- caf\xe9\n")
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        run(folder, baseline=baseline)


# -- transactions --------------------------------------------------------------------------------

def test_dbmate_runs_a_section_in_a_transaction_unless_transaction_false(tmp_path, fenced):
    # dbmate wraps "-- migrate:up" in a transaction: CREATE INDEX CONCURRENTLY there fails under
    # dbmate, and the rehearsal ran it outside one and passed
    folder = write(tmp_path / "m", {
        "20240101000000_ok.sql": "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY docs_a ON docs (title);\n"
                                 "-- migrate:down transaction:false\nDROP INDEX CONCURRENTLY docs_a;\n",
        "20240102000000_bad.sql": "-- migrate:up\n\nCREATE INDEX CONCURRENTLY docs_b ON docs (title);\n"
                                  "-- migrate:down\nDROP INDEX docs_b;\n",
    })
    first, second = discover(folder).migrations
    assert not first.transactional and second.transactional
    report = run(folder, baseline=fenced)
    (failure,) = of(report, "migration-failed")
    assert where(failure) == ("20240102000000_bad.sql", 3) and "25001" in failure.message
    assert "transaction:false" in failure.remediation


def test_statements_of_a_non_transactional_migration_are_lock_traced(tmp_path, fenced):
    folder = write(tmp_path / "m", {
        "1_x.sql": "-- migrate:up transaction:false\nALTER TABLE docs ADD COLUMN body text;\n"
                   "CREATE INDEX CONCURRENTLY docs_body ON docs (tenant_id, body);\n"
                   "-- migrate:down transaction:false\nDROP INDEX CONCURRENTLY docs_body;\nALTER TABLE docs DROP COLUMN body;\n",
    })
    report = run(folder, baseline=fenced)
    heavy = sorted((f.phase, *where(f)) for f in of(report, "lock-heavy-statement"))
    assert heavy == [("rollback", "1_x.sql", 6), ("upgrade", "1_x.sql", 2)]
    assert set(phases(report).values()) == {"passed"}


def test_a_deferred_constraint_failing_at_commit_is_migration_failed(tmp_path):
    # was: "internal error: ForeignKeyViolation"
    folder = write(tmp_path / "m", {
        "001_a.up.sql": "CREATE TABLE p (id int PRIMARY KEY);\n"
                        "CREATE TABLE c (p_id int REFERENCES p DEFERRABLE INITIALLY DEFERRED);\n"
                        "INSERT INTO c VALUES (42);\n",
        "001_a.down.sql": "DROP TABLE c; DROP TABLE p;",
    })
    report = run(folder)
    (failure,) = of(report, "migration-failed")
    assert where(failure) == ("001_a.up.sql", 3) and "`COMMIT` at the end of the migration" in failure.message
    assert "23503" in failure.message and phases(report)["verify"] == "not run"


def test_enum_value_used_in_the_migration_that_adds_it(tmp_path, fenced):
    fenced.write_text(FENCED + "CREATE TYPE doc_status AS ENUM ('draft');"
                      "ALTER TABLE docs ADD COLUMN status doc_status NOT NULL DEFAULT 'draft';")
    folder = write(tmp_path / "m", {
        "001_archived.up.sql": "ALTER TYPE doc_status ADD VALUE 'archived';\n\nUPDATE docs SET status = 'archived';\n",
        "001_archived.down.sql": "SELECT 1;",
    })
    (failure,) = of(run(folder, baseline=fenced), "migration-failed")
    assert where(failure) == ("001_archived.up.sql", 3) and "55P04" in failure.message
    assert "its own migration" in failure.remediation


# -- a correct multi-tenant conversion passes every phase --------------------------------------

ORGS_BASELINE = """
CREATE TYPE task_state AS ENUM ('todo', 'doing', 'done');
CREATE TABLE projects (id bigserial PRIMARY KEY, name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200));
CREATE TABLE tasks (id bigserial PRIMARY KEY, project_id bigint NOT NULL REFERENCES projects ON DELETE CASCADE,
                    title text NOT NULL, state task_state NOT NULL DEFAULT 'todo', UNIQUE (project_id, title));
CREATE INDEX tasks_project ON tasks (project_id);
INSERT INTO projects (id, name) VALUES (1, 'Apollo'), (2, 'Gemini');
SELECT setval('projects_id_seq', 2);
INSERT INTO tasks (project_id, title, state) VALUES (1, 'design', 'done'), (1, 'build', 'doing'), (2, 'plan', 'todo');
"""
ORG_POLICY = "(org_id = NULLIF(current_setting('app.org_id', true), '')::uuid)"


def fence(table: str) -> str:
    return (f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\nALTER TABLE {table} FORCE ROW LEVEL SECURITY;\n"
            f"CREATE POLICY org_isolation ON {table} USING {ORG_POLICY} WITH CHECK {ORG_POLICY};\n")


def unfence(table: str) -> str:
    return (f"DROP POLICY org_isolation ON {table};\nALTER TABLE {table} NO FORCE ROW LEVEL SECURITY;\n"
            f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;\n")


def test_orgs_projects_tasks_conversion_in_dbmate_layout_passes_and_exits_0(tmp_path, sandbox):
    baseline = tmp_path / "baseline.sql"
    baseline.write_text(ORGS_BASELINE)
    with sandbox.connect() as conn:  # the pgserver wheel's PostgreSQL ships no citext
        has_citext = conn.execute("SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'citext')").fetchone()[0]
    files = {
        "20240101000000_orgs.sql": (
            "-- migrate:up\n\\set ON_ERROR_STOP on\nCREATE EXTENSION IF NOT EXISTS citext;\n"
            "CREATE TABLE orgs (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name citext NOT NULL UNIQUE);\n"
            "INSERT INTO orgs (id, name) VALUES ('0a000000-0000-4000-8000-000000000000', 'Legacy');\n"
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM orgs) THEN RAISE EXCEPTION 'no org; stop'; END IF; END $$;\n"
            "-- migrate:down\nDROP TABLE orgs;\nDROP EXTENSION citext;\n"
        ),
        "20240102000000_projects.sql": (
            "-- migrate:up\nBEGIN;\nALTER TABLE projects ADD COLUMN org_id uuid;\n"
            "UPDATE projects SET org_id = '0a000000-0000-4000-8000-000000000000';\n"
            "ALTER TABLE projects ALTER COLUMN org_id SET NOT NULL;\n"
            "ALTER TABLE projects ADD CONSTRAINT projects_org_fkey FOREIGN KEY (org_id) REFERENCES orgs ON DELETE CASCADE;\n"
            "ALTER TABLE projects ADD CONSTRAINT projects_org_id_key UNIQUE (org_id, id);\n"
            + fence("projects") + "COMMIT;\n"
            "-- migrate:down\n" + unfence("projects")
            + "ALTER TABLE projects DROP CONSTRAINT projects_org_id_key;\n"
            "ALTER TABLE projects DROP CONSTRAINT projects_org_fkey;\nALTER TABLE projects DROP COLUMN org_id;\n"
        ),
        "20240103000000_tasks.sql": (
            "-- migrate:up\nALTER TABLE tasks ADD COLUMN org_id uuid;\n"
            "UPDATE tasks t SET org_id = p.org_id FROM projects p WHERE p.id = t.project_id;\n"
            "ALTER TABLE tasks ALTER COLUMN org_id SET NOT NULL;\n"
            "ALTER TABLE tasks DROP CONSTRAINT tasks_project_id_fkey;\n"
            "ALTER TABLE tasks ADD CONSTRAINT tasks_org_fkey FOREIGN KEY (org_id) REFERENCES orgs ON DELETE CASCADE;\n"
            "ALTER TABLE tasks ADD CONSTRAINT tasks_project_fkey FOREIGN KEY (org_id, project_id)"
            " REFERENCES projects (org_id, id) ON DELETE CASCADE;\n"
            "ALTER TABLE tasks DROP CONSTRAINT tasks_project_id_title_key;\n"
            "ALTER TABLE tasks ADD CONSTRAINT tasks_title_key UNIQUE (org_id, project_id, title);\n"
            + fence("tasks")
            + "-- migrate:down\n" + unfence("tasks")
            + "ALTER TABLE tasks DROP CONSTRAINT tasks_title_key;\n"
            "ALTER TABLE tasks ADD CONSTRAINT tasks_project_id_title_key UNIQUE (project_id, title);\n"
            "ALTER TABLE tasks DROP CONSTRAINT tasks_project_fkey;\nALTER TABLE tasks DROP CONSTRAINT tasks_org_fkey;\n"
            "ALTER TABLE tasks ADD CONSTRAINT tasks_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects ON DELETE CASCADE;\n"
            "ALTER TABLE tasks DROP COLUMN org_id;\n"
        ),
        "20240104000000_index.sql": (
            "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_org_state ON tasks (org_id, state);\n"
            "-- migrate:down transaction:false\nDROP INDEX CONCURRENTLY IF EXISTS tasks_org_state;\n"
        ),
    }
    if not has_citext:
        files = {name: text.replace("CREATE EXTENSION IF NOT EXISTS citext;\n", "").replace("DROP EXTENSION citext;\n", "")
                 .replace(" citext ", " text ") for name, text in files.items()}
    folder = write(tmp_path / "m", files)
    out = tmp_path / "r.json"
    proc = run_cli("rehearse", str(folder), "--baseline", str(baseline), "--tenant-table", "orgs",
                   "--tenant-column", "org_id", "--setting", "app.org_id", "--seed-tenants", "3",
                   "--rows-per-table", "5", "--json", str(out), timeout=600)
    report = json.loads(out.read_text())
    assert proc.returncode == 0, [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    assert {p["name"]: p["status"] for p in report["phases"]} == dict.fromkeys(
        ("sandbox", "baseline", "fingerprint", "backup", "upgrade", "verify", "rollback", "reapply", "restore"), "passed")
    heavy = [f for f in report["findings"] if f["category"] == "lock-heavy-statement"]
    assert heavy and {f["severity"] for f in heavy} <= {"medium", "low"}
    assert {f["category"] for f in report["findings"]} == {"lock-heavy-statement"}
    assert any("20240101000000_orgs.sql line 2: psql meta-command" in n for n in report["notes"])


# -- robustness ---------------------------------------------------------------------------------

def test_an_up_with_only_comments_or_empty_needs_no_down(tmp_path):
    # was: "has no down migration" and rollback-failed (high) for a placeholder migration
    dbmate = write(tmp_path / "dbmate", {
        "1_t.sql": "-- migrate:up\nCREATE TABLE t (id int);\n-- migrate:down\nDROP TABLE t;\n",
        "2_placeholder.sql": "-- migrate:up\n-- nothing to do yet\n/* really */\n-- migrate:down\n",
    })
    up_down = write(tmp_path / "up_down", {
        "001_t.up.sql": "CREATE TABLE t (id int);", "001_t.down.sql": "DROP TABLE t;",
        "002_comments.up.sql": "-- nothing yet\n", "003_empty.up.sql": "",
    })
    for folder in (dbmate, up_down):
        ms = discover(folder)
        assert ms.problems == [] and all(m.down is not None for m in ms.migrations)
        assert set(phases(run(folder)).values()) == {"passed"}
    # an up that does something still needs its down
    write(up_down, {"004_x.up.sql": "SELECT 1;"})
    assert discover(up_down).problems == ["004_x has no down migration (004_x.down.sql)"]


def test_plain_layout_rollback_script_with_drop_index_concurrently(tmp_path, fenced):
    # the --rollback script was always wrapped in a transaction: SQLSTATE 25001
    folder = write(tmp_path / "m", {
        "001_idx.sql": "CREATE INDEX CONCURRENTLY docs_title ON docs (tenant_id, title);",
        "002_col.sql": "ALTER TABLE docs ADD COLUMN body text;",
    })
    script = tmp_path / "rollback.sql"
    script.write_text("ALTER TABLE docs DROP COLUMN body;\nDROP INDEX CONCURRENTLY docs_title;\n")
    report = run(folder, baseline=fenced, rollback=script)
    assert set(phases(report).values()) == {"passed"}, report.findings
    heavy = sorted((f.phase, *where(f)) for f in of(report, "lock-heavy-statement"))
    assert heavy == [("rollback", "rollback.sql", 1), ("upgrade", "002_col.sql", 1)]
