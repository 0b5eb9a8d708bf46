"""Tools: each one the runbook needs is on PATH of the target's host (or the runner) and new
enough. The host is reached with pytest-testinfra."""

from __future__ import annotations

import pytest

from deploy_gates.fixtures.hostside import host_spec
from deploy_gates.fixtures.targets import Target, known_runbook, parametrize_per_target
from deploy_gates.reports.evidence import GateEvidence
from deploy_gates.verify.outcome import require
from deploy_gates.verify.versions import Host, check_tool

pytestmark = pytest.mark.predeploy


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "tool" in metafunc.fixturenames:
        spec = known_runbook(metafunc.config)

        def tools(target: str) -> list[tuple[str, tuple[str, str]]]:
            wanted = {**spec.tools, **spec.tools_on.get(target, {})}
            return [(tool, (tool, requirement)) for tool, requirement in wanted.items()]

        parametrize_per_target(metafunc, "tool", tools)


def test_tool(
    tool: tuple[str, str], host: Host, target: Target, evidence: GateEvidence
) -> None:
    name, requirement = tool
    check = check_tool(host, host_spec(target), name, requirement)
    evidence.add(f"{host_spec(target)}: {check.command}", check.output or "(no output)")
    require(check.problem)
