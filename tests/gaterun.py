"""Run gate modules of verify/ in a pytester project whose spec boots the real sample service."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "tascade"

SPEC = """\
system: demo
release: "1"
targets:
  rehearsal:
    kind: ephemeral
    provider: embedded
    start:
      command: [{python}, -m, examples.sample_service, --system, {system}, --dsn, "{{dsn}}",
                --port, "{{port}}", --log-file, "{{log_file}}", --faults, "{faults}"]
      env: {{TASCADE_API_KEY: tk-{key}}}
      ready: /__faults
  live:
    kind: live
    dsn_env: DEMO_LIVE_DSN
    base_url: "{base_url}"
    prometheus_url: "{prometheus_url}"
"""


def sample_project(
    pytester: pytest.Pytester, body: str, *, system: str = "granter", faults: str = "",
    base_url: str = "http://127.0.0.1:9", prometheus_url: str = "http://127.0.0.1:9",
) -> pytest.Pytester:
    """A runbook spec: the sample service as ``system`` with ``faults`` on, then ``body``."""
    text = SPEC.format(python=sys.executable, system=system, faults=faults, key="12345678",
                       base_url=base_url, prometheus_url=prometheus_url) + body
    pytester.makefile(".yaml", runbook=text)
    return pytester


def run_gates(
    pytester: pytest.Pytester, modules: tuple[str, ...], *args: str, target: str = "rehearsal"
) -> dict[str, dict]:
    """Run ``verify/test_<module>.py`` for each module; the JSON summary's gates by name."""
    pytester.runpytest_subprocess(
        "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
        *(str(ROOT / "verify" / f"test_{m}.py") for m in modules),
        f"--runbook={pytester.path / 'runbook.yaml'}", f"--report-dir={pytester.path / 'out'}",
        f"--target={target}", *args, timeout=120,
    )
    (path,) = (pytester.path / "out").glob("*.json")
    return {g["name"]: g for g in json.loads(path.read_text())["gates"]}


def gates(pytester: pytest.Pytester, release: Path, *args: str) -> pytest.RunResult:
    """Run the repository's gates on ``release`` the way users do, in a fresh process."""
    return pytester.runpytest_subprocess(
        "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), str(ROOT / "verify"),
        f"--runbook={release / 'runbook.yaml'}", f"--report-dir={release / 'reports'}",
        "--db-provider=embedded", "-rfs", *args, timeout=300,
    )


def summary(release: Path) -> dict[str, dict]:
    """The run's one JSON summary: its gates by test name."""
    (path,) = (release / "reports").glob("*.json")
    return {g["id"].split("::")[1]: g for g in json.loads(path.read_text())["gates"]}
