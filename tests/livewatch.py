"""Watch a "live" database while gates run against it: what the statistics system counts, which
locks anyone takes, whether a concurrent reader is ever blocked; and a local HTTP server that
records the requests a smoke flow sends."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
from psycopg.conninfo import conninfo_to_dict

from deploy_gates.fixtures.ephemeral import Server

WATCH_LIMIT_S = 120.0
"""No watch loop runs longer than this, whatever the test does."""
SETTLE_DEADLINE_S = 10.0
SETTLED_FOR_S = 1.0
"""A backend that just ended may report its counters a moment later on a loaded machine: they
count as settled once unchanged this long."""

COUNTERS = """SELECT sessions, xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted
    FROM pg_stat_database WHERE datname = %s"""


def database_name(dsn: str) -> str:
    """The database ``dsn`` names (read from the DSN: connecting would count as a session)."""
    return conninfo_to_dict(dsn)["dbname"]


def counters(server: Server, dbname: str) -> dict[str, int]:
    """``dbname``'s statistics counters once no session is connected to it any more (a backend
    reports its counters when it ends), read from the maintenance database so that reading
    changes nothing."""
    deadline = time.monotonic() + SETTLE_DEADLINE_S
    with server.connect() as conn:
        while time.monotonic() < deadline:
            open_sessions = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [dbname]
            ).fetchone()[0]
            if open_sessions == 0:
                break
            time.sleep(0.05)
        seen: dict[str, int] | None = None
        same_since = time.monotonic()
        while time.monotonic() < deadline:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            cur = conn.execute(COUNTERS, [dbname])
            now = dict(zip([c.name for c in cur.description], cur.fetchone(), strict=True))
            if now != seen:
                seen, same_since = now, time.monotonic()
            elif time.monotonic() - same_since >= SETTLED_FOR_S:
                return now
            time.sleep(0.2)
    raise AssertionError(f"the statistics of {dbname} did not settle within {SETTLE_DEADLINE_S} s")


def writes(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The rows inserted, updated and deleted between two readings."""
    keys = ("tup_inserted", "tup_updated", "tup_deleted")
    return {k: after[k] - before[k] for k in keys}


@dataclass
class Watch:
    """What a concurrent reader and a lock sampler saw while the watch was on."""

    reads: int = 0
    blocked: list[str] = field(default_factory=list)
    slowest_read_s: float = 0.0
    locks: set[tuple[str, str]] = field(default_factory=set)
    """(locktype, mode) of every lock other sessions held on the database (not the watchers')."""
    watchers: set[int] = field(default_factory=set)

    def strongest_problems(self) -> list[tuple[str, str]]:
        """Locks stronger than a plain read's: anything but ACCESS SHARE on relations and the
        lock every transaction holds on its own virtual transaction id."""
        return sorted(
            (kind, mode)
            for kind, mode in self.locks
            if not (kind == "relation" and mode == "AccessShareLock")
            and not (kind == "virtualxid" and mode == "ExclusiveLock")
        )


@contextmanager
def watch(
    server: Server, dsn: str, tables: list[str], *, lock_timeout_ms: int = 200
) -> Iterator[Watch]:
    """While the block runs: a second session reads ``tables`` in a bounded loop with a short
    ``lock_timeout`` (a read that has to wait for a lock fails and is recorded), and a third
    samples, from the maintenance database, the locks of every client session connected to the
    database."""
    seen = Watch()
    stop = threading.Event()
    dbname = database_name(dsn)
    ready = threading.Barrier(3, timeout=10)

    def reader() -> None:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"SET lock_timeout = {int(lock_timeout_ms)}")
            seen.watchers.add(conn.info.backend_pid)
            ready.wait()
            deadline = time.monotonic() + WATCH_LIMIT_S
            while not stop.is_set() and time.monotonic() < deadline:
                for table in tables:
                    start = time.monotonic()
                    try:
                        conn.execute(f"SELECT count(*) FROM {table}").fetchone()
                    except psycopg.errors.LockNotAvailable as exc:
                        seen.blocked.append(f"{table}: {exc.diag.message_primary}")
                    seen.slowest_read_s = max(seen.slowest_read_s, time.monotonic() - start)
                    seen.reads += 1
                time.sleep(0.01)

    def sampler() -> None:
        with server.connect() as conn:
            seen.watchers.add(conn.info.backend_pid)
            ready.wait()
            deadline = time.monotonic() + WATCH_LIMIT_S
            while not stop.is_set() and time.monotonic() < deadline:
                rows = conn.execute(  # autovacuum's analyze writes too: clients only
                    "SELECT l.pid, l.locktype, l.mode FROM pg_locks l"
                    " JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE a.datname = %s AND a.backend_type = 'client backend'",
                    [dbname],
                ).fetchall()
                seen.locks |= {(kind, mode) for pid, kind, mode in rows
                               if pid not in seen.watchers}
                time.sleep(0.005)

    threads = [threading.Thread(target=f, daemon=True) for f in (reader, sampler)]
    for thread in threads:
        thread.start()
    ready.wait()
    try:
        yield seen
    finally:
        # a block that ends before the reader's first round still gets one whole round watched
        deadline = time.monotonic() + WATCH_LIMIT_S
        rounds = seen.reads + len(tables)
        while seen.reads < rounds and time.monotonic() < deadline and threads[0].is_alive():
            time.sleep(0.01)
        stop.set()
        for thread in threads:
            thread.join(WATCH_LIMIT_S)


class Recorder(BaseHTTPRequestHandler):
    """Answers every request with ``{"ok": true}`` and records its method and path."""

    seen: list[tuple[str, str]]

    def answer(self) -> None:
        self.seen.append((self.command, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"ok": True, "id": 7}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = do_PUT = answer

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def recording_server() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """A local HTTP server on 127.0.0.1: its base URL, and the requests it received."""
    seen: list[tuple[str, str]] = []
    handler = type("Handler", (Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
