"""A target whose database cannot be reached, or whose release cannot be deployed: the cause is
said once, in one line naming the target, and every gate that needs it errors with that line: no
traceback per gate, no password, and no more time than a passing run."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from deploy_gates.fixtures.ephemeral import Server
from tests.dbtools import write
from tests.gaterun import ROOT

PASSWORD = "wrong-PW-27182"

SPEC = """\
system: demo
release: "1"
targets:
  staging: {{kind: live, dsn_env: DEMO_STAGING_DSN}}
  rehearsal: {{kind: ephemeral, provider: embedded}}
{migrations}
schema:
  tables: [{tables}]
"""

DB_GATES = """
import pytest

@pytest.mark.parametrize("n", range(5))
def test_reads_through_db(db, n):
    db.execute("SELECT 1")
"""


def project(pytester: pytest.Pytester, tables: int = 30, migrations: str = "") -> pytest.Pytester:
    names = ", ".join(f"t{i}" for i in range(tables))
    pytester.makefile(".yaml", runbook=SPEC.format(tables=names, migrations=migrations))
    pytester.makepyfile(test_custom=DB_GATES)
    return pytester


def run(
    pytester: pytest.Pytester, *args: str, target: str = "staging", timeout: float = 120
) -> tuple[pytest.RunResult, dict, float]:
    """Run the schema and ledger gates and the custom ``db`` gates; the result, the JSON summary
    and the run's duration."""
    start = time.monotonic()
    result = pytester.runpytest_subprocess(
        "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
        str(ROOT / "verify" / "test_schema.py"), str(ROOT / "verify" / "test_ledger.py"),
        str(pytester.path / "test_custom.py"), f"--runbook={pytester.path / 'runbook.yaml'}",
        f"--report-dir={pytester.path / 'out'}", f"--target={target}", "--db-provider=embedded",
        "-rA", *args, timeout=timeout,
    )
    took = time.monotonic() - start
    (path,) = (pytester.path / "out").glob("*.json")
    return result, json.loads(path.read_text()), took


def assert_one_cause(result: pytest.RunResult, summary: dict, cause: str) -> None:
    """Every gate that needs the target errored with ``cause``; the terminal says it once; no
    traceback anywhere."""
    gates = [g for g in summary["gates"] if g["outcome"] != "skipped"]
    assert gates and all(g["outcome"] == "error" for g in gates), gates[:2]
    messages = {g["message"] for g in gates}
    assert len(messages) == 1, messages
    (message,) = messages
    assert fnmatchcase(message, cause), message
    assert summary["verdict"] == "NO-GO" and result.ret == 1
    output = result.stdout.lines + result.stderr.lines
    said = [line for line in output if line.startswith("deploy-gates: target ")]
    assert said == [f"deploy-gates: {message} ({len(gates)} gates need it)"], said
    text = "\n".join(output)
    assert "Traceback" not in text and "psycopg" not in text, text[-3000:]
    assert len(output) < 5 * len(gates) + 60, len(output)


@pytest.fixture(scope="module")
def password_user(pg_server: Server) -> str:
    """A role of the test server that must give its password (scram-sha-256) to log in."""
    with pg_server.connect() as conn:
        conn.execute("DROP ROLE IF EXISTS gate_reader")
        conn.execute("CREATE ROLE gate_reader LOGIN PASSWORD 'right-pw-1'")
        hba = Path(conn.execute("SHOW hba_file").fetchone()[0])
        hba.write_text("local all gate_reader scram-sha-256\n" + hba.read_text())
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.2)
    return "gate_reader"


@pytest.mark.parametrize("processes", [("-p", "no:xdist"), ("-n", "2")], ids=["one", "xdist"])
def test_wrong_password_is_said_once_in_one_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, pg_server: Server,
    password_user: str, processes: tuple[str, str],
) -> None:
    dsn = make_conninfo(pg_server.dsn, user=password_user, password=PASSWORD)
    monkeypatch.setenv("DEMO_STAGING_DSN", dsn)
    result, summary, _ = run(project(pytester), *processes)
    assert_one_cause(result, summary, 'target staging: cannot connect to the database: password '
                     'authentication failed for user "gate_reader"*')
    outputs = [result.stdout.str(), result.stderr.str()]
    outputs += [p.read_text() for p in (pytester.path / "out").iterdir()]
    assert not any(PASSWORD in text for text in outputs)


@pytest.fixture
def silent_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """Accepts connections on 127.0.0.1 and never answers; the connections it accepted."""
    accepted: list[socket.socket] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.1)
        stop = threading.Event()

        def accept() -> None:
            while not stop.is_set():
                try:
                    accepted.append(server.accept()[0])
                except OSError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        yield server.getsockname()[1], accepted
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()


def test_server_that_never_answers_is_tried_once_and_bounded(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, silent_server
) -> None:
    port, accepted = silent_server
    monkeypatch.setenv("DEMO_STAGING_DSN", f"host=127.0.0.1 port={port} user=app "
                       f"password={PASSWORD} dbname=app connect_timeout=2")
    result, summary, took = run(project(pytester))
    assert_one_cause(result, summary, "target staging: cannot connect to the database: "
                     "no answer within 2 s (connect_timeout)")
    assert len(accepted) == 1  # one attempt for the run, not one per gate
    assert took < 20


@pytest.fixture
def mute_after_login() -> Iterator[int]:
    """A server on 127.0.0.1 that completes PostgreSQL's startup handshake (no SSL, no password)
    and then never answers a query."""
    held: list[socket.socket] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.1)
        stop = threading.Event()

        def handshake(conn: socket.socket) -> None:
            conn.settimeout(5)
            try:
                while True:
                    size = struct.unpack("!i", conn.recv(4))[0]
                    code = struct.unpack("!i", conn.recv(size - 4)[:4])[0]
                    if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest: no
                        conn.sendall(b"N")
                    else:
                        break
                params = b"".join(b"S" + struct.pack("!i", 4 + len(k) + len(v) + 2) + k + b"\0"
                                  + v + b"\0" for k, v in [(b"client_encoding", b"UTF8"),
                                                           (b"server_version", b"16.4")])
                conn.sendall(b"R" + struct.pack("!ii", 8, 0) + params + b"Z"
                             + struct.pack("!i", 5) + b"I")
            except (OSError, struct.error):
                pass
            held.append(conn)

        def accept() -> None:
            while not stop.is_set():
                try:
                    conn = server.accept()[0]
                except OSError:
                    continue
                threading.Thread(target=handshake, args=(conn,), daemon=True).start()

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        yield server.getsockname()[1]
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()


def test_server_that_logs_in_and_never_answers_a_query_is_bounded(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, mute_after_login: int
) -> None:
    with psycopg.connect(f"host=127.0.0.1 port={mute_after_login} user=app dbname=app",
                         connect_timeout=2):
        pass  # the fake server really logs a client in
    monkeypatch.setenv("DEMO_STAGING_DSN", f"host=127.0.0.1 port={mute_after_login} user=app "
                       "dbname=app connect_timeout=2")
    result, summary, took = run(project(pytester), timeout=40)
    assert_one_cause(result, summary, "target staging: cannot connect to the database: "
                     "no answer to the first query within 2 s")
    assert took < 20


@pytest.mark.parametrize(
    ("files", "cause"),
    [
        ({"0002_crypto.sql": "CREATE EXTENSION pgcrypto;\n"},
         "target rehearsal: cannot deploy the release: 0002_crypto.sql:1: extension \"pgcrypto\" "
         "is not available*"),
        ({"0002_a.sql": "SELECT 1;\n", "0002_b.sql": "SELECT 1;\n"},
         "target rehearsal: cannot deploy the release: migrations folder * (numbered layout): "
         "1 problem: versions shared by several files (0002 in 0002_a.sql, 0002_b.sql)*"),
    ],
    ids=["missing extension", "duplicate versions"],
)
def test_release_that_cannot_be_deployed_is_said_once(
    pytester: pytest.Pytester, files: dict[str, str], cause: str
) -> None:
    write(pytester.path / "migrations", {"0001_t.sql": "CREATE TABLE t0 (id int);\n", **files})
    result, summary, _ = run(project(pytester, tables=3, migrations="migrations: {dir: migrations}"),
                             target="rehearsal")
    assert_one_cause(result, summary, cause)


def test_thousand_gates_on_an_unreachable_target_say_one_short_line_each(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, pg_server: Server,
    password_user: str,
) -> None:
    dsn = pg_server.create_database("thousand")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("".join(f"CREATE TABLE t{i} (id int);" for i in range(1000)))
    project(pytester, tables=1000)
    monkeypatch.setenv("DEMO_STAGING_DSN", dsn)
    passing, summary, _ = run(pytester)
    assert passing.ret == 0, passing.stdout.str()[-2000:]
    assert sum(g["outcome"] == "passed" for g in summary["gates"]) == 1005
    for report in (pytester.path / "out").iterdir():
        report.unlink()
    monkeypatch.setenv("DEMO_STAGING_DSN", make_conninfo(dsn, user=password_user, password=PASSWORD))
    failing, summary, _ = run(pytester)
    assert_one_cause(failing, summary, "target staging: cannot connect to the database: *")
    # no traceback, fixture source or spec repr per gate: at most one short line each more than
    # a passing run prints (how long each run takes is measured in bench/, not asserted here)
    assert "Traceback" not in failing.stdout.str()
    extra = len(failing.stdout.str()) - len(passing.stdout.str())
    assert extra < 1000 * 1005, extra  # one summary line each; a traceback alone is tens of KiB
