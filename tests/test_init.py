"""``deploy-gates init`` on real PostgreSQL: a spec whose schema section is what the release
created, that passes lint and a rehearsal as written; or read from a live database."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest
import yaml

from deploy_gates.migrate import discover, up
from deploy_gates.spec.runbook import load_runbook
from tests.commands import deploy_gates, pytest_in
from tests.dbtools import write_counters
from tests.gaterun import EXAMPLE


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An existing project: the example's migrations and down scripts under db/, no spec."""
    root = tmp_path / "shop"
    shutil.copytree(EXAMPLE / "migrations", root / "db" / "migrations")
    shutil.copytree(EXAMPLE / "down", root / "db" / "down")
    return root


def test_init_writes_what_the_release_created_and_it_rehearses_green(project: Path) -> None:
    done = deploy_gates("init", "--release-from", "0005_metrics_read_model.sql", cwd=project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("wrote runbook.yaml: 54 schema object(s) from 4 release "
                                  "migration(s) in ")
    spec = load_runbook(project / "runbook.yaml")
    assert spec.migrations.dir == project / "db" / "migrations"
    assert spec.migrations.down_dir == project / "db" / "down"
    assert spec.migrations.baseline == "0004_gate_candidate_link.sql"
    written = spec.expected
    by_hand = load_runbook(EXAMPLE / "runbook.yaml").expected  # the example's own, typed by hand
    assert set(by_hand.tables) == set(written.tables)
    assert set(by_hand.indexes) == set(written.indexes)
    assert (by_hand.triggers, by_hand.functions, by_hand.enums) == (
        written.triggers, written.functions, written.enums)
    for table, columns in by_hand.columns.items():
        for name, column in columns.items():
            drafted = written.columns[table][name]
            assert column.not_null in (None, drafted.not_null), f"{table}.{name}"
    assert written.columns["metrics_summary"]["cycle_time_p50_hours"].type == "numeric(10,2)"
    assert "schema_migrations" not in written.tables
    assert deploy_gates("lint", cwd=project).returncode == 0
    rehearsal = pytest_in(project, "--runbook", "runbook.yaml", "--target=rehearsal")
    assert rehearsal.returncode == 0, rehearsal.stdout[-3000:]
    verdict, last = rehearsal.stdout.splitlines()[-2:]
    # GO with every blocker passed; squawk and the lock gates may add advisory findings
    assert last.startswith("GO: ") and last.endswith(" 0 skipped"), last
    assert verdict.startswith("deploy-gates verdict GO: every blocker gate passed"), verdict


def test_init_refuses_to_overwrite_and_takes_the_newest_file_by_default(project: Path) -> None:
    (project / "runbook.yaml").write_text("mine\n")
    refused = deploy_gates("init", cwd=project)
    assert (refused.returncode, refused.stderr) == (
        1, "deploy-gates init: runbook.yaml exists; pass --force to overwrite it\n")
    assert (project / "runbook.yaml").read_text() == "mine\n"
    forced = deploy_gates("init", "--force", "--system", "shop", cwd=project)
    assert forced.returncode == 0, forced.stderr
    spec = yaml.safe_load((project / "runbook.yaml").read_text())
    assert spec["system"] == "shop" and spec["release"] == "0008_metrics_alerts"
    assert spec["migrations"]["baseline"] == "0007_metrics_event_log_cursor_index.sql"
    assert spec["schema"]["tables"] == ["metrics_alert"]


def test_init_without_migrations_says_where_it_looked(tmp_path: Path) -> None:
    found = deploy_gates("init", cwd=tmp_path)
    assert found.returncode == 1
    assert found.stderr.startswith(f"deploy-gates init: no migrations folder under {tmp_path} ")
    assert not (tmp_path / "runbook.yaml").exists()


def test_init_from_a_live_database_reads_only(project: Path, pg_server) -> None:
    dsn = pg_server.create_database("live")
    up(dsn, discover(project / "db" / "migrations"))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE hotfix_audit (id int NOT NULL)")  # on live, in no migration
    before = write_counters(dsn)
    done = deploy_gates("init", "--from-dsn-env", "SHOP_LIVE_DSN",
                        "--release-from", "0005_metrics_read_model.sql", cwd=project,
                        env={"SHOP_LIVE_DSN": dsn})
    assert done.returncode == 0, done.stderr
    assert dsn not in done.stdout + done.stderr
    spec = load_runbook(project / "runbook.yaml")
    assert spec.targets["live"].dsn_env == "SHOP_LIVE_DSN"
    assert "hotfix_audit" in spec.expected.tables and "metrics_alert" in spec.expected.tables
    assert "projects" not in spec.expected.tables  # the baseline's
    assert write_counters(dsn) == before
    assert deploy_gates("lint", cwd=project).returncode == 0
