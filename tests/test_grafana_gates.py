"""Grafana gates: the example dashboard and alert rule checked offline against a served /metrics
exposition, and online against a local HTTP server on 127.0.0.1 that answers Grafana's documented
response shapes (Grafana itself cannot run here)."""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from deploy_gates.verify.exposition import ExpositionError, parse
from deploy_gates.verify.grafana import (
    Asset,
    AssetError,
    GrafanaApi,
    metric_names,
    read_assets,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "router_api" / "grafana"
DASHBOARD, RULES = "grafana_refund_dashboard.json", "grafana_alert_rule.json"
TOKEN = f"glsa_{uuid.uuid4().hex}"
HTML = "text/html; charset=UTF-8"
GRAFANA_INDEX = '<!DOCTYPE html>\n<html lang="en"><head><title>Grafana</title></head></html>'


# A local stand-in for the service's /metrics and Grafana's HTTP API

@dataclass
class Fake:
    """What the local server answers (path -> status, content type, body), and what it saw."""

    url: str = ""
    routes: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    seen: list[tuple[str, str | None]] = field(default_factory=list)

    def json(self, path: str, body: object, status: int = 200) -> None:
        self.routes[path] = (status, "application/json", json.dumps(body))


@pytest.fixture
def fake() -> Iterator[Fake]:
    state = Fake()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            auth = self.headers.get("Authorization")
            state.seen.append((self.path, auth))
            if self.path.startswith("/api/") and auth != f"Bearer {TOKEN}":
                status, kind, body = 401, "application/json", json.dumps({
                    "extra": None, "message": "Invalid API key", "messageId": "api-keys.invalid",
                    "statusCode": 401, "traceID": ""})
            else:
                status, kind, body = state.routes.get(self.path, (404, "application/json", ""))
            payload = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def exposition(*, alerts: bool = True) -> str:
    """The router-api exposition, as the sample service writes it (optionally without alerts)."""
    registry = CollectorRegistry()
    Counter("router_refund_retries", "Refund attempts made for failed jobs.", registry=registry)
    if alerts:
        Counter("router_refund_alerts", "Alerts raised for refunds that failed.", registry=registry)
    Counter("http_requests", "HTTP requests answered.", ["system", "method", "route", "status"],
            registry=registry).labels("router-api", "POST", "/jobs", "202").inc()
    Histogram("http_request_duration_seconds", "Time to answer an HTTP request.",
              ["system", "method", "route"], registry=registry)
    return generate_latest(registry).decode()


def dashboard_answer(model: dict) -> dict:
    """``GET /api/dashboards/uid/<uid>``: the dashboard model and its meta."""
    uid = model["uid"]
    return {
        "dashboard": {**model, "id": 42, "version": 3},
        "meta": {"type": "db", "canSave": True, "canEdit": True, "canAdmin": False,
                 "canStar": True, "slug": uid, "url": f"/d/{uid}/{uid}", "expires": "0001-01-01T00:00:00Z",
                 "created": "2025-12-01T09:58:12Z", "updated": "2025-12-01T10:02:40Z",
                 "updatedBy": "admin", "createdBy": "admin", "version": 3, "hasAcl": False,
                 "isFolder": False, "folderId": 7, "folderUid": "router-api",
                 "folderTitle": "Router API", "folderUrl": "/dashboards/f/router-api/router-api",
                 "provisioned": True, "provisionedExternalId": DASHBOARD},
    }


def rule_answer(rule: dict) -> dict:
    """``GET /api/v1/provisioning/alert-rules/<uid>``: a ProvisionedAlertRule."""
    return {"id": 11, "orgID": 1, "folderUID": "router-api", "ruleGroup": "router-api-refunds",
            **rule, "updated": "2025-12-01T10:02:40Z", "provenance": "file", "record": None}


def serve_grafana(fake: Fake, folder: Path) -> None:
    """Answer for the dashboard and every rule in ``folder`` as an installed Grafana does."""
    model = json.loads((folder / DASHBOARD).read_text())
    fake.json(f"/api/dashboards/uid/{model['uid']}", dashboard_answer(model))
    for rule in json.loads((folder / RULES).read_text())["groups"][0]["rules"]:
        fake.json(f"/api/v1/provisioning/alert-rules/{rule['uid']}", rule_answer(rule))


# Gates, as users run them

SPEC = """\
system: router-api
release: "1.4.0"
targets:
  staging:
    kind: live
    dsn_env: DG_STAGING_DSN
    base_url: "{url}"
    grafana_url: "{url}"
    grafana_token_env: DG_GRAFANA_TOKEN
  prod: {{kind: live, dsn_env: DG_PROD_DSN, base_url: "http://127.0.0.1:9"}}
grafana:
  dashboards: [{dashboards}]
  alert_rules: [{rules}]
  datasource: prometheus-router
"""


@pytest.fixture
def assets(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the example's Grafana files, free to break."""
    monkeypatch.setenv("DG_GRAFANA_TOKEN", TOKEN)
    return Path(shutil.copytree(EXAMPLE, pytester.path / "grafana"))


def run(pytester: pytest.Pytester, fake: Fake, *, dashboards: str = f"grafana/{DASHBOARD}",
        rules: str = f"grafana/{RULES}", target: str = "staging") -> tuple[str, dict[str, dict]]:
    """Run verify/test_grafana.py on a spec for ``fake``; (everything printed, the JSON gates)."""
    pytester.makefile(".yaml", runbook=SPEC.format(url=fake.url, dashboards=dashboards,
                                                   rules=rules))
    result = pytester.runpytest_subprocess(
        "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
        str(ROOT / "verify" / "test_grafana.py"), f"--runbook={pytester.path / 'runbook.yaml'}",
        f"--report-dir={pytester.path / 'out'}", f"--target={target}", "-rA", timeout=120,
    )
    (path,) = (pytester.path / "out").glob("*.json")
    written = "\n".join(p.read_text() for p in (pytester.path / "out").iterdir())
    gates = {g["name"]: g for g in json.loads(path.read_text())["gates"]}
    return "\n".join([result.stdout.str(), result.stderr.str(), written]), gates


def test_example_assets_pass_offline_and_online(
    pytester: pytest.Pytester, fake: Fake, assets: Path
) -> None:
    fake.routes["/metrics"] = (200, "text/plain; version=0.0.4; charset=utf-8", exposition())
    serve_grafana(fake, assets)
    printed, gates = run(pytester, fake)
    assert {name: g["outcome"] for name, g in gates.items()} == {
        f"test_grafana_{gate}[{name}]": "passed"
        for gate, names in [("file", [DASHBOARD, RULES]), ("rule_enabled", [RULES]),
                            ("datasource", [DASHBOARD, RULES]), ("metrics", [DASHBOARD, RULES]),
                            ("installed", [DASHBOARD, RULES])]
        for name in names
    }
    assert [path for path, _ in fake.seen].count("/metrics") == 1  # scraped once per run
    api = [(path, auth) for path, auth in fake.seen if path.startswith("/api/")]
    assert api == [("/api/dashboards/uid/router-api-refunds", f"Bearer {TOKEN}"),
                   ("/api/v1/provisioning/alert-rules/router-refund-alerts", f"Bearer {TOKEN}"),
                   ("/api/v1/provisioning/alert-rules/router-refund-retries", f"Bearer {TOKEN}")]
    metrics = gates[f"test_grafana_metrics[{DASHBOARD}]"]["evidence"][0]["text"]
    assert "metrics: http_request_duration_seconds_bucket" in metrics
    assert TOKEN not in printed


def test_each_fault_fails_its_gate_and_says_what_was_found(
    pytester: pytest.Pytester, fake: Fake, assets: Path
) -> None:
    fake.routes["/metrics"] = (200, "text/plain; version=0.0.4", exposition(alerts=False))
    serve_grafana(fake, assets)
    fake.json("/api/dashboards/uid/router-api-refunds", {"message": "Dashboard not found"}, 404)
    (assets / "broken.json").write_text('{\n  "uid": "x",\n  "panels": [\n  }\n')
    rules = json.loads((assets / RULES).read_text())
    rule = rules["groups"][0]["rules"][0]
    rule["isPaused"] = True
    rule["data"][0]["datasourceUid"] = "prometheus-old"
    rule["data"][0]["model"]["expr"] = "sum(increase(router_refund_retries[10m]))"
    rules["groups"][0]["rules"] = [rule]
    (assets / "paused_rule.json").write_text(json.dumps(rules, indent=2))
    fake.json("/api/v1/provisioning/alert-rules/router-refund-alerts", rule_answer(rule))
    _, gates = run(pytester, fake, dashboards=f"grafana/{DASHBOARD}, grafana/broken.json",
                   rules="grafana/paused_rule.json")
    failed = {name: g["message"] for name, g in gates.items() if g["outcome"] == "failed"}
    expected = {
        "test_grafana_file[broken.json]":
            "*/grafana/broken.json: invalid JSON at line 4, column 3: Expecting value",
        "test_grafana_rule_enabled[paused_rule.json]":
            "expected alert rule router-refund-alerts enabled; found: isPaused is true",
        "test_grafana_datasource[paused_rule.json]":
            "expected every query on datasource prometheus-router; found alert rule "
            "router-refund-alerts query A on prometheus-old",
        f"test_grafana_metrics[{DASHBOARD}]":
            f"expected every metric the queries read in {fake.url}/metrics; found missing: "
            "router_refund_alerts_total (panel 'Refund alerts' query A, "
            "panel 'Refund retries and alerts' query B)",
        # a counter is stored as <name>_total: its family name is not a series
        "test_grafana_metrics[paused_rule.json]":
            f"expected every metric the queries read in {fake.url}/metrics; found missing: "
            "router_refund_retries (alert rule router-refund-alerts query A)",
        f"test_grafana_installed[{DASHBOARD}]":
            "expected dashboard router-api-refunds installed in Grafana; found: GET "
            f"{fake.url}/api/dashboards/uid/router-api-refunds -> 404 Dashboard not found",
        "test_grafana_installed[paused_rule.json]":
            "expected alert rule router-refund-alerts not paused; found: paused in Grafana",
    }
    broken_json_everywhere = {f"test_grafana_{gate}[broken.json]"
                              for gate in ("datasource", "metrics", "installed")}
    assert set(failed) == set(expected) | broken_json_everywhere
    for name, pattern in expected.items():
        assert fnmatchcase(failed[name], pattern), (name, failed[name])
    for name in broken_json_everywhere:
        assert failed[name] == failed["test_grafana_file[broken.json]"]


def test_unreachable_metrics_fail_and_no_grafana_url_skips(
    pytester: pytest.Pytester, fake: Fake, assets: Path
) -> None:
    _, gates = run(pytester, fake, target="prod")
    for name in (DASHBOARD, RULES):
        assert fnmatchcase(gates[f"test_grafana_metrics[{name}]"]["message"],
                           "GET http://127.0.0.1:9/metrics: cannot connect: *")
        installed = gates[f"test_grafana_installed[{name}]"]
        assert installed["outcome"] == "skipped"
        assert installed["message"] == (
            "target prod has no grafana_url: Grafana's API is not checked")


# The API client against each documented answer and fault

DASH = Asset("dashboard", "router-api-refunds", "Router API: refunds", False, ())
RULE = Asset("alert rule", "router-refund-alerts", "Router API: refunds failing", False, ())


@pytest.mark.parametrize(
    ("asset", "answer", "token", "problem"),
    [
        (DASH, (200, "application/json", json.dumps(dashboard_answer(
            {"uid": "router-api-refunds", "title": "Router API: refunds", "panels": []}))),
         TOKEN, None),
        (RULE, (200, "application/json", json.dumps(rule_answer(
            {"uid": "router-refund-alerts", "isPaused": False, "data": []}))), TOKEN, None),
        (DASH, (404, "application/json", '{"message":"Dashboard not found"}'), TOKEN,
         "expected dashboard router-api-refunds installed in Grafana; found: "
         "GET {url}/api/dashboards/uid/router-api-refunds -> 404 Dashboard not found"),
        (RULE, (404, "text/plain", ""), TOKEN,
         "expected alert rule router-refund-alerts installed in Grafana; found: "
         "GET {url}/api/v1/provisioning/alert-rules/router-refund-alerts -> 404"),
        (DASH, None, "wrong-token",
         "expected dashboard router-api-refunds installed in Grafana; found: "
         "GET {url}/api/dashboards/uid/router-api-refunds -> 401 Invalid API key"),
        (DASH, (200, HTML, GRAFANA_INDEX), TOKEN,
         "expected dashboard router-api-refunds installed in Grafana; found: "
         "GET {url}/api/dashboards/uid/router-api-refunds: expected a JSON body, got "
         "text/html; charset=UTF-8: '<!DOCTYPE html>\\n<html lang=\"en\"><head><title>Grafana</title>"
         "</head></html>'"),
        (RULE, (200, "application/json", json.dumps(rule_answer(
            {"uid": "router-refund-alerts", "isPaused": True, "data": []}))), TOKEN,
         "expected alert rule router-refund-alerts not paused; found: paused in Grafana"),
        (DASH, (200, "application/json", json.dumps({"dashboard": {"uid": "other"}})), TOKEN,
         "expected dashboard router-api-refunds installed in Grafana; found dashboard other "
         "at {url}/api/dashboards/uid/router-api-refunds"),
        (RULE, (200, "application/json", "[]"), TOKEN,
         "expected alert rule router-refund-alerts installed in Grafana; found: no alert rule in "
         "the answer of GET {url}/api/v1/provisioning/alert-rules/router-refund-alerts"),
    ],
    ids=["dashboard", "rule", "404 dashboard", "404 rule", "401", "html", "paused", "other uid",
         "not a rule"],
)
def test_grafana_api_answers(
    fake: Fake, asset: Asset, answer: tuple | None, token: str, problem: str | None
) -> None:
    path = ("/api/dashboards/uid/" if asset.kind == "dashboard"
            else "/api/v1/provisioning/alert-rules/") + asset.uid
    if answer:
        fake.routes[path] = answer
    api = GrafanaApi(fake.url, token)
    try:
        found, answers = api.installed(asset)
    finally:
        api.close()
    assert found == (problem and problem.format(url=fake.url))
    assert [a.url for a in answers] == [fake.url + path]
    assert fake.seen == [(path, f"Bearer {token}")]


def test_grafana_api_unreachable() -> None:
    api = GrafanaApi("http://127.0.0.1:9", TOKEN)
    problem, answers = api.installed(DASH)
    assert fnmatchcase(problem, "expected dashboard router-api-refunds installed in Grafana; "
                                "found: GET http://127.0.0.1:9/api/dashboards/uid/"
                                "router-api-refunds: cannot connect: *")
    assert answers == []


# Offline parsing

@pytest.mark.parametrize(
    ("expr", "names", "unchecked"),
    [
        ("count(router_refund_retries_total)", ["router_refund_retries_total"], []),
        ('sum by (instance) (increase(router_refund_alerts_total{job="router-api", '
         'env=~"prod|staging"}[$__rate_interval]))', ["router_refund_alerts_total"], []),
        ("histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket"
         '{route!="/metrics"}[5m])))', ["http_request_duration_seconds_bucket"], []),
        ('sum(rate(http_requests_total{status=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'
         " > bool 0.05", ["http_requests_total"], []),
        ("absent(router_refund_retries_total) or vector(0)", ["router_refund_retries_total"], []),
        ("a_total * on(job) group_left(version) build_info", ["a_total", "build_info"], []),
        ("sum(x) by (le) unless ignoring(a) y offset 5m", ["x", "y"], []),
        ("topk(5, z) and count_values(\"v\", w) @ start()", ["z", "w"], []),
        ('label_replace(up, "dst", "$1", "src", "(.*)")  # not_a_metric', ["up"], []),
        ('{__name__="foo_total", job="x"} + {__name__=~"bar.*"}', ["foo_total"],
         ["__name__=~'bar.*'"]),
        ('{"my.metric", job="a"}', ["my.metric"], []),
        ("job:http_requests:rate5m > 1e-3", [], ["job:http_requests:rate5m (recording rule)"]),
        ("${metric}_total + rate(x[$__interval]) * $scale",
         ["x"], ["${metric}_total (Grafana variable in the name)"]),
        ("max_over_time(foo[1h30m:5m]) - 0x1F + Inf + NaN", ["foo"], []),
    ],
)
def test_metric_names_skip_functions_keywords_labels_and_strings(
    expr: str, names: list[str], unchecked: list[str]
) -> None:
    refs = metric_names(expr)
    assert (list(refs.names), list(refs.unchecked)) == (names, unchecked)


def test_counters_are_exposed_as_total_series() -> None:
    names = parse(exposition(), "text/plain; version=0.0.4", "/metrics").series_names()
    assert {"router_refund_retries_total", "router_refund_alerts_total", "http_requests_total",
            "http_request_duration_seconds_bucket"} <= names
    assert "router_refund_retries" not in names
    with pytest.raises(ExpositionError, match=r"^GET /metrics: not a Prometheus exposition: "):
        parse(exposition() + 'router_refund_retries_total{instance="x" 0\n', "text/plain",
              "/metrics")


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("dashboard", '{"uid": "x", "panels": [}', "{path}: invalid JSON at line 1, column 25: "
                                                   "Expecting value"),
        ("dashboard", '{"title": "no uid", "panels": []}',
         "{path}: expected the dashboard's uid; found none"),
        ("alert rule", '{"apiVersion": 1, "groups": []}',
         "{path}: expected Grafana alert rules (groups[].rules[] or a rule with uid and data); "
         "found none"),
        ("alert rule", '{"groups": [{"rules": [{"uid": "r1", "data": []}]}]}',
         "{path}: alert rule r1: expected its queries in data; found none"),
    ],
)
def test_unreadable_files_are_named(tmp_path: Path, kind: str, text: str, message: str) -> None:
    path = tmp_path / "asset.json"
    path.write_text(text)
    with pytest.raises(AssetError) as error:
        read_assets(path, kind)
    assert str(error.value) == message.format(path=path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"uid": "x", "title": "\xff"}',
         "{path}:1: Grafana dashboard is not UTF-8 text: invalid byte at offset 23 (0xff)"),
        (b"[" * 200_000, "{path}: Grafana dashboard nests deeper than Python can read"),
        (b'{"uid": "x", "panels": []}' + b" " * (16 << 20),
         "{path}: Grafana dashboard is larger than 16 MiB"),
    ],
    ids=["not utf-8", "deep nesting", "too large"],
)
def test_hostile_dashboard_files_are_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "asset.json"
    path.write_bytes(content)
    with pytest.raises(AssetError) as error:
        read_assets(path, "dashboard")
    assert str(error.value) == message.format(path=path)


def test_dashboard_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "asset.json"
    os.mkfifo(fifo)
    outcome: list[str] = []
    reader = threading.Thread(target=lambda: outcome.append(_asset_error(fifo)), daemon=True)
    reader.start()
    reader.join(timeout=10)
    if reader.is_alive():  # unblock the reader before failing, so the run does not hang
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert outcome == [f"{fifo}: cannot read Grafana dashboard: not a regular file (a FIFO)"]


def _asset_error(path: Path) -> str:
    try:
        read_assets(path, "dashboard")
    except AssetError as exc:
        return str(exc)
    return "no error"
