"""The migration runner against a real PostgreSQL: order, ledger, safety checks, lock, CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest

from deploy_gates.migrate import (
    MigrationError,
    MigrationLog,
    discover,
    migration_lock,
    plan,
    split_statements,
    status,
    up,
)
from deploy_gates.migrate.lock import lock_key
from deploy_gates.spec.runbook import Ledger
from tests.dbtools import ledger, query, tables, write

REPO = Path(__file__).resolve().parents[1]










def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``deploy-gates migrate`` (as ``python -m deploy_gates``) from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "deploy_gates", "migrate", *args], cwd=REPO, capture_output=True, text=True,
        timeout=60, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
    )


def test_discover_orders_numerically_and_reads_names(tmp_path: Path) -> None:
    write(tmp_path, {
        "0010_add_col.sql": "SELECT 1;",
        "0002_create_metrics_read_model.sql": "SELECT 1;",
        "0003_index.sql": "-- adds an index\n-- deploy-gates: no-transaction\nSELECT 1;",
        "README.md": "not a migration",
    })
    files = discover(tmp_path)
    assert [f.name for f in files] == [
        "0002_create_metrics_read_model.sql", "0003_index.sql", "0010_add_col.sql"
    ]
    assert files[0].version == "0002"
    assert files[0].description == "create metrics read model"
    assert [f.transactional for f in files] == [True, False, True]
    assert len(files[0].checksum) == 64


def test_discover_refuses_bad_names_and_missing_directory(tmp_path: Path) -> None:
    write(tmp_path, {"add_col.sql": "SELECT 1;"})
    with pytest.raises(MigrationError, match=r"add_col\.sql"):
        discover(tmp_path)
    with pytest.raises(MigrationError, match="nowhere"):
        discover(tmp_path / "nowhere")


def test_split_keeps_dollar_quoted_bodies_and_comments_with_lines() -> None:
    source = (
        "-- header; with a semicolon\n"
        "CREATE TABLE a (id int); -- trailing\n"
        "\n"
        "/* block ; comment */\n"
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "  RETURN 1; -- inside\n"
        "END;\n"
        "$$;\n"
        "CREATE FUNCTION g() RETURNS text LANGUAGE sql AS $body$ SELECT ';' $body$;\n"
        "-- only a comment at the end\n"
    )
    statements = split_statements(source)
    assert [s.line for s in statements] == [2, 5, 10]
    assert statements[0].text.startswith("CREATE TABLE a")
    assert "RETURN 1; -- inside\nEND;\n$$;" in statements[1].text
    assert statements[2].text.endswith("$body$;")


def test_dollar_quoted_functions_apply(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path, {"0001_functions.sql": (
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\n"
        "BEGIN\n  PERFORM 1;\n  RETURN 41; -- ;\nEND;\n$$;\n"
        "CREATE FUNCTION g() RETURNS int LANGUAGE sql AS $body$ SELECT f() + 1; $body$;\n"
        "-- trailing comment\n"
    )})
    up(fresh_dsn, discover(tmp_path))
    assert query(fresh_dsn, "SELECT g()") == [(42,)]


def test_up_applies_in_numeric_order_and_records_the_ledger(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path, {
        "0010_add_column.sql": "ALTER TABLE metrics ADD COLUMN note text;",
        "0002_metrics_read_model.sql": "CREATE TABLE metrics (id int);\nINSERT INTO metrics VALUES (1);",
    })
    files = discover(tmp_path)
    lines: list[str] = []
    applied = up(fresh_dsn, files, echo=lines.append)
    assert [a.name for a in applied] == ["0002_metrics_read_model.sql", "0010_add_column.sql"]
    assert lines[0].startswith("applying 0002_metrics_read_model.sql ... ok (")
    rows = query(fresh_dsn, "SELECT version, name, checksum, execution_ms, success, applied_at"
                            " FROM schema_migrations ORDER BY applied_at")
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [
        (f.name, f.description, f.checksum, True) for f in files
    ]
    assert all(r[3] is not None and r[3] >= 0 and r[5] is not None for r in rows)
    assert up(fresh_dsn, files) == []
    assert [e.state for e in status(fresh_dsn, files)] == ["applied", "applied"]


def test_through_stops_after_the_named_file(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path, {f"000{i}_t{i}.sql": f"CREATE TABLE t{i} (id int);" for i in (1, 2, 3)})
    files = discover(tmp_path)
    assert [f.name for f in plan(fresh_dsn, files, through="0002_t2.sql")] == [
        "0001_t1.sql", "0002_t2.sql"
    ]
    assert [a.name for a in up(fresh_dsn, files, through="0002_t2.sql")] == [
        "0001_t1.sql", "0002_t2.sql"
    ]
    assert tables(fresh_dsn) == {"schema_migrations", "t1", "t2"}
    with pytest.raises(MigrationError, match=r"0009_nope\.sql"):
        up(fresh_dsn, files, through="0009_nope.sql")


def test_plan_and_status_are_read_only(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path, {"0001_a.sql": "CREATE TABLE a (id int);"})
    files = discover(tmp_path)
    assert [f.name for f in plan(fresh_dsn, files)] == ["0001_a.sql"]
    assert [(e.name, e.state, e.applied_at) for e in status(fresh_dsn, files)] == [
        ("0001_a.sql", "pending", None)
    ]
    assert tables(fresh_dsn) == set()


def test_checksum_drift_is_refused(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path, {"0001_a.sql": "CREATE TABLE a (id int);"})
    up(fresh_dsn, discover(tmp_path))
    write(tmp_path, {"0001_a.sql": "CREATE TABLE a (id bigint);", "0002_b.sql": "SELECT 1;"})
    files = discover(tmp_path)
    assert [e.state for e in status(fresh_dsn, files)] == ["drifted", "pending"]
    with pytest.raises(MigrationError, match=r"checksum drift: 0001_a\.sql changed"):
        up(fresh_dsn, files)
    assert ledger(fresh_dsn) == ["0001_a.sql"]


def test_duplicate_version_numbers_are_refused(tmp_path: Path) -> None:
    write(tmp_path, {"0003_a.sql": "SELECT 1;", "3_b.sql": "SELECT 1;", "0004_c.sql": "SELECT 1;"})
    with pytest.raises(MigrationError, match=r"versions shared by several files \(0003 in "
                       r"0003_a\.sql, 3_b\.sql\), so the order is ambiguous"):
        discover(tmp_path)


def test_out_of_order_is_refused_unless_allowed(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path, {"0001_a.sql": "CREATE TABLE a ();", "0003_c.sql": "CREATE TABLE c ();"})
    up(fresh_dsn, discover(tmp_path))
    write(tmp_path, {"0002_b.sql": "CREATE TABLE b ();"})
    files = discover(tmp_path)
    with pytest.raises(MigrationError, match=r"0002_b\.sql pending but 0003_c\.sql .*out of order"):
        up(fresh_dsn, files)
    assert "b" not in tables(fresh_dsn)
    assert [a.name for a in up(fresh_dsn, files, allow_out_of_order=True)] == ["0002_b.sql"]


def test_missing_file_is_reported_and_refused(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path, {"0001_a.sql": "SELECT 1;", "0002_b.sql": "SELECT 1;"})
    up(fresh_dsn, discover(tmp_path))
    (tmp_path / "0001_a.sql").unlink()
    write(tmp_path, {"0003_c.sql": "CREATE TABLE c ();"})
    files = discover(tmp_path)
    assert [(e.name, e.state) for e in status(fresh_dsn, files)] == [
        ("0001_a.sql", "missing"), ("0002_b.sql", "applied"), ("0003_c.sql", "pending")
    ]
    with pytest.raises(MigrationError, match=r"0001_a\.sql .*missing"):
        up(fresh_dsn, files)
    assert "c" not in tables(fresh_dsn)


def test_failing_file_applies_nothing_and_names_the_line(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path, {
        "0001_ok.sql": "CREATE TABLE ok (id int);",
        "0002_broken.sql": (
            "CREATE TABLE first (id int);\n"
            "CREATE TABLE second (id int);\n"
            "INSERT INTO nope VALUES (1);\n"
        ),
    })
    with pytest.raises(MigrationError) as caught:
        up(fresh_dsn, discover(tmp_path))
    assert str(caught.value) == (
        '0002_broken.sql:3: relation "nope" does not exist (SQLSTATE 42P01); '
        "nothing from this file was applied, ledger unchanged"
    )
    assert tables(fresh_dsn) == {"schema_migrations", "ok"}
    assert ledger(fresh_dsn) == ["0001_ok.sql"]


def test_error_line_points_inside_a_multi_line_statement(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path, {"0001_multi.sql": (
        "-- comment\n"
        "CREATE TABLE t (id int);\n"
        "INSERT INTO t\n"
        "  SELECT id\n"
        "  FROM missing_table;\n"
    )})
    with pytest.raises(MigrationError, match=r"^0001_multi\.sql:5: relation \"missing_table\""):
        up(fresh_dsn, discover(tmp_path))


def test_transaction_control_in_a_transactional_file_is_refused(
    fresh_dsn: str, tmp_path: Path
) -> None:
    write(tmp_path, {"0001_wrapped.sql": "BEGIN;\nCREATE TABLE t ();\nCOMMIT;\n"})
    with pytest.raises(MigrationError, match=r"0001_wrapped\.sql:1: BEGIN is not allowed"):
        up(fresh_dsn, discover(tmp_path))
    assert ledger(fresh_dsn) == []


def test_no_transaction_file_runs_create_index_concurrently(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path, {
        "0001_table.sql": "CREATE TABLE t (id int);",
        "0002_index.sql": (
            "-- deploy-gates: no-transaction\n"
            "CREATE INDEX CONCURRENTLY t_id ON t (id);\n"
        ),
    })
    up(fresh_dsn, discover(tmp_path))
    assert query(fresh_dsn, "SELECT indexname FROM pg_indexes WHERE tablename = 't'") == [("t_id",)]
    assert query(fresh_dsn, "SELECT success, execution_ms IS NOT NULL FROM schema_migrations"
                            " WHERE version = '0002_index.sql'") == [(True, True)]


def test_failed_no_transaction_file_blocks_later_runs(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path, {"0001_partial.sql": (
        "-- deploy-gates: no-transaction\n"
        "CREATE TABLE t (id int);\n"
        "CREATE INDEX CONCURRENTLY t_id ON nope (id);\n"
    )})
    files = discover(tmp_path)
    with pytest.raises(MigrationError, match=r"0001_partial\.sql:3: .*1 statement\(s\) before"):
        up(fresh_dsn, files)
    assert query(fresh_dsn, "SELECT success FROM schema_migrations") == [(False,)]
    assert [e.state for e in status(fresh_dsn, files)] == ["failed"]
    with pytest.raises(MigrationError, match=r"0001_partial\.sql failed .*delete that ledger row"):
        up(fresh_dsn, files)


def test_ledger_shape_is_checked(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path, {"0001_a.sql": "SELECT 1;", "0002_b.sql": "SELECT 1;"})
    files = discover(tmp_path)
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE app_migrations (version text PRIMARY KEY,"
                     " applied_at timestamptz NOT NULL DEFAULT now())")
        conn.execute("INSERT INTO app_migrations (version) VALUES ('0001_a.sql')")
        conn.execute("CREATE TABLE broken_ledger (version text)")
    entries = status(fresh_dsn, files, ledger=Ledger(table="app_migrations"))
    assert [(e.name, e.state) for e in entries] == [("0001_a.sql", "applied"), ("0002_b.sql", "pending")]
    with pytest.raises(MigrationError, match=r"app_migrations .*name, checksum, execution_ms, "
                       r"success.*migrations\.ledger\.format: plain"):
        up(fresh_dsn, files, ledger=Ledger(table="app_migrations"))
    assert [e.state for e in status(fresh_dsn, files, ledger=Ledger(table="broken_ledger"))] == [
        "pending", "pending"]
    with pytest.raises(MigrationError, match=r"broken_ledger .*lacks column\(s\) filename"):
        status(fresh_dsn, files, ledger=Ledger(table="broken_ledger", version_column="filename"))


def test_concurrent_runners_apply_each_file_once(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path, {
        "0001_hits.sql": "CREATE TABLE hits (name text);",
        "0002_b.sql": "INSERT INTO hits VALUES ('b');\nSELECT pg_sleep(0.5);",
        "0003_c.sql": "INSERT INTO hits VALUES ('c');",
    })
    files = discover(tmp_path)
    start = threading.Barrier(2)
    results: list[list[str]] = []
    progress: list[str] = []

    def runner() -> None:
        start.wait()
        results.append([a.name for a in up(fresh_dsn, files, echo=progress.append)])

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [[], ["0001_hits.sql", "0002_b.sql", "0003_c.sql"]]
    assert sorted(query(fresh_dsn, "SELECT name FROM hits")) == [("b",), ("c",)]
    assert sum(line.startswith("waiting for migration lock") for line in progress) == 1


def test_lock_wait_times_out_with_a_clear_message(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path, {"0001_a.sql": "CREATE TABLE a ();"})
    lines: list[str] = []
    with psycopg.connect(fresh_dsn, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_key("public.schema_migrations"),))
        pid = holder.info.backend_pid
        with pytest.raises(MigrationError, match=rf"still held by pid {pid} after 0.5 s"):
            up(fresh_dsn, discover(tmp_path), lock_timeout_s=0.5, echo=lines.append)
    assert lines == [f"waiting for migration lock (held by pid {pid}) ..."]
    assert tables(fresh_dsn) == set()


def test_killed_lock_holder_leaves_no_stale_lock(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path, {"0001_a.sql": "CREATE TABLE a ();"})
    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys, time, psycopg\n"
            "from deploy_gates.migrate import migration_lock\n"
            "conn = psycopg.connect(sys.argv[1], autocommit=True, connect_timeout=5)\n"
            "with migration_lock(conn, 'public.schema_migrations', timeout_s=5):\n"
            "    print('locked', flush=True)\n"
            "    time.sleep(60)\n"
        ), fresh_dsn],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(MigrationError, match="still held"):
            up(fresh_dsn, discover(tmp_path), lock_timeout_s=0.2)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    assert [a.name for a in up(fresh_dsn, discover(tmp_path), lock_timeout_s=10)] == ["0001_a.sql"]
    with psycopg.connect(fresh_dsn, autocommit=True) as conn, migration_lock(
        conn, "public.schema_migrations", timeout_s=1
    ):
        pass


def test_log_file_records_the_run(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path / "m", {"0001_a.sql": "CREATE TABLE a ();", "0002_b.sql": "SELECT * FROM nope;"})
    log = MigrationLog.create(tmp_path / "reports" / "nested", "migrate")
    assert log.path.parent == tmp_path / "reports" / "nested"
    assert log.path.name.startswith("migrate-") and log.path.name.endswith("Z.log")
    with pytest.raises(MigrationError):
        up(fresh_dsn, discover(tmp_path / "m"), log=log)
    lines = log.path.read_text().splitlines()
    assert "run start: up on " in lines[0] and str(tmp_path / "m") in lines[0]
    assert any("applying 0001_a.sql ... ok (" in line for line in lines)
    assert any('failed: 0002_b.sql:1: relation "nope" does not exist' in line for line in lines)
    assert lines[-1].endswith("run end: failed after 1 applied")
    assert all(line[:4].isdigit() and line[23] == "Z" for line in lines)


def test_concurrent_migrate_runs_each_write_their_own_log(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path / "m", {"0001_a.sql": "CREATE TABLE a ();\nSELECT pg_sleep(0.2);"})
    command = [sys.executable, "-m", "deploy_gates", "migrate", "--dsn-env", "MIGRATE_TEST_DSN", "--dir",
               str(tmp_path / "m"), "--report-dir", str(tmp_path / "logs"), "up"]
    runs = [subprocess.Popen(command, cwd=REPO, env={**os.environ, "MIGRATE_TEST_DSN": fresh_dsn},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(3)]
    outputs = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    logs = list((tmp_path / "logs").glob("migrate-*.log"))
    assert len(logs) == 3, [p.name for p in logs]
    assert [p.read_text().count("run start: up on ") for p in logs] == [1, 1, 1]
    assert sorted(p.read_text().count("applying 0001_a.sql ... ok") for p in logs) == [0, 0, 1]
    printed = {out.split("log: ", 1)[1].splitlines()[0] for out, _ in outputs}
    assert printed == {str(p) for p in logs}


def test_logs_created_in_the_same_second_are_distinct(tmp_path: Path) -> None:
    paths = [MigrationLog.create(tmp_path, "migrate").path for _ in range(3)]
    assert len(set(paths)) == 3
    assert all(p.name.startswith("migrate-") and p.suffix == ".log" for p in paths)


def test_cli_status_plan_up(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path / "m", {"0001_a.sql": "CREATE TABLE a ();", "0002_b.sql": "CREATE TABLE b ();"})
    common = ["--dsn-env", "MIGRATE_TEST_DSN", "--dir", str(tmp_path / "m"),
              "--report-dir", str(tmp_path / "reports")]
    env = {"MIGRATE_TEST_DSN": fresh_dsn}
    planned = run_cli(*common, "plan", env=env)
    assert (planned.returncode, planned.stdout) == (0, "0001_a.sql\n0002_b.sql\n")
    applied = run_cli(*common, "up", "--through", "0001_a.sql", env=env)
    assert applied.returncode == 0, applied.stderr
    assert "applying 0001_a.sql ... ok (" in applied.stdout
    assert len(list((tmp_path / "reports").glob("migrate-*.log"))) == 1
    shown = run_cli(*common, "status", env=env)
    assert shown.returncode == 0
    assert shown.stdout.splitlines()[0].split() == ["file", "state", "applied_at", "ms"]
    assert shown.stdout.splitlines()[1].split()[:2] == ["0001_a.sql", "applied"]
    assert shown.stdout.splitlines()[2].split() == ["0002_b.sql", "pending", "-", "-"]
    assert run_cli(*common, "up", env=env).returncode == 0
    assert run_cli(*common, "plan", env=env).stdout == "nothing pending\n"
    (tmp_path / "m" / "0001_a.sql").write_text("CREATE TABLE a (id int);")
    refused = run_cli(*common, "up", env=env)
    assert refused.returncode == 1
    assert refused.stderr.startswith("deploy-gates migrate: checksum drift: 0001_a.sql")
    assert len(refused.stderr.splitlines()) == 1


def test_cli_status_exits_non_zero_on_drift(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path / "m", {"0001_a.sql": "CREATE TABLE a ();", "0002_b.sql": "SELECT 1;"})
    common = ["--dsn-env", "MIGRATE_TEST_DSN", "--dir", str(tmp_path / "m"),
              "--report-dir", str(tmp_path / "reports")]
    env = {"MIGRATE_TEST_DSN": fresh_dsn}
    assert run_cli(*common, "up", "--through", "0001_a.sql", env=env).returncode == 0
    assert run_cli(*common, "status", env=env).returncode == 0  # pending is no error
    (tmp_path / "m" / "0001_a.sql").write_text("CREATE TABLE a (id int);")
    shown = run_cli(*common, "status", env=env)
    assert shown.returncode == 1
    assert shown.stdout.splitlines()[1].split()[:2] == ["0001_a.sql", "drifted"]
    assert shown.stderr == (
        "deploy-gates migrate: checksum drift: 0001_a.sql changed since it was applied; restore the applied "
        "content and put changes in a new migration\n")


def test_cli_errors_are_one_line_and_hide_the_password(tmp_path: Path) -> None:
    write(tmp_path, {"0001_a.sql": "SELECT 1;"})
    dsn = "host=127.0.0.1 port=1 user=app password=s3cr3t-XYZ dbname=app"
    result = run_cli("--dsn", dsn, "--dir", str(tmp_path), "status")
    assert result.returncode == 1
    assert "s3cr3t-XYZ" not in result.stdout + result.stderr
    assert result.stderr.startswith("deploy-gates migrate: ") and "password=***" in result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    unset = run_cli("--dsn-env", "MIGRATE_UNSET_VAR", "--dir", str(tmp_path), "status",
                    env={"MIGRATE_UNSET_VAR": ""})
    assert (unset.returncode, unset.stderr) == (
        1, "deploy-gates migrate: environment variable MIGRATE_UNSET_VAR (from --dsn-env) is not set\n"
    )
    assert run_cli("--dir", str(tmp_path), "status").returncode == 2
