"""Health gates: each endpoint answers with the status, JSON, headers and latency the spec wants."""

from __future__ import annotations

import pytest

from fixtures.evidence import GateEvidence
from fixtures.targets import known_runbook
from verify.flows import FlowRun, describe
from verify.http import Http
from verify.outcome import require
from verify.redact import Redactor
from verify.sections import Flow, Request

pytestmark = pytest.mark.postdeploy


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "check" in metafunc.fixturenames:
        checks = known_runbook(metafunc.config).health
        metafunc.parametrize("check", checks, ids=[describe(c) for c in checks])


def test_health(
    check: Request, http: Http, evidence: GateEvidence, redactor: Redactor
) -> None:
    run = FlowRun(http, connect=_no_database, redactor=redactor)
    problems = run.run(Flow(steps=[check], destructive=False))
    evidence.extend(run.evidence)
    require(problems and problems[0].removeprefix(f"step 1 ({describe(check)}): "))


def _no_database() -> None:
    raise AssertionError("health checks do not query the database")
