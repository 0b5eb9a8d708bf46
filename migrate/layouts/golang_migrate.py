"""``golang-migrate``: ``<version>_<title>.up.sql`` and ``<version>_<title>.down.sql`` side by side,
applied in version order. Its ledger keeps one row, the current version and a dirty flag."""

from __future__ import annotations

import re
from pathlib import Path

from deploy_gates.migrate.layouts import Discovery, Options, sql_files
from deploy_gates.migrate.migration import Migration, Script, read_script
from deploy_gates.migrate.statements import manages_transactions

NAME = re.compile(r"^(\d+)_(.*)\.(up|down)\.sql$")
SHAPE = "<version>_<title>.up.sql and .down.sql"


class GolangMigrate:
    name = "golang-migrate"
    ledger = "golang-migrate"

    def detect(self, folder: Path) -> str | None:
        ups = [p for p in sql_files(folder) if p.name.endswith(".up.sql")]
        return f"{len(ups)} *.up.sql file(s) with their *.down.sql" if ups else None

    def scan(self, folder: Path, options: Options) -> Discovery:
        found = Discovery(folder, self.name)
        scripts: dict[int, dict[str, list[Script]]] = {}
        titles: dict[int, str] = {}
        for path in sql_files(folder):
            match = NAME.match(path.name)
            if not match:
                found.problems.append(f"{path.name}: not a golang-migrate name ({SHAPE})")
                continue
            version = int(match.group(1))
            titles.setdefault(version, f"{match.group(1)}_{match.group(2)}")
            kind = match.group(3)
            scripts.setdefault(version, {"up": [], "down": []})[kind].append(
                read_script(path, "migration script" if kind == "up" else "down script")
            )
        for version in sorted(scripts):
            ups, downs = scripts[version]["up"], scripts[version]["down"]
            if len(ups) > 1 or len(downs) > 1:
                shared = ", ".join(s.label for s in ups + downs)
                found.problems.append(f"version {version} has several files ({shared})")
                continue
            if not ups:
                found.problems.append(f"{downs[0].label}: a down file without its .up.sql")
                continue
            up = ups[0]
            found.migrations.append(Migration(
                name=titles[version], id=str(version), layout=self.name, up=up,
                down=downs[0] if downs else None, version=str(version),
                description=titles[version].split("_", 1)[1].replace("_", " "),
                transactional=not manages_transactions(up.text),
                aliases=tuple(s.label for s in downs),
            ))
        return found


LAYOUT = GolangMigrate()
