"""docs/seeds.md: every step of every seed runbook is automated by a gate or manual with a
reason, and the page is what the generator writes from the examples' specs today."""

from __future__ import annotations

import shutil
from pathlib import Path

from deploy_gates.reports import coverage
from tests.gaterun import ROOT


def test_seeds_doc_is_current_and_complete() -> None:
    covers = coverage.seeds(ROOT)
    assert coverage.problems(covers) == []
    expected = coverage.render(covers)
    assert (ROOT / "docs" / "seeds.md").read_text() == expected, (
        f"docs/seeds.md is stale: run {coverage.COMMAND}")
    assert [seed for seed, _, cover in covers if cover] == [
        seed for seed, folder in coverage.SEEDS if (ROOT / "examples" / folder).is_dir()]


def _copy(root: Path, folder: str, edit: tuple[str, str]) -> None:
    target = root / "examples" / folder
    shutil.copytree(ROOT / "examples" / folder, target)
    spec = target / "runbook.yaml"
    text = spec.read_text()
    assert edit[0] in text
    spec.write_text(text.replace(*edit, 1))


def test_a_step_neither_automated_nor_manual_is_named(tmp_path: Path) -> None:
    _copy(tmp_path, "api_platform", ('    "6.7": "webhook delivery', '    "6.9": "webhook delivery'))
    _copy(tmp_path, "granter", ('  - {match: "test_health[*]", step: "3.3"}\n', ""))
    (tmp_path / "examples" / "api_platform" / "runbook.yaml").write_text(
        (tmp_path / "examples" / "api_platform" / "runbook.yaml").read_text().replace(
            '"R2": kubectl rollback', '"R2": kubectl rollback\n    "6.9": Webhook retries'))
    covers = coverage.seeds(tmp_path)
    assert [seed for seed, _, cover in covers if cover] == ["001", "003"]
    assert coverage.problems(covers) == [
        "examples/granter/runbook.yaml: runbook step '3.3' (Verify backend health) has no gate "
        "and no runbook.manual reason",
        "examples/api_platform/runbook.yaml: runbook step '6.7' (Smoke test, webhook delivery) "
        "has no gate and no runbook.manual reason",
    ]
    assert "No example yet (`examples/redcube/runbook.yaml`)." in coverage.render(covers)


def test_a_manual_step_that_gates_automate_is_named(tmp_path: Path) -> None:
    _copy(tmp_path, "granter", ('    "1.2": "a message', '    "1.1": "by hand"\n    "1.2": "a message'))
    assert coverage.problems(coverage.seeds(tmp_path)) == [
        "examples/granter/runbook.yaml: runbook step '1.1' (Final database backup) is marked "
        "manual but gates automate it"]
