"""Environment manifest: the variables the deployment needs are set, and none has a value that is
forbidden on this target, in the environment ``env.source_on`` names for it (the runner's by
default). Values are never shown."""

from __future__ import annotations

import pytest

from deploy_gates.fixtures.targets import Target, known_runbook, parametrize_per_target
from deploy_gates.reports.evidence import GateEvidence
from deploy_gates.verify.envsource import TargetEnvironment
from deploy_gates.verify.outcome import require

pytestmark = pytest.mark.predeploy


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    env = known_runbook(metafunc.config).env
    if "required_var" in metafunc.fixturenames:

        def required(target: str) -> list[tuple[str, str]]:
            names = [*env.required, *env.required_on.get(target, [])] if env else []
            return [(name, name) for name in dict.fromkeys(names)]

        parametrize_per_target(metafunc, "required_var", required)
    if "forbidden" in metafunc.fixturenames:

        def forbidden(target: str) -> list[tuple[str, tuple[str, str]]]:
            pairs = env.forbidden_on.get(target, {}).items() if env else []
            return [(name, (name, value)) for name, value in pairs]

        parametrize_per_target(metafunc, "forbidden", forbidden)


def test_env_required(
    required_var: str, target: Target, target_environment: TargetEnvironment,
    evidence: GateEvidence,
) -> None:
    environment = readable(target_environment)
    value = environment.values.get(required_var)
    state = "not set" if value is None else "empty" if not value.strip() else None
    evidence.add(_title(target, environment), f"{required_var}: {state or 'set (value not shown)'}")
    require(state and f"expected {required_var} set; found: {state}")


def test_env_forbidden(
    forbidden: tuple[str, str], target: Target, target_environment: TargetEnvironment,
    evidence: GateEvidence,
) -> None:
    environment = readable(target_environment)
    name, banned = forbidden
    value = environment.values.get(name)
    hit = value is not None and value.strip() == banned.strip()
    state = "not set" if value is None else "the forbidden value" if hit else "another value"
    evidence.add(_title(target, environment), f"{name}: {state}")
    require(
        hit
        and f"expected {name} not to have its forbidden value on {target.name}; "
        "found: it has the forbidden value"
    )


def readable(environment: TargetEnvironment) -> TargetEnvironment:
    """``environment``; when it could not be read, every env gate fails with the same line."""
    __tracebackhide__ = True
    require(environment.problem)
    return environment


def _title(target: Target, environment: TargetEnvironment) -> str:
    where = "" if environment.runner else f": {environment.source}"
    return f"environment for {target.name}{where}"
