"""Copies of the examples outside the repository, and the sample service answering a copy's live
target, as a deployment's own service would."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deploy_gates.fixtures.service import start_service, stop_service
from deploy_gates.redact import Redactor
from deploy_gates.spec.sections import ServiceStart
from tests.gaterun import ROOT

TASCADE_LIVE_URL = "base_url: http://localhost:8000"
"""Where the tascade example's staging target expects its service (the runbook's own URL)."""
TASCADE_KEY = "tk-live-example-key"


def copy_example(name: str, dest: Path) -> Path:
    """``examples/<name>`` copied to ``dest``; the service its rehearsal starts still imports
    ``examples.sample_service`` (the spec's ``PYTHONPATH: ../..`` made absolute)."""
    shutil.copytree(ROOT / "examples" / name, dest)
    spec = dest / "runbook.yaml"
    spec.write_text(spec.read_text().replace("PYTHONPATH: ../..", f"PYTHONPATH: {ROOT}"))
    return dest


@contextmanager
def tascade_serving(release: Path, dsn: str) -> Iterator[str]:
    """The tascade sample service on the live database ``dsn`` (with a demo project for the
    smoke flow; the runner needs ``TASCADE_API_KEY=TASCADE_KEY``), and the copy ``release``'s
    staging target pointed at it; its base URL."""
    start = ServiceStart(
        command=[sys.executable, "-m", "examples.sample_service", "--system", "tascade",
                 "--dsn", "{dsn}", "--port", "{port}", "--log-file", "{log_file}",
                 "--demo-project", "live"],
        env={"PYTHONPATH": str(ROOT), "TASCADE_API_KEY": TASCADE_KEY},
    )
    process, service = start_service(start, {"": dsn}, release / "service.log", Redactor(),
                                     release)
    try:
        spec = release / "runbook.yaml"
        text = spec.read_text()
        assert TASCADE_LIVE_URL in text, f"{spec} has no {TASCADE_LIVE_URL}"
        spec.write_text(text.replace(TASCADE_LIVE_URL, f"base_url: {service.base_url}"))
        yield service.base_url
    finally:
        stop_service(process)
