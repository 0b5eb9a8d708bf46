"""What a gate run collects: the suite's own gates, from wherever deploy-gates is installed, and
the spec's custom gates, when pytest is given no paths."""

from __future__ import annotations

from pathlib import Path

import pytest

import deploy_gates.verify
from deploy_gates.spec.runbook import Runbook

GATES_DIR = Path(deploy_gates.verify.__file__).parent
"""The suite's gate modules (``verify/test_*.py``): the checkout's folder, or the installed one."""
GATES_PREFIX = "verify"
"""The folder the suite's gates are named under in node ids, wherever they are installed."""


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
