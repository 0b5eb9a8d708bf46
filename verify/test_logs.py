"""Logs: the last lines of the service's log hold none of the patterns that must be absent and
each pattern that must be present. They run last, so the log shows the other gates' traffic."""

from __future__ import annotations

import time

import pytest

from deploy_gates.fixtures.targets import known_runbook
from deploy_gates.redact import Redactor
from deploy_gates.reports.evidence import GateEvidence
from deploy_gates.spec.runbook import Runbook
from deploy_gates.verify.excerpt import clip
from deploy_gates.verify.logsource import EXCERPT_CHARS, LogRead
from deploy_gates.verify.outcome import fail_gate, require

pytestmark = [pytest.mark.postdeploy, pytest.mark.order(-1)]
SHOWN_LINES = 20
SHOWN_CHARS = 1000


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for name, kind in (("absent_pattern", "absent"), ("present_pattern", "present")):
        if name in metafunc.fixturenames:
            spec = known_runbook(metafunc.config).logs
            patterns = getattr(spec, kind) if spec else []
            metafunc.parametrize(name, patterns, ids=patterns)


def test_logs_absent(
    absent_pattern: str, logs: LogRead, runbook: Runbook, redactor: Redactor,
    evidence: GateEvidence,
) -> None:
    found = matching(absent_pattern, logs, runbook.logs.match_timeout, redactor, evidence)
    require(
        found
        and f"expected no log line matching {absent_pattern!r}; found {len(found)} of "
        f"{len(logs.lines)} lines, first: {clip(found[0], EXCERPT_CHARS)}"
    )


def test_logs_present(
    present_pattern: str, logs: LogRead, runbook: Runbook, redactor: Redactor,
    evidence: GateEvidence,
) -> None:
    found = matching(present_pattern, logs, runbook.logs.match_timeout, redactor, evidence)
    read = f"none in the {len(logs.lines)} lines read" if logs.lines else "none: the log is empty"
    require(not found and f"expected a log line matching {present_pattern!r}; found {read}")


def matching(pattern: str, logs: LogRead, timeout_s: float, redactor: Redactor,
             evidence: GateEvidence) -> list[str]:
    """The (redacted) lines of ``logs`` that ``pattern`` (a regular expression of the ``regex``
    package) finds, all of them searched within ``timeout_s`` of CPU time (the time the
    ``regex`` package's timeout counts)."""
    import regex

    require(logs.problem)
    try:
        compiled = regex.compile(pattern)
    except regex.error as exc:
        fail_gate(f"logs pattern {pattern!r} is not a regular expression: {exc}")
    ends = time.process_time() + timeout_s
    found = []
    for number, line in enumerate(logs.lines, 1):
        try:
            hit = compiled.search(line, timeout=max(ends - time.process_time(), 0.001))
        except TimeoutError:
            fail_gate(f"logs pattern {pattern!r} did not finish within {timeout_s:g} s of CPU "
                      f"time (logs.match_timeout), at line {number} of {len(logs.lines)}: "
                      "simplify it")
        if hit:
            found.append(redactor(line))
    read = f"{len(logs.lines)} lines read" + (f" ({logs.note})" if logs.note else "")
    evidence.add(
        "log",
        f"{logs.source}: {read}, {len(found)} matching {pattern!r}\n"
        + "\n".join(clip(line, SHOWN_CHARS) for line in found[:SHOWN_LINES]),
    )
    return found
