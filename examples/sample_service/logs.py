"""The service log: one JSON object per line, to a file or stderr."""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

NAME = "sample_service"


def utc_now() -> str:
    """The current UTC time as ISO 8601 with milliseconds, e.g. ``2026-01-17T14:00:00.123Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Log:
    """Writes whole lines under a lock, so lines of concurrent requests never interleave."""

    def __init__(self, path: Path | None) -> None:
        self._lock = threading.Lock()
        self._stream: TextIO = (
            path.open("a", encoding="utf-8", buffering=1) if path is not None else sys.stderr
        )
        self._owned = path is not None

    def event(self, level: str, msg: str, **fields: object) -> None:
        """A structured line: ``{"ts", "level", "logger", "msg", **fields}``."""
        record = {"ts": utc_now(), "level": level, "logger": NAME, "msg": msg, **fields}
        self._write(json.dumps(record, default=str, separators=(",", ":")))

    def plain(self, level: str, text: str) -> None:
        """A classic text line: ``<ts> <LEVEL> sample_service: <text>``."""
        self._write(f"{utc_now()} {level} {NAME}: {text}")

    def _write(self, line: str) -> None:
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def close(self) -> None:
        """Close the log file (stderr stays open)."""
        if self._owned:
            self._stream.close()
