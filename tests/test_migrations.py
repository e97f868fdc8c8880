"""Discovering, ordering and splitting migrations (tenantaudit.rehearsal.migrations).

Pure unit tests on tmp_path folders, plus two tests that run split statements in a real database
to prove the pieces are what PostgreSQL accepts."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from conftest import ROOT

from tenantaudit.errors import ConfigError
from tenantaudit.rehearsal.migrations import (
    Migration,
    MigrationSet,
    Statement,
    discover,
    flyway_version_key,
    split_statements,
    version_key,
)

EXAMPLE = ROOT / "examples" / "voice_agent"
F = Path("m.sql")


def write(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            (folder / name).write_text(content, encoding="utf-8")
    return folder


def split(text: str, first_line: int = 1) -> list[tuple[str, int]]:
    return [(s.sql, s.line) for s in split_statements(text, F, first_line)]


def labels(ms: MigrationSet) -> list[str]:
    return [m.label for m in ms.migrations]


def sqls(statements: list[Statement] | None) -> list[str] | None:
    return None if statements is None else [s.sql for s in statements]


# -- natural version order -------------------------------------------------------------------


def test_version_key_is_natural():
    assert version_key("2") < version_key("10")
    assert version_key("1.2") < version_key("1.10")
    assert version_key("1.10") < version_key("2.0")
    assert version_key("1") < version_key("1.1")
    assert version_key("009") < version_key("010") < version_key("100")
    assert version_key("20240101120000") < version_key("20240101120001")
    assert sorted(["10", "9", "1.10", "1.2", "1"], key=version_key) == ["1", "1.2", "1.10", "9", "10"]


def test_flyway_version_key_accepts_dots_and_underscores():
    assert flyway_version_key("1_1") == flyway_version_key("1.1")
    assert flyway_version_key("1.2") < flyway_version_key("1.10")
    assert flyway_version_key("1.0") == flyway_version_key("1")


# -- up-down layout ---------------------------------------------------------------------------


def test_up_down_discovered_in_natural_order(tmp_path):
    write(
        tmp_path,
        {
            "10_ten.up.sql": "SELECT 10;",
            "10_ten.down.sql": "SELECT -10;",
            "2_two.up.sql": "SELECT 2;",
            "2_two.down.sql": "SELECT -2;",
            "1_one.up.sql": "SELECT 1;",
            "1_one.down.sql": "SELECT -1;",
            "rollback.sql": "DROP TABLE x;",
            "baseline.sql": "CREATE TABLE x ();",
            "README.md": "not sql",
        },
    )
    ms = discover(tmp_path)
    assert ms.layout == "up-down"
    assert labels(ms) == ["1_one", "2_two", "10_ten"]
    assert [m.version for m in ms.migrations] == ["1", "2", "10"]
    assert [m.name for m in ms.migrations] == ["one", "two", "ten"]
    assert sqls(ms.migrations[2].up) == ["SELECT 10"]
    assert sqls(ms.migrations[2].down) == ["SELECT -10"]
    assert ms.migrations[2].up_file == tmp_path / "10_ten.up.sql"
    assert ms.migrations[2].down_file == tmp_path / "10_ten.down.sql"
    assert ms.rollback is None and ms.rollback_file is None
    assert ms.problems == []


def test_up_down_dotted_versions_compare_numerically(tmp_path):
    write(tmp_path, {f"{v}_m.{d}.sql": "SELECT 1;" for v in ("1.10", "1.2", "1.9", "2.0") for d in ("up", "down")})
    ms = discover(tmp_path)
    assert [m.version for m in ms.migrations] == ["1.2", "1.9", "1.10", "2.0"]


def test_up_down_missing_down_is_reported_not_guessed(tmp_path):
    write(
        tmp_path,
        {
            "001_create_x.up.sql": "CREATE TABLE x (id int);",
            "001_create_x.down.sql": "DROP TABLE x;",
            "003_add_x.up.sql": "ALTER TABLE x ADD COLUMN y int;",
            "004_orphan.down.sql": "SELECT 1;",
        },
    )
    ms = discover(tmp_path)
    third = ms.migrations[1]
    assert third.label == "003_add_x"
    assert third.down is None and third.down_file is None
    assert "003_add_x has no down migration (003_add_x.down.sql)" in ms.problems
    assert any("004_orphan.down.sql" in p and "no up migration" in p for p in ms.problems)
    assert len(ms.migrations) == 2


def test_comment_only_or_noop_down_is_a_real_down(tmp_path):
    write(
        tmp_path,
        {
            "001_a.up.sql": "SELECT 1;",
            "001_a.down.sql": "-- nothing to undo\n/* really */\n",
            "002_b.up.sql": "SELECT 2;",
            "002_b.down.sql": "-- no-op\nSELECT 1; -- deliberately\n",
        },
    )
    ms = discover(tmp_path)
    assert ms.migrations[0].down == []
    assert ms.migrations[0].down_file == tmp_path / "001_a.down.sql"
    assert sqls(ms.migrations[1].down) == ["SELECT 1"]
    assert ms.problems == []


# -- dbmate layout ----------------------------------------------------------------------------


DBMATE = """\
-- a header comment is allowed before the up marker

-- migrate:up
CREATE TABLE t (id int);
CREATE INDEX t_id ON t (id);

-- migrate:down
DROP TABLE t;
"""


def test_dbmate_sections_keep_their_file_lines(tmp_path):
    write(
        tmp_path,
        {
            "20240102000000_second.sql": "-- migrate:up\nSELECT 2;\n-- migrate:down\nSELECT -2;\n",
            "20240101000000_first.sql": DBMATE,
        },
    )
    ms = discover(tmp_path)
    assert ms.layout == "dbmate"
    assert labels(ms) == ["20240101000000_first", "20240102000000_second"]
    first = ms.migrations[0]
    assert [(s.sql, s.line) for s in first.up] == [("CREATE TABLE t (id int)", 4), ("CREATE INDEX t_id ON t (id)", 5)]
    assert [(s.sql, s.line) for s in first.down] == [("DROP TABLE t", 8)]
    assert first.up_file == first.down_file == tmp_path / "20240101000000_first.sql"
    assert first.transactional and first.down_transactional
    assert ms.problems == []


def test_dbmate_transaction_false(tmp_path):
    write(
        tmp_path,
        {
            "1_idx.sql": (
                "-- migrate:up transaction:false\n"
                "CREATE INDEX CONCURRENTLY i ON t (a);\n"
                "-- migrate:down transaction:false\n"
                "DROP INDEX CONCURRENTLY i;\n"
            ),
            "2_plain.sql": "-- migrate:up\nALTER TABLE t ADD b int;\n-- migrate:down\nALTER TABLE t DROP b;\n",
            "3_flagged.sql": "-- migrate:up transaction:false\nALTER TABLE t ADD c int;\n-- migrate:down\nALTER TABLE t DROP c;\n",
        },
    )
    one, two, three = discover(tmp_path).migrations
    assert not one.up_transaction and not one.down_transaction
    assert not one.transactional and not one.down_transactional
    assert two.transactional and two.down_transactional
    # The statement itself would run in a transaction: the marker's option decides.
    assert three.up[0].transactional and not three.transactional
    assert three.down_transactional


def test_dbmate_missing_or_empty_down_is_reported(tmp_path):
    write(
        tmp_path,
        {
            "1_no_down.sql": "-- migrate:up\nSELECT 1;\n",
            "2_empty_down.sql": "-- migrate:up\nSELECT 2;\n-- migrate:down\n-- nothing here\n\n",
            "3_noop_down.sql": "-- migrate:up\nSELECT 3;\n-- migrate:down\nSELECT 1;\n",
        },
    )
    ms = discover(tmp_path)
    one, two, three = ms.migrations
    assert one.down is None and one.down_file is None
    assert two.down is None and two.down_file is None
    assert sqls(three.down) == ["SELECT 1"]
    assert any(p.startswith("1_no_down has no down migration") for p in ms.problems)
    assert any(p.startswith("2_empty_down has no down migration") and "empty" in p for p in ms.problems)
    assert len(ms.problems) == 2


def test_dbmate_rejects_sql_before_up_and_down_before_up(tmp_path):
    write(tmp_path / "a", {"1_x.sql": "SELECT 0;\n-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 2;\n"})
    with pytest.raises(ConfigError, match="1_x.sql has SQL before"):
        discover(tmp_path / "a")
    write(tmp_path / "b", {"1_x.sql": "-- migrate:down\nSELECT 2;\n-- migrate:up\nSELECT 1;\n"})
    with pytest.raises(ConfigError, match="comes before"):
        discover(tmp_path / "b")


# -- flyway layout ----------------------------------------------------------------------------


def test_flyway_versions_undo_files_and_repeatables(tmp_path):
    write(
        tmp_path,
        {
            "V1__init.sql": "CREATE TABLE t (id int);",
            "U1__init.sql": "DROP TABLE t;",
            "V1_1__add_a.sql": "ALTER TABLE t ADD a int;",
            "U1.1__add_a.sql": "ALTER TABLE t DROP a;",
            "V1.10__add_c.sql": "ALTER TABLE t ADD c int;",
            "V1.2__add_b.sql": "ALTER TABLE t ADD b int;",
            "U1.2__add_b.sql": "ALTER TABLE t DROP b;",
            "V2__more.sql": "SELECT 2;",
            "U2__more.sql": "SELECT 1;",
            "R__views.sql": "CREATE OR REPLACE VIEW v AS SELECT 1;",
        },
    )
    ms = discover(tmp_path)
    assert ms.layout == "flyway"
    assert [m.version for m in ms.migrations] == ["1", "1_1", "1.2", "1.10", "2"]
    assert labels(ms)[:2] == ["V1__init", "V1_1__add_a"]
    assert [m.name for m in ms.migrations] == ["init", "add_a", "add_b", "add_c", "more"]
    assert sqls(ms.migrations[1].down) == ["ALTER TABLE t DROP a"]  # V1_1 is undone by U1.1
    assert ms.migrations[1].down_file == tmp_path / "U1.1__add_a.sql"
    assert ms.migrations[3].down is None
    assert "V1.10__add_c has no down migration (U1.10__add_c.sql)" in ms.problems
    assert any("R__views.sql" in p and "repeatable migrations are not rehearsed" in p for p in ms.problems)
    assert all("R__" not in m.up_file.name for m in ms.migrations)


def test_flyway_duplicate_versions_name_both_files(tmp_path):
    write(tmp_path, {"V1_1__a.sql": "SELECT 1;", "V1.1__b.sql": "SELECT 2;"})
    with pytest.raises(ConfigError) as err:
        discover(tmp_path)
    assert "V1.1__b.sql" in err.value.message and "V1_1__a.sql" in err.value.message


# -- plain layout and --rollback --------------------------------------------------------------


def test_plain_with_rollback_script(tmp_path):
    write(
        tmp_path,
        {
            "002_add.sql": "ALTER TABLE t ADD a int;",
            "001_create.sql": "CREATE TABLE t (id int);",
            "rollback.sql": "-- undo everything\nDROP TABLE IF EXISTS t;\n",
        },
    )
    ms = discover(tmp_path, rollback=tmp_path / "rollback.sql")
    assert ms.layout == "plain"
    assert labels(ms) == ["001_create", "002_add"]
    assert all(m.down is None for m in ms.migrations)
    assert [(s.sql, s.line) for s in ms.rollback] == [("DROP TABLE IF EXISTS t", 2)]
    assert ms.rollback_file == tmp_path / "rollback.sql"
    assert ms.problems == []


def test_plain_without_rollback_does_not_guess_rollback_sql(tmp_path):
    write(tmp_path, {"001_create.sql": "CREATE TABLE t (id int);", "rollback.sql": "DROP TABLE t;"})
    ms = discover(tmp_path)
    assert ms.rollback is None and ms.rollback_file is None
    assert labels(ms) == ["001_create"]
    [problem] = ms.problems
    assert problem.startswith("no down migrations and no --rollback script: rollback cannot be rehearsed")
    assert f"--rollback {tmp_path / 'rollback.sql'}" in problem

    other = write(tmp_path / "other", {"001_create.sql": "CREATE TABLE t (id int);"})
    assert discover(other).problems == ["no down migrations and no --rollback script: rollback cannot be rehearsed"]


def test_rollback_script_works_with_any_layout_and_outside_the_folder(tmp_path):
    folder = write(tmp_path / "m", {"1_a.up.sql": "SELECT 1;", "1_a.down.sql": "SELECT 2;"})
    script = write(tmp_path / "elsewhere", {"undo.sql": "SELECT 3;\nSELECT 4"}) / "undo.sql"
    ms = discover(folder, rollback=script)
    assert [(s.sql, s.line, s.file) for s in ms.rollback] == [("SELECT 3", 1, script), ("SELECT 4", 2, script)]


def test_a_rollback_file_inside_the_folder_is_not_a_migration(tmp_path):
    write(tmp_path, {"001_a.sql": "SELECT 1;", "002_undo_all.sql": "SELECT 2;"})
    ms = discover(tmp_path, rollback=tmp_path / "002_undo_all.sql")
    assert labels(ms) == ["001_a"]
    assert sqls(ms.rollback) == ["SELECT 2"]


def test_missing_rollback_script_is_a_config_error(tmp_path):
    write(tmp_path, {"001_a.sql": "SELECT 1;"})
    with pytest.raises(ConfigError, match="rollback script .* does not exist"):
        discover(tmp_path, rollback=tmp_path / "nope.sql")


# -- errors -----------------------------------------------------------------------------------


def test_mixed_layouts_name_two_conflicting_files(tmp_path):
    write(tmp_path, {"001_a.up.sql": "SELECT 1;", "001_a.down.sql": "SELECT 1;", "V2__b.sql": "SELECT 2;"})
    with pytest.raises(ConfigError) as err:
        discover(tmp_path)
    assert "mixed migration layouts" in err.value.message
    assert "001_a.down.sql" in err.value.message and "V2__b.sql" in err.value.message


def test_dbmate_and_plain_files_do_not_mix(tmp_path):
    write(tmp_path, {"1_a.sql": "-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 2;\n", "2_b.sql": "SELECT 3;"})
    with pytest.raises(ConfigError) as err:
        discover(tmp_path)
    assert "1_a.sql is dbmate" in err.value.message and "2_b.sql is plain" in err.value.message


def test_duplicate_versions_name_both_files(tmp_path):
    write(tmp_path, {"001_a.up.sql": "SELECT 1;", "1_b.up.sql": "SELECT 2;"})
    with pytest.raises(ConfigError) as err:
        discover(tmp_path)
    assert "duplicate migration version" in err.value.message
    assert "001_a.up.sql" in err.value.message and "1_b.up.sql" in err.value.message


def test_empty_folder_lists_the_layouts(tmp_path):
    with pytest.raises(ConfigError) as err:
        discover(tmp_path)
    assert err.value.message == f"no migrations found in {tmp_path}"
    for layout in (".up.sql", "migrate:up", "V<version>__name.sql", "--rollback"):
        assert layout in err.value.fix
    write(tmp_path, {"rollback.sql": "SELECT 1;", "baseline.sql": "SELECT 1;", "README": "x"})
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "001_a.sql").write_text("SELECT 1;")  # not recursive
    with pytest.raises(ConfigError, match="no migrations found"):
        discover(tmp_path)


def test_not_a_directory(tmp_path):
    file = write(tmp_path, {"001_a.sql": "SELECT 1;"}) / "001_a.sql"
    with pytest.raises(ConfigError, match="is not a directory"):
        discover(file)
    with pytest.raises(ConfigError, match="does not exist"):
        discover(tmp_path / "missing")


def test_non_utf8_file_is_a_config_error_naming_it(tmp_path):
    write(tmp_path, {"001_a.up.sql": b"SELECT 1;\nSELECT '\xff\xfe';\n", "001_a.down.sql": "SELECT 1;"})
    with pytest.raises(ConfigError) as err:
        discover(tmp_path)
    assert "001_a.up.sql" in err.value.message and "UTF-8" in err.value.message and "line 2" in err.value.message


def test_bom_and_crlf_are_handled(tmp_path):
    write(tmp_path, {"001_a.up.sql": "\ufeff-- c\r\nSELECT 1;\r\n\r\nSELECT 2;\r\n".encode(), "001_a.down.sql": "SELECT 1;"})
    [m] = discover(tmp_path).migrations
    assert [(s.sql, s.line) for s in m.up] == [("SELECT 1", 2), ("SELECT 2", 4)]


# -- splitting --------------------------------------------------------------------------------


def test_dollar_quoted_bodies_keep_their_semicolons():
    text = (
        "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "  NEW.x := 1;\n"
        "  RETURN NEW;\n"
        "END;\n"
        "$$;\n"
        "SELECT 2;\n"
    )
    [(body, line), second] = split(text)
    assert line == 1
    assert body.startswith("CREATE FUNCTION") and body.endswith("$$")
    assert "RETURN NEW;" in body
    assert second == ("SELECT 2", 7)


def test_tagged_dollar_quotes_nest():
    text = "DO $outer$\nBEGIN\n  EXECUTE $inner$ SELECT 1; $$ ; $inner$;\nEND\n$outer$;\nSELECT $tag$a;b$tag$ AS x;"
    assert split(text) == [
        ("DO $outer$\nBEGIN\n  EXECUTE $inner$ SELECT 1; $$ ; $inner$;\nEND\n$outer$", 1),
        ("SELECT $tag$a;b$tag$ AS x", 6),
    ]


def test_strings_with_semicolons_and_doubled_quotes():
    text = "SELECT 'a;b''c;' AS s;\nSELECT E'x\\';y' AS e;\nSELECT 'C:\\';\nSELECT U&'d\\0061t;a';\nSELECT \"col;\"\"x\" FROM t;"
    assert split(text) == [
        ("SELECT 'a;b''c;' AS s", 1),
        ("SELECT E'x\\';y' AS e", 2),
        ("SELECT 'C:\\'", 3),  # standard_conforming_strings: the backslash escapes nothing
        ("SELECT U&'d\\0061t;a'", 4),
        ('SELECT "col;""x" FROM t', 5),
    ]


def test_comments_with_semicolons_are_not_statements():
    text = (
        "-- header; with a semicolon\n"
        "SELECT 1; -- trailing; comment\n"
        "/* block; comment\n"
        "   /* nested; */ still; inside */\n"
        "SELECT /* inline; */ 2;\n"
        "-- only a comment at the end;\n"
    )
    assert split(text) == [("SELECT 1", 2), ("SELECT /* inline; */ 2", 5)]


def test_line_numbers_are_exact():
    text = (
        "\n"  # 1
        "-- comment\n"  # 2
        "\n"  # 3
        "   CREATE TABLE t (\n"  # 4
        "     id int\n"  # 5
        "   );  SELECT 1;\n"  # 6: two statements on one line
        "/* multi\n"  # 7
        "   line */ INSERT INTO t\n"  # 8
        "VALUES (1);\n"  # 9
    )
    assert split(text) == [
        ("CREATE TABLE t (\n     id int\n   )", 4),
        ("SELECT 1", 6),
        ("INSERT INTO t\nVALUES (1)", 8),
    ]
    assert split("SELECT 1;\nSELECT 2;", first_line=40) == [("SELECT 1", 40), ("SELECT 2", 41)]


def test_file_without_trailing_semicolon():
    assert split("SELECT 1;\nSELECT 2\n") == [("SELECT 1", 1), ("SELECT 2", 2)]
    assert split("SELECT 3 -- no semicolon, then a comment\n") == [("SELECT 3", 1)]


def test_empty_statements_and_comment_only_text_are_dropped():
    assert split(";;\n-- only comments\n/* and this */\n;") == []
    assert split("") == []


def test_psql_meta_commands_are_dropped_and_reported(tmp_path):
    text = "\\set ON_ERROR_STOP on\nSELECT 1;\n  \\echo done; really\nSELECT '\\not_meta';\n"
    assert split(text) == [("SELECT 1", 2), ("SELECT '\\not_meta'", 4)]
    write(tmp_path, {"001_a.up.sql": text, "001_a.down.sql": "SELECT 1;"})
    problems = discover(tmp_path).problems
    assert any("001_a.up.sql line 1" in p and "\\set ON_ERROR_STOP on" in p for p in problems)
    assert any("001_a.up.sql line 3" in p for p in problems)


def test_begin_commit_are_kept_as_statements():
    statements = split_statements("BEGIN;\nCREATE TABLE t (id int);\nCOMMIT;\n", F)
    assert [(s.sql, s.line) for s in statements] == [("BEGIN", 1), ("CREATE TABLE t (id int)", 2), ("COMMIT", 3)]
    assert [s.controls_transaction for s in statements] == [True, False, True]
    migration = Migration("1", "own_tx", statements, None, Path("1_own_tx.up.sql"), None)
    assert migration.manages_transaction
    assert not migration.transactional  # wrapping it would let its COMMIT end the wrapper
    assert not split_statements("ROLLBACK TO SAVEPOINT s", F)[0].controls_transaction


def test_sqlparse_pitfalls_are_handled():
    # Each of these is split wrongly by sqlparse.split() 0.6 (see the comment in migrations.py).
    assert split("SELECT 5 # 3;\nSELECT 2;") == [("SELECT 5 # 3", 1), ("SELECT 2", 2)]
    assert split("CREATE TABLE t (id int, GO int);\nSELECT 2;") == [("CREATE TABLE t (id int, GO int)", 1), ("SELECT 2", 2)]
    assert split("BEGIN ISOLATION LEVEL SERIALIZABLE;\nSELECT 1;\nCOMMIT;") == [
        ("BEGIN ISOLATION LEVEL SERIALIZABLE", 1),
        ("SELECT 1", 2),
        ("COMMIT", 3),
    ]
    assert split("SELECT 1; /* a; /* b; */ c; */ SELECT 2;") == [("SELECT 1", 1), ("SELECT 2", 1)]


def test_sql_standard_function_bodies_stay_whole():
    text = (
        "CREATE OR REPLACE FUNCTION f(x int) RETURNS int LANGUAGE sql\n"
        "BEGIN ATOMIC\n"
        "  SELECT CASE WHEN x > 0 THEN 1 END;\n"
        "  SELECT 2;\n"
        "END;\n"
        "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2));\n"
        "SELECT 9;"
    )
    assert [line for _, line in split(text)] == [1, 6, 7]


@pytest.mark.parametrize(
    "sql, transactional",
    [
        ("CREATE INDEX CONCURRENTLY i ON t (a)", False),
        ("create unique index concurrently if not exists i on t (a)", False),
        ("CREATE INDEX i ON t (a)", True),
        ("DROP INDEX CONCURRENTLY IF EXISTS i", False),
        ("DROP INDEX i", True),
        ("REINDEX INDEX CONCURRENTLY i", False),
        ("REINDEX (CONCURRENTLY) TABLE t", False),
        ("REINDEX TABLE t", True),
        ("REINDEX DATABASE d", False),
        ("VACUUM (ANALYZE) t", False),
        ("ANALYZE t", True),
        ("CREATE DATABASE d", False),
        ("DROP DATABASE IF EXISTS d", False),
        ("ALTER DATABASE d SET TABLESPACE ts", False),
        ("ALTER DATABASE d SET work_mem = '64MB'", True),
        ("CREATE TABLESPACE ts LOCATION '/x'", False),
        ("DROP TABLESPACE ts", False),
        ("ALTER SYSTEM SET work_mem = '64MB'", False),
        ("CLUSTER t USING i", True),
        ("CLUSTER", False),
        ("ALTER TABLE p DETACH PARTITION c CONCURRENTLY", False),
        ("ALTER TABLE p DETACH PARTITION c", True),
        ("ALTER TYPE mood ADD VALUE 'meh'", True),
        ("-- CREATE INDEX CONCURRENTLY in a comment\nCREATE INDEX i ON t (a)", True),
        ("SELECT 'VACUUM'", True),
        ("BEGIN", True),
    ],
)
def test_transactional(sql, transactional):
    assert Statement(sql, F, 1).transactional is transactional


def test_create_index_concurrently_makes_the_migration_non_transactional(tmp_path):
    write(
        tmp_path,
        {
            "001_a.up.sql": "ALTER TABLE t ADD a int;\nCREATE INDEX CONCURRENTLY t_a ON t (a);\n",
            "001_a.down.sql": "DROP INDEX CONCURRENTLY t_a;\nALTER TABLE t DROP a;\n",
            "002_b.up.sql": "ALTER TABLE t ADD b int;",
            "002_b.down.sql": "ALTER TABLE t DROP b;",
        },
    )
    first, second = discover(tmp_path).migrations
    assert [s.transactional for s in first.up] == [True, False]
    assert not first.transactional and not first.down_transactional
    assert second.transactional and second.down_transactional


def test_summary():
    s = Statement("CREATE TABLE t ( -- the table\n  id int,\n\n  name text\n)", F, 1)
    assert s.summary == "CREATE TABLE t ( id int, name text )"
    long = Statement("SELECT " + ", ".join(f"c{i}" for i in range(100)), F, 1)
    assert len(long.summary) == 100 and long.summary.endswith("…")


# -- the bundled example ----------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["as_written", "corrected"])
def test_bundled_example_is_up_down_with_eight_migrations(variant):
    ms = discover(EXAMPLE / variant)
    assert ms.layout == "up-down"
    assert [m.version for m in ms.migrations] == [f"00{i}" for i in range(1, 9)]
    assert labels(ms)[0] == "001_create_tenants" and labels(ms)[-1] == "008_backfill_default_tenant"
    assert all(m.down is not None for m in ms.migrations)
    assert all(m.up and m.transactional for m in ms.migrations)
    assert all(m.up_file.name != "rollback.sql" for m in ms.migrations)
    assert ms.rollback is None
    assert ms.problems == []


def test_as_written_001_create_index_line():
    path = EXAMPLE / "as_written" / "001_create_tenants.up.sql"
    wanted = "CREATE INDEX idx_tenants_name ON tenants(name)"
    expected_line = next(i for i, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(wanted))
    [m] = [m for m in discover(EXAMPLE / "as_written").migrations if m.version == "001"]
    [statement] = [s for s in m.up if s.sql == wanted]
    assert statement.line == expected_line
    assert statement.file == path
    assert m.up[0].sql.startswith("CREATE TABLE IF NOT EXISTS tenants (")
    assert m.up[0].line == 5  # after the three header comment lines and a blank line


def test_as_written_rollback_sql_when_passed():
    rollback = EXAMPLE / "as_written" / "rollback.sql"
    ms = discover(EXAMPLE / "as_written", rollback=rollback)
    assert len(ms.migrations) == 8
    assert ms.rollback_file == rollback
    assert ms.rollback[0].sql == "DROP POLICY IF EXISTS tenant_isolation_voice_calls ON voice_calls"
    assert ms.rollback[0].line == 9
    assert ms.rollback[-1].sql == "DROP TABLE IF EXISTS voices CASCADE"


# -- in a real database -----------------------------------------------------------------------


def run_statements(dsn: str, statements: list[Statement]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for s in statements:
            try:
                conn.execute(s.sql)
            except psycopg.Error as exc:
                raise AssertionError(f"{s.file.name}:{s.line}: {s.summary}: {exc}") from exc


def test_split_example_statements_run_in_postgresql(db):
    baseline = split_statements((EXAMPLE / "baseline.sql").read_text(), EXAMPLE / "baseline.sql")
    corrected = discover(EXAMPLE / "corrected").migrations
    run_statements(db.dsn, baseline)
    for m in corrected:
        run_statements(db.dsn, m.up)
    for m in reversed(corrected):
        run_statements(db.dsn, m.down)
    for m in corrected:  # up again after a full rollback
        run_statements(db.dsn, m.up)
    assert db.sql("SELECT count(*) FROM voice_calls") == [(0,)]

    db.sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    run_statements(db.dsn, baseline)
    for m in discover(EXAMPLE / "as_written").migrations:
        run_statements(db.dsn, m.up)
    assert db.sql("SELECT count(*) FROM leads WHERE tenant_id IS NULL") == [(0,)]


def test_tricky_split_statements_each_parse_in_postgresql(db):
    text = (
        "CREATE TABLE t (id int, GO int, note text);\n"
        "/* outer; /* nested; */ still; */\n"
        "INSERT INTO t VALUES (5 # 3, 1, 'a;b''c');\n"
        "INSERT INTO t VALUES (2, 2, E'x\\';y');\n"
        "INSERT INTO t VALUES (3, 3, 'C:\\');\n"
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$\n"
        "BEGIN\n  RETURN (SELECT count(*) FROM t WHERE note <> $q$;$q$);\nEND;\n$body$;\n"
        "CREATE FUNCTION g(x int) RETURNS int LANGUAGE sql\n"
        "BEGIN ATOMIC\n  SELECT CASE WHEN x > 0 THEN 1 END;\nEND;\n"
        "\\echo psql only\n"
        "SELECT f() + g(1)"
    )
    statements = split_statements(text, F)
    assert len(statements) == 7
    run_statements(db.dsn, statements)
    assert db.sql("SELECT id, note FROM t ORDER BY id") == [(2, "x';y"), (3, "C:\\"), (6, "a;b'c")]
    assert db.sql("SELECT f() + g(1)") == [(4,)]
