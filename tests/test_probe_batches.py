"""Read probes cover many tables per statement; a batch that raises is split until the table that
raises is alone. The outcomes must be those of probing each table alone, whatever the mix."""

from __future__ import annotations

import psycopg
import pytest

from tenantaudit.audit import probes
from tenantaudit.audit.data_checks import TenantTable

from conftest import quote

# (name, policy USING expression or None for RLS off, rows of two tenants?)
GUARDED = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
KINDS = [
    ("fenced", GUARDED),
    ("cast_raises", "tenant_id = current_setting('app.tenant_id', true)::uuid"),  # fails closed by error on ''
    ("open", "true"),  # every tenant sees every row
    ("or_escape", GUARDED + " OR current_setting('app.tenant_id', true) = ''"),  # open when reset
    ("raises_always", "tenant_id = (1 / 0)::text::uuid OR true"),  # the app role's every read raises
]


def build(db, copies: int) -> list[str]:
    db.tenants()
    db.sql("INSERT INTO tenants (name) VALUES ('a'), ('b')")
    names = []
    for i in range(copies):
        for kind, using in KINDS:
            name = f"{kind}_{i}" if i % 2 else f"{kind} %{i}"  # quoted names with a percent sign too
            q = db.fenced_table(name)
            db.sql(f"DROP POLICY tenant_isolation ON {q}")
            db.sql(f"CREATE POLICY p ON {q} USING ({using}) WITH CHECK ({GUARDED})")
            db.sql(f"INSERT INTO {q} (tenant_id, body) SELECT id, name FROM tenants")
            names.append(name)
    # a partitioned table (its partitions and their indexes count against a batch's locks)
    db.sql(
        f"""
        CREATE TABLE parted (id int NOT NULL, tenant_id uuid NOT NULL REFERENCES tenants (id), PRIMARY KEY (tenant_id, id))
          PARTITION BY HASH (tenant_id);
        CREATE TABLE parted_0 PARTITION OF parted FOR VALUES WITH (MODULUS 2, REMAINDER 0);
        CREATE TABLE parted_1 PARTITION OF parted FOR VALUES WITH (MODULUS 2, REMAINDER 1);
        ALTER TABLE parted ENABLE ROW LEVEL SECURITY; ALTER TABLE parted FORCE ROW LEVEL SECURITY;
        CREATE POLICY p ON parted USING ({GUARDED}) WITH CHECK ({GUARDED});
        GRANT SELECT ON parted TO {quote(db.app_role)};
        INSERT INTO parted SELECT row_number() OVER (), id FROM tenants;
        """
    )
    return names


def outcomes(report) -> list[tuple]:
    return [(p.schema, p.table, p.operation, p.outcome, p.detail) for p in report.probes]


@pytest.mark.parametrize("copies", [4])
def test_batched_read_probes_match_one_table_at_a_time(db, monkeypatch, copies):
    names = build(db, copies)
    batched = db.audit(probe="read")
    monkeypatch.setattr(probes, "READ_BATCH_TABLES", 1)  # every statement about one table
    alone = db.audit(probe="read")
    got, want = outcomes(batched), outcomes(alone)
    print("batched:", *got, sep="\n  ")
    assert got == want
    assert [f.to_dict() for f in batched.findings] == [f.to_dict() for f in alone.findings]
    by_kind = {}
    for schema, table, operation, outcome, _detail in got:
        if operation in ("read", "unset-read"):
            by_kind.setdefault((table.split("_")[0].split(" ")[0], operation), set()).add(outcome)
    # what each kind of table must show, so that agreeing on nothing cannot pass
    assert by_kind[("fenced", "read")] == {"pass"} and by_kind[("fenced", "unset-read")] == {"pass"}
    assert by_kind[("open", "read")] == {"leak"}
    assert by_kind[("cast", "unset-read")] == {"fails closed by error"}
    assert by_kind[("or", "unset-read")] == {"leak"} and by_kind[("or", "read")] == {"pass"}
    assert by_kind[("raises", "read")] == {"fails closed by error"}
    assert by_kind[("parted", "read")] == {"pass"}
    assert len(names) == copies * len(KINDS)


def test_batches_stay_within_the_lock_budget(db):
    build(db, 3)
    with psycopg.connect(db.dsn, autocommit=True) as conn:

        tables = [TenantTable("public", t, frozenset()) for (t,) in conn.execute(
            "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') AND relnamespace = 'public'::regnamespace "
            "AND relname <> 'tenants' AND NOT relispartition ORDER BY relname").fetchall()]
        max_locks = int(conn.execute("SHOW max_locks_per_transaction").fetchone()[0])
        budget = max_locks // probes.READ_LOCK_SHARE - probes.READ_LOCK_MARGIN
        batches = probes.read_batches(conn, tables)
        assert [t for batch in batches for t in batch] == tables  # every table once, in order
        for batch in batches:
            # what one batch statement really holds, counted by the server
            conn.execute("BEGIN")
            parts = ", ".join(f"(SELECT EXISTS (SELECT FROM public.{quote(t.table)}))" for t in batch)
            conn.execute(f"SELECT {parts}")
            held = conn.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND c.relnamespace = 'public'::regnamespace"
            ).fetchone()[0]
            conn.execute("ROLLBACK")
            print(f"batch of {len(batch)} tables holds {held} relation locks; budget {budget}")
            assert held <= budget or len(batch) == 1
        assert len(batches) > 1
