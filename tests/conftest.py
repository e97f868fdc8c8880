"""Tests run against real PostgreSQL: one embedded cluster per session, one database per test."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import psycopg
import pytest
from psycopg import sql

from tenantaudit.audit import audit
from tenantaudit.config import AuditConfig
from tenantaudit.findings import Finding, Report
from tenantaudit.sandbox import EmbeddedPostgres

ROOT = Path(__file__).resolve().parents[1]
_counter = itertools.count(1)


@pytest.fixture(scope="session")
def sandbox():
    with EmbeddedPostgres(tcp=True) as pg:
        yield pg


@dataclass
class TestDatabase:
    """A fresh database and a fresh application role (NOLOGIN, owns nothing) for one test."""

    sandbox: EmbeddedPostgres
    name: str
    app_role: str
    roles: list[str] = field(default_factory=list)

    @property
    def dsn(self) -> str:
        return self.sandbox.dsn(self.name)

    def sql(self, text: str, params=None) -> list[tuple]:
        """Run SQL as the superuser (autocommit); returns rows of the last statement, if any."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cur = conn.execute(text, params) if params is not None else conn.execute(text)
            return cur.fetchall() if cur.description else []

    def role(self, prefix: str = "r") -> str:
        """A cluster-wide role name unique to this test, dropped at teardown."""
        name = f"{prefix}_{self.name}"
        self.roles.append(name)
        return name

    def tenants(self) -> None:
        self.sql("CREATE TABLE public.tenants (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL)")

    def fenced_table(self, table: str = "items", schema: str = "public", columns: str = "body text") -> str:
        """A correctly fenced tenant table; returns its quoted qualified name."""
        q = f"{quote(schema)}.{quote(table)}"
        fence = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
        self.sql(
            f"""
            CREATE SCHEMA IF NOT EXISTS {quote(schema)};
            GRANT USAGE ON SCHEMA {quote(schema)} TO {quote(self.app_role)};
            CREATE TABLE {q} (
              id uuid NOT NULL DEFAULT gen_random_uuid(),
              tenant_id uuid NOT NULL REFERENCES public.tenants (id),
              {columns},
              PRIMARY KEY (tenant_id, id)
            );
            ALTER TABLE {q} ENABLE ROW LEVEL SECURITY;
            ALTER TABLE {q} FORCE ROW LEVEL SECURITY;
            CREATE POLICY tenant_isolation ON {q} USING ({fence}) WITH CHECK ({fence});
            GRANT SELECT, INSERT, UPDATE, DELETE ON {q} TO {quote(self.app_role)};
            """
        )
        return q

    def audit(self, **options) -> Report:
        options.setdefault("app_role", self.app_role)
        config = AuditConfig(**options)
        # as on the command line: what the test names is the user's choice, never replaced by inference
        config.origins.update({name: f"--{name.replace('_', '-')}" for name in options if name != "app_role"})
        return audit(self.dsn, config)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def fresh_database(sandbox, suffix: str = "") -> Iterator[TestDatabase]:
    """A new database with a NOLOGIN app role that may use schema public; dropped afterwards,
    with every role the test made."""
    name = f"t{next(_counter)}_{os.getpid()}{suffix}"
    app_role = f"app_{name}"
    with sandbox.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(app_role)))
    database = TestDatabase(sandbox, name, app_role)
    try:
        database.sql(f"GRANT USAGE ON SCHEMA public TO {quote(app_role)}")
        yield database
    finally:
        with sandbox.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            for role in [app_role, *database.roles]:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.fixture
def db(sandbox):
    with fresh_database(sandbox) as database:
        yield database


def hits(report: Report, category: str) -> list[str]:
    """The objects (schema.table) a category was reported on, sorted."""
    return sorted(f.qualified_name for f in report.findings if f.category == category)


def of(report: Report, category: str) -> list[Finding]:
    return [f for f in report.findings if f.category == category]


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    """The real console entry point, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "tenantaudit.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd or ROOT,
        timeout=timeout,
    )


def phases(report) -> dict[str, str]:
    """A rehearsal report's phases: name -> status."""
    return {p["name"]: p["status"] for p in report.phases}


def write(folder: Path, files: dict[str, str]) -> Path:
    """Write a migration set (file name -> text) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def rehearse_folder(path: Path, **options):
    """Run a rehearsal in-process with default check options unless ``config`` is given."""
    from tenantaudit.rehearsal.run import RehearsalOptions, rehearse

    config = options.pop("config", AuditConfig())
    return rehearse(RehearsalOptions(path=path, config=config, **options))
