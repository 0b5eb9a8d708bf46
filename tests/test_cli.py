"""The ``deploy-gates`` command: subcommands, options before or after them, lint without a
database, light startup."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.commands import deploy_gates
from tests.dbtools import write
from tests.gaterun import EXAMPLE

COMMANDS = ("migrate", "rollback", "backup", "restore", "lint", "schema", "init")


def test_help_lists_every_command_with_examples() -> None:
    shown = deploy_gates("--help")
    assert shown.returncode == 0
    listed = [line.split()[0] for line in shown.stdout.split("commands:\n")[1].splitlines()
              if line.startswith("  ") and not line.startswith("   ")][:len(COMMANDS)]
    assert listed == list(COMMANDS)
    assert "examples:" in shown.stdout
    none = deploy_gates()
    assert none.returncode == 2 and "required: COMMAND" in none.stderr
    unknown = deploy_gates("lnit")
    assert unknown.returncode == 2 and "invalid choice: 'lnit'" in unknown.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help_with_examples(command: str) -> None:
    shown = deploy_gates(command, "--help")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"usage: deploy-gates {command} ")
    assert "examples:" in shown.stdout and f"deploy-gates {command}" in shown.stdout


def test_options_before_or_after_the_command(tmp_path: Path) -> None:
    spec = str(EXAMPLE / "runbook.yaml")
    before = deploy_gates("--runbook", spec, "lint")
    after = deploy_gates("lint", "--runbook", spec)
    assert before.returncode == after.returncode == 0, before.stderr + after.stderr
    assert before.stdout == after.stdout == (
        f"{spec}: ok: tascade P5.M3, 3 target(s), 8 migration(s), 4 in the release, "
        "19 schema object(s)\n")


def test_migrate_takes_options_after_the_action(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path / "m", {"0001_a.sql": "CREATE TABLE a ();"})
    env = {"CLI_TEST_DSN": fresh_dsn}
    planned = deploy_gates("migrate", "plan", "--dsn-env", "CLI_TEST_DSN", "--dir",
                           str(tmp_path / "m"), env=env)
    assert (planned.returncode, planned.stdout) == (0, "0001_a.sql\n")
    wrong = deploy_gates("migrate", "status", "--through", "0001_a.sql", "--dsn-env",
                         "CLI_TEST_DSN", "--dir", str(tmp_path / "m"), env=env)
    assert wrong.returncode == 2
    assert "--through and --allow-out-of-order apply to plan and up" in wrong.stderr


def test_lint_finds_spec_and_migration_problems_without_a_database(tmp_path: Path) -> None:
    release = tmp_path / "tascade"
    shutil.copytree(EXAMPLE, release)
    (release / "down" / "0006_metrics_incremental_jobs.sql").unlink()
    (release / "migrations" / "0007_again.sql").write_text("SELECT 1;")
    env = {"PATH": "/usr/bin:/bin"}  # no PostgreSQL tools needed, none started
    found = deploy_gates("lint", cwd=release, env=env)
    assert found.returncode == 1
    assert found.stderr.splitlines() == [
        "runbook.yaml: migrations: expected every file of migrations to be a numbered migration "
        "in an unambiguous order; found 1 problem(s): versions shared by several files (0007 in "
        "0007_again.sql, 0007_metrics_event_log_cursor_index.sql), so the order is ambiguous: "
        "renumber, or set migrations.allow_duplicate_versions: true to apply them in full file "
        "name order",
        "runbook.yaml: migrations: expected down script down/0006_metrics_incremental_jobs.sql;"
        " found: it does not exist",
        "runbook.yaml: migrations: expected down script down/0007_again.sql; found: it does not "
        "exist",
    ]
    (release / "runbook.yaml").write_text(
        (release / "runbook.yaml").read_text().replace("kind: ephemeral", "kind: ephemerl"))
    broken = deploy_gates("lint", cwd=release, env=env)
    assert broken.returncode == 1 and len(broken.stderr.splitlines()) == 1
    line = (release / "runbook.yaml").read_text().splitlines().index(
        "    kind: ephemerl              # a throwaway PostgreSQL the suite starts itself") + 1
    assert broken.stderr.startswith(f"runbook.yaml:{line}: targets.rehearsal.kind: unknown kind "
                                    "'ephemerl'")


def test_the_command_line_starts_light() -> None:
    probe = ("import sys; from deploy_gates.cli import build_parser; build_parser(); "
             "print(sorted(m for m in ('psycopg', 'pydantic', 'pytest', 'yaml') "
             "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout == "[]\n", done.stderr


@pytest.mark.parametrize("command", ["migrate", "rollback"])
def test_spec_secrets_never_reach_the_terminal_or_the_log(
    fresh_dsn: str, tmp_path: Path, command: str
) -> None:
    secret = "signing-key-4b1d9e77"
    leak = f"DO $$ BEGIN RAISE EXCEPTION 'key %', '{secret}'; END $$;"
    write(tmp_path / "migrations", {"0001_a.sql": "CREATE TABLE a ();" if command == "rollback"
                                    else leak})
    write(tmp_path / "down", {"0001_a.sql": leak})
    (tmp_path / "runbook.yaml").write_text(
        'system: demo\nrelease: "1"\nsecrets: [APP_SIGNING_KEY]\n'
        "targets:\n  staging: {kind: live, dsn_env: CLI_TEST_DSN}\n"
        "migrations: {dir: migrations, down_dir: down}\n")
    env = {"CLI_TEST_DSN": fresh_dsn, "APP_SIGNING_KEY": secret}
    common = ("--runbook", str(tmp_path / "runbook.yaml"), "--target", "staging",
              "--allow-destructive", "staging", "--report-dir", str(tmp_path / "out"))
    if command == "rollback":
        applied = deploy_gates("migrate", "up", *common, env=env)
        assert applied.returncode == 0, applied.stderr
    done = deploy_gates(command, *(["up"] if command == "migrate" else ["--confirm", "--no-backup"]), *common,
                        env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "key ***" in done.stderr, done.stderr
    logs = "".join(p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert "key ***" in logs
    assert secret not in done.stdout + done.stderr + logs
