"""The runbook spec: one YAML file that says what "deployed correctly" means for one system."""

from __future__ import annotations

from pathlib import Path
from string import Formatter
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
    SqlStep,
    Strict,
)
from deploy_gates.spec.yamlsource import (
    SpecError,
    load_with_lines,
    require_regular,
    validation_message,
)

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


DatabaseKey = Annotated[str, Field(pattern=r"^[A-Za-z_][\w-]*$")]


class LiveDatabase(Strict):
    """One database of a live target of a system with several."""

    dsn_env: EnvName


class LiveTarget(Strict):
    """A running deployment (staging, prod); its gates only read. A system with several
    databases names each one's DSN variable under ``databases``."""

    kind: Literal["live"]
    dsn_env: str | None = None
    databases: dict[DatabaseKey, LiveDatabase] = {}
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


LedgerFormat = Literal[
    "deploy-gates", "plain", "golang-migrate", "dbmate", "flyway", "sqitch", "liquibase"
]
Layout = Literal["numbered", "golang-migrate", "dbmate", "flyway", "sqitch", "liquibase-sql"]


class Ledger(Strict):
    """The table that records applied migrations (``name`` in the default schema, or
    ``schema.name``), in the shape of the tool that keeps it (``format``: the layout's own when
    left out); deploy-gates' own and ``plain`` ledgers say which columns hold what."""

    format: LedgerFormat | None = None
    table: Identifier | None = None
    version_column: Identifier = "version"
    success_column: Identifier | None = "success"


class Migrations(Strict):
    """Where the release's migrations (and, for the numbered layout, their down scripts) are,
    how they are laid out and how they run."""

    dir: Path
    layout: Layout | None = None
    down_dir: Path | None = None
    baseline: str | None = None
    allow_duplicate_versions: bool = False
    executor: Literal["builtin", "psql"] = "builtin"
    single_transaction: bool = True
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


class Database(Strict):
    """One database of a system with several: its migrations and the schema its release adds.
    ``name`` is what ``\\c`` in a psql script calls it (default: the key); ``links`` are the other
    databases it reaches with dblink, each as a dblink_fdw foreign server named by its key
    (created by the rehearsal, by operations in production)."""

    name: Annotated[str, Field(min_length=1)] | None = None
    migrations: Migrations | None = None
    expected: Schema = Field(Schema(), alias="schema")
    links: list[DatabaseKey] = []


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
    databases: dict[DatabaseKey, Database] = {}
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
            names.update(d.dsn_env for d in getattr(target, "databases", {}).values())
        if self.ticket:
            names.add(self.ticket.token_env)  # user_env names an account, not a credential
        requests = [
            *self.health,
            *(s for f in self.smoke.values() for s in [*f.steps, *f.finally_]),
        ]
        names.update(r.auth_env for r in requests if getattr(r, "auth_env", None))
        return names

    def per_database(self) -> list[tuple[str, Runbook]]:
        """Each database of the system with the spec as it applies to it (its migrations and
        schema, each live target's DSN variable for it), in the spec's order; a spec without
        ``databases`` is one database, ``""``."""
        if not self.databases:
            return [("", self)]
        views = []
        for key, db in self.databases.items():
            targets = {
                name: t.model_copy(update={"dsn_env": t.databases[key].dsn_env})
                if isinstance(t, LiveTarget) else t
                for name, t in self.targets.items()
            }
            views.append((key, self.model_copy(update={
                "migrations": db.migrations, "expected": db.expected, "targets": targets,
            })))
        return views

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
    _check_start_placeholders(path, spec, lines)
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
    _check_databases(path, spec, lines)
    if spec.databases:
        databases = {
            key: db.model_copy(update={"migrations": _resolved(
                path, db.migrations, lines, ("databases", key, "migrations"))})
            for key, db in spec.databases.items()
        }
        return spec.model_copy(update={"databases": databases})
    if spec.migrations is None:
        return spec
    return spec.model_copy(
        update={"migrations": _resolved(path, spec.migrations, lines, ("migrations",))}
    )


def _resolved(
    path: Path, migrations: Migrations | None, lines: dict, where: tuple
) -> Migrations | None:
    """``migrations`` with its folders relative to the spec's, checked."""
    if migrations is None:
        return None
    base = path.parent
    migrations = migrations.model_copy(
        update={
            "dir": base / migrations.dir,
            "down_dir": base / migrations.down_dir if migrations.down_dir else None,
        }
    )
    _check_paths(path, migrations, lines, where)
    return migrations


def _check_databases(path: Path, spec: Runbook, lines: dict) -> None:
    """A spec names its databases, or has one (top-level migrations and schema, each live
    target's dsn_env); every live target names every database's DSN variable, and links and
    smoke SQL steps name databases of the spec."""
    keys = list(spec.databases)

    def fail(where: tuple, message: str) -> None:
        line = lines.get(where, lines.get(where[:1], 1))
        raise SpecError(f"{path}:{line}: {'.'.join(map(str, where))}: {message}")

    if keys:
        for key in ("migrations", "schema"):
            if key in spec.model_fields_set or (key == "schema" and "expected" in
                                                spec.model_fields_set):
                fail((key,), f"a spec with databases puts {key} under each database")
        for key, db in spec.databases.items():
            for link in db.links:
                if link not in keys or link == key:
                    fail(("databases", key, "links"), f"{link!r} is not another database of "
                         f"the spec ({', '.join(keys)})")
    for name, target in spec.targets.items():
        if not isinstance(target, LiveTarget):
            continue
        if keys:
            missing = [k for k in keys if k not in target.databases]
            unknown = [k for k in target.databases if k not in keys]
            if missing or unknown:
                fail(("targets", name, "databases"),
                     f"expected a dsn_env for each database ({', '.join(keys)}); "
                     + (f"missing: {', '.join(missing)}" if missing
                        else f"unknown: {', '.join(unknown)}"))
        elif target.dsn_env is None:
            fail(("targets", name), "missing required key 'dsn_env'")
        elif target.databases:
            fail(("targets", name, "databases"), "the spec names no databases")
    for flow_name, flow in spec.smoke.items():
        for part, steps in (("steps", flow.steps), ("finally", flow.finally_)):
            for index, step in enumerate(steps):
                if isinstance(step, SqlStep) and step.database not in (None, *keys):
                    known = f" ({', '.join(keys)})" if keys else ": it names no databases"
                    fail(("smoke", flow_name, part, index, "database"),
                         f"{step.database!r} is not a database of the spec{known}")


def _custom_gates(path: Path, spec: Runbook, lines: dict) -> list[Path]:
    """The spec's custom gate files and folders, relative to its folder; each must exist."""
    found = [path.parent / gates for gates in spec.custom_gates]
    for index, gates in enumerate(found):
        if not gates.exists():
            line = lines.get(("custom_gates", index), 1)
            raise SpecError(f"{path}:{line}: custom_gates.{index}: {gates} does not exist")
    return found


def _resolve_seeds(path: Path, spec: Runbook, lines: dict) -> Runbook:
    """Seed files of ``rehearsal.data`` are relative to the spec and must be regular files
    (psql and pg_restore read them, and would block on a FIFO)."""
    data = spec.rehearsal.data
    seeds = [path.parent / seed for seed in data.seed]
    for index, seed in enumerate(seeds):
        line = lines.get(("rehearsal", "data", "seed", index), 1)
        where = f"{path}:{line}: rehearsal.data.seed.{index}"
        if not seed.exists():
            raise SpecError(f"{where}: file {seed} does not exist")
        try:
            require_regular(seed, "seed file")
        except SpecError as exc:
            raise SpecError(f"{where}: {exc}") from None
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


def _check_start_placeholders(path: Path, spec: Runbook, lines: dict) -> None:
    """A start command and its env may only name the placeholders the suite fills in:
    ``{dsn}`` (of a system with several databases also ``{dsn.<key>}``), ``{port}``,
    ``{log_file}``, ``{python}`` and ``{token}``."""
    known = ["dsn", *(f"dsn.{key}" for key in spec.databases), "port", "log_file", "python",
             "token"]
    for name, target in spec.targets.items():
        start = getattr(target, "start", None)
        if start is None:
            continue
        values = [(("command", i), v) for i, v in enumerate(start.command)]
        values += [(("env", k), v) for k, v in start.env.items()]
        for at, value in values:
            where = ("targets", name, "start", *at)
            try:
                fields = [f for _, f, _, _ in Formatter().parse(value) if f is not None]
                problem = next((f"unknown placeholder {{{f}}} (known: "
                                f"{', '.join(f'{{{k}}}' for k in known)})"
                                for f in fields if f not in known), None)
            except ValueError as exc:
                problem = f"not a placeholder: {exc} (write {{{{ for a literal {{)"
            if problem:
                line = lines.get(where, lines.get(where[:-1], 1))
                raise SpecError(f"{path}:{line}: {'.'.join(map(str, where))}: {problem}")


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


def _check_paths(path: Path, migrations: Migrations, lines: dict, where: tuple) -> None:
    """The folders the spec names must exist, the baseline must be one of the migrations, and
    the settings must fit the layout (detected when left out)."""
    from deploy_gates.migrate.layouts import scan
    from deploy_gates.migrate.ledger import format_of
    from deploy_gates.migrate.migration import find

    def fail(key: str, message: str) -> None:
        line = lines.get((*where, *key.split(".")), lines.get(where, 1))
        raise SpecError(f"{path}:{line}: {'.'.join(where)}.{key}: {message}")

    if not migrations.dir.is_dir():
        fail("dir", f"folder {migrations.dir} does not exist")
    if migrations.down_dir is not None and not migrations.down_dir.is_dir():
        fail("down_dir", f"folder {migrations.down_dir} does not exist")
    found = scan(migrations.dir, migrations.layout,
                 allow_duplicate_versions=migrations.allow_duplicate_versions)
    if migrations.down_dir is not None and found.layout != "numbered":
        fail("down_dir", f"the {found.layout} layout keeps its down scripts itself; "
                         "down_dir is for the numbered layout")
    kind = format_of(migrations.ledger, found.layout)
    columns = migrations.ledger.model_fields_set & {"version_column", "success_column"}
    if columns and kind not in ("deploy-gates", "plain"):
        fail(f"ledger.{sorted(columns)[0]}", f"the {kind} ledger has fixed columns")
    if migrations.baseline is not None and find(found.migrations, migrations.baseline) is None:
        fail("baseline", f"{migrations.baseline!r} is not a migration in {migrations.dir} "
                         f"({found.layout} layout)")
