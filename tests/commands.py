"""Run the suite's commands as users type them, in a fresh process without deploy-gates env:
``pytest`` and ``deploy-gates``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.gaterun import ROOT


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without deploy-gates' and pytest's variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOY_GATES_", "PYTEST_"))}
    return {**env, **extra}


def pytest_in(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m pytest ARGS`` in ``cwd``."""
    return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=cwd, env=clean_env(),
                          capture_output=True, text=True, timeout=120)


def deploy_gates(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None,
                 ) -> subprocess.CompletedProcess[str]:
    """``deploy-gates ARGS``, the console script installed beside this interpreter."""
    script = Path(sys.executable).with_name("deploy-gates")
    return subprocess.run([str(script), *args], cwd=cwd, env=clean_env(**(env or {})),
                          capture_output=True, text=True, timeout=120)
