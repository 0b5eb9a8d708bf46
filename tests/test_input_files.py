"""Every file of a release that deploy-gates reads (migration scripts of each layout, down and
verify scripts, sqitch.plan, Flyway's per-script .conf, seed files, log files) is read bounded:
a FIFO in its place is refused at once, an oversize or non-UTF-8 file in one line naming it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path

import pytest

from deploy_gates.cli.lint import check
from deploy_gates.reports.merge import MergeError, merge_runs
from deploy_gates.spec.runbook import load_runbook
from deploy_gates.verify.logsource import read_file
from deploy_gates.verify.migration_lint import missing_down_script
from deploy_gates.verify.release import split_at_baseline
from tests.gaterun import ROOT

LAYOUTS = ROOT / "tests" / "layouts"
MIB = 1 << 20
FILES = {
    "sqitch plan": ("sqitch", "sqitch.plan", 16 * MIB),
    "sqitch deploy": ("sqitch", "deploy/invoices.sql", 64 * MIB),
    "sqitch revert": ("sqitch", "revert/invoices.sql", 64 * MIB),
    "sqitch verify": ("sqitch", "verify/invoices.sql", 64 * MIB),
    "flyway versioned": ("flyway", "sql/V1_1__Create_invoices.sql", 64 * MIB),
    "flyway undo": ("flyway", "sql/U1_1__Create_invoices.sql", 64 * MIB),
    "flyway conf": ("flyway", "sql/V1_1__Create_invoices.sql.conf", MIB),
    "numbered up": ("numbered", "migrations/002__create-invoices.sql", 64 * MIB),
    "numbered down": ("numbered", "down/002__create-invoices.sql", 64 * MIB),
    "golang-migrate up": ("golang-migrate", "migrations/000002_create_invoices.up.sql", 64 * MIB),
    "golang-migrate down": ("golang-migrate", "migrations/000002_create_invoices.down.sql",
                            64 * MIB),
    "dbmate": ("dbmate", "db/migrations/20250301120000_create_invoices.sql", 64 * MIB),
    "liquibase changelog": ("liquibase-sql", "changelog/002-invoices.sql", 64 * MIB),
}
HANG_S = 5.0
"""How long a read may block on a FIFO before the test calls it a hang (and unblocks it)."""


@contextmanager
def no_hang(fifo: Path) -> Iterator[None]:
    """Fail when reading ``fifo`` blocks: after ``HANG_S`` a writer opens and closes it, so a
    reader stuck in open() or read() gets end of file and the test ends instead of hanging."""
    done, hung = threading.Event(), threading.Event()

    def release() -> None:
        if done.wait(HANG_S):
            return
        hung.set()
        while not done.is_set():
            with suppress(OSError):  # ENXIO: no reader at the moment
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            time.sleep(0.05)

    watchdog = threading.Thread(target=release, daemon=True)
    watchdog.start()
    try:
        yield
    finally:
        done.set()
        watchdog.join()
    assert not hung.is_set(), f"reading {fifo} blocked for {HANG_S} s"


def release_with(tmp_path: Path, case: str, make: str) -> tuple[Path, Path]:
    """A copy of the case's layout example with its file made ``make``: the spec, the file."""
    layout, relative, cap = FILES[case]
    shutil.copytree(LAYOUTS / layout, tmp_path / layout)
    path = tmp_path / layout / relative
    path.unlink(missing_ok=True)
    if make == "fifo":
        os.mkfifo(path)
    elif make == "oversize":
        with path.open("wb") as sparse:
            sparse.truncate(cap + 1)
    else:
        path.write_bytes(b"SELECT 1;\n-- caf\xe9\n")
    return tmp_path / layout / "runbook.yaml", path


@pytest.mark.parametrize("case", FILES)
@pytest.mark.parametrize("make", ["fifo", "oversize", "latin-1"])
def test_a_bad_release_file_is_one_line_naming_it(tmp_path: Path, case: str, make: str) -> None:
    spec, path = release_with(tmp_path, case, make)
    if make == "fifo":
        with no_hang(path):
            problems, _ = check(spec)
    else:
        problems, _ = check(spec)
    assert len(problems) == 1, problems
    (line,) = problems
    assert "\n" not in line and str(path) in line, line
    cap = FILES[case][2]
    expected = {"fifo": ": not a regular file (a FIFO)",
                "oversize": f" is larger than {cap // MIB} MiB",
                "latin-1": " is not UTF-8 text: invalid byte at offset 16 (0xe9)"}[make]
    assert expected in line, line


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "deploy_gates", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=60, stdin=subprocess.DEVNULL)


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr[-2000:]
    assert len(stderr.strip().splitlines()) == 1, stderr[-2000:]
    return stderr.strip()


@pytest.mark.parametrize(("case", "make"), [("flyway versioned", "fifo"), ("sqitch plan", "latin-1")])
def test_each_command_says_it_in_one_line(
    pytester: pytest.Pytester, tmp_path: Path, case: str, make: str
) -> None:
    spec, path = release_with(tmp_path, case, make)
    commands = {
        "lint": ["lint", "--runbook", str(spec)],
        "migrate": ["migrate", "status", "--runbook", str(spec), "--target", "staging"],
        "lock": ["lock", "--runbook", str(spec), "--db-provider", "embedded"],
    }
    for name, args in commands.items():
        with no_hang(path) if make == "fifo" else nullcontext():
            done = cli(*args)
        assert done.returncode == 1, (name, done.stderr)
        line = one_line(done.stderr)
        assert str(path) in line and ("FIFO" in line or "not UTF-8" in line), (name, line)
    with no_hang(path) if make == "fifo" else nullcontext():
        result = pytester.runpytest_subprocess(
            "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), str(ROOT / "verify"),
            f"--runbook={spec}", "--target=rehearsal", f"--report-dir={tmp_path / 'out'}",
            timeout=60)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str().strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err[-2000:]
    assert str(path) in err, err


def test_a_seed_that_is_a_fifo_is_refused_at_spec_load(tmp_path: Path) -> None:
    spec, _ = release_with(tmp_path, "flyway conf", "latin-1")
    (spec.parent / "sql" / "V1_1__Create_invoices.sql.conf").unlink()
    os.mkfifo(spec.parent / "seed.sql")
    spec.write_text(spec.read_text().replace("rehearsal:\n  locks:", "rehearsal:\n  data:\n"
                                             "    seed: [seed.sql]\n  locks:"))
    problems, _ = check(spec)
    assert problems == [f"{spec}:27: rehearsal.data.seed.0: {spec.parent / 'seed.sql'}: "
                        "cannot read seed file: not a regular file (a FIFO)"]


def test_a_log_file_that_is_a_fifo_is_a_problem_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "app.log"
    os.mkfifo(fifo)
    with no_hang(fifo):
        found = read_file(fifo, 10)
    assert found.problem == f"logs file {fifo}: cannot read it: not a regular file (a FIFO)"


def test_a_merge_input_that_is_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "eu.json"
    os.mkfifo(fifo)
    with no_hang(fifo), pytest.raises(MergeError) as refused:
        merge_runs([fifo], tmp_path / "merged")
    assert str(refused.value) == f"merge: {fifo}: cannot read run summary: not a regular file (a FIFO)"


def test_the_down_script_gate_says_an_unreadable_down_script_in_one_line(tmp_path: Path) -> None:
    spec, path = release_with(tmp_path, "numbered down", "fifo")
    runbook = load_runbook(spec)
    (migration,) = [m for m in split_at_baseline(runbook)[1] if m.name == path.name]
    with no_hang(path):
        problem = missing_down_script(runbook, migration)
    assert problem == f"{path}: cannot read down script: not a regular file (a FIFO)"
