"""``pip install deploy-gates`` in a team's own repository, and it just works: the wheel is built
from this checkout, installed (not editable) in a fresh venv beside testing-cabal's ``fixtures``,
and run from a repository that has its own ``fixtures``, ``migrate`` and ``verify`` packages."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy_gates.fixtures.ephemeral import Server
from deploy_gates.migrate import discover, up
from tests.commands import clean_env
from tests.examplecopy import TASCADE_KEY, tascade_serving
from tests.gaterun import EXAMPLE, ROOT

LEFT_OUT = {".git", ".venv", "venv", "build", "__pycache__", ".ruff_cache", ".pytest_cache"}
CUSTOM_GATE = """\
import pytest


@pytest.mark.postdeploy
def test_projects_table(db):
    assert db.execute("SELECT to_regclass('public.projects')").fetchone()[0] == "projects"
"""


def run(*args: str | Path, cwd: Path, timeout: float = 300, **env: str,
        ) -> subprocess.CompletedProcess[str]:
    """A command in a clean environment: no venv of this checkout on PATH, no PYTHONPATH."""
    clean = clean_env(PATH="/usr/bin:/bin", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1",
                      **env)
    for name in ("PYTHONPATH", "VIRTUAL_ENV"):
        clean.pop(name, None)
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=clean, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _left_out(folder: str, names: list[str]) -> set[str]:
    """What a source copy leaves out: venvs, caches, build output, the runs' reports (the report
    folder keeps its code and resources)."""
    left = {n for n in names if n in LEFT_OUT or n.endswith(".egg-info")}
    if Path(folder).name == "reports":
        left |= {n for n in names if not n.endswith(".py") and n != "resources"}
    return left | ({"venv"} if Path(folder).name == ".ci" else set())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of this checkout (no stale build/ folder can leak in)."""
    source = tmp_path_factory.mktemp("source") / "deploy-gates"
    shutil.copytree(ROOT, source, ignore=_left_out)
    out = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", out, source, cwd=out)
    (built,) = out.glob("deploy_gates-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path) -> Iterator[Path]:
    """A fresh venv with the wheel and its dependencies, and testing-cabal's ``fixtures``; the
    venv's bin folder. It lives outside pytest's private (0700) temp folder: run as root, the
    embedded server runs as another user, who must reach the wheel's server libraries."""
    folder = Path(tempfile.mkdtemp(prefix="deploy-gates-venv-"))
    folder.chmod(0o755)
    try:
        run(sys.executable, "-m", "venv", folder / "venv", cwd=folder)
        run(folder / "venv" / "bin" / "pip", "install", "-q", wheel, "fixtures", cwd=folder,
            timeout=600)
        yield folder / "venv" / "bin"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A team's repository: its runbook spec and migrations, and packages of its own named
    fixtures, migrate and verify (its custom gates)."""
    root = tmp_path / "team"
    for name in ("migrations", "down"):
        shutil.copytree(EXAMPLE / name, root / name)
    spec = (EXAMPLE / "runbook.yaml").read_text().replace(
        "# yaml-language-server: $schema=../../docs/runbook.schema.json\n", "").replace(
        "PYTHONPATH: ../..", f"PYTHONPATH: {ROOT}")  # the service the team's rehearsal starts
    (root / "runbook.yaml").write_text(spec + "custom_gates: [verify]\n")
    (root / "fixtures").mkdir()
    (root / "fixtures" / "__init__.py").write_text('OWNER = "team"\n')
    (root / "migrate").mkdir()
    (root / "migrate" / "__init__.py").write_text("")
    (root / "migrate" / "__main__.py").write_text('print("the team\'s own migrate")\n')
    (root / "verify").mkdir()
    (root / "verify" / "__init__.py").write_text("")
    (root / "verify" / "test_team.py").write_text(CUSTOM_GATE)
    (root / "conftest.py").write_text(  # the repository's own packages, first on sys.path
        "import fixtures\nimport migrate\n\nassert fixtures.OWNER == 'team'\n")
    return root


def test_the_wheel_holds_one_import_name_and_registers_the_plugin(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        entry_points = archive.read(info).decode()
    assert {n.split("/")[0] for n in names} == {"deploy_gates", info.split("/")[0]}
    assert "deploy_gates/verify/test_schema.py" in names
    assert "[pytest11]\ndeploy_gates = deploy_gates.plugin" in entry_points
    assert "[console_scripts]\ndeploy-gates = deploy_gates.cli:main" in entry_points


def test_installed_suite_rehearses_and_verifies_a_live_target(
    venv: Path, repo: Path, pg_server: Server
) -> None:
    team_fixtures = run(venv / "python", "-c", "import fixtures; print(fixtures.__file__)",
                        cwd=venv.parent)
    assert "site-packages/fixtures/" in team_fixtures.stdout  # testing-cabal's, untouched
    assert run(venv / "python", "-m", "migrate", cwd=repo).stdout == "the team's own migrate\n"
    assert run(venv / "deploy-gates", "lint", cwd=repo).stdout.startswith("runbook.yaml: ok: ")

    rehearsal = run(venv / "pytest", "-W", "error", "--runbook", "runbook.yaml",
                    "--target", "rehearsal", cwd=repo)
    assert rehearsal.stdout.splitlines()[-1].startswith("GO: ")
    (summary,) = (repo / "reports").glob("rehearsal-*.json")
    ids = [g["id"] for g in json.loads(summary.read_text())["gates"]]
    assert len(ids) == len(set(ids)) > 100
    assert "verify/test_team.py::test_projects_table" in ids
    assert "verify/test_rehearsal.py::test_schema_restored" in ids
    assert "verify/test_predeploy.py::test_migration_files" in ids

    dsn = pg_server.create_database("team_live")
    up(dsn, discover(repo / "migrations"))
    with tascade_serving(repo, dsn):
        live = run(venv / "pytest", "--runbook", "runbook.yaml", "--target", "staging",
                   "-m", "postdeploy", cwd=repo, TASCADE_STAGING_DATABASE_URL=dsn,
                   TASCADE_API_KEY=TASCADE_KEY)
    assert live.stdout.splitlines()[-1].startswith("GO: ")
    assert dsn not in live.stdout
