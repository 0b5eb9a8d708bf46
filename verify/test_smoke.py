"""Smoke flows: multi-step HTTP flows with saved values, database and metric checks, and cleanup."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from deploy_gates.fixtures.service import Service
from deploy_gates.fixtures.targets import Target, connect, known_runbook
from deploy_gates.progress import Progress
from deploy_gates.redact import Redactor
from deploy_gates.reports.evidence import GateEvidence
from deploy_gates.spec.runbook import Runbook
from deploy_gates.spec.sections import Flow, Metrics
from deploy_gates.verify.flows import FlowRun
from deploy_gates.verify.http import Http
from deploy_gates.verify.outcome import require

pytestmark = pytest.mark.postdeploy


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "flow" in metafunc.fixturenames:
        flows = known_runbook(metafunc.config).smoke
        metafunc.parametrize(
            "flow",
            [
                pytest.param(
                    flow, id=name, marks=[pytest.mark.destructive] if flow.destructive else []
                )
                for name, flow in flows.items()
            ],
        )


@pytest.fixture
def connect_db(
    request: pytest.FixtureRequest, target: Target
) -> Callable[[str | None], psycopg.Connection]:
    """Connections for SQL steps to a database by key, the first without one (read-only on live
    targets), opened only when a step needs one."""
    def open_database(key: str | None) -> psycopg.Connection:
        dsns = request.getfixturevalue("target_dsns")
        return connect(dsns[key] if key else next(iter(dsns.values())), target)

    return open_database


def test_smoke(
    flow: Flow,
    service: Service,
    http: Http,
    connect_db: Callable[[str | None], psycopg.Connection],
    runbook: Runbook,
    evidence: GateEvidence,
    redactor: Redactor,
    progress: Progress,
) -> None:
    run = FlowRun(http, connect=connect_db, redactor=redactor, metrics=runbook.metrics or Metrics(),
                  progress=progress, env=service.env)
    problems = run.run(flow)
    evidence.extend(run.evidence)
    require(problems and "; ".join(problems))
