"""Environment manifest: the variables the deployment needs are set, and none has a value that is
forbidden on this target. Values are never shown."""

from __future__ import annotations

import os

import pytest

from fixtures.evidence import GateEvidence
from fixtures.settings import settings_key
from fixtures.targets import Target, known_runbook
from verify.outcome import require

pytestmark = pytest.mark.predeploy


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = {"required_var", "forbidden"} & set(metafunc.fixturenames)
    if not names:
        return
    env = known_runbook(metafunc.config).env
    target = metafunc.config.stash[settings_key].target
    if "required_var" in names:
        wanted = [*env.required, *env.required_on.get(target, [])] if env else []
        required = list(dict.fromkeys(wanted))
        metafunc.parametrize("required_var", required, ids=required)
    if "forbidden" in names:
        forbidden = list(env.forbidden_on.get(target, {}).items()) if env else []
        metafunc.parametrize("forbidden", forbidden, ids=[name for name, _ in forbidden])


def test_env_required(required_var: str, evidence: GateEvidence) -> None:
    value = os.environ.get(required_var)
    state = "not set" if value is None else "empty" if not value.strip() else None
    evidence.add("environment", f"{required_var}: {state or 'set (value not shown)'}")
    require(state and f"expected {required_var} set; found: {state}")


def test_env_forbidden(forbidden: tuple[str, str], target: Target, evidence: GateEvidence) -> None:
    name, banned = forbidden
    value = os.environ.get(name)
    hit = value is not None and value.strip() == banned.strip()
    state = "not set" if value is None else "the forbidden value" if hit else "another value"
    evidence.add("environment", f"{name}: {state}")
    require(
        hit
        and f"expected {name} not to have its forbidden value on {target.name}; "
        "found: it has the forbidden value"
    )
