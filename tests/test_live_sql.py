"""SQL on live targets: spec SQL is one read-only query, checked before anything is sent; live
sessions stay read-only whatever a statement commits, give up on locks quickly, and never block a
concurrent reader; a smoke flow's cleanup runs whatever a SQL step raised."""

from __future__ import annotations

import json
import re
import time
from fnmatch import fnmatchcase
from pathlib import Path

import psycopg
import pytest

from deploy_gates.fixtures.ephemeral import Server
from deploy_gates.fixtures.targets import Target, connect
from deploy_gates.migrate import discover, up
from deploy_gates.redact import Redactor
from deploy_gates.spec.runbook import LiveTarget, load_runbook
from deploy_gates.spec.sections import Flow, Request, SqlStep
from deploy_gates.spec.yamlsource import SpecError
from deploy_gates.verify.database import TargetUnavailable, reach
from deploy_gates.verify.flows import FlowRun
from deploy_gates.verify.http import Http
from deploy_gates.verify.readonly_sql import ALLOWED_FUNCTIONS, refusal
from tests.examplecopy import TASCADE_KEY, copy_example, tascade_serving
from tests.gaterun import ROOT
from tests.livewatch import counters, database_name, recording_server, watch, writes

SETUP = """
CREATE TABLE canary (id integer PRIMARY KEY, note text);
INSERT INTO canary SELECT g, 'row ' || g FROM generate_series(1, 5) g;
CREATE TABLE schema_migrations (version text PRIMARY KEY);
INSERT INTO schema_migrations VALUES ('0001_init.sql'), ('0002_more.sql');
CREATE SEQUENCE canary_seq;
CREATE FUNCTION purge_canary() RETURNS integer LANGUAGE sql AS 'DELETE FROM canary RETURNING 1';
CREATE PROCEDURE canary_purge() LANGUAGE sql AS 'DELETE FROM canary';
"""

SPEC = """\
system: demo
release: "1"
targets:
  live: {{kind: live, dsn_env: DEMO_LIVE_DSN, base_url: "{base_url}", statement_timeout_ms: 2000}}
smoke:
  canary:
    destructive: false
    steps:
      - {{get: /ping}}
      - sql: {sql}
        expect: {{n: 1}}
    finally:
      - {{delete: /cleanup}}
"""

HOSTILE = {
    "commit then delete": "SELECT 1 AS n; COMMIT; DELETE FROM canary",
    "commit then empty the ledger": "SELECT 1 AS n; COMMIT; DELETE FROM schema_migrations",
    "rollback then insert": "SELECT 1 AS n; ROLLBACK; INSERT INTO canary VALUES (100, 'x')",
    "session read write": "SELECT 1 AS n; COMMIT; SET SESSION CHARACTERISTICS AS TRANSACTION "
                          "READ WRITE; UPDATE canary SET note = 'rw'",
    "read only off": "SET default_transaction_read_only = off; SELECT 1 AS n",
    "begin read write": "BEGIN READ WRITE; DELETE FROM canary; COMMIT",
    "set_config": "SELECT set_config('default_transaction_read_only', 'off', false) IS NOT NULL AS n",
    "set_config in where": "SELECT 1 AS n WHERE set_config('lock_timeout', '0', false) <> ''",
    "reset all": "RESET ALL",
    "delete cte": "WITH d AS (DELETE FROM canary RETURNING 1) SELECT count(*) AS n FROM d",
    "update cte": "WITH u AS (UPDATE canary SET note = 'x' RETURNING 1) SELECT 1 AS n",
    "insert cte": "WITH i AS (INSERT INTO canary VALUES (101, 'x') RETURNING 1) SELECT 1 AS n",
    "nested delete cte": "WITH a AS (SELECT 1), b AS (WITH d AS (DELETE FROM canary RETURNING 1) "
                         "SELECT * FROM d) SELECT 1 AS n",
    "for update": "SELECT 1 AS n FROM canary FOR UPDATE",
    "for share in a subquery": "SELECT count(*) AS n FROM (SELECT id FROM canary FOR SHARE) s",
    "for key share in exists": "SELECT EXISTS (SELECT 1 FROM canary FOR KEY SHARE) AS n",
    "for update skip locked": "SELECT id AS n FROM canary LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED",
    "lock table": "LOCK TABLE canary IN ACCESS EXCLUSIVE MODE",
    "lock then sleep": "LOCK TABLE canary IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(4) IS NOT NULL AS n",
    "advisory lock": "SELECT pg_advisory_lock(42) IS NOT NULL AS n",
    "advisory xact lock": "SELECT pg_advisory_xact_lock(42) IS NOT NULL AS n",
    "try advisory lock": "SELECT pg_try_advisory_lock(42)::int AS n",
    "advisory lock in from": "SELECT 1 AS n FROM pg_catalog.pg_advisory_lock_shared(7) a",
    "advisory lock, quoted": 'SELECT "pg_advisory_lock"(43) IS NOT NULL AS n',
    "advisory lock per row": "SELECT 1 AS n FROM canary, LATERAL pg_advisory_lock(canary.id) a LIMIT 1",
    "dblink": "SELECT 1 AS n FROM dblink('dbname=postgres', 'DELETE FROM canary') AS t(r text)",
    "dblink_exec": "SELECT dblink_exec('dbname=postgres', 'DELETE FROM canary') AS n",
    "copy to program": "COPY (SELECT 1) TO PROGRAM 'true'",
    "copy from": "COPY canary FROM STDIN",
    "do block": "DO $$ BEGIN DELETE FROM canary; END $$",
    "call": "CALL canary_purge()",
    "user function": "SELECT purge_canary() AS n",
    "schema-qualified user function": "SELECT public.purge_canary() AS n",
    "terminate backends": "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid <> pg_backend_pid()",
    "cancel backends": "SELECT count(pg_cancel_backend(pid)) AS n FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()",
    "reload conf": "SELECT pg_reload_conf()::int AS n",
    "lo_import": "SELECT lo_import('/dev/null') AS n",
    "lo_unlink": "SELECT lo_unlink(1) AS n",
    "nextval": "SELECT nextval('canary_seq') AS n",
    "setval": "SELECT setval('canary_seq', 1) AS n",
    "nextval in values": "VALUES (nextval('canary_seq'))",
    "sleep past the statement timeout": "SELECT pg_sleep(3) IS NOT NULL AS n",
    "sleep_for": "SELECT pg_sleep_for('3 seconds') IS NOT NULL AS n",
    "notify": "SELECT pg_notify('c', 'x') IS NOT NULL AS n",
    "read a server file": "SELECT length(pg_read_file('/etc/hostname')) AS n",
    "txid_current": "SELECT (txid_current() > 0)::int AS n",
    "temp table": "CREATE TEMP TABLE t AS SELECT 1 AS n",
    "select into": "SELECT 1 AS n INTO TEMP t",
    "prepare and execute": "PREPARE p AS DELETE FROM canary; EXECUTE p",
    "explain analyze delete": "EXPLAIN ANALYZE DELETE FROM canary",
    "truncate": "TRUNCATE canary",
    "merge": "MERGE INTO canary c USING (SELECT 1 AS id) s ON c.id = s.id WHEN MATCHED THEN DELETE",
    "vacuum": "VACUUM canary",
    "comment between": "SELECT 1 AS n; /* harmless? */ DELETE FROM canary",
    "with parameters": "SELECT %(n)s AS n; DELETE FROM canary",
}


ACCEPTED = [
    "SELECT refund_retry_count, refund_last_attempt_at FROM router.jobs WHERE job_id = %(job_id)s",
    "SELECT count(*) AS n FROM users WHERE email = %(email)s AND note LIKE 'a%%'",
    "VALUES (1)",
    "TABLE canary",
    "WITH recent AS MATERIALIZED (SELECT * FROM canary WHERE id > 2) SELECT count(*) AS n FROM recent",
    "SELECT n FROM (SELECT 1 AS n UNION ALL SELECT 2) s ORDER BY n LIMIT 1",
    "SELECT extract(epoch FROM now() - max(created_at)) AS age_s, coalesce(sum(x), 0) AS total,"
    " now() AT TIME ZONE 'utc' AS utc, current_date, trim(' a ') AS t, substring('abc' FROM 2) AS s,"
    " greatest(1, 2) AS g, nullif(1, 1) AS z, 'a' SIMILAR TO 'b' AS similar FROM t",
    "SELECT count(*) FILTER (WHERE ok) AS n, row_number() OVER (ORDER BY id) FROM t",
    "SELECT jsonb_path_exists(d, '$.a') AND d ->> 'k' = 'v' AS ok FROM t",
    "SELECT pg_catalog.count(*) AS n FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.id = t.id)",
    "SELECT to_regclass('public.canary') IS NOT NULL AS present",
]


@pytest.mark.parametrize("sql", ACCEPTED)
def test_read_only_queries_are_accepted(sql: str) -> None:
    assert refusal(sql) is None


def test_the_docs_list_the_functions_spec_sql_may_call() -> None:
    text = (ROOT / "docs" / "gates-running.md").read_text()
    listed = text.split("The functions spec SQL may call:")[1].split("**Every")[0]
    assert set(re.findall(r"`(\w+)`", listed)) == ALLOWED_FUNCTIONS


@pytest.fixture
def live_dsn(pg_server: Server) -> str:
    dsn = pg_server.create_database("live")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SETUP)
    return dsn


def live_target(**settings: int) -> Target:
    return Target("live", LiveTarget(kind="live", dsn_env="DEMO_LIVE_DSN", **settings))


def rows(dsn: str) -> tuple[int, int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return (conn.execute("SELECT count(*) FROM canary").fetchone()[0],
                conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0])


def write_spec(folder: Path, sql: str, base_url: str = "http://127.0.0.1:9") -> Path:
    path = folder / "runbook.yaml"
    path.write_text(SPEC.format(base_url=base_url, sql=json.dumps(sql)))
    return path


def smoke(pytester: pytest.Pytester, *, timeout: float = 60) -> tuple[pytest.RunResult, float]:
    """Run the smoke gates on the live target, as users do; the result and how long it took."""
    start = time.monotonic()
    result = pytester.runpytest_subprocess(
        "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
        str(ROOT / "verify" / "test_smoke.py"), f"--runbook={pytester.path / 'runbook.yaml'}",
        f"--report-dir={pytester.path / 'out'}", "--target=live", "-rA", timeout=timeout,
    )
    return result, time.monotonic() - start


@pytest.mark.parametrize("sql", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_spec_sql_is_refused_when_the_spec_loads(tmp_path: Path, sql: str) -> None:
    spec = write_spec(tmp_path, sql)
    with pytest.raises(SpecError) as refused:
        load_runbook(spec)
    message = str(refused.value)
    assert fnmatchcase(message, f"{spec}:10: smoke.canary.steps.1.sql: *"), message
    assert "\n" not in message


def test_hostile_sql_never_reaches_a_live_target(pg_server: Server, live_dsn: str) -> None:
    """Past the spec check (a flow built in code), each hostile step is refused before the flow
    sends anything: the database counts no session, no transaction and no row written, no one
    takes a lock on it, and the HTTP server receives no request, cleanup included."""
    target = live_target(statement_timeout_ms=1000, lock_timeout_ms=200)
    dbname = database_name(live_dsn)
    before = counters(pg_server, dbname)
    outcomes = {}
    with recording_server() as (base_url, requests), watch(pg_server, live_dsn, ["canary"]) as seen:
        for name, sql in HOSTILE.items():
            flow = Flow.model_construct(
                steps=[Request.model_validate({"get": "/ping"}),
                       SqlStep.model_construct(sql=sql, expect={"n": 1}, within=0.0, every=1.0)],
                finally_=[Request.model_validate({"delete": "/cleanup"})], destructive=False)
            run = FlowRun(Http(base_url), connect=lambda _key: connect(live_dsn, target),
                          redactor=Redactor())
            outcomes[name] = run.run(flow)
    after = counters(pg_server, dbname)
    assert {n: p for n, p in outcomes.items()
            if len(p) != 1 or not p[0].startswith("step 2 (sql): refused, nothing sent: ")} == {}
    assert requests == []
    assert seen.blocked == [] and seen.reads > 0
    assert seen.strongest_problems() == []
    assert writes(before, after) == {"tup_inserted": 0, "tup_updated": 0, "tup_deleted": 0}
    assert after["sessions"] - before["sessions"] == 1  # the watch's reader, nothing else
    assert rows(live_dsn) == (5, 2)


@pytest.mark.parametrize("table", ["canary", "schema_migrations"])
def test_commit_in_spec_sql_cannot_delete_on_a_live_target(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, pg_server: Server,
    live_dsn: str, table: str,
) -> None:
    monkeypatch.setenv("DEMO_LIVE_DSN", live_dsn)
    dbname = database_name(live_dsn)
    before = counters(pg_server, dbname)
    with recording_server() as (base_url, requests):
        write_spec(pytester.path, f"SELECT 1 AS n; COMMIT; DELETE FROM {table}", base_url)
        result, _ = smoke(pytester)
    after = counters(pg_server, dbname)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-3000:]
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1 and fnmatchcase(
        errors[0], "ERROR: */runbook.yaml:10: smoke.canary.steps.1.sql: *3 statements (SELECT, "
        "COMMIT, DELETE)*"), errors
    assert requests == []
    assert after == before  # not even a session was opened
    assert rows(live_dsn) == (5, 2)


def test_live_session_stays_read_only_whatever_a_statement_commits(
    pg_server: Server, live_dsn: str
) -> None:
    """What a custom gate's ``db`` gets: a COMMIT or ROLLBACK inside the SQL ends the read-only
    transaction, and the next statement still may not write."""
    dbname = database_name(live_dsn)
    before = counters(pg_server, dbname)
    escapes = [
        "SELECT 1; COMMIT; DELETE FROM canary",
        "SELECT 1; ROLLBACK; INSERT INTO canary VALUES (100, 'x')",
        "COMMIT; UPDATE canary SET note = 'x'",
        "END; DELETE FROM schema_migrations",
        "COMMIT; CREATE TEMP TABLE t (i int)",
        "COMMIT; SELECT nextval('canary_seq')",
        "ABORT; CALL canary_purge()",
    ]
    refused = []
    for sql in escapes:
        with connect(live_dsn, live_target()) as conn:
            try:
                conn.execute(sql)
            except psycopg.errors.ReadOnlySqlTransaction as exc:
                refused.append(exc.diag.message_primary)
    assert len(refused) == len(escapes), refused
    with connect(live_dsn, live_target(lock_timeout_ms=250)) as conn:
        settings = conn.execute(
            "SELECT current_setting('default_transaction_read_only'),"
            " current_setting('lock_timeout'), current_setting('statement_timeout')").fetchone()
    assert settings == ("on", "250ms", "5s")
    assert writes(before, counters(pg_server, dbname)) == {
        "tup_inserted": 0, "tup_updated": 0, "tup_deleted": 0}
    assert rows(live_dsn) == (5, 2)


def test_a_session_that_is_not_read_only_after_connecting_is_refused(pg_server: Server) -> None:
    """Something between the suite and the database (a pooler that drops the startup options;
    here a login trigger) leaves the session writable: the target is refused before any gate."""
    dsn = pg_server.create_database("writable")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION writable() RETURNS event_trigger LANGUAGE plpgsql AS"
            " $$ BEGIN PERFORM set_config('default_transaction_read_only', 'off', false); END $$;"
            " CREATE EVENT TRIGGER writable ON login EXECUTE FUNCTION writable()")
    with pytest.raises(TargetUnavailable) as refused:
        reach("live", dsn, live_target().spec)
    assert str(refused.value) == (
        "target live: refusing the database session: default_transaction_read_only is off after "
        "connecting, not on (a connection pooler that drops the startup parameter options does "
        "this)")
    reach("live", pg_server.create_database("plain"), live_target().spec)


CUSTOM_GATES = """
def test_commit_then_delete(db):
    db.execute("COMMIT; DELETE FROM canary")

def test_default_read_only(db):
    assert db.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
"""


def test_custom_gate_db_stays_read_only_after_a_commit(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, live_dsn: str
) -> None:
    monkeypatch.setenv("DEMO_LIVE_DSN", live_dsn)
    pytester.makefile(".yaml", runbook="system: demo\nrelease: '1'\ntargets:\n"
                      "  live: {kind: live, dsn_env: DEMO_LIVE_DSN}\n")
    pytester.makeini("[pytest]\nrunbook = runbook.yaml\nreport_dir = out\n")
    pytester.makepyfile(test_custom=CUSTOM_GATES)
    result = pytester.runpytest("--target=live", "-rA", str(pytester.path))
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*cannot execute DELETE in a read-only transaction*"])
    assert rows(live_dsn) == (5, 2)


def test_live_session_gives_up_on_a_lock_after_lock_timeout(live_dsn: str) -> None:
    with psycopg.connect(live_dsn) as holder:
        holder.execute("LOCK TABLE canary IN ACCESS EXCLUSIVE MODE")
        start = time.monotonic()
        with connect(live_dsn, live_target(lock_timeout_ms=300)) as conn, pytest.raises(
            psycopg.errors.LockNotAvailable
        ):
            conn.execute("SELECT count(*) FROM canary")
        waited = time.monotonic() - start
    assert 0.25 < waited < 2.0  # the lock timeout, not the 5 s statement timeout


@pytest.mark.parametrize("value", [0, -1, 10_001, "soon"])
def test_lock_timeout_must_be_short_and_finite(tmp_path: Path, value: object) -> None:
    spec = tmp_path / "runbook.yaml"
    spec.write_text("system: demo\nrelease: '1'\ntargets:\n  live:\n    kind: live\n"
                    f"    dsn_env: X\n    lock_timeout_ms: {value}\n")
    with pytest.raises(SpecError, match=rf"^{spec}:7: targets\.live\.lock_timeout_ms: "):
        load_runbook(spec)


def test_the_watch_sees_a_session_that_locks_and_the_reader_it_blocks(
    pg_server: Server, live_dsn: str
) -> None:
    """The watch itself: a client that holds ACCESS EXCLUSIVE on a table is seen, and so is the
    reader it blocks."""
    with watch(pg_server, live_dsn, ["canary"]) as seen, psycopg.connect(live_dsn) as locker:
        locker.execute("LOCK TABLE canary IN ACCESS EXCLUSIVE MODE")
        time.sleep(0.5)
        locker.rollback()
    assert ("relation", "AccessExclusiveLock") in seen.strongest_problems()
    assert seen.blocked and seen.blocked[0].startswith("canary: canceling statement due to lock")


def test_locking_spec_sql_never_blocks_a_concurrent_reader(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, pg_server: Server, live_dsn: str
) -> None:
    """The issue's step: ACCESS EXCLUSIVE on a live table for 4 s. A reader that gives up on a
    lock after 200 ms reads throughout the run, and nobody takes a lock on the database."""
    monkeypatch.setenv("DEMO_LIVE_DSN", live_dsn)
    sql = "LOCK TABLE canary IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(4) IS NOT NULL AS n"
    with recording_server() as (base_url, _), watch(pg_server, live_dsn, ["canary"]) as seen:
        write_spec(pytester.path, sql, base_url)
        result, _ = smoke(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-3000:]
    result.stderr.fnmatch_lines(["ERROR: *smoke.canary.steps.1.sql: *LOCK*"])
    assert seen.blocked == [], seen.blocked
    assert seen.reads > 0 and seen.slowest_read_s < 0.5
    assert seen.strongest_problems() == []


def test_postdeploy_pass_never_blocks_a_concurrent_reader_or_writes(
    pytester: pytest.Pytester, pg_server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A whole post-deploy pass on a live database (schema, ledger, health and the smoke flow's
    SQL step and seven requests, answered by the service on that database) while a second
    session reads every table in a loop with a 200 ms lock_timeout: the reader is never
    blocked, no session takes more than ACCESS SHARE, and no row is written."""
    release = copy_example("tascade", tmp_path / "tascade")
    dsn = pg_server.create_database("live")
    up(dsn, discover(release / "migrations"))
    tables = ["metrics_summary", "metrics_alert", "metrics_job_run", "schema_migrations"]
    monkeypatch.setenv("TASCADE_STAGING_DATABASE_URL", dsn)
    monkeypatch.setenv("TASCADE_API_KEY", TASCADE_KEY)
    dbname = database_name(dsn)
    with tascade_serving(release, dsn):  # the service adds its project before the count
        before = counters(pg_server, dbname)
        with watch(pg_server, dsn, tables) as seen:
            result = pytester.runpytest_subprocess(
                "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), str(ROOT / "verify"),
                f"--runbook={release / 'runbook.yaml'}", f"--report-dir={tmp_path / 'out'}",
                "--target=staging", timeout=300,
            )
        after = counters(pg_server, dbname)
    assert result.ret == 0, result.stdout.str()[-3000:]
    (summary,) = (tmp_path / "out").glob("*.json")
    gates = {g["name"]: g for g in json.loads(summary.read_text())["gates"]}
    assert gates["test_smoke[metrics_endpoints]"]["outcome"] == "passed"
    assert len(gates["test_smoke[metrics_endpoints]"]["evidence"]) == 8
    assert seen.blocked == [], seen.blocked
    assert seen.reads >= len(tables) and seen.slowest_read_s < 0.5
    assert seen.strongest_problems() == []
    assert writes(before, after) == {"tup_inserted": 0, "tup_updated": 0, "tup_deleted": 0}


def test_cleanup_runs_when_a_sql_step_raises_a_database_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, live_dsn: str
) -> None:
    monkeypatch.setenv("DEMO_LIVE_DSN", live_dsn)
    with recording_server() as (base_url, requests):
        write_spec(pytester.path, "SELECT n FROM no_such_table", base_url)
        result, _ = smoke(pytester)
    assert requests == [("GET", "/ping"), ("DELETE", "/cleanup")]
    (summary,) = (pytester.path / "out").glob("*.json")
    (gate,) = json.loads(summary.read_text())["gates"]
    assert (gate["outcome"], gate["message"]) == (
        "failed", 'step 2 (sql): relation "no_such_table" does not exist (SQLSTATE 42P01)')
    output = result.stdout.str()
    assert "Traceback" not in output and "psycopg" not in output, output[-3000:]
