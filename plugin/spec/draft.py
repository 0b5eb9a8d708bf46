"""A starting runbook spec for an existing project: its migrations folder found, and the schema
section written from what the release really created (the catalog after the release, less the
catalog of the baseline)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from deploy_gates.migrate import MigrationError
from deploy_gates.verify.catalog import Catalog, ColumnInfo, qualified

MIGRATION_NAME = re.compile(r"^\d+_.+\.sql$")
COMMON_FOLDERS = (
    "migrations", "db/migrations", "database/migrations", "sql/migrations", "sql",
    "migrations/sql", "db/sql", "schema/migrations", "src/migrations",
)
"""Where projects keep their migrations, searched in this order."""
DOWN_FOLDERS = ("down", "rollback", "migrations_down", "down_migrations")
"""Folder names of down scripts, searched beside the migrations folder and inside it."""
SEARCH_DEPTH = 3
SKIPPED = {"node_modules", "venv", "site-packages", "__pycache__", "build", "dist"}
PLAIN = re.compile(r"^[A-Za-z_][\w.$-]*$")
LINE_WIDTH = 100


def holds_migrations(folder: Path) -> bool:
    """Whether ``folder`` holds ``NNNN_name.sql`` files."""
    return folder.is_dir() and any(MIGRATION_NAME.match(p.name) for p in folder.iterdir())


def find_migrations(root: Path) -> Path:
    """The project's migrations folder: a common name first, else the one folder (at most
    ``SEARCH_DEPTH`` levels down) that holds ``NNNN_name.sql`` files."""
    for name in COMMON_FOLDERS:
        if holds_migrations(root / name):
            return root / name
    found = sorted(_search(root, SEARCH_DEPTH))
    if len(found) == 1:
        return found[0]
    if not found:
        raise MigrationError(
            f"no migrations folder under {root} (looked for NNNN_name.sql files in "
            f"{', '.join(COMMON_FOLDERS)} and {SEARCH_DEPTH} levels down); pass --migrations DIR"
        )
    names = ", ".join(str(p.relative_to(root)) for p in found)
    raise MigrationError(f"several folders hold migrations ({names}); pass --migrations DIR")


def _search(folder: Path, depth: int) -> list[Path]:
    if depth == 0:
        return []
    found = []
    for child in folder.iterdir():
        if child.is_dir() and not child.name.startswith(".") and child.name not in SKIPPED:
            found += [child] if holds_migrations(child) else _search(child, depth - 1)
    return found


def find_down_dir(migrations: Path) -> Path | None:
    """The folder of down scripts beside or inside the migrations folder, if there is one."""
    for base in (migrations.parent, migrations):
        for name in DOWN_FOLDERS:
            if (base / name).is_dir() and (base / name) != migrations:
                return base / name
    return None


@dataclass
class Created:
    """The schema objects a release created, as the spec's schema section names them."""

    tables: list[str] = field(default_factory=list)
    columns: dict[str, dict[str, ColumnInfo]] = field(default_factory=dict)
    views: list[str] = field(default_factory=list)
    indexes: list[str] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    extensions: list[str] = field(default_factory=list)
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def count(self) -> int:
        """How many gates the section makes."""
        lists = (self.tables, self.views, self.indexes, self.triggers, self.functions)
        return (
            sum(map(len, lists)) + sum(map(len, self.columns.values()))
            + len(self.extensions) + len(self.enums)
        )


def created(before: Catalog, after: Catalog, ledger_table: str) -> Created:
    """What is in ``after`` and not in ``before``: the tables, columns (all of a new table's),
    views, indexes (not those behind a constraint), triggers, functions, extensions and enums
    the release created. The ledger table is bookkeeping and left out."""
    ledger = qualified(ledger_table)

    def new(now: dict, then: dict) -> list[str]:
        return sorted(
            k for k in now if k not in then and k != ledger and not k.startswith(ledger + ".")
        )

    out = Created()
    out.tables = [_short(k) for k in new(after.relations, before.relations)
                  if after.relations[k] == "table"]
    out.views = [_short(k) for k in new(after.view_definitions, before.view_definitions)]
    for key in new(after.columns, before.columns):
        relation, column = key.rsplit(".", 1)
        if after.relations.get(relation) == "table":
            out.columns.setdefault(_short(relation), {})[column] = after.columns[key]
    out.indexes = [
        _short(k) for k in new(after.indexes, before.indexes)
        if after.indexes[k][0] != ledger
        and f"{after.indexes[k][0]}.{k.rsplit('.', 1)[1]}" not in after.constraints
    ]
    out.triggers = [_short(k) for k in new(after.triggers, before.triggers)]
    out.functions = list(dict.fromkeys(
        _short(k.split("(")[0]) for k in new(after.functions, before.functions)
    ))
    out.extensions = new(after.extensions, before.extensions)
    out.enums = {_short(k): after.enums[k] for k in new(after.enums, before.enums)}
    return out


def _short(name: str) -> str:
    """A name as the spec writes it: without ``public.``."""
    return name.removeprefix("public.")


@dataclass(frozen=True)
class Draft:
    """What a drafted spec says, besides its schema section."""

    system: str
    release: str
    migrations: Path | None
    down_dir: Path | None
    baseline: str | None
    provider: str
    live_env: str | None
    source: str


def render(draft: Draft, objects: Created, spec_dir: Path) -> str:
    """The spec's YAML, with comments that say where each part came from."""
    lines = [
        f"# Runbook spec drafted by `deploy-gates init` from {draft.source}.",
        "# Check it with `deploy-gates lint`, rehearse it with",
        "# `pytest --runbook <this file> --target=rehearsal`. Editor completion:",
        "# `deploy-gates schema > runbook.schema.json`, then make the first line",
        "# `# yaml-language-server: $schema=runbook.schema.json`.",
        f"system: {_scalar(draft.system)}",
        f"release: {json.dumps(draft.release)}",
        "",
        "targets:",
        "  rehearsal:",
        "    kind: ephemeral              # a throwaway PostgreSQL the suite starts itself",
        f"    provider: {draft.provider}",
    ]
    if draft.live_env:
        lines += ["  live:", "    kind: live", f"    dsn_env: {draft.live_env}"]
    else:
        lines += ["  # staging: {kind: live, dsn_env: STAGING_DATABASE_URL}"]
    if draft.migrations is not None:
        lines += ["", "migrations:", f"  dir: {_scalar(relative(draft.migrations, spec_dir))}"]
        if draft.down_dir is not None:
            lines.append(f"  down_dir: {_scalar(relative(draft.down_dir, spec_dir))}")
        else:
            lines.append("  # down_dir: down             # one down script per release migration")
        if draft.baseline is not None:
            lines.append(f"  baseline: {_scalar(draft.baseline)}   # deployed before this release")
    lines += ["", "schema:                    # what the release creates; each item is a gate"]
    lines += _schema_lines(objects)
    return "\n".join(lines) + "\n"


def _schema_lines(objects: Created) -> list[str]:
    lines = []
    for key in ("tables", "views", "indexes", "triggers", "functions", "extensions"):
        names = [_scalar(n) for n in getattr(objects, key)]
        flow = f"  {key}: [{', '.join(names)}]"
        if not names:
            continue
        if len(flow) <= LINE_WIDTH:
            lines.append(flow)
        else:
            lines += [f"  {key}:", *(f"    - {n}" for n in names)]
    if objects.columns:
        lines.append("  columns:")
        for table, columns in objects.columns.items():
            lines.append(f"    {_scalar(table)}:")
            lines += [
                f"      {_scalar(name)}: {{type: {_scalar(c.type)}, "
                f"not_null: {str(c.not_null).lower()}}}"
                for name, c in columns.items()
            ]
    if objects.enums:
        lines.append("  enums:")
        lines += [
            f"    {_scalar(name)}: [{', '.join(_scalar(label) for label in labels)}]"
            for name, labels in objects.enums.items()
        ]
    return lines or ["  {}"]


def _scalar(text: str) -> str:
    """``text`` as a YAML scalar: bare when plain, else quoted (JSON strings are YAML)."""
    plain = PLAIN.match(text) and text.lower() not in ("true", "false", "null", "yes", "no", "on")
    return text if plain else json.dumps(text)


def relative(path: Path, base: Path) -> str:
    """``path`` as a spec in ``base`` names it: relative to that folder."""
    return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()
