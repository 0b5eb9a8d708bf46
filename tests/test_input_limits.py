"""Hostile input files and options: each is refused fast, in one line, with bounded memory, by
every command that reads it (the plugin, ``deploy-gates migrate``, ``deploy-gates rollback``)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploy_gates.spec.runbook import load_runbook
from deploy_gates.spec.yamlsource import SpecError
from tests.dbtools import query, write
from tests.gaterun import ROOT

HEAD = "system: demo\nrelease: '1'\n"
SPEC = HEAD + """\
targets:
  rehearsal: {kind: ephemeral, provider: embedded}
  staging: {kind: live, dsn_env: DEMO_STAGING_DSN}
"""
LEVELS, WIDTH = 8, 9
ALIAS_BOMB = "a0: &a0 [" + ", ".join(["x"] * WIDTH) + "]\n" + "".join(
    f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * WIDTH) + "]\n" for i in range(1, LEVELS)
)
"""Seven levels of nine aliases on nine items: 414 bytes that expand to 9**7 (4.8 million)."""
EXPANDED = "aliases expand the {} to more than 100000 nodes"
MEMORY_LIMIT = 1 << 30
"""Address space of a child process that loads a hostile file: far below what a bomb takes."""
LIMITED_PYTEST = (
    f"import resource, sys, pytest; resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT},) * 2); "
    "sys.exit(pytest.main())"
)
"""``python -c LIMITED_PYTEST ARGS``: pytest in a process whose memory is capped."""


def cli(command: str, *args: str, env: dict[str, str] | None = None, timeout: float = 30,
        limit_memory: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``deploy-gates command`` (as ``python -m deploy_gates``) from the repository root;
    optionally with capped memory."""
    return subprocess.run(
        [sys.executable, "-m", "deploy_gates", command, *args], cwd=ROOT, capture_output=True, text=True,
        timeout=timeout, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
        preexec_fn=_limit_memory if limit_memory else None,
    )


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def one_line(stderr: str, prefix: str) -> str:
    """The single line of ``stderr``, which starts with ``prefix``; no traceback."""
    assert "Traceback" not in stderr, stderr[-2000:]
    assert len(stderr.splitlines()) == 1, stderr[-2000:]
    assert stderr.startswith(prefix), stderr
    return stderr.strip()


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A user project with a valid spec and one gate."""
    for var in ("DEPLOY_GATES_TARGET", "DEPLOY_GATES_RUNBOOK", "DEPLOY_GATES_REPORT_DIR",
                "DEPLOY_GATES_WAIVERS"):
        monkeypatch.delenv(var, raising=False)
    pytester.makefile(".yaml", runbook=SPEC)
    pytester.makepyfile(test_gate="def test_gate(target): pass")
    return pytester


def usage_error(project: pytest.Pytester, *args: str) -> str:
    """Run the plugin in a fresh process with capped memory; it must stop with a one-line usage
    error."""
    result = project.run(sys.executable, "-c", LIMITED_PYTEST,
                         "--target=rehearsal", *args, timeout=30)
    err = result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:] + err
    assert "INTERNALERROR" not in result.stdout.str() + err and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


# 4. Alias bombs, absurd sizes and nesting are refused fast, with bounded memory.

def test_alias_bomb_is_refused_fast_in_bounded_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(ALIAS_BOMB)
    assert len(ALIAS_BOMB) == 414
    loader = ("import sys; from pathlib import Path; from deploy_gates.spec.runbook import load_runbook\n"
              "from deploy_gates.spec.yamlsource import SpecError\n"
              "try:\n    load_runbook(Path(sys.argv[1]))\n"
              "except SpecError as exc:\n    print(exc)\n")
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", loader, str(bomb)], cwd=ROOT, capture_output=True,
                          text=True, timeout=20, preexec_fn=_limit_memory)
    assert time.monotonic() - start < 10
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(f"{bomb}:"), done.stdout
    assert EXPANDED.format("runbook spec") in done.stdout and len(done.stdout.splitlines()) == 1


def test_alias_bomb_as_runbook_of_migrate_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(ALIAS_BOMB)
    start = time.monotonic()
    done = cli("migrate", "--runbook", str(tmp_path / "bomb.yaml"), "--target", "staging",
               "status", limit_memory=True, timeout=20)
    assert time.monotonic() - start < 10
    assert done.returncode == 1
    assert EXPANDED.format("runbook spec") in one_line(
        done.stderr, f"deploy-gates migrate: {tmp_path / 'bomb.yaml'}:")


def test_alias_bomb_as_spec_or_waivers_of_the_plugin_is_a_usage_error(
    project: pytest.Pytester,
) -> None:
    project.makefile(".yaml", bomb=ALIAS_BOMB)
    line = usage_error(project, "--runbook=bomb.yaml")
    assert "bomb.yaml:" in line and EXPANDED.format("runbook spec") in line
    line = usage_error(project, "--runbook=runbook.yaml", "--waivers=bomb.yaml")
    assert "bomb.yaml:" in line and EXPANDED.format("waivers file") in line


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (HEAD + "targets: {}\nsecrets: " + "[" * 70 + "]" * 70 + "\n",
         ":4: runbook spec nests deeper than 64 levels"),
        (HEAD + "targets: {}\nschema:\n  tables: [" + ", ".join(["t"] * 100_001) + "]\n",
         ":5: runbook spec has more than 100000 nodes"),
        ("a: &a [*a]\n", ":1: recursive alias *a"),
    ],
)
def test_nesting_node_count_and_recursion_are_bounded(
    tmp_path: Path, text: str, error: str
) -> None:
    path = tmp_path / "runbook.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_runbook(path)
    message = str(info.value)
    assert message.startswith(f"{path}{error}"), message
    assert "\n" not in message


def test_absurdly_large_spec_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "runbook.yaml"
    path.write_text(HEAD + "targets: {}\n" + "#" * (2 << 20) + "\n")
    with pytest.raises(SpecError, match=r"runbook\.yaml: runbook spec is larger than 1 MiB"):
        load_runbook(path)


# 7. Durations and timeouts have finite, sane bounds at load time.

@pytest.mark.parametrize(
    ("section", "error"),
    [
        ("health:\n  - {get: /health, within: .inf}\n",
         ":5: health.0.within: Value error, inf is not a duration from 0s to 24h"),
        ("health:\n  - {get: /health, timeout: .inf}\n",
         ":5: health.0.timeout: Value error, inf is not a duration from 1ms to 1h"),
        ("health:\n  - {get: /health, timeout: .nan}\n",
         ":5: health.0.timeout: Value error, nan is not a duration from 1ms to 1h"),
        ("smoke:\n  f:\n    steps:\n      - {sql: SELECT 1, every: 0}\n",
         ":7: smoke.f.steps.0.every: Value error, 0 is not a duration from 100ms to 1h"),
        ("smoke:\n  f:\n    steps:\n      - {sql: SELECT 1, within: 99999h}\n",
         ":7: smoke.f.steps.0.within: Value error, '99999h' is not a duration from 0s to 24h"),
        ("prometheus:\n  p: {query: up, expect: '> 0', every: 1ms}\n",
         ":5: prometheus.p.every: Value error, '1ms' is not a duration from 100ms to 1h"),
        ("logs: {file: a.log, timeout: .inf}\n",
         ":4: logs.timeout: Value error, inf is not a duration from 1ms to 1h"),
    ],
)
def test_durations_are_finite_and_bounded(tmp_path: Path, section: str, error: str) -> None:
    path = tmp_path / "runbook.yaml"
    path.write_text(HEAD + "targets: {}\n" + section)
    with pytest.raises(SpecError) as info:
        load_runbook(path)
    assert str(info.value) == f"{path}{error}"


def test_service_start_timeout_and_statement_timeout_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "runbook.yaml"
    path.write_text(HEAD + "targets:\n  r: {kind: ephemeral, start: {command: [x], timeout: .inf}}\n")
    with pytest.raises(SpecError, match=r":4: targets\.r\.start\.timeout: Value error, inf is not"):
        load_runbook(path)
    path.write_text(HEAD + "targets:\n  s: {kind: live, dsn_env: X,\n"
                    "      statement_timeout_ms: 99999999999999999999999999}\n")
    with pytest.raises(SpecError) as info:
        load_runbook(path)
    assert str(info.value) == (f"{path}:5: targets.s.statement_timeout_ms: Input should be less "
                               "than or equal to 3600000")


@pytest.mark.parametrize("value", ["nan", "inf", "-5", "0", "86401", "soon"])
@pytest.mark.parametrize("module", ["migrate", "rollback"])
def test_lock_timeout_is_a_finite_positive_bounded_number(
    fresh_dsn: str, tmp_path: Path, module: str, value: str
) -> None:
    write(tmp_path / "m", {"0001_a.sql": "CREATE TABLE a ();"})
    write(tmp_path / "d", {"0001_a.sql": "DROP TABLE a;"})
    folders = ["--dir", str(tmp_path / "m"), "--report-dir", str(tmp_path / "r")]
    if module == "rollback":
        folders += ["--down-dir", str(tmp_path / "d")]
    command = ["up"] if module == "migrate" else ["--confirm", "--no-backup"]
    done = cli(module, "--dsn-env", "HOSTILE_DSN", *folders, *command, f"--lock-timeout={value}",
               env={"HOSTILE_DSN": fresh_dsn})
    assert done.returncode == 2, done.stderr
    line = one_line(done.stderr, f"deploy-gates {module}: ")
    assert f"--lock-timeout: {value!r} is not a number of seconds from 0 to 3600" in line
    assert query(fresh_dsn, "SELECT to_regclass('a') IS NULL") == [(True,)]


# 9. Only regular files are specs: a FIFO is refused at once, not read.

def test_fifo_as_runbook_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "runbook.yaml"
    os.mkfifo(fifo)
    start = time.monotonic()
    done = cli("migrate", "--runbook", str(fifo), "--target", "staging", "status", timeout=10)
    assert time.monotonic() - start < 8
    assert done.returncode == 1
    assert one_line(done.stderr, "deploy-gates migrate: ") == (
        f"deploy-gates migrate: {fifo}: cannot read runbook spec: not a regular file (a FIFO)"
    )


def test_fifo_or_directory_as_spec_or_waivers_is_a_usage_error(project: pytest.Pytester) -> None:
    os.mkfifo(project.path / "pipe.yaml")
    assert usage_error(project, "--runbook=pipe.yaml").endswith(
        "pipe.yaml: cannot read runbook spec: not a regular file (a FIFO)")
    assert usage_error(project, "--runbook=runbook.yaml", "--waivers=pipe.yaml").endswith(
        "pipe.yaml: cannot read waivers file: not a regular file (a FIFO)")
    assert usage_error(project, f"--runbook={project.path}").endswith(
        ": cannot read runbook spec: not a regular file (a directory)")


# 12. Files that are not UTF-8, unwritable report folders and backup paths: one line each.

NOT_UTF8 = {
    "latin-1": (HEAD + "targets: {}\n# caf\u00e9\n").encode("latin-1"),
    "utf-16": (HEAD + "targets: {}\n").encode("utf-16"),
    "binary": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",
}


@pytest.mark.parametrize("kind", NOT_UTF8)
def test_spec_that_is_not_utf8_names_file_and_offset(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "runbook.yaml"
    path.write_bytes(NOT_UTF8[kind])
    offset = {"latin-1": 43, "utf-16": 0, "binary": 0}[kind]
    with pytest.raises(SpecError) as info:
        load_runbook(path)
    message = str(info.value)
    assert message.startswith(f"{path}:"), message
    assert f"not UTF-8 text: invalid byte at offset {offset}" in message and "\n" not in message


def test_nul_bytes_are_not_valid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "runbook.yaml"
    path.write_bytes(HEAD.encode() + b"targets: {}\x00\n")
    with pytest.raises(SpecError) as info:
        load_runbook(path)
    assert str(info.value) == (f"{path}:3: not valid YAML: unacceptable character #x0000: "
                               "control characters are not allowed")


def test_binary_spec_and_waivers_are_usage_errors(project: pytest.Pytester) -> None:
    (project.path / "binary.yaml").write_bytes(NOT_UTF8["binary"])
    (project.path / "latin.yaml").write_bytes(NOT_UTF8["latin-1"])
    assert "binary.yaml:1: runbook spec is not UTF-8 text" in usage_error(
        project, "--runbook=binary.yaml")
    assert "latin.yaml:4: waivers file is not UTF-8 text" in usage_error(
        project, "--runbook=runbook.yaml", "--waivers=latin.yaml")


def test_binary_spec_in_migrate_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "runbook.yaml").write_bytes(NOT_UTF8["utf-16"])
    done = cli("migrate", "--runbook", str(tmp_path / "runbook.yaml"), "--target", "x", "status")
    assert done.returncode == 1
    one_line(done.stderr, f"deploy-gates migrate: {tmp_path / 'runbook.yaml'}:1: runbook spec is not UTF-8")


def test_missing_waivers_file_says_waivers_file(project: pytest.Pytester) -> None:
    line = usage_error(project, "--runbook=runbook.yaml", "--waivers=nope.yaml")
    assert line.endswith("nope.yaml: cannot read waivers file: No such file or directory"), line


@pytest.mark.parametrize(
    ("report_dir", "reason"),
    [
        ("/dev/null/reports", "/dev/null/reports: cannot create it: Not a directory"),
        ("/proc/deploy-gates-reports", "/proc/deploy-gates-reports: cannot create it: "),
        ("/proc", "/proc: cannot write in it: "),
        ("existing-file", "/existing-file: not a directory"),
    ],
)
def test_unusable_report_dir_is_a_usage_error(
    project: pytest.Pytester, report_dir: str, reason: str
) -> None:
    (project.path / "existing-file").write_text("")
    line = usage_error(project, "--runbook=runbook.yaml", f"--report-dir={report_dir}")
    assert line.startswith("ERROR: --report-dir "), line
    assert reason in line, line


def test_report_that_cannot_be_written_is_one_line_and_the_run_goes_on(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(test_gate="""
        def test_gate(target, request):
            plugin = request.config.pluginmanager.get_plugin("deploy-gates-evidence")
            plugin.paths["json"].mkdir()
    """)
    result = project.runpytest_subprocess("test_gate.py", "--runbook=runbook.yaml",
                                          "--target=rehearsal", "--report-dir=out", timeout=30)
    text = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in text and "Traceback" not in text, text[-3000:]
    result.stdout.fnmatch_lines(["deploy-gates: cannot write */out/rehearsal-*.json: "
                                 "Is a directory"])
    assert result.ret == 0
    assert len(list((project.path / "out").glob("*.md"))) == 1


def test_migrate_run_log_in_an_unusable_folder_is_one_line(fresh_dsn: str, tmp_path: Path) -> None:
    write(tmp_path / "m", {"0001_a.sql": "CREATE TABLE a ();"})
    done = cli("migrate", "--dsn-env", "HOSTILE_DSN", "--dir", str(tmp_path / "m"),
               "--report-dir", "/dev/null/reports", "up", env={"HOSTILE_DSN": fresh_dsn})
    assert done.returncode == 1
    assert one_line(done.stderr, "deploy-gates migrate: ") == (
        "deploy-gates migrate: report folder /dev/null/reports: cannot create it: Not a directory"
    )
    assert query(fresh_dsn, "SELECT to_regclass('a') IS NULL") == [(True,)]


def test_backup_to_an_unwritable_path_is_one_line(fresh_dsn: str) -> None:
    done = cli("backup", "--dsn-env", "HOSTILE_DSN", "--out", "/dev/null/x.dump",
               env={"HOSTILE_DSN": fresh_dsn})
    assert done.returncode == 1
    assert one_line(done.stderr, "deploy-gates backup: ") == (
        "deploy-gates backup: backup /dev/null/x.dump: /dev/null: not a directory"
    )
