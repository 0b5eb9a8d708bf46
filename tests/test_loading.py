"""How the plugin loads and what a gate run collects: options known before the rootdir is chosen,
the suite's gates collected once without paths, custom gates, --collect-only, -W error."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from tests.commands import pytest_in
from tests.gaterun import EXAMPLE, ROOT

SPEC = """\
system: demo
release: "1"
targets:
  rehearsal: {kind: ephemeral, provider: embedded}
"""
CUSTOM_GATE = "def test_custom(target):\n    pass\n"
SUITE_MODULES = sorted(p.name for p in (ROOT / "verify").glob("test_*.py"))


def collected(output: str) -> list[str]:
    """The node ids a ``--collect-only -q`` run listed."""
    return [line for line in output.splitlines() if "::" in line]


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A user repository: a spec, and a test file of its own next to it."""
    pytester.makefile(".yaml", runbook=SPEC)
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_own="def test_own(target):\n    pass\n")
    return pytester


def test_a_target_without_paths_collects_the_suites_gates_once(project: pytest.Pytester) -> None:
    result = project.runpytest("--runbook", "runbook.yaml", "--target", "rehearsal",
                               "--collect-only", "-q")
    ids = collected(result.stdout.str())
    assert ids and all(i.startswith("verify/test_") for i in ids), ids
    assert not [i for i, n in Counter(ids).items() if n > 1]
    assert {i.split("::")[0] for i in ids} <= {f"verify/{m}" for m in SUITE_MODULES}
    assert "verify/test_predeploy.py::test_migration_files" in ids


def test_paths_given_collect_only_those(project: pytest.Pytester) -> None:
    result = project.runpytest("--runbook=runbook.yaml", "--target=rehearsal", "--collect-only",
                               "-q", "test_own.py", str(ROOT / "verify" / "test_predeploy.py"))
    assert collected(result.stdout.str()) == [
        "test_own.py::test_own", "verify/test_predeploy.py::test_migration_files"]


def test_custom_gates_of_the_spec_are_collected_with_the_suites(project: pytest.Pytester) -> None:
    project.makefile(".yaml", runbook=SPEC + "custom_gates: [checks]\n")
    (project.path / "checks").mkdir()
    (project.path / "checks" / "test_orders.py").write_text(CUSTOM_GATE)
    ids = collected(project.runpytest("--runbook=runbook.yaml", "--target=rehearsal",
                                      "--collect-only", "-q").stdout.str())
    assert "checks/test_orders.py::test_custom" in ids
    assert "verify/test_predeploy.py::test_migration_files" in ids
    assert "test_own.py::test_own" not in ids


def test_missing_custom_gates_folder_is_a_spec_error(project: pytest.Pytester) -> None:
    project.makefile(".yaml", runbook=SPEC + "custom_gates: [checks]\n")
    result = project.runpytest("--runbook=runbook.yaml", "--target=rehearsal")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*runbook.yaml:5: custom_gates.0: *checks does not exist"])


def test_collect_only_writes_no_report_and_gives_no_verdict(project: pytest.Pytester) -> None:
    result = project.runpytest("--runbook=runbook.yaml", "--target=rehearsal", "--collect-only",
                               "--report-dir=out")
    assert result.ret == pytest.ExitCode.OK
    assert not (project.path / "out").exists()
    assert "deploy-gates verdict" not in result.stdout.str()


def test_runbook_outside_the_rootdir_in_the_space_form(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "tascade")
    result = pytest_in(ROOT, "--runbook", str(tmp_path / "tascade" / "runbook.yaml"),
                       "--target", "rehearsal", "-m", "predeploy",
                       "--report-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stdout + result.stderr
    last = result.stdout.splitlines()[-1]
    assert last.startswith("GO: ") and not last.startswith("GO: 0 passed"), last


def test_warnings_as_errors_rehearsal_is_go(tmp_path: Path) -> None:
    result = pytest_in(ROOT, "-W", "error", "--target=rehearsal", f"--report-dir={tmp_path}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.splitlines()[-1].startswith("GO: ")
    (summary,) = tmp_path.glob("*.json")
    ids = [g["id"] for g in json.loads(summary.read_text())["gates"]]
    assert len(ids) == len(set(ids)) > 100
