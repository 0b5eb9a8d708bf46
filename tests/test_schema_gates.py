"""Schema checks against a real PostgreSQL: each passes on the object and fails on its fault."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from deploy_gates.spec.runbook import Ledger, Schema
from deploy_gates.verify.catalog import diff, read_catalog
from deploy_gates.verify.expectations import Expected, expected_objects, normalize_type

DDL = """
CREATE EXTENSION IF NOT EXISTS citext;
CREATE TYPE mood AS ENUM ('ok', 'sad');
CREATE TABLE jobs (id bigserial PRIMARY KEY, retry_count integer NOT NULL DEFAULT 0,
                   last_attempt_at timestamptz, state mood, note varchar(40));
CREATE INDEX idx_jobs_retry ON jobs (retry_count);
CREATE VIEW v_jobs AS SELECT id FROM jobs;
CREATE VIEW v_failed_jobs AS SELECT id FROM jobs WHERE state = 'sad';
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER trg_touch BEFORE UPDATE ON jobs FOR EACH ROW EXECUTE FUNCTION touch();
CREATE TABLE schema_migrations (version text PRIMARY KEY, success boolean NOT NULL);
INSERT INTO schema_migrations VALUES ('0001_a.sql', true), ('0002_b.sql', false);
"""

SCHEMA = Schema.model_validate({
    "tables": ["jobs"],
    "columns": {"jobs": {"retry_count": {"type": "int", "not_null": True},
                         "last_attempt_at": "timestamptz", "note": "varchar(40)", "state": None}},
    "views": ["v_jobs"],
    "empty_views": ["v_failed_jobs"],
    "indexes": ["idx_jobs_retry"],
    "triggers": ["jobs.trg_touch"],
    "functions": ["touch"],
    "extensions": ["citext"],
    "enums": {"mood": ["ok", "sad"]},
})


@pytest.fixture
def conn(fresh_dsn: str):
    with psycopg.connect(fresh_dsn, autocommit=True) as connection:
        connection.execute(DDL)
        yield connection


def catalog_of(conn: psycopg.Connection):
    return read_catalog(conn, ledger=Ledger(), probe_views=tuple(SCHEMA.empty_views))


def test_every_kind_passes_when_present(conn: psycopg.Connection) -> None:
    cat = catalog_of(conn)
    items = expected_objects(SCHEMA, ["0001_a.sql"])
    assert {e.kind for e in items} == {"table", "column", "view", "empty_view", "index", "trigger",
                                       "function", "extension", "enum", "migration"}
    assert [(e.id, e.problem_if_missing(cat)) for e in items if e.problem_if_missing(cat)] == []
    assert all(e.problem_if_present(cat) for e in items)


@pytest.mark.parametrize(
    ("fault", "expected", "message"),
    [
        ("DROP VIEW v_jobs; DROP TABLE jobs CASCADE", Expected("table", "jobs"),
         "expected table jobs; found: it does not exist"),
        ("ALTER TABLE jobs DROP COLUMN retry_count", SCHEMA_COL := Expected(
            "column", "jobs.retry_count", SCHEMA.columns["jobs"]["retry_count"]),
         "expected column jobs.retry_count (integer NOT NULL); found: it does not exist "
         "(table public.jobs has: id, last_attempt_at, state, note)"),
        ("ALTER TABLE jobs ALTER COLUMN retry_count TYPE bigint", SCHEMA_COL,
         "expected column jobs.retry_count (integer NOT NULL); found: type bigint"),
        ("ALTER TABLE jobs ALTER COLUMN retry_count DROP NOT NULL", SCHEMA_COL,
         "expected column jobs.retry_count (integer NOT NULL); found: nullable"),
        ("DROP VIEW v_jobs", Expected("view", "v_jobs"), "expected view v_jobs; found: it does not exist"),
        ("INSERT INTO jobs (state) VALUES ('sad')", Expected("empty_view", "v_failed_jobs"),
         "expected view v_failed_jobs to return no rows; found: it returns rows"),
        ("DROP INDEX idx_jobs_retry", Expected("index", "idx_jobs_retry"),
         "expected index idx_jobs_retry; found: it does not exist"),
        ("DROP TRIGGER trg_touch ON jobs", Expected("trigger", "jobs.trg_touch"),
         "expected trigger jobs.trg_touch; found: it does not exist"),
        ("ALTER TABLE jobs DISABLE TRIGGER trg_touch", Expected("trigger", "jobs.trg_touch"),
         "expected trigger jobs.trg_touch enabled; found: it is disabled"),
        ("DROP FUNCTION touch CASCADE", Expected("function", "touch"),
         "expected function touch; found: it does not exist"),
        ("DROP EXTENSION citext", Expected("extension", "citext"),
         "expected extension citext; found: it does not exist"),
        ("ALTER TYPE mood ADD VALUE 'angry'", Expected("enum", "mood", labels=("ok", "sad")),
         "expected enum mood with labels ok, sad; found: ok, sad, angry"),
        ("SELECT 1", Expected("migration", "0002_b.sql"),
         "expected migration 0002_b.sql applied successfully; found: recorded as failed"),
        ("SELECT 1", Expected("migration", "0003_c.sql"),
         "expected ledger entry for migration 0003_c.sql; found: it does not exist"),
    ],
)
def test_each_kind_fails_on_its_fault(
    conn: psycopg.Connection, fault: str, expected: Expected, message: str
) -> None:
    conn.execute(fault)
    assert expected.problem_if_missing(catalog_of(conn)) == message


def test_still_present_after_rollback_is_named(conn: psycopg.Connection) -> None:
    problem = Expected("enum", "mood").problem_if_present(catalog_of(conn))
    assert problem == "expected enum mood to be gone after rollback; found: it is still there"


def test_catalog_queries_do_not_grow_with_objects(conn: psycopg.Connection) -> None:
    small = catalog_of(conn).queries
    columns = ", ".join(f"c{i} integer" for i in range(1000))
    conn.execute(f"CREATE TABLE wide ({columns})")
    cat = catalog_of(conn)
    assert sum(1 for key in cat.columns if key.startswith("public.wide.")) == 1000
    assert cat.queries == small


def test_fingerprint_diff_names_leftovers(conn: psycopg.Connection) -> None:
    before = catalog_of(conn).fingerprint()
    conn.execute("CREATE TYPE leftover AS ENUM ('x'); CREATE INDEX idx_note ON jobs (note);"
                 "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';"
                 "ALTER TABLE jobs ALTER COLUMN note SET DEFAULT 'n'; DROP VIEW v_jobs")
    changes = diff(before, catalog_of(conn).fingerprint())
    assert changes == [
        "left behind: enum type public.leftover",
        "left behind: function public.f()",
        "left behind: index public.idx_note",
        "missing: column public.v_jobs.id",
        "missing: view public.v_jobs",
        "changed: column public.jobs.note",
    ]


def test_fingerprint_leaves_out_the_ledger(conn: psycopg.Connection) -> None:
    prints = catalog_of(conn).fingerprint()
    assert not [k for k in prints if "schema_migrations" in k]
    assert "table public.jobs" in prints
    assert "table public.schema_migrations" in read_catalog(conn).fingerprint()


@pytest.mark.parametrize(
    ("written", "canonical"),
    [("int", "integer"), ("INT8", "bigint"), ("timestamptz", "timestamp with time zone"),
     ("varchar(40)", "character varying(40)"), ("numeric(10, 2)", "numeric(10,2)"),
     ("text[]", "text[]"), ("timestamptz(3)", "timestamp(3) with time zone"), ("bool", "boolean"),
     ("double  precision", "double precision"), ("uuid", "uuid")],
)
def test_type_names_match_format_type(written: str, canonical: str) -> None:
    assert normalize_type(written) == canonical


def test_ledger_gates_skip_when_the_spec_names_no_migrations(pytester: pytest.Pytester) -> None:
    root = Path(__file__).resolve().parent.parent
    pytester.makefile(".yaml", runbook="system: demo\nrelease: '1'\ntargets:\n"
                      "  staging: {kind: live, dsn_env: DEMO_UNSET_DSN}\n")
    result = pytester.runpytest_subprocess(
        "-c", str(root / "pyproject.toml"), "--rootdir", str(root),
        str(root / "verify" / "test_ledger.py"), "--target=staging", "-rs",
        f"--runbook={pytester.path / 'runbook.yaml'}", f"--report-dir={pytester.path / 'out'}",
    )
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(["*the runbook spec names no migrations*"])


def test_a_schema_gate_resolves_few_fixtures(pytester: pytest.Pytester) -> None:
    """pytest resolves every fixture of a gate's closure again for each gate, cached or not,
    and builds a new fixture definition for each one that takes ``request``: a schema gate
    reaches its snapshot through session fixtures none of which takes it."""
    root = Path(__file__).resolve().parent.parent
    pytester.makefile(".yaml", runbook="system: demo\nrelease: '1'\ntargets:\n"
                      "  staging: {kind: live, dsn_env: DEMO_UNSET_DSN}\n"
                      "schema:\n  columns:\n    jobs: {retry_count: int}\n")
    pytester.makepyfile(closure_probe="""
        def pytest_collection_finish(session):
            for item in session.items:
                print("CLOSURE", item.name, sorted(item.fixturenames))
    """)
    result = pytester.runpytest_subprocess(
        "-c", str(root / "pyproject.toml"), "--rootdir", str(root), "-p", "closure_probe",
        str(root / "verify" / "test_schema.py"), "--target=staging", "--collect-only", "-q",
        f"--runbook={pytester.path / 'runbook.yaml'}", f"--report-dir={pytester.path / 'out'}",
    )
    assert ("CLOSURE test_column[jobs.retry_count] ['catalogs', 'database', 'evidence', "
            "'expected', 'target', 'target_dsns', 'target_server']") in result.stdout.lines
