"""What every system's handlers share: settings, database, faults, metrics, log, tokens."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .auth import Tokens
from .config import Settings
from .db import Database
from .faults import Faults
from .logs import Log
from .metrics import Metrics


@dataclass(frozen=True)
class Context:
    """The service's shared parts, built once at startup."""

    settings: Settings
    db: Database
    faults: Faults
    metrics: Metrics
    log: Log
    tokens: Tokens = field(default_factory=Tokens)
    started: float = field(default_factory=time.monotonic)

    def database_up(self) -> bool:
        """The database check of health endpoints: ``SELECT 1``, failed by ``health_degraded``."""
        return "health_degraded" not in self.faults and self.db.ping()

    def uptime_s(self) -> int:
        """Whole seconds since startup."""
        return int(time.monotonic() - self.started)
