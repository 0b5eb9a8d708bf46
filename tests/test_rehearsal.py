"""The rehearsal as users run it, on the example release and on deliberately broken copies."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from deploy_gates.fixtures.ephemeral import local_binaries_installed
from tests.examplecopy import TASCADE_KEY, tascade_serving
from tests.gaterun import gates, summary


def break_file(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_example_release_rehearses_cleanly(pytester: pytest.Pytester, release: Path) -> None:
    result = gates(pytester, release, "--target=rehearsal")
    result.assert_outcomes(passed=220)
    outcomes = summary(release)
    steps = [name for name, gate in outcomes.items() if gate["rehearsal"] and "[" not in name]
    assert steps[:5] == ["test_provider_has_extensions", "test_baseline", "test_baseline_data",
                         "test_backup", "test_migrate_up"]
    assert "test_column[metrics_summary.project_id]" in outcomes
    assert "test_absent_after_down[enum:metrics_alert_severity]" in outcomes
    assert "test_present_after_reapply[migration:0008_metrics_alerts.sql]" in outcomes
    logs = sorted(p.name for p in (release / "reports").glob("*.log"))
    assert any("rehearsal-down" in name for name in logs), logs


def test_rollback_that_leaves_an_enum_behind_is_named(
    pytester: pytest.Pytester, release: Path
) -> None:
    break_file(release / "down" / "0008_metrics_alerts.sql",
               "DROP TYPE IF EXISTS metrics_alert_severity;", "")
    result = gates(pytester, release, "--target=rehearsal")
    outcomes = summary(release)
    gone = outcomes["test_absent_after_down[enum:metrics_alert_severity]"]
    assert gone["outcome"] == "failed"
    assert gone["message"] == ("expected enum metrics_alert_severity to be gone after rollback; "
                               "found: it is still there")
    restored = outcomes["test_schema_restored"]
    assert restored["outcome"] == "failed"
    assert "left behind: enum type public.metrics_alert_severity" in restored["message"]
    stair = outcomes["test_stair[0008_metrics_alerts.sql:down]"]
    assert stair["message"] == (
        "expected the down script of 0008_metrics_alerts.sql to restore the schema it found; "
        "found left behind: enum type public.metrics_alert_severity")
    assert outcomes["test_stair[0007_metrics_event_log_cursor_index.sql:down]"]["outcome"] == "passed"
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_rollback_that_leaves_an_index_and_function_is_named(
    pytester: pytest.Pytester, release: Path
) -> None:
    (release / "down" / "0007_metrics_event_log_cursor_index.sql").write_text("SELECT 1;\n")
    break_file(release / "down" / "0008_metrics_alerts.sql",
               "DROP FUNCTION IF EXISTS metrics_alert_touch();", "")
    gates(pytester, release, "--target=rehearsal")
    outcomes = summary(release)
    assert outcomes["test_absent_after_down[index:idx_event_log_project_cursor]"]["outcome"] == "failed"
    assert outcomes["test_absent_after_down[function:metrics_alert_touch]"]["outcome"] == "failed"
    message = outcomes["test_schema_restored"]["message"]
    assert "left behind: index public.idx_event_log_project_cursor" in message
    assert "left behind: function public.metrics_alert_touch()" in message


def test_failing_reapply_names_file_line_and_statement(
    pytester: pytest.Pytester, release: Path
) -> None:
    break_file(release / "down" / "0006_metrics_incremental_jobs.sql",
               "DROP TABLE IF EXISTS metrics_job_run;", "")
    gates(pytester, release, "--target=rehearsal")
    outcomes = summary(release)
    again = outcomes["test_migrate_up_again"]
    assert again["outcome"] == "failed"
    assert again["message"].startswith("migrate up again: 0006_metrics_incremental_jobs.sql:")
    assert 'relation "metrics_job_run" already exists' in again["message"]
    later = outcomes["test_present_after_reapply[table:metrics_alert]"]
    assert later["outcome"] == "skipped"
    assert "rehearsal step 'migrate up again' failed" in later["message"]


def test_missing_extension_names_it_and_the_providers_that_have_it(
    pytester: pytest.Pytester, release: Path
) -> None:
    (release / "migrations" / "0009_hashes.sql").write_text("CREATE EXTENSION pgcrypto;\n")
    (release / "down" / "0009_hashes.sql").write_text("DROP EXTENSION pgcrypto;\n")
    gates(pytester, release, "--target=rehearsal")
    outcomes = summary(release)
    check = outcomes["test_provider_has_extensions"]
    assert check["outcome"] == "failed"
    assert check["message"].startswith(
        "extension pgcrypto is needed but not available on the embedded provider (PostgreSQL 18")
    assert "use --db-provider=local or testcontainers" in check["message"]
    assert outcomes["test_migrate_up"]["outcome"] == "skipped"


def test_live_target_runs_postdeploy_gates_and_skips_the_rehearsal(
    pytester: pytest.Pytester, release: Path, pg_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deploy_gates.migrate import discover, up

    dsn = pg_server.create_database("live")
    up(dsn, discover(release / "migrations"))
    monkeypatch.setenv("TASCADE_STAGING_DATABASE_URL", dsn)
    monkeypatch.setenv("TASCADE_API_KEY", TASCADE_KEY)
    with tascade_serving(release, dsn):
        result = gates(pytester, release, "--target=staging")
    outcomes = summary(release)
    assert outcomes["test_migrate_up"]["outcome"] == "skipped"
    assert outcomes["test_migrate_down"]["outcome"] == "skipped"
    # the per-object rehearsal gates are not even built for a live target: each would be refused
    assert not [k for k in outcomes if "after" in k]
    assert outcomes["test_table[metrics_alert]"]["outcome"] == "passed"
    assert outcomes["test_nothing_pending"]["outcome"] == "passed"
    assert outcomes["test_smoke[metrics_endpoints]"]["outcome"] == "passed"
    assert result.ret == pytest.ExitCode.OK


def test_live_target_with_missing_column_fails_naming_it(
    pytester: pytest.Pytester, release: Path, pg_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deploy_gates.migrate import discover, up

    dsn = pg_server.create_database("live")
    up(dsn, discover(release / "migrations"))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE metrics_summary DROP CONSTRAINT metrics_summary_pkey;"
                     "ALTER TABLE metrics_summary ALTER COLUMN project_id DROP NOT NULL")
    monkeypatch.setenv("TASCADE_STAGING_DATABASE_URL", dsn)
    result = gates(pytester, release, "--target=staging", "-m", "postdeploy")
    outcomes = summary(release)
    assert outcomes["test_column[metrics_summary.project_id]"]["message"] == (
        "expected column metrics_summary.project_id (uuid NOT NULL); found: nullable")
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_live_target_without_its_dsn_variable_says_which(
    pytester: pytest.Pytester, release: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TASCADE_STAGING_DATABASE_URL", raising=False)
    gates(pytester, release, "--target=staging", "-m", "postdeploy")
    outcomes = summary(release)
    assert outcomes["test_table[metrics_alert]"]["outcome"] == "error"
    assert outcomes["test_table[metrics_alert]"]["message"] == (
        "target staging: environment variable TASCADE_STAGING_DATABASE_URL is not set")


@pytest.mark.skipif(not local_binaries_installed(), reason="PostgreSQL server binaries are not installed")
def test_local_provider_rehearses_the_same(pytester: pytest.Pytester, release: Path) -> None:
    """Debian's older server: backup and restore use client tools of its own major version."""
    result = gates(pytester, release, "--target=rehearsal", "--db-provider=local")
    result.assert_outcomes(passed=220)


def test_predeploy_lint_names_shared_versions_and_missing_down_scripts(
    pytester: pytest.Pytester, release: Path
) -> None:
    (release / "migrations" / "0008_metrics_alert_rules.sql").write_text("SELECT 1;\n")
    (release / "migrations" / "05_metrics_fix.sql").write_text("SELECT 1;\n")
    (release / "migrations" / "readme.sql").write_text("-- notes\n")
    (release / "migrations" / "add_index.sql").write_text("SELECT 1;\n")
    (release / "down" / "0008_metrics_alerts.sql").unlink()
    result = gates(pytester, release, "--target=rehearsal", "-m", "predeploy")
    outcomes = summary(release)
    assert outcomes["test_migration_files"]["message"] == (
        f"expected every file of {release / 'migrations'} to be a numbered migration in an "
        "unambiguous order; found 3 problem(s): "
        "add_index.sql: not a migration name (<number><_ or - or __><description>.sql); "
        "readme.sql: not a migration name (<number><_ or - or __><description>.sql); "
        "versions shared by several files (0005 in 0005_metrics_read_model.sql, 05_metrics_fix.sql "
        "and 0008 in 0008_metrics_alert_rules.sql, 0008_metrics_alerts.sql), so the order is "
        "ambiguous: renumber, or set migrations.allow_duplicate_versions: true to apply them in "
        "full file name order")
    assert outcomes["test_down_script[0008_metrics_alerts.sql]"]["message"].endswith(
        "down/0008_metrics_alerts.sql; found: it does not exist")
    assert outcomes["test_down_script[0005_metrics_read_model.sql]"]["outcome"] == "passed"
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_ledger_gates_name_pending_and_failed_migrations(
    pytester: pytest.Pytester, release: Path, pg_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deploy_gates.migrate import discover, up

    dsn = pg_server.create_database("live")
    up(dsn, discover(release / "migrations"), through="0006_metrics_incremental_jobs.sql")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE schema_migrations SET success = false "
                     "WHERE version = '0006_metrics_incremental_jobs.sql'")
    monkeypatch.setenv("TASCADE_STAGING_DATABASE_URL", dsn)
    gates(pytester, release, "--target=staging", "-m", "postdeploy")
    outcomes = summary(release)
    assert outcomes["test_applied_through[0008_metrics_alerts.sql]"]["message"] == (
        "expected every migration through 0008_metrics_alerts.sql applied; found not recorded: "
        "0007_metrics_event_log_cursor_index.sql, 0008_metrics_alerts.sql")
    assert outcomes["test_nothing_pending"]["message"] == (
        "expected the ledger to match the release's migrations; found pending: "
        "0007_metrics_event_log_cursor_index.sql, 0008_metrics_alerts.sql")
    assert outcomes["test_nothing_failed"]["message"] == (
        "expected no failed migration; found failed: 0006_metrics_incremental_jobs.sql")
    assert outcomes["test_table[metrics_alert]"]["message"] == (
        "expected table metrics_alert; found: it does not exist")
    assert outcomes["test_table[metrics_summary]"]["outcome"] == "passed"


@pytest.mark.skipif(not local_binaries_installed(), reason="PostgreSQL server binaries are not installed")
def test_rehearsal_pins_the_major_version_of_a_live_target(
    pytester: pytest.Pytester, release: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deploy_gates.fixtures.ephemeral import start_server

    live = start_server("local")
    try:
        major = live.version().split(".")[0]
        monkeypatch.setenv("TASCADE_STAGING_DATABASE_URL", live.dsn)
        break_file(release / "runbook.yaml", "    provider: embedded",
                   "    provider: embedded\n    version_from: staging")
        refused = gates(pytester, release, "--target=rehearsal")
        (release / "reports").rename(release / "refused")
        pinned = gates(pytester, release, "--target=rehearsal", "--db-provider=local")
    finally:
        live.stop()
    refused.stdout.fnmatch_lines([f"*embedded provider: ships PostgreSQL 18, not {major}; use "
                                  "--db-provider=local*"])
    pinned.assert_outcomes(passed=220)
    server = summary(release)["test_provider_has_extensions"]["evidence"][0]["text"]
    assert server.startswith(f"local provider, PostgreSQL {major}.")
