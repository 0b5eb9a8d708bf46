"""Runbook spec sections for a running deployment: HTTP, metrics, Prometheus, env, logs, tools,
Grafana. Each item becomes one gate."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from deploy_gates.verify.compare import COMPARISON
from deploy_gates.verify.limits import (
    LOG_MAX_BYTES,
    MATCH_TIMEOUT_S,
    MAX_BYTES,
    METRICS_MAX_BYTES,
    TIMEOUT_S,
    FollowRedirects,
)
from deploy_gates.verify.readonly_sql import refusal

METHODS = ("get", "post", "put", "patch", "delete", "head")
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
SIZE = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB|GiB)?\s*$")
UNIT_BYTES = {None: 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


class Strict(BaseModel):
    """Unknown keys are errors; parsed specs never change."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


def _seconds(value: Any) -> float:
    """``"2m"``, ``"15s"``, ``"500ms"`` or a number of seconds -> seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration like 500ms, 15s, 2m or 1h")
    return float(match.group(1)) * UNIT_SECONDS[match.group(2)]


DURATION_INPUT = float | Annotated[str, Field(pattern=DURATION.pattern)]
"""What a duration may be written as: a number of seconds, or text like ``15s``."""
SIZE_INPUT = int | Annotated[str, Field(pattern=SIZE.pattern)]
"""What a size may be written as: a number of bytes, or text like ``10MiB``."""


def _duration(low: str, high: str) -> Any:
    """A duration type: a finite number of seconds (or ``"2m"``, ``"15s"``, ``"500ms"``) from
    ``low`` to ``high``; anything else, ``.inf`` and ``.nan`` included, is a spec error."""
    lowest, highest = _seconds(low), _seconds(high)

    def bounded(value: Any) -> float:
        seconds = _seconds(value)
        if not lowest <= seconds <= highest:
            raise ValueError(f"{value!r} is not a duration from {low} to {high}")
        return seconds

    return Annotated[float, BeforeValidator(bounded, json_schema_input_type=DURATION_INPUT)]


Seconds = _duration("0s", "24h")
"""A window: how long a gate may wait for its condition (0: check once)."""
Interval = _duration("100ms", "1h")
"""How long a poll loop sleeps between attempts: it never hammers a target."""
Timeout = _duration("1ms", "1h")
"""How long one call, command or start-up may take."""
MAX_TAIL_LINES = 1_000_000
"""The most log lines a logs gate reads."""


def _bytes(value: Any) -> Any:
    """``"10MiB"``, ``"512KiB"`` or a number of bytes -> bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = SIZE.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a size like 512KiB, 10MiB or 1048576 (bytes)")
    return int(match.group(1)) * UNIT_BYTES[match.group(2)]


Bytes = Annotated[
    int, BeforeValidator(_bytes, json_schema_input_type=SIZE_INPUT), Field(gt=0, le=1 << 30)
]
"""A size cap: bytes, or ``"512KiB"``, ``"10MiB"``; at most 1 GiB."""
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


def _method_keys(schema: dict[str, Any]) -> None:
    """In the spec the method is the key (``get: /health``): the JSON Schema says so."""
    fields = schema["properties"]
    del fields["method"], fields["path"]
    keys = {m: {"type": "string", "description": f"{m.upper()} this path"} for m in METHODS}
    schema["properties"] = {**keys, **fields}
    schema.pop("required", None)
    schema["oneOf"] = [{"required": [m]} for m in METHODS]


class Request(Strict):
    """One HTTP request and what its answer must be (a health gate, or a step of a flow).

    The method is the key: ``get: /health``. Values saved by earlier steps are used as
    ``{name}`` in the path, headers, query and JSON body. Saved values are secrets, masked in
    every output, except the ones ``public`` names.
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
    timeout: Timeout = TIMEOUT_S
    max_bytes: Bytes = MAX_BYTES
    follow_redirects: FollowRedirects = "same-origin"
    save: dict[str, str] = {}
    public: list[str] = []

    model_config = ConfigDict(json_schema_extra=_method_keys)

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

    @model_validator(mode="after")
    def _public_is_saved(self) -> Request:
        _check_public(self.public, self.save)
        return self


def _check_public(public: list[str], save: dict[str, str]) -> None:
    """Each name a step calls public must be one it saves."""
    unsaved = [name for name in public if name not in save]
    if unsaved:
        raise ValueError(
            f"public: {unsaved[0]!r} is not saved by this step "
            f"(save: {', '.join(save) or 'nothing'})"
        )


class SqlStep(Strict):
    """A query against the target's database, polled until its first row matches ``expect``;
    one read-only query (``verify.readonly_sql``). Of a system with several databases it queries
    ``database`` (a key under ``databases:``), else the first. ``save`` keeps columns of that
    row for later steps (``{project_id}``), secret unless ``public`` names them."""

    sql: str
    database: str | None = None
    expect: dict[str, Any] = {}
    within: Seconds = 0.0
    every: Interval = 1.0
    save: dict[str, str] = {}
    public: list[str] = []

    @model_validator(mode="after")
    def _public_is_saved(self) -> SqlStep:
        _check_public(self.public, self.save)
        return self

    @field_validator("sql")
    @classmethod
    def _read_only(cls, sql: str) -> str:
        problem = refusal(sql)
        if problem:
            raise ValueError(problem)
        return sql


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
    timeout: Timeout = TIMEOUT_S
    max_bytes: Bytes = METRICS_MAX_BYTES
    lint: bool = False
    present: dict[str, MetricSpec | None] = {}


class PromQuery(Strict):
    """A PromQL query and its threshold, polled until it holds or the window closes."""

    query: str
    expect: Annotated[str, Field(pattern=COMPARISON.pattern)]
    within: Seconds = 0.0
    every: Interval = 15.0
    timeout: Timeout = TIMEOUT_S
    max_bytes: Bytes = MAX_BYTES
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
    timeout: Timeout = 30.0

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
    tail_lines: Annotated[int, Field(gt=0, le=MAX_TAIL_LINES)] = 10000
    max_bytes: Bytes = LOG_MAX_BYTES
    timeout: Timeout = 30.0
    match_timeout: Timeout = MATCH_TIMEOUT_S
    absent: list[str] = []
    present: list[str] = []

    @field_validator("absent", "present")
    @classmethod
    def _regexes(cls, patterns: list[str]) -> list[str]:
        import regex

        for pattern in patterns:
            try:
                regex.compile(pattern)
            except regex.error as exc:
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

    The command runs in the spec's folder, with ``env`` added to the suite's environment.
    ``{dsn}`` (of a system with several databases the first, ``{dsn.<key>}`` each), ``{port}``,
    ``{log_file}``, ``{python}`` (the interpreter running the suite) and ``{token}`` (a random
    token made for this run, masked in every output) in the command and env are filled in by
    the suite. Flows read ``auth_env`` from the environment the service was started with.
    """

    command: list[str]
    env: dict[str, str] = {}
    ready: str = "/health"
    timeout: Timeout = 30.0
