"""Reading and linting a /metrics exposition of 100,000 or 1,000,000 series, 10 of its families
gated: a deploy-gates process against ``promtool check metrics``, both whole processes, run in
turn, with their peak memory."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import interleaved, peak_mib  # noqa: E402

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
URL = "http://127.0.0.1:8000/metrics"
ROUTES = [f"/api/v1/resource_{r:02d}" for r in range(20)]
STATUSES = ["200", "201", "204", "301", "304", "400", "401", "404", "500", "503"]
BUCKETS = ["0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "+Inf"]
COUNTERS, GAUGES, HISTOGRAMS = 250, 200, 50
"""Per 100,000 series, 500 families of 200 series each: counters and gauges by route and status
(200 label sets), histograms by route (20 label sets of 8 buckets, _sum and _count)."""
GATED = 10
"""Families the spec names under ``metrics.present`` (the first counters)."""
TIMEOUT_S = 120
DEPLOY_GATES = """
import sys
from deploy_gates.verify.exposition import lint, parse
text = open(sys.argv[1], encoding="utf-8").read()
exposition = parse(text, sys.argv[2], sys.argv[3], set(sys.argv[4:]))
problems = lint(exposition)
print(len(exposition.series_names()), len(exposition.families), len(problems))
"""
"""What the metric gates and the lint gate compute from one scrape's body, in a fresh process:
every line read and linted, the gated families parsed by prometheus_client."""


def counter(index: int) -> list[str]:
    name = f"app_requests_{index:03d}_total"
    lines = [f"# HELP {name} Requests handled by handler {index}.", f"# TYPE {name} counter"]
    lines += [f'{name}{{route="{route}",status="{status}"}} {(index + r * 10 + s) * 17}'
              for r, route in enumerate(ROUTES) for s, status in enumerate(STATUSES)]
    return lines


def gauge(index: int) -> list[str]:
    name = f"app_queue_{index:03d}_depth"
    lines = [f"# HELP {name} Jobs waiting in queue {index}.", f"# TYPE {name} gauge"]
    lines += [f'{name}{{route="{route}",status="{status}"}} {(r * s) % 97 / 4}'
              for r, route in enumerate(ROUTES) for s, status in enumerate(STATUSES)]
    return lines


def histogram(index: int) -> list[str]:
    name = f"app_step_{index:03d}_duration_seconds"
    lines = [f"# HELP {name} Duration of step {index}.", f"# TYPE {name} histogram"]
    for r, route in enumerate(ROUTES):
        count = 1000 + r
        lines += [f'{name}_bucket{{route="{route}",le="{le}"}} {count * (b + 1) // len(BUCKETS)}'
                  for b, le in enumerate(BUCKETS)]
        lines += [f'{name}_sum{{route="{route}"}} {count * 0.042:.3f}',
                  f'{name}_count{{route="{route}"}} {count}']
    return lines


def exposition_text(scale: int) -> str:
    """The whole exposition, as a service with ``scale`` x 500 instrumented families serves it."""
    lines = [line for i in range(COUNTERS * scale) for line in counter(i)]
    lines += [line for i in range(GAUGES * scale) for line in gauge(i)]
    lines += [line for i in range(HISTOGRAMS * scale) for line in histogram(i)]
    return "\n".join(lines) + "\n"


def gated() -> list[str]:
    return [f"app_requests_{i:03d}_total" for i in range(GATED)]


def deploy_gates_command(path: Path) -> list[str]:
    return [sys.executable, "-c", DEPLOY_GATES, str(path), CONTENT_TYPE, URL, *gated()]


def run(command: list[str], path: Path) -> subprocess.CompletedProcess:
    """``command`` with the exposition on stdin; an error unless it exits 0, or 3 (promtool's
    lint problems)."""
    with path.open("rb") as stdin:
        done = subprocess.run(command, stdin=stdin, capture_output=True, timeout=TIMEOUT_S,
                              check=False)
    if done.returncode not in (0, 3):
        raise RuntimeError(f"{command[0]} exited {done.returncode}: {done.stderr[-2000:]!r}")
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--series", type=int, nargs="+", default=[100_000, 1_000_000],
                        help="exposition sizes, multiples of 100000")
    args = parser.parse_args()
    if shutil.which("promtool") is None:
        raise SystemExit("promtool not found on PATH (Debian: apt-get install prometheus)")
    promtool = ["promtool", "check", "metrics"]
    for series in args.series:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "metrics.txt"
            path.write_text(exposition_text(series // 100_000), encoding="utf-8")
            ours = deploy_gates_command(path)
            seen, families, problems = run(ours, path).stdout.decode().split()
            theirs = run(promtool, path).stderr.decode().splitlines()
            print(f"exposition: {seen} series names, {path.stat().st_size} bytes, {GATED} "
                  f"families gated ({families} parsed); lint problems: deploy-gates {problems}, "
                  f"promtool {len(theirs)}", flush=True)
            paired = interleaved({"promtool check metrics": partial(run, promtool, path),
                                  "deploy-gates read + lint": partial(run, ours, path)},
                                 args.runs)
            print(paired.report("promtool check metrics"))
            print(f"peak memory: deploy-gates {peak_mib(ours, path):.0f} MiB, promtool "
                  f"{peak_mib(promtool, path):.0f} MiB", flush=True)


if __name__ == "__main__":
    main()
