"""Hostile HTTP servers on 127.0.0.1 for the suite's own tests: huge bodies, trickles, a TLS port
that never answers, redirects to another origin, a Prometheus API answering malformed shapes.

Every server accepts a bounded number of connections, gives up on each after a bounded time, and
stops when its ``with`` block ends."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

MAX_CONNECTIONS = 40
MAX_SECONDS = 30.0
CHUNK = 64 * 1024
HEAD_BYTES = 64 * 1024


@dataclass
class Received:
    """One request as the server read it: method, path with query, and headers (lower-case)."""

    method: str
    target: str
    headers: dict[str, str]

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    def query(self, name: str) -> str:
        return parse_qs(urlsplit(self.target).query).get(name, [""])[0]


Answer = Callable[[Received, socket.socket, threading.Event], None]
"""Writes the answer to one request; stops early when the event is set."""


@dataclass
class Running:
    """A running server: where it listens, and the requests it has read."""

    port: int
    received: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def serve(answer: Answer, *, connections: int = MAX_CONNECTIONS,
          seconds: float = MAX_SECONDS) -> Iterator[Running]:
    """A server on 127.0.0.1 calling ``answer`` for each request (one per connection), for at
    most ``connections`` connections and ``seconds`` seconds; stopped when the block ends."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    running = Running(listener.getsockname()[1])
    stop = threading.Event()
    until = time.monotonic() + seconds
    workers: list[threading.Thread] = []

    def handle(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(seconds)
            request = read_head(conn)
            if request is not None:
                running.received.append(request)
                answer(request, conn, stop)

    def accept() -> None:
        while len(workers) < connections and not stop.is_set() and time.monotonic() < until:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            worker = threading.Thread(target=handle, args=(conn,), daemon=True)
            workers.append(worker)
            worker.start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield running
    finally:
        stop.set()
        acceptor.join(5)
        listener.close()
        for worker in workers:
            worker.join(5)


@contextlib.contextmanager
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 whose kernel completes the TCP handshake and then nothing ever answers
    (no TLS handshake, no HTTP)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


def read_head(conn: socket.socket) -> Received | None:
    """The next request's head on ``conn``; None when the client closed it first."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < HEAD_BYTES:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    return Received(method, target, {k.strip().lower(): v.strip() for k, v in headers.items()})


def head(status: str, headers: dict[str, str], *, close: bool = True) -> bytes:
    """A status line and headers, ``Connection: close`` included unless ``close`` is false."""
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items())]
    lines += ["Connection: close"] if close else []
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def respond(conn: socket.socket, status: str, body: bytes = b"",
            content_type: str = "application/json", **headers: str) -> None:
    """A whole answer with its Content-Length."""
    fields = {"Content-Type": content_type, "Content-Length": str(len(body)), **headers}
    conn.sendall(head(status, fields) + body)


def json_answer(conn: socket.socket, data: object) -> None:
    respond(conn, "200 OK", json.dumps(data).encode())


def stream(conn: socket.socket, stop: threading.Event, prefix: bytes, filler: bytes, size: int,
           suffix: bytes = b"") -> None:
    """``prefix``, then ``filler`` repeated up to ``size`` bytes in all, then ``suffix``; stops
    when the client goes away or the server stops."""
    conn.sendall(prefix)
    sent, block = len(prefix), filler * max(1, CHUNK // len(filler))
    while sent < size - len(suffix) and not stop.is_set():
        part = block[: size - len(suffix) - sent]
        conn.sendall(part)
        sent += len(part)
    conn.sendall(suffix)


def trickle(conn: socket.socket, stop: threading.Event, data: bytes, *, per_second: float = 1.0,
            seconds: float = 10.0) -> None:
    """``data`` one byte at a time, ``per_second`` bytes a second, for at most ``seconds``, then
    the connection is closed."""
    until = time.monotonic() + seconds
    for index in range(len(data)):
        if time.monotonic() >= until or stop.wait(1.0 / per_second):
            return
        conn.sendall(data[index : index + 1])
