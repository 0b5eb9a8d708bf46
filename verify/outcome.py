"""How a gate reports: a one-line reason that says what was expected and what was found."""

from __future__ import annotations

from typing import NoReturn

import pytest


def fail_gate(message: str) -> NoReturn:
    """Fail the current gate with ``message`` and no traceback."""
    __tracebackhide__ = True
    pytest.fail(message, pytrace=False)


def require(problem: str | None) -> None:
    """Fail the current gate when a check found a problem."""
    __tracebackhide__ = True
    if problem:
        fail_gate(problem)
