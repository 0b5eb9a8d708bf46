"""``pytest -n`` (pytest-xdist): one throwaway database per worker, the rehearsal on one worker,
one merged report that says what a run in one process says."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from deploy_gates.parallel import gate_scope
from tests.gaterun import gates, summary


def comparable(gates_by_name: dict[str, dict]) -> dict[str, tuple]:
    """What must not depend on how the run was spread over processes."""
    return {
        name: (g["outcome"], g["severity"], g["step"], g["message"], len(g["evidence"]))
        for name, g in gates_by_name.items()
    }


def test_two_workers_report_what_one_process_reports(
    pytester: pytest.Pytester, release: Path
) -> None:
    gates(pytester, release, "--target=rehearsal", "-p", "no:xdist").assert_outcomes(passed=220)
    alone = summary(release)
    shutil.rmtree(release / "reports")

    result = gates(pytester, release, "--target=rehearsal", "-n", "2")
    result.assert_outcomes(passed=220)
    result.stdout.fnmatch_lines(["GO: 220 passed, 0 failed, 0 skipped"])
    spread = summary(release)  # one JSON summary: the workers' reports merged
    assert comparable(spread) == comparable(alone)
    assert any(g["evidence"] for g in spread.values())
    (junit,) = (release / "reports").glob("*.xml")
    assert len(ET.parse(junit).getroot().findall(".//testcase")) == 220
    assert len(list((release / "reports").glob("*.html"))) == 1

    logs = [p.name for p in (release / "reports").glob("*.log")]
    rehearsal_workers = {
        m.group(1) for name in logs
        if (m := re.fullmatch(r"rehearsal-(gw\d+)-(?:baseline|migrate-up|down|migrate-up-again)-.*", name))
    }
    assert len(rehearsal_workers) == 1, logs  # every ordered step on the same worker
    workers = {worker for name in logs for worker in re.findall(r"-(gw\d+)-", name)}
    assert workers == {"gw0", "gw1"}, logs  # both worked, each on a database of its own


def test_a_broken_rollback_is_named_when_spread_over_workers(
    pytester: pytest.Pytester, release: Path
) -> None:
    down = release / "down" / "0008_metrics_alerts.sql"
    down.write_text(down.read_text().replace("DROP TYPE IF EXISTS metrics_alert_severity;", ""))
    result = gates(pytester, release, "--target=rehearsal", "-n", "2")
    assert result.ret == 1
    gate = summary(release)["test_absent_after_down[enum:metrics_alert_severity]"]
    assert gate["outcome"] == "failed"
    assert gate["message"] == ("expected enum metrics_alert_severity to be gone after rollback; "
                               "found: it is still there")


@pytest.mark.parametrize(("nodeid", "scope"), [
    ("verify/test_rehearsal.py::test_baseline", "verify/test_rehearsal.py"),
    ("verify/test_rehearsal.py::test_column[a.b]", "verify/test_rehearsal.py"),
    ("verify/test_schema.py::test_column[jobs.id]", "verify/test_schema.py::test_column[jobs.id]"),
    ("verify/test_prometheus.py::test_prometheus[p95]",
     "verify/test_prometheus.py::test_prometheus[p95]"),
    ("verify/test_health.py::test_health[GET /health]", "verify/service"),
    ("verify/test_logs.py::test_logs_absent[ ERROR ]", "verify/service"),
    ("verify/test_smoke.py::test_smoke[refund_path]", "verify/service"),
    ("gates/test_schema.py::test_mine", "gates/test_schema.py"),
    ("test_custom.py::test_a", "test_custom.py"),
])
def test_gate_scope_keeps_ordered_and_shared_gates_together(nodeid: str, scope: str) -> None:
    assert gate_scope(nodeid) == scope
