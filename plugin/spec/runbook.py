"""The runbook spec: one YAML file that says what "deployed correctly" means for one system."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, ValidationError

from deploy_gates.spec.credentials import check_spec_literals
from deploy_gates.spec.rehearsal import RehearsalSpec
from deploy_gates.spec.schema import (
    ConstraintSpec,
    GrantSpec,
    Identifier,
    IndexSpec,
    PolicySpec,
    names_to_mapping,
)
from deploy_gates.spec.sections import (
    EnvManifest,
    EnvName,
    Flow,
    Grafana,
    Logs,
    Metrics,
    PromQuery,
    Request,
    ServiceStart,
    Strict,
)
from deploy_gates.spec.yamlsource import SpecError, load_with_lines, validation_message

Provider = Literal["auto", "embedded", "local", "testcontainers", "dsn"]


class EphemeralTarget(Strict):
    """A throwaway PostgreSQL the suite starts itself; the only kind destructive steps run on."""

    kind: Literal["ephemeral"]
    provider: Provider | None = None
    image: str | None = None
    dsn_env: str | None = None
    start: ServiceStart | None = None
    version_from: str | None = None


MAX_STATEMENT_TIMEOUT_MS = 3_600_000
"""The longest statement timeout of a live target's sessions (1 h)."""
TOKEN_ENV_KEYS = ("grafana_token_env", "prometheus_token_env")
"""Keys of a live target that name the environment variable of a token."""


class LiveTarget(Strict):
    """A running deployment (staging, prod); its gates only read."""

    kind: Literal["live"]
    dsn_env: str
    protected: bool = False
    statement_timeout_ms: Annotated[int, Field(gt=0, le=MAX_STATEMENT_TIMEOUT_MS)] = 5000
    lock_timeout_ms: Annotated[int, Field(gt=0, le=10_000)] = 1000
    base_url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    prometheus_url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    prometheus_token_env: EnvName | None = None
    grafana_url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    grafana_token_env: EnvName | None = None
    host: str | None = None


Target = Annotated[EphemeralTarget | LiveTarget, Field(discriminator="kind")]


class Ledger(Strict):
    """The table that records applied migrations (``name`` in the default schema, or
    ``schema.name``), and which columns say what."""

    table: Identifier = "schema_migrations"
    version_column: Identifier = "version"
    success_column: Identifier | None = "success"


class Migrations(Strict):
    """Where the release's migrations and their down scripts are."""

    dir: Path
    down_dir: Path | None = None
    baseline: str | None = None
    ledger: Ledger = Ledger()


def _column_shorthand(value: Any) -> Any:
    return {"type": value} if isinstance(value, str) else value


def _sql_text(value: Any) -> Any:
    """A YAML scalar as the SQL it stands for: ``0`` -> ``"0"``, ``false`` -> ``"false"``."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if isinstance(value, int | float) else value


class Column(Strict):
    """An expected column: its type, nullability and default, when the spec cares."""

    type: str | None = None
    not_null: bool | None = None
    default: Annotated[str, BeforeValidator(_sql_text)] | None = None


ColumnSpec = Annotated[
    Column, BeforeValidator(_column_shorthand, json_schema_input_type=str | Column)
]


IndexMap = Annotated[
    dict[Identifier, IndexSpec | None],
    BeforeValidator(
        names_to_mapping,
        json_schema_input_type=list[Identifier] | dict[Identifier, IndexSpec | None],
    ),
]
PolicyMap = Annotated[
    dict[Identifier, PolicySpec | None],
    BeforeValidator(
        names_to_mapping,
        json_schema_input_type=list[Identifier] | dict[Identifier, PolicySpec | None],
    ),
]


class Schema(Strict):
    """The schema objects the release adds; each is a gate, and each must be gone after rollback."""

    tables: list[Identifier] = []
    columns: dict[Identifier, dict[Identifier, ColumnSpec | None]] = {}
    views: list[Identifier] = []
    empty_views: list[Identifier] = []
    materialized_views: list[Identifier] = []
    indexes: IndexMap = {}
    triggers: list[Annotated[str, Field(pattern=r"^[\w$.]+\.[\w$]+$")]] = []
    functions: list[Identifier] = []
    extensions: list[Annotated[str, Field(pattern=r"^[\w-]+$")]] = []
    enums: dict[Identifier, list[str]] = {}
    sequences: list[Identifier] = []
    constraints: dict[Identifier, dict[Identifier, ConstraintSpec | None]] = {}
    grants: list[GrantSpec] = []
    policies: dict[Identifier, PolicyMap] = {}
    row_level_security: list[Identifier] = []


class RunbookSource(Strict):
    """The runbook document the gates automate, and its steps (id -> title)."""

    title: str
    steps: dict[str, str] = {}
    manual: dict[str, Annotated[str, Field(min_length=1)]] = {}


Severity = Literal["blocker", "advisory"]


class GateRule(Strict):
    """Attributes of the gates whose test name matches ``match`` (a glob on the test name)."""

    match: str
    severity: Severity | None = None
    step: str | None = None


class Ticket(Strict):
    """Where run evidence is attached: a Jira server, with credentials from the environment."""

    url: Annotated[str, Field(pattern=r"^https?://")]
    token_env: str
    user_env: str | None = None


ToolRequirement = Annotated[str, Field(pattern=r"^(>=|==|>)?\s*\d+(\.\d+)*$")]


class Runbook(Strict):
    """A whole runbook spec."""

    system: str
    release: str
    runbook: RunbookSource | None = None
    targets: dict[Annotated[str, Field(pattern=r"^[\w-]+$")], Target]
    migrations: Migrations | None = None
    expected: Schema = Field(Schema(), alias="schema")
    secrets: list[str] = []
    gates: list[GateRule] = []
    ticket: Ticket | None = None
    health: list[Request] = []
    smoke: dict[str, Flow] = {}
    metrics: Metrics | None = None
    prometheus: dict[str, PromQuery] = {}
    env: EnvManifest | None = None
    logs: Logs | None = None
    tools: dict[str, ToolRequirement] = {}
    tools_on: dict[str, dict[str, ToolRequirement]] = {}
    grafana: Grafana | None = None
    custom_gates: list[Path] = []
    rehearsal: RehearsalSpec = RehearsalSpec()

    def secret_env_names(self) -> set[str]:
        """Environment variables whose values must never reach an output."""
        names = set(self.secrets)
        for target in self.targets.values():
            tokens = (getattr(target, key, None) for key in TOKEN_ENV_KEYS)
            names.update(n for n in (target.dsn_env, *tokens) if n)
        if self.ticket:
            names.add(self.ticket.token_env)  # user_env names an account, not a credential
        requests = [
            *self.health,
            *(s for f in self.smoke.values() for s in [*f.steps, *f.finally_]),
        ]
        names.update(r.auth_env for r in requests if getattr(r, "auth_env", None))
        return names

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


def load_runbook(path: Path) -> Runbook:
    """Load and validate a runbook spec; relative paths in it are resolved against its folder."""
    data, lines = load_with_lines(path)
    if not isinstance(data, dict):
        raise SpecError(
            f"{path}:1: a runbook spec is a mapping of keys (system, release, targets, ...)"
        )
    try:
        spec = Runbook.model_validate(data)
    except ValidationError as exc:
        raise SpecError(validation_message(path, exc, lines)) from None
    _check_steps(path, spec, lines)
    _check_version_from(path, spec, lines)
    _check_env_targets(path, spec, lines)
    check_spec_literals(path, spec, lines)
    if spec.custom_gates:
        spec = spec.model_copy(update={"custom_gates": _custom_gates(path, spec, lines)})
    if spec.grafana is not None:
        spec = spec.model_copy(
            update={
                "grafana": spec.grafana.model_copy(
                    update={
                        "dashboards": [path.parent / p for p in spec.grafana.dashboards],
                        "alert_rules": [path.parent / p for p in spec.grafana.alert_rules],
                    }
                )
            }
        )
    spec = _resolve_seeds(path, spec, lines)
    if spec.migrations is None:
        return spec
    base = path.parent
    migrations = spec.migrations.model_copy(
        update={
            "dir": base / spec.migrations.dir,
            "down_dir": base / spec.migrations.down_dir if spec.migrations.down_dir else None,
        }
    )
    _check_paths(path, migrations, lines)
    return spec.model_copy(update={"migrations": migrations})


def _custom_gates(path: Path, spec: Runbook, lines: dict) -> list[Path]:
    """The spec's custom gate files and folders, relative to its folder; each must exist."""
    found = [path.parent / gates for gates in spec.custom_gates]
    for index, gates in enumerate(found):
        if not gates.exists():
            line = lines.get(("custom_gates", index), 1)
            raise SpecError(f"{path}:{line}: custom_gates.{index}: {gates} does not exist")
    return found


def _resolve_seeds(path: Path, spec: Runbook, lines: dict) -> Runbook:
    """Seed files of ``rehearsal.data`` are relative to the spec and must exist."""
    data = spec.rehearsal.data
    seeds = [path.parent / seed for seed in data.seed]
    for index, seed in enumerate(seeds):
        if not seed.is_file():
            line = lines.get(("rehearsal", "data", "seed", index), 1)
            raise SpecError(
                f"{path}:{line}: rehearsal.data.seed.{index}: file {seed} does not exist"
            )
    rehearsal = spec.rehearsal.model_copy(update={"data": data.model_copy(update={"seed": seeds})})
    return spec.model_copy(update={"rehearsal": rehearsal})


def _check_version_from(path: Path, spec: Runbook, lines: dict) -> None:
    """``version_from`` must name a live target: the server version is read from it."""
    live = [name for name, t in spec.targets.items() if isinstance(t, LiveTarget)]
    for name, target in spec.targets.items():
        source = getattr(target, "version_from", None)
        if source is not None and source not in live:
            line = lines.get(("targets", name, "version_from"), 1)
            raise SpecError(
                f"{path}:{line}: targets.{name}.version_from: {source!r} is not a "
                f"live target (live targets: {', '.join(live) or 'none'})"
            )


def _check_env_targets(path: Path, spec: Runbook, lines: dict) -> None:
    """``env.required_on``, ``env.forbidden_on``, ``env.source_on`` and ``tools_on`` may only
    name targets of the spec."""
    keyed = [(("env", key), getattr(spec.env, key) if spec.env else {})
             for key in ("required_on", "forbidden_on", "source_on")]
    for keys, per_target in [*keyed, (("tools_on",), spec.tools_on)]:
        for name in per_target:
            if name not in spec.targets:
                line = lines.get((*keys, name), 1)
                raise SpecError(
                    f"{path}:{line}: {'.'.join(keys)}.{name}: unknown target {name!r} "
                    f"(targets: {', '.join(spec.targets)})"
                )


def _check_steps(path: Path, spec: Runbook, lines: dict) -> None:
    """A gate rule, and a manual step, may only name a step the runbook lists."""
    steps = spec.runbook.steps if spec.runbook else {}
    for step in spec.runbook.manual if spec.runbook else {}:
        if step not in steps:
            line = lines.get(("runbook", "manual", step), 1)
            raise SpecError(
                f"{path}:{line}: runbook.manual.{step}: unknown runbook step {step!r} "
                f"(known: {', '.join(steps) or 'none: add runbook.steps'})"
            )
    for index, rule in enumerate(spec.gates):
        if rule.step is not None and rule.step not in steps:
            line = lines.get(("gates", index, "step"), 1)
            known = ", ".join(steps) or "none: add runbook.steps"
            raise SpecError(
                f"{path}:{line}: gates.{index}.step: unknown runbook step "
                f"{rule.step!r} (known: {known})"
            )


def _check_paths(path: Path, migrations: Migrations, lines: dict) -> None:
    """The folders and the baseline file the spec names must exist."""
    problems = [
        ("dir", not migrations.dir.is_dir(), f"folder {migrations.dir} does not exist"),
        (
            "down_dir",
            migrations.down_dir is not None and not migrations.down_dir.is_dir(),
            f"folder {migrations.down_dir} does not exist",
        ),
        (
            "baseline",
            migrations.baseline is not None
            and not (migrations.dir / migrations.baseline).is_file(),
            f"{migrations.baseline!r} is not a migration file in {migrations.dir}",
        ),
    ]
    for key, failed, message in problems:
        if failed:
            line = lines.get(("migrations", key), 1)
            raise SpecError(f"{path}:{line}: migrations.{key}: {message}")
