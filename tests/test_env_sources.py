"""The environment of the target itself: a real service process read through /proc on the local
testinfra host (found by name or pidfile), a command printing NAME=value lines, a Kubernetes
secret's keys from a command. Values never reach an output."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.test_env_logs_tools import outcomes, outputs, run

WEBHOOK = f"https://discord.com/api/webhooks/1234/planted-{uuid.uuid4().hex}"
SERVICE_ENV = {"DISCORD_WORKFLOW_WEBHOOK": WEBHOOK, "TASCADE_AUTH_DISABLED": "1",
               "DG_MODE": f"planted-{uuid.uuid4().hex}"}
MANIFEST = """
env:
  required_on: {{staging: [DISCORD_WORKFLOW_WEBHOOK, SLACK_ALERT_WEBHOOK]}}
  forbidden_on: {{staging: {{TASCADE_AUTH_DISABLED: "1", DG_MODE: debug}}}}
  source_on: {{staging: {source}}}
"""
EXPECTED = {
    "test_env_required[DISCORD_WORKFLOW_WEBHOOK]": "passed",
    "test_env_required[SLACK_ALERT_WEBHOOK]": "failed",
    "test_env_forbidden[TASCADE_AUTH_DISABLED]": "failed",
    "test_env_forbidden[DG_MODE]": "passed",
}


@dataclass(frozen=True)
class Service:
    name: str
    pid: int
    pidfile: Path


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """A real process with a known environment, under a name of its own (its executable's)."""
    name = f"dgsvc{uuid.uuid4().hex[:8]}"
    (tmp_path / name).symlink_to(sys.executable)
    process = subprocess.Popen(
        [str(tmp_path / name), "-c", "import time; time.sleep(60)"],
        env={"PATH": os.environ["PATH"], **SERVICE_ENV},
    )
    pidfile = tmp_path / "service.pid"
    pidfile.write_text(f"{process.pid}\n")
    try:
        yield Service(name, process.pid, pidfile)
    finally:
        process.kill()
        process.wait(10)


@pytest.fixture(autouse=True)
def runner_without_the_service_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*SERVICE_ENV, "SLACK_ALERT_WEBHOOK"]:
        monkeypatch.delenv(name, raising=False)


def check(pytester: pytest.Pytester, source: str) -> tuple[dict, str]:
    result, gates = run(pytester, MANIFEST.format(source=source), "env", target="staging")
    everything = outputs(result, pytester)
    for value in (WEBHOOK, SERVICE_ENV["DG_MODE"]):
        assert value not in everything
    return gates, everything


def test_a_service_process_found_by_name(pytester: pytest.Pytester, service: Service) -> None:
    gates, _ = check(pytester, f"{{process: {service.name}}}")
    assert outcomes(gates) == EXPECTED
    assert gates["test_env_forbidden[TASCADE_AUTH_DISABLED]"]["message"] == (
        "expected TASCADE_AUTH_DISABLED not to have its forbidden value on staging; "
        "found: it has the forbidden value")
    assert gates["test_env_required[SLACK_ALERT_WEBHOOK]"]["message"] == (
        "expected SLACK_ALERT_WEBHOOK set; found: not set")
    assert gates["test_env_forbidden[DG_MODE]"]["evidence"] == [
        {"title": f"environment for staging: process {service.name} (pid {service.pid}) on "
                  "local://", "text": "DG_MODE: another value"}]


def test_a_service_process_found_by_pidfile(pytester: pytest.Pytester, service: Service) -> None:
    gates, _ = check(pytester, f"{{pidfile: {service.pidfile}}}")
    assert outcomes(gates) == EXPECTED


def test_a_command_printing_the_environment(pytester: pytest.Pytester) -> None:
    lines = "".join(f"{k}={v}\\n" for k, v in SERVICE_ENV.items())
    gates, _ = check(pytester, f"{{command: [{sys.executable}, -c, 'print(\"{lines}\", end=\"\")']}}")
    assert outcomes(gates) == EXPECTED


def test_a_kubernetes_secret_from_a_command(pytester: pytest.Pytester, tmp_path: Path) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "api-secrets"},
              "data": {k: base64.b64encode(v.encode()).decode() for k, v in SERVICE_ENV.items()}}
    (tmp_path / "secret.json").write_text(json.dumps(secret))
    gates, _ = check(pytester, f"{{secret: [cat, {tmp_path / 'secret.json'}]}}")
    assert outcomes(gates) == EXPECTED


def test_an_unreadable_source_fails_every_env_gate_with_one_line(pytester: pytest.Pytester) -> None:
    gates, _ = check(pytester, "{process: dg-no-such-proc}")
    assert {g["message"] for g in gates.values()} == {
        "env source process dg-no-such-proc on local://: no process of that name"}
    gates, _ = check(pytester, f"{{command: [{sys.executable}, -c, 'import sys; sys.exit(3)']}}")
    assert {g["outcome"] for g in gates.values()} == {"failed"}
    assert all(" exited with status 3" in g["message"] for g in gates.values())


def readable(path: str) -> bool:
    try:
        Path(path).read_bytes()
    except OSError:
        return False
    return True


@pytest.mark.skipif(readable("/proc/1/environ"), reason="this user reads every process's environment")
def test_another_users_process_is_a_permission_error(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    (tmp_path / "init.pid").write_text("1\n")
    gates, _ = check(pytester, f"{{pidfile: {tmp_path / 'init.pid'}}}")
    assert {g["message"] for g in gates.values()} == {
        f"env source pidfile {tmp_path / 'init.pid'} on local://: cannot read /proc/1/environ: "
        "Permission denied"}
