"""Down scripts under ``migrations.executor: psql``: the rollback runs them through psql as the up
direction does (meta-commands, one transaction or none), in the rehearsal and the command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploy_gates.migrate import MigrationError, discover, status, up
from deploy_gates.rollback import down
from tests.dbtools import ledger, query, write
from tests.gaterun import ROOT, gates, summary

UP = {
    "0001_users.sql": "CREATE TABLE users (id int PRIMARY KEY);",
    "0002_invoices.sql": "CREATE TABLE invoices (id int, user_id int REFERENCES users);\n"
                         "CREATE INDEX invoices_user ON invoices (user_id);",
}
DOWN = {
    "0002_invoices.sql": "\\set table_name invoices\n"
                         "\\echo dropping :table_name\n"
                         "\\ir parts/drop_index.sql\n"
                         "DROP TABLE :\"table_name\";\n",
}
DROP_INDEX = {"drop_index.sql": "DROP INDEX invoices_user;\n"}


def folders(tmp_path: Path, down_files: dict[str, str] = DOWN) -> tuple[Path, Path]:
    migrations = write(tmp_path / "migrations", UP)
    down_dir = write(tmp_path / "down", down_files)
    write(down_dir / "parts", DROP_INDEX)
    return migrations, down_dir


def test_psql_down_script_with_meta_commands_rolls_back(fresh_dsn: str, tmp_path: Path) -> None:
    migrations, down_dir = folders(tmp_path)
    files = discover(migrations)
    up(fresh_dsn, files, executor="psql")
    reverted = down(fresh_dsn, files, down_dir, to="0001_users.sql", executor="psql")
    assert reverted == ["0002_invoices.sql"]
    assert query(fresh_dsn, "SELECT to_regclass('invoices'), to_regclass('invoices_user')") == [
        (None, None)]
    assert ledger(fresh_dsn) == ["0001_users.sql"]


def test_meta_command_in_a_down_script_names_the_psql_executor(fresh_dsn: str, tmp_path: Path) -> None:
    migrations, down_dir = folders(tmp_path)
    files = discover(migrations)
    up(fresh_dsn, files)
    with pytest.raises(MigrationError) as caught:
        down(fresh_dsn, files, down_dir, to="0001_users.sql")
    message = str(caught.value)
    assert message.startswith("0002_invoices.sql:1: psql meta-command \\set ")
    assert "migrations.executor: psql" in message and "\n" not in message
    assert ledger(fresh_dsn) == ["0001_users.sql", "0002_invoices.sql"]


def test_psql_down_failure_in_one_transaction_changes_nothing(fresh_dsn: str, tmp_path: Path) -> None:
    migrations, down_dir = folders(tmp_path, {"0002_invoices.sql": "DROP INDEX invoices_user;\n"
                                                                   "DROP TABLE nope;\n"})
    files = discover(migrations)
    up(fresh_dsn, files)
    with pytest.raises(MigrationError) as caught:
        down(fresh_dsn, files, down_dir, to="0001_users.sql", executor="psql")
    assert str(caught.value) == (
        '0002_invoices.sql:2: table "nope" does not exist; psql ran the file in one transaction: '
        "nothing from it was applied, 0002_invoices.sql stays applied (ledger unchanged)")
    assert query(fresh_dsn, "SELECT to_regclass('invoices_user') IS NOT NULL") == [(True,)]
    assert ledger(fresh_dsn) == ["0001_users.sql", "0002_invoices.sql"]


def test_psql_down_without_single_transaction_reports_what_it_left(fresh_dsn: str, tmp_path: Path) -> None:
    migrations, down_dir = folders(tmp_path, {"0002_invoices.sql": "\\echo reverting invoices\n"
                                                                   "DROP INDEX invoices_user;\n"
                                                                   "DROP TABLE nope;\n"
                                                                   "DROP TABLE invoices;\n"})
    files = discover(migrations)
    up(fresh_dsn, files)
    with pytest.raises(MigrationError) as caught:
        down(fresh_dsn, files, down_dir, to="0001_users.sql", executor="psql",
             single_transaction=False)
    message = str(caught.value)
    assert message == (
        '0002_invoices.sql:3: table "nope" does not exist; psql ran the file without one '
        "transaction: it left behind: dropped index public.invoices_user; 0002_invoices.sql stays "
        "applied (ledger unchanged)"), message
    assert query(fresh_dsn, "SELECT to_regclass('invoices_user'), to_regclass('invoices') IS NOT NULL"
                 ) == [(None, True)]
    assert [e.state for e in status(fresh_dsn, files)] == ["applied", "applied"]


def test_rollback_command_runs_down_scripts_with_psql(fresh_dsn: str, tmp_path: Path) -> None:
    migrations, _ = folders(tmp_path)
    spec = tmp_path / "runbook.yaml"
    spec.write_text(
        "system: shop\nrelease: '2'\n"
        "targets:\n  staging: {kind: live, dsn_env: SHOP_DSN}\n"
        "migrations: {dir: migrations, down_dir: down, executor: psql}\n")
    files = discover(migrations)
    up(fresh_dsn, files, executor="psql")
    done = subprocess.run(
        [sys.executable, "-m", "deploy_gates", "rollback", "--runbook", str(spec), "--target",
         "staging", "--to", "0001_users.sql", "--allow-destructive", "staging", "--confirm",
         "--no-backup", "--report-dir", str(tmp_path / "reports")],
        cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env={**os.environ, "SHOP_DSN": fresh_dsn},
    )
    assert done.returncode == 0, done.stderr
    assert "1 migration(s) rolled back" in done.stdout
    assert ledger(fresh_dsn) == ["0001_users.sql"]


def test_rehearsal_rolls_back_psql_down_scripts(pytester: pytest.Pytester, tmp_path: Path) -> None:
    release = tmp_path / "shop"
    folders(release)
    (release / "runbook.yaml").write_text(
        "system: shop\nrelease: '2'\n"
        "targets:\n  rehearsal: {kind: ephemeral, provider: embedded}\n"
        "migrations: {dir: migrations, down_dir: down, baseline: 0001_users.sql, executor: psql}\n"
        "schema: {tables: [invoices], indexes: [invoices_user]}\n"
        "rehearsal:\n  locks: {catalog_only: pass}\n  squawk: {exclude: [require-timeout-settings,"
        " prefer-robust-stmts, prefer-bigint-over-int, require-concurrent-index-creation]}\n")
    result = gates(pytester, release, "--target=rehearsal")
    outcomes = summary(release)
    assert outcomes["test_migrate_down"]["outcome"] == "passed", result.stdout.str()[-3000:]
    assert outcomes["test_absent_after_down[table:invoices]"]["outcome"] == "passed"
    assert outcomes["test_schema_restored"]["outcome"] == "passed"
    stairs = {k: v["outcome"] for k, v in outcomes.items() if k.startswith("test_stair[")}
    assert stairs and set(stairs.values()) == {"passed"}, stairs


def test_commands_let_psql_connect_to_the_targets_other_databases(
    pg_server, tmp_path: Path
) -> None:
    content, users = pg_server.create_database("content"), pg_server.create_database("users")
    write(tmp_path / "users", {"001_users.sql": "CREATE TABLE users (id int);\n"
                                                "\\c content\nCREATE TABLE synced (id int);\n"})
    write(tmp_path / "users_down", {"001_users.sql": "DROP TABLE users;\n"
                                                     "\\c content\nDROP TABLE synced;\n"})
    write(tmp_path / "content", {})
    spec = tmp_path / "runbook.yaml"
    spec.write_text(
        "system: shop\nrelease: '2'\n"
        "targets:\n  staging:\n    kind: live\n"
        "    databases: {content: {dsn_env: SHOP_CONTENT}, users: {dsn_env: SHOP_USERS}}\n"
        "databases:\n  content: {migrations: {dir: content}}\n"
        "  users: {migrations: {dir: users, down_dir: users_down, executor: psql}}\n")
    command = [sys.executable, "-m", "deploy_gates", "--runbook", str(spec), "--target", "staging",
               "--database", "users", "--allow-destructive", "staging",
               "--report-dir", str(tmp_path / "reports")]
    env = {**os.environ, "SHOP_CONTENT": content, "SHOP_USERS": users}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*command[:3], *args, *command[3:]], cwd=ROOT, capture_output=True,
                              text=True, timeout=120, stdin=subprocess.DEVNULL, env=env)

    applied = run("migrate", "up")
    assert applied.returncode == 0, applied.stderr
    assert query(content, "SELECT to_regclass('synced') IS NOT NULL") == [(True,)]
    reverted = run("rollback", "--confirm", "--no-backup")
    assert reverted.returncode == 0, reverted.stderr
    assert query(content, "SELECT to_regclass('synced')") == [(None,)]
    assert query(users, "SELECT to_regclass('users'), count(*) FROM schema_migrations") == [(None, 0)]
