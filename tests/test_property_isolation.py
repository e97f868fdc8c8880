"""Static analysis held to behaviour: a property-based test.

Hypothesis generates one tenant table per example, with a random owner, ENABLE / FORCE, up to
three policies (permissive or restrictive, any command, any of four roles, USING / WITH CHECK of
true, the tenant fence, another column, or the fence OR / AND it), privileges for the application
role, and maybe a view over the table. Each example gets its own database and roles. The audit's
write probes are the ground truth for the table (they run as the application role and try every
cross-tenant operation), and an experiment of this test's own is the ground truth for the view
(the probes cover tables only). Two properties must hold:

- no silent leak: every operation that leaks is explained by a static finding that names the
  operation's command on that table (or the role);
- no false alarm: every operation that a static finding of high or critical claims leaks (by its
  category and the commands its message names) leaks, or could not be run: an operation that
  was not proven (e.g. the application role lacks the privilege) disproves nothing; one that
  passed does.

The synthetic rows are public (`public` defaults to true), so a policy that lets public rows
through is seen doing it. The write probes aim UPDATE and DELETE at one row with WHERE CURRENT
OF, so they see what a statement that reads no column (`DELETE FROM items`) may reach.

The suite runs a fixed, bounded set of 100 examples (derandomized: the same ones every run, within
half a minute). A longer run, as reproducible:

    TENANTAUDIT_PROPERTY_EXAMPLES=1000 python -m pytest tests/test_property_isolation.py

Counterexamples it found are the ``test_regression_*`` tests at the end.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from conftest import quote
from tenantaudit.audit import audit
from tenantaudit.config import AuditConfig
from tenantaudit.findings import NOT_PROVEN, LEAK, Finding, Severity

EXAMPLES = int(os.environ.get("TENANTAUDIT_PROPERTY_EXAMPLES", "100"))
_counter = itertools.count(1)

FENCE = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
EXPRESSIONS = {
    "true": "true",
    "fence": FENCE,
    "public": "public",  # another column: every tenant's public rows
    "fence or public": f"({FENCE}) OR public",
    "fence and public": f"({FENCE}) AND public",
}
USING_CHOICES = ("none", *EXPRESSIONS)
CHECK_CHOICES = ("none", "true", "fence", "public")
COMMANDS = ("ALL", "SELECT", "INSERT", "UPDATE", "DELETE")
# Who a policy is for: everyone, the application role, a role the application role is not, and a
# group role the application role is a member of.
POLICY_ROLES = ("public", "app", "unrelated", "group")
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")

# The operations the write probes try, and the command each exercises.
OPERATIONS = ("read", "unset-read", "insert", "update", "delete", "move")
COMMAND_OPERATIONS = {
    "SELECT": {"read", "unset-read"},
    "UPDATE": {"update"},
    "DELETE": {"delete"},
}
WRITE_COMMAND_OPERATIONS = {"INSERT": {"insert"}, "UPDATE": {"move"}}
VIEW_READ = "view-read"
WHOLE_TABLE = ("rls-disabled", "rls-not-forced", "role-bypasses-rls")
PROPERTY_CATEGORIES = (
    *WHOLE_TABLE,
    "policy-not-tenant-scoped",
    "policy-permissive-bypass",
    "policy-write-unchecked",
    "view-bypasses-rls",
)


# -- the scenario ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Policy:
    permissive: bool = True
    command: str = "ALL"
    roles: tuple[str, ...] = ("public",)
    using: str = "fence"  # a key of EXPRESSIONS, or "none"
    check: str = "none"

    def sql(self, name: str, names: "Names") -> str:
        to = ", ".join("PUBLIC" if r == "public" else quote(names.of(r)) for r in self.roles)
        text = (
            f"CREATE POLICY {name} ON public.items AS {'PERMISSIVE' if self.permissive else 'RESTRICTIVE'}"
            f" FOR {self.command} TO {to}"
        )
        if self.using != "none":
            text += f" USING ({EXPRESSIONS[self.using]})"
        if self.check != "none":
            text += f" WITH CHECK ({EXPRESSIONS[self.check]})"
        return text


@dataclass(frozen=True)
class View:
    security_invoker: bool = False
    owner: str = "table owner"  # or "superuser" (the role that ran the migrations), or "unrelated"
    granted: bool = True  # SELECT to the application role


@dataclass(frozen=True)
class Scenario:
    owner: str = "other"  # "other" (a role the app role is not), "app", "group"
    rls: bool = True
    force: bool = True
    policies: tuple[Policy, ...] = (Policy(using="fence", check="fence"),)
    grants: tuple[str, ...] = PRIVILEGES
    app_inherits: bool = True  # the app role's INHERIT attribute (membership in the group role)
    app_bypassrls: bool = False
    view: View | None = None


@dataclass
class Names:
    """Cluster-wide names unique to one example."""

    database: str
    app: str
    other: str
    group: str
    unrelated: str

    @classmethod
    def fresh(cls) -> "Names":
        n = f"p{next(_counter)}_{os.getpid()}"
        return cls(f"prop_{n}", f"app_{n}", f"other_{n}", f"group_{n}", f"unrelated_{n}")

    def of(self, role: str) -> str:
        return {"app": self.app, "other": self.other, "group": self.group, "unrelated": self.unrelated}[role]

    @property
    def roles(self) -> list[str]:
        return [self.app, self.other, self.group, self.unrelated]


@st.composite
def policies(draw) -> Policy:
    command = draw(st.sampled_from(COMMANDS))
    # PostgreSQL's rules: INSERT policies have no USING, SELECT and DELETE ones no WITH CHECK.
    using = "none" if command == "INSERT" else draw(st.sampled_from(USING_CHOICES))
    check = "none" if command in ("SELECT", "DELETE") else draw(st.sampled_from(CHECK_CHOICES))
    return Policy(
        permissive=draw(st.booleans()),
        command=command,
        roles=tuple(draw(st.lists(st.sampled_from(POLICY_ROLES), min_size=1, max_size=2, unique=True))),
        using=using,
        check=check,
    )


views = st.builds(
    View,
    security_invoker=st.booleans(),
    owner=st.sampled_from(("table owner", "superuser", "unrelated")),
    granted=st.booleans(),
)

# Weighted towards what the policy checks judge: RLS on, every privilege granted (so that every
# operation can be probed), an owner the application role is not, no BYPASSRLS.
scenarios = st.builds(
    Scenario,
    owner=st.sampled_from(("other", "other", "app", "group")),
    rls=st.sampled_from((True, True, True, False)),
    force=st.booleans(),
    policies=st.lists(policies(), max_size=3).map(tuple),
    grants=st.just(PRIVILEGES)
    | st.just(PRIVILEGES)
    | st.lists(st.sampled_from(PRIVILEGES), unique=True).map(lambda g: tuple(sorted(g))),
    app_inherits=st.sampled_from((True, True, False)),
    app_bypassrls=st.sampled_from((False,) * 7 + (True,)),
    view=st.none() | views,
)


def scenario_sql(s: Scenario, names: Names) -> str:
    """The schema of one scenario, as the superuser runs it in the example's database."""
    owner = names.of(s.owner)
    app = quote(names.app)
    lines = [
        "CREATE TABLE public.tenants (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL)",
        # `public` defaults to true so that the probes' synthetic rows are public rows: a policy
        # that lets public rows through is then seen letting them through.
        """CREATE TABLE public.items (
             id uuid NOT NULL DEFAULT gen_random_uuid(),
             tenant_id uuid NOT NULL REFERENCES public.tenants (id),
             public boolean NOT NULL DEFAULT true,
             owner_note text,
             PRIMARY KEY (tenant_id, id))""",
        f"ALTER TABLE public.items OWNER TO {quote(owner)}",
    ]
    if s.rls:
        lines.append("ALTER TABLE public.items ENABLE ROW LEVEL SECURITY")
    if s.force:
        lines.append("ALTER TABLE public.items FORCE ROW LEVEL SECURITY")
    lines += [p.sql(f"p{i}", names) for i, p in enumerate(s.policies, 1)]
    if s.grants:
        lines.append(f"GRANT {', '.join(s.grants)} ON public.items TO {app}")
    if s.view:
        options = " WITH (security_invoker = true)" if s.view.security_invoker else ""
        lines.append(f"CREATE VIEW public.items_v{options} AS SELECT * FROM public.items")
        if s.view.owner == "table owner":
            lines.append(f"ALTER VIEW public.items_v OWNER TO {quote(owner)}")
        elif s.view.owner == "unrelated":
            lines.append(f"GRANT SELECT ON public.items TO {quote(names.unrelated)}")
            lines.append(f"ALTER VIEW public.items_v OWNER TO {quote(names.unrelated)}")
        if s.view.granted:
            lines.append(f"GRANT SELECT ON public.items_v TO {app}")
    return ";\n".join(lines) + ";"


# -- running one example ---------------------------------------------------------------------

@dataclass
class Outcome:
    scenario: Scenario
    names: Names
    ddl: str
    probes: dict[str, str]  # operation -> outcome, for public.items
    details: dict[str, str]
    findings: list[Finding]  # the property's categories, on items / items_v / the app role
    all_categories: list[str] = field(default_factory=list)

    def describe(self) -> str:
        s = self.scenario
        roles = (
            f"-- {self.names.app}: {'INHERIT' if s.app_inherits else 'NOINHERIT'}"
            f"{' BYPASSRLS' if s.app_bypassrls else ''}, member of {self.names.group}"
        )
        lines = [roles, self.ddl, "probes:"]
        lines += [f"  {op}: {self.probes.get(op)} ({self.details.get(op, '')})" for op in (*OPERATIONS, VIEW_READ)]
        lines.append("findings:")
        lines += [f"  [{f.severity.value}] {f.category} {f.qualified_name}: {f.message}" for f in self.findings]
        return "\n".join(lines)


def run_scenario(sandbox, s: Scenario) -> Outcome:
    names = Names.fresh()
    with sandbox.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(names.database)))
        attributes = ("INHERIT" if s.app_inherits else "NOINHERIT") + (" BYPASSRLS" if s.app_bypassrls else "")
        conn.execute(f"CREATE ROLE {quote(names.app)} NOLOGIN {attributes}")
        for role in (names.other, names.group, names.unrelated):
            conn.execute(f"CREATE ROLE {quote(role)} NOLOGIN")
        conn.execute(f"GRANT {quote(names.group)} TO {quote(names.app)}")
    try:
        dsn = sandbox.dsn(names.database)
        ddl = scenario_sql(s, names)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(ddl)
        report = audit(dsn, AuditConfig(app_role=names.app, probe="write", data_checks=False))
        probes = {p.operation: p.outcome for p in report.probes if p.table == "items"}
        details = {p.operation: p.detail for p in report.probes if p.table == "items"}
        if s.view:
            probes[VIEW_READ], details[VIEW_READ] = view_read(dsn, names)
        findings = [
            f
            for f in report.findings
            if f.category in PROPERTY_CATEGORIES
            and f.qualified_name in ("public.items", "public.items_v", names.app)
        ]
        return Outcome(s, names, ddl, probes, details, findings, sorted({f.category for f in report.findings}))
    finally:
        with sandbox.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(names.database)))
            for role in names.roles:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


TENANT_A = "00000000-0000-0000-0000-00000000000a"
TENANT_B = "00000000-0000-0000-0000-00000000000b"


def view_read(dsn: str, names: Names) -> tuple[str, str]:
    """The view's ground truth: as the app role with tenant A set, is B's row visible through it?
    One row per tenant, inserted by the superuser, all rolled back."""
    with psycopg.connect(dsn) as conn:
        try:
            conn.execute(f"INSERT INTO public.tenants (id, name) VALUES ('{TENANT_A}', 'a'), ('{TENANT_B}', 'b')")
            conn.execute(f"INSERT INTO public.items (tenant_id) VALUES ('{TENANT_A}'), ('{TENANT_B}')")
            conn.execute("SELECT set_config('app.tenant_id', %s, true)", (TENANT_A,))
            conn.execute(f"SET LOCAL ROLE {quote(names.app)}")
            try:
                visible = conn.execute(
                    "SELECT EXISTS (SELECT FROM public.items_v WHERE tenant_id = %s)", (TENANT_B,)
                ).fetchone()[0]
            except psycopg.errors.InsufficientPrivilege as exc:
                return "not proven", str(exc).splitlines()[0]
            return (LEAK, "another tenant's row visible through the view") if visible else ("pass", "invisible")
        finally:
            conn.rollback()


# -- what findings claim ---------------------------------------------------------------------

def _commands(message: str, pattern: str) -> set[str]:
    match = re.search(pattern, message)
    assert match, f"the property cannot read the commands out of: {message}"
    return set(match.group(1).split(", "))


def claims(f: Finding) -> set[str]:
    """The operations a finding says leak (those the experiments can disprove)."""
    if f.category in WHOLE_TABLE:
        return set(OPERATIONS)
    if f.category == "policy-not-tenant-scoped":
        commands = _commands(f.message, r": ((?:SELECT|UPDATE|DELETE)(?:, (?:SELECT|UPDATE|DELETE))*) reach every")
        return set().union(*(COMMAND_OPERATIONS[c] for c in commands))
    if f.category == "policy-permissive-bypass":
        commands = _commands(f.message, r"tenant fence for ((?:SELECT|UPDATE|DELETE)(?:, (?:SELECT|UPDATE|DELETE))*):")
        return set().union(*(COMMAND_OPERATIONS[c] for c in commands))
    if f.category == "policy-write-unchecked":
        commands = _commands(f.message, r"lets ((?:INSERT|UPDATE)(?:, (?:INSERT|UPDATE))*) write rows")
        return set().union(*(WRITE_COMMAND_OPERATIONS[c] for c in commands))
    if f.category == "view-bypasses-rls":
        return {VIEW_READ}
    raise AssertionError(f.category)


def explains(f: Finding, view: View | None) -> set[str]:
    """The leaks a finding accounts for."""
    operations = set(claims(f))
    if f.category == "policy-not-tenant-scoped" and "read" in operations:
        # policy-write-unchecked stays silent where SELECT is wholly unscoped: this finding (and
        # its remediation, a restrictive fence FOR ALL with WITH CHECK) covers writes there.
        operations |= {"insert", "move"}
    if view and view.security_invoker and "read" in operations:
        # A security_invoker view reads as the application role: what leaks to its reads of the
        # table leaks through the view. (Any other view reads as its owner: view-bypasses-rls.)
        operations.add(VIEW_READ)
    return operations


def violations(outcome: Outcome) -> list[str]:
    problems = []
    # Property 1: no silent leak.
    for operation, result in outcome.probes.items():
        if result == LEAK and not any(operation in explains(f, outcome.scenario.view) for f in outcome.findings):
            problems.append(f"silent leak: {operation} leaked and no static finding explains it")
    # Property 2: no false alarm at high or above.
    for f in outcome.findings:
        if f.severity not in (Severity.CRITICAL, Severity.HIGH):
            continue
        claimed = sorted(claims(f))
        disproved = [op for op in claimed if outcome.probes.get(op) == "pass"]
        if disproved:
            problems.append(
                f"false alarm: {f.category} on {f.qualified_name} claims {claimed} leak, "
                f"the experiments say {[(op, outcome.probes.get(op)) for op in claimed]}"
            )
    return problems


def check(sandbox, s: Scenario) -> Outcome:
    outcome = run_scenario(sandbox, s)
    problems = violations(outcome)
    assert not problems, "\n".join(problems) + "\n" + outcome.describe()
    return outcome


# -- the property ------------------------------------------------------------------------------

@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(s=scenarios)
def test_static_findings_match_behaviour(sandbox, s):
    check(sandbox, s)


# -- counterexamples it found, kept as regression tests ----------------------------------------

def categories(outcome: Outcome) -> dict[str, list[Finding]]:
    found: dict[str, list[Finding]] = {}
    for f in outcome.findings:
        found.setdefault(f.category, []).append(f)
    return found


def test_regression_noinherit_member_of_the_owner_does_not_bypass_rls(sandbox):
    """rls-not-forced claimed (at high) that a NOINHERIT member of the owning role bypasses the
    policies; the read probe saw nothing. PostgreSQL's owner bypass needs the owner's privileges
    (pg_has_role USAGE), which a NOINHERIT member has only after SET ROLE: now reported at medium."""
    s = Scenario(owner="group", force=False, policies=(), grants=("SELECT",), app_inherits=False)
    outcome = check(sandbox, s)
    # no policy: the app role sees nothing, not even its own tenant's row, so nothing leaks (and
    # the probe says that hiding everything proves no fence)
    assert outcome.probes["read"] == NOT_PROVEN and "own rows" in outcome.details["read"]
    (finding,) = categories(outcome)["rls-not-forced"]
    assert finding.severity == Severity.MEDIUM and "can SET ROLE to its owner" in finding.message
    # An inheriting member does bypass them: high, and the probe agrees.
    outcome = check(sandbox, Scenario(owner="group", force=False, policies=(), grants=("SELECT",)))
    assert outcome.probes["read"] == LEAK
    assert [f.severity for f in categories(outcome)["rls-not-forced"]] == [Severity.HIGH]


def test_regression_permissive_policy_for_a_group_does_not_bind_a_noinherit_member(sandbox):
    """policy-permissive-bypass blamed a permissive policy TO a group role for letting public rows
    through to the application role, a NOINHERIT member of that group; the probes saw nothing.
    PostgreSQL applies a policy TO r to roles that have r's privileges (pg_has_role USAGE)."""
    s = Scenario(
        owner="app",
        policies=(
            Policy(roles=("public", "group"), using="fence and public"),
            Policy(command="SELECT", roles=("unrelated", "group"), using="public"),
            Policy(command="SELECT", roles=("app", "group"), using="fence and public"),
        ),
        grants=("UPDATE",),
        app_inherits=False,
    )
    outcome = check(sandbox, s)
    assert outcome.probes["read"] == "pass"
    assert "policy-permissive-bypass" not in categories(outcome)
    # Inheriting, the member is bound by it, and reads other tenants' public rows.
    outcome = check(sandbox, Scenario(**{**s.__dict__, "app_inherits": True}))
    assert outcome.probes["read"] == LEAK
    assert "policy-permissive-bypass" in categories(outcome)


def test_regression_restrictive_fence_for_a_group_does_not_bind_a_noinherit_member(sandbox):
    """The mirror image: a restrictive fence TO a group role was taken to fence its NOINHERIT member,
    so nothing was reported while every operation leaked through the permissive USING (true)."""
    s = Scenario(
        policies=(
            Policy(using="true", check="true"),
            Policy(permissive=False, roles=("group",), using="fence", check="fence"),
        ),
        app_inherits=False,
    )
    outcome = check(sandbox, s)
    assert outcome.probes["read"] == LEAK and outcome.probes["insert"] == LEAK
    assert "policy-not-tenant-scoped" in categories(outcome)


def test_regression_delete_policy_reaches_rows_the_select_policies_hide(sandbox):
    """policy-not-tenant-scoped said DELETE reaches every tenant's rows through a permissive
    DELETE policy USING (public); the delete probe (DELETE ... WHERE ctid = ...) affected nothing.
    A WHERE that reads the table makes PostgreSQL apply the SELECT policies too, and there were
    none: the probe could not see the row. `DELETE FROM items`, which reads no column, deletes
    every tenant's public rows. The probes now aim at the row with WHERE CURRENT OF a cursor."""
    s = Scenario(owner="app", policies=(Policy(command="DELETE", roles=("unrelated", "app"), using="public"),))
    outcome = check(sandbox, s)
    assert outcome.probes["delete"] == LEAK
    # no SELECT policy: the app role sees no row at all, its own tenant's included
    assert outcome.probes["read"] == NOT_PROVEN
    (finding,) = categories(outcome)["policy-not-tenant-scoped"]
    assert ": DELETE reach every tenant's rows" in finding.message


def test_regression_update_policy_without_fence_lets_a_tenant_take_rows_over(sandbox):
    """An UPDATE policy USING (true) WITH CHECK (fence) beside a fenced SELECT policy: the static
    check says UPDATE reaches every tenant's rows. The update probe saw no leak: SELECT policies
    hid B's row from its WHERE, and keeping B's tenant fails the WITH CHECK. But `UPDATE items SET
    tenant_id = <A>` takes B's rows over. The probe now tries that when keeping the tenant is refused."""
    s = Scenario(
        policies=(Policy(command="UPDATE", using="true", check="fence"), Policy(command="SELECT", using="fence"))
    )
    outcome = check(sandbox, s)
    assert outcome.probes["update"] == LEAK and "taken over" in outcome.details["update"]
    assert outcome.probes["read"] == "pass" and outcome.probes["move"] == "pass"
    (finding,) = categories(outcome)["policy-not-tenant-scoped"]
    assert ": UPDATE reach every tenant's rows" in finding.message


def test_regression_view_reads_with_the_policies_of_its_owner(sandbox):
    """A view without security_invoker applies the table's policies as its owner: a restrictive
    fence TO the application role does not bind the owner, for whom a permissive USING (true)
    TO PUBLIC lets every row through. The table was fenced for the application role and
    view-bypasses-rls looked only at superuser, BYPASSRLS, RLS off and owner bypass: a silent leak."""
    s = Scenario(
        policies=(
            Policy(using="true", check="true"),
            Policy(permissive=False, roles=("app",), using="fence", check="fence"),
        ),
        view=View(),
    )
    outcome = check(sandbox, s)
    assert outcome.probes[VIEW_READ] == LEAK
    assert {outcome.probes[op] for op in OPERATIONS} == {"pass"}
    (finding,) = categories(outcome)["view-bypasses-rls"]
    assert "whose policies on the table let every tenant's rows through (policy p1)" in finding.message


def test_regression_view_owned_by_a_role_with_a_policy_of_its_own(sandbox):
    """The same through a policy TO the view's owner: USING (true) there, the fence for everyone
    else. With the owner's policy fenced too, the view is quiet and reads nothing of B's."""
    leaky = Scenario(
        policies=(
            Policy(roles=("app",), using="fence", check="fence"),
            Policy(command="SELECT", roles=("unrelated",), using="true"),
        ),
        view=View(owner="unrelated"),
    )
    outcome = check(sandbox, leaky)
    assert outcome.probes[VIEW_READ] == LEAK and "view-bypasses-rls" in categories(outcome)
    fenced = Scenario(
        policies=(
            Policy(roles=("app",), using="fence", check="fence"),
            Policy(command="SELECT", roles=("unrelated",), using="fence"),
        ),
        view=View(owner="unrelated"),
    )
    outcome = check(sandbox, fenced)
    assert outcome.probes[VIEW_READ] == "pass" and "view-bypasses-rls" not in categories(outcome)
