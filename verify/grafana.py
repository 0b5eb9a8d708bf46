"""Grafana assets: dashboard and alert-rule JSON files, the metric names their PromQL uses, and
the Grafana HTTP API that says whether they are installed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from deploy_gates.spec.yamlsource import SpecError, read_text
from deploy_gates.verify.http import Answer, Http, HttpError

Kind = Literal["dashboard", "alert rule"]
EXPRESSION_UIDS = {"__expr__", "-100"}  # Grafana's server-side expressions (math, reduce, ...)
BUILTIN_UIDS = {"grafana", "-- Grafana --", "-- Dashboard --"}
MAX_ASSET_BYTES = 16 << 20  # a large dashboard is a few MiB


class AssetError(Exception):
    """A Grafana file that cannot be read as what the spec says it is; one line."""


@dataclass(frozen=True)
class Query:
    """One query of a panel or rule: where it is, its PromQL, and the datasource it runs on."""

    where: str
    expr: str | None
    datasource_uid: str | None
    datasource_type: str | None = None

    @property
    def expression(self) -> bool:
        """A Grafana expression or built-in query: no datasource, no PromQL of its own."""
        return self.datasource_uid in EXPRESSION_UIDS | BUILTIN_UIDS

    @property
    def promql(self) -> str | None:
        """The PromQL of the query, unless its datasource is known to speak another language."""
        if self.expression or not self.expr:
            return None
        if self.datasource_type and "prometheus" not in self.datasource_type:
            return None
        return self.expr


@dataclass(frozen=True)
class Asset:
    """A dashboard or an alert rule, as its file describes it."""

    kind: Kind
    uid: str
    title: str
    paused: bool
    queries: tuple[Query, ...]

    @property
    def label(self) -> str:
        return f"{self.kind} {self.uid}"


def read_assets(path: Path, kind: Kind) -> list[Asset]:
    """The dashboard, or every alert rule, in ``path``; AssetError names the file and the flaw."""
    label = f"Grafana {kind}"
    try:
        document = json.loads(read_text(path, label, MAX_ASSET_BYTES))
    except SpecError as exc:
        raise AssetError(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise AssetError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise AssetError(f"{path}: {label} nests deeper than Python can read") from None
    try:
        return [dashboard(document)] if kind == "dashboard" else alert_rules(document)
    except AssetError as exc:
        raise AssetError(f"{path}: {exc}") from None


def dashboard(document: Any) -> Asset:
    """A dashboard model, bare or wrapped as the API answers it (``{"dashboard": {...}}``)."""
    model = document.get("dashboard", document) if isinstance(document, dict) else None
    if not isinstance(model, dict) or not isinstance(model.get("panels", model.get("rows")), list):
        raise AssetError("expected a Grafana dashboard (an object with panels); found none")
    uid = _text(model, "uid", "dashboard")
    rows = [row.get("panels") or [] for row in model.get("rows") or [] if isinstance(row, dict)]
    panels = _panels([*(model.get("panels") or []), *(p for row in rows for p in row)])
    queries = tuple(q for panel in panels for q in _panel_queries(panel))
    return Asset("dashboard", uid, str(model.get("title", "")), False, queries)


def alert_rules(document: Any) -> list[Asset]:
    """The rules of a provisioning file (``groups[].rules[]``) or one rule as the API answers."""
    if isinstance(document, dict) and isinstance(document.get("groups"), list):
        rules = [
            rule
            for group in document["groups"]
            if isinstance(group, dict)
            for rule in group.get("rules") or []
        ]
    elif isinstance(document, dict) and "data" in document:
        rules = [document]
    else:
        rules = []
    if not rules:
        raise AssetError(
            "expected Grafana alert rules (groups[].rules[] or a rule with uid and data); "
            "found none"
        )
    return [alert_rule(rule) for rule in rules]


def alert_rule(rule: Any) -> Asset:
    """One unified-alerting rule: its uid, title, paused flag and queries."""
    if not isinstance(rule, dict):
        raise AssetError(f"expected an alert rule object; found {type(rule).__name__}")
    uid = _text(rule, "uid", "alert rule")
    data = rule.get("data")
    if not isinstance(data, list) or not data:
        raise AssetError(f"alert rule {uid}: expected its queries in data; found none")
    queries = []
    for entry in data:
        model = entry.get("model") if isinstance(entry, dict) else None
        if not isinstance(model, dict):
            raise AssetError(f"alert rule {uid}: every data entry needs a model object")
        source = model.get("datasource")
        queries.append(
            Query(
                f"alert rule {uid} query {entry.get('refId', '?')}",
                model.get("expr"),
                entry.get("datasourceUid"),
                source.get("type") if isinstance(source, dict) else None,
            )
        )
    return Asset("alert rule", uid, str(rule.get("title", "")), rule.get("isPaused") is True,
                 tuple(queries))


def _text(obj: dict, key: str, kind: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise AssetError(f"expected the {kind}'s {key}; found none")
    return value


def _panels(panels: list) -> Iterator[dict]:
    """Every panel, including those inside (collapsed) rows."""
    for panel in panels:
        if isinstance(panel, dict):
            yield panel
            yield from _panels(panel.get("panels") or [])


def _panel_queries(panel: dict) -> Iterator[Query]:
    panel_uid, panel_type = _datasource(panel.get("datasource"))
    title = panel.get("title") or f"#{panel.get('id', '?')}"
    for target in panel.get("targets") or []:
        if not isinstance(target, dict):
            continue
        uid, kind = _datasource(target.get("datasource"))
        yield Query(
            f"panel {title!r} query {target.get('refId', '?')}",
            target.get("expr"),
            uid if uid is not None else panel_uid,
            kind or panel_type,
        )


def _datasource(value: Any) -> tuple[str | None, str | None]:
    """(uid, type) of a datasource reference: an object, or a legacy name or variable."""
    if isinstance(value, dict):
        return value.get("uid"), value.get("type")
    return (value, None) if isinstance(value, str) and value else (None, None)


def datasource_problems(assets: list[Asset], expected: str) -> tuple[list[str], list[str]]:
    """Queries not on ``expected`` (problems), and those on a template variable (unchecked)."""
    problems, unchecked = [], []
    for query in (q for a in assets for q in a.queries if not q.expression):
        uid = query.datasource_uid
        if uid is None:
            problems.append(f"{query.where} on Grafana's default datasource")
        elif uid.startswith("$"):
            unchecked.append(f"{query.where} on variable {uid}")
        elif uid != expected:
            problems.append(f"{query.where} on {uid}")
    return problems, unchecked


# PromQL: the metric names a query reads.
AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}
LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
MATCHERS = ("=~", "!~", "!=", "=")
QUOTES = "\"'`"
VARIABLE = re.compile(r"\$(\w+|\{[^}]*\})")


@dataclass(frozen=True)
class MetricRefs:
    """Metric names a query reads, and references that cannot be checked against /metrics."""

    names: tuple[str, ...]
    unchecked: tuple[str, ...]


def metric_names(expr: str) -> MetricRefs:
    """The metric names in ``expr``: not functions, keywords, label names, strings or numbers.

    Recording rules (names with ``:``), Grafana variables in a name and ``__name__`` regexes
    cannot be looked up in an exposition: they are listed as unchecked.
    """
    scan = _Scanner(expr)
    scan.run()
    return MetricRefs(tuple(dict.fromkeys(scan.names)), tuple(dict.fromkeys(scan.unchecked)))


class _Scanner:
    """A PromQL tokenizer that keeps only what names a metric."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.names: list[str] = []
        self.unchecked: list[str] = []

    def run(self) -> None:
        text, i = self.text, 0
        while i < len(text):
            c = text[i]
            if c == "#":
                i = _find(text, "\n", i)
            elif c in QUOTES:
                i = self.string(i)[1]
            elif c == "{":
                i = self.selector(i + 1)
            elif c == "[":
                i = _closing(text, i, "[", "]")
            elif c.isdigit() or (c == "." and text[i + 1 : i + 2].isdigit()):
                i = self.number(i)
            elif c.isalpha() or c in "_:$":
                i = self.word(i)
            else:
                i += 1

    def word(self, start: int) -> int:
        text, i, templated = self.text, start, False
        while i < len(text):
            if _name_char(text[i]):
                i += 1
            elif text[i] == "$":
                templated = True
                if text[i + 1 : i + 2] == "{":
                    i = _find(text, "}", i) + 1
                else:
                    i += 1
                    while i < len(text) and (text[i].isalnum() or text[i] == "_"):
                        i += 1
            else:
                break
        word, after = text[start:i], _skip_space(text, i)
        follows = text[after : after + 1]
        lower = word.lower()
        if templated:
            if follows != "(" and not _only_variable(word):
                self.unchecked.append(f"{word} (Grafana variable in the name)")
        elif lower in LABEL_LISTS and follows == "(":
            return _closing(text, after, "(", ")")
        elif lower in LABEL_LISTS | KEYWORDS | AGGREGATIONS or follows == "(":
            pass
        elif ":" in word:
            self.unchecked.append(f"{word} (recording rule)")
        else:
            self.names.append(word)
        return i

    def selector(self, i: int) -> int:
        """Label matchers up to the closing brace; ``__name__`` and bare quoted names count."""
        text = self.text
        while i < len(text) and text[i] != "}":
            if text[i] in QUOTES:
                label, i = self.string(i)
                quoted = True
            elif text[i].isalpha() or text[i] == "_":
                start = i
                while i < len(text) and _name_char(text[i]):
                    i += 1
                label, quoted = text[start:i], False
            else:
                i += 1
                continue
            i = _skip_space(text, i)
            op = next((m for m in MATCHERS if text.startswith(m, i)), None)
            if op is None:
                if quoted:
                    self.names.append(label)  # Prometheus 3: {"metric.name", job="x"}
                continue
            i = _skip_space(text, i + len(op))
            if i < len(text) and text[i] in QUOTES:
                value, i = self.string(i)
            else:
                start = i
                while i < len(text) and text[i] not in ",}":
                    i += 1
                value = text[start:i].strip()
            if label == "__name__":
                if op == "=" and "$" not in value:
                    self.names.append(value)
                else:
                    self.unchecked.append(f"__name__{op}{value!r}")
        return i + 1

    def string(self, i: int) -> tuple[str, int]:
        """The raw text of the string starting at ``i``, and the index after it."""
        quote, start = self.text[i], i + 1
        i = start
        while i < len(self.text) and self.text[i] != quote:
            i += 2 if self.text[i] == "\\" and quote != "`" else 1
        return self.text[start:i], i + 1

    def number(self, i: int) -> int:
        """Skip a number or duration: ``0.95``, ``1e-3``, ``0x1f``, ``5m``, ``1h30m``."""
        text = self.text
        while i < len(text) and (text[i].isalnum() or text[i] in "._"):
            i += 1
            if text[i - 1] in "eE" and text[i : i + 1] in ("+", "-"):
                i += 1
        return i


def _name_char(c: str) -> bool:
    return c.isalnum() or c in "_:"


def _only_variable(word: str) -> bool:
    return VARIABLE.fullmatch(word) is not None


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _find(text: str, char: str, i: int) -> int:
    found = text.find(char, i)
    return len(text) if found < 0 else found


def _closing(text: str, i: int, opening: str, closing: str) -> int:
    """The index after the bracket that closes the one at ``i``."""
    depth = 0
    while i < len(text):
        depth += {opening: 1, closing: -1}.get(text[i], 0)
        i += 1
        if depth == 0:
            break
    return i


class GrafanaApi:
    """The two read-only Grafana endpoints the gates use, with a bearer token."""

    def __init__(self, url: str, token: str | None) -> None:
        self.http = Http(url)
        self.headers = {"Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def installed(self, asset: Asset) -> tuple[str | None, list[Answer]]:
        """What is wrong with ``asset`` as Grafana has it (None: installed, and not paused)."""
        path = (
            f"/api/dashboards/uid/{asset.uid}"
            if asset.kind == "dashboard"
            else f"/api/v1/provisioning/alert-rules/{asset.uid}"
        )
        try:
            answer = self.http.get(path, headers=self.headers)
        except HttpError as exc:
            return f"expected {asset.label} installed in Grafana; found: {exc}", []
        return _installed_problem(asset, answer), [answer]

    def close(self) -> None:
        self.http.close()


def _installed_problem(asset: Asset, answer: Answer) -> str | None:
    """What Grafana's answer says is wrong with ``asset``."""
    expected = f"expected {asset.label} installed in Grafana"
    if answer.status != 200:
        return f"{expected}; found: {answer.method} {answer.url} -> {_reason(answer)}"
    try:
        body = answer.json()
    except HttpError as exc:
        return f"{expected}; found: {exc}"
    found = body.get("dashboard") if asset.kind == "dashboard" and isinstance(body, dict) else body
    if not isinstance(found, dict):
        return f"{expected}; found: no {asset.kind} in the answer of GET {answer.url}"
    if found.get("uid") != asset.uid:
        return f"{expected}; found {asset.kind} {found.get('uid')} at {answer.url}"
    if found.get("isPaused") is True:
        return f"expected {asset.label} not paused; found: paused in Grafana"
    return None


def _reason(answer: Answer) -> str:
    """``404 Dashboard not found``: the status and Grafana's message, when it sent one."""
    try:
        body = json.loads(answer.text)
    except ValueError:
        body = None
    message = body.get("message") if isinstance(body, dict) else None
    return f"{answer.status} {message}" if message else str(answer.status)
