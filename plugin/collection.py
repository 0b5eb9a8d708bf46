"""What a gate run collects: the suite's own gates, from wherever deploy-gates is installed, and
the spec's custom gates, when pytest is given no paths; of the suite's gates, only those the run's
``-m`` and targets can select are built."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _pytest.mark import MarkMatcher
from _pytest.mark.expression import Expression
from _pytest.mark.structures import get_unpacked_marks

import deploy_gates.verify
from deploy_gates.spec.runbook import Runbook

GATES_DIR = Path(deploy_gates.verify.__file__).parent
"""The suite's gate modules (``verify/test_*.py``): the checkout's folder, or the installed one."""
GATES_PREFIX = "verify"
"""The folder the suite's gates are named under in node ids, wherever they are installed."""
ROLLBACK_SELECTED = re.compile(r"\brollback\b")
"""Rollback gates run only when the ``-m`` expression names them."""
PARAMETER_MARKS = ("destructive",)
"""Marks the suite's gates give some of their parameters (smoke flows), not the function."""


def gate_args(runbook: Runbook) -> list[str]:
    """The files and folders a run collects when pytest is given no paths: each of the suite's
    gate modules by name (collected whatever the project's ``python_files``), then the spec's
    custom gates."""
    suite = sorted(GATES_DIR.glob("test_*.py"))
    return [str(path) for path in dict.fromkeys([*suite, *runbook.custom_gates])]


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(
    module_path: Path, parent: pytest.Collector
) -> pytest.Module | None:
    """The suite's gate modules have the same node ids wherever deploy-gates is installed
    (``verify/test_schema.py::test_table[jobs]``): waivers, ``--deselect`` and the pytest -n
    scheduling name them alike in this checkout and in an installed project."""
    if module_path.parent != GATES_DIR:
        return None
    return pytest.Module.from_parent(
        parent, path=module_path, nodeid=f"{GATES_PREFIX}/{module_path.name}"
    )


def rollback_selected(config: pytest.Config) -> bool:
    """Whether the ``-m`` expression names rollback gates (which run only then)."""
    return ROLLBACK_SELECTED.search(config.option.markexpr or "") is not None


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> list | None:
    """A suite gate the run's ``-m`` expression would deselect is not built (nor parametrized:
    a live run with ``-m postdeploy`` builds none of the 3 rehearsal gates per schema object);
    rollback gates are left out unless ``-m`` names them."""
    if collector.path.parent != GATES_DIR or not collector.istestfunction(obj, name):
        return None
    marks = [*collector.iter_markers(), *get_unpacked_marks(obj)]
    if any(m.name == "rollback" for m in marks) and not rollback_selected(collector.config):
        return []
    expression = _mark_expression(collector.config)
    if expression is None:
        return None
    matcher = MarkMatcher.from_markers(marks)
    if expression.evaluate(matcher) or expression.evaluate(
        lambda mark, /, **kwargs: mark in PARAMETER_MARKS or matcher(mark, **kwargs)
    ):
        return None
    return []

def _mark_expression(config: pytest.Config) -> Expression | None:
    """The ``-m`` expression, compiled; None without one (or when pytest will reject it)."""
    text = config.option.markexpr
    if not text:
        return None
    try:
        return Expression.compile(text)
    except SyntaxError:
        return None
