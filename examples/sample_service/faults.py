"""Fault switches: named misbehaviours a test turns on and off while the service runs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

KNOWN: dict[str, str] = {
    "health_503": "every health endpoint answers 503",
    "health_degraded": "health bodies report the database down (status degraded; ready is 503)",
    "missing_metric": "router_refund_retries_total is left out of /metrics",
    "malformed_metrics": "/metrics ends with a line that is not valid exposition text",
    "missing_header": "tascade metrics responses lack X-API-Version",
    "step_500": "login and register endpoints answer 500",
    "slow": "every response (but /metrics and /__faults) is delayed by 1.5 s",
    "html_health": "health endpoints answer 200 with an HTML page instead of JSON",
    "log_error": "ERROR lines in the log, one saying column \"refund_retry_count\" does not exist",
    "untraced_logs": "request log lines leave out trace_id (the X-Trace-Id header stays)",
    "no_refund": "failing router jobs skip the refund path: no counter, no column change",
    "sync_broken": "the redcube sync trigger is disabled, so registered users are not copied",
}

Listener = Callable[[frozenset[str], frozenset[str]], None]


def parse(names: Iterable[str]) -> frozenset[str]:
    """The fault names in ``names`` (blanks ignored); ValueError naming any unknown one."""
    wanted = frozenset(name.strip() for name in names if name.strip())
    unknown = sorted(wanted - KNOWN.keys())
    if unknown:
        raise ValueError(f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(KNOWN)}")
    return wanted


class Faults:
    """The active fault set, thread safe; listeners hear every change as (before, after)."""

    def __init__(self, initial: frozenset[str] = frozenset()) -> None:
        self._active = parse(initial)
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    def active(self) -> frozenset[str]:
        """The faults on right now."""
        return self._active

    def __contains__(self, name: str) -> bool:
        return name in self._active

    def listen(self, listener: Listener) -> None:
        """Call ``listener(before, after)`` on every change made with :meth:`replace`."""
        self._listeners.append(listener)

    def replace(self, names: Iterable[str]) -> frozenset[str]:
        """Make ``names`` the active set (ValueError on an unknown name) and tell the listeners."""
        wanted = parse(names)
        with self._lock:
            before, self._active = self._active, wanted
            for listener in self._listeners:
                listener(before, wanted)
        return wanted
