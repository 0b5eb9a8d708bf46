"""The ledger settings of the spec (table, maybe schema-qualified, version and success columns)
mean the same table and columns to the migration runner, the rollback and the ledger gates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from deploy_gates.migrate import MigrationError, discover, status, up
from deploy_gates.rollback import down
from deploy_gates.spec.runbook import Ledger
from deploy_gates.verify.catalog import read_catalog
from tests.dbtools import query, write
from tests.gaterun import ROOT, gates

SPEC_LEDGER = "    table: schema_migrations\n    version_column: version "
NEWEST = "test_applied_through[0008_metrics_alerts.sql]"


def with_ledger(release: Path, table: str, version_column: str) -> Path:
    """The release's spec with its ledger settings replaced."""
    spec = release / "runbook.yaml"
    text = spec.read_text()
    assert SPEC_LEDGER in text
    spec.write_text(text.replace(
        SPEC_LEDGER, f"    table: {table}\n    version_column: {version_column}"
    ))
    return spec


def ledger_gates(pytester: pytest.Pytester, spec: Path, out: Path) -> dict[str, str]:
    """Run the ledger gates on the spec's staging target; their outcomes by name."""
    result = pytester.runpytest_subprocess(
        "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
        str(ROOT / "verify" / "test_ledger.py"), f"--runbook={spec}", f"--report-dir={out}",
        "--target=staging", timeout=120,
    )
    (summary,) = out.glob("*.json")
    gates_run = json.loads(summary.read_text())["gates"]
    assert result.ret == (0 if all(g["outcome"] == "passed" for g in gates_run) else 1)
    return {g["name"]: g["outcome"] if g["outcome"] == "passed" else g["message"]
            for g in gates_run}


@pytest.mark.parametrize(
    ("table", "search_path", "ledger_sql"),
    [
        ("audit.schema_migrations", None, "audit.schema_migrations"),
        ("schema_migrations", "app", "app.schema_migrations"),
    ],
)
def test_migrate_cli_and_ledger_gates_agree_on_the_table(
    pg_server, release: Path, pytester: pytest.Pytester, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, table: str, search_path: str | None, ledger_sql: str,
) -> None:
    spec = with_ledger(release, table, "filename")
    dsn = pg_server.create_database("ledger")
    if search_path:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {search_path}")
        dsn = make_conninfo(dsn, options=f"-c search_path={search_path}")
    monkeypatch.setenv("TASCADE_STAGING_DATABASE_URL", dsn)
    done = subprocess.run(
        [sys.executable, "-m", "deploy_gates", "migrate", "--runbook", str(spec), "--target", "staging",
         "--allow-destructive", "staging", "--report-dir", str(tmp_path / "logs"), "up"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    assert query(dsn, f"SELECT count(filename) FROM {ledger_sql}") == [(8,)]
    assert query(dsn, "SELECT count(*) FROM pg_class WHERE relname LIKE '%.%'") == [(0,)]
    assert ledger_gates(pytester, spec, tmp_path / "out") == {
        NEWEST: "passed", "test_nothing_pending": "passed", "test_nothing_failed": "passed",
        "test_ledger_checksums": "passed",
    }


def test_runner_rollback_and_catalog_use_the_configured_columns(
    fresh_dsn: str, tmp_path: Path
) -> None:
    ledger = Ledger(table="ops.applied", version_column="filename", success_column="ok")
    migrations = write(tmp_path / "m", {"0001_a.sql": "CREATE TABLE a ();",
                                         "0002_b.sql": "CREATE TABLE b ();"})
    down_dir = write(tmp_path / "d", {"0001_a.sql": "DROP TABLE a;", "0002_b.sql": "DROP TABLE b;"})
    files = discover(migrations)
    assert [a.name for a in up(fresh_dsn, files, ledger=ledger)] == ["0001_a.sql", "0002_b.sql"]
    assert query(fresh_dsn, "SELECT filename, ok FROM ops.applied ORDER BY 1") == [
        ("0001_a.sql", True), ("0002_b.sql", True)]
    assert [e.state for e in status(fresh_dsn, files, ledger=ledger)] == ["applied", "applied"]
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        assert read_catalog(conn, ledger=ledger).ledger == {"0001_a.sql": True, "0002_b.sql": True}
    assert down(fresh_dsn, files, down_dir, to="0001_a.sql", ledger=ledger) == ["0002_b.sql"]
    assert query(fresh_dsn, "SELECT filename FROM ops.applied") == [("0001_a.sql",)]


def test_ledger_without_success_column_refuses_a_no_transaction_file(
    fresh_dsn: str, tmp_path: Path
) -> None:
    ledger = Ledger(table="applied", success_column=None)
    files = discover(write(tmp_path, {
        "0001_a.sql": "CREATE TABLE a (id int);",
        "0002_idx.sql": "-- deploy-gates: no-transaction\nCREATE INDEX CONCURRENTLY i ON a (id);",
    }))
    with pytest.raises(MigrationError, match=r"0002_idx\.sql runs outside a transaction, and the "
                       r"ledger public\.applied has no success column"):
        up(fresh_dsn, files, ledger=ledger)
    assert query(fresh_dsn, "SELECT version FROM applied") == [("0001_a.sql",)]
    assert query(fresh_dsn, "SELECT to_regclass('i')") == [(None,)]
    assert [e.state for e in status(fresh_dsn, files, ledger=ledger)] == ["applied", "pending"]


def test_ledger_without_the_configured_version_column_fails_the_gates_in_one_line(
    pg_server, release: Path, pytester: pytest.Pytester, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dsn = pg_server.create_database("ledger")
    up(dsn, discover(release / "migrations"))
    spec = with_ledger(release, "schema_migrations", "filename")
    monkeypatch.setenv("TASCADE_STAGING_DATABASE_URL", dsn)
    problem = ("ledger table public.schema_migrations exists but lacks column(s) filename; "
               "expected filename (deploy-gates ledger)")
    assert ledger_gates(pytester, spec, tmp_path / "out") == {
        NEWEST: problem, "test_nothing_pending": problem, "test_nothing_failed": problem,
        "test_ledger_checksums": problem,
    }


def test_rehearsal_with_a_schema_qualified_ledger_is_go(
    pytester: pytest.Pytester, release: Path
) -> None:
    with_ledger(release, "audit.schema_migrations", "filename")
    result = gates(pytester, release, "--target=rehearsal")
    assert result.ret == 0, result.stdout.str()[-3000:]
