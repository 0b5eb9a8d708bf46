"""Migration folders as teams have them: names, duplicate versions, tool layouts, ledgers."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from deploy_gates.migrate import MigrationError, discover, plan, status, up
from deploy_gates.rollback import down
from deploy_gates.spec.runbook import Ledger
from tests.dbtools import query, write


def names(directory: Path, **options: object) -> list[str]:
    return [m.name for m in discover(directory, **options)]


def test_numbered_names_take_hyphens_and_double_underscores_in_numeric_order(tmp_path: Path) -> None:
    write(tmp_path, {"12-add-user-fields.sql": "SELECT 1;", "3__init.sql": "SELECT 1;",
                     "0001_a.sql": "SELECT 1;", "notes.txt": "not a migration"})
    assert names(tmp_path) == ["0001_a.sql", "3__init.sql", "12-add-user-fields.sql"]


def test_every_misnamed_file_is_named_in_sorted_order(tmp_path: Path) -> None:
    write(tmp_path, {"zeta.sql": "SELECT 1;", "alpha.sql": "SELECT 1;", "0001_a.sql": "SELECT 1;"})
    with pytest.raises(MigrationError) as caught:
        discover(tmp_path)
    message = str(caught.value)
    assert "alpha.sql" in message and "zeta.sql" in message
    assert message.index("alpha.sql") < message.index("zeta.sql")
    assert "\n" not in message


def test_duplicate_versions_are_refused_naming_every_clash(tmp_path: Path) -> None:
    write(tmp_path, {"0005_a.sql": "SELECT 1;", "0005_b.sql": "SELECT 1;", "20-x.sql": "SELECT 1;",
                     "20-y.sql": "SELECT 1;", "20-z.sql": "SELECT 1;"})
    with pytest.raises(MigrationError) as caught:
        discover(tmp_path)
    message = str(caught.value)
    assert "0005_a.sql, 0005_b.sql" in message and "20-x.sql, 20-y.sql, 20-z.sql" in message
    assert "allow_duplicate_versions" in message


def test_allowed_duplicate_versions_run_in_full_file_name_order(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path, {"0005_b.sql": "INSERT INTO t VALUES ('b');", "0005_a.sql": "CREATE TABLE t (v text);",
                     "0006_c.sql": "INSERT INTO t VALUES ('c');"})
    files = discover(tmp_path, allow_duplicate_versions=True)
    assert [f.name for f in files] == ["0005_a.sql", "0005_b.sql", "0006_c.sql"]
    up(fresh_dsn, files)
    assert query(fresh_dsn, "SELECT v FROM t") == [("b",), ("c",)]


GOLANG = {
    "000001_users.up.sql": "CREATE TABLE users (id bigint PRIMARY KEY);",
    "000001_users.down.sql": "DROP TABLE users;",
    "000002_invoices.up.sql": "CREATE TABLE invoices (id bigint PRIMARY KEY, user_id bigint REFERENCES users);",
    "000002_invoices.down.sql": "DROP TABLE invoices;",
}


def test_golang_migrate_pairs_are_one_migration_each(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path, GOLANG)
    files = discover(tmp_path)
    assert [(f.name, f.layout) for f in files] == [("000001_users", "golang-migrate"),
                                                   ("000002_invoices", "golang-migrate")]
    up(fresh_dsn, files)
    assert query(fresh_dsn, "SELECT version, dirty FROM schema_migrations") == [(2, False)]
    assert [e.state for e in status(fresh_dsn, files)] == ["applied", "applied"]
    assert down(fresh_dsn, files, None, to="000001_users") == ["000002_invoices"]
    assert query(fresh_dsn, "SELECT version, dirty FROM schema_migrations") == [(1, False)]
    assert query(fresh_dsn, "SELECT to_regclass('invoices')") == [(None,)]


def test_psql_meta_command_names_file_line_and_the_psql_executor(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path, {"0001_a.sql": "CREATE TABLE a (id int);\n\\set ON_ERROR_STOP on\nSELECT 1;\n"})
    with pytest.raises(MigrationError) as caught:
        up(fresh_dsn, discover(tmp_path))
    message = str(caught.value)
    assert message.startswith("0001_a.sql:2: ")
    assert "\\set" in message and "migrations.executor: psql" in message
    assert query(fresh_dsn, "SELECT to_regclass('a')") == [(None,)]


def test_create_database_in_a_file_names_the_psql_executor(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path, {"0001_db.sql": "-- a second database\nCREATE DATABASE users;\n"})
    with pytest.raises(MigrationError, match=r"^0001_db\.sql:2: CREATE DATABASE .*migrations\.executor: psql"):
        up(fresh_dsn, discover(tmp_path))


def test_plan_and_status_read_the_applications_own_ledger(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path, {"0001_a.sql": "SELECT 1;", "0002_b.sql": "SELECT 1;"})
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE schema_migrations (version text PRIMARY KEY,"
                     " applied_at timestamptz NOT NULL DEFAULT now())")
        conn.execute("INSERT INTO schema_migrations (version) VALUES ('0001_a.sql')")
    files = discover(tmp_path)
    assert [f.name for f in plan(fresh_dsn, files)] == ["0002_b.sql"]
    assert [e.state for e in status(fresh_dsn, files)] == ["applied", "pending"]


def test_plain_ledger_is_written_in_its_own_shape(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path, {"0001_a.sql": "CREATE TABLE a ();"})
    up(fresh_dsn, discover(tmp_path), ledger=Ledger(format="plain"))
    assert query(fresh_dsn, "SELECT attname FROM pg_attribute WHERE attrelid = 'schema_migrations'::regclass"
                            " AND attnum > 0 ORDER BY attnum") == [("version",), ("applied_at",)]
    assert query(fresh_dsn, "SELECT version FROM schema_migrations") == [("0001_a.sql",)]


PSQL_FILE = (
    "\\set table_name invoices\n"
    "\\echo creating :table_name\n"
    "CREATE TABLE :\"table_name\" (id int);\n"
    "\\ir parts/index.sql\n"
)


def test_psql_executor_runs_meta_commands_in_one_transaction(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path / "m", {"0001_invoices.sql": PSQL_FILE})
    write(tmp_path / "m" / "parts", {"index.sql": "CREATE INDEX invoices_id ON invoices (id);\n"})
    applied = up(fresh_dsn, discover(tmp_path / "m"), executor="psql")
    assert [a.name for a in applied] == ["0001_invoices.sql"]
    assert query(fresh_dsn, "SELECT to_regclass('invoices_id') IS NOT NULL") == [(True,)]
    assert query(fresh_dsn, "SELECT version, success, execution_ms >= 0 FROM schema_migrations") == [
        ("0001_invoices.sql", True, True)]


def test_psql_failure_in_one_transaction_leaves_nothing(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path, {"0001_a.sql": "\\set x 1\nCREATE TABLE a (id int);\nINSERT INTO nope VALUES (1);\n"})
    with pytest.raises(MigrationError) as caught:
        up(fresh_dsn, discover(tmp_path), executor="psql")
    assert str(caught.value) == (
        '0001_a.sql:3: relation "nope" does not exist; psql ran the file in one transaction: '
        "nothing from it was applied, ledger unchanged")
    assert query(fresh_dsn, "SELECT to_regclass('a'), count(*) FROM schema_migrations") == [(None, 0)]


def test_psql_without_single_transaction_reports_what_the_file_left(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path, {"0001_a.sql": "CREATE TABLE a (id int);\nCREATE INDEX a_id ON a (id);\n"
                                   "INSERT INTO nope VALUES (1);\n"})
    files = discover(tmp_path)
    with pytest.raises(MigrationError) as caught:
        up(fresh_dsn, files, executor="psql", single_transaction=False)
    message = str(caught.value)
    assert message.startswith('0001_a.sql:3: relation "nope" does not exist; psql ran the file '
                              "without one transaction: it left behind: ")
    assert "table public.a" in message and "index public.a_id" in message
    assert message.endswith("recorded as failed in public.schema_migrations: inspect the database, "
                            "then delete that ledger row to retry")
    assert [e.state for e in status(fresh_dsn, files)] == ["failed"]
