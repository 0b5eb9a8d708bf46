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
def sample_serving(system: str, dsn: str, workdir: Path, *args: str,
                   env: dict[str, str] | None = None, ready: str = "/health") -> Iterator[str]:
    """The sample service as ``system`` (with ``args``) on the database ``dsn``, logging in
    ``workdir``, as a deployment's own service answers a live target; its base URL."""
    start = ServiceStart(
        command=[sys.executable, "-m", "examples.sample_service", "--system", system,
                 "--dsn", "{dsn}", "--port", "{port}", "--log-file", "{log_file}", *args],
        env={"PYTHONPATH": str(ROOT), **(env or {})}, ready=ready,
    )
    process, service = start_service(start, {"": dsn}, workdir / "service.log", Redactor(),
                                     workdir)
    try:
        yield service.base_url
    finally:
        stop_service(process)


@contextmanager
def tascade_serving(release: Path, dsn: str) -> Iterator[str]:
    """The tascade sample service on the live database ``dsn`` (with a demo project for the
    smoke flow; the runner needs ``TASCADE_API_KEY=TASCADE_KEY``), and the copy ``release``'s
    staging target pointed at it; its base URL."""
    with sample_serving("tascade", dsn, release, "--demo-project", "live",
                        env={"TASCADE_API_KEY": TASCADE_KEY}) as base_url:
        spec = release / "runbook.yaml"
        text = spec.read_text()
        assert TASCADE_LIVE_URL in text, f"{spec} has no {TASCADE_LIVE_URL}"
        spec.write_text(text.replace(TASCADE_LIVE_URL, f"base_url: {base_url}"))
        yield base_url
