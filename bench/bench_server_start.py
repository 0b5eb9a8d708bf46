"""The throwaway server's start, warm (the initdb'd cluster already in DEPLOY_GATES_CACHE_DIR,
copied per start) against first-ever (an empty DEPLOY_GATES_CACHE_DIR: initdb, then the copy);
each start in a new process, timed inside it to an answered ``SELECT 1``; sides in turn."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import Paired, interleaved  # noqa: E402

from deploy_gates.fixtures.ephemeral.template import CACHE_ENV  # noqa: E402

CHILD = """
import json, sys, time
start = time.perf_counter()
from deploy_gates.fixtures.ephemeral import start_server
server = start_server(sys.argv[1])
ready = time.perf_counter() - start
server.stop()
print(json.dumps({"ready": ready}))
"""
TIMEOUT_S = 120


def start(provider: str, cache: Path, seconds: list[float]) -> None:
    """One start and stop in a new process with ``cache`` as the cache folder; its seconds to
    ready (imports included) appended to ``seconds``."""
    done = subprocess.run([sys.executable, "-c", CHILD, provider], cwd=ROOT,
                          env={**os.environ, CACHE_ENV: str(cache)}, capture_output=True,
                          text=True, timeout=TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{provider} start failed:\n{done.stderr[-2000:]}")
    seconds.append(json.loads(done.stdout.splitlines()[-1])["ready"])


def first_ever(provider: str, seconds: list[float]) -> None:
    with tempfile.TemporaryDirectory() as empty:
        start(provider, Path(empty), seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--provider", default="embedded", choices=["embedded", "local"])
    args = parser.parse_args()
    ready: dict[str, list[float]] = {"first-ever": [], "warm": []}
    with tempfile.TemporaryDirectory() as cache:
        start(args.provider, Path(cache), [])  # fills the cache, unmeasured
        paired = interleaved({
            "first-ever": partial(first_ever, args.provider, ready["first-ever"]),
            "warm": partial(start, args.provider, Path(cache), ready["warm"]),
        }, args.runs)
    print(f"{args.provider} provider; whole processes:")
    print(paired.report("first-ever"))
    inside = Paired(ready, paired.load_before, paired.load_after)
    print("ready, timed inside the process (imports included):")
    print(inside.report("first-ever"))


if __name__ == "__main__":
    main()
