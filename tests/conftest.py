"""Shared fixtures of the suite's own tests: one real throwaway PostgreSQL per test session."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pglast.stream
import pglast.visitors
import pytest

from deploy_gates.fixtures.ephemeral import Server, start_server
from tests.drift_release import write_lock, write_release
from tests.examplecopy import copy_example

pytest_plugins = ["pytester"]
PGLAST = (pglast.stream, pglast.visitors)
"""Imported before any in-process pytester run: pytester drops the modules a run imported, and
pglast's compiled parser keeps the node classes of its first import, which a re-imported
``pglast.stream`` would no longer recognise."""


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    """A real embedded PostgreSQL server for the whole test session, without autovacuum: its
    analyze commits in the tests' databases, which the write-counting tests would see."""
    server = start_server("embedded")
    with server.connect() as conn:
        conn.execute("ALTER SYSTEM SET autovacuum = off")
        conn.execute("SELECT pg_reload_conf()")
    yield server
    server.stop()


@pytest.fixture
def fresh_dsn(pg_server: Server) -> str:
    """The DSN of a new, empty database on the session server."""
    return pg_server.create_database("test")


@pytest.fixture
def release(tmp_path: Path) -> Path:
    """A private copy of the example release (examples/tascade), free to break."""
    return copy_example("tascade", tmp_path / "tascade")


@pytest.fixture
def sample_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Specs start the sample service as ``python -m examples.sample_service``: from the repo."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent.parent))


@contextmanager
def answering(content_type: str, body: bytes) -> Iterator[str]:
    """A plain-HTTP server on 127.0.0.1 that answers every GET and POST with ``body``; its base
    URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture
def html_page() -> Iterator[str]:
    """A plain-HTTP server on 127.0.0.1 that answers every GET with an HTML sign-in page."""
    with answering("text/html", b"<html><body>Sign in</body></html>") as url:
        yield url


@pytest.fixture(scope="session")
def locked_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The release with its lock file, written once for the session."""
    release = write_release(tmp_path_factory.mktemp("locked") / "demo")
    done = write_lock(release)
    assert done.returncode == 0, done.stdout + done.stderr
    return release


@pytest.fixture
def locked(locked_template: Path, tmp_path: Path) -> Path:
    """A private copy of the locked release, free to break."""
    return Path(shutil.copytree(locked_template, tmp_path / "demo"))
