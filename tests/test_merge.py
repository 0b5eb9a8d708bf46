"""Merging the report sets of several runs (a CI matrix job per target) into one, which equals a
single run of all the targets gate for gate; and its command line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from deploy_gates.reports.merge import MergeError, merge_runs
from tests.test_multi_target import project, run  # noqa: F401  (the fixture)
from tests.test_report import SCHEMA


def report_set(runner: pytest.Pytester, name: str) -> Path:
    """Move the run's reports to ``<name>/``, as a CI job's artifact."""
    folder = runner.path / name
    shutil.move(runner.path / "reports", folder)
    return folder


def gates_of(summary: dict) -> dict[str, tuple]:
    return {g["id"]: (g["name"], g["target"], g["outcome"], g["severity"], g["step"], g["message"])
            for g in summary["gates"]}


def cases_of(junit: Path) -> dict[tuple[str, str], tuple]:
    cases = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        result = next((c for c in case if c.tag in ("failure", "error", "skipped")), None)
        kind = result.tag if result is not None else "passed"
        message = result.get("message") if kind == "failure" else None
        cases[(case.get("classname"), case.get("name"))] = (kind, message)
    return cases


def test_merged_runs_equal_one_run_of_both_targets(
    project: pytest.Pytester,  # noqa: F811
    tmp_path: Path,
) -> None:
    assert run(project, "--target=eu", "-p", "no:xdist").ret == 0
    eu = report_set(project, "eu")
    assert run(project, "--target=us", "-p", "no:xdist").ret == 1
    us = report_set(project, "us")
    assert run(project, "--target=eu,us", "-p", "no:xdist").ret == 1
    (both_json,) = (project.path / "reports").glob("eu+us-*.json")
    both = json.loads(both_json.read_text())

    (us_junit,) = us.glob("*.xml")
    assert merge_runs([eu, us_junit], tmp_path / "merged") == "NO-GO"
    (merged_json,) = (tmp_path / "merged").glob("eu+us-*.json")
    merged = json.loads(merged_json.read_text())
    jsonschema.validate(merged, json.loads(SCHEMA.read_text()))

    assert gates_of(merged) == gates_of(both)
    assert list(gates_of(merged)) == list(gates_of(both))  # in the same order
    for key in ("verdict", "verdict_reason", "exit_status", "targets", "runbook_steps"):
        assert merged[key] == both[key], key
    assert merged["metadata"]["targets"] == ["eu", "us"]
    (merged_junit,) = (tmp_path / "merged").glob("*.xml")
    (both_junit,) = (project.path / "reports").glob("*.xml")
    assert cases_of(merged_junit) == cases_of(both_junit)
    (page,) = (tmp_path / "merged").glob("*.html")
    text = page.read_text()
    assert 'class="verdict-banner verdict-no-go"' in text
    assert "eu: GO" in text and "us: NO-GO" in text
    (markdown,) = (tmp_path / "merged").glob("*.md")
    assert "| eu | GO |" in markdown.read_text()


def test_merge_command_line(project: pytest.Pytester, tmp_path: Path) -> None:  # noqa: F811
    assert run(project, "--target=eu", "-p", "no:xdist").ret == 0
    eu = report_set(project, "eu")
    command = [sys.executable, "-m", "deploy_gates", "merge"]
    done = subprocess.run([*command, str(eu), "--out", str(tmp_path / "m")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "deploy-gates merge verdict GO: every blocker gate passed"
    twice = subprocess.run([*command, str(eu), str(next(eu.glob("*.json"))), str(eu / "x.json"),
                            "--out", str(tmp_path / "n")], capture_output=True, text=True, timeout=60)
    assert twice.returncode == 2
    assert twice.stderr.strip() == f"merge: {eu / 'x.json'}: cannot read run summary: No such file or directory"


def test_one_target_in_two_runs_is_refused(project: pytest.Pytester, tmp_path: Path) -> None:  # noqa: F811
    assert run(project, "--target=eu", "-p", "no:xdist").ret == 0
    first = report_set(project, "first")
    assert run(project, "--target=eu", "-p", "no:xdist").ret == 0
    second = report_set(project, "second")
    with pytest.raises(MergeError) as info:
        merge_runs([first, second], tmp_path / "m")
    assert str(info.value) == (f"merge: target 'eu' is in both {next(first.glob('*.json'))} and "
                               f"{next(second.glob('*.json'))}")
