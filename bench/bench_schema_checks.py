"""1,000 (or 10,000) column checks (type and nullability) on one database: deploy-gates' column
gates, against pgTAP tests run by pg_prove, pytest's own floor (as many trivial tests with the same
plugins and reports), and optionally one psql process per check; the sides run in turn."""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import (  # noqa: E402
    COLUMNS_PER_TABLE,
    DSN_ENV,
    TIMEOUT_S,
    Column,
    column_check,
    column_schema,
    columns,
    create_tables,
    interleaved,
    psql_clients,
    run_floor,
    run_live_suite,
)

from deploy_gates.fixtures.ephemeral import start_server  # noqa: E402
from deploy_gates.spec.runbook import Schema  # noqa: E402
from deploy_gates.verify.catalog import read_catalog  # noqa: E402
from deploy_gates.verify.expectations import expected_objects, normalize_type  # noqa: E402

MAJOR = 15
"""Debian's PostgreSQL, the one postgresql-15-pgtap installs the extension for."""
PG_PROVE_TIMEOUT_S = 300


def has_column(c: Column) -> list[str]:
    return [f"SELECT has_column('public', '{c.table}', '{c.name}', '{c.table}.{c.name}');"]


def col_type_is(c: Column) -> list[str]:
    return [f"SELECT col_type_is('public', '{c.table}', '{c.name}', '{normalize_type(c.type)}', "
            f"'{c.table}.{c.name} type');"]


def type_and_null(c: Column) -> list[str]:
    """What one column gate of the suite proves: the type, and NOT NULL or not."""
    null = "col_not_null" if c.not_null else "col_is_null"
    return [*col_type_is(c),
            f"SELECT {null}('public', '{c.table}', '{c.name}', '{c.table}.{c.name} null');"]


PGTAP = {"has_column": has_column, "col_type_is": col_type_is,
         "col_type_is + col_(not|is)_null": type_and_null}
"""The pgTAP test files, by the assertions each column gets."""


def pgtap_assertions(wanted: list[Column], assertions: Callable[[Column], list[str]]
                     ) -> list[str]:
    return [line for c in wanted for line in assertions(c)]


def pgtap_file(folder: Path, name: str, wanted: list[Column],
               assertions: Callable[[Column], list[str]]) -> Path:
    """A pgTAP test file: plan, the assertions of every column, finish; in a rolled-back
    transaction, as pgTAP tests are written."""
    lines = pgtap_assertions(wanted, assertions)
    path = folder / f"{name.replace(' ', '').replace('|', '_')}.sql"
    path.write_text("\n".join(["BEGIN;", f"SELECT plan({len(lines)});", *lines,
                               "SELECT * FROM finish();", "ROLLBACK;"]) + "\n")
    return path


def pg_prove(dsn: str, test: Path) -> None:
    """``pg_prove`` on one file; an error unless every assertion passed."""
    params = conninfo_to_dict(dsn)
    done = subprocess.run(
        ["pg_prove", "-h", params["host"], "-p", params["port"], "-U", params["user"],
         "-d", params["dbname"], str(test)],
        capture_output=True, text=True, timeout=PG_PROVE_TIMEOUT_S, check=False,
    )
    if done.returncode != 0 or "All tests successful" not in done.stdout:
        raise RuntimeError(f"pg_prove {test.name} exited {done.returncode}:\n"
                           f"{done.stdout[-2000:]}{done.stderr[-2000:]}")


def psql_loop(psql: str, dsn: str, wanted: list[Column]) -> None:
    """``psql -tAc`` per column; an error unless every check passed."""
    failed = [c for c in wanted if not column_check(psql, dsn, c)]
    if failed:
        raise RuntimeError(f"{len(failed)} psql checks failed, first {failed[0]}")


def checks_in_process(dsn: str, wanted: list[Column]) -> None:
    """What the column gates do, without pytest: one catalog snapshot, each column looked up in
    it; an error unless every column is there as expected."""
    expected = expected_objects(Schema.model_validate({"columns": column_schema(wanted)}))
    with psycopg.connect(dsn, autocommit=True, connect_timeout=TIMEOUT_S) as conn:
        catalog = read_catalog(conn)
    problems = [problem for e in expected if (problem := e.problem_if_missing(catalog))]
    if problems:
        raise RuntimeError(f"{len(problems)} column checks failed, first: {problems[0]}")


def spec(wanted: list[Column]) -> dict:
    """A runbook spec with a live target and one column gate per column."""
    return {
        "system": "bench", "release": "1",
        "targets": {"live": {"kind": "live", "dsn_env": DSN_ENV}},
        "schema": {"columns": column_schema(wanted)},
    }


def prepared_database(dsn: str, wanted: list[Column]) -> str:
    """The bench tables and the pgtap extension in ``dsn``'s database; pgTAP's version."""
    create_tables(dsn, wanted)
    with psycopg.connect(dsn, autocommit=True, connect_timeout=TIMEOUT_S) as conn:
        conn.execute("CREATE EXTENSION pgtap")
        return conn.execute("SELECT pgtap_version()").fetchone()[0]


def sides(dsn: str, wanted: list[Column], tests: dict[str, Path], clients: dict[str, str],
          peaks: dict[str, list[float]]) -> dict[str, Callable[[], object]]:
    """Each side, by name: the suite first, pytest's floor, pg_prove, in-process, psql."""
    def suite() -> None:
        done = run_live_suite(spec(wanted), dsn, len(wanted), "-m", "postdeploy",
                              "-k", "test_column")
        peaks.setdefault("suite", []).append(done.peak_mib)

    def floor() -> None:
        peaks.setdefault("pytest floor", []).append(run_floor(len(wanted)).peak_mib)

    return {
        "suite": suite,
        "pytest floor": floor,
        **{f"pg_prove {name}": partial(pg_prove, dsn, test) for name, test in tests.items()},
        "deploy-gates checks in-process": partial(checks_in_process, dsn, wanted),
        **{f"{client} per column": partial(psql_loop, psql, dsn, wanted)
           for client, psql in clients.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--columns", type=int, default=1000, help="a multiple of 20")
    parser.add_argument("--psql", action="store_true", help="also one psql process per column")
    args = parser.parse_args()
    if shutil.which("pg_prove") is None:
        raise SystemExit("pg_prove not found (Debian: apt-get install postgresql-15-pgtap)")
    wanted = columns(args.columns // COLUMNS_PER_TABLE)
    peaks: dict[str, list[float]] = {}
    server = start_server("local", major=MAJOR)
    try:
        dsn = server.create_database("checks")
        version = prepared_database(dsn, wanted)
        with tempfile.TemporaryDirectory() as folder:
            tests = {name: pgtap_file(Path(folder), name, wanted, make)
                     for name, make in PGTAP.items()}
            print(f"database: {len(wanted) // COLUMNS_PER_TABLE} tables x {COLUMNS_PER_TABLE} "
                  f"columns on local PostgreSQL {server.version()}, pgTAP {version}; pg_prove "
                  "files: " + ", ".join(f"{name} ({len(pgtap_assertions(wanted, make))} "
                                        "assertions)" for name, make in PGTAP.items()),
                  flush=True)
            clients = psql_clients() if args.psql else {}
            paired = interleaved(sides(dsn, wanted, tests, clients, peaks), args.runs)
    finally:
        server.stop()
    print(paired.report("suite"))
    print("peak memory: " + ", ".join(f"{name} {statistics.median(values):.0f} MiB"
                                      for name, values in peaks.items()))


if __name__ == "__main__":
    main()
