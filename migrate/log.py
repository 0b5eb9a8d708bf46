"""Run logs in the report directory, and progress lines for the terminal."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from deploy_gates.migrate.errors import MigrationError
from deploy_gates.migrate.outputs import directory_problem, new_file
from deploy_gates.redact import redact_text


def file_timestamp() -> str:
    """The current UTC time for file names: ``YYYYmmddTHHMMSSZ``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"


def _utc_now() -> str:
    """The current UTC time as ISO 8601 with milliseconds and a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class MigrationLog:
    """A plain-text log file: one timestamped line per event, secrets masked."""

    path: Path
    scrub: Callable[[str], str] = redact_text

    @classmethod
    def create(
        cls, report_dir: Path, prefix: str, scrub: Callable[[str], str] = redact_text
    ) -> MigrationLog:
        """A new log at ``<report_dir>/<prefix>-<UTC timestamp>.log`` (``...Z-2.log`` for the
        second run of that second, and so on): each run writes its own."""
        problem = directory_problem(report_dir)
        if problem:
            raise MigrationError(f"report folder {report_dir}: {problem}")
        try:
            path = new_file(report_dir, f"{prefix}-{file_timestamp()}", ".log")
        except OSError as exc:
            raise MigrationError(f"report folder {report_dir}: cannot create the run log: "
                                 f"{exc.strerror or exc}") from None
        return cls(path, scrub)

    def write(self, event: str) -> None:
        """Append ``event`` with its UTC timestamp."""
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(f"{_utc_now()} {self.scrub(event)}\n")


FILE_LINE = re.compile(r"(applying|reverting) (\S+) \.\.\. (?:ok \((\d+) ms\)|(failed))")


@dataclass(frozen=True)
class FileEvent:
    """One migration file applied or reverted, and how it went: its progress line."""

    verb: str
    name: str
    ok: bool
    ms: int | None = None

    def __str__(self) -> str:
        return f"{self.verb} {self.name} ... " + (f"ok ({self.ms} ms)" if self.ok else "failed")

    @classmethod
    def parse(cls, line: str) -> FileEvent | None:
        """The event a progress line tells, or None for any other line."""
        match = FILE_LINE.fullmatch(line)
        if match is None:
            return None
        verb, name, ms, failed = match.groups()
        return cls(verb, name, failed is None, int(ms) if ms else None)


@dataclass(frozen=True)
class Reporter:
    """Sends events to the run log and progress lines to the terminal too."""

    log: MigrationLog | None = None
    echo: Callable[[str], None] | None = None

    def show(self, text: str) -> None:
        """Show ``text`` on the terminal only."""
        if self.echo:
            self.echo(text)

    def record(self, event: str) -> None:
        """Write ``event`` to the log only."""
        if self.log:
            self.log.write(event)

    def progress(self, line: str) -> None:
        """Show ``line`` and log it."""
        self.show(line)
        self.record(line)
