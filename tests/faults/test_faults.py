"""Every fault of the matrix is caught by the gate meant for it, with a message that names it,
and by no unrelated blocker gate; the healthy deployment of every seed example fails no gate,
``DEPLOY_GATES_FLAKE_RUNS`` runs in a row (default 1).

The groups run once per session, two at a time, one pytest process each (tests/faults/harness.py).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from deploy_gates.fixtures.ephemeral import Server
from deploy_gates.waivers import glob_match
from tests.faults import matrix
from tests.faults.catalog import GROUPS, SYSTEMS, Group
from tests.faults.harness import run_group
from tests.gaterun import ROOT
from tests.prometheus_server import debian_binary

FAILED = ("failed", "error")
PRESENT = [g for g in GROUPS if (ROOT / "examples" / g.example).is_dir()]
PROMETHEUS = shutil.which("prometheus") is not None


@pytest.fixture(scope="session")
def fault_runs(request: pytest.FixtureRequest, pg_server: Server) -> dict[str, dict[str, dict]]:
    """The gates by name of each present group a selected test checks, from one run of it."""
    selected = {item.callspec.params["group"].name for item in request.session.items
                if item.originalname == "test_fault_is_caught_by_its_gate_only"}
    groups = [g for g in PRESENT if g.name in selected and (PROMETHEUS or not g.traffic)]
    with tempfile.TemporaryDirectory(prefix="faults-") as folder:

        def run(group: Group) -> dict[str, dict]:
            workdir = Path(folder) / group.name
            workdir.mkdir()
            dsn = pg_server.create_database("faults") if group.live else None
            return run_group(group, workdir, dsn)

        with ThreadPoolExecutor(max_workers=2) as pool:
            return dict(zip([g.name for g in groups], pool.map(run, groups), strict=True))


@pytest.mark.parametrize("group", GROUPS, ids=[g.name for g in GROUPS])
def test_fault_is_caught_by_its_gate_only(
    group: Group, fault_runs: dict[str, dict[str, dict]]
) -> None:
    if group not in PRESENT:
        pytest.skip(f"examples/{group.example} does not exist yet")
    if group.traffic:
        debian_binary("prometheus")  # skipped without it, failed with CI=true
    gates = fault_runs[group.name]
    failed = {name for name, gate in gates.items() if gate["outcome"] in FAILED}
    for fault in group.faults:
        assert fault.gate in failed, f"{fault.name}: {fault.gate} did not fail ({sorted(failed)})"
        assert fault.message in gates[fault.gate]["message"], gates[fault.gate]["message"]
    allowed = [p for f in group.faults for p in (f.gate, *f.related)]
    unrelated = sorted(
        name for name in failed
        if gates[name]["severity"] == "blocker" and not any(glob_match(name, p) for p in allowed)
        and not _same_check_per_migration(group, name, gates[name]["message"])
    )
    assert unrelated == [], {name: gates[name]["message"] for name in unrelated}


def _same_check_per_migration(group: Group, name: str, message: str) -> bool:
    """A stair of the rehearsal (up, down, up one migration at a time) is the same check per
    migration: related when it is a stair of a file the fault edits, or says what a fault's own
    gate says."""
    if not name.startswith("test_stair["):
        return False
    edited = {Path(path).name for path, *_ in group.edits}
    stair = name.removeprefix("test_stair[").split(":")[0].rsplit("/", 1)[-1]  # [db/file:step]
    return stair in edited or any(fault.message in message for fault in group.faults)


def test_the_matrix_has_forty_faults_in_every_system() -> None:
    faults = [(g, f) for g in GROUPS for f in g.faults]
    assert len(faults) >= 40
    assert {g.example for g, _ in faults} == set(SYSTEMS)


def test_fault_matrix_doc_is_current() -> None:
    assert (ROOT / "docs" / "fault-matrix.md").read_text() == matrix.render(), (
        f"docs/fault-matrix.md is stale: run {matrix.COMMAND}")


EXAMPLES = [name for name in SYSTEMS if (ROOT / "examples" / name / "runbook.yaml").is_file()]


@pytest.mark.parametrize("example", EXAMPLES)
def test_healthy_deployment_fails_no_gate(example: str, tmp_path: Path) -> None:
    runs = int(os.environ.get("DEPLOY_GATES_FLAKE_RUNS", "1"))
    assert 1 <= runs <= 100, "DEPLOY_GATES_FLAKE_RUNS is a number of runs from 1 to 100"
    healthy = Group(f"{example}-healthy", example, (), keep_lock=True)
    for run in range(runs):
        workdir = tmp_path / str(run)
        workdir.mkdir()
        gates = run_group(healthy, workdir)
        failed = {n: g["message"] for n, g in gates.items() if g["outcome"] in FAILED}
        assert failed == {}, f"run {run + 1} of {runs}: {failed}"
        assert sum(g["outcome"] == "passed" for g in gates.values()) > 20
