"""Tools: each one the runbook needs is on PATH of the target's host (or the runner) and new
enough. The host is reached with pytest-testinfra."""

from __future__ import annotations

import pytest

from deploy_gates.fixtures.hostside import host_spec
from deploy_gates.fixtures.targets import Target, known_runbook
from deploy_gates.reports.evidence import GateEvidence
from deploy_gates.verify.outcome import require
from deploy_gates.verify.versions import Host, check_tool

pytestmark = pytest.mark.predeploy


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "tool" in metafunc.fixturenames:
        tools = known_runbook(metafunc.config).tools
        metafunc.parametrize(("tool", "requirement"), list(tools.items()), ids=list(tools))


def test_tool(
    tool: str, requirement: str, host: Host, target: Target, evidence: GateEvidence
) -> None:
    check = check_tool(host, host_spec(target), tool, requirement)
    evidence.add(f"{host_spec(target)}: {check.command}", check.output or "(no output)")
    require(check.problem)
