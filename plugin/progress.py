"""A line on the terminal now and then while a gate polls (a Prometheus window, a smoke flow's
``within:``), so that a two-minute wait does not look like a hang."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext

import pytest

EVERY_S = 10.0
"""At most one line per gate this often; a gate whose wait is shorter prints none."""


class Progress:
    """Called by a polling gate after each attempt; says so on the terminal at most once every
    ``every_s`` seconds, counted from the start of the wait."""

    def __init__(
        self,
        write: Callable[[str], None] | None,
        gate: str,
        every_s: float = EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.write, self.gate, self.every_s, self.clock = write, gate, every_s, clock
        self.start = self.last = clock()

    def __call__(self, text: str) -> None:
        now = self.clock()
        if self.write is None or now - self.last < self.every_s:
            return
        self.last = now
        self.write(f"deploy-gates: {self.gate}: waiting, {now - self.start:.0f} s: {text}")


def terminal_writer(config: pytest.Config) -> Callable[[str], None] | None:
    """Write a line on pytest's terminal, past output capture; None without a terminal."""
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if terminal is None:
        return None

    def write(line: str) -> None:
        with capture.global_and_fixture_disabled() if capture else nullcontext():
            terminal.write_line(line)

    return write
