"""Postgres start per provider, and the example rehearsal against the seed runbook's psql loop."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import median_seconds  # noqa: E402

from deploy_gates.fixtures.ephemeral import start_server  # noqa: E402
from deploy_gates.fixtures.ephemeral.embedded import bin_dir  # noqa: E402
from deploy_gates.fixtures.ephemeral.local import find_bin_dir  # noqa: E402

EXAMPLE = ROOT / "examples" / "tascade"
BASELINE = ["0001_init.sql", "0002_task_class_gate_types.sql", "0003_short_ids.sql",
            "0004_gate_candidate_link.sql"]
RELEASE = ["0005_metrics_read_model.sql", "0006_metrics_incremental_jobs.sql",
           "0007_metrics_event_log_cursor_index.sql", "0008_metrics_alerts.sql"]


def start_times(provider: str, runs: int, image: str = "postgres:16") -> tuple[float, float]:
    """Median seconds from nothing to an answered SELECT 1, and to stopped and removed."""
    ready, stopped = [], []
    for _ in range(runs):
        start = time.perf_counter()
        server = start_server(provider, image=image)
        try:
            ready.append(time.perf_counter() - start)
            start = time.perf_counter()
        finally:
            server.stop()
        stopped.append(time.perf_counter() - start)
    return statistics.median(ready), statistics.median(stopped)


def rehearsal_with_pytest(report_dir: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pytest", "--target=rehearsal", "-q", "-p", "no:cacheprovider",
         f"--report-dir={report_dir}", *args],
        cwd=ROOT, check=True, capture_output=True, timeout=300,
    )


def psql_files(dsn: str, folder: str, names: list[str]) -> None:
    """``psql -1 -f`` per file, as the runbook does (no -1 for the CONCURRENTLY index)."""
    for name in names:
        one_tx = [] if name.startswith("0007") else ["-1"]
        psql(dsn, *one_tx, "-f", str(EXAMPLE / folder / name))


def psql(dsn: str, *args: str) -> None:
    subprocess.run([str(bin_dir() / "psql"), dsn, "-X", "-q", "-v", "ON_ERROR_STOP=1", *args],
                   check=True, capture_output=True, timeout=60)


def rehearsal_by_hand(dsn: str) -> None:
    """Seed 002's sections 3, 8 and 9 as a release engineer types them, from the baseline on."""
    psql_files(dsn, "migrations", BASELINE)
    psql_files(dsn, "migrations", RELEASE)
    psql(dsn, "-c", r"\dt metrics_*")
    psql_files(dsn, "down", list(reversed(RELEASE)))
    psql(dsn, "-c", r"\dt metrics_*")
    psql_files(dsn, "migrations", RELEASE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    providers = ["embedded"] + (["local"] if find_bin_dir() is not None else [])
    starts = {provider: start_times(provider, args.runs) for provider in providers}
    for provider, (ready, stopped) in starts.items():
        print(f"postgres {provider:<8}: ready in {ready:5.2f} s, stopped and removed in "
              f"{stopped:5.2f} s (median of {args.runs})")

    with tempfile.TemporaryDirectory() as reports:
        suite = median_seconds(lambda: rehearsal_with_pytest(Path(reports)), args.runs)
    server = start_server("embedded")
    try:
        manual = median_seconds(
            lambda: rehearsal_by_hand(server.create_database("byhand")), args.runs
        )
    finally:
        server.stop()
    from_nothing = manual + sum(starts["embedded"])
    print(f"rehearsal, pytest --target=rehearsal  : {suite:5.2f} s (whole process)")
    print(f"rehearsal, seed runbook psql loop     : {manual:5.2f} s (on a running server)")
    print(f"  psql loop + embedded start and stop : {from_nothing:5.2f} s")
    print(f"ratio suite / psql loop               : {suite / manual:5.2f}x")
    print(f"ratio suite / psql loop with a server : {suite / from_nothing:5.2f}x")


if __name__ == "__main__":
    main()
