"""The overall deadline of one HTTP exchange: when it passes, the exchange's sockets are shut down,
so that a server trickling its answer cannot hold a gate past it, whatever the per-read timeout.

``requests`` has timeouts per read only. A ``Session`` whose adapter is ``DeadlineAdapter`` makes
each connection report its socket (a new one, or a kept-alive one being reused) to the ``Deadline``
of the exchange under way, and the phase the exchange is in, for the message."""

from __future__ import annotations

import contextlib
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
        self.passed = False
        self._sockets: list[socket.socket] = []
        self._guarded: set[int] = set()
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._pass)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        with self._lock:
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
            if self.passed:
                _shut(copy)

    def _pass(self) -> None:
        with self._lock:
            self.passed = True
            for sock in self._sockets:
                _shut(sock)


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
