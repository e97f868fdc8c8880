"""Every way real schemas name the tenant, through the real CLI (issue 8, Acceptance).

Each fixture in tests/schemas/models/ (see its README) is a schema written for these tests after
a public pattern: NAME.sql is the correct variant, NAME.hole_WHAT.sql plants one hole on top.
Each runs through ``tenantaudit check DSN --app-role ROLE --json PATH`` with no other flag
(``--probe write`` only where a hole can be seen by writing alone), and:

- the correct variant gives no critical or high finding, and the report's ``context`` names the
  inferred model, tenant column and tenants table (``None`` where there is none);
- each hole is found: one of the categories that names it is reported, at high or critical, on
  the object the hole is in.

Two further tests keep the fixtures honest: on each correct variant the default read probe proves
the main tenant tables isolated (``pass`` for ``read`` and ``unset-read``), and each hole is shown
to be real without tenantaudit (a query as the application role that the correct variant fences
and the hole opens). supabase_accounts also holds the personal-account case: user 1's personal
account has user 1's id, and user 1 is a member of team Q too; its rows come first.

Assertion messages print what they compare: the findings as ``severity category object`` lines,
and the report's context.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from conftest import quote, run_cli
from psycopg import sql

MODELS = Path(__file__).resolve().parent / "schemas" / "models"
SERIOUS = ("critical", "high")

# {placeholder} -> prefix of the cluster-wide role the test creates for it (db.role(prefix))
ROLE_PLACEHOLDERS = {"owner": "own", "tenant_a": "ta", "tenant_b": "tb"}


# -- what each fixture should be inferred as ---------------------------------------------------

@dataclass(frozen=True)
class Expected:
    model: str
    tenant_column: str
    tenant_table: str | None
    more: dict = field(default_factory=dict)  # further keys of the context, compared where given


FIXTURES: dict[str, Expected] = {
    "supabase_accounts": Expected(
        "membership", "account_id", "public.accounts",
        {"setting": "request.jwt.claims", "json_path": ["sub"],
         "membership": {"table": "public.account_user", "user_column": "user_id", "tenant_column": "account_id"}},
    ),
    "sessions": Expected(
        "membership", "organization_id", "app_public.organizations",
        {"setting": "jwt.claims.session_id",
         "membership": {"table": "app_public.organization_memberships", "user_column": "user_id",
                        "tenant_column": "organization_id"},
         "session": {"table": "app_private.sessions", "key_column": "uuid", "user_column": "user_id"}},
    ),
    "role_per_tenant": Expected("role", "tenant_id", "public.tenants", {"role_column": "db_user"}),
    "slug_mapped": Expected("mapped", "tenant_id", "public.tenants", {"setting": "app.tenant", "mapped_key": "slug"}),
    "microservice": Expected("setting", "tenant_id", None, {"setting": "app.tenant_id"}),
    "jwt_role_claim": Expected("setting", "org_id", "public.orgs", {"setting": "request.jwt.claims", "json_path": ["org_id"]}),
}


@dataclass(frozen=True)
class Hole:
    fixture: str
    what: str  # NAME.hole_WHAT.sql
    any_of: tuple[tuple[str, str], ...]  # (category, object): one of them at high/critical finds the hole
    probe: str | None = None  # "write" where only a write can show the hole
    # Ground truth, checked without tenantaudit: ``demo`` runs as the app role with ``settings``
    # (set_config, local) and gives ``fenced`` on the correct variant, ``open`` with the hole.
    demo: str = ""
    settings: dict = field(default_factory=dict)
    fenced: object = None
    open: object = None

    @property
    def id(self) -> str:
        return f"{self.fixture}.{self.what}"


# ids used in the fixtures' data
USER_3 = "00000000-0000-0000-0000-000000000003"  # supabase_accounts: owns personal account P3 only
USER_3_CLAIMS = json.dumps({"sub": USER_3, "role": "authenticated"})
TEAM_R = "00000000-0000-0000-0000-0000000000bb"  # supabase_accounts: user 4's team
ORG_A = "00000000-0000-0000-0000-00000000000a"
ANN_SESSION = "00000000-0000-0000-0000-00000000a001"  # sessions: ann, org one only

HOLES = [
    Hole("supabase_accounts", "helper_ignores_caller", (
        # the helper's own query answers for every user: the definer function is the bypass ...
        ("security-definer-function", "public.get_accounts_with_role"),
        # ... so the policies calling it fence nothing, and the read probe sees other accounts
        ("policy-not-tenant-scoped", "public.projects"),
        ("probe-read-leak", "public.projects"),
        ("tenants-table-exposed", "public.accounts"),
    ), demo="SELECT count(DISTINCT account_id) FROM public.projects",
       settings={"request.jwt.claims": USER_3_CLAIMS}, fenced=1, open=4),
    Hole("supabase_accounts", "join_any_account", (
        ("policy-write-unchecked", "public.account_user"),
        ("policy-permissive-bypass", "public.account_user"),
        ("probe-write-leak", "public.account_user"),
    ), probe="write",
       demo=f"INSERT INTO public.account_user (user_id, account_id) VALUES ('{USER_3}', '{TEAM_R}') RETURNING 1",
       settings={"request.jwt.claims": USER_3_CLAIMS}, fenced="42501", open=1),
    Hole("sessions", "admin_setting", (
        ("policy-permissive-bypass", "app_public.projects"),
        ("policy-not-tenant-scoped", "app_public.projects"),
    ), demo="SELECT count(DISTINCT organization_id) FROM app_public.projects",
       settings={"jwt.claims.session_id": ANN_SESSION, "app.is_admin": "true"}, fenced=1, open=2),
    Hole("role_per_tenant", "role_member_of_other", (
        # the object is one of the two tenant roles (A, who can become B; or B, reachable by A)
        ("role-bypasses-rls", "{tenant_a}"),
        ("role-bypasses-rls", "{tenant_b}"),
        ("probe-read-leak", "public.customers"),
        ("probe-read-leak", "public.orders"),
        ("tenants-table-exposed", "public.tenants"),
    ), demo="SELECT pg_has_role({tenant_a_literal}, {tenant_b_literal}, 'MEMBER')", fenced=False, open=True),
    Hole("slug_mapped", "definer_view", (
        ("view-bypasses-rls", "public.recent_comments"),
        ("probe-read-leak", "public.recent_comments"),
    ), demo="SELECT count(DISTINCT tenant_id) FROM public.recent_comments",
       settings={"app.tenant": "acme"}, fenced="42P01", open=3),
    Hole("microservice", "rls_disabled", (("rls-disabled", "billing.payments"),),
         demo="SELECT count(DISTINCT tenant_id) FROM billing.payments",
         settings={"app.tenant_id": ORG_A}, fenced="42P01", open=2),
    Hole("jwt_role_claim", "any_authenticated", (
        ("policy-permissive-bypass", "public.files"),
        ("policy-not-tenant-scoped", "public.files"),
        ("probe-read-leak", "public.files"),
    ), demo="SELECT count(DISTINCT org_id) FROM public.files",
       settings={"request.jwt.claims": json.dumps({"sub": USER_3, "role": "authenticated", "org_id": ORG_A,
                                                   "user_role": "member"})}, fenced=1, open=2),
    Hole("jwt_role_claim", "admin_any_org", (
        ("policy-permissive-bypass", "public.notes"),
        ("policy-not-tenant-scoped", "public.notes"),
        ("probe-read-leak", "public.notes"),
    ), demo="SELECT count(DISTINCT org_id) FROM public.notes",
       settings={"request.jwt.claims": json.dumps({"sub": USER_3, "role": "authenticated", "org_id": ORG_A,
                                                   "user_role": "admin"})}, fenced=1, open=2),
]


# -- loading a fixture -------------------------------------------------------------------------

def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def load(db, name: str, hole: str | None = None) -> tuple[dict[str, sql.Composable], dict[str, str]]:
    """Create the roles the fixture's files name, then run NAME.sql (and NAME.hole_WHAT.sql) as
    the superuser; returns the placeholder values (apply() runs a further file with them) and
    the role names (placeholder -> role)."""
    every = [MODELS / f"{name}.sql", *sorted(MODELS.glob(f"{name}.hole_*.sql"))]
    wanted = set().union(*(placeholders(f.read_text()) for f in every))
    roles = {"app": db.app_role}
    for placeholder, prefix in ROLE_PLACEHOLDERS.items():
        if placeholder in wanted or f"{placeholder}_literal" in wanted:
            roles[placeholder] = db.role(prefix)
            db.sql(f"CREATE ROLE {quote(roles[placeholder])} NOLOGIN")
    values: dict[str, sql.Composable] = {"database": sql.Identifier(db.name)}
    for placeholder, role in roles.items():
        values[placeholder] = sql.Identifier(role)
        values[f"{placeholder}_literal"] = sql.Literal(role)
    unknown = wanted - set(values)
    assert not unknown, f"{[f.name for f in every]} use placeholders the test does not know: {sorted(unknown)}"
    apply(db, MODELS / f"{name}.sql", values)
    if hole:
        apply(db, MODELS / f"{name}.hole_{hole}.sql", values)
    return values, roles


def apply(db, path: Path, values: dict[str, sql.Composable]) -> None:
    text = path.read_text()
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        try:
            conn.execute(sql.SQL(text).format(**{k: v for k, v in values.items() if k in placeholders(text)}))
        except psycopg.Error as exc:
            pytest.fail(f"fixture {path.name} does not load: {exc.sqlstate} {exc}")


def demonstrate(db, hole: "Hole", values: dict[str, sql.Composable]):
    """Run the hole's demonstration as the application role, rolled back: its one value, or the
    SQLSTATE of the error it raised."""
    with psycopg.connect(db.dsn) as conn:
        try:
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(values["app"]))
            for name, value in hole.settings.items():
                conn.execute("SELECT pg_catalog.set_config(%s, %s, true)", (name, value))
            text = hole.demo
            query = sql.SQL(text).format(**{k: v for k, v in values.items() if k in placeholders(text)})
            return conn.execute(query).fetchone()[0]
        except psycopg.Error as exc:
            return exc.sqlstate
        finally:
            conn.rollback()


def check(db, tmp_path: Path, *extra: str) -> dict:
    """The real CLI, as a user runs it: only --app-role (and ``extra``); the JSON report."""
    out = tmp_path / "report.json"
    proc = run_cli("check", db.dsn, "--app-role", db.app_role, "--json", str(out), *extra, timeout=300)
    assert proc.returncode in (0, 1, 4), (
        f"tenantaudit check exited {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    )
    return json.loads(out.read_text())


def obj(finding: dict) -> str:
    return ".".join(part for part in (finding.get("schema"), finding.get("table")) if part)


def summary(report: dict) -> str:
    lines = [f"  {f['severity']:<8} {f['category']:<28} {obj(f)}  [{f.get('check')}]" for f in report["findings"]]
    probes = [f"  {p['schema']}.{p['table']} {p['operation']}: {p['outcome']}" for p in report.get("probes", [])
              if p["outcome"] != "pass"]
    context = report.get("context", "<no 'context' key in the JSON report>")
    text = "findings:\n" + ("\n".join(lines) or "  (none)")
    if probes:
        text += "\nprobes not passing:\n" + "\n".join(probes)
    text += f"\ncontext: {json.dumps(context, indent=None, default=str)}"
    if report.get("incomplete"):
        text += f"\nincomplete: {report['incomplete']}"
    return text


def names(finding: dict, expected_object: str) -> bool:
    """The finding is on this object (a function's name may carry its argument types)."""
    found = obj(finding)
    return found == expected_object or found.startswith(expected_object + "(") or finding.get("table") == expected_object


# -- the tests ---------------------------------------------------------------------------------

def test_every_fixture_file_is_tested():
    files = {p.name for p in MODELS.glob("*.sql")}
    tested = {f"{name}.sql" for name in FIXTURES} | {f"{h.fixture}.hole_{h.what}.sql" for h in HOLES}
    assert files == tested, f"untested: {sorted(files - tested)}; missing: {sorted(tested - files)}"


@pytest.mark.parametrize("name", list(FIXTURES))
def test_correct_variant_is_clean_and_its_context_inferred(db, tmp_path, name):
    load(db, name)
    report = check(db, tmp_path)
    expected = FIXTURES[name]
    problems = []
    serious = [f for f in report["findings"] if f["severity"] in SERIOUS]
    if serious:
        problems.append(f"{len(serious)} critical/high finding(s), expected 0")
    context = report.get("context")
    if "context" not in report:
        problems.append("the JSON report has no 'context' key")
    elif not isinstance(context, dict):
        problems.append(f"report['context'] is {context!r}, expected a dict")
    else:
        # "inferred": no option named the model; the report must not call it configured
        want = {"model": expected.model, "tenant_column": expected.tenant_column, "tenant_table": expected.tenant_table,
                "inferred": True, **expected.more}
        for key, value in want.items():
            if context.get(key) != value:
                problems.append(f"context[{key!r}] = {context.get(key)!r}, expected {value!r}")
    assert not problems, f"{name}.sql:\n- " + "\n- ".join(problems) + "\n" + summary(report)


# The tenant tables whose isolation the default read probe proves on each correct variant
# (jwt_role_claim is left out: its fence needs a user_role claim, which only the config gives).
PROVEN = {
    "supabase_accounts": ("public.projects", "public.invoices"),
    "sessions": ("app_public.projects", "app_public.tasks"),
    "role_per_tenant": ("public.customers", "public.orders"),
    "slug_mapped": ("public.projects", "public.comments"),
    "microservice": ("billing.invoices", "billing.invoice_lines"),
}


@pytest.mark.parametrize("name", list(PROVEN))
def test_correct_variant_isolation_is_proven_by_the_read_probe(db, tmp_path, name):
    load(db, name)
    report = check(db, tmp_path)
    seen = {(f"{p['schema']}.{p['table']}", p["operation"]): p for p in report.get("probes", [])}
    problems = []
    for table in PROVEN[name]:
        for operation in ("read", "unset-read"):
            probe = seen.get((table, operation))
            if probe is None or probe["outcome"] != "pass":
                got = f"{probe['outcome']}: {probe.get('detail')}" if probe else "no such probe"
                problems.append(f"{table} {operation}: {got}, expected pass")
    assert not problems, f"{name}.sql:\n- " + "\n- ".join(problems) + "\n" + summary(report)


@pytest.mark.parametrize("hole", HOLES, ids=lambda h: h.id)
def test_planted_hole_is_found(db, tmp_path, hole):
    _, roles = load(db, hole.fixture, hole.what)
    report = check(db, tmp_path, *(["--probe", hole.probe] if hole.probe else []))
    wanted = [(category, target.format(**roles)) for category, target in hole.any_of]
    print(summary(report))
    found = [
        (f["category"], obj(f), f["severity"])
        for f in report["findings"]
        if f["severity"] in SERIOUS and any(f["category"] == c and names(f, o) for c, o in wanted)
    ]
    assert found, (
        f"{hole.id}: none of these at critical/high:\n"
        + "\n".join(f"  {c} {o}" for c, o in wanted)
        + "\n"
        + summary(report)
    )


@pytest.mark.parametrize("hole", HOLES, ids=lambda h: h.id)
def test_planted_hole_is_real(db, hole):
    """Ground truth for test_planted_hole_is_found, without tenantaudit: the correct variant keeps the
    tenants apart where the hole is planted, and the hole opens it."""
    values, _ = load(db, hole.fixture)
    fenced = demonstrate(db, hole, values)
    apply(db, MODELS / f"{hole.fixture}.hole_{hole.what}.sql", values)
    opened = demonstrate(db, hole, values)
    assert (fenced, opened) == (hole.fenced, hole.open), (
        f"{hole.id}: {hole.demo!r} with {hole.settings}: correct variant gave {fenced!r} (expected {hole.fenced!r}),"
        f" with the hole {opened!r} (expected {hole.open!r})"
    )


# The same schemas with the context spelled out as a user would (--context and its options):
# the configured context is used as given, and the correct variants stay clean.
CONFIGURED = {
    "supabase_accounts": ("--context", "membership", "--membership", "public.account_user(user_id, account_id)",
                          "--user-setting", "request.jwt.claims", "--claim-path", "sub",
                          "--tenant-column", "account_id", "--tenant-table", "public.accounts"),
    "sessions": ("--context", "membership", "--membership",
                 "app_public.organization_memberships(user_id, organization_id)", "--user-setting", "jwt.claims.session_id",
                 "--session-table", "app_private.sessions(uuid, user_id)", "--tenant-column", "organization_id",
                 "--tenant-table", "app_public.organizations"),
    "role_per_tenant": ("--context", "role", "--role-column", "db_user"),
    "slug_mapped": ("--context", "mapped", "--tenant-key", "slug", "--setting", "app.tenant"),
    "microservice": ("--tenant-table", "none"),
}


@pytest.mark.parametrize("name", list(CONFIGURED))
def test_correct_variant_is_clean_with_the_context_configured(db, tmp_path, name):
    load(db, name)
    report = check(db, tmp_path, *CONFIGURED[name])
    print(report["context"]["description"])
    print(summary(report))
    expected = FIXTURES[name]
    assert (report["context"]["model"], report["context"]["tenant_column"], report["context"]["tenant_table"]) == (
        expected.model, expected.tenant_column, expected.tenant_table
    )
    assert report["context"]["inferred"] is (name == "microservice")  # only the model is left to inference there
    serious = [f for f in report["findings"] if f["severity"] in SERIOUS]
    assert serious == [], summary(report)


def test_a_table_fenced_to_the_calling_user_is_not_called_a_tenant_table(db, tmp_path):
    """supabase_accounts' profiles: `id = (SELECT auth.uid())`, no account_id. It is fenced to a
    user, which is stricter than a tenant: the grid must not claim it has the tenant column (the
    kind says user, every tenant aspect n/a), no finding about it, and no probe aims the tenant
    column at it (which would end in "undefined column")."""
    load(db, "supabase_accounts")
    report = check(db, tmp_path)
    rows = {f"{r['schema']}.{r['table']}": r for r in report["coverage"]}
    profiles = rows.get("public.profiles")
    about = [f"{f['severity']} {f['category']}" for f in report["findings"] if obj(f) == "public.profiles"]
    probes = [f"{p['operation']}: {p['outcome']}" for p in report["probes"] if (p["schema"], p["table"]) == ("public", "profiles")]
    print("profiles:", profiles, "findings:", about, "probes:", probes)
    assert profiles is not None and profiles["kind"] == "user"
    assert set(profiles["aspects"].values()) == {"n/a"}
    assert about == [] and probes == []
    assert rows["public.projects"]["kind"] == "tenant"
