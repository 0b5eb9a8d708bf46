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
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_rehearsal import start_and_stop  # noqa: E402
from benchlib import interleaved  # noqa: E402

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


def cold_into(provider: str, image: str, ready: dict[str, list[float]]) -> None:
    """One cold start; its seconds to ready inside the process added to ``ready[provider]``."""
    ready.setdefault(provider, []).append(cold_start(provider, image)[0])


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

    inside: dict[str, list[float]] = {}
    cold = interleaved({p: partial(cold_into, p, args.image, inside) for p in providers},
                       args.runs)
    print("cold, whole processes:\n" + cold.report("embedded"))
    for provider in providers:
        start_and_stop(provider, {}, args.image)
    phases: dict[str, list[float]] = {}
    warm = interleaved({p: partial(start_and_stop, p, phases, args.image) for p in providers},
                       args.runs)
    print("warm, start and stop in this process:\n" + warm.report("embedded"))
    for provider in providers:
        ready, stopped = (statistics.median(phases[f"{provider} {phase}"])
                          for phase in ("ready", "stopped"))
        print(f"{provider:<14}: cold ready {statistics.median(inside[provider]):5.2f} s "
              f"({cold.median(provider):5.2f} s with interpreter start and stop), warm ready "
              f"{ready:5.2f} s, stopped and removed {stopped:5.2f} s (medians of {args.runs})")
    if "testcontainers" in providers:
        cold_ratio = statistics.median(
            c / e for c, e in zip(inside["testcontainers"], inside["embedded"], strict=True))
        warm_ratio = statistics.median(
            c / e for c, e in zip(phases["testcontainers ready"], phases["embedded ready"],
                                  strict=True))
        print(f"paired ratio testcontainers / embedded: cold {cold_ratio:4.2f}x, warm "
              f"{warm_ratio:4.2f}x")


if __name__ == "__main__":
    main()
