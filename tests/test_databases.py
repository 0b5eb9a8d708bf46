"""A system with several databases (seed 004, examples/redcube): each with its migrations,
schema and DSN variable; rehearsed together on one throwaway server, where dblink reaches
across them; checked on a live target database by database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploy_gates.migrate import discover, up
from deploy_gates.spec.runbook import load_runbook
from deploy_gates.spec.yamlsource import SpecError
from tests.dbtools import query
from tests.examplecopy import copy_example
from tests.gaterun import ROOT, gates, summary


@pytest.fixture
def redcube(tmp_path: Path) -> Path:
    return copy_example("redcube", tmp_path / "redcube")


def test_redcube_rehearses_both_databases_green(
    pytester: pytest.Pytester, redcube: Path, sample_on_path: None
) -> None:
    result = gates(pytester, redcube, "--target=rehearsal")
    assert result.ret == 0, result.stdout.str()[-3000:]
    outcomes = summary(redcube)
    assert outcomes["test_empty_view[users/v_user_sync_missing]"]["outcome"] == "passed"
    assert outcomes["test_absent_after_down[users/trigger:users.trg_user_sync]"]["outcome"] == "passed"
    assert outcomes["test_present_after_up[content/index:idx_reputation_events_created_at]"][
        "outcome"] == "passed"
    assert outcomes["test_nothing_pending[users]"]["outcome"] == "passed"
    assert outcomes["test_smoke[user_sync]"]["outcome"] == "passed"


def test_a_rollback_that_leaves_the_trigger_is_named_with_its_database(
    pytester: pytest.Pytester, redcube: Path, sample_on_path: None
) -> None:
    down = redcube / "users" / "down" / "099_user_sync_trigger.sql"
    down.write_text(down.read_text().replace("DROP TRIGGER IF EXISTS trg_user_sync ON users;", "")
                    .replace("DROP FUNCTION IF EXISTS sync_user_to_content();", ""))
    gates(pytester, redcube, "--target=rehearsal")
    outcomes = summary(redcube)
    assert outcomes["test_absent_after_down[users/trigger:users.trg_user_sync]"]["message"] == (
        "expected trigger users.trg_user_sync to be gone after rollback; found: it is still there")
    assert outcomes["test_schema_restored"]["message"].startswith(
        "expected the schema after rollback to equal the baseline; found users: left behind: ")
    assert outcomes["test_absent_after_down[content/index:idx_reputation_events_created_at]"][
        "outcome"] == "passed"


def test_live_databases_are_read_each_from_its_own_variable(
    pytester: pytest.Pytester, redcube: Path, pg_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, users = pg_server.create_database("content"), pg_server.create_database("users")
    up(content, discover(redcube / "content" / "migrations"))
    monkeypatch.setenv("REDCUBE_STAGING_CONTENT_URL", content)
    monkeypatch.setenv("REDCUBE_STAGING_USERS_URL", users)
    up(users, discover(redcube / "users" / "migrations"), through="001_users.sql")
    gates(pytester, redcube, "--target=staging", "-m", "postdeploy")
    outcomes = summary(redcube)
    assert outcomes["test_nothing_pending[content]"]["outcome"] == "passed"
    assert outcomes["test_nothing_pending[users]"]["message"] == (
        "expected the ledger to match the release's migrations; found pending: "
        "099_user_sync_trigger.sql")
    assert outcomes["test_index[content/idx_reputation_events_created_at]"]["outcome"] == "passed"
    assert outcomes["test_trigger[users/users.trg_user_sync]"]["outcome"] == "failed"


def test_migrate_cli_picks_a_database_of_the_spec(redcube: Path, pg_server, tmp_path: Path) -> None:
    dsn = pg_server.create_database("cli")
    env = {**os.environ, "REDCUBE_STAGING_CONTENT_URL": dsn}
    command = [sys.executable, "-m", "deploy_gates", "migrate", "--runbook", str(redcube / "runbook.yaml"),
               "--target", "staging", "--report-dir", str(tmp_path)]
    refused = subprocess.run([*command, "plan"], cwd=ROOT, capture_output=True, text=True,
                             timeout=60, env=env)
    assert (refused.returncode, refused.stderr.strip()) == (1, (
        f"deploy-gates migrate: {redcube / 'runbook.yaml'} names databases (content, users): pass --database KEY"))
    planned = subprocess.run([*command, "--database", "content", "plan"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60, env=env)
    assert planned.stdout.split() == ["001_content_schema.sql", "002_reputation_events_recent.sql"]
    assert query(dsn, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]


@pytest.mark.parametrize(("change", "error"), [
    ("  staging:\n    kind: live\n    databases:\n      content: {dsn_env: REDCUBE_STAGING_CONTENT_URL}\n",
     "targets.staging.databases: expected a dsn_env for each database (content, users); missing: users"),
    ("    links: [content]", "    links: [search]"),
])
def test_database_settings_are_checked_when_the_spec_loads(
    redcube: Path, change: str, error: str
) -> None:
    spec = redcube / "runbook.yaml"
    text = spec.read_text()
    if change.startswith("  staging"):
        start = text.index("  staging:")
        end = text.index("\ndatabases:")
        text = text[:start] + change + text[end:]
        expected = error
    else:
        text = text.replace(change, error)
        expected = "databases.users.links: 'search' is not another database of the spec (content, users)"
    spec.write_text(text)
    with pytest.raises(SpecError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_runbook(spec)
