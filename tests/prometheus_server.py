"""A real Prometheus (Debian's ``prometheus`` package) for the tests, scraping loopback targets."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from deploy_gates.fixtures.ephemeral.server import free_loopback_port
from deploy_gates.fixtures.service import stop_service

START_DEADLINE_S = 30.0
TIMEOUT_S = 5.0


def debian_binary(name: str) -> str:
    """``prometheus`` or ``promtool`` from Debian's ``prometheus`` package; the test is skipped
    without it, and fails with CI=true (CI installs it)."""
    found = shutil.which(name)
    if found:
        return found
    reason = f"no {name} binary on PATH (Debian package prometheus)"
    if os.environ.get("CI", "").lower() in {"true", "1"}:
        pytest.fail(f"CI=true, so the Prometheus tests must run, but {reason}", pytrace=False)
    pytest.skip(reason)


@contextmanager
def running_prometheus(scrape: list[str], workdir: Path) -> Iterator[str]:
    """A Prometheus scraping ``scrape`` (``host:port``) every second; yields its base URL once
    it has scraped every target at least once."""
    binary = debian_binary("prometheus")
    port = free_loopback_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    targets = ", ".join(f'"{t}"' for t in scrape)
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"scrape_configs:\n  - job_name: service\n    static_configs: [{{targets: [{targets}]}}]\n"
    )
    log = workdir / "prometheus.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=sink, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_scraped(url, len(scrape), process, log)
        yield url
    finally:
        stop_service(process)


def _wait_until_scraped(url: str, targets: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    seen = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            answer = requests.get(f"{url}/api/v1/query", params={"query": "up"}, timeout=TIMEOUT_S)
            result = answer.json()["data"]["result"]
            if len(result) == targets:
                return
            seen = f"{len(result)} of {targets} targets scraped"
        except (requests.RequestException, ValueError, KeyError) as exc:
            seen = str(exc)
        time.sleep(0.2)
    raise RuntimeError(f"prometheus at {url} not ready within {START_DEADLINE_S:g} s ({seen}):\n"
                       + log.read_text(errors="replace")[-2000:])
