"""Verdict, exit codes, severity, waivers, runbook steps, evidence and the change-ticket summary."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.reportrun import html_rows

SPEC = """\
system: demo
release: "2.0"
runbook:
  title: Demo runbook
  steps: {"I": Environment, "II.1": Schema, "III": Smoke}
targets:
  rehearsal: {kind: ephemeral, provider: embedded}
  staging: {kind: live, dsn_env: DEMO_STAGING_DSN}
  prod: {kind: live, dsn_env: DEMO_PROD_DSN, protected: true}
gates:
  - {match: "test_schema_*", step: "II.1"}
  - {match: "test_schema_index[*]", severity: advisory}
"""

@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for var in ("DEPLOY_GATES_TARGET", "DEPLOY_GATES_WAIVERS", "DEPLOY_GATES_ALLOW_DESTRUCTIVE",
                "DEPLOY_GATES_CONFIRM_PROTECTED", "DEPLOY_GATES_TICKET"):
        monkeypatch.delenv(var, raising=False)
    pytester.makefile(".yaml", runbook=SPEC)
    pytester.makeini("[pytest]\nrunbook = runbook.yaml\nreport_dir = out\n")
    return pytester


def gates(project: pytest.Pytester, *bodies: str) -> None:
    """Write test_gates.py from gate bodies; every gate uses the ``target`` fixture."""
    project.makepyfile(test_gates="import pytest\n\n" + "\n".join(bodies))


def run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest("--target=rehearsal", *args, str(project.path))


def summary(project: pytest.Pytester) -> dict:
    (path,) = (project.path / "out").glob("*.json")
    return json.loads(path.read_text())


PASS = "def test_schema_table(target, evidence):\n    evidence.add('SQL', 'SELECT 1')\n"
FAIL = ("def test_schema_table(target):\n"
        "    pytest.fail('expected table jobs; found: it does not exist', pytrace=False)\n")
ADVISORY_FAIL = "def test_schema_index_x(target):\n    pytest.fail('slow index', pytrace=False)\n"


def test_go_when_every_blocker_passes(project: pytest.Pytester) -> None:
    gates(project, PASS)
    result = run(project)
    assert result.ret == 0
    assert result.outlines[-1] == "GO: 1 passed, 0 failed, 0 skipped"
    assert summary(project)["verdict"] == "GO"


def test_no_go_when_a_blocker_fails(project: pytest.Pytester) -> None:
    gates(project, FAIL)
    result = run(project)
    assert result.ret == 1
    assert result.outlines[-2] == ("deploy-gates verdict NO-GO: 1 blocker gate(s) failed: "
                                   "test_schema_table")
    assert result.outlines[-1] == "NO-GO: 0 passed, 1 failed, 0 skipped"
    data = summary(project)
    assert (data["verdict"], data["exit_status"]) == ("NO-GO", 1)


def test_advisory_failure_keeps_go(project: pytest.Pytester) -> None:
    gates(project, PASS, ADVISORY_FAIL.replace("test_schema_index_x", "test_schema_index"))
    project.makefile(".yaml", runbook=SPEC.replace("test_schema_index[*]", "test_schema_index"))
    result = run(project)
    assert result.ret == 0
    assert result.outlines[-2].endswith("(1 advisory failed)")
    gate = {g["name"]: g for g in summary(project)["gates"]}["test_schema_index"]
    assert (gate["outcome"], gate["severity"]) == ("failed", "advisory")


def test_severity_marker_overrides_the_spec(project: pytest.Pytester) -> None:
    gates(project, PASS, "@pytest.mark.severity('advisory')\n" + FAIL.replace("table", "extra"))
    assert run(project).ret == 0
    gates(project, "@pytest.mark.severity('minor')\n" + PASS)
    result = run(project)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*severity takes 'blocker' or 'advisory', not 'minor'*"])


def test_inconclusive_blocker_gives_inconclusive(project: pytest.Pytester) -> None:
    gates(project, PASS, "def test_metric(target):\n"
                         "    pytest.skip('inconclusive: no data for count(x) within 2m')\n")
    result = run(project)
    assert result.ret == 6
    assert result.outlines[-1] == "INCONCLUSIVE: 1 passed, 0 failed, 1 skipped"
    data = summary(project)
    assert data["verdict_reason"] == "1 blocker gate(s) inconclusive: test_metric"
    gate = {g["name"]: g for g in data["gates"]}["test_metric"]
    assert gate["outcome"] == "inconclusive"


def test_nothing_verified_is_inconclusive(project: pytest.Pytester) -> None:
    gates(project, "def test_skipped(target):\n    pytest.skip('not today')\n")
    result = run(project)
    assert result.ret == 6
    assert summary(project)["verdict_reason"] == "no gate was verified"


def waivers_file(project: pytest.Pytester, expires: date, gate: str = "test_schema_table",
                 extra: str = "") -> Path:
    return project.makefile(".yaml", waivers=(
        f"waivers:\n  - gate: '{gate}'\n    justification: index rebuilt on Monday (OPS-9)\n"
        f"    approver: jane.doe\n    expires: {expires.isoformat()}\n{extra}"))


def test_waiver_waives_a_failing_blocker_until_it_expires(project: pytest.Pytester) -> None:
    gates(project, FAIL)
    tomorrow = date.today() + timedelta(days=1)
    waivers_file(project, tomorrow)
    result = run(project, "--waivers=waivers.yaml")
    assert result.ret == 0
    result.assert_outcomes(xfailed=1)
    gate = summary(project)["gates"][0]
    assert gate["outcome"] == "waived"
    assert gate["waiver"] == (f"waived by jane.doe until {tomorrow}: index rebuilt on Monday "
                              "(OPS-9)")
    markdown = next((project.path / "out").glob("*.md")).read_text()
    assert "### Waived gates" in markdown and "jane.doe" in markdown


def test_expired_waiver_no_longer_waives(project: pytest.Pytester) -> None:
    gates(project, FAIL)
    yesterday = date.today() - timedelta(days=1)
    waivers_file(project, yesterday)
    result = run(project, "--waivers=waivers.yaml")
    assert result.ret == 1
    gate = summary(project)["gates"][0]
    assert gate["outcome"] == "failed"
    assert gate["message"].endswith(f"(waiver expired on {yesterday})")


def test_waiver_for_another_target_does_not_apply(project: pytest.Pytester) -> None:
    gates(project, FAIL)
    waivers_file(project, date.today() + timedelta(days=1), extra="    targets: [staging]\n")
    assert run(project, "--waivers=waivers.yaml").ret == 1


def test_waived_gate_that_passes_is_shown_passed_and_waived(project: pytest.Pytester) -> None:
    gates(project, PASS)
    waivers_file(project, date.today() + timedelta(days=1), gate="test_schema_*")
    assert run(project, "--waivers=waivers.yaml").ret == 0
    gate = summary(project)["gates"][0]
    assert gate["outcome"] == "passed" and gate["waiver"].startswith("waived by jane.doe")


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("waivers:\n  - gate: x\n    approver: a\n    expires: 2030-01-01\n",
         "waivers.yaml:2: waivers.0: missing required key 'justification'"),
        ("waivers:\n  - gate: x\n    justification: j\n    approver: a\n    expires: soon\n",
         "waivers.yaml:5: waivers.0.expires: Input should be a valid date"),
        ("waivers:\n  - gate: x\n    justification: j\n    approver: a\n    expires: 2030-01-01\n"
         "    aprover: b\n", "waivers.yaml:6: waivers.0: unknown key 'aprover'"),
    ],
)
def test_malformed_waiver_file_is_an_error_at_start(
    project: pytest.Pytester, content: str, error: str
) -> None:
    gates(project, PASS)
    project.makefile(".yaml", waivers=content)
    result = run(project, "--waivers=waivers.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{error}*"])
    assert not (project.path / "out").exists() or not list((project.path / "out").glob("*.json"))


def test_runbook_steps_list_gates_and_uncovered_steps(project: pytest.Pytester) -> None:
    gates(project, PASS, "@pytest.mark.step('III')\ndef test_smoke(target):\n    pass\n")
    run(project)
    steps = {row["step"]: row for row in summary(project)["runbook_steps"]}
    assert steps["II.1"] == {"step": "II.1", "title": "Schema", "gates": 1, "result": "passed"}
    assert steps["III"]["result"] == "passed"
    assert steps["I"] == {"step": "I", "title": "Environment", "gates": 0, "result": "not covered"}
    html = next((project.path / "out").glob("*.html")).read_text()
    assert "Runbook steps" in html and "not covered" in html


def test_gate_rule_naming_an_unknown_step_is_a_spec_error(project: pytest.Pytester) -> None:
    project.makefile(".yaml", runbook=SPEC.replace('step: "II.1"', 'step: "II.9"'))
    gates(project, PASS)
    result = run(project)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*runbook.yaml:11: gates.0.step: unknown runbook step 'II.9'*"])


def test_evidence_reaches_html_and_json(project: pytest.Pytester) -> None:
    gates(project, "def test_schema_table(target, evidence):\n"
                   "    evidence.add('SQL', 'SELECT relname FROM pg_class -- probe-7731')\n"
                   "    evidence.add('rows seen', 'jobs')\n")
    run(project)
    gate = summary(project)["gates"][0]
    assert gate["evidence"] == [{"title": "SQL", "text": "SELECT relname FROM pg_class -- probe-7731"},
                                {"title": "rows seen", "text": "jobs"}]
    (row,) = html_rows(next((project.path / "out").glob("*.html")).read_text())
    assert "probe-7731" in row["log"] and "II.1</td>" in "".join(row["resultsTableRow"])


def test_metadata_in_every_output(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOY_GATES_OPERATOR", "op-4242")
    gates(project, PASS)
    run(project)
    out = project.path / "out"
    for suffix in ("html", "xml", "json", "md"):
        text = next(out.glob(f"*.{suffix}")).read_text()
        started = "Started (UTC)" if suffix in ("html", "md") else "started"
        for value in ("op-4242", "rehearsal", "2.0", "0.1.0", started):
            assert value in text, (suffix, value)
    assert 'property name="operator" value="op-4242"' in next(out.glob("*.xml")).read_text()
