"""1,330 gates of a live target (columns, metrics, HTTP) run by the suite, against the same checks
done one at a time with psql and curl, as a runbook does them by hand."""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import prometheus_client as prom
import psycopg
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import (  # noqa: E402
    COLUMNS_PER_TABLE,
    DSN_ENV,
    TABLES,
    TIMEOUT_S,
    Column,
    column_check,
    column_schema,
    columns,
    create_tables,
    interleaved,
    psql_clients,
    run_live_suite,
)

from deploy_gates.fixtures.ephemeral import Server, start_server  # noqa: E402

FAMILIES, HTTP_CHECKS = 300, 30
SMALL = (100, 30, 3)
"""Columns, metrics and HTTP checks of the smaller run that shows the constants stay constant."""
KINDS = {"counter": (prom.Counter, "inc"), "gauge": (prom.Gauge, "set"),
         "histogram": (prom.Histogram, "observe")}
"""The class of each metric type, and how a value is recorded on it."""
STATEMENT = re.compile(r"\bLOG:\s+(?:statement|execute [^:]*):\s*(\w+)")
SERVICE_READY_S = 30.0


@dataclass(frozen=True)
class Metric:
    series: str
    type: str


@dataclass(frozen=True)
class Plan:
    """The gates of one run."""

    columns: list[Column]
    metrics: list[Metric]
    http: list[str]

    @property
    def gates(self) -> int:
        return len(self.columns) + len(self.metrics) + len(self.http)

    def size(self) -> str:
        return (f"{len(self.columns)} columns, {len(self.metrics)} metrics, "
                f"{len(self.http)} HTTP")


@dataclass(frozen=True)
class SuiteRun:
    """One suite process: wall time, pytest's own session time, outcomes, what it asked for."""

    seconds: float
    session: float
    outcomes: str
    statements: int
    selects: int
    scrapes: int


@dataclass(frozen=True)
class LoopRun:
    """Wall time and passed checks of the per-check loop, by kind of check."""

    seconds: dict[str, float]
    passed: int

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


def metrics() -> list[Metric]:
    """The 300 families of the exposition, by the series name a runbook greps for."""
    kinds = [("counter", "bench_jobs_{:03d}_total"), ("gauge", "bench_queue_{:03d}_depth"),
             ("histogram", "bench_step_{:03d}_seconds")]
    return [Metric(kinds[i % 3][1].format(i), kinds[i % 3][0]) for i in range(FAMILIES)]


def http_paths() -> list[str]:
    """The sample service's endpoints, in turn: two health checks for every /metrics check."""
    return ["/metrics" if i % 3 == 2 else "/health" for i in range(HTTP_CHECKS)]


def plans() -> tuple[Plan, Plan]:
    """The full run and the smaller one (a subset of the same objects)."""
    full = Plan(columns(), metrics(), http_paths())
    n_columns, n_metrics, n_http = SMALL
    return full, Plan(full.columns[:n_columns], full.metrics[:n_metrics], full.http[:n_http])


def exposition() -> bytes:
    """A prometheus_client exposition with the 300 families, four label sets each."""
    registry = prom.CollectorRegistry()
    for metric in metrics():
        kind, record = KINDS[metric.type]
        made = kind(metric.series.removesuffix("_total"), f"A {metric.type}.", ["shard"],
                    registry=registry)
        for shard in range(4):
            getattr(made.labels(shard=str(shard)), record)(0.01 * (shard + 1))
    return prom.generate_latest(registry)


class CountingServer(ThreadingHTTPServer):
    """Serves one exposition at /metrics and counts the GETs it answered."""

    def __init__(self, body: bytes) -> None:
        super().__init__(("127.0.0.1", 0), ExpositionHandler)
        self.body, self.gets, self.lock = body, 0, threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/metrics"


class ExpositionHandler(BaseHTTPRequestHandler):
    server: CountingServer

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.gets += 1
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE_LATEST)
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: one line per scrape would drown the figures."""


@contextmanager
def exposition_server() -> Iterator[CountingServer]:
    server = CountingServer(exposition())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT_S)


def logged_database(server: Server) -> str:
    """A database holding every column of the plan, logging every statement; its DSN."""
    dsn = server.create_database("bench")
    create_tables(dsn, columns())
    with psycopg.connect(dsn, autocommit=True, connect_timeout=TIMEOUT_S) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET log_statement = 'all'").format(
            sql.Identifier(conninfo_to_dict(dsn)["dbname"])))
    return dsn


@contextmanager
def sample_service(dsn: str, folder: Path) -> Iterator[str]:
    """The router-api sample service on ``dsn``; its base URL. Its own statements are not
    logged, so the server log holds only what the suite runs."""
    quiet = make_conninfo(dsn, options="-c log_statement=none")
    output = folder / "service.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "examples.sample_service", "--system", "router-api",
             "--dsn", quiet, "--port", "0", "--log-file", str(folder / "service.log")],
            cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT,
        )
    try:
        yield wait_listening(process, output)
    finally:
        process.terminate()
        try:
            process.wait(TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(TIMEOUT_S)


def wait_listening(process: subprocess.Popen, output: Path) -> str:
    """The URL of the ``listening on`` line, once the service has printed it."""
    deadline = time.monotonic() + SERVICE_READY_S
    while time.monotonic() < deadline and process.poll() is None:
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", output.read_text())
        if found:
            return found.group(1)
        time.sleep(0.05)
    raise RuntimeError(f"sample service not listening within {SERVICE_READY_S:g} s:\n"
                       + output.read_text()[-2000:])


def spec(plan: Plan, base_url: str, metrics_url: str) -> dict:
    """A runbook spec with a live target and one gate per column, metric and HTTP check."""
    health = [{"get": path, "name": f"{path} #{i:02d}", "status": 200}
              | ({"body": {"status": "ok"}} if path == "/health" else {})
              for i, path in enumerate(plan.http)]
    return {
        "system": "bench", "release": "1",
        "targets": {"live": {"kind": "live", "dsn_env": DSN_ENV, "base_url": base_url}},
        "schema": {"columns": column_schema(plan.columns)},
        "health": health,
        "metrics": {"path": metrics_url,
                    "present": {m.series: {"type": m.type} for m in plan.metrics}},
    }


def run_suite(
    plan: Plan, dsn: str, base_url: str, exposer: CountingServer, log: Path
) -> SuiteRun:
    """``pytest --target=live -m postdeploy`` in a fresh process: wall time, gate outcomes, and
    the statements and scrapes it took; an error unless every gate of ``plan`` passed."""
    log_before, gets_before = log.stat().st_size, exposer.gets
    done = run_live_suite(spec(plan, base_url, exposer.url), dsn, plan.gates, "-m", "postdeploy")
    with log.open("rb") as handle:
        handle.seek(log_before)
        statements = STATEMENT.findall(handle.read().decode(errors="replace"))
    return SuiteRun(done.seconds, done.session, done.describe(), len(statements),
                    statements.count("SELECT"), exposer.gets - gets_before)


def metric_check(url: str, metric: Metric) -> bool:
    """``curl -s URL | grep -q ^series`` through sh."""
    command = f"curl -s --max-time 10 {url} | grep -q '^{metric.series}'"
    return subprocess.run(["sh", "-c", command], timeout=TIMEOUT_S, check=False).returncode == 0


def http_check(url: str) -> bool:
    """``curl -s -o /dev/null -w '%{http_code}'``, and the code compared with 200."""
    done = subprocess.run(
        ["curl", "-s", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", url],
        capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )
    return done.stdout == "200"


def run_loop(plan: Plan, psql: str, dsn: str, base_url: str, metrics_url: str) -> LoopRun:
    """One psql or curl per check, in turn."""
    kinds: dict[str, list[Callable[[], bool]]] = {
        "psql per column": [partial(column_check, psql, dsn, c) for c in plan.columns],
        "curl | grep per metric": [partial(metric_check, metrics_url, m) for m in plan.metrics],
        "curl per HTTP check": [partial(http_check, base_url + path) for path in plan.http],
    }
    seconds, passed = {}, 0
    for kind, checks in kinds.items():
        start = time.perf_counter()
        passed += sum(check() for check in checks)
        seconds[kind] = time.perf_counter() - start
    return LoopRun(seconds, passed)


def distinct(values: Iterable[object]) -> str:
    """The values seen over the runs, once each."""
    return " / ".join(str(v) for v in sorted(set(values)))


def constants(label: str, runs: list[SuiteRun], plan: Plan) -> str:
    return (f"  {label} ({plan.size()}): "
            f"{distinct(r.statements for r in runs)} statements on the target database "
            f"({distinct(r.selects for r in runs)} catalog SELECTs), "
            f"{distinct(r.scrapes for r in runs)} GET /metrics")


def report(pair: tuple[Plan, Plan], suites: tuple[list[SuiteRun], list[SuiteRun]],
           loops: dict[str, list[LoopRun]]) -> None:
    (full, small), (big, little) = pair, suites
    suite = statistics.median(r.seconds for r in big)
    print(f"suite, pytest --target=live -m postdeploy : {suite:6.2f} s (whole process, median of "
          f"{len(big)}; pytest session {statistics.median(r.session for r in big):.2f} s); "
          f"{distinct(r.outcomes for r in big)}")
    for client, runs in loops.items():
        loop = statistics.median(r.total for r in runs)
        print(f"per-check loop with {client:<12}         : {loop:6.2f} s (median of {len(runs)}); "
              f"{distinct(r.passed for r in runs)} of {full.gates} checks passed")
        for kind in runs[0].seconds:
            print(f"  {kind:<40}: {statistics.median(r.seconds[kind] for r in runs):6.2f} s")
        print(f"  ratio loop / suite                      : {loop / suite:6.1f}x")
    print(f"smaller suite ({small.size()}): "
          f"{statistics.median(r.seconds for r in little):.2f} s; "
          f"{distinct(r.outcomes for r in little)}")
    print("measured per suite run:")
    print(constants("full run   ", big, full))
    print(constants("smaller run", little, small))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    full, small = plans()
    big: list[SuiteRun] = []
    little: list[SuiteRun] = []
    clients = psql_clients()
    loops: dict[str, list[LoopRun]] = {client: [] for client in clients}
    server = start_server("embedded")
    try:
        dsn = logged_database(server)
        with (tempfile.TemporaryDirectory() as folder, exposition_server() as exposer,
              sample_service(dsn, Path(folder)) as base_url):
            print(f"database: {TABLES} tables x {COLUMNS_PER_TABLE} columns on embedded "
                  f"PostgreSQL {server.version()}; exposition: {FAMILIES} families, "
                  f"{len(exposer.body)} bytes; service: router-api at {base_url}", flush=True)
            sides = {
                "suite": lambda: big.append(run_suite(full, dsn, base_url, exposer,
                                                      server.log_path)),
                "smaller suite": lambda: little.append(run_suite(small, dsn, base_url, exposer,
                                                                 server.log_path)),
                **{f"loop with {client}": partial(
                    lambda c, q: loops[c].append(run_loop(full, q, dsn, base_url, exposer.url)),
                    client, psql) for client, psql in clients.items()},
            }
            paired = interleaved(sides, args.runs)
    finally:
        server.stop()
    print(paired.report("suite"))
    report((full, small), (big, little), loops)


if __name__ == "__main__":
    main()
