"""Several targets in one run (``--target eu,us``): each gate per target, with the target in its
id, its own refusals, env manifest and waivers, and a report grouped by target."""

from __future__ import annotations

import json
from datetime import date, timedelta

import psycopg
import pytest

from tests import gaterun

SPEC = """\
system: demo
release: "2"
targets:
  eu: {kind: ephemeral, provider: embedded}
  us: {kind: live, dsn_env: DEMO_US_DSN}
migrations: {dir: migrations, down_dir: down}
schema:
  tables: [widgets]
env:
  required_on: {us: [DEMO_US_TOKEN]}
"""


@pytest.fixture
def project(pytester: pytest.Pytester, fresh_dsn: str, monkeypatch: pytest.MonkeyPatch):
    """A one-migration release; ``us`` is a live database where it was applied by hand, with no
    ledger, so that its ledger gates fail while ``eu``'s pass."""
    pytester.makefile(".yaml", runbook=SPEC)
    (pytester.path / "migrations").mkdir()
    (pytester.path / "down").mkdir()
    (pytester.path / "migrations" / "0001_widgets.sql").write_text(
        "CREATE TABLE widgets (id integer PRIMARY KEY);\n")
    (pytester.path / "down" / "0001_widgets.sql").write_text("DROP TABLE widgets;\n")
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE widgets (id integer PRIMARY KEY)")
    monkeypatch.setenv("DEMO_US_DSN", fresh_dsn)
    monkeypatch.setenv("DEMO_US_TOKEN", "us-token-31337")
    return pytester


def run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return gaterun.gates(project, project.path, *args)


def summary(project: pytest.Pytester) -> dict:
    (path,) = (project.path / "reports").glob("*.json")
    return json.loads(path.read_text())


@pytest.mark.parametrize("processes", [("-p", "no:xdist"), ("-n", "2")], ids=["one", "xdist"])
def test_each_gate_runs_per_target_and_the_report_groups_by_target(
    project: pytest.Pytester, processes: tuple[str, str]
) -> None:
    result = run(project, "--target=eu,us", *processes)
    assert result.ret == 1
    data = summary(project)
    gates = {g["name"]: g for g in data["gates"]}
    assert gates["test_table[widgets-eu]"]["outcome"] == "passed"
    assert gates["test_table[widgets-us]"]["outcome"] == "passed"
    assert gates["test_table[widgets-us]"]["target"] == "us"
    assert gates["test_nothing_pending[eu]"]["outcome"] == "passed"
    assert gates["test_nothing_pending[us]"]["outcome"] == "error"
    assert gates["test_nothing_pending[us]"]["message"] == (
        "expected ledger table public.schema_migrations; found: it does not exist")
    # the rehearsal runs on the ephemeral target only; on the live one it is refused, by name
    assert gates["test_migrate_up[eu]"]["outcome"] == "passed"
    assert gates["test_migrate_up[us]"]["outcome"] == "skipped"
    assert gates["test_migrate_up[us]"]["message"] == (
        "rehearsal gates run only on ephemeral targets; 'us' is live")
    # each target's own env manifest
    assert gates["test_env_required[DEMO_US_TOKEN-us]"]["outcome"] == "passed"
    assert "test_env_required[DEMO_US_TOKEN-eu]" not in gates
    # grouped: every eu gate before every us gate; a verdict per target, and the run's
    order = [g["target"] for g in data["gates"] if g["target"]]
    assert order == sorted(order, key=["eu", "us"].index)
    assert [(t["target"], t["verdict"]) for t in data["targets"]] == [("eu", "GO"),
                                                                      ("us", "NO-GO")]
    assert data["verdict"] == "NO-GO"
    assert data["metadata"]["targets"] == ["eu", "us"]
    (markdown,) = (project.path / "reports").glob("eu+us-*.md")
    assert "| eu | GO |" in markdown.read_text() and "| us | NO-GO |" in markdown.read_text()
    (html,) = (project.path / "reports").glob("eu+us-*.html")
    assert "col-target" in html.read_text()


def test_spec_rules_and_waivers_match_the_gate_name_without_the_target(
    project: pytest.Pytester,
) -> None:
    tomorrow = date.today() + timedelta(days=1)
    project.makefile(".yaml", waivers=(
        "waivers:\n  - gate: 'test_*'\n    justification: ledger adopted next week\n"
        f"    approver: jane.doe\n    expires: {tomorrow}\n    targets: [us]\n"))
    result = run(project, "--target=eu,us", "--waivers=waivers.yaml", "-k", "ledger", "-p", "no:xdist")
    assert result.ret == 0
    gates = {g["name"]: g for g in summary(project)["gates"]}
    assert gates["test_nothing_pending[us]"]["outcome"] == "waived"
    assert gates["test_applied_through[0001_widgets.sql-us]"]["outcome"] == "waived"
    assert gates["test_nothing_pending[eu]"]["outcome"] == "passed"
    assert gates["test_nothing_pending[eu]"]["waiver"] is None


def test_an_unknown_target_in_the_list_is_named(project: pytest.Pytester) -> None:
    result = run(project, "--target=eu,asia", "-p", "no:xdist")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown target 'asia' in *runbook.yaml; known targets: eu, us"])
    result = run(project, "--target=eu,,us", "-p", "no:xdist")
    result.stderr.fnmatch_lines(["*--target: 'eu,,us' has an empty target name"])
