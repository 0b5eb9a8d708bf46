"""Throwaway Postgres start, from nothing to an answered SELECT 1, per provider: embedded and
testcontainers (local for reference), cold and warm."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_rehearsal import start_times  # noqa: E402

from deploy_gates.fixtures.ephemeral import local_binaries_installed  # noqa: E402
from deploy_gates.fixtures.ephemeral.server import docker_answers, image_present  # noqa: E402

IMAGE = "deploy-gates/postgres:15-bookworm"
"""The image ci/build-postgres-image.sh builds offline; no registry is reachable here."""
CONTAINER_ENV = {"TESTCONTAINERS_RYUK_DISABLED": "true", "TC_HOST": "127.0.0.1",
                 "TESTCONTAINERS_CONNECTION_MODE": "docker_host"}
"""Ryuk's image is in a registry; connect to the container over loopback."""
DROP_CACHES = Path("/proc/sys/vm/drop_caches")
CHILD_TIMEOUT_S = 180
STOP_TIMEOUT_S = 60
CHILD = """
import json, signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
start = time.perf_counter()
from deploy_gates.fixtures.ephemeral import start_server
server = start_server(sys.argv[1], image=sys.argv[2])
try:
    ready = time.perf_counter() - start
finally:
    server.stop()
print(json.dumps({"ready": ready}))
"""
"""One start in a new interpreter: seconds from before the first import of the project to an
answered SELECT 1 (provider modules, the wheel or testcontainers and Docker's client included)."""


def drop_page_cache() -> bool:
    """Write dirty pages and drop the page cache, when this process may (root); True if done."""
    try:
        os.sync()
        DROP_CACHES.write_text("3\n")
    except OSError:
        return False
    return True


def cold_start(provider: str, image: str) -> tuple[float, float]:
    """A first start in a new process after the page cache was dropped (when it can be):
    seconds to ready inside the process, and the whole process's seconds."""
    drop_page_cache()
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", CHILD, provider, image], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = process.communicate(timeout=CHILD_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(STOP_TIMEOUT_S)
    if process.returncode != 0:
        raise RuntimeError(f"{provider} start in a new process failed:\n{err[-2000:]}")
    return json.loads(out.splitlines()[-1])["ready"], time.perf_counter() - start


def cold_starts(provider: str, image: str, runs: int) -> tuple[float, float]:
    """Median of ``runs`` cold starts: ready inside the process, and whole process."""
    starts = [cold_start(provider, image) for _ in range(runs)]
    return (statistics.median(s[0] for s in starts), statistics.median(s[1] for s in starts))


def why_no_containers(image: str) -> str | None:
    """Why testcontainers cannot be measured here, or None when it can."""
    try:
        import testcontainers  # noqa: F401
    except ImportError:
        return "the testcontainers package is not installed (pip install -e '.[dev]')"
    if not docker_answers():
        return "no Docker engine answers `docker info` (ci/start-docker.sh starts one)"
    if not image_present(image):
        return f"image {image} is not present (ci/build-postgres-image.sh {image} builds it)"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--image", default=IMAGE, help="image of the testcontainers provider")
    args = parser.parse_args()
    for name, value in CONTAINER_ENV.items():
        os.environ.setdefault(name, value)

    providers = ["embedded"] + (["local"] if local_binaries_installed() else [])
    missing = why_no_containers(args.image)
    if missing is None:
        providers.append("testcontainers")
    print(f"cold: a new process per start, page cache "
          f"{'dropped before each' if drop_page_cache() else 'NOT dropped (not root)'}; "
          f"warm: repeated starts in one process after one unmeasured start")
    print(f"testcontainers: image {args.image}" if missing is None
          else f"testcontainers: NOT MEASURED: {missing}")

    cold = {p: cold_starts(p, args.image, args.runs) for p in providers}
    warm = {}
    for provider in providers:
        start_times(provider, 1, args.image)
        warm[provider] = start_times(provider, args.runs, args.image)
    for provider in providers:
        (ready, whole), (warm_ready, stopped) = cold[provider], warm[provider]
        print(f"{provider:<14}: cold ready {ready:5.2f} s ({whole:5.2f} s with interpreter start "
              f"and stop), warm ready {warm_ready:5.2f} s, stopped and removed {stopped:5.2f} s "
              f"(medians of {args.runs})")
    if "testcontainers" in providers:
        print(f"ratio testcontainers / embedded: cold "
              f"{cold['testcontainers'][0] / cold['embedded'][0]:4.2f}x, warm "
              f"{warm['testcontainers'][0] / warm['embedded'][0]:4.2f}x")


if __name__ == "__main__":
    main()
