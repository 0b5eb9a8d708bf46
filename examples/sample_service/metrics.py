"""Prometheus metrics of the service, and the /metrics exposition (with its faults)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # the classic text format
HIDDEN_BY_MISSING_METRIC = "router_refund_retries"  # family of router_refund_retries_total
BROKEN_LINE = b'router_refund_retries_total{instance="sample-service" 0\n'  # label set not closed
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0)


class _Without(Collector):
    """A registry view that leaves out one metric family."""

    def __init__(self, registry: CollectorRegistry, family: str) -> None:
        self._registry = registry
        self._family = family

    def collect(self) -> Iterator[Metric]:
        return (m for m in self._registry.collect() if m.name != self._family)


class Metrics:
    """One registry per service; systems register their own counters on ``registry``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests", "HTTP requests answered.",
            ["system", "method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds", "Time to answer an HTTP request.",
            ["system", "method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )

    def observe(self, system: str, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its duration."""
        self.requests.labels(system, method, route, str(status)).inc()
        self.latency.labels(system, method, route).observe(seconds)

    def exposition(self, faults: frozenset[str]) -> bytes:
        """The text format of every metric, as bent by ``missing_metric``/``malformed_metrics``."""
        source: Collector = self.registry
        if "missing_metric" in faults:
            source = _Without(self.registry, HIDDEN_BY_MISSING_METRIC)
        text = generate_latest(source)
        return text + BROKEN_LINE if "malformed_metrics" in faults else text
