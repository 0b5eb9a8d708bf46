"""Metric gates against the real sample service's /metrics, healthy and with its metric faults on;
the exposition lint checked against promtool's own verdict on the same text."""

from __future__ import annotations

import json
import subprocess
from fnmatch import fnmatchcase

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from deploy_gates.verify.exposition import ExpositionError, lint, parse
from deploy_gates.verify.exposition_scan import _lines
from tests.gaterun import run_gates, sample_project
from tests.prometheus_server import debian_binary

pytestmark = pytest.mark.usefixtures("sample_on_path")

ROUTER_METRICS = """
metrics:
  lint: true
  present:
    router_refund_retries_total: {type: counter, min: 0}
    router_refund_alerts: {type: counter, max: 0}
    http_requests_total: {type: counter, labels: [system, route, status]}
    http_request_duration_seconds: {type: histogram}
"""

LINT_FAULTS = """\
# TYPE queueDepth_total gauge
queueDepth_total 0
# HELP requests Requests.
# TYPE requests counter
requests 1
# HELP lat_ms Latency.
# TYPE lat_ms gauge
lat_ms{le="1",routeName="x"} 3
# HELP a:b Recorded.
# TYPE a:b gauge
a:b 1
# HELP x_gauge Gauge.
# TYPE x_gauge gauge
x_gauge 1
# HELP d_milliseconds Duration.
# TYPE d_milliseconds gauge
d_milliseconds 1
# HELP jobs_count Jobs.
# TYPE jobs_count gauge
jobs_count{quantile="0.5"} 1
"""


def metric_gates(pytester: pytest.Pytester, body: str = ROUTER_METRICS, *, faults: str = "",
                 modules: tuple[str, ...] = ("metrics",)) -> dict[str, dict]:
    return run_gates(sample_project(pytester, body, system="router-api", faults=faults), modules)


def test_healthy_exposition_passes_every_metric_gate_with_one_scrape(
    pytester: pytest.Pytester,
) -> None:
    gates = metric_gates(pytester)
    assert {name: g["outcome"] for name, g in gates.items()} == {
        "test_metric[router_refund_retries_total]": "passed",
        "test_metric[router_refund_alerts]": "passed",
        "test_metric[http_requests_total]": "passed",
        "test_metric[http_request_duration_seconds]": "passed",
        "test_metrics_lint[/metrics]": "passed",
    }
    evidence = gates["test_metric[router_refund_retries_total]"]["evidence"][0]
    assert evidence["title"].startswith("router_refund_retries (counter) in http://127.0.0.1:")
    assert evidence["text"] == "router_refund_retries_total 0"
    (log,) = (pytester.path / "out").glob("rehearsal-service-*.log")
    scrapes = [r for r in map(json.loads, log.read_text().splitlines())
               if r.get("path") == "/metrics"]
    assert len(scrapes) == 1


def test_missing_metric_is_named_with_similar_names(pytester: pytest.Pytester) -> None:
    gates = metric_gates(pytester, faults="missing_metric")
    gate = gates["test_metric[router_refund_retries_total]"]
    assert gate["outcome"] == "failed"
    assert fnmatchcase(gate["message"], "expected metric router_refund_retries_total in "
                       "http://127.0.0.1:*/metrics; found: not exposed (similar: "
                       "router_refund_alerts_total*)"), gate["message"]
    assert gates["test_metric[router_refund_alerts]"]["outcome"] == "passed"


def test_malformed_exposition_fails_metric_gates_and_others_still_run(
    pytester: pytest.Pytester,
) -> None:
    body = ROUTER_METRICS + "health:\n  - {get: /health, body: {status: ok}}\n"
    gates = metric_gates(pytester, body, faults="malformed_metrics", modules=("metrics", "health"))
    assert gates["test_health[GET /health]"]["outcome"] == "passed"
    metric = [g for name, g in gates.items() if name.startswith("test_metric")]
    assert len(metric) == 5
    for gate in metric:
        assert gate["outcome"] == "error"
        assert fnmatchcase(gate["message"], "GET http://127.0.0.1:*/metrics: not a Prometheus "
                           "exposition: could not convert string to float: *"), gate["message"]


def test_type_labels_and_bounds_name_what_was_found(pytester: pytest.Pytester) -> None:
    body = """
metrics:
  present:
    router_refund_retries_total: {type: gauge}
    http_requests_total: {labels: [system, tenant]}
    http_requests: {max: -1}
    http_request_duration_seconds: {min: 0}
    router_refund_alerts_totl: {}
"""
    gates = metric_gates(pytester, body)
    messages = {name: g["message"] for name, g in gates.items() if g["outcome"] == "failed"}
    expected = {
        "test_metric[router_refund_retries_total]":
            "expected router_refund_retries_total to be a gauge; found counter",
        "test_metric[http_requests_total]":
            "expected labels system, tenant on every http_requests_total series; found * of * "
            'without tenant, e.g. http_requests_total{method="GET",*,system="router-api"}',
        "test_metric[http_requests]":
            'expected http_requests <= -1; found http_requests_total{*,system="router-api"} *',
        "test_metric[http_request_duration_seconds]":
            "expected a value of http_request_duration_seconds to compare with min/max; found a "
            "histogram: name one of its series (http_request_duration_seconds_bucket, "
            "http_request_duration_seconds_count, http_request_duration_seconds_sum)",
        "test_metric[router_refund_alerts_totl]":
            "expected metric router_refund_alerts_totl in http://127.0.0.1:*/metrics; found: not "
            "exposed (similar: router_refund_alerts_total*)",
    }
    assert set(messages) == set(expected)
    for name, pattern in expected.items():
        assert fnmatchcase(messages[name], pattern), (name, messages[name])


def test_counter_increase_after_an_action(pytester: pytest.Pytester) -> None:
    body = """
smoke:
  refund_path:
    steps:
      - {post: /jobs, json: {model: test, simulate_failure: true}, status: 202}
      - {metric: router_refund_retries_total, expect: increased, within: 1s}
"""
    healthy = metric_gates(pytester, body, modules=("smoke",))
    assert healthy["test_smoke[refund_path]"]["outcome"] == "passed"
    (pytester.path / "out").rename(pytester.path / "out-healthy")
    broken = metric_gates(pytester, body, faults="no_refund", modules=("smoke",))
    gate = broken["test_smoke[refund_path]"]
    assert gate["message"] == ("step 2 (metric router_refund_retries_total): expected "
                               "router_refund_retries_total to increase from 0.0; found 0.0")
    assert len([e for e in gate["evidence"] if e["title"].startswith("metric ")]) >= 2


def test_lint_matches_promtool_on_the_same_exposition() -> None:
    promtool = debian_binary("promtool")
    healthy = generate_latest(_registry()).decode()
    for text in (LINT_FAULTS, healthy):
        ours = lint(parse(text, "text/plain", "/metrics"))
        theirs = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                                text=True, timeout=30)
        assert ours == sorted(theirs.stderr.splitlines()), text
    assert len(lint(parse(LINT_FAULTS, "text/plain", "/metrics"))) == 12


def test_values_by_series_family_and_labels() -> None:
    exposition = parse(generate_latest(_registry()).decode(), "text/plain", "/metrics")
    assert exposition.value("jobs_done_total") == 5
    assert exposition.value("jobs_done") == 5
    assert exposition.value("jobs_done_total", {"queue": "refunds"}) == 3
    assert exposition.value("jobs_done_total", {"queue": "nope"}) is None
    assert exposition.value("latency_seconds_count") == 1
    assert exposition.value("latency_seconds") is None
    assert exposition.family("latency_seconds_bucket").type == "histogram"
    assert "unobserved_total" in exposition.series_names()
    assert exposition.value("unobserved_total") is None


@pytest.mark.parametrize("text", ["<html><body>Login</body></html>\n", "x{a=\"1\" 2\n"])
def test_malformed_text_is_one_line_naming_the_url(text: str) -> None:
    with pytest.raises(ExpositionError) as caught:
        parse(text, "text/plain", "http://127.0.0.1:1/metrics")
    assert str(caught.value).startswith(
        "GET http://127.0.0.1:1/metrics: not a Prometheus exposition: ")
    assert "\n" not in str(caught.value)


def test_only_the_wanted_families_are_parsed_and_the_rest_still_read() -> None:
    text = generate_latest(_registry()).decode()
    whole = parse(text, "text/plain", "/metrics")
    some = parse(text, "text/plain", "/metrics", {"jobs_done_total", "latency_seconds_bucket"})
    assert set(some.families) == {"jobs_done", "latency_seconds"}
    assert some.value("jobs_done_total", {"queue": "refunds"}) == 3
    assert some.value("queue_depth") == 4  # not asked for at first: parsed when looked up
    assert some.series_names() == whole.series_names()
    assert lint(some) == lint(whole)
    assert lint(parse(LINT_FAULTS, "text/plain", "/metrics", set())) == lint(
        parse(LINT_FAULTS, "text/plain", "/metrics"))
    with pytest.raises(ExpositionError, match="not a Prometheus exposition"):
        parse(text + 'queue_depth{a="1" 2\n', "text/plain", "/metrics", {"jobs_done_total"})


def test_lines_the_line_reader_does_not_vouch_for_go_to_the_parser() -> None:
    unusual = LINT_FAULTS.replace("x_gauge 1", "x_gauge   1  ")  # spacing the reader refuses
    assert lint(parse(unusual, "text/plain", "/m", set())) == lint(parse(LINT_FAULTS, "text/plain",
                                                                          "/m"))
    assert parse(unusual, "text/plain", "/m", set()).value("x_gauge") == 1


def test_label_names_of_every_line_are_noted_when_they_change_within_a_family() -> None:
    text = ("# TYPE jobs gauge\n"
            'jobs{queue="a"} 1\njobs{queue="b"} 1\n'
            'jobs{queue="c",region="eu"} 1\n'
            'jobs{queue="say \\"hi\\", ok=\\"x",shard="1"} 1\n'
            'jobs{queue="d"} 1\njobs{tier="gold"} 1\n'
            '# TYPE runs gauge\nruns{queue="a"} 1\n')
    exposition = parse(text, "text/plain", "/metrics", set())
    assert exposition.labels == {"jobs": {"queue", "region", "shard", "tier"}, "runs": {"queue"}}
    assert exposition.value("jobs", {"queue": 'say "hi", ok="x', "shard": "1"}) == 1


@pytest.mark.parametrize("chunk", [1, 2, 5, 1 << 20])
def test_lines_split_a_chunk_at_a_time_are_the_lines_of_the_text(chunk: int) -> None:
    for text in ["a 1\nb 2\n", "a 1\nb 2", "", "\n\n", "a 1\r\n\nb 2\n"]:
        whole = text.split("\n")
        assert list(_lines(text, chunk)) == (whole[:-1] if text.endswith("\n") else whole
                                             if text else [])


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    done = Counter("jobs_done", "Jobs done.", ["queue"], registry=registry)
    done.labels("refunds").inc(3)
    done.labels("emails").inc(2)
    Counter("unobserved", "Never incremented.", ["queue"], registry=registry)
    Gauge("queue_depth", "Jobs waiting.", registry=registry).set(4)
    Histogram("latency_seconds", "Latency.", registry=registry).observe(0.1)
    return registry
