"""Polling gates say on the terminal that they are still waiting, at a bounded rate."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from deploy_gates.progress import Progress
from deploy_gates.spec.sections import PromQuery
from deploy_gates.verify.promql import Prometheus, poll
from tests.conftest import answering
from tests.reportrun import gate_project, run


def test_progress_says_at_most_one_line_per_interval() -> None:
    now = [0.0]
    lines: list[str] = []
    progress = Progress(lines.append, "test_prometheus[p95]", every_s=10, clock=lambda: now[0])
    for second in range(26):
        now[0] = float(second)
        progress(f"attempt {second + 1}")
    assert lines == ["deploy-gates: test_prometheus[p95]: waiting, 10 s: attempt 11",
                     "deploy-gates: test_prometheus[p95]: waiting, 20 s: attempt 21"]
    Progress(None, "quiet")("nothing to write to")  # no terminal: no line, no error


@pytest.fixture
def no_data_prometheus() -> Iterator[str]:
    """A Prometheus API on 127.0.0.1 whose every query returns an empty vector."""
    empty = {"status": "success", "data": {"resultType": "vector", "result": []}}
    with answering("application/json", json.dumps(empty).encode()) as url:
        yield url


def test_a_prometheus_poll_reports_each_attempt_that_did_not_end_it(
    no_data_prometheus: str,
) -> None:
    heard: list[str] = []
    client = Prometheus(no_data_prometheus)
    try:
        verdict = poll(client, PromQuery(query="up", expect="> 0", within=1, every=0.25),
                       heard.append)
    finally:
        client.close()
    assert verdict.outcome == "no data"
    assert len(heard) == len(verdict.attempts) - 1 >= 3
    assert heard[0].startswith("attempt 1 of up (expect > 0, within 1 s): ")
    assert heard[0].endswith("no data")


def test_the_progress_fixture_writes_past_output_capture(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = gate_project(pytester, monkeypatch, "GO")
    project.makepyfile(test_wait="""
        def test_wait(target, progress):
            progress.every_s = 0
            progress("attempt 2 of up: token=hunter2-secret")
    """)
    result = run(project, "test_wait.py")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["deploy-gates: test_wait: waiting, 0 s: attempt 2 of up: token=***"])
