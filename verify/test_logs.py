"""Logs: the last lines of the service's log hold none of the patterns that must be absent and
each pattern that must be present. They run last, so the log shows the other gates' traffic."""

from __future__ import annotations

import re

import pytest

from deploy_gates.fixtures.targets import known_runbook
from deploy_gates.redact import Redactor
from deploy_gates.reports.evidence import GateEvidence
from deploy_gates.verify.logsource import EXCERPT_CHARS, LogRead
from deploy_gates.verify.outcome import fail_gate, require

pytestmark = [pytest.mark.postdeploy, pytest.mark.order(-1)]
SHOWN_LINES = 20


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for name, kind in (("absent_pattern", "absent"), ("present_pattern", "present")):
        if name in metafunc.fixturenames:
            spec = known_runbook(metafunc.config).logs
            patterns = getattr(spec, kind) if spec else []
            metafunc.parametrize(name, patterns, ids=patterns)


def test_logs_absent(
    absent_pattern: str, logs: LogRead, redactor: Redactor, evidence: GateEvidence
) -> None:
    found = matching(absent_pattern, logs, redactor, evidence)
    require(
        found
        and f"expected no log line matching {absent_pattern!r}; found {len(found)} of "
        f"{len(logs.lines)} lines, first: {found[0][:EXCERPT_CHARS]}"
    )


def test_logs_present(
    present_pattern: str, logs: LogRead, redactor: Redactor, evidence: GateEvidence
) -> None:
    found = matching(present_pattern, logs, redactor, evidence)
    read = f"none in the {len(logs.lines)} lines read" if logs.lines else "none: the log is empty"
    require(not found and f"expected a log line matching {present_pattern!r}; found {read}")


def matching(pattern: str, logs: LogRead, redactor: Redactor, evidence: GateEvidence) -> list[str]:
    """The (redacted) lines of ``logs`` that ``pattern`` (a regular expression) finds."""
    require(logs.problem)
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        fail_gate(f"logs pattern {pattern!r} is not a regular expression: {exc}")
    found = [redactor(line) for line in logs.lines if regex.search(line)]
    evidence.add(
        "log",
        f"{logs.source}: {len(logs.lines)} lines read, {len(found)} matching {pattern!r}\n"
        + "\n".join(found[:SHOWN_LINES]),
    )
    return found
