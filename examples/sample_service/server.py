"""HTTP wiring: a threading server on loopback, its first stdout line, graceful SIGTERM."""

from __future__ import annotations

import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from urllib.parse import parse_qs, urlsplit

import psycopg

from .app import App
from .config import Settings
from .context import Context
from .db import Database
from .faults import Faults
from .logs import Log
from .metrics import Metrics
from .web import Request, trace_id_of

MAX_BODY_BYTES = 1_048_576


class ServiceServer(ThreadingHTTPServer):
    """One thread per request; ``server_close`` waits for the requests in flight."""

    daemon_threads = False

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        super().__init__(address, RequestHandler)


class RequestHandler(BaseHTTPRequestHandler):
    """Turns one HTTP exchange into a :class:`Request` for the app and writes its answer."""

    server: ServiceServer
    protocol_version = "HTTP/1.0"
    server_version = "sample-service"
    timeout = 30

    def do_GET(self) -> None:
        """Answer any method the same way: the app decides."""
        url = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.send_error(413 if length > MAX_BODY_BYTES else 400, "bad Content-Length")
            return
        request = Request(
            method=self.command, path=url.path,
            query={k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()},
            headers=headers, body=self.rfile.read(length), client=self.client_address[0],
            trace_id=trace_id_of(headers),
        )
        response = self.server.app.handle(request)
        self.send_response(response.status)
        if response.body:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Requests are logged by the app, once each."""

    def log_message(self, format: str, *args: object) -> None:
        """Protocol errors (bad request lines, timeouts) go to the service log."""
        self.server.app.ctx.log.event("WARN", "http protocol error", detail=format % args)


def serve(settings: Settings) -> int:
    """Prepare the database, serve until SIGTERM/SIGINT, finish requests in flight; exit code."""
    log = Log(settings.log_file)
    try:
        ctx = Context(settings, Database(settings.dsn), Faults(settings.faults), Metrics(), log)
        try:
            app = App(ctx)
            server = ServiceServer((settings.host, settings.port), app)
        except (psycopg.Error, OSError) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            log.event("ERROR", "startup failed", error=reason)
            print(f"sample_service: startup failed: {reason}", file=sys.stderr)
            return 1

        def stop(_: int, __: FrameType | None) -> None:
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        host, port = server.server_address[:2]
        print(f"listening on http://{host}:{port}", flush=True)
        log.event(
            "INFO", "listening", url=f"http://{host}:{port}", system=settings.system,
            release=settings.release, faults=sorted(settings.faults), routes=app.router.describe(),
        )
        server.serve_forever(poll_interval=0.1)
        server.server_close()
        log.event("INFO", "stopped")
        return 0
    finally:
        log.close()
