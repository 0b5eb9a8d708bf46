"""Health checks and smoke flows: requests in order, values saved from one answer and used in the
next, database and metric steps, and cleanup steps that always run."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

from deploy_gates.migrate.execute import describe as describe_error
from deploy_gates.redact import Redactor, secret_problem
from deploy_gates.spec.sections import Flow, Metrics, MetricStep, Request, SqlStep, Step
from deploy_gates.verify.compare import MISSING, lookup, subset_problems, value_problem
from deploy_gates.verify.exposition import ExpositionError, scrape
from deploy_gates.verify.http import Http, HttpError
from deploy_gates.verify.readonly_sql import refusal

PLACEHOLDER = re.compile(r"\{(\w+)\}")
HEADER_PREFIX = "header:"
"""``save: {token: "header:X-Session-Token"}`` saves a response header, not a JSON path."""


class StepFailed(Exception):
    """A step's answer was not what the spec expects; the message says what was and wasn't."""


@dataclass
class FlowRun:
    """One run of a flow: the values saved so far and the evidence of every step. Saved values
    that are not public are secrets: ``redactor`` masks them from the moment they are saved."""

    http: Http
    connect: Callable[[str | None], psycopg.Connection]
    """A connection to the target's database of a key (None: the first)."""
    redactor: Redactor
    metrics: Metrics = field(default_factory=Metrics)
    progress: Callable[[str], None] | None = None
    """Hears of each attempt of a step that polls (``within:``)."""
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    """Where ``auth_env`` is read: the environment the service runs with."""
    saved: dict[str, Any] = field(default_factory=dict)
    evidence: list[tuple[str, str]] = field(default_factory=list)
    baselines: dict[str, float] = field(default_factory=dict)

    def run(self, flow: Flow) -> list[str]:
        """Run the steps, then the ``finally`` steps whatever a step raised; the problems found.
        A flow with SQL that is not one read-only query sends nothing at all."""
        refused = [
            f"{kind} {index} (sql): refused, nothing sent: {problem}"
            for kind, steps in (("step", flow.steps), ("finally step", flow.finally_))
            for index, step in enumerate(steps, 1)
            if isinstance(step, SqlStep) and (problem := refusal(step.sql))
        ]
        if refused:
            return refused[:1]
        problems: list[str] = []
        try:
            self.baselines = {
                s.metric: self.metric(s) or 0.0 for s in flow.steps if isinstance(s, MetricStep)
            }
        except StepFailed as exc:
            return [f"before step 1, reading the metrics: {exc}"]
        try:
            for index, step in enumerate(flow.steps, 1):
                try:
                    self.step(step)
                except (StepFailed, HttpError) as exc:
                    problems.append(f"step {index} ({describe(step)}): {exc}")
                    break
        finally:
            for index, step in enumerate(flow.finally_, 1):
                try:
                    self.step(step)
                except (StepFailed, HttpError) as exc:
                    problems.append(f"finally step {index} ({describe(step)}): {exc}")
        return problems

    def step(self, step: Step) -> None:
        if isinstance(step, Request):
            self.request(step)
        elif isinstance(step, SqlStep):
            self.sql(step)
        else:
            self.metric_rose(step)

    def request(self, req: Request) -> None:
        """Send ``req`` and check status, latency, headers and body; save what it asks for."""
        headers = {k: self.fill(v) for k, v in req.headers.items()}
        if req.auth_env:
            token = self.env.get(req.auth_env)
            if not token:
                raise StepFailed(f"environment variable {req.auth_env} (auth_env) is not set")
            headers["Authorization"] = f"Bearer {token}"
        answer = self.http.request(
            req.method,
            self.fill(req.path),
            headers=headers,
            timeout_s=req.timeout,
            max_bytes=req.max_bytes,
            follow_redirects=req.follow_redirects,
            params={k: self.fill(v) for k, v in req.query.items()} or None,
            json=self.fill(req.json_body) if req.json_body is not None else None,
        )
        self.evidence.append((f"{req.method} {req.path}", answer.excerpt()))
        statuses = req.status if isinstance(req.status, list) else [req.status]
        found = []
        if answer.status not in statuses:
            found.append(f"status {answer.status} (expected {' or '.join(map(str, statuses))})")
        if req.within is not None and answer.seconds > req.within:
            found.append(f"took {answer.seconds * 1000:.0f} ms (budget {req.within * 1000:.0f} ms)")
        received = {k.lower(): v for k, v in answer.headers.items()}
        for name, want in req.expect_headers.items():
            got = received.get(name.lower())
            if got != want:
                found.append(
                    f"header {name}: {got if got is not None else 'missing'} (expected {want})"
                )
        if found:
            raise StepFailed("; ".join(found))
        from_body = {k: v for k, v in req.save.items() if not v.startswith(HEADER_PREFIX)}
        values: dict[str, Any] = {}
        for name, path in req.save.items():
            if name not in from_body:
                header = path.removeprefix(HEADER_PREFIX)
                if header.lower() not in received:
                    raise StepFailed(f"cannot save {name}: header {header} is not in the answer")
                values[name] = received[header.lower()]
        data = answer.json() if req.body or from_body else None
        values.update({name: lookup(data, path) for name, path in from_body.items()})
        self._keep_secret({n: v for n, v in values.items() if n not in req.public})
        if data is not None:
            problems = subset_problems(self.fill(req.body), data)
            if problems:
                raise StepFailed("body: " + "; ".join(problems))
        for name, value in values.items():
            if value is MISSING:
                raise StepFailed(f"cannot save {name}: {req.save[name]} is not in the answer")
            self.saved[name] = value

    def _keep_secret(self, values: dict[str, Any]) -> None:
        """Have the redactor mask these saved values (every string and number in them) before
        anything shows them; a value too short to mask safely fails the step."""
        for name, value in values.items():
            secrets = [text for leaf in _leaves(value) if (text := str(leaf))]
            problem = next(filter(None, map(secret_problem, secrets)), None)
            if problem:
                raise StepFailed(
                    f"cannot save {name}: {problem}; if it is no secret, "
                    f"list it in the step's public: [{name}]"
                )
            self.redactor.learn(secrets)

    def sql(self, step: SqlStep) -> None:
        """Poll the query until its first row matches, or the window closes."""
        deadline = time.monotonic() + step.within
        while True:
            with self.connect(step.database) as conn:
                try:
                    cursor = conn.execute(step.sql, self.saved)
                    columns = [c.name for c in cursor.description or []]
                    row = cursor.fetchone()
                except psycopg.Error as exc:
                    raise StepFailed(describe_error(exc)) from None
            seen = dict(zip(columns, row, strict=True)) if row else None
            self.evidence.append(
                (
                    "SQL",
                    f"{step.sql}\nparameters: {json.dumps(self.saved, default=str)}"
                    f"\n-> {seen if seen is not None else 'no row'}",
                )
            )
            problems = (
                ["no row"]
                if seen is None
                else [
                    f"{k} = {p} (expected {v!r})"
                    for k, v in step.expect.items()
                    if (p := value_problem(v, seen.get(k))) is not None
                ]
            )
            if not problems:
                self._save_columns(step, seen)
                return
            if time.monotonic() + step.every > deadline:
                waited = f" after {step.within:g} s" if step.within else ""
                raise StepFailed("; ".join(problems) + waited)
            if self.progress:
                self.progress(f"sql step (within {step.within:g} s): {'; '.join(problems)}")
            time.sleep(step.every)

    def _save_columns(self, step: SqlStep, row: dict[str, Any]) -> None:
        """Keep the columns ``step.save`` names for later steps (secret unless public)."""
        absent = [column for column in step.save.values() if column not in row]
        if absent:
            raise StepFailed(
                f"cannot save {absent[0]}: no such column in the row (columns: {', '.join(row)})"
            )
        values = {name: row[column] for name, column in step.save.items()}
        self._keep_secret({n: v for n, v in values.items() if n not in step.public})
        self.saved.update(values)

    def metric(self, step: MetricStep) -> float | None:
        """The metric's value now (a fresh scrape), None when it has no such series."""
        try:
            return scrape(self.http, self.metrics, {step.metric}).value(step.metric, step.labels)
        except ExpositionError as exc:
            raise StepFailed(str(exc)) from None

    def metric_rose(self, step: MetricStep) -> None:
        """Rescrape until the metric is above its value at the start of the flow."""
        before = self.baselines.get(step.metric, 0.0)
        deadline = time.monotonic() + step.within
        while True:
            now = self.metric(step)
            self.evidence.append((f"metric {step.metric}", f"at flow start: {before}; now: {now}"))
            if now is not None and now > before:
                return
            if time.monotonic() >= deadline:
                raise StepFailed(f"expected {step.metric} to increase from {before}; found {now}")
            if self.progress:
                self.progress(f"metric {step.metric} (within {step.within:g} s): {now}")
            time.sleep(0.5)

    def fill(self, value: Any) -> Any:
        """``{name}`` placeholders replaced by saved values, in strings, lists and dicts."""
        if isinstance(value, str):
            return PLACEHOLDER.sub(lambda m: str(self._saved(m.group(1))), value)
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        return value

    def _saved(self, name: str) -> Any:
        if name not in self.saved:
            raise StepFailed(f"{{{name}}} is not saved by an earlier step")
        return self.saved[name]


def _leaves(value: Any) -> list[Any]:
    """The scalars in a saved value (JSON lists and objects, or a column's value: a uuid, a
    date), but not booleans and nulls."""
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [] if value is None or isinstance(value, bool) else [value]


def describe(step: Step) -> str:
    """A short name for a step: ``POST /jobs``, ``sql``, ``metric x``."""
    if isinstance(step, Request):
        return step.name or f"{step.method} {step.path}"
    if isinstance(step, SqlStep):
        return "sql"
    return f"metric {step.metric}"
