"""The schema vocabulary beyond names: sequences, constraints, column defaults, materialized views,
grants, row-level security and its policies, index definitions. Each kind passes on its object,
fails on its fault naming what differs, and is gone after its removal; against a real PostgreSQL,
at a constant number of catalog statements."""

from __future__ import annotations

import psycopg
import pytest

from deploy_gates.spec.runbook import Schema
from deploy_gates.verify.catalog import read_catalog
from deploy_gates.verify.expectations import expected_objects

ROLE = "dg_vocab_reader"
DDL = f"""
DO $$ BEGIN CREATE ROLE {ROLE} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE TABLE projects (id bigint PRIMARY KEY, code text UNIQUE, budget numeric CHECK (budget >= 0));
CREATE TABLE tasks (id bigserial PRIMARY KEY,
                    project_id bigint REFERENCES projects (id) ON DELETE CASCADE,
                    state text NOT NULL DEFAULT 'open', tenant text);
CREATE INDEX idx_tasks_open ON tasks USING btree (project_id) WHERE state = 'open';
CREATE UNIQUE INDEX idx_tasks_tenant ON tasks (lower(tenant));
CREATE SEQUENCE invoice_seq START 1000;
CREATE MATERIALIZED VIEW mv_open AS SELECT project_id, count(*) AS n FROM tasks GROUP BY project_id;
GRANT SELECT ON tasks TO {ROLE};
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
CREATE POLICY p_tenant ON tasks FOR SELECT TO {ROLE} USING (tenant = current_user);
"""
UNDO = f"""
DROP POLICY p_tenant ON tasks; ALTER TABLE tasks DISABLE ROW LEVEL SECURITY;
REVOKE SELECT ON tasks FROM {ROLE}; DROP MATERIALIZED VIEW mv_open; DROP SEQUENCE invoice_seq;
DROP INDEX idx_tasks_open, idx_tasks_tenant;
ALTER TABLE tasks DROP CONSTRAINT tasks_project_id_fkey, ALTER COLUMN state DROP DEFAULT;
ALTER TABLE projects DROP CONSTRAINT projects_code_key, DROP CONSTRAINT projects_budget_check;
"""
SPEC = {
    "columns": {"tasks": {"state": {"type": "text", "not_null": True, "default": "'open'"}}},
    "sequences": ["invoice_seq"],
    "materialized_views": ["mv_open"],
    "constraints": {
        "tasks": {"tasks_project_id_fkey": {"foreign_key": ["project_id"], "references": "projects",
                                           "on_delete": "cascade"}},
        "projects": {"projects_code_key": {"unique": ["code"]},
                     "projects_budget_check": {"check": "budget >= 0"},
                     "projects_pkey": {"primary_key": ["id"]}},
    },
    "indexes": {
        "idx_tasks_open": {"on": "tasks", "columns": ["project_id"], "where": "state = 'open'",
                           "method": "btree", "unique": False},
        "idx_tasks_tenant": {"unique": True, "columns": ["lower(tenant)"]},
    },
    "grants": [{"role": ROLE, "privilege": "SELECT", "on": "tasks"}],
    "policies": {"tasks": {"p_tenant": {"command": "select", "roles": [ROLE],
                                        "using": "tenant = current_user"}}},
    "row_level_security": ["tasks"],
}


@pytest.fixture
def conn(fresh_dsn: str):
    with psycopg.connect(fresh_dsn, autocommit=True) as connection:
        connection.execute(DDL)
        yield connection


def items():
    return expected_objects(Schema.model_validate(SPEC))


def test_every_new_kind_passes_when_present_and_is_named_after_removal(
    conn: psycopg.Connection,
) -> None:
    expected = items()
    assert {e.id for e in expected} == {
        "column:tasks.state", "sequence:invoice_seq", "materialized_view:mv_open",
        "constraint:tasks.tasks_project_id_fkey", "constraint:projects.projects_code_key",
        "constraint:projects.projects_budget_check", "constraint:projects.projects_pkey",
        "index:idx_tasks_open", "index:idx_tasks_tenant",
        f"grant:SELECT on tasks to {ROLE}", "policy:tasks.p_tenant",
        "row_level_security:tasks"}
    cat = read_catalog(conn)
    assert [(e.id, e.problem_if_missing(cat)) for e in expected if e.problem_if_missing(cat)] == []
    assert all(e.problem_if_present(cat) for e in expected if e.kind != "column")
    conn.execute(UNDO)
    cat = read_catalog(conn)
    still = {e.id: e.problem_if_present(cat) for e in expected}
    assert {k: v for k, v in still.items() if v} == {
        "column:tasks.state": "expected column tasks.state (text NOT NULL DEFAULT 'open') to be "
                              "gone after rollback; found: it is still there",
        "constraint:projects.projects_pkey": "expected constraint projects.projects_pkey "
                                             "(PRIMARY KEY (id)) to be gone after rollback; "
                                             "found: it is still there"}


@pytest.mark.parametrize(
    ("fault", "item", "message"),
    [
        ("DROP SEQUENCE invoice_seq", "sequence:invoice_seq",
         "expected sequence invoice_seq; found: it does not exist"),
        ("DROP MATERIALIZED VIEW mv_open; CREATE VIEW mv_open AS SELECT 1 AS n",
         "materialized_view:mv_open", "expected materialized view mv_open; found: it is a view"),
        ("ALTER TABLE tasks ALTER COLUMN state SET DEFAULT 'closed'", "column:tasks.state",
         "expected column tasks.state (text NOT NULL DEFAULT 'open'); found: default "
         "'closed'::text"),
        ("ALTER TABLE tasks ALTER COLUMN state DROP DEFAULT", "column:tasks.state",
         "expected column tasks.state (text NOT NULL DEFAULT 'open'); found: no default"),
        ("ALTER TABLE tasks DROP CONSTRAINT tasks_project_id_fkey",
         "constraint:tasks.tasks_project_id_fkey",
         "expected constraint tasks.tasks_project_id_fkey (FOREIGN KEY (project_id) REFERENCES "
         "projects ON DELETE CASCADE); found: it does not exist"),
        ("ALTER TABLE tasks DROP CONSTRAINT tasks_project_id_fkey, ADD CONSTRAINT "
         "tasks_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects (id)",
         "constraint:tasks.tasks_project_id_fkey",
         "expected constraint tasks.tasks_project_id_fkey (FOREIGN KEY (project_id) REFERENCES "
         "projects ON DELETE CASCADE); found: on delete no action"),
        ("ALTER TABLE projects DROP CONSTRAINT projects_budget_check, ADD CONSTRAINT "
         "projects_budget_check CHECK (budget > 0)", "constraint:projects.projects_budget_check",
         "expected constraint projects.projects_budget_check (CHECK (budget >= 0)); found: "
         "check (budget > (0)::numeric)"),
        ("ALTER TABLE projects DROP CONSTRAINT projects_code_key, ADD CONSTRAINT "
         "projects_code_key UNIQUE (code, budget)", "constraint:projects.projects_code_key",
         "expected constraint projects.projects_code_key (UNIQUE (code)); found: columns "
         "(code, budget)"),
        ("DROP INDEX idx_tasks_open; CREATE INDEX idx_tasks_open ON tasks (tenant)",
         "index:idx_tasks_open",
         "expected index idx_tasks_open (btree on tasks (project_id) where state = 'open'); "
         "found: columns (tenant); no predicate"),
        ("DROP INDEX idx_tasks_open; CREATE INDEX idx_tasks_open ON tasks USING hash (project_id) "
         "WHERE state = 'open'", "index:idx_tasks_open",
         "expected index idx_tasks_open (btree on tasks (project_id) where state = 'open'); "
         "found: method hash"),
        ("DROP INDEX idx_tasks_tenant; CREATE INDEX idx_tasks_tenant ON tasks (lower(tenant))",
         "index:idx_tasks_tenant",
         "expected index idx_tasks_tenant (unique on (lower(tenant))); found: not unique"),
        (f"REVOKE SELECT ON tasks FROM {ROLE}", f"grant:SELECT on tasks to {ROLE}",
         f"expected grant SELECT on tasks to {ROLE}; found: it does not exist"),
        ("DROP POLICY p_tenant ON tasks", "policy:tasks.p_tenant",
         f"expected policy tasks.p_tenant (for select to {ROLE} using tenant = current_user); "
         "found: it does not exist"),
        ("ALTER POLICY p_tenant ON tasks USING (true)", "policy:tasks.p_tenant",
         f"expected policy tasks.p_tenant (for select to {ROLE} using tenant = current_user); "
         "found: using true"),
        ("ALTER TABLE tasks DISABLE ROW LEVEL SECURITY", "row_level_security:tasks",
         "expected row-level security on tasks; found: it is off"),
    ],
)
def test_each_new_kind_fails_on_its_fault(
    conn: psycopg.Connection, fault: str, item: str, message: str
) -> None:
    conn.execute(fault)
    (expected,) = [e for e in items() if e.id == item]
    assert expected.problem_if_missing(read_catalog(conn)) == message


def test_catalog_statements_do_not_grow_with_gates_or_objects(conn: psycopg.Connection) -> None:
    executed: list[str] = []

    class Counting(psycopg.Cursor):
        def execute(self, query, params=None, **kwargs):
            executed.append(str(query)[:40])
            return super().execute(query, params, **kwargs)

    conn.cursor_factory = Counting
    read_catalog(conn)
    few = len(executed)
    conn.execute("; ".join(
        f"CREATE SEQUENCE s{i}; CREATE TABLE t{i} (id int PRIMARY KEY, r int REFERENCES projects "
        f"(id), CHECK (r > 0)); CREATE INDEX i{i} ON t{i} (r) WHERE r > 1; GRANT SELECT ON t{i} TO "
        f"{ROLE}; CREATE POLICY p{i} ON t{i} USING (true)" for i in range(100)))
    executed.clear()
    cat = read_catalog(conn)
    assert len(executed) == few
    expected = expected_objects(Schema.model_validate(
        {"sequences": [f"s{i}" for i in range(100)],
         "indexes": {f"i{i}": {"columns": ["r"], "where": "r > 1"} for i in range(100)},
         "grants": [{"role": ROLE, "privilege": "SELECT", "on": f"t{i}"} for i in range(100)],
         "policies": {f"t{i}": [f"p{i}"] for i in range(100)}}))
    executed.clear()
    assert [e.problem_if_missing(cat) for e in expected] == [None] * 400
    assert executed == []


def test_spec_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match="give exactly one of primary_key, unique, foreign_key, check"):
        Schema.model_validate({"constraints": {"t": {"c": {"unique": ["a"], "check": "a > 0"}}}})
    with pytest.raises(ValueError, match="on_delete"):
        Schema.model_validate({"constraints": {"t": {"c": {"foreign_key": ["a"], "references": "p",
                                                          "on_delete": "explode"}}}})
