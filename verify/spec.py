"""The runbook spec: one YAML file that says what "deployed correctly" means for one system."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from verify.yamlsource import SpecError, load_with_lines, locate

Provider = Literal["auto", "embedded", "local", "testcontainers", "dsn"]
Identifier = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z_][\w$]*(\.[A-Za-z_][\w$]*)?$")]


class Strict(BaseModel):
    """Unknown keys are errors; parsed specs never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EphemeralTarget(Strict):
    """A throwaway PostgreSQL the suite starts itself; the only kind destructive steps run on."""

    kind: Literal["ephemeral"]
    provider: Provider | None = None
    image: str | None = None
    dsn_env: str | None = None


class LiveTarget(Strict):
    """A running deployment (staging, prod); its gates only read."""

    kind: Literal["live"]
    dsn_env: str
    protected: bool = False
    statement_timeout_ms: Annotated[int, Field(gt=0)] = 5000


Target = Annotated[EphemeralTarget | LiveTarget, Field(discriminator="kind")]


class Ledger(Strict):
    """The table that records applied migrations, and which columns say what."""

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


class Column(Strict):
    """An expected column: its type and nullability, when the spec cares."""

    type: str | None = None
    not_null: bool | None = None


ColumnSpec = Annotated[Column, BeforeValidator(_column_shorthand)]


class Schema(Strict):
    """The schema objects the release adds; each is a gate, and each must be gone after rollback."""

    tables: list[Identifier] = []
    columns: dict[Identifier, dict[Identifier, ColumnSpec | None]] = {}
    views: list[Identifier] = []
    empty_views: list[Identifier] = []
    indexes: list[Identifier] = []
    triggers: list[Annotated[str, Field(pattern=r"^[\w$.]+\.[\w$]+$")]] = []
    functions: list[Identifier] = []
    extensions: list[Annotated[str, Field(pattern=r"^[\w-]+$")]] = []
    enums: dict[Identifier, list[str]] = {}


class Runbook(Strict):
    """A whole runbook spec."""

    system: str
    release: str
    runbook: str | None = None
    targets: dict[Annotated[str, Field(pattern=r"^[\w-]+$")], Target]
    migrations: Migrations | None = None
    expected: Schema = Field(Schema(), alias="schema")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


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
        raise SpecError(_first_error(path, exc, lines)) from None
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


def _check_paths(path: Path, migrations: Migrations, lines: dict) -> None:
    """The folders and the baseline file the spec names must exist."""
    problems = [
        ("dir", not migrations.dir.is_dir(), f"folder {migrations.dir} does not exist"),
        ("down_dir", migrations.down_dir is not None and not migrations.down_dir.is_dir(),
         f"folder {migrations.down_dir} does not exist"),
        ("baseline", migrations.baseline is not None
         and not (migrations.dir / migrations.baseline).is_file(),
         f"{migrations.baseline!r} is not a migration file in {migrations.dir}"),
    ]
    for key, failed, message in problems:
        if failed:
            line = lines.get(("migrations", key), 1)
            raise SpecError(f"{path}:{line}: migrations.{key}: {message}")


def _first_error(path: Path, exc: ValidationError, lines: dict) -> str:
    error = exc.errors()[0]
    loc = tuple(error["loc"])
    key_path, line = locate(loc, lines)
    if error["type"] == "extra_forbidden":
        key_path, message = key_path[:-1], f"unknown key {loc[-1]!r}"
    elif error["type"] == "missing":
        message = f"missing required key {loc[-1]!r}"
    elif error["type"] == "union_tag_invalid":
        key_path, line = locate((*loc, "kind"), lines)
        kind, tags = error["input"].get("kind"), error["ctx"]["expected_tags"]
        message = f"unknown kind {kind!r}; expected one of {tags}"
    else:
        message = error["msg"]
    dotted = ".".join(str(p) for p in key_path) or "(top level)"
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{path}:{line}: {dotted}: {message}{suffix}"
