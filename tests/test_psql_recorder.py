"""The psql executor's Recorder: a ledger's reads run at once, whatever their first word; its
writes (a data-modifying WITH among them) are kept for psql to run in the script's transaction."""

from __future__ import annotations

import psycopg
import pytest

from deploy_gates.migrate.psql import Recorder
from tests.dbtools import query

READS = {
    "SELECT 1 AS n": [(1,)],
    "  select 1 AS n": [(1,)],
    "WITH t AS (SELECT 1 AS n) SELECT n FROM t": [(1,)],
    "(SELECT 1 AS n)": [(1,)],
    "VALUES (1)": [(1,)],
    "TABLE ledger": [("a",)],
    "SHOW standard_conforming_strings": [("on",)],
    "-- the newest\nSELECT max(v) FROM ledger": [("a",)],
}
WRITES = [
    "INSERT INTO ledger VALUES ('b')",
    "WITH gone AS (DELETE FROM ledger RETURNING v) SELECT count(*) FROM gone",
    "WITH t AS (SELECT 1) INSERT INTO ledger SELECT 'c' FROM t",
    "SELECT 'x' INTO copied FROM ledger",
    "SELECT v FROM ledger FOR UPDATE",
    "CREATE TABLE other (v text)",
]


@pytest.fixture
def conn(fresh_dsn: str) -> psycopg.Connection:
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE ledger (v text)")
        conn.execute("INSERT INTO ledger VALUES ('a')")
        yield conn


@pytest.mark.parametrize("text", READS)
def test_a_ledger_read_runs_at_once(conn: psycopg.Connection, text: str) -> None:
    recorder = Recorder(conn)
    cursor = recorder.execute(text)
    assert cursor is not None, f"{text!r} was recorded, not run"
    assert cursor.fetchall() == READS[text]
    assert recorder.statements == []


@pytest.mark.parametrize("text", WRITES)
def test_a_ledger_write_is_recorded_not_run(
    conn: psycopg.Connection, fresh_dsn: str, text: str
) -> None:
    recorder = Recorder(conn)
    assert recorder.execute(text) is None
    assert recorder.statements == [text]
    assert query(fresh_dsn, "SELECT v FROM ledger") == [("a",)]
    assert query(fresh_dsn, "SELECT to_regclass('copied'), to_regclass('other')") == [(None, None)]
