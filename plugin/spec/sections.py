"""Runbook spec sections for a running deployment: HTTP, metrics, Prometheus, env, logs, tools,
Grafana. Each item becomes one gate."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from deploy_gates.verify.compare import COMPARISON
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

METHODS = ("get", "post", "put", "patch", "delete", "head")
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class Strict(BaseModel):
    """Unknown keys are errors; parsed specs never change."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _seconds(value: Any) -> Any:
    """``"2m"``, ``"15s"``, ``"500ms"`` or a number of seconds -> seconds."""
    if isinstance(value, int | float):
        return float(value)
    match = DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration like 500ms, 15s, 2m or 1h")
    return float(match.group(1)) * UNIT_SECONDS[match.group(2)]


Seconds = Annotated[float, BeforeValidator(_seconds), Field(ge=0)]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class Request(Strict):
    """One HTTP request and what its answer must be (a health gate, or a step of a flow).

    The method is the key: ``get: /health``. Values saved by earlier steps are used as
    ``{name}`` in the path, headers, query and JSON body.
    """

    method: str
    path: str
    name: str | None = None
    headers: dict[str, str] = {}
    query: dict[str, str] = {}
    json_body: Any = Field(None, alias="json")
    auth_env: EnvName | None = None
    status: int | list[int] = 200
    body: dict[str, Any] = {}
    expect_headers: dict[str, str] = {}
    within: Seconds | None = None
    timeout: Annotated[float, BeforeValidator(_seconds), Field(gt=0)] = 30.0
    save: dict[str, str] = {}

    @model_validator(mode="before")
    @classmethod
    def _method_key(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        given = [m for m in METHODS if m in data]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(METHODS)} with the path")
        data = dict(data)
        data["method"], data["path"] = given[0].upper(), data.pop(given[0])
        return data


class SqlStep(Strict):
    """A query against the target's database, polled until its first row matches ``expect``."""

    sql: str
    expect: dict[str, Any] = {}
    within: Seconds = 0.0
    every: Seconds = 1.0


class MetricStep(Strict):
    """A metric that must have risen since the flow began (``expect: increased``)."""

    metric: str
    expect: Literal["increased"] = "increased"
    labels: dict[str, str] = {}
    within: Seconds = 5.0


def _step(value: Any) -> Any:
    if isinstance(value, dict) and "sql" in value:
        return SqlStep.model_validate(value)
    if isinstance(value, dict) and "metric" in value:
        return MetricStep.model_validate(value)
    return Request.model_validate(value)


Step = Annotated[Request | SqlStep | MetricStep, BeforeValidator(_step)]


class Flow(Strict):
    """A smoke flow: steps in order, values saved along the way, and cleanup that always runs."""

    steps: list[Step]
    finally_: list[Step] = Field([], alias="finally")
    destructive: bool = True


class MetricSpec(Strict):
    """A metric the exposition must carry."""

    type: (
        Literal[
            "counter",
            "gauge",
            "histogram",
            "summary",
            "untyped",
            "info",
            "stateset",
            "gaugehistogram",
        ]
        | None
    ) = None
    min: float | None = None
    max: float | None = None
    labels: list[str] = []


class Metrics(Strict):
    """The target's Prometheus exposition, scraped once per run."""

    path: str = "/metrics"
    lint: bool = False
    present: dict[str, MetricSpec | None] = {}


class PromQuery(Strict):
    """A PromQL query and its threshold, polled until it holds or the window closes."""

    query: str
    expect: Annotated[str, Field(pattern=COMPARISON.pattern)]
    within: Seconds = 0.0
    every: Seconds = 15.0
    no_data: Literal["fail", "inconclusive"] = "fail"


def _source_shorthand(value: Any) -> Any:
    return {value: True} if value in ("runner", "host") else value


class EnvSource(Strict):
    """Where a target's environment is read: the runner (the default), the target's host (a
    shell's environment, or a process's ``/proc/<pid>/environ`` found by name or pidfile), a
    command printing ``NAME=value`` lines, or a command printing a Kubernetes secret as JSON."""

    runner: bool = False
    host: bool = False
    process: Annotated[str, Field(min_length=1)] | None = None
    pidfile: Annotated[str, Field(min_length=1)] | None = None
    command: Annotated[list[str], Field(min_length=1)] | None = None
    secret: Annotated[list[str], Field(min_length=1)] | None = None
    timeout: Annotated[float, BeforeValidator(_seconds), Field(gt=0)] = 30.0

    @model_validator(mode="after")
    def _one_source(self) -> EnvSource:
        given = [key for key in ENV_SOURCES if getattr(self, key) not in (None, False)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(ENV_SOURCES)}")
        return self


ENV_SOURCES = ("runner", "host", "process", "pidfile", "command", "secret")


class EnvManifest(Strict):
    """Environment variables the deployment needs (values are never shown), read where
    ``source_on`` says for each target: the runner's own environment unless it names another."""

    required: list[EnvName] = []
    required_on: dict[str, list[EnvName]] = {}
    forbidden_on: dict[str, dict[EnvName, str]] = {}
    source_on: dict[str, Annotated[EnvSource, BeforeValidator(_source_shorthand)]] = {}


class Logs(Strict):
    """Where the logs come from (a command or a file), how far back, and what they must show."""

    command: list[str] | None = None
    file: str | None = None
    tail_lines: Annotated[int, Field(gt=0)] = 10000
    timeout: Seconds = 30.0
    absent: list[str] = []
    present: list[str] = []

    @field_validator("absent", "present")
    @classmethod
    def _regexes(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
        return patterns

    @model_validator(mode="after")
    def _one_source(self) -> Logs:
        if (self.command is None) == (self.file is None):
            raise ValueError("give exactly one of command or file")
        return self


class Grafana(Strict):
    """Dashboard and alert-rule JSON files, and the datasource their queries must use."""

    dashboards: list[Path] = []
    alert_rules: list[Path] = []
    datasource: str | None = None


class ServiceStart(Strict):
    """How an ephemeral target boots the service under test against its throwaway database.

    ``{dsn}``, ``{port}`` and ``{log_file}`` in the command and env are filled in by the suite.
    """

    command: list[str]
    env: dict[str, str] = {}
    ready: str = "/health"
    timeout: Seconds = 30.0
