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


def _copy(root: Path, folder: str, *edits: tuple[str, str], name: str = "runbook.yaml") -> None:
    target = root / "examples" / folder
    if not target.is_dir():
        shutil.copytree(ROOT / "examples" / folder, target)
    path = target / name
    text = path.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path.write_text(text)


def test_a_step_neither_automated_nor_manual_is_named(tmp_path: Path) -> None:
    _copy(tmp_path, "api_platform", ('    "Deployment Process 6.7": "webhook delivery needs', '    # "'))
    _copy(tmp_path, "granter", ('  - {match: "test_health[*]", step: "DEPLOYMENT STEPS 3.3"}\n', ""))
    covers = coverage.seeds(tmp_path)
    assert [seed for seed, _, cover in covers if cover] == ["001", "003"]
    assert coverage.problems(covers) == [
        "examples/granter/runbook.yaml: runbook step 'DEPLOYMENT STEPS 3.3' (Verify Backend Health) "
        "has no gate and no runbook.manual reason",
        "examples/api_platform/runbook.yaml: runbook step 'Deployment Process 6.7' (Webhook "
        "delivery) has no gate and no runbook.manual reason",
    ]
    assert "No example yet (`examples/redcube/runbook.yaml`)." in coverage.render(covers)


def test_a_manual_step_that_gates_automate_is_named(tmp_path: Path) -> None:
    _copy(tmp_path, "granter", ('    "DEPLOYMENT STEPS 1.2": "a message',
                                '    "DEPLOYMENT STEPS 1.1": "by hand"\n    "DEPLOYMENT STEPS 1.2": "a message'))
    assert coverage.problems(coverage.seeds(tmp_path)) == [
        "examples/granter/runbook.yaml: runbook step 'DEPLOYMENT STEPS 1.1' (Final Database Backup) "
        "is marked manual but gates automate it"]


def test_the_spec_steps_are_the_documents(tmp_path: Path) -> None:
    """A step the document numbers and the spec leaves out, a title the spec spells otherwise,
    and a step the spec lists that the document does not number are each named."""
    _copy(tmp_path, "granter", ("Step 4.5: Monitor Error Rate",
                                "Step 4.5: Monitor Error Rate\n\nStep 4.6: Check the Dashboards"),
          name="RUNBOOK.md")
    _copy(tmp_path, "granter", ('"DEPLOYMENT STEPS 2.3": "Test Database Connection"',
                                '"DEPLOYMENT STEPS 2.3": "Test the database connection"'),
          ('    "DEPLOYMENT STEPS 3.1"', '    "DEPLOYMENT STEPS 3.9": "Deploy a sidecar"\n'
                                        '    "DEPLOYMENT STEPS 3.1"'))
    spec, doc = "examples/granter/runbook.yaml", "examples/granter/RUNBOOK.md"
    assert coverage.problems(coverage.seeds(tmp_path)) == [
        f"{spec}: runbook step 'DEPLOYMENT STEPS 4.6' (Check the Dashboards) of {doc} is not in "
        "runbook.steps",
        f"{spec}: runbook step 'DEPLOYMENT STEPS 2.3' is titled 'Test the database connection'; "
        f"{doc} titles it 'Test Database Connection'",
        f"{spec}: runbook step 'DEPLOYMENT STEPS 3.9' (Deploy a sidecar) is not a step {doc} numbers",
        f"{spec}: runbook step 'DEPLOYMENT STEPS 3.9' (Deploy a sidecar) has no gate and no "
        "runbook.manual reason",
    ]

