"""Rollback gates (``-m rollback``) on a live target after a real rollback, on a real PostgreSQL:
every object of the release gone or restored, the ledger without the release, the schema equal to
the baseline the lock file recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy_gates.migrate import discover
from deploy_gates.rollback import down
from tests.drift_release import deployed, write_release
from tests.gaterun import gates, summary


def rolled_back(pg_server, release: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A live database with the release applied, then rolled back with its down scripts."""
    dsn = deployed(pg_server, release, monkeypatch)
    down(dsn, discover(release / "migrations"), release / "down", to="001_items.sql")
    return dsn


def test_real_rollback_is_verified_and_go(
    pytester: pytest.Pytester, locked: Path, pg_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    rolled_back(pg_server, locked, monkeypatch)
    result = gates(pytester, locked, "--target=live", "-m", "rollback")
    outcomes = summary(locked)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-3000:]
    assert {name: gate["outcome"] for name, gate in outcomes.items()
            if gate["outcome"] != "passed"} == {}
    assert {"test_rolled_back[table:tags]", "test_rolled_back[column:items.name]",
            "test_rolled_back[index:idx_items_status]",
            "test_schema_is_baseline[runbook.lock.json]",
            "test_absent_after_rollback[migration:002_status.sql]"} <= set(outcomes)


def test_rollback_that_left_a_table_and_a_default_is_named(
    pytester: pytest.Pytester, locked: Path, pg_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = locked / "down" / "002_status.sql"
    script.write_text(script.read_text().replace("DROP TABLE IF EXISTS tags;\n", "")
                      .replace("ALTER TABLE items ALTER COLUMN name DROP DEFAULT;\n", ""))
    rolled_back(pg_server, locked, monkeypatch)
    result = gates(pytester, locked, "--target=live", "-m", "rollback")
    outcomes = summary(locked)
    assert outcomes["test_rolled_back[table:tags]"]["message"] == (
        "expected table tags gone after rollback (release 2 creates it); "
        "found: it is still there")
    assert outcomes["test_rolled_back[column:items.name]"]["message"] == (
        "expected column items.name as the baseline had it after rollback (text NOT NULL); "
        "found: default 'unnamed'::text")
    assert "test_rolled_back[column:tags.label]" not in outcomes  # goes with its table
    baseline = outcomes["test_schema_is_baseline[runbook.lock.json]"]["message"]
    assert baseline.startswith(
        "expected the schema after rollback to equal the baseline of the lock file; found ")
    assert "left behind: table tags" in baseline and "column tags.label" not in baseline
    assert "changed: column items.name (default 'unnamed'::text)" in baseline
    assert outcomes["test_absent_after_rollback[migration:002_status.sql]"]["outcome"] == "passed"
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_ledger_still_listing_the_release_is_named(
    pytester: pytest.Pytester, locked: Path, pg_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployed(pg_server, locked, monkeypatch)  # never rolled back
    gates(pytester, locked, "--target=live", "-m", "rollback")
    outcomes = summary(locked)
    assert outcomes["test_absent_after_rollback[migration:002_status.sql]"]["message"] == (
        "expected ledger entry for migration 002_status.sql to be gone after rollback; "
        "found: it is still there")


def test_rollback_gates_without_a_lock_use_the_spec(
    pytester: pytest.Pytester, tmp_path: Path, pg_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.drift_release import SPEC

    release = write_release(tmp_path / "plain", SPEC + "schema: {tables: [tags]}\n")
    script = release / "down" / "002_status.sql"
    script.write_text(script.read_text().replace("DROP TABLE IF EXISTS tags;\n", ""))
    rolled_back(pg_server, release, monkeypatch)
    gates(pytester, release, "--target=live", "-m", "rollback")
    outcomes = summary(release)
    assert outcomes["test_absent_after_rollback[table:tags]"]["message"] == (
        "expected table tags to be gone after rollback; found: it is still there")
    assert not [name for name in outcomes if name.startswith("test_rolled_back")]


def test_rollback_gates_run_only_when_selected(
    pytester: pytest.Pytester, locked: Path, pg_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployed(pg_server, locked, monkeypatch)
    result = gates(pytester, locked, "--target=live")
    outcomes = summary(locked)
    assert not [name for name in outcomes if "rollback" in name or "rolled_back" in name]
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-3000:]


def test_rollback_gates_are_for_live_targets(pytester: pytest.Pytester, locked: Path) -> None:
    result = gates(pytester, locked, "--target=rehearsal", "-m", "rollback")
    outcomes = summary(locked)
    assert {gate["outcome"] for gate in outcomes.values()} == {"skipped"}
    result.stdout.fnmatch_lines(["*rollback gates check a live target after its rollback*"])


SEED_002_MANUAL_ROLLBACK = """
DROP TABLE IF EXISTS metrics_alert CASCADE;
DROP TABLE IF EXISTS metrics_job_run CASCADE;
DROP TABLE IF EXISTS metrics_state_transition_counter CASCADE;
DROP TABLE IF EXISTS metrics_job_checkpoint CASCADE;
DROP TABLE IF EXISTS metrics_drilldown CASCADE;
DROP TABLE IF EXISTS metrics_breakdown_point CASCADE;
DROP TABLE IF EXISTS metrics_trend_point CASCADE;
DROP TABLE IF EXISTS metrics_summary CASCADE;
DELETE FROM schema_migrations WHERE version IN (
    '0005_metrics_read_model.sql', '0006_metrics_incremental_jobs.sql',
    '0007_metrics_event_log_cursor_index.sql', '0008_metrics_alerts.sql');
"""


def test_the_seeds_manual_rollback_is_caught_leaving_the_enum_index_and_function(
    pytester: pytest.Pytester, release: Path, pg_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seed 002, section 8: the manual rollback drops the tables and the ledger rows only."""
    from deploy_gates.migrate import up
    from tests.drift_release import execute

    dsn = pg_server.create_database("live")
    up(dsn, discover(release / "migrations"))
    execute(dsn, SEED_002_MANUAL_ROLLBACK)
    monkeypatch.setenv("TASCADE_STAGING_DATABASE_URL", dsn)
    result = gates(pytester, release, "--target=staging", "-m", "rollback")
    outcomes = summary(release)
    failed = {name: gate["message"] for name, gate in outcomes.items()
              if gate["outcome"] == "failed"}
    assert set(failed) == {
        "test_absent_after_rollback[index:idx_event_log_project_cursor]",
        "test_absent_after_rollback[function:metrics_alert_touch]",
        "test_absent_after_rollback[enum:metrics_alert_severity]",
        "test_rolled_back[index:idx_event_log_project_cursor]",
        "test_rolled_back[function:metrics_alert_touch()]",
        "test_rolled_back[enum:metrics_alert_severity]",
        "test_schema_is_baseline[runbook.lock.json]",
    }
    assert failed["test_rolled_back[enum:metrics_alert_severity]"] == (
        "expected enum metrics_alert_severity gone after rollback (release P5.M3 creates it); "
        "found: it is still there")
    assert outcomes["test_rolled_back[table:metrics_alert]"]["outcome"] == "passed"
    assert outcomes["test_absent_after_rollback[migration:0008_metrics_alerts.sql]"]["outcome"] == "passed"
    assert {outcomes[name]["step"] for name in failed} == {"8"}
    assert result.ret == pytest.ExitCode.TESTS_FAILED
