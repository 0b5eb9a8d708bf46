"""The examples rehearse green the way the README runs them, whatever python PATH finds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.commands import clean_env
from tests.gaterun import ROOT


def test_router_api_rehearsal_needs_no_venv_on_path(tmp_path: Path) -> None:
    env = clean_env(PATH="/usr/bin:/bin")  # `python` here, if any, is not the suite's
    for name in ("PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-W", "error", "--runbook",
         "examples/router_api/runbook.yaml", "--target=rehearsal", f"--report-dir={tmp_path}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    last = result.stdout.splitlines()[-1]
    assert last.startswith("GO: ") and ", 0 failed," in last, last
