"""The plugin as users run it: options, ini keys, env fallback, markers, targets, spec errors."""

from __future__ import annotations

import gc
import json
import os
import subprocess

import pytest

from tests.reportrun import gate_project

SPEC = """\
system: demo
release: "1.2.3"
targets:
  rehearsal: {kind: ephemeral, provider: embedded}
  staging: {kind: live, dsn_env: DEMO_STAGING_DSN}
"""

SHOW_SETTINGS = """\
def test_show(deploy_settings, target):
    print("SETTINGS", ",".join(deploy_settings.targets), deploy_settings.db_provider,
          deploy_settings.postgres_image, deploy_settings.report_dir.name, target.name)
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A user project with a runbook spec named in its ini file."""
    for var in ("DEPLOY_GATES_TARGET", "DEPLOY_GATES_DB_PROVIDER", "DEPLOY_GATES_RUNBOOK",
                "DEPLOY_GATES_POSTGRES_IMAGE", "DEPLOY_GATES_REPORT_DIR"):
        monkeypatch.delenv(var, raising=False)
    pytester.makefile(".yaml", runbook=SPEC)
    pytester.makeini("[pytest]\nrunbook = runbook.yaml\naddopts = --strict-markers\n")
    return pytester


def run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    """The project's own tests (a gate run without paths collects the suite's gates)."""
    return project.runpytest("-s", *args, str(project.path))


def test_options_from_command_line(project: pytest.Pytester) -> None:
    project.makepyfile(test_show=SHOW_SETTINGS)
    result = run(project, "--target=staging", "--db-provider=local", "--postgres-image=pg:15",
                 "--report-dir=out")
    result.stdout.fnmatch_lines(["*SETTINGS staging local pg:15 out staging"])
    assert result.ret == 0


def test_ini_keys_pair_with_options(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\nrunbook = runbook.yaml\ntarget = rehearsal\ndb_provider = dsn\n"
                    "postgres_image = pg:14\nreport_dir = ini-reports\n")
    project.makepyfile(test_show=SHOW_SETTINGS)
    result = run(project)
    result.stdout.fnmatch_lines(["*SETTINGS rehearsal dsn pg:14 ini-reports rehearsal"])


def test_env_fallback_between_command_line_and_ini(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makeini("[pytest]\nrunbook = runbook.yaml\ntarget = rehearsal\ndb_provider = dsn\n")
    monkeypatch.setenv("DEPLOY_GATES_TARGET", "staging")
    monkeypatch.setenv("DEPLOY_GATES_DB_PROVIDER", "embedded")
    project.makepyfile(test_show=SHOW_SETTINGS)
    run(project).stdout.fnmatch_lines(["*SETTINGS staging embedded None reports staging"])
    run(project, "--db-provider=local").stdout.fnmatch_lines(["*SETTINGS staging local *"])


def test_bad_provider_is_a_usage_error(project: pytest.Pytester) -> None:
    project.makepyfile(test_show=SHOW_SETTINGS)
    result = run(project, "--target=rehearsal", "--db-provider=docker")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--db-provider: 'docker' is not one of auto, embedded, local, "
                                 "testcontainers, dsn*"])


def test_unknown_target_lists_known_targets(project: pytest.Pytester) -> None:
    project.makepyfile(test_show=SHOW_SETTINGS)
    result = run(project, "--target=prod")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown target 'prod' in *runbook.yaml; known targets: "
                                 "rehearsal, staging*"])


def test_gates_without_target_are_a_usage_error(project: pytest.Pytester) -> None:
    project.makepyfile(test_show=SHOW_SETTINGS)
    result = run(project)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*no target: pass --target NAME*"])


def test_malformed_spec_names_file_key_and_line(project: pytest.Pytester) -> None:
    project.makefile(".yaml", runbook=SPEC.replace("provider: embedded", "providr: embedded"))
    project.makepyfile(test_show=SHOW_SETTINGS)
    result = run(project, "--target=rehearsal")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*runbook.yaml:4: targets.rehearsal: unknown key 'providr'"])
    assert "Traceback" not in result.stderr.str()


def test_missing_spec_file_is_named(project: pytest.Pytester) -> None:
    project.makepyfile(test_show=SHOW_SETTINGS)
    result = run(project, "--runbook=nope.yaml", "--target=rehearsal")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*nope.yaml: cannot read runbook spec*"])


def test_markers_are_registered_and_strict(project: pytest.Pytester) -> None:
    project.makepyfile(test_m="""
        import pytest
        @pytest.mark.predeploy
        @pytest.mark.postdeploy
        @pytest.mark.rollback
        def test_ok(): pass
        @pytest.mark.postdeply
        def test_typo(): pass
    """)
    result = run(project)
    result.stdout.fnmatch_lines(["*'postdeply' not found in `markers` configuration option*"])


@pytest.mark.parametrize("marker", ["rehearsal", "destructive"])
def test_ephemeral_only_markers_never_run_on_live(project: pytest.Pytester, marker: str) -> None:
    project.makepyfile(test_d=f"""
        import pytest
        @pytest.mark.{marker}
        def test_writes(target):
            raise AssertionError("ran on a live target")
    """)
    live = run(project, "--target=staging", "-rs")
    live.assert_outcomes(skipped=1)
    live.stdout.fnmatch_lines([f"*{marker} gates run only on ephemeral targets; 'staging' is live*"])
    run(project, "--target=rehearsal").assert_outcomes(failed=1)


def test_every_gate_run_leaves_html_junit_and_json(project: pytest.Pytester) -> None:
    project.makepyfile(test_g="""
        import pytest
        def test_good(target): pass
        def test_bad(target):
            pytest.fail("expected table t; found: it does not exist", pytrace=False)
    """)
    result = run(project, "--target=rehearsal", "--report-dir=evidence")
    result.assert_outcomes(passed=1, failed=1)
    reports = sorted(p.name for p in (project.path / "evidence").iterdir())
    assert [r.rsplit(".", 1)[1] for r in reports] == ["html", "json", "md", "xml"]
    assert all(r.startswith("rehearsal-") and "Z." in r for r in reports)
    summary = json.loads((project.path / "evidence" / reports[1]).read_text())
    assert summary["metadata"]["targets"] == ["rehearsal"]
    assert summary["metadata"]["release"] == "1.2.3"
    assert {"git_commit", "operator", "started", "finished"} <= summary["metadata"].keys()
    gates = {g["id"].split("::")[1]: g for g in summary["gates"]}
    assert gates["test_good"]["outcome"] == "passed"
    assert gates["test_bad"] == {**gates["test_bad"], "outcome": "failed",
                                 "message": "expected table t; found: it does not exist"}
    html = (project.path / "evidence" / reports[0]).read_text()
    assert "Release" in html and "1.2.3" in html and "finished" in html
    assert "<testcase" in (project.path / "evidence" / reports[3]).read_text()


def test_runs_without_target_write_no_reports(project: pytest.Pytester) -> None:
    project.makepyfile(test_plain="def test_x(): pass")
    run(project, "--report-dir=evidence").assert_outcomes(passed=1)
    assert not (project.path / "evidence").exists()


def git(folder, *args: str) -> str:
    return subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True,
                          text=True, env={**os.environ, "GIT_CONFIG_GLOBAL": os.devnull}).stdout


@pytest.mark.parametrize("state", ["committed", "no commits", "no repository"])
def test_git_commit_is_the_runbook_repositorys(project: pytest.Pytester, state: str) -> None:
    git(project.path, "init", "-q")
    git(project.path, "-c", "user.name=ops", "-c", "user.email=ops@example.com",
        "commit", "-q", "--allow-empty", "-m", "the invoking directory's own")
    spec_repo = project.path.parent / f"{project.path.name}-spec"
    spec_repo.mkdir()
    (spec_repo / "runbook.yaml").write_text(SPEC)
    if state != "no repository":
        git(spec_repo, "init", "-q")
    if state == "committed":
        git(spec_repo, "-c", "user.name=ops", "-c", "user.email=ops@example.com",
            "commit", "-q", "--allow-empty", "-m", "the spec's")
    project.makepyfile(test_g="def test_g(target): pass")
    run(project, f"--runbook={spec_repo / 'runbook.yaml'}", "--target=rehearsal",
        "--report-dir=evidence").assert_outcomes(passed=1)
    (path,) = (project.path / "evidence").glob("*.json")
    commit = json.loads(path.read_text())["metadata"]["git_commit"]
    if state == "committed":
        assert commit == git(spec_repo, "rev-parse", "HEAD").strip()
    else:
        assert commit == {"no commits": "no commits yet",
                          "no repository": "not in a git repository"}[state]


def test_the_garbage_collector_runs_again_after_the_spec_and_collection_whatever_happens(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = gate_project(pytester, monkeypatch, "GO")
    try:
        done = project.runpytest("--target=rehearsal", "-p", "no:xdist", str(project.path))
        assert done.ret == 0 and gc.isenabled()
        project.makepyfile(test_broken="raise RuntimeError('cannot import')")
        done = project.runpytest("--target=rehearsal", "-p", "no:xdist", str(project.path))
        assert done.ret == pytest.ExitCode.INTERRUPTED and gc.isenabled()
        (project.path / "runbook.yaml").write_text("system: [unclosed\n")
        done = project.runpytest("--target=rehearsal", "-p", "no:xdist", str(project.path))
        assert done.ret == pytest.ExitCode.USAGE_ERROR and gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()


def test_a_run_freezes_its_objects_and_the_next_run_in_the_process_gives_them_back(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = gate_project(pytester, monkeypatch, "GO")
    gc.unfreeze()
    try:
        done = project.runpytest("--target=rehearsal", "-p", "no:xdist", str(project.path))
        assert done.ret == 0 and done.parseoutcomes()["passed"] > 0
        assert gc.get_freeze_count() > 0
        project.runpytest("--collect-only", "-p", "no:xdist", str(project.path))  # no gates run
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()
