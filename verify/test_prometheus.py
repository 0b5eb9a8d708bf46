"""Prometheus gates: each PromQL query of the spec meets its threshold within its poll window;
"no data" is its own outcome, failed or inconclusive as the spec says."""

from __future__ import annotations

import pytest

from deploy_gates.fixtures.targets import known_runbook
from deploy_gates.progress import Progress
from deploy_gates.reports.evidence import GateEvidence
from deploy_gates.spec.sections import PromQuery
from deploy_gates.verify.outcome import fail_gate, inconclusive
from deploy_gates.verify.promql import Prometheus, poll

pytestmark = pytest.mark.postdeploy


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "query" in metafunc.fixturenames:
        queries = known_runbook(metafunc.config).prometheus
        metafunc.parametrize("query", list(queries.values()), ids=list(queries))


def test_prometheus(
    query: PromQuery, prometheus: Prometheus, evidence: GateEvidence, progress: Progress
) -> None:
    verdict = poll(prometheus, query, progress)
    evidence.add(
        f"{query.query} (expect {query.expect.strip()}) at {prometheus.url}",
        "\n".join(map(str, verdict.attempts)),
    )
    if verdict.outcome == "no data" and query.no_data == "inconclusive":
        inconclusive(verdict.message)
    if verdict.outcome != "passed":
        fail_gate(verdict.message)
