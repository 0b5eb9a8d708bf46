"""The bounds of everything a gate reads from a deployment, and their defaults: how long an HTTP
exchange may take, how big an answer or a log may be, which redirects are followed, how long a log
pattern may search. The spec's keys default to these; ``docs/gates-running.md`` lists them."""

from __future__ import annotations

from typing import Literal

MIB = 1024 * 1024

CONNECT_TIMEOUT_S = 5.0
"""TCP connect and TLS handshake, within the exchange's deadline."""
TIMEOUT_S = 30.0
"""The deadline of a whole HTTP exchange: connect, TLS handshake, request, answer, redirects."""
MAX_BYTES = 10 * MIB
"""The largest HTTP answer body read (health, smoke, Prometheus and Grafana APIs)."""
METRICS_MAX_BYTES = 16 * MIB
"""The largest /metrics body read: parsing 16 MiB takes about 3 s and 300 MB of memory."""
MAX_REDIRECTS = 10

FollowRedirects = Literal["same-origin", "any", "none"]
"""Which redirects an exchange follows: to the same origin (scheme, host, port), any, none."""

LOG_MAX_BYTES = 16 * MIB
"""The most of a log read (from the end of a file, or kept of a command's output)."""
LINE_BYTES = 64 * 1024
"""A longer log line is cut to its first 64 KiB."""
MATCH_TIMEOUT_S = 5.0
"""How long (CPU time) one log pattern may search all the lines read."""


def size(count: int) -> str:
    """A byte count as the limits are written: ``10 MiB``, ``64 KiB``, ``2014 bytes``."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= factor and count % factor == 0:
            return f"{count // factor} {unit}"
    return f"{count} bytes"
