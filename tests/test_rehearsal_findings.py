"""What an empty database hides: each class of production incident, as a deliberately bad
migration of the example release that a rehearsal on an empty database passes, and the
populated, per-migration rehearsal catches naming the migration, the statement and the table."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.gaterun import gates, summary


def add_migration(release: Path, name: str, up: str, down: str) -> None:
    (release / "migrations" / name).write_text(up)
    (release / "down" / name).write_text(down)
    (release / "runbook.lock.json").unlink(missing_ok=True)  # recorded for the migrations before


def rehearse_with(
    pytester: pytest.Pytester, release: Path, name: str, up: str, down: str
) -> dict[str, dict]:
    """The rehearsal's outcomes after adding migration ``name``; the run must be NO-GO."""
    add_migration(release, name, up, down)
    result = gates(pytester, release, "--target=rehearsal", "-m", "rehearsal")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    return summary(release)


def add_rehearsal_spec(release: Path, section: str) -> None:
    spec = release / "runbook.yaml"
    text = spec.read_text()
    assert "\nrehearsal:" in text
    head, tail = text.split("\nrehearsal:", 1)
    rest = tail.split("\n\n", 1)[1]
    spec.write_text(f"{head}\n{section.rstrip()}\n\n{rest}")


ROWS_ONLY_FAILURES = {
    "not null without default": (
        "ALTER TABLE tasks ADD COLUMN priority integer NOT NULL;\n",
        "ALTER TABLE tasks DROP COLUMN priority;\n",
        'column "priority" of relation "tasks" contains null values',
        "ALTER TABLE tasks ADD COLUMN priority integer NOT NULL",
    ),
    "unique index over duplicates": (
        "CREATE UNIQUE INDEX idx_tasks_title ON tasks (title);\n",
        "DROP INDEX idx_tasks_title;\n",
        'could not create unique index "idx_tasks_title"',
        "CREATE UNIQUE INDEX idx_tasks_title ON tasks (title)",
    ),
    "using cast": (
        "ALTER TABLE tasks ALTER COLUMN title TYPE integer USING title::integer;\n",
        "ALTER TABLE tasks ALTER COLUMN title TYPE text;\n",
        "invalid input syntax for type integer",
        "ALTER TABLE tasks ALTER COLUMN title TYPE integer USING title::integer",
    ),
    "check that rows violate": (
        "ALTER TABLE tasks ADD CONSTRAINT tasks_title_short CHECK (length(title) < 4);\n",
        "ALTER TABLE tasks DROP CONSTRAINT tasks_title_short;\n",
        'check constraint "tasks_title_short" of relation "tasks" is violated by some row',
        "ALTER TABLE tasks ADD CONSTRAINT tasks_title_short CHECK (length(title) < 4)",
    ),
}


@pytest.mark.parametrize("case", list(ROWS_ONLY_FAILURES), ids=list(ROWS_ONLY_FAILURES))
def test_migration_that_fails_only_on_rows_is_caught(
    pytester: pytest.Pytester, release: Path, case: str
) -> None:
    up, down, error, statement = ROWS_ONLY_FAILURES[case]
    outcomes = rehearse_with(pytester, release, "0009_task_change.sql", up, down)
    for gate in ("test_migrate_up", "test_stair[0009_task_change.sql:up]"):
        message = outcomes[gate]["message"]
        assert outcomes[gate]["outcome"] == "failed", gate
        assert message.split(": ", 1)[1].startswith("0009_task_change.sql:1: "), message
        assert error in message
        assert f"statement: {statement}" in message
        assert "public.tasks holds 300 rows" in message
    assert outcomes["test_stair[0008_metrics_alerts.sql:reapply]"]["outcome"] == "passed"


DATA_LOSING_DOWNS = {
    "column re-created": (
        "ALTER TABLE tasks ADD COLUMN gate_note text;\n",
        "ALTER TABLE tasks DROP COLUMN gate_note;\nALTER TABLE tasks DROP COLUMN gate_type;\n"
        "ALTER TABLE tasks ADD COLUMN gate_type text;\n",
        "public.tasks: values of column gate_type changed (300 rows before and after)",
        "line 2 ALTER TABLE tasks DROP COLUMN gate_type",
    ),
    "table re-created": (
        "ALTER TABLE gate_candidate_link ADD COLUMN note text;\n",
        "DROP TABLE gate_candidate_link;\n"
        "CREATE TABLE gate_candidate_link (\n"
        "    gate_task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,\n"
        "    candidate_task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,\n"
        "    created_at timestamptz NOT NULL DEFAULT now(),\n"
        "    PRIMARY KEY (gate_task_id, candidate_task_id)\n);\n",
        "public.gate_candidate_link: 300 rows before, 0 after",
        "line 1 DROP TABLE gate_candidate_link",
    ),
}


@pytest.mark.parametrize("case", list(DATA_LOSING_DOWNS), ids=list(DATA_LOSING_DOWNS))
def test_down_script_that_loses_baseline_data_is_named(
    pytester: pytest.Pytester, release: Path, case: str
) -> None:
    up, down, change, statement = DATA_LOSING_DOWNS[case]
    outcomes = rehearse_with(pytester, release, "0009_gate_notes.sql", up, down)
    assert outcomes["test_schema_restored"]["outcome"] == "passed"
    restored = outcomes["test_data_restored"]
    assert restored["outcome"] == "failed"
    assert restored["message"] == (
        "expected every baseline table to hold the rows it held before the release; "
        f"found {change}")
    stair = outcomes["test_stair[0009_gate_notes.sql:down]"]
    assert stair["outcome"] == "failed"
    assert stair["message"] == (
        "expected the down script of 0009_gate_notes.sql to leave the rows it found; "
        f"found {change}, first changed by its {statement}")
    assert outcomes["test_stair[0008_metrics_alerts.sql:down]"]["outcome"] == "passed"


LOCKING = {
    "0009_task_title_index.sql": "CREATE INDEX idx_tasks_title ON tasks (title);\n",
    "0010_task_rank.sql": "ALTER TABLE tasks ADD COLUMN rank double precision DEFAULT random();\n",
}
LOCKING_DOWN = {
    "0009_task_title_index.sql": "DROP INDEX idx_tasks_title;\n",
    "0010_task_rank.sql": "ALTER TABLE tasks DROP COLUMN rank;\n",
}


def add_locking_migrations(release: Path) -> None:
    for name, up in LOCKING.items():
        add_migration(release, name, up, LOCKING_DOWN[name])


def test_blocking_lock_and_rewrite_on_a_baseline_table_are_flagged(
    pytester: pytest.Pytester, release: Path
) -> None:
    add_locking_migrations(release)
    result = gates(pytester, release, "--target=rehearsal")
    outcomes = summary(release)
    index = outcomes["test_locks[0009_task_title_index.sql]"]
    assert (index["outcome"], index["severity"]) == ("failed", "advisory")
    assert index["message"].startswith(
        "expected no lock that blocks reads or writes on a baseline table; found "
        "0009_task_title_index.sql:1 CREATE INDEX idx_tasks_title ON tasks (title): "
        "SHARE lock on public.tasks (blocks writes), held ")
    assert "ms at 300 rows" in index["message"]
    assert "safer: CREATE INDEX CONCURRENTLY" in index["message"]
    rank = outcomes["test_locks[0010_task_rank.sql]"]
    assert rank["outcome"] == "failed"
    assert ("0010_task_rank.sql:1 ALTER TABLE tasks ADD COLUMN rank double precision DEFAULT "
            "random(): rewrites public.tasks under an ACCESS EXCLUSIVE lock (blocks reads and "
            "writes), held ") in rank["message"]
    read_model = outcomes["test_locks[0005_metrics_read_model.sql]"]
    assert read_model["outcome"] == "passed"
    measured = next(e["text"] for e in read_model["evidence"] if e["title"] == "locks taken")
    assert "SHARE ROW EXCLUSIVE on public.projects" in measured
    assert "not flagged: no rows of a baseline table were processed while it was held" in measured
    compared = next(e["text"] for e in index["evidence"] if e["title"] == "squawk and measured")
    assert "line 1: agree: squawk require-concurrent-index-creation; measured SHARE on public.tasks" in compared
    lint = outcomes["test_squawk[0009_task_title_index.sql:1:require-concurrent-index-creation]"]
    assert (lint["outcome"], lint["severity"]) == ("failed", "advisory")
    assert lint["message"].startswith("0009_task_title_index.sql:1: require-concurrent-index-creation: ")
    assert outcomes["test_squawk[0005_metrics_read_model.sql]"]["outcome"] == "passed"
    assert result.ret == pytest.ExitCode.OK  # advisory by default: the verdict stays GO


def test_spec_makes_lock_gates_blockers_and_a_waiver_accepts_one(
    pytester: pytest.Pytester, release: Path
) -> None:
    add_locking_migrations(release)
    add_rehearsal_spec(release, "rehearsal:\n  locks: {severity: blocker}\n"
                                "  squawk: {enabled: false}\n")
    waivers = release / "waivers.yaml"
    waivers.write_text(
        "waivers:\n  - gate: 'test_locks[0009_task_title_index.sql]'\n"
        "    justification: tasks is read-only during the window (OPS-7)\n"
        f"    approver: jane.doe\n    expires: {date.today() + timedelta(days=7)}\n")
    result = gates(pytester, release, "--target=rehearsal", "-m", "rehearsal",
                   f"--waivers={waivers}")
    outcomes = summary(release)
    assert outcomes["test_locks[0009_task_title_index.sql]"]["outcome"] == "waived"
    rank = outcomes["test_locks[0010_task_rank.sql]"]
    assert (rank["outcome"], rank["severity"]) == ("failed", "blocker")
    catalog_only = outcomes["test_locks[0006_metrics_incremental_jobs.sql]"]  # by default flagged too
    assert catalog_only["outcome"] == "failed"
    assert catalog_only["message"].startswith(
        "expected no lock that blocks reads or writes on a baseline table; found "
        "0006_metrics_incremental_jobs.sql:8 CREATE TABLE metrics_state_transition_counter ( "
        "project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,")
    assert "SHARE ROW EXCLUSIVE lock on public.projects (blocks writes), held " in catalog_only["message"]
    assert catalog_only["message"].endswith("ms at 300 rows (no rows processed while held)")
    assert not [name for name in outcomes if name.startswith("test_squawk")]
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_stairs_name_the_down_script_a_batch_rollback_cannot(
    pytester: pytest.Pytester, release: Path
) -> None:
    down = release / "down" / "0005_metrics_read_model.sql"
    down.write_text(down.read_text().replace("DROP TABLE IF EXISTS metrics_drilldown;\n", ""))
    gates(pytester, release, "--target=rehearsal", "-m", "rehearsal")
    outcomes = summary(release)
    assert "left behind: table public.metrics_drilldown" in outcomes["test_schema_restored"]["message"]
    stair = outcomes["test_stair[0005_metrics_read_model.sql:down]"]
    assert stair["outcome"] == "failed"
    assert stair["message"].startswith(
        "expected the down script of 0005_metrics_read_model.sql to restore the schema it "
        "found; found left behind: ")
    assert "left behind: table public.metrics_drilldown" in stair["message"]
    assert outcomes["test_stair[0005_metrics_read_model.sql:up]"]["outcome"] == "passed"


def test_report_has_a_row_per_migration(pytester: pytest.Pytester, release: Path) -> None:
    gates(pytester, release, "--target=rehearsal", "-m", "rehearsal")
    outcomes = summary(release)
    entry = next(e for e in outcomes["test_locks[0007_metrics_event_log_cursor_index.sql]"]["evidence"]
                 if e["title"] == "rehearsal: migration (JSON)")
    row = json.loads(entry["text"])
    assert row["migration"] == "0007_metrics_event_log_cursor_index.sql"
    assert row["stairs"] == {"up": "passed", "down": "passed", "reapply": "passed"}
    assert row["rewrite"] is False and row["data_preserved"] is True and row["rows"] == 300
    assert {"table": "public.event_log", "mode": "SHARE UPDATE EXCLUSIVE",
            "flagged": False} in [{k: lock[k] for k in ("table", "mode", "flagged")}
                                  for lock in row["locks"]]
    (page,) = (release / "reports").glob("*.html")
    html = page.read_text()
    assert "<h3>Rehearsal per migration</h3>" in html
    assert "<td>0007_metrics_event_log_cursor_index.sql</td>" in html


def test_rehearsal_mode_from_the_spec_and_the_command_line(
    pytester: pytest.Pytester, release: Path
) -> None:
    add_rehearsal_spec(release, "rehearsal:\n  mode: stairs\n")
    gates(pytester, release, "--target=rehearsal", "-m", "rehearsal")
    outcomes = summary(release)
    assert outcomes["test_migrate_up"]["outcome"] == "skipped"
    assert outcomes["test_migrate_up"]["message"] == (
        "migrate up: rehearsal mode is stairs: the batch rehearsal is off")
    assert {g["outcome"] for name, g in outcomes.items() if name.startswith("test_stair")} == {
        "passed"}
    assert outcomes["test_locks[0007_metrics_event_log_cursor_index.sql]"]["outcome"] == "passed"
    for report in (release / "reports").iterdir():
        report.unlink()
    result = gates(pytester, release, "--target=rehearsal", "-m", "rehearsal",
                   "--rehearsal-mode=batch")
    outcomes = summary(release)
    assert not [name for name in outcomes if name.startswith("test_stair")]
    assert outcomes["test_data_restored"]["outcome"] == "passed"
    assert result.ret == pytest.ExitCode.OK
