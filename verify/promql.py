"""PromQL over Prometheus' HTTP API, and thresholds polled over a window with every attempt kept."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from deploy_gates.spec.sections import PromQuery
from deploy_gates.verify.compare import COMPARISON, OPERATORS
from deploy_gates.verify.excerpt import clip
from deploy_gates.verify.http import Http, HttpError

ERROR_CHARS = 200
"""How much of an answer (an error text, a series) a message quotes."""
SHOWN_SERIES = 20
"""How many series of each attempt the evidence shows."""


class PromError(Exception):
    """Prometheus gave no usable answer; the message names the URL and its error."""


@dataclass(frozen=True)
class Series:
    """One value of a query's result, with the labels that tell it apart."""

    labels: dict[str, str]
    value: float

    def __str__(self) -> str:
        return f"{selector(self.labels)} {self.value:g}" if self.labels else f"{self.value:g}"


def selector(labels: dict[str, str]) -> str:
    """``{instance="a", job="api"}``: labels as PromQL writes them."""
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


class Prometheus:
    """Instant queries against one Prometheus (read-only), each within a deadline and a byte
    cap."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.http = Http(url)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    @property
    def url(self) -> str:
        return self.http.base_url

    def query(self, expr: str, *, timeout_s: float | None = None,
              max_bytes: int | None = None) -> list[Series]:
        """The instant vector or scalar ``expr`` evaluates to now; PromError when Prometheus
        refuses it or answers something else, HttpError when there is no answer."""
        answer = self.http.get("/api/v1/query", params={"query": expr}, headers=self.headers,
                               timeout_s=timeout_s, max_bytes=max_bytes)
        body = answer.json()
        where = f"{self.http.url('/api/v1/query')} ({expr})"
        if not isinstance(body, dict):
            raise PromError(f"{where}: malformed answer: not a JSON object")
        if body.get("status") != "success":
            error = body.get("error", answer.text[:ERROR_CHARS])
            kind = body.get("errorType", f"HTTP {answer.status}")
            raise PromError(clip(f"{where}: {kind}: {error}", len(where) + ERROR_CHARS))
        try:
            return _series(body.get("data"))
        except _Unusable as exc:
            raise PromError(f"{where}: {exc}") from None

    def close(self) -> None:
        self.http.close()


class _Unusable(Exception):
    """The answer is not shaped as Prometheus' API documents it, or is not an instant value."""


def _malformed(problem: str) -> _Unusable:
    return _Unusable(f"malformed answer: {problem}")


def _series(data: Any) -> list[Series]:
    """The series of an API answer's ``data``, checked against the documented shapes."""
    if not isinstance(data, dict):
        raise _malformed("no data object")
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        if not _is_sample(result):
            raise _malformed("the scalar is not a [time, value] pair")
        return [Series({}, _number(result[1], "the scalar"))]
    if kind != "vector":
        raise _Unusable(f"the result is a {clip(str(kind), ERROR_CHARS)}; a gate needs an "
                        "instant vector or a scalar")
    if not isinstance(result, list):
        raise _malformed("the vector's result is not a list")
    series = []
    for item in result:
        labels = item.get("metric") if isinstance(item, dict) else None
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise _malformed(f"series {clip(repr(item), ERROR_CHARS)} has no metric labels")
        shown = clip(selector(labels), ERROR_CHARS)
        if not _is_sample(item.get("value")):
            raise _malformed(f"series {shown} has no [time, value] pair")
        series.append(Series(labels, _number(item["value"][1], shown)))
    return series


def _is_sample(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[1], str)


def _number(text: str, of: str) -> float:
    """A sample value as Prometheus writes it: ``1.5``, ``NaN``, ``+Inf``, ``-Inf``."""
    try:
        return float(text)
    except ValueError:
        raise _malformed(f"value {clip(repr(text), ERROR_CHARS)} of {of} is not a number"
                         ) from None


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
        seen = self.error or (_listed(self.series, SHOWN_SERIES) if self.series else "no data")
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
            series = prometheus.query(spec.query, timeout_s=spec.timeout,
                                      max_bytes=spec.max_bytes)
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
    found = _listed(breaking, 5)
    return Verdict("failed", f"expected {spec.query} {threshold}; found {found}{window}", attempts)


def _listed(series: list[Series], most: int) -> str:
    """The first ``most`` series, and how many more there are."""
    more = f" ... {len(series) - most} more" if len(series) > most else ""
    return clip("; ".join(map(str, series[:most])), most * ERROR_CHARS) + more
