"""Smoke flows: multi-step HTTP flows with saved values, database and metric checks, and cleanup."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from fixtures.evidence import GateEvidence
from fixtures.targets import Target, connect, known_runbook
from verify.flows import FlowRun
from verify.http import Http
from verify.outcome import require
from verify.sections import Flow, Metrics
from verify.spec import Runbook

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
def connect_db(request: pytest.FixtureRequest, target: Target) -> Callable[[], psycopg.Connection]:
    """Connections for SQL steps (read-only on live targets), opened only when a step needs one."""
    return lambda: connect(request.getfixturevalue("target_dsn"), target)


def test_smoke(
    flow: Flow,
    http: Http,
    connect_db: Callable[[], psycopg.Connection],
    runbook: Runbook,
    evidence: GateEvidence,
) -> None:
    run = FlowRun(http, connect=connect_db, metrics=runbook.metrics or Metrics())
    problems = run.run(flow)
    evidence.extend(run.evidence)
    require(problems and "; ".join(problems))
