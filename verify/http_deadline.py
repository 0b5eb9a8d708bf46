"""The overall deadline of one HTTP exchange: when it passes, the exchange's sockets are shut down,
so that a server trickling its answer cannot hold a gate past it, whatever the per-read timeout.
One watchdog thread per process expires the deadlines.

``requests`` has timeouts per read only. A ``Session`` whose adapter is ``DeadlineAdapter`` makes
each connection report its socket (a new one, or a kept-alive one being reused) to the ``Deadline``
of the exchange under way, and the phase the exchange is in, for the message."""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from contextvars import ContextVar
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

CONNECTING = "connecting"
TLS_HANDSHAKE = "TLS handshake"
WAITING = "waiting for the answer"
READING = "reading the body"


class Deadline:
    """``seconds`` from now, the sockets of this exchange are shut down."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.phase = CONNECTING
        self.expired = False
        self.done = False
        self._sockets: list[socket.socket] = []
        self._guarded: set[int] = set()
        self._lock = threading.Lock()

    def __enter__(self) -> Deadline:
        _watchdog.watch(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.done = True
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def remaining(self) -> float:
        return max(0.0, self.ends - time.monotonic())

    def guard(self, sock: socket.socket) -> None:
        """Shut ``sock`` down when the deadline passes (at once if it has). A duplicate of its
        descriptor is kept: it stays valid when TLS wraps (and detaches) the original."""
        with self._lock:
            if sock.fileno() in self._guarded:
                return
            self._guarded.add(sock.fileno())
            copy = socket.fromfd(sock.fileno(), sock.family, sock.type)
            self._sockets.append(copy)
            if self.expired:
                _shut(copy)

    def expire(self) -> None:
        """The time is up: shut down every socket of the exchange, unless it has ended."""
        with self._lock:
            self.expired = not self.done
            for sock in self._sockets:
                _shut(sock)


class _Watchdog:
    """One thread for the deadlines of the whole process (a thread per exchange would cost more
    than a fast exchange): it expires each deadline when its time comes."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._due: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline) -> None:
        with self._wake:
            heapq.heappush(self._due, (deadline.ends, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="http-deadlines",
                                                daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        with self._wake:
            while True:
                now = time.monotonic()
                while self._due and (self._due[0][0] <= now or self._due[0][2].done):
                    _, _, deadline = heapq.heappop(self._due)
                    if not deadline.done:
                        deadline.expire()
                self._wake.wait(self._due[0][0] - now if self._due else None)


_watchdog = _Watchdog()


def _new_watchdog() -> None:
    """A forked child has no watchdog thread (and maybe a held lock): it starts its own."""
    global _watchdog
    _watchdog = _Watchdog()


os.register_at_fork(after_in_child=_new_watchdog)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


current: ContextVar[Deadline | None] = ContextVar("deploy_gates_http_deadline", default=None)
"""The deadline of the exchange this thread is sending, if any."""


class _Guarded:
    """A urllib3 connection that hands its socket to the current deadline."""

    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        deadline = current.get()
        if deadline is not None:
            deadline.guard(sock)
            deadline.phase = TLS_HANDSHAKE if isinstance(self, HTTPSConnection) else WAITING
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        deadline = current.get()
        if deadline is not None and self.sock is not None:  # connected: reused, or TLS done
            deadline.guard(self.sock)
            deadline.phase = WAITING
        super().request(*args, **kwargs)  # type: ignore[misc]


class _GuardedHTTPConnection(_Guarded, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_Guarded, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter, with connections that obey the current ``Deadline`` (directly and
    through HTTP proxies; SOCKS proxies keep their own connections and per-read timeouts)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOLS

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = POOLS
        return manager
