"""PromQL over Prometheus' HTTP API, and thresholds polled over a window with every attempt kept."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from deploy_gates.spec.sections import PromQuery
from deploy_gates.verify.compare import COMPARISON, OPERATORS
from deploy_gates.verify.http import Http, HttpError


class PromError(Exception):
    """Prometheus gave no usable answer; the message names the URL and its error."""


@dataclass(frozen=True)
class Series:
    """One value of a query's result, with the labels that tell it apart."""

    labels: dict[str, str]
    value: float

    def __str__(self) -> str:
        labels = ", ".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        return f"{{{labels}}} {self.value:g}" if labels else f"{self.value:g}"


class Prometheus:
    """Instant queries against one Prometheus (read-only), with timeouts on every call."""

    def __init__(self, url: str, token: str | None = None, *, timeout_s: float = 30.0) -> None:
        self.http = Http(url, read_timeout_s=timeout_s)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    @property
    def url(self) -> str:
        return self.http.base_url

    def query(self, expr: str) -> list[Series]:
        """The instant vector or scalar ``expr`` evaluates to now; PromError when Prometheus
        refuses it, HttpError when there is no answer."""
        answer = self.http.get("/api/v1/query", params={"query": expr}, headers=self.headers)
        body = answer.json()
        where = f"{self.http.url('/api/v1/query')} ({expr})"
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error", answer.text[:200]) if isinstance(body, dict) else body
            kind = body.get("errorType", f"HTTP {answer.status}") if isinstance(body, dict) else ""
            raise PromError(f"{where}: {kind}: {error}")
        data = body["data"]
        if data["resultType"] == "vector":
            return [Series(item["metric"], float(item["value"][1])) for item in data["result"]]
        if data["resultType"] == "scalar":
            return [Series({}, float(data["result"][1]))]
        raise PromError(
            f"{where}: the result is a {data['resultType']}; a gate needs an instant vector or "
            "a scalar"
        )

    def close(self) -> None:
        self.http.close()


@dataclass(frozen=True)
class Threshold:
    """``< 0.001``: what every series of a result must satisfy."""

    op: str
    bound: float

    @classmethod
    def parse(cls, text: str) -> Threshold:
        match = COMPARISON.match(text)
        if match is None:
            raise ValueError(f"{text!r} is not a threshold like '< 0.001'")
        return cls(match.group(1), float(match.group(2)))

    def holds(self, value: float) -> bool:
        return not math.isnan(value) and OPERATORS[self.op](value, self.bound)

    def __str__(self) -> str:
        return f"{self.op} {self.bound:g}"


@dataclass(frozen=True)
class Attempt:
    """One evaluation of a polled query: when, and what it returned or why it did not."""

    at: datetime
    series: list[Series] = field(default_factory=list)
    error: str | None = None

    def __str__(self) -> str:
        seen = self.error or ("; ".join(map(str, self.series)) if self.series else "no data")
        return f"{self.at:%H:%M:%S.%f}"[:-3] + f"  {seen}"


@dataclass(frozen=True)
class Verdict:
    """How a polled query ended: ``passed``, ``failed`` or ``no data``, and every attempt."""

    outcome: str
    message: str
    attempts: list[Attempt]


def poll(
    prometheus: Prometheus, spec: PromQuery, progress: Callable[[str], None] | None = None
) -> Verdict:
    """Evaluate ``spec.query`` at once and then every ``spec.every`` until ``spec.within`` has
    passed, stopping as soon as the threshold holds for every series; an error from Prometheus
    ends the poll at once. ``progress`` hears of each attempt that did not end the poll."""
    threshold = Threshold.parse(spec.expect)
    start = time.monotonic()
    attempts: list[Attempt] = []
    while True:
        now = datetime.now(UTC)
        try:
            series = prometheus.query(spec.query)
        except (HttpError, PromError) as exc:
            attempts.append(Attempt(now, error=str(exc)))
            return Verdict("failed", str(exc), attempts)
        attempts.append(Attempt(now, series))
        breaking = [s for s in series if not threshold.holds(s.value)]
        if series and not breaking:
            return Verdict("passed", "", attempts)
        next_at = len(attempts) * spec.every
        if next_at > spec.within:
            return _ended(spec, threshold, breaking, attempts)
        if progress:
            progress(f"attempt {len(attempts)} of {spec.query} (expect {threshold}, within "
                     f"{spec.within:g} s): {attempts[-1]}")
        time.sleep(max(0.0, start + next_at - time.monotonic()))


def _ended(spec: PromQuery, threshold: Threshold, breaking: list[Series],
           attempts: list[Attempt]) -> Verdict:
    window = f" ({len(attempts)} attempts over {spec.within:g} s)" if len(attempts) > 1 else ""
    if not breaking:
        return Verdict("no data", f"{spec.query}: no data: the query returned no series{window}",
                       attempts)
    found = "; ".join(map(str, breaking[:5])) + (" ..." if len(breaking) > 5 else "")
    return Verdict("failed", f"expected {spec.query} {threshold}; found {found}{window}", attempts)
