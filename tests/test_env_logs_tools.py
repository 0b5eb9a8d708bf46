"""Environment manifest, log and tool gates, run the way users run them against specs written
here: the real sample service's log, real commands, real and fake binaries on PATH."""

from __future__ import annotations

import json
import shutil
import sys
import time
import uuid
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from deploy_gates.verify import logsource
from deploy_gates.verify.logsource import read_command, read_file
from deploy_gates.verify.versions import Requirement, parse_version

ROOT = Path(__file__).resolve().parent.parent

TARGETS = """\
system: demo
release: "1"
secrets: [DG_LOG_SECRET]
targets:
  rehearsal:
    kind: ephemeral
    provider: embedded
    start:
      command: [{python}, -m, examples.sample_service, --system, router-api, --dsn, "{{dsn}}",
                --port, "{{port}}", --log-file, "{{log_file}}", --faults, log_error]
  staging: {{kind: live, dsn_env: DG_STAGING_DSN, host: "{host}"}}
  prod: {{kind: live, dsn_env: DG_PROD_DSN, protected: true}}
"""


def run(pytester: pytest.Pytester, body: str, *gates: str, target: str = "staging",
        host: str = "local://") -> tuple[pytest.RunResult, dict]:
    """Write the spec, run the named gate modules of verify/ on ``target``; the JSON gates."""
    pytester.makefile(".yaml", runbook=TARGETS.format(python=sys.executable, host=host) + body)
    out = pytester.path / f"out-{uuid.uuid4().hex[:6]}"
    result = pytester.runpytest_subprocess(
        "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
        *(str(ROOT / "verify" / f"test_{gate}.py") for gate in gates),
        f"--runbook={pytester.path / 'runbook.yaml'}", f"--report-dir={out}",
        f"--target={target}", "-rA", timeout=120,
    )
    (path,) = out.glob("*.json")
    return result, {g["name"]: g for g in json.loads(path.read_text())["gates"]}


def outputs(result: pytest.RunResult, pytester: pytest.Pytester) -> str:
    """Everything the run printed or wrote."""
    written = [p.read_text(errors="replace") for p in pytester.path.glob("out-*/*") if p.is_file()]
    return "\n".join([result.stdout.str(), result.stderr.str(), *written])


def outcomes(gates: dict) -> dict[str, str]:
    return {name: gate["outcome"] for name, gate in gates.items()}


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sample service is started as ``python -m examples.sample_service`` from the repo."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))


# Environment manifest

ENV = """
env:
  required: [TASCADE_DATABASE_URL, DG_EMPTY, DG_MISSING]
  required_on: {prod: [TASCADE_API_KEY], staging: [DG_STAGING_ONLY]}
  forbidden_on:
    prod: {TASCADE_AUTH_DISABLED: "1", DG_MODE: debug}
"""


def test_env_manifest_names_each_variable_and_never_its_value(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {name: f"planted-{uuid.uuid4().hex}" for name in
               ("TASCADE_DATABASE_URL", "TASCADE_API_KEY", "DG_MODE")}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DG_EMPTY", "  ")
    monkeypatch.delenv("DG_MISSING", raising=False)
    monkeypatch.setenv("TASCADE_AUTH_DISABLED", "1")
    result, gates = run(pytester, ENV, "env", target="prod")
    assert outcomes(gates) == {
        "test_env_required[TASCADE_DATABASE_URL]": "passed",
        "test_env_required[DG_EMPTY]": "failed",
        "test_env_required[DG_MISSING]": "failed",
        "test_env_required[TASCADE_API_KEY]": "passed",
        "test_env_forbidden[TASCADE_AUTH_DISABLED]": "failed",
        "test_env_forbidden[DG_MODE]": "passed",
    }
    assert gates["test_env_required[DG_MISSING]"]["message"] == (
        "expected DG_MISSING set; found: not set")
    assert gates["test_env_required[DG_EMPTY]"]["message"] == "expected DG_EMPTY set; found: empty"
    assert gates["test_env_forbidden[TASCADE_AUTH_DISABLED]"]["message"] == (
        "expected TASCADE_AUTH_DISABLED not to have its forbidden value on prod; "
        "found: it has the forbidden value")
    assert gates["test_env_forbidden[DG_MODE]"]["evidence"] == [
        {"title": "environment for prod", "text": "DG_MODE: another value"}]
    everything = outputs(result, pytester)
    for value in secrets.values():
        assert value not in everything


def test_env_manifest_follows_the_target(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TASCADE_DATABASE_URL", "DG_EMPTY", "DG_MISSING", "DG_STAGING_ONLY"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("TASCADE_AUTH_DISABLED", "1")  # forbidden on prod only
    monkeypatch.delenv("TASCADE_API_KEY", raising=False)  # required on prod only
    _, gates = run(pytester, ENV, "env", target="staging")
    assert outcomes(gates) == {
        "test_env_required[TASCADE_DATABASE_URL]": "passed",
        "test_env_required[DG_EMPTY]": "passed",
        "test_env_required[DG_MISSING]": "passed",
        "test_env_required[DG_STAGING_ONLY]": "passed",
    }


# Tools

FAKE_TOOLS = {
    # answers only the table's version command, like the real one (too old here)
    "kubectl": 'if [ "$*" = "version --client" ]; then echo "Client Version: v1.27.3";'
               ' echo "Kustomize Version: v5.0.1"; else echo "unknown flags: $*" >&2; exit 2; fi',
    # any other tool is asked for --version
    "deployctl": '[ "$1" = "--version" ] && echo "deployctl version 2.4.1 (build 7f3c2e1)"',
    "brokentool": 'echo "brokentool: cannot read /etc/brokentool.yaml" >&2; exit 3',
    "quiettool": 'echo "deploy helper, build unknown"',
}


@pytest.fixture
def fake_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Small scripts on PATH (first) that print a version the way real tools do."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, script in FAKE_TOOLS.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{script}\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin")
    return bin_dir


REAL_TOOLS = {"psql": ">=12", "terraform": ">=1.0", "python3": ">=3.11"}


def test_tools_pass_fail_and_say_why(pytester: pytest.Pytester, fake_tools: Path) -> None:
    real = {tool: req for tool, req in REAL_TOOLS.items() if shutil.which(tool)}
    tools = {**real, "kubectl": ">=1.28", "deployctl": "==2.4", "brokentool": ">=1",
             "quiettool": ">=1", "no-such-tool-xyz": ">=1"}
    body = "tools:\n" + "".join(f'  {tool}: "{req}"\n' for tool, req in tools.items())
    _, gates = run(pytester, body, "tools")
    assert outcomes(gates) == {
        **{f"test_tool[{tool}]": "passed" for tool in real},
        "test_tool[kubectl]": "failed",
        "test_tool[deployctl]": "passed",
        "test_tool[brokentool]": "failed",
        "test_tool[quiettool]": "failed",
        "test_tool[no-such-tool-xyz]": "failed",
    }
    messages = {name: gate["message"] for name, gate in gates.items()}
    assert messages["test_tool[kubectl]"] == "expected kubectl >= 1.28; found 1.27.3"
    assert messages["test_tool[brokentool]"] == (
        "expected brokentool >= 1; found: `brokentool --version` exited with status 3: "
        "brokentool: cannot read /etc/brokentool.yaml")
    assert messages["test_tool[quiettool]"] == (
        "expected quiettool >= 1; found no version in the output of `quiettool --version`: "
        "'deploy helper, build unknown'")
    assert messages["test_tool[no-such-tool-xyz]"] == (
        "expected no-such-tool-xyz >= 1; found: no-such-tool-xyz is not on PATH of local://")
    assert gates["test_tool[kubectl]"]["evidence"][0]["title"] == "local://: kubectl version --client"


def test_custom_gates_get_the_testinfra_host(pytester: pytest.Pytester, fake_tools: Path) -> None:
    pytester.makefile(".yaml", runbook=TARGETS.format(python=sys.executable, host="local://"))
    pytester.makeini("[pytest]\nrunbook = runbook.yaml\nreport_dir = out\n")
    pytester.makepyfile(test_custom="""
        def test_deployctl_on_the_host(host):
            assert host.exists("deployctl")
            assert host.run("deployctl --version").stdout.startswith("deployctl version 2.4.1")
    """)
    pytester.runpytest_subprocess("--target=staging", "test_custom.py").assert_outcomes(
        passed=1)


def test_tools_on_follow_the_target(pytester: pytest.Pytester, fake_tools: Path) -> None:
    body = 'tools: {deployctl: "==2.4"}\ntools_on: {prod: {kubectl: ">=1.28"}}\n'
    _, gates = run(pytester, body, "tools", target="staging")
    assert outcomes(gates) == {"test_tool[deployctl]": "passed"}
    _, gates = run(pytester, body, "tools", target="prod")
    assert outcomes(gates) == {"test_tool[deployctl]": "passed", "test_tool[kubectl]": "failed"}
    _, gates = run(pytester, body, "tools", target="staging,prod")
    assert outcomes(gates) == {"test_tool[deployctl-staging]": "passed",
                               "test_tool[deployctl-prod]": "passed",
                               "test_tool[kubectl-prod]": "failed"}


def test_tools_on_names_a_known_target(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", runbook=TARGETS.format(python=sys.executable, host="local://")
                      + 'tools_on: {prd: {kubectl: ">=1.28"}}\n')
    result = pytester.runpytest_subprocess(
        "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
        f"--runbook={pytester.path / 'runbook.yaml'}", "--target=prod", "--collect-only")
    result.stderr.fnmatch_lines(
        ["*runbook.yaml:13: tools_on.prd: unknown target 'prd' (targets: rehearsal, staging, prod)"])


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs an ssh client")
def test_tools_on_the_targets_host_say_when_it_cannot_be_reached(
    pytester: pytest.Pytester,
) -> None:
    host = "ssh://deploy@127.0.0.1:1"
    _, gates = run(pytester, 'tools: {psql: ">=12"}\n', "tools", host=host)
    assert gates["test_tool[psql]"]["message"] == (
        f"expected psql >= 12; found: cannot run commands on {host}: "
        "ssh: connect to host 127.0.0.1 port 1: Connection refused")


@pytest.mark.parametrize(
    ("output", "version"),
    [
        ("Client Version: v1.28.2\nKustomize Version: v5.0.4-0.20230601165947-6ce0bf390ce3",
         (1, 28, 2)),
        ('Client Version: version.Info{Major:"1", Minor:"27", GitVersion:"v1.27.3"}', (1, 27, 3)),
        ('version.BuildInfo{Version:"v3.12.3", GitCommit:"3a31588a", GoVersion:"go1.20.7"}',
         (3, 12, 3)),
        ("Terraform v1.5.7\non linux_amd64", (1, 5, 7)),
        ("aws-cli/2.13.25 Python/3.11.5 Linux/6.1.0 exe/x86_64.debian.12", (2, 13, 25)),
        ("Docker version 24.0.7, build afdd53b", (24, 0, 7)),
        ("psql (PostgreSQL) 15.5 (Debian 15.5-0+deb12u1)", (15, 5)),
        ("no version here, build 42", None),
    ],
)
def test_first_version_token_is_read(output: str, version: tuple[int, ...] | None) -> None:
    assert parse_version(output) == version


@pytest.mark.parametrize(
    ("requirement", "found", "allowed"),
    [(">=1.28", (1, 28), True), (">=1.28", (1, 27, 3), False), ("1.28", (1, 100), True),
     (">=1.28", (2, 0), True), (">1.28", (1, 28, 0), False), (">1.28", (1, 28, 1), True),
     ("==1.28", (1, 28, 9), True), ("==1.28", (1, 29), False), (">=24", (24, 0, 7), True)],
)
def test_versions_compare_numerically(
    requirement: str, found: tuple[int, ...], allowed: bool
) -> None:
    assert Requirement.parse(requirement).allows(found) is allowed


# Logs

def test_log_gates_on_the_started_services_log(pytester: pytest.Pytester) -> None:
    body = """
logs:
  file: "{log_file}"
  absent: [" ERROR ", 'column ".*" does not exist', Traceback]
  present: [trace_id, refund reconciled]
"""
    _, gates = run(pytester, body, "logs", target="rehearsal")
    assert outcomes(gates) == {
        "test_logs_absent[ ERROR ]": "failed",
        'test_logs_absent[column ".*" does not exist]': "failed",
        "test_logs_absent[Traceback]": "passed",
        "test_logs_present[trace_id]": "passed",
        "test_logs_present[refund reconciled]": "failed",
    }
    messages = {name: gate["message"] for name, gate in gates.items()}
    assert fnmatchcase(messages["test_logs_absent[ ERROR ]"], (
        "expected no log line matching ' ERROR '; found * of * lines, first: "
        "*Z ERROR sample_service: refund reconciliation failed; retrying on next tick"))
    assert fnmatchcase(messages['test_logs_absent[column ".*" does not exist]'], (
        """expected no log line matching 'column ".*" does not exist'; found * of * lines, first: """
        """*Z ERROR sample_service: psycopg.errors.UndefinedColumn: column "refund_retry_count" """
        """does not exist"""))
    assert fnmatchcase(messages["test_logs_present[refund reconciled]"],
                       "expected a log line matching 'refund reconciled'; found none in the * lines read")
    (evidence,) = gates["test_logs_present[trace_id]"]["evidence"]
    assert fnmatchcase(evidence["text"].splitlines()[0],
                       "file */rehearsal-service-*.log: * lines read, * matching 'trace_id'")


def test_log_command_is_bounded_filled_and_redacted(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"sk-{uuid.uuid4().hex}"
    monkeypatch.setenv("DG_LOG_SECRET", secret)
    body = """
logs:
  command: [sh, -c, 'printf "%s\\n" "ERROR stale failure before the deploy" "INFO boot target={target}"
                     "ERROR payment failed for key $DG_LOG_SECRET" "INFO done trace_id=4bf92f35"']
  tail_lines: 3
  absent: [ERROR]
  present: [target=staging]
"""
    result, gates = run(pytester, body, "logs")
    assert outcomes(gates) == {"test_logs_absent[ERROR]": "failed",
                               "test_logs_present[target=staging]": "passed"}
    assert gates["test_logs_absent[ERROR]"]["message"] == (
        "expected no log line matching 'ERROR'; found 1 of 3 lines, first: "
        "ERROR payment failed for key ***")
    assert secret not in outputs(result, pytester)


NOT_FOUND = 'echo "Error from server (NotFound): deployments.apps \\"router-api\\" not found" >&2; exit 1'


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ({"command": ["no-such-log-command-xyz", "--tail", "100"]},
         "logs command `no-such-log-command-xyz --tail 100`: no-such-log-command-xyz is not on PATH"),
        ({"command": ["sh", "-c", NOT_FOUND]},
         'logs command `*`: exited with status 1: Error from server (NotFound): deployments.apps "router-api" not found'),
        ({"command": ["sh", "-c", "echo started; sleep 30"], "timeout": "1s"},
         "logs command `sh -c 'echo started; sleep 30'`: did not finish within 1 s"),
        ({"file": "logs/missing.log"}, "logs file */logs/missing.log: it does not exist"),
        ({"file": "{log_file}"}, "logs: {log_file} is the log of a service the suite starts; target "
                                 "staging is live: give logs.command or the log file's path"),
    ],
    ids=["command missing", "command fails", "command hangs", "file missing", "no service log"],
)
def test_unreadable_logs_give_each_log_gate_one_line(
    pytester: pytest.Pytester, source: dict, reason: str
) -> None:
    logs = {**source, "absent": ["ERROR"], "present": ["trace_id"]}
    started = time.monotonic()
    _, gates = run(pytester, f"logs: {json.dumps(logs)}\n", "logs")
    assert time.monotonic() - started < 30
    assert outcomes(gates) == {"test_logs_absent[ERROR]": "failed",
                               "test_logs_present[trace_id]": "failed"}
    for gate in gates.values():
        assert fnmatchcase(gate["message"], reason), gate["message"]


def test_file_is_read_from_its_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logsource, "BLOCK_BYTES", 16)
    log = tmp_path / "service.log"
    log.write_text("".join(f"line {n}\n" for n in range(1, 101)) + "partial")
    read = read_file(log, 4)
    assert read.lines == ("line 98", "line 99", "line 100", "partial")
    assert read_file(log, 1000).lines[0] == "line 1"


def test_command_output_is_kept_to_the_last_lines(tmp_path: Path) -> None:
    read = read_command([sys.executable, "-c", "for n in range(200000): print(n)"], 3, 30, tmp_path)
    assert read.problem is None
    assert read.lines == ("199997", "199998", "199999")
