"""The release's lock file and the drift gates of a live target, on a real PostgreSQL: a healthy
target is GO at a constant number of catalog statements; each kind of drift is named."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.drift_release import (
    deployed,
    execute,
    log_statements,
    statements_since,
    write_lock,
    write_release,
)
from tests.gaterun import ROOT, gates, summary


def test_lock_file_records_what_the_release_creates_and_changes(locked: Path) -> None:
    lock = json.loads((locked / "runbook.lock.json").read_text())
    assert (lock["system"], lock["release"]) == ("demo", "2")
    assert lock["migrations"] == {
        name: hashlib.sha256((locked / "migrations" / name).read_bytes()).hexdigest()
        for name in ("001_items.sql", "002_status.sql")}
    objects = lock["objects"]
    assert objects["index:public.idx_items_status"]["columns"] == ["status"]
    assert objects["index:public.idx_items_status"]["method"] == "btree"
    assert objects["column:public.items.status"] == {
        "type": "text", "not_null": True, "default": "'new'::text"}
    fkey = objects["constraint:public.tags.tags_item_id_fkey"]
    assert (fkey["type"], fkey["references"], fkey["on_delete"]) == (
        "foreign key", "public.items", "cascade")
    assert "sequence:public.ticket_seq" in objects
    # a baseline object the release changes is recorded with both definitions
    assert objects["column:public.items.name"]["default"] == "'unnamed'::text"
    assert lock["baseline"]["column:public.items.name"]["default"] is None
    assert "table:public.items" not in objects  # unchanged by the release
    assert "table:public.items" in lock["baseline"]
    assert not [key for key in [*objects, *lock["baseline"]] if "schema_migrations" in key]


def test_lock_writer_is_stable_and_names_a_bad_spec(locked: Path, tmp_path: Path) -> None:
    before = (locked / "runbook.lock.json").read_text()
    assert write_lock(locked).returncode == 0
    assert (locked / "runbook.lock.json").read_text() == before
    (tmp_path / "bad.yaml").write_text("system: x\nrelease: '1'\ntargets: {}\nschema: {tabels: []}\n")
    done = subprocess.run(
        [sys.executable, "-m", "deploy_gates", "lock",
         "--runbook", str(tmp_path / "bad.yaml")],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"deploy-gates lock: {tmp_path / 'bad.yaml'}:4: schema: unknown key 'tabels'"]


def test_healthy_live_target_is_go_at_a_constant_number_of_catalog_statements(
    pytester: pytest.Pytester, locked: Path, pg_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn = deployed(pg_server, locked, monkeypatch)
    log_statements(pg_server, dsn)
    start = pg_server.log_path.stat().st_size
    few = gates(pytester, locked, "--target=live", "-m", "postdeploy", "-k", "test_release_object and sequence")
    few_statements = statements_since(pg_server, start)
    (locked / "reports").rename(locked / "few")
    start = pg_server.log_path.stat().st_size
    result = gates(pytester, locked, "--target=live", "-m", "postdeploy")
    statements = statements_since(pg_server, start)
    outcomes = summary(locked)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-3000:]
    assert result.stdout.lines[-2].startswith("deploy-gates verdict GO")
    ran = {name for name, gate in outcomes.items() if gate["outcome"] == "passed"}
    assert {"test_release_object[index:idx_items_status]",
            "test_release_object[column:items.status]",
            "test_release_object[constraint:tags.tags_item_id_fkey]",
            "test_release_object[sequence:ticket_seq]",
            "test_unknown_objects[items]", "test_unknown_objects[tags]",
            "test_ledger_checksums"} <= ran
    assert len([name for name in ran if name.startswith("test_release_object[")]) >= 12
    assert few.ret == pytest.ExitCode.OK
    assert len(statements) == len(few_statements), (statements, few_statements)
    assert statements.count("SELECT") <= 20


def test_live_drift_is_named_object_by_object(
    pytester: pytest.Pytester, locked: Path, pg_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn = deployed(pg_server, locked, monkeypatch)
    execute(dsn, """
        DROP INDEX idx_items_status; CREATE INDEX idx_items_status ON items (name);
        ALTER TABLE items ALTER COLUMN status SET DEFAULT 'done';
        ALTER TABLE tags DROP CONSTRAINT tags_item_id_fkey;
        CREATE INDEX idx_hotfix ON tags (label);
    """)
    applied = locked / "migrations" / "002_status.sql"
    applied.write_text(applied.read_text() + "-- edited after it was applied\n")
    result = gates(pytester, locked, "--target=live", "-m", "postdeploy")
    outcomes = summary(locked)
    messages = {name: gate["message"] for name, gate in outcomes.items()
                if gate["outcome"] == "failed"}
    assert messages == {
        "test_release_object[index:idx_items_status]":
            "expected index idx_items_status as release 2 leaves it (btree on items (status)); "
            "found: columns (name)",
        "test_release_object[column:items.status]":
            "expected column items.status as release 2 leaves it (text NOT NULL DEFAULT "
            "'new'::text); found: default 'done'::text",
        "test_release_object[constraint:tags.tags_item_id_fkey]":
            "expected constraint tags.tags_item_id_fkey as release 2 leaves it (FOREIGN KEY "
            "(item_id) REFERENCES items(id) ON DELETE CASCADE); found: it does not exist",
        "test_unknown_objects[tags]":
            "expected on table tags only objects the lock file knows; found: index idx_hotfix "
            "(btree on tags (label))",
        "test_ledger_checksums":
            "expected each applied migration to match its file; found checksum drift: "
            "002_status.sql changed since it was applied",
    }
    assert outcomes["test_unknown_objects[tags]"]["severity"] == "advisory"
    assert outcomes["test_ledger_checksums"]["severity"] == "blocker"
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_spec_rules_can_make_unknown_objects_a_blocker(
    pytester: pytest.Pytester, locked: Path, pg_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = locked / "runbook.yaml"
    spec.write_text(spec.read_text() + 'gates:\n  - {match: "test_unknown_objects[*]", severity: blocker}\n')
    dsn = deployed(pg_server, locked, monkeypatch)
    execute(dsn, "CREATE INDEX idx_hotfix ON tags (label)")
    result = gates(pytester, locked, "--target=live", "-m", "postdeploy")
    assert summary(locked)["test_unknown_objects[tags]"]["severity"] == "blocker"
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_stale_lock_file_fails_the_lint(pytester: pytest.Pytester, locked: Path) -> None:
    (locked / "migrations" / "003_more.sql").write_text("CREATE TABLE more (id int);\n")
    (locked / "down" / "003_more.sql").write_text("DROP TABLE more;\n")
    applied = locked / "migrations" / "002_status.sql"
    applied.write_text(applied.read_text() + "-- edited\n")
    gates(pytester, locked, "--target=rehearsal", "-m", "predeploy")
    lint = summary(locked)["test_lock_current[runbook.lock.json]"]
    assert lint["outcome"] == "failed"
    assert lint["message"] == (
        f"expected lock file {locked / 'runbook.lock.json'} to match the migrations; found "
        "changed since it was written: 002_status.sql; not in it: 003_more.sql; rewrite it: "
        f"deploy-gates lock --runbook {locked / 'runbook.yaml'}")


def test_rehearsal_writes_the_release_lock_next_to_its_reports(
    pytester: pytest.Pytester, locked: Path
) -> None:
    result = gates(pytester, locked, "--target=rehearsal")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-3000:]
    (artifact,) = (locked / "reports" / "schema-locks").glob("*")
    assert artifact.name == "demo-2.lock.json"
    assert json.loads(artifact.read_text()) == json.loads((locked / "runbook.lock.json").read_text())
    outcomes = summary(locked)
    assert outcomes["test_lock_current[runbook.lock.json]"]["outcome"] == "passed"
    assert outcomes["test_release_object[index:idx_items_status]"]["outcome"] == "passed"


def test_a_broken_lock_file_is_one_line(pytester: pytest.Pytester, locked: Path) -> None:
    (locked / "runbook.lock.json").write_text('{"format": 1, "system": "demo"')
    result = gates(pytester, locked, "--target=live", "-m", "postdeploy")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {locked / 'runbook.lock.json'}: not a lock file: invalid JSON*"])


def test_a_lock_file_that_is_a_fifo_is_one_line_without_blocking(
    pytester: pytest.Pytester, locked: Path
) -> None:
    lock = locked / "runbook.lock.json"
    lock.unlink()
    os.mkfifo(lock)
    result = gates(pytester, locked, "--target=live", "-m", "postdeploy")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {lock}: cannot read lock file: not a regular file "
                                 "(a FIFO)"])


def test_without_a_lock_file_no_drift_gate_is_collected(
    pytester: pytest.Pytester, tmp_path: Path, pg_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = write_release(tmp_path / "plain")
    deployed(pg_server, release, monkeypatch)
    gates(pytester, release, "--target=live", "-m", "postdeploy")
    names = set(summary(release))
    assert not [n for n in names if n.startswith(("test_release_object", "test_unknown_objects"))]
    assert "test_ledger_checksums" in names
