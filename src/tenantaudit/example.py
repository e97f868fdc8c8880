"""The bundled example (examples/voice_agent): load it into a sandbox and audit it."""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import sql

from .config import AuditConfig
from .errors import ConfigError, ConnectError
from .findings import Report

DEMO_APP_ROLE = "app_user"


def default_example_dir() -> Path:
    candidates = [Path.cwd() / "examples" / "voice_agent", Path(__file__).resolve().parents[2] / "examples" / "voice_agent"]
    for candidate in candidates:
        if (candidate / "baseline.sql").is_file():
            return candidate
    raise ConfigError("the bundled example was not found", fix="run from the repository root or pass the example folder")


def migration_files(example: Path, corrected: bool) -> list[Path]:
    folder = example / ("corrected" if corrected else "as_written")
    ups = sorted(folder.glob("*.up.sql"))
    if not ups:
        raise ConfigError(f"{folder} holds no *.up.sql migrations", fix="pass the example folder")
    return [example / "baseline.sql", *ups]


def apply_files(conn: psycopg.Connection, files: list[Path]) -> None:
    for path in files:
        try:
            conn.execute(path.read_text(encoding="utf-8"))
        except psycopg.Error as exc:
            raise ConnectError(f"{path.name} failed: {str(exc).strip().splitlines()[0]}", fix="fix the SQL file") from None


def create_app_role(conn: psycopg.Connection, role: str, schemas: list[str] = ["public"]) -> None:
    """An application role as a careful team would make it: not the owner, DML only."""
    conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
    grant_app_role(conn, role, schemas)


def grant_app_role(
    conn: psycopg.Connection, role: str, schemas: list[str] = ["public"], tenants_table: str | None = "public.tenants",
    *, read_tenants: bool = True,
) -> None:
    """create_app_role's grants, to a role that exists: DML on every table, USAGE on sequences, and
    only SELECT on the tenants table (an application that may rename or delete another tenant is
    a finding of its own, tenants-table-exposed, not something to plant in a rehearsal); with
    ``read_tenants`` False not even that (rehearse's own role: its reading every tenant's row
    would be a finding about the tool's grants, not about the migrations)."""
    for schema in schemas:
        ident = sql.Identifier(schema)
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(ident, sql.Identifier(role)))
        conn.execute(
            sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(ident, sql.Identifier(role))
        )
        conn.execute(sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(ident, sql.Identifier(role)))
    if tenants_table and tenants_table != "none":
        from .config import split_qualified_name

        schema, table = split_qualified_name(tenants_table)
        exists = conn.execute(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s)", (schema, table)
        ).fetchone()[0]
        if exists and schema in schemas:
            revoked = sql.SQL("INSERT, UPDATE, DELETE") if read_tenants else sql.SQL("ALL")
            conn.execute(sql.SQL("REVOKE {} ON {} FROM {}").format(revoked, sql.Identifier(schema, table), sql.Identifier(role)))


def drop_app_role_grants(conn: psycopg.Connection, role: str, schemas: list[str] = ["public"]) -> None:
    """Undo create_app_role's grants (the role itself is cluster-wide: the caller drops it)."""
    for schema in schemas:
        ident, who = sql.Identifier(schema), sql.Identifier(role)
        conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(ident, who))
        conn.execute(sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(ident, who))
        conn.execute(sql.SQL("REVOKE USAGE ON SCHEMA {} FROM {}").format(ident, who))


def run_demo(example: Path | None, *, corrected: bool, pg_bin: Path | None, config: AuditConfig) -> Report:
    from rich.console import Console

    from .audit import audit
    from .sandbox import EmbeddedPostgres

    example = example or default_example_dir()
    files = migration_files(example, corrected)
    console = Console(stderr=True, highlight=False)
    with console.status("starting a throwaway PostgreSQL…"):
        sandbox = EmbeddedPostgres(pg_bin=pg_bin).start()
    try:
        with console.status(f"applying {len(files)} files of {example.name} ({'corrected' if corrected else 'as written'})…"):
            dsn = sandbox.create_database("voice_agent")
            with psycopg.connect(dsn, autocommit=True) as conn:
                apply_files(conn, files)
                create_app_role(conn, DEMO_APP_ROLE)
        config.app_role = DEMO_APP_ROLE
        with console.status("auditing…"):
            report = audit(dsn, config)
        report.notes.extend(sandbox.reaped)  # sandboxes of killed runs, removed at start
        report.notes.append(
            f"demo: PostgreSQL {sandbox.binaries.major} from {sandbox.binaries.source}; "
            f"{example.name} {'corrected' if corrected else 'as written'}; app role {DEMO_APP_ROLE}"
        )
        return report
    finally:
        sandbox.stop()
