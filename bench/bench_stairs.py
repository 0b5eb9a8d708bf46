"""The example's stairs + data rehearsal (1,000 rows per table) against the batch-only rehearsal
and a hand-written psql stairway loop (up, down, up per file), run by run in turn; and the data
generator filling 100,000 rows across the example's baseline tables."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from functools import partial
from pathlib import Path

import psycopg
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_rehearsal import (  # noqa: E402
    BASELINE,
    EXAMPLE,
    RELEASE,
    SERVICE_GATES,
    start_and_stop,
)
from benchlib import psql_clients, timed  # noqa: E402

from deploy_gates.fixtures.ephemeral import start_server  # noqa: E402
from deploy_gates.migrate import discover, up  # noqa: E402
from deploy_gates.verify.datagen import fill, read_tables  # noqa: E402

ROWS = 1000
GENERATED_ROWS = 100_000
TIMEOUT_S = 300
SEED = """\
INSERT INTO projects (name, short_id)
  SELECT 'project ' || g, 'p' || g FROM generate_series(1, {n}) g;
INSERT INTO tasks (project_id, title, short_id)
  SELECT p.id, 'task ' || g, 't' || g FROM generate_series(1, {n}) g
  JOIN (SELECT id, row_number() OVER () AS rn FROM projects) p ON p.rn = g;
INSERT INTO event_log (project_id, task_id, event_type)
  SELECT t.project_id, t.id, 'created' FROM tasks t;
INSERT INTO gate_candidate_link (gate_task_id, candidate_task_id)
  SELECT a.id, b.id FROM (SELECT id, row_number() OVER () AS rn FROM tasks) a
  JOIN (SELECT id, row_number() OVER () AS rn FROM tasks) b ON b.rn = a.rn % {n} + 1;
"""
"""What a hand-written loop loads first: {n} rows per baseline table, set-based."""


def spec_copy(folder: Path, name: str, rehearsal: dict) -> Path:
    """A copy of the example with keys of its spec's ``rehearsal:`` section replaced."""
    release = folder / name
    shutil.copytree(EXAMPLE, release)
    spec_path = release / "runbook.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    spec["rehearsal"] = {**spec["rehearsal"], **rehearsal}
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return spec_path


def suite(spec: Path, reports: Path, gates: dict[str, list[float]]) -> None:
    """``pytest --target=rehearsal`` in a fresh process; every gate must pass. The summed
    durations of the rehearsal's gates, by kind, go to ``gates``."""
    shutil.rmtree(reports, ignore_errors=True)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--target=rehearsal", "-q", "-p", "no:cacheprovider",
         "-k", SERVICE_GATES, f"--runbook={spec}", f"--report-dir={reports}"],
        cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )
    (summary,) = reports.glob("*.json")
    records = json.loads(summary.read_text())["gates"]
    outcomes = Counter(g["outcome"] for g in records)
    if done.returncode != 0 or set(outcomes) - {"passed", "skipped"}:
        raise RuntimeError(f"suite exited {done.returncode} ({dict(outcomes)}):\n"
                           f"{done.stdout[-3000:]}")
    kinds: dict[str, float] = {}
    for gate in records:
        if "test_rehearsal.py" in gate["id"]:
            kinds.setdefault(_kind(gate["name"]), 0.0)
            kinds[_kind(gate["name"])] += gate["duration"]
    for kind, seconds in kinds.items():
        gates.setdefault(kind, []).append(seconds)


def _kind(name: str) -> str:
    if name.startswith("test_stair["):
        return "stairs (12 gates)"
    if name.startswith("test_locks["):
        return "lock gates (4)"
    if name == "test_baseline_data":
        return "baseline data (fill + copy for the stairs)"
    return "batch, baseline, backup, restore"


def psql(client: str, dsn: str, *args: str) -> None:
    subprocess.run([client, dsn, "-X", "-q", "-v", "ON_ERROR_STOP=1", *args],
                   check=True, capture_output=True, timeout=60)


def stairway_by_hand(client: str, dsn: str, seed: Path) -> None:
    """A hand-written stairway: baseline, seed rows, then per release file up, down, up (one
    transaction each, none for the CONCURRENTLY index); no check of anything."""
    for name in BASELINE:
        psql(client, dsn, "-1", "-f", str(EXAMPLE / "migrations" / name))
    psql(client, dsn, "-1", "-f", str(seed))
    for name in RELEASE:
        one_tx = [] if name.startswith("0007") else ["-1"]
        for folder in ("migrations", "down", "migrations"):
            psql(client, dsn, *one_tx, "-f", str(EXAMPLE / folder / name))


def generate(server, rows_per_table: int) -> tuple[float, int]:
    """Seconds to fill the example's baseline tables with ``rows_per_table`` rows each (the fill
    alone: baseline migrations and catalog read outside the timing), and the rows made."""
    dsn = server.create_database("generate")
    files = discover(EXAMPLE / "migrations")
    up(dsn, files, through=BASELINE[-1])
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        tables = read_tables(conn, frozenset({"public.schema_migrations"}))
        start = time.perf_counter()
        report = fill(conn, tables, rows_per_table)
        seconds = time.perf_counter() - start
    return seconds, sum(f.rows for f in report.filled.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    load_before = os.getloadavg()
    clients = psql_clients()
    times: dict[str, list[float]] = {}
    gates: dict[str, dict[str, list[float]]] = {"A": {}, "B": {}}
    phases: dict[str, list[float]] = {}
    for _ in range(args.runs):
        start_and_stop("embedded", phases)
    ready, stopped = (statistics.median(phases[f"embedded {p}"]) for p in ("ready", "stopped"))
    server = start_server("embedded")
    try:
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            stairs = spec_copy(folder, "stairs", {"mode": "both", "data": {"rows": ROWS}})
            batch = spec_copy(folder, "batch", {"mode": "batch", "data": {"rows": 0},
                                                "squawk": {"enabled": False}})
            seed = folder / "seed.sql"
            seed.write_text(SEED.format(n=ROWS))
            sides = {
                "A stairs + data (pytest)": partial(suite, stairs, folder / "a", gates["A"]),
                "B batch only (pytest)": partial(suite, batch, folder / "b", gates["B"]),
            }
            for client, path in clients.items():
                sides[f"C stairway loop, {client}"] = (
                    lambda path=path: stairway_by_hand(path, server.create_database("loop"), seed)
                )
            for run in range(1, args.runs + 1):
                for side, action in sides.items():
                    timed(times, side, action)
                print(f"run {run}/{args.runs}: " + ", ".join(
                    f"{side.split(' ', 1)[0]} {values[-1]:.2f} s" for side, values in times.items()
                ), flush=True)
        fills = [generate(server, GENERATED_ROWS // len(BASELINE)) for _ in range(args.runs)]
    finally:
        server.stop()
    load_after = os.getloadavg()
    report(times, gates, fills, ready + stopped, args.runs, load_before, load_after)


def _breakdown(gates: dict[str, list[float]]) -> None:
    """The rehearsal gates' own time by kind (the rest is pytest, other gates and reports)."""
    for kind, values in sorted(gates.items()):
        print(f"    {kind:<45}: {statistics.median(values):5.2f} s")


def report(times: dict[str, list[float]], gates: dict[str, dict[str, list[float]]],
           fills: list[tuple[float, int]], server_s: float, runs: int,
           load_before: tuple[float, ...], load_after: tuple[float, ...]) -> None:
    def median(name: str) -> float:
        return statistics.median(times[name])

    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
          f"after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    a, b = median("A stairs + data (pytest)"), median("B batch only (pytest)")
    print(f"A stairs + data, {ROWS} rows/table, pytest --target=rehearsal : {a:5.2f} s "
          f"(whole process, embedded server; median of {runs})")
    _breakdown(gates["A"])
    print(f"B batch only, no data (the rehearsal before the stairs): {b:5.2f} s; "
          f"A / B {a / b:4.2f}x")
    _breakdown(gates["B"])
    for side in [s for s in times if s.startswith("C ")]:
        c = median(side)
        print(f"{side + ' (running server)':<54}: {c:5.2f} s; A / C {a / c:4.2f}x; with an "
              f"embedded start and stop ({server_s:.2f} s) A / C {a / (c + server_s):4.2f}x")
    seconds = statistics.median(f[0] for f in fills)
    made = fills[0][1]
    verdict = "met" if seconds < 2 else "not met"
    print(f"data generation: {made} rows across the example's {len(BASELINE)} baseline tables in "
          f"{seconds:.2f} s (median of {len(fills)}; target under 2 s: {verdict}); "
          f"{made / seconds:,.0f} rows/s")


if __name__ == "__main__":
    main()
