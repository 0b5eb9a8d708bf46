"""Parsing and linting a 100,000-series /metrics exposition: deploy-gates against promtool."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import median_seconds  # noqa: E402

from deploy_gates.verify.exposition import Exposition, lint, parse  # noqa: E402

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
URL = "http://127.0.0.1:8000/metrics"
ROUTES = [f"/api/v1/resource_{r:02d}" for r in range(20)]
STATUSES = ["200", "201", "204", "301", "304", "400", "401", "404", "500", "503"]
BUCKETS = ["0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "+Inf"]
COUNTERS, GAUGES, HISTOGRAMS = 250, 200, 50
"""500 families of 200 series each: counters and gauges by route and status (200 label sets),
histograms by route (20 label sets of 8 buckets, _sum and _count)."""
TIMEOUT_S = 120


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


def exposition_text() -> str:
    """The whole exposition, as a service with 500 instrumented families serves it."""
    lines = [line for i in range(COUNTERS) for line in counter(i)]
    lines += [line for i in range(GAUGES) for line in gauge(i)]
    lines += [line for i in range(HISTOGRAMS) for line in histogram(i)]
    return "\n".join(lines) + "\n"


def deploy_gates(text: str) -> tuple[Exposition, list[str]]:
    exposition = parse(text, CONTENT_TYPE, URL)
    return exposition, lint(exposition)


def promtool(text: str) -> subprocess.CompletedProcess:
    """``promtool check metrics`` on stdin: exit 0 when clean, 3 with lint problems (one per
    line on stderr), 1 when the text does not parse."""
    done = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=TIMEOUT_S, check=False)
    if done.returncode not in (0, 3):
        raise RuntimeError(f"promtool exited {done.returncode}: {done.stderr[-2000:]}")
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("promtool") is None:
        raise SystemExit("promtool not found on PATH (Debian: apt-get install prometheus)")

    text = exposition_text()
    exposition, problems = deploy_gates(text)
    series = sum(len(f.samples) for f in exposition.families.values())
    checked = promtool(text)
    print(f"exposition: {len(exposition.families)} families, {series} series, "
          f"{len(text.encode())} bytes")
    print(f"lint problems: deploy-gates {len(problems)}, promtool "
          f"{len(checked.stderr.splitlines()) if checked.returncode else 0}")

    ours = median_seconds(lambda: deploy_gates(text), args.runs)
    parse_only = median_seconds(lambda: parse(text, CONTENT_TYPE, URL), args.runs)
    theirs = median_seconds(lambda: promtool(text), args.runs)
    print(f"deploy-gates parse + lint          : {ours:6.3f} s (median of {args.runs}; parse "
          f"alone {parse_only:.3f} s)")
    print(f"promtool check metrics (stdin)     : {theirs:6.3f} s (median of {args.runs}, "
          f"whole process)")
    print(f"ratio deploy-gates / promtool      : {ours / theirs:6.2f}x")


if __name__ == "__main__":
    main()
