"""Health gates: each endpoint answers with the status, JSON, headers and latency the spec wants."""

from __future__ import annotations

import pytest

from deploy_gates.fixtures.service import Service
from deploy_gates.fixtures.targets import known_runbook
from deploy_gates.redact import Redactor
from deploy_gates.reports.evidence import GateEvidence
from deploy_gates.spec.sections import Flow, Request
from deploy_gates.verify.flows import FlowRun, describe
from deploy_gates.verify.http import Http
from deploy_gates.verify.outcome import require

pytestmark = pytest.mark.postdeploy


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "check" in metafunc.fixturenames:
        checks = known_runbook(metafunc.config).health
        metafunc.parametrize("check", checks, ids=[describe(c) for c in checks])


def test_health(
    check: Request, service: Service, http: Http, evidence: GateEvidence, redactor: Redactor
) -> None:
    run = FlowRun(http, connect=_no_database, redactor=redactor, env=service.env)
    problems = run.run(Flow(steps=[check], destructive=False))
    evidence.extend(run.evidence)
    require(problems and problems[0].removeprefix(f"step 1 ({describe(check)}): "))


def _no_database(_key: str | None) -> None:
    raise AssertionError("health checks do not query the database")
