"""Hostile logs: patterns that backtrack for ever, lines of megabytes, logs bigger than the read
bound. The gates end within their time bound and their reports stay small."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from deploy_gates.verify.limits import LINE_BYTES
from deploy_gates.verify.logsource import read_command, read_file
from tests.gaterun import ROOT

MIB = 1024 * 1024

SPEC = """\
system: demo
release: "1"
targets:
  staging: {kind: live, dsn_env: DG_STAGING_DSN}
logs:
  file: app.log
  match_timeout: 500ms
  absent: ['(a+)+$', '(a|a)+$', 'x{3}']
  present: ['(a|a)+$']
"""


def test_backtracking_patterns_end_at_the_match_timeout_in_one_line(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", runbook=SPEC)
    (pytester.path / "app.log").write_text("a" * 34 + "!\n" + "x" * 3 * MIB + "\n")
    pytester.runpytest_subprocess(
        "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
        str(ROOT / "verify" / "test_logs.py"), f"--runbook={pytester.path / 'runbook.yaml'}",
        f"--report-dir={pytester.path / 'out'}", "--target=staging", timeout=60,
    )
    (path,) = (pytester.path / "out").glob("*.json")
    gates = {g["name"]: g for g in json.loads(path.read_text())["gates"]}
    timed_out = ("logs pattern '(a|a)+$' did not finish within 0.5 s of CPU time "
                 "(logs.match_timeout), at line 1 of 2: simplify it")
    assert {n: g["message"] for n, g in gates.items()} == {
        "test_logs_absent[(a+)+$]": "",
        "test_logs_absent[(a|a)+$]": timed_out,
        "test_logs_absent[x{3}]": "expected no log line matching 'x{3}'; found 1 of 2 lines, "
                                  "first: " + "x" * 200 + "... [65,336 more characters]",
        "test_logs_present[(a|a)+$]": timed_out,
    }
    # the bound is CPU time: on a busy machine a gate takes longer, never a minute
    assert all(g["duration"] < 10 for g in gates.values()), {n: g["duration"] for n, g in gates.items()}
    assert max(p.stat().st_size for p in (pytester.path / "out").iterdir()) < 1_000_000


def test_a_file_is_read_within_max_bytes_from_its_end(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("ERROR before the window\n" + "x" * 5 * MIB + "\nlast trace_id\n")
    read = read_file(log, 100, MIB)
    assert read.lines == ("last trace_id",)
    assert read.note == "the last 1 MiB (logs.max_bytes)"


def test_a_line_longer_than_the_window_is_kept_cut(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("y" * 5 * MIB)
    read = read_file(log, 100, MIB)
    assert read.lines == ("y" * LINE_BYTES,)
    assert read.note == "the last 1 MiB (logs.max_bytes); 1 line cut to 64 KiB"


def test_command_output_is_kept_within_max_bytes_and_lines_cut(tmp_path: Path) -> None:
    long_line = [sys.executable, "-c", "print('z' * 5_000_000); print('done')"]
    read = read_command(long_line, 10, 30, tmp_path, MIB)
    assert read.problem is None
    assert read.lines == ("z" * LINE_BYTES, "done")
    many = [sys.executable, "-c", "for n in range(100_000): print(f'{n:099d}')"]
    read = read_command(many, 100_000, 30, tmp_path, MIB)
    assert len(read.lines) == MIB // 100
    assert read.lines[-1] == f"{99_999:099d}"
    assert read.note == "the last 1 MiB (logs.max_bytes)"
