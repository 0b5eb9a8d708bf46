"""How a gate reports: a one-line reason that says what was expected and what was found."""

from __future__ import annotations

from typing import NoReturn

import pytest


def fail_gate(message: str) -> NoReturn:
    """Fail the current gate with ``message`` and no traceback: one message, without the chain of
    exceptions it was raised while handling."""
    __tracebackhide__ = True
    raise pytest.fail.Exception(message, pytrace=False) from None


def require(problem: str | None) -> None:
    """Fail the current gate when a check found a problem."""
    __tracebackhide__ = True
    if problem:
        fail_gate(problem)


INCONCLUSIVE_PREFIX = "inconclusive: "
"""A skipped gate whose reason starts with this is inconclusive: it could not decide."""


def inconclusive(message: str) -> NoReturn:
    """End the current gate as inconclusive: neither proved nor disproved."""
    __tracebackhide__ = True
    pytest.skip(INCONCLUSIVE_PREFIX + message)
