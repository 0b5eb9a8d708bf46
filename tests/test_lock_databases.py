"""The lock file of a system with several databases (examples/redcube): ``deploy-gates lock``
writes one entry per database, and the lock gates check each database against its own."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from deploy_gates.migrate import discover, up
from tests.gaterun import ROOT, gates, summary

EXAMPLE = ROOT / "examples" / "redcube"


def write_lock(release: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploy_gates", "lock", "--runbook", str(release / "runbook.yaml"),
         "--db-provider", "embedded"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def locked_redcube(tmp_path_factory: pytest.TempPathFactory) -> Path:
    release = tmp_path_factory.mktemp("lock") / "redcube"
    shutil.copytree(EXAMPLE, release)
    (release / "runbook.lock.json").unlink(missing_ok=True)
    done = write_lock(release)
    assert done.returncode == 0, done.stderr
    return release


@pytest.fixture
def redcube(locked_redcube: Path, tmp_path: Path) -> Path:
    shutil.copytree(locked_redcube, tmp_path / "redcube")
    return tmp_path / "redcube"


def test_lock_writes_one_entry_per_database(locked_redcube: Path) -> None:
    lock = json.loads((locked_redcube / "runbook.lock.json").read_text())
    assert (lock["format"], lock["system"], sorted(lock["databases"])) == (
        1, "redcube", ["content", "users"])
    users, content = lock["databases"]["users"], lock["databases"]["content"]
    assert "trigger:public.users.trg_user_sync" in users["objects"]
    assert "trigger:public.users.trg_user_sync" not in content["objects"]
    assert "index:public.idx_reputation_events_created_at" in content["objects"]
    assert sorted(users["migrations"]) == ["001_users.sql", "099_user_sync_trigger.sql"]


def test_the_example_keeps_its_lock_file_current() -> None:
    lock = json.loads((EXAMPLE / "runbook.lock.json").read_text())
    assert sorted(lock["databases"]) == ["content", "users"]


def live(pg_server, redcube: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    content, users = pg_server.create_database("content"), pg_server.create_database("users")
    up(content, discover(redcube / "content" / "migrations"))
    up(users, discover(redcube / "users" / "migrations"))
    monkeypatch.setenv("REDCUBE_STAGING_CONTENT_URL", content)
    monkeypatch.setenv("REDCUBE_STAGING_USERS_URL", users)
    return content, users


def test_drift_gates_check_each_database_against_its_entry(
    pytester: pytest.Pytester, redcube: Path, pg_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, users = live(pg_server, redcube, monkeypatch)
    with psycopg.connect(users, autocommit=True) as conn:
        conn.execute("DROP TRIGGER trg_user_sync ON users")
    gates(pytester, redcube, "--target=staging", "-m", "postdeploy")
    outcomes = summary(redcube)
    assert outcomes["test_release_object[users/trigger:users.trg_user_sync]"]["outcome"] == "failed"
    assert outcomes["test_release_object[content/index:idx_reputation_events_created_at]"][
        "outcome"] == "passed"


def test_lock_current_names_the_database_whose_migrations_changed(
    pytester: pytest.Pytester, redcube: Path
) -> None:
    migration = redcube / "users" / "migrations" / "099_user_sync_trigger.sql"
    migration.write_text(migration.read_text() + "\n-- edited\n")
    gates(pytester, redcube, "--target=rehearsal", "-m", "predeploy")
    outcomes = summary(redcube)
    assert outcomes["test_lock_current[content/runbook.lock.json]"]["outcome"] == "passed"
    assert outcomes["test_lock_current[users/runbook.lock.json]"]["message"].startswith(
        f"expected lock file {redcube / 'runbook.lock.json'} to match the migrations; found "
        "changed since it was written: 099_user_sync_trigger.sql")


def test_rollback_gates_check_each_database_against_its_baseline(
    pytester: pytest.Pytester, redcube: Path, pg_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, users = pg_server.create_database("content"), pg_server.create_database("users")
    up(content, discover(redcube / "content" / "migrations"), through="001_content_schema.sql")
    up(users, discover(redcube / "users" / "migrations"), through="001_users.sql")
    monkeypatch.setenv("REDCUBE_STAGING_CONTENT_URL", content)
    monkeypatch.setenv("REDCUBE_STAGING_USERS_URL", users)
    with psycopg.connect(users, autocommit=True) as conn:
        conn.execute("CREATE VIEW v_user_sync_status AS SELECT 1 AS left_over")
    gates(pytester, redcube, "--target=staging", "-m", "rollback")
    outcomes = summary(redcube)
    assert outcomes["test_schema_is_baseline[content/runbook.lock.json]"]["outcome"] == "passed"
    assert outcomes["test_schema_is_baseline[users/runbook.lock.json]"]["outcome"] == "failed"
    assert outcomes["test_absent_after_rollback[users/view:v_user_sync_status]"]["outcome"] == (
        "failed")
    assert outcomes["test_absent_after_rollback[content/index:idx_reputation_events_created_at]"][
        "outcome"] == "passed"


def test_a_lock_file_of_another_shape_is_one_line(
    pytester: pytest.Pytester, redcube: Path
) -> None:
    lock = json.loads((redcube / "runbook.lock.json").read_text())
    (redcube / "runbook.lock.json").write_text(json.dumps(lock["databases"]["users"]))
    result = gates(pytester, redcube, "--target=rehearsal", "-m", "predeploy")
    assert result.ret == 4
    result.stderr.fnmatch_lines([
        f"ERROR: {redcube / 'runbook.lock.json'}: written for one database; the spec names "
        "databases (content, users): rewrite it: deploy-gates lock --runbook "
        f"{redcube / 'runbook.yaml'}"])
