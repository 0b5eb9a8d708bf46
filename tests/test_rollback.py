"""Down scripts, backups and restores against a real PostgreSQL, and the rollback CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from deploy_gates.fixtures.ephemeral import Server
from deploy_gates.migrate import MigrationError, discover, up
from deploy_gates.migrate.lock import lock_key
from deploy_gates.redact import redact_dsn
from deploy_gates.rollback import backup, down, restore, verify_backup
from tests.dbtools import ledger, query, tables, write

REPO = Path(__file__).resolve().parents[1]
UP = {
    "0001_t1.sql": "CREATE TABLE t1 (id int);\nINSERT INTO t1 VALUES (1), (2);",
    "0002_t2.sql": "CREATE TABLE t2 (id int);",
    "0003_t3.sql": "CREATE TABLE t3 (id int);",
}
DOWN = {
    "0001_t1.sql": "DROP TABLE t1;",
    "0002_t2.sql": "DROP TABLE t2;",
    "0003_t3.sql": "-- reverts 0003\nDROP TABLE t3;",
}










@pytest.fixture
def migrated(fresh_dsn: str, tmp_path: Path) -> tuple[str, Path, Path]:
    """A database with UP applied: its DSN, the migrations and the down scripts directories."""
    migrations, down_dir = write(tmp_path / "migrations", UP), write(tmp_path / "down", DOWN)
    up(fresh_dsn, discover(migrations))
    return fresh_dsn, migrations, down_dir


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``deploy-gates ARGS`` (as ``python -m deploy_gates``) from the repository root with
    stdin not a terminal."""
    return subprocess.run(
        [sys.executable, "-m", "deploy_gates", *args], cwd=REPO, capture_output=True, text=True,
        timeout=120, env=dict(os.environ), stdin=subprocess.DEVNULL,
    )


def test_down_reverts_newest_first_back_to_target(migrated: tuple[str, Path, Path]) -> None:
    dsn, migrations, down_dir = migrated
    lines: list[str] = []
    reverted = down(dsn, discover(migrations), down_dir, to="0001_t1.sql", echo=lines.append)
    assert reverted == ["0003_t3.sql", "0002_t2.sql"]
    assert [line.split(" ... ")[0] for line in lines] == [
        "reverting 0003_t3.sql", "reverting 0002_t2.sql"
    ]
    assert tables(dsn) == {"schema_migrations", "t1"}
    assert ledger(dsn) == ["0001_t1.sql"]
    assert down(dsn, discover(migrations), down_dir) == ["0001_t1.sql"]
    assert tables(dsn) == {"schema_migrations"} and ledger(dsn) == []


def test_missing_down_script_is_refused_before_anything_runs(
    migrated: tuple[str, Path, Path],
) -> None:
    dsn, migrations, down_dir = migrated
    (down_dir / "0002_t2.sql").unlink()
    with pytest.raises(MigrationError, match=r"missing down script\(s\) .*down/0002_t2\.sql"):
        down(dsn, discover(migrations), down_dir, to="0001_t1.sql")
    assert tables(dsn) == {"schema_migrations", "t1", "t2", "t3"}
    assert len(ledger(dsn)) == 3


def test_failing_down_script_rolls_back_and_names_the_line(
    migrated: tuple[str, Path, Path],
) -> None:
    dsn, migrations, down_dir = migrated
    write(down_dir, {"0003_t3.sql": "DROP TABLE t3;\nDROP TABLE nope;\n"})
    with pytest.raises(MigrationError) as caught:
        down(dsn, discover(migrations), down_dir, to="0001_t1.sql")
    assert str(caught.value) == (
        f'{down_dir / "0003_t3.sql"}:2: table "nope" does not exist (SQLSTATE 42P01); '
        "down script rolled back, 0003_t3.sql stays applied (ledger unchanged)"
    )
    assert tables(dsn) == {"schema_migrations", "t1", "t2", "t3"}
    assert len(ledger(dsn)) == 3


def test_dry_run_changes_nothing(migrated: tuple[str, Path, Path]) -> None:
    dsn, migrations, down_dir = migrated
    before = query(dsn, "SELECT version, checksum, applied_at FROM schema_migrations")
    lines: list[str] = []
    names = down(dsn, discover(migrations), down_dir, to="0001_t1.sql", dry_run=True,
                 echo=lines.append)
    assert names == ["0003_t3.sql", "0002_t2.sql"]
    assert lines[0] == f"would run {down_dir / '0003_t3.sql'} (1 statement(s))"
    assert "  -- line 2\n  DROP TABLE t3;" in lines
    assert query(dsn, "SELECT version, checksum, applied_at FROM schema_migrations") == before
    assert tables(dsn) == {"schema_migrations", "t1", "t2", "t3"}


def test_down_waits_for_the_migration_lock(migrated: tuple[str, Path, Path]) -> None:
    dsn, migrations, down_dir = migrated
    with psycopg.connect(dsn, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_key("public.schema_migrations"),))
        with pytest.raises(MigrationError, match=r"migration lock .* still held"):
            down(dsn, discover(migrations), down_dir, lock_timeout_s=0.3)
    assert len(ledger(dsn)) == 3


def test_backup_and_restore_into_a_fresh_database(
    migrated: tuple[str, Path, Path], pg_server: Server, tmp_path: Path
) -> None:
    dsn, _, _ = migrated
    info = backup(dsn, tmp_path / "backups" / "before.dump")
    assert info.path.is_file() and info.size_bytes == info.path.stat().st_size
    assert info.toc_entries >= 5
    assert verify_backup(info.path) == info
    target = pg_server.create_database("restored")
    restore(info.path, target)
    assert tables(target) == tables(dsn)
    assert query(target, "SELECT id FROM t1 ORDER BY id") == [(1,), (2,)]
    assert ledger(target) == ledger(dsn)


def test_backup_errors_are_one_line_without_password(tmp_path: Path) -> None:
    dsn = "host=127.0.0.1 port=1 user=app password=s3cr3t-XYZ dbname=app"
    with pytest.raises(MigrationError) as caught:
        backup(dsn, tmp_path / "x.dump")
    message = str(caught.value)
    assert message.startswith("pg_dump --format=custom --file ")
    assert "password=***" in message and "failed: connection" in message
    assert "s3cr3t-XYZ" not in message and "\n" not in message
    (tmp_path / "junk.dump").write_text("not an archive")
    with pytest.raises(MigrationError, match=r"^pg_restore --list .*junk\.dump failed"):
        verify_backup(tmp_path / "junk.dump")


def test_cli_down_needs_confirmation(migrated: tuple[str, Path, Path], tmp_path: Path) -> None:
    dsn, migrations, down_dir = migrated
    common = ["--dsn", dsn, "--dir", str(migrations), "--down-dir", str(down_dir),
              "--report-dir", str(tmp_path / "reports")]
    refused = run_cli(*common, "rollback", "--to", "0001_t1.sql")
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        f"deploy-gates rollback: refusing to change {redact_dsn(dsn)} without --confirm "
        "(or use --dry-run to see what would run)"
    ]
    assert len(ledger(dsn)) == 3
    preview = run_cli(*common, "rollback", "--to", "0001_t1.sql", "--dry-run")
    assert preview.returncode == 0 and "DROP TABLE t3;" in preview.stdout
    assert len(ledger(dsn)) == 3
    done = run_cli(*common, "rollback", "--to", "0001_t1.sql", "--confirm")
    assert done.returncode == 0, done.stderr
    assert "2 migration(s) rolled back" in done.stdout
    assert ledger(dsn) == ["0001_t1.sql"]
    dumps = list((tmp_path / "reports").glob("backup-*Z.dump"))
    assert len(dumps) == 1 and f"backup: {dumps[0]} (" in done.stdout
    assert len(list((tmp_path / "reports").glob("rollback-*Z.log"))) == 1
    restored = run_cli("--dsn", dsn, "restore", "--from", str(dumps[0]), "--confirm")
    assert restored.returncode == 0, restored.stderr
    assert len(ledger(dsn)) == 3 and {"t2", "t3"} <= tables(dsn)


def test_cli_usage_errors(tmp_path: Path) -> None:
    result = run_cli("--dsn", "dbname=x", "rollback", "--confirm")
    assert result.returncode == 1
    assert result.stderr == (
        "deploy-gates rollback: --dir is needed (or --target with a spec that names migrations.dir)\n"
    )
    refused = run_cli("--dsn", "host=127.0.0.1 password=s3cr3t-XYZ", "restore",
                      "--from", str(tmp_path / "x.dump"))
    assert refused.returncode == 1
    assert refused.stderr == (
        "deploy-gates restore: refusing to change password=*** host=127.0.0.1 without --confirm\n"
    )
