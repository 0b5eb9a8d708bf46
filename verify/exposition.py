"""A target's Prometheus exposition: scraped over HTTP, read once line by line for its names, types
and labels (enough for lint and name look-ups), the families the gates name parsed by
prometheus_client's parser; asked for metric families, series values and lint problems."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from deploy_gates.verify.excerpt import clip
from deploy_gates.verify.exposition_scan import Unvouched, scan
from deploy_gates.verify.http import Http, HttpError
from deploy_gates.verify.promparsers import text_parser

if TYPE_CHECKING:  # prometheus_client loads with the first parse
    from prometheus_client.metrics_core import Metric
    from prometheus_client.samples import Sample

    from deploy_gates.spec.sections import Metrics

SERIES_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
}
"""The series a family declared without samples will have, as Prometheus stores them."""

SPEC_TYPES = {"untyped": "unknown"}
"""Type names of the runbook spec that prometheus_client's parser spells differently."""
PARSE_ERROR_CHARS = 300
"""How much of the parser's complaint (which quotes the line) a message shows."""


class ExpositionError(Exception):
    """The scrape got no exposition; the message names the URL and says why."""


@dataclass(frozen=True)
class Exposition:
    """The metric families of one scrape the gates asked for, looked up by family or series
    name, and the names, types and label names of every family."""

    url: str
    families: dict[str, Metric]
    declared: dict[str, str] = field(default_factory=dict)
    """``# TYPE`` lines as written (``name -> type``): the parser renames counters, lint may not."""
    helped: frozenset[str] = frozenset()
    """Names that have a ``# HELP`` line with text."""
    labels: dict[str, set[str]] = field(default_factory=dict)
    """Label names by family name as written (``# TYPE``/``# HELP`` line, or untyped sample)."""
    untyped: tuple[str, ...] = ()
    """Families without a ``# TYPE`` line."""
    names: frozenset[str] = frozenset()
    """Every series name exposed, counting families declared without samples yet."""
    later: Callable[[str], dict[str, Metric]] | None = field(default=None, repr=False,
                                                            compare=False)
    """Parses the families a name names that were not asked for at first (a custom gate's)."""

    def family(self, name: str) -> Metric | None:
        """The family ``name`` names: ``http_requests``, ``http_requests_total`` or ``h_bucket``."""
        found = self.families.get(name) or self.by_series.get(name)
        if found is None and self.later is not None and (more := self.later(name)):
            self.families.update(more)
            self.__dict__.pop("by_series", None)
            found = self.families.get(name) or self.by_series.get(name)
        return found

    @cached_property
    def by_series(self) -> dict[str, Metric]:
        """Every family by each of its series names."""
        return {n: f for f in self.families.values() for n in series_names(f)}

    def samples(self, name: str, labels: dict[str, str] | None = None) -> list[Sample]:
        """The samples of series ``name`` whose labels include ``labels``; for a family name, its
        value series (``x`` or ``x_total``), never ``_created``."""
        family = self.family(name)
        if family is None:
            return []
        names = {name} if name != family.name else {name, f"{name}_total"}
        wanted = (labels or {}).items()
        return [s for s in family.samples if s.name in names and wanted <= s.labels.items()]

    def value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """The sum over the series ``name`` with ``labels``; None when there is no such series."""
        found = self.samples(name, labels)
        return sum(s.value for s in found) if found else None

    def series_names(self) -> frozenset[str]:
        """Every series name exposed, counting families declared without samples yet."""
        return self.names

    def close_matches(self, name: str) -> list[str]:
        """Exposed series names that look like a misspelt ``name``."""
        return difflib.get_close_matches(name, sorted(self.series_names()), n=3)


def series_names(family: Metric) -> set[str]:
    """The series names of ``family``: those it has samples for, else those it will have."""
    return {s.name for s in family.samples} or {
        family.name + suffix for suffix in SERIES_SUFFIXES.get(family.type, ("",))
    }


def parse(text: str, content_type: str, url: str,
          wanted: Collection[str] | None = None) -> Exposition:
    """``text`` parsed in the format its content type names, its families by prometheus_client
    only those ``wanted`` names (all when None); ExpositionError when malformed anywhere."""
    if "openmetrics" not in content_type:
        try:
            seen = scan(text)
        except Unvouched:
            pass
        else:
            if wanted is None:
                return Exposition(url, _families(text, content_type, url), seen.declared,
                                  frozenset(seen.helped), seen.labels(), tuple(seen.untyped()),
                                  seen.series_names())
            return Exposition(
                url, _families(seen.text_of(text, wanted), content_type, url), seen.declared,
                frozenset(seen.helped), seen.labels(), tuple(seen.untyped()), seen.series_names(),
                lambda name: _families(seen.text_of(text, {name}), content_type, url),
            )
    families = _families(text, content_type, url)
    declared, helped = declared_types(text), frozenset(HELP_LINE.findall(text))
    whole = Exposition(url, families, declared, helped)
    labels = {name: {k for f in [whole.family(name)] if f for s in f.samples for k in s.labels}
              for name in [*declared, *families]}
    untyped = tuple(f.name for f in families.values() if f.type == "unknown"
                    and f.name not in declared)
    return Exposition(url, families, declared, helped, labels, untyped,
                      frozenset(whole.by_series))


def _families(text: str, content_type: str, url: str) -> dict[str, Metric]:
    """prometheus_client's families of ``text``; ExpositionError when malformed."""
    text_string_to_metric_families = text_parser("openmetrics" in content_type)
    families: dict[str, Metric] = {}
    try:
        for family in text_string_to_metric_families(text):
            if family.name in families:
                families[family.name].samples.extend(family.samples)
            else:
                families[family.name] = family
    except ValueError as exc:
        raise ExpositionError(
            f"GET {url}: not a Prometheus exposition: {clip(str(exc), PARSE_ERROR_CHARS)}"
        ) from None
    return families


def scrape(http: Http, metrics: Metrics, wanted: Collection[str] | None = None) -> Exposition:
    """GET ``metrics.path`` within its deadline and byte cap, and parse it (the families
    ``wanted`` names); ExpositionError naming the URL when there is no exposition."""
    url = http.url(metrics.path)
    try:
        answer = http.get(metrics.path, timeout_s=metrics.timeout, max_bytes=metrics.max_bytes,
                          max_bytes_key="metrics.max_bytes")
    except HttpError as exc:
        raise ExpositionError(str(exc)) from None
    if answer.status != 200:
        raise ExpositionError(f"GET {url}: status {answer.status} (expected 200)")
    return parse(answer.text, answer.headers.get("Content-Type", ""), url, wanted)


TYPE_LINE = re.compile(r"^#\s+TYPE\s+(\S+)\s+(\S+)", re.MULTILINE)
HELP_LINE = re.compile(r"^#\s+HELP\s+(\S+)\s+\S", re.MULTILINE)


def declared_types(text: str) -> dict[str, str]:
    """Metric names as their ``# TYPE`` lines spell them, with the type."""
    return {m.group(1): m.group(2) for m in TYPE_LINE.finditer(text)}


# Lint: the rules of ``promtool check metrics``, with its messages.
BASE_UNITS = {
    "seconds": ("milliseconds", "microseconds", "nanoseconds", "minutes", "hours", "days",
                "weeks"),
    "bytes": ("kilobytes", "megabytes", "gigabytes", "terabytes", "petabytes", "bits"),
    "meters": ("kilometers", "centimeters", "millimeters"),
}
ABBREVIATED_UNITS = {"s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h",
                     "d"}
CAMEL_CASE = re.compile(r"[a-z][A-Z]")


def lint(exposition: Exposition) -> list[str]:
    """Lint problems as ``promtool check metrics`` words them: ``name problem``, sorted."""
    problems = []
    for name, kind in _metrics(exposition):
        labels = exposition.labels.get(name, set())
        problems += [f"{name} {p}" for p in _name_problems(name, kind, labels)]
        if name not in exposition.helped:
            problems.append(f"{name} no help text")
    return sorted(problems)


def _metrics(exposition: Exposition) -> Iterable[tuple[str, str]]:
    """Every metric as its ``# TYPE`` line spells it, and untyped families by their name."""
    yield from exposition.declared.items()
    for name in exposition.untyped:
        yield name, "untyped"


def _name_problems(name: str, kind: str, labels: set[str]) -> list[str]:
    problems = []
    if ":" in name:
        problems.append("metric names should not contain ':'")
    if CAMEL_CASE.search(name):
        problems.append("metric names should be written in 'snake_case' not 'camelCase'")
    if any(CAMEL_CASE.search(label) for label in labels):
        problems.append("label names should be written in 'snake_case' not 'camelCase'")
    if kind == "counter" and not name.endswith("_total"):
        problems.append('counter metrics should have "_total" suffix')
    if kind != "counter" and name.endswith("_total"):
        problems.append('non-counter metrics should not have "_total" suffix')
    if kind != "histogram":
        if name.endswith("_bucket"):
            problems.append('non-histogram metrics should not have "_bucket" suffix')
        if "le" in labels:
            problems.append('non-histogram metrics should not have "le" label')
    if kind not in ("histogram", "summary"):
        problems += [f'non-histogram and non-summary metrics should not have "{suffix}" suffix'
                     for suffix in ("_count", "_sum") if name.endswith(suffix)]
    if kind != "summary" and "quantile" in labels:
        problems.append('non-summary metrics should not have "quantile" label')
    words = name.lower().split("_")
    if kind in words[1:]:
        problems.append(f"metric name should not include type '{kind}'")
    problems += [f'use base unit "{base}" instead of "{unit}"'
                 for base, units in BASE_UNITS.items() for unit in units if unit in words]
    if ABBREVIATED_UNITS & set(words[1:]):
        problems.append("metric names should not contain abbreviated units")
    return problems
