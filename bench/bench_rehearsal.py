"""Postgres start per provider, and the example rehearsal against the seed runbook's psql loop."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import interleaved, timed  # noqa: E402

from deploy_gates.fixtures.ephemeral import start_server  # noqa: E402
from deploy_gates.fixtures.ephemeral.embedded import bin_dir  # noqa: E402
from deploy_gates.fixtures.ephemeral.local import find_bin_dir  # noqa: E402

EXAMPLE = ROOT / "examples" / "tascade"
BASELINE = ["0001_init.sql", "0002_task_class_gate_types.sql", "0003_short_ids.sql",
            "0004_gate_candidate_link.sql"]
RELEASE = ["0005_metrics_read_model.sql", "0006_metrics_incremental_jobs.sql",
           "0007_metrics_event_log_cursor_index.sql", "0008_metrics_alerts.sql"]


def start_and_stop(provider: str, phases: dict[str, list[float]],
                   image: str = "postgres:16") -> None:
    """A server from nothing to an answered SELECT 1, then stopped and removed; both phases'
    seconds added to ``phases`` under ``<provider> ready`` and ``<provider> stopped``."""
    server = timed(phases, f"{provider} ready", lambda: start_server(provider, image=image))
    timed(phases, f"{provider} stopped", server.stop)


def from_nothing(phases: dict[str, list[float]]) -> None:
    """The by-hand loop as a runbook without a server at hand does it: an embedded server
    started, the loop, the server stopped."""
    server = start_server("embedded")
    try:
        rehearsal_by_hand(server.create_database("byhand"))
    finally:
        server.stop()


SERVICE_GATES = "not test_health and not test_smoke"
"""The example's rehearsal also boots its service for these; the other side has no service."""


def rehearsal_with_pytest(report_dir: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pytest", "--target=rehearsal", "-q", "-p", "no:cacheprovider",
         "-k", SERVICE_GATES, f"--report-dir={report_dir}", *args],
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
    phases: dict[str, list[float]] = {}
    starts = interleaved({f"postgres {p}": partial(start_and_stop, p, phases)
                          for p in providers}, args.runs)
    print(starts.report("postgres embedded"))
    for provider in providers:
        ready, stopped = (statistics.median(phases[f"{provider} {phase}"])
                          for phase in ("ready", "stopped"))
        print(f"postgres {provider:<8}: ready in {ready:5.2f} s, stopped and removed in "
              f"{stopped:5.2f} s (medians of {args.runs})")

    server = start_server("embedded")
    try:
        with tempfile.TemporaryDirectory() as reports:
            paired = interleaved({
                "rehearsal, pytest --target=rehearsal": partial(rehearsal_with_pytest,
                                                                 Path(reports)),
                "psql loop (running server)": lambda: rehearsal_by_hand(
                    server.create_database("byhand")),
                "psql loop + embedded start and stop": partial(from_nothing, phases),
            }, args.runs)
    finally:
        server.stop()
    print(paired.report("rehearsal, pytest --target=rehearsal"))


if __name__ == "__main__":
    main()
