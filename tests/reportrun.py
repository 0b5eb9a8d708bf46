"""A small gate project whose verdict the tests choose (NO-GO, GO or INCONCLUSIVE), run the way users
run it, and readers of the reports it leaves: the HTML report's rows, the JSON and the Markdown."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

SPEC = """\
system: demo
release: "2.0"
runbook:
  title: Demo runbook
  steps: {"1": Environment, "7": Schema, "9": Rollback rehearsal}
targets:
  rehearsal: {kind: ephemeral, provider: embedded}
  eu: {kind: ephemeral, provider: embedded}
  us: {kind: ephemeral, provider: embedded}
gates:
  - {match: "test_column[*]", step: "7"}
  - {match: "test_index[*]", step: "7", severity: advisory}
  - {match: "test_restored", step: "9"}
  - {match: "test_env_*", step: "1"}
"""

PASSING = """\
import pytest

@pytest.mark.parametrize("name", [f"jobs.c{i}" for i in range(3)])
def test_column(target, name, evidence):
    evidence.add("SQL", f"SELECT {name} -- seen")

def test_env_required(target):
    pass

@pytest.mark.parametrize("name", ["idx_a"])
def test_index(target, name):
    pass
"""

FAILING = """\
import pytest
from deploy_gates.verify.outcome import fail_gate

@pytest.mark.parametrize("name", [f"jobs.c{i}" for i in range(7)])
def test_column(target, name):
    fail_gate(f"expected column {name} (uuid NOT NULL); found: nullable")

def test_restored(target):
    try:
        try:
            raise KeyError("type already exists")
        except KeyError as exc:
            raise RuntimeError("0008_alerts.sql:2: type already exists") from exc
    except RuntimeError as exc:
        fail_gate(f"migrate up again: {exc}")

def test_env_required(target):
    pytest.skip("present after re-apply: not run, because rehearsal step 'migrate up' failed")

@pytest.mark.parametrize("name", ["idx_a"])
def test_index(target, name):
    fail_gate("expected index idx_a; found: it does not exist")
"""

UNDECIDED = """\
import pytest
from deploy_gates.verify.outcome import inconclusive

@pytest.mark.parametrize("name", [f"jobs.c{i}" for i in range(2)])
def test_column(target, name):
    pass

def test_env_required(target):
    inconclusive("no data for sum(rate(errors[5m])) within 2m")
"""

GATES = {"NO-GO": FAILING, "GO": PASSING, "INCONCLUSIVE": UNDECIDED}


def gate_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, verdict: str,
                 ini: str = "") -> pytest.Pytester:
    """A project whose gates end in ``verdict``; its reports go to ``out/``."""
    for var in ("DEPLOY_GATES_TARGET", "DEPLOY_GATES_KEEP_REPORTS", "DEPLOY_GATES_REPORT_DIR",
                "DEPLOY_GATES_TICKET", "DEPLOY_GATES_WAIVERS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DEPLOY_GATES_OPERATOR", "jane.doe")
    pytester.makefile(".yaml", runbook=SPEC)
    pytester.makeini(f"[pytest]\nrunbook = runbook.yaml\nreport_dir = out\n{ini}")
    pytester.makepyfile(test_gates=GATES[verdict])
    return pytester


def run(project: pytest.Pytester, *args: str, target: str = "rehearsal") -> pytest.RunResult:
    return project.runpytest_subprocess(f"--target={target}", "-p", "no:xdist", *args,
                                        str(project.path), timeout=120)


def newest(project: pytest.Pytester, suffix: str, folder: str = "out") -> Path:
    return sorted((project.path / folder).glob(f"*.{suffix}"))[-1]


def html_rows(page: str) -> list[dict]:
    """The rows pytest-html's script renders, from the data the page carries."""
    blob = re.search(r'data-jsonblob="([^"]*)"', page).group(1)
    return [row for rows in json.loads(html.unescape(blob))["tests"].values() for row in rows]
