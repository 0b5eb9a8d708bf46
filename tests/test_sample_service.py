"""The sample service as a real subprocess on a real PostgreSQL: surfaces, flows and faults."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from deploy_gates.fixtures.ephemeral import Server
from deploy_gates.migrate import discover, up

REPO = Path(__file__).resolve().parents[1]
MIGRATIONS = REPO / "examples" / "tascade" / "migrations"
API_KEY = "sk-tascade-test"
TIMEOUT = 10
START_DEADLINE_S = 30
LISTENING = re.compile(r"^listening on (http://127\.0\.0\.1:\d+)$")
PROJECT = uuid.UUID("0b6c8f5e-1d1a-4b8e-9a51-6f1f3f6b2a10")
TASK = uuid.UUID("5a0f3c55-8c0e-4d7e-b2b4-0d1f2b8e9c01")

# Every health endpoint, with the body it answers when healthy (subset match).
HEALTH: dict[str, tuple[str, dict[str, Any]]] = {
    "router-api": ("/router-api/health", {"status": "ok", "services": {"database": "up"}}),
    "granter": ("/granter/health", {"status": "healthy", "services": {"database": "up", "api": "up"}}),
    "tascade": ("/tascade/health", {"status": "ok"}),
    "api-platform": ("/api-platform/v1/health", {"status": "healthy", "version": "1.0.0", "services": {"database": "healthy"}}),
    "api-platform-live": ("/api-platform/health/live", {"status": "ok"}),
    "api-platform-ready": ("/api-platform/health/ready", {"status": "ready", "checks": {"database": "connected"}}),
    "redcube": ("/redcube/api/health", {"status": "ok", "databases": {"redcube_users": "up", "postgres": "up"}}),
}

TASCADE_SEED = """
INSERT INTO projects (id, name) VALUES (%(p)s, 'Deploy Gates');
INSERT INTO tasks (id, project_id, title, state) VALUES (%(t)s, %(p)s, 'Write gates', 'done');
INSERT INTO metrics_summary (project_id, open_tasks, done_tasks, cycle_time_p50_hours)
    VALUES (%(p)s, 3, 7, 12.50);
INSERT INTO metrics_trend_point VALUES
    (%(p)s, 'cycle_time', 'day', '2026-01-01', 10), (%(p)s, 'cycle_time', 'day', '2026-01-02', 12.5),
    (%(p)s, 'cycle_time', 'week', '2025-12-29', 11);
INSERT INTO metrics_breakdown_point VALUES
    (%(p)s, 'cycle_time', 'task_class', 'feature', 14), (%(p)s, 'cycle_time', 'task_class', 'bug', 6);
INSERT INTO metrics_drilldown (project_id, metric, task_id, detail)
    VALUES (%(p)s, 'cycle_time', %(t)s, '{"hours": 12.5}');
INSERT INTO metrics_state_transition_counter VALUES (%(p)s, 'ready', 'done', 7);
INSERT INTO metrics_job_checkpoint (job_name, last_event_id) VALUES ('summary_refresh', 42);
INSERT INTO metrics_job_run (job_name, events_processed, finished_at) VALUES ('summary_refresh', 42, now());
INSERT INTO metrics_alert (project_id, metric, severity, threshold, acknowledged) VALUES
    (%(p)s, 'wip', 'warning', 5, false), (%(p)s, 'cycle_time', 'critical', 24, false),
    (%(p)s, 'throughput', 'info', 1, true);
"""


@dataclass
class Service:
    """A running service process: its base URL, log file and database."""

    url: str
    log: Path
    dsn: str
    process: subprocess.Popen[str]

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=TIMEOUT, **kwargs)

    def post(self, path: str, body: dict[str, Any], **kwargs: Any) -> requests.Response:
        return requests.post(self.url + path, json=body, timeout=TIMEOUT, **kwargs)

    def query(self, text: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, connect_timeout=5) as conn:
            return conn.execute(text, args).fetchall()  # type: ignore[arg-type]

    def log_size(self) -> int:
        return self.log.stat().st_size

    def log_since(self, offset: int) -> list[str]:
        with self.log.open(encoding="utf-8") as stream:
            stream.seek(offset)
            return stream.read().splitlines()


def start(args: list[str], folder: Path, env: dict[str, str] | None = None) -> Service:
    """Start the service on port 0 and read its URL from the first stdout line."""
    log, stderr = folder / "service.log", folder / "stderr.txt"
    dsn = args[args.index("--dsn") + 1]
    with stderr.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "examples.sample_service", *args, "--port", "0", "--log-file", str(log)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True,
            env={**os.environ, "TASCADE_API_KEY": API_KEY, **(env or {})},
        )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], START_DEADLINE_S)
    line = process.stdout.readline().strip() if ready else ""
    found = LISTENING.match(line)
    if found is None:
        process.kill()
        process.wait(TIMEOUT)
        log_text = log.read_text() if log.exists() else "(no log)"
        pytest.fail(f"service did not start within {START_DEADLINE_S}s; first line {line!r}\n"
                    f"stderr:\n{stderr.read_text()}\nlog:\n{log_text}")
    return Service(found.group(1), log, dsn, process)


def stop(service: Service) -> int:
    """SIGTERM the service and return its exit code."""
    service.process.send_signal(signal.SIGTERM)
    try:
        return service.process.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        service.process.kill()
        service.process.wait(TIMEOUT)
        raise


@pytest.fixture(scope="module")
def service(pg_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One ``--system all`` service for the module, on a database with the tascade release."""
    dsn = pg_server.create_database("sample")
    up(dsn, discover(MIGRATIONS))
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        for statement in filter(str.strip, TASCADE_SEED.split(";\n")):
            conn.execute(statement, {"p": PROJECT, "t": TASK})  # type: ignore[arg-type]
    running = start(["--system", "all", "--dsn", dsn], tmp_path_factory.mktemp("service"))
    yield running
    stop(running)


@pytest.fixture
def faults(service: Service) -> Iterator[Callable[..., None]]:
    """Turn faults on at runtime; all are off again after the test."""

    def switch(*names: str) -> None:
        answer = service.post("/__faults", {"set": list(names)})
        assert answer.status_code == 200, answer.text
        assert answer.json()["active"] == sorted(names)

    yield switch
    switch()


def metric_value(service: Service, sample: str) -> float | None:
    """The value of an unlabelled sample in /metrics, None when absent."""
    for family in text_string_to_metric_families(service.get("/metrics").text):
        for found in family.samples:
            if found.name == sample:
                return found.value
    return None


def assert_healthy(service: Service) -> None:
    for name, (path, expected) in HEALTH.items():
        answer = service.get(path)
        assert answer.status_code == 200, f"{name}: {answer.status_code} {answer.text}"
        assert answer.headers["Content-Type"] == "application/json"
        body = answer.json()
        for key, value in expected.items():
            assert body[key] == value, f"{name}: {key} is {body[key]!r}, expected {value!r}"


def granter_token(service: Service, email: str) -> str:
    assert service.post("/granter/auth/register", {"email": email, "password": "s3cret!"}).status_code == 201
    login = service.post("/granter/auth/login", {"email": email, "password": "s3cret!"})
    assert login.status_code == 200, login.text
    return login.json()["access_token"]


def tascade(service: Service, endpoint: str, token: str | None = API_KEY, **query: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return service.get(f"/tascade/v1/metrics/{endpoint}", params={"project_id": str(PROJECT), **query}, headers=headers)


# --- health, metrics, logs -------------------------------------------------------------------


def test_every_system_answers_healthy(service: Service) -> None:
    assert_healthy(service)
    assert service.get("/tascade/health").json() == {"status": "ok"}
    assert service.get("/granter/health").json() == {"status": "healthy", "services": {"database": "up", "api": "up"}}


def test_metrics_exposition_has_refund_counters_requests_and_latency(service: Service) -> None:
    service.get("/granter/health")
    answer = service.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}
    assert families["router_refund_retries"].type == "counter"
    assert families["router_refund_alerts"].type == "counter"
    assert metric_value(service, "router_refund_retries_total") >= 0
    latency = families["http_request_duration_seconds"]
    assert latency.type == "histogram"
    bucket = next(s for s in latency.samples if s.name.endswith("_bucket") and s.labels["system"] == "granter")
    assert bucket.labels.keys() == {"system", "method", "route", "le"}
    assert bucket.labels["route"] == "/health"
    assert any(s.labels == {"system": "granter", "method": "GET", "route": "/health", "status": "200"}
               for s in families["http_requests"].samples)
    assert service.get("/router-api/metrics").text.count("# TYPE router_refund_retries_total counter") == 1


def test_every_request_writes_one_structured_log_line_with_the_callers_trace_id(service: Service) -> None:
    offset = service.log_size()
    answer = service.get("/granter/search", params={"q": "energy"}, headers={"X-Trace-Id": "trace-0123456789"})
    assert answer.headers["X-Trace-Id"] == "trace-0123456789"
    records = [json.loads(line) for line in service.log_since(offset)]
    assert len(records) == 1
    record = records[0]
    assert record.keys() >= {"ts", "level", "method", "path", "status", "duration_ms", "trace_id"}
    assert (record["level"], record["method"], record["path"], record["status"]) == ("INFO", "GET", "/granter/search", 200)
    assert record["trace_id"] == "trace-0123456789"
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert service.get("/tascade/health", headers={"traceparent": parent}).headers["X-Trace-Id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_unknown_paths_and_methods_are_404_and_405(service: Service) -> None:
    assert service.get("/health").status_code == 404  # with --system all every system has its prefix
    assert service.get("/nope").json()["error"] == "no route for GET /nope"
    answer = requests.delete(service.url + "/granter/health", timeout=TIMEOUT)
    assert (answer.status_code, answer.headers["Allow"]) == (405, "GET")


# --- router-api ------------------------------------------------------------------------------


def test_failing_job_takes_the_refund_path_in_the_database_and_the_counter(service: Service) -> None:
    retries, alerts = metric_value(service, "router_refund_retries_total"), metric_value(service, "router_refund_alerts_total")
    ok = service.post("/router-api/jobs", {"model": "llama-3", "simulate_failure": False})
    assert (ok.status_code, ok.json()["status"]) == (202, "completed")
    failed = service.post("/router-api/jobs", {"model": "llama-3", "simulate_failure": True})
    assert failed.status_code == 202
    job_id = failed.json()["job_id"]
    [(count, attempted, signature, status)] = service.query(
        "SELECT refund_retry_count, refund_last_attempt_at, refund_tx_signature, status FROM router.jobs WHERE job_id = %s", (job_id,))
    assert count == 1 and attempted is not None and signature and status == "refunded"
    assert metric_value(service, "router_refund_retries_total") == retries + 1
    assert metric_value(service, "router_refund_alerts_total") == alerts
    assert service.get(f"/router-api/jobs/{job_id}").json()["refund_retry_count"] == 1

    refund_fails = service.post("/router-api/jobs", {"model": "llama-3", "simulate_failure": "refund"}).json()
    [(alert_count, alerted_at)] = service.query(
        "SELECT refund_alert_count, refund_last_alert_at FROM router.jobs WHERE job_id = %s", (refund_fails["job_id"],))
    assert (refund_fails["status"], alert_count) == ("refund_failed", 1) and alerted_at is not None
    assert metric_value(service, "router_refund_retries_total") == retries + 2
    assert metric_value(service, "router_refund_alerts_total") == alerts + 1
    assert service.post("/router-api/jobs", {"model": "x", "simulate_failure": "maybe"}).status_code == 400


# --- granter ---------------------------------------------------------------------------------


def test_granter_register_login_me_flow(service: Service) -> None:
    token = granter_token(service, "Ada@Example.com")
    me = service.get("/granter/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["email"] == "ada@example.com"
    assert service.get("/granter/auth/me").status_code == 401
    assert service.get("/granter/auth/me", headers={"Authorization": f"Bearer {token}x"}).status_code == 401
    assert service.post("/granter/auth/login", {"email": "ada@example.com", "password": "wrong"}).status_code == 401
    assert service.post("/granter/auth/register", {"email": "ada@example.com", "password": "s3cret!"}).status_code == 409
    [(stored,)] = service.query("SELECT password_hash FROM granter.users WHERE email = 'ada@example.com'")
    assert stored.startswith("scrypt$") and "s3cret" not in stored


def test_granter_search_scraper_and_extraction_shapes(service: Service) -> None:
    search = service.get("/granter/search", params={"query": "test"}).json()
    assert [r["title"] for r in search["results"]] == ["Crop Field Test Programme"]
    filtered = service.get("/granter/search", params={"q": "", "region": "eu", "min_amount": "60000"}).json()
    assert filtered["total"] == 1 and filtered["results"][0]["amount"] == 80000.0
    assert filtered["filters"] == {"region": "eu", "min_amount": 60000, "max_amount": None, "deadline_after": None}
    assert service.get("/granter/search", params={"min_amount": "lots"}).status_code == 400

    run = service.post("/granter/scraper/run", {"source": "https://grants.example.org/list", "max_pages": 3}).json()
    assert (run["status"], run["pages_scraped"], run["items_found"]) == ("completed", 3, 24)
    assert service.post("/granter/scraper/run", {"source": "ftp://x"}).status_code == 400

    text = "Apply by 2026-09-30 for up to $50,000; contact grants@example.org."
    primary = service.post("/granter/ia/extract", {"text": text}).json()
    assert primary["fields"] == {"amounts": ["$50,000"], "deadlines": ["2026-09-30"], "contacts": ["grants@example.org"]}
    assert (primary["provider"], primary["fallback_used"]) == ("primary", False)
    fallback = service.post("/granter/ia/extract", {"text": text, "simulate_provider_error": True}).json()
    assert (fallback["provider"], fallback["fallback_used"]) == ("fallback", True)


# --- tascade ---------------------------------------------------------------------------------


def test_tascade_metrics_need_the_api_key(service: Service) -> None:
    missing = tascade(service, "summary", token=None)
    assert (missing.status_code, missing.headers["WWW-Authenticate"]) == (401, "Bearer")
    assert tascade(service, "summary", token="sk-wrong").status_code == 401
    good = tascade(service, "summary")
    assert good.status_code == 200 and good.headers["X-API-Version"] == "1.0"


def test_tascade_seven_endpoints_read_the_metrics_tables(service: Service) -> None:
    bodies = {}
    for endpoint in ("summary", "trends", "breakdown", "drilldown", "alerts", "actions", "jobs"):
        answer = tascade(service, endpoint)
        assert answer.status_code == 200, f"{endpoint}: {answer.text}"
        assert answer.headers["X-API-Version"] == "1.0"
        bodies[endpoint] = answer.json()
        assert bodies[endpoint]["project_id"] == str(PROJECT)
    assert bodies["summary"] | {"computed_at": None} == {
        "project_id": str(PROJECT), "open_tasks": 3, "done_tasks": 7, "cycle_time_p50_hours": 12.5, "computed_at": None,
        "transitions": [{"from_state": "ready", "to_state": "done", "transitions": 7}]}
    assert bodies["trends"]["points"] == [{"date": "2026-01-01", "value": 10.0}, {"date": "2026-01-02", "value": 12.5}]
    assert [i["dimension_value"] for i in bodies["breakdown"]["items"]] == ["feature", "bug"]
    assert bodies["drilldown"]["items"][0]["task_title"] == "Write gates"
    assert [a["severity"] for a in bodies["alerts"]["alerts"]] == ["critical", "warning"]
    assert [a["severity"] for a in bodies["actions"]["actions"]] == ["critical", "warning"]
    assert bodies["jobs"]["jobs"][0]["last_run"]["events_processed"] == 42
    week = tascade(service, "trends", granularity="week", start_date="2025-12-01").json()
    assert week["points"] == [{"date": "2025-12-29", "value": 11.0}]
    assert len(tascade(service, "alerts", include_acknowledged="true").json()["alerts"]) == 3
    assert tascade(service, "trends", granularity="hour").status_code == 400
    assert tascade(service, "summary", project_id=str(uuid.uuid4())).status_code == 404
    assert tascade(service, "summary", project_id="nope").status_code == 400


# --- api-platform ----------------------------------------------------------------------------


def test_api_platform_login_and_users_crud_with_bearer(service: Service) -> None:
    base = "/api-platform/v1"
    assert service.post(f"{base}/auth/register", {"email": "ops@example.com", "password": "test123", "name": "Ops"}).status_code == 201
    login = service.post(f"{base}/auth/login", {"email": "ops@example.com", "password": "test123"})
    assert login.status_code == 200 and login.json()["token_type"] == "Bearer"
    auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert service.get(f"{base}/users").status_code == 401
    created = service.post(f"{base}/users", {"email": "new@example.com", "name": "New"}, headers=auth)
    assert created.status_code == 201 and created.json()["role"] == "member"
    user = f"{base}/users/{created.json()['id']}"
    assert created.headers["Location"] == user.removeprefix("/api-platform")
    assert service.get(user, headers=auth).json()["email"] == "new@example.com"
    listed = service.get(f"{base}/users", params={"limit": 5}, headers=auth).json()
    assert listed["total"] >= 2 and {"data", "limit", "offset"} <= listed.keys()
    patched = requests.patch(service.url + user, json={"role": "admin"}, headers=auth, timeout=TIMEOUT)
    assert patched.status_code == 200 and patched.json()["role"] == "admin"
    assert requests.delete(service.url + user, headers=auth, timeout=TIMEOUT).status_code == 204
    assert service.get(user, headers=auth).status_code == 404
    granter = granter_token(service, "cross@example.com")
    assert service.get(f"{base}/users", headers={"Authorization": f"Bearer {granter}"}).status_code == 401


# --- redcube ---------------------------------------------------------------------------------


def test_redcube_register_copies_the_user_and_analysis_carries_the_trace_id(service: Service) -> None:
    body = {"email": "deploy-test@example.com", "password": "Test123", "confirmPassword": "Test123"}
    answer = service.post("/redcube/api/users/register", body)
    assert answer.status_code == 201, answer.text
    assert service.query("SELECT email FROM redcube_sync.users WHERE id = %s", (answer.json()["id"],)) == [("deploy-test@example.com",)]
    assert service.query("SELECT * FROM redcube_main.v_user_sync_missing") == []
    [(main, synced, missing)] = service.query("SELECT * FROM redcube_main.v_user_sync_status")
    assert main == synced and missing == 0
    assert service.post("/redcube/api/users/register", body).status_code == 409
    assert service.get("/redcube/api/experiences", params={"limit": 1}).json()["total"] == 3

    offset = service.log_size()
    started = time.monotonic()
    analysis = service.post("/redcube/api/analysis", {"text": "Friendly panel, clear questions, great offer."})
    assert time.monotonic() - started < 60 and analysis.status_code == 200
    result = analysis.json()
    assert result["status"] == "completed" and result["result"]["sentiment"] == "positive"
    assert result["trace_id"] == analysis.headers["X-Trace-Id"]
    records = [json.loads(line) for line in service.log_since(offset)]
    assert [r["msg"] for r in records] == ["analysis completed", "request"]
    assert {r["trace_id"] for r in records} == {result["trace_id"]}


# --- fault switches --------------------------------------------------------------------------


def test_health_503(service: Service, faults: Callable[..., None]) -> None:
    faults("health_503")
    for name, (path, _) in HEALTH.items():
        assert service.get(path).status_code == 503, name
    faults()
    assert_healthy(service)


def test_health_degraded(service: Service, faults: Callable[..., None]) -> None:
    faults("health_degraded")
    assert service.get("/granter/health").json() == {"status": "degraded", "services": {"database": "down", "api": "up"}}
    assert service.get("/router-api/health").json()["services"]["database"] == "down"
    assert service.get("/tascade/health").json()["status"] == "degraded"
    assert service.get("/api-platform/v1/health").json()["services"]["database"] == "unhealthy"
    assert service.get("/api-platform/health/ready").status_code == 503
    assert service.get("/redcube/api/health").json()["status"] == "degraded"
    faults()
    assert_healthy(service)


def test_html_health(service: Service, faults: Callable[..., None]) -> None:
    faults("html_health")
    for name, (path, _) in HEALTH.items():
        answer = service.get(path)
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/html"), name
        assert answer.text.startswith("<!DOCTYPE html>")
        with pytest.raises(requests.JSONDecodeError):
            answer.json()
    faults()
    assert_healthy(service)


def test_missing_metric(service: Service, faults: Callable[..., None]) -> None:
    faults("missing_metric")
    assert metric_value(service, "router_refund_retries_total") is None
    assert metric_value(service, "router_refund_alerts_total") is not None
    faults()
    assert metric_value(service, "router_refund_retries_total") is not None


def test_malformed_metrics(service: Service, faults: Callable[..., None]) -> None:
    faults("malformed_metrics")
    with pytest.raises(ValueError):
        list(text_string_to_metric_families(service.get("/metrics").text))
    faults()
    assert list(text_string_to_metric_families(service.get("/metrics").text))


def test_missing_header(service: Service, faults: Callable[..., None]) -> None:
    faults("missing_header")
    answer = tascade(service, "summary")
    assert answer.status_code == 200 and "X-API-Version" not in answer.headers
    faults()
    assert tascade(service, "summary").headers["X-API-Version"] == "1.0"


def test_step_500(service: Service, faults: Callable[..., None]) -> None:
    user = {"email": "step@example.com", "password": "s3cret!"}
    steps = ["/granter/auth/register", "/granter/auth/login", "/api-platform/v1/auth/register",
             "/api-platform/v1/auth/login", "/redcube/api/users/register"]
    faults("step_500")
    for path in steps:
        assert service.post(path, user).status_code == 500, path
    faults()
    assert [service.post(path, user).status_code for path in steps] == [201, 200, 201, 200, 201]


def test_slow(service: Service, faults: Callable[..., None]) -> None:
    faults("slow")
    started = time.monotonic()
    assert service.get("/tascade/health").status_code == 200
    assert time.monotonic() - started > 1.0
    started = time.monotonic()  # a scrape is not slowed: it sees the slow answers in time
    assert service.get("/metrics").status_code == 200
    assert time.monotonic() - started < 1.0
    started = time.monotonic()
    faults()
    assert service.get("/tascade/health").status_code == 200
    assert time.monotonic() - started < 1.0


def test_log_error(service: Service, faults: Callable[..., None]) -> None:
    offset = service.log_size()
    faults("log_error")
    service.get("/router-api/health")
    lines = service.log_since(offset)
    assert any(" ERROR " in line for line in lines)
    assert any('column "refund_retry_count" does not exist' in line for line in lines)
    faults()
    offset = service.log_size()
    service.get("/router-api/health")
    assert not [line for line in service.log_since(offset) if "ERROR" in line]


def test_untraced_logs(service: Service, faults: Callable[..., None]) -> None:
    offset = service.log_size()
    faults("untraced_logs")
    answer = service.get("/redcube/api/health")
    (line,) = [x for x in service.log_since(offset) if '"path":"/redcube/api/health"' in x]
    assert "trace_id" not in line and answer.headers["X-Trace-Id"]
    faults()
    offset = service.log_size()
    service.get("/redcube/api/health")
    (line,) = [x for x in service.log_since(offset) if '"path":"/redcube/api/health"' in x]
    assert '"trace_id":' in line


def test_no_refund(service: Service, faults: Callable[..., None]) -> None:
    retries = metric_value(service, "router_refund_retries_total")
    faults("no_refund")
    job = service.post("/router-api/jobs", {"model": "llama-3", "simulate_failure": True}).json()
    assert job["status"] == "failed"
    assert service.query("SELECT refund_retry_count, refund_last_attempt_at FROM router.jobs WHERE job_id = %s",
                         (job["job_id"],)) == [(0, None)]
    assert metric_value(service, "router_refund_retries_total") == retries
    faults()
    assert service.post("/router-api/jobs", {"model": "llama-3", "simulate_failure": True}).json()["status"] == "refunded"
    assert metric_value(service, "router_refund_retries_total") == retries + 1


def test_sync_broken(service: Service, faults: Callable[..., None]) -> None:
    faults("sync_broken")
    assert service.query("SELECT tgenabled FROM pg_trigger WHERE tgname = 'trg_user_sync'") == [("D",)]
    lost = service.post("/redcube/api/users/register", {"email": "lost@example.com", "password": "Test123"})
    assert lost.status_code == 201
    assert service.query("SELECT email FROM redcube_main.v_user_sync_missing") == [("lost@example.com",)]
    faults()
    assert service.query("SELECT tgenabled FROM pg_trigger WHERE tgname = 'trg_user_sync'") == [("O",)]
    found = service.post("/redcube/api/users/register", {"email": "found@example.com", "password": "Test123"})
    assert service.query("SELECT count(*) FROM redcube_sync.users WHERE id = %s", (found.json()["id"],)) == [(1,)]
    service.query("DELETE FROM redcube_main.users WHERE id = %s RETURNING id", (lost.json()["id"],))
    assert service.query("SELECT * FROM redcube_main.v_user_sync_missing") == []


def test_fault_switch_refuses_unknown_names(service: Service) -> None:
    answer = service.post("/__faults", {"set": ["slow", "gremlins"]})
    assert answer.status_code == 400 and "unknown fault(s) gremlins" in answer.json()["error"]
    assert service.get("/__faults").json()["active"] == []
    assert service.post("/__faults", {"set": "slow"}).status_code == 400


# --- single system, startup and shutdown -----------------------------------------------------


def test_single_system_serves_at_the_root_and_logs_a_real_missing_column(fresh_dsn: str, tmp_path: Path) -> None:
    with psycopg.connect(fresh_dsn, connect_timeout=5) as conn:  # a pre-release table: no refund columns
        conn.execute("CREATE SCHEMA router; CREATE TABLE router.jobs (job_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),"
                     " model text NOT NULL, status text NOT NULL)")
    running = start(["--system", "router-api", "--dsn", fresh_dsn], tmp_path)
    try:
        assert running.get("/health").json()["status"] == "ok"
        assert running.get("/granter/health").status_code == 404
        assert running.post("/jobs", {"model": "m", "simulate_failure": True}).status_code == 500
        errors = [json.loads(line) for line in running.log.read_text().splitlines() if '"unhandled error"' in line]
        assert errors and errors[0]["detail"] == 'column "refund_retry_count" does not exist'
    finally:
        assert stop(running) == 0


def test_sigterm_lets_the_request_in_flight_finish(fresh_dsn: str, tmp_path: Path) -> None:
    running = start(["--system", "tascade", "--dsn", fresh_dsn, "--faults", "slow"], tmp_path)
    answers: list[requests.Response] = []
    in_flight = threading.Thread(target=lambda: answers.append(running.get("/health")))
    in_flight.start()
    time.sleep(0.5)
    assert stop(running) == 0
    in_flight.join(TIMEOUT)
    assert [a.json() for a in answers] == [{"status": "ok"}]
    assert json.loads(running.log.read_text().splitlines()[-1])["msg"] == "stopped"


def test_refuses_to_bind_anything_but_loopback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "examples.sample_service", "--system", "all", "--dsn", "dbname=x", "--host", "0.0.0.0"],
        cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2 and "refusing to bind '0.0.0.0'" in result.stderr


def test_unreachable_database_fails_the_start_with_a_reason(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = subprocess.run(
        [sys.executable, "-m", "examples.sample_service", "--system", "granter", "--port", "0",
         "--dsn", f"host=127.0.0.1 port={port} dbname=x user=x"],
        cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1 and result.stdout == ""
    assert "startup failed" in result.stderr and "refused" in result.stderr
