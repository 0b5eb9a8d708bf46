"""``numbered``: one file per migration, ``<number><_|-|__><description>.sql``, applied in numeric
order; the ledger records the file name. Down scripts, when any, are in ``migrations.down_dir``
under the same name."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from pathlib import Path

from deploy_gates.migrate.layouts import Discovery, Options, sql_files
from deploy_gates.migrate.migration import Migration, Script, read_source

NAME = re.compile(r"^(\d+)(__|_|-)(.+)\.sql$")
NO_TRANSACTION_MARKER = "-- deploy-gates: no-transaction"
SHAPE = "<number><_ or - or __><description>.sql"


def has_marker(text: str) -> bool:
    """True when the leading comment lines hold the no-transaction marker."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.lower() == NO_TRANSACTION_MARKER:
            return True
        if stripped and not stripped.startswith("--"):
            return False
    return False


def _load(path: Path, version: str, description: str) -> Migration:
    """The migration in ``path``."""
    data, text = read_source(path, "migration script")
    return Migration(
        name=path.name, id=path.name, layout="numbered", up=Script(path, text), version=version,
        description=re.sub(r"[_-]+", " ", description), checksum=hashlib.sha256(data).hexdigest(),
        transactional=not has_marker(text),
    )


def shared_versions(migrations: list[Migration]) -> list[tuple[str, list[str]]]:
    """Version numbers several files share, each with those files in apply order."""
    groups: dict[int, list[Migration]] = defaultdict(list)
    for m in migrations:
        groups[int(m.version)].append(m)
    return [(g[0].version, [m.name for m in g]) for _, g in sorted(groups.items()) if len(g) > 1]


def clash_list(shared: list[tuple[str, list[str]]]) -> str:
    """``0005 in 0005_a.sql, 0005_b.sql and 20 in 20-x.sql, 20-y.sql``."""
    return " and ".join(f"{version} in {', '.join(names)}" for version, names in shared)


class Numbered:
    name = "numbered"
    ledger = "deploy-gates"

    def detect(self, folder: Path) -> str | None:
        return None  # the fallback: detect() chooses it when no other layout claims the folder

    def scan(self, folder: Path, options: Options) -> Discovery:
        found = Discovery(folder, self.name)
        for path in sql_files(folder):
            match = NAME.match(path.name)
            if not match:
                found.problems.append(f"{path.name}: not a migration name ({SHAPE})")
                continue
            found.migrations.append(_load(path, match.group(1), match.group(3)))
        found.migrations.sort(key=lambda m: (int(m.version), m.name))
        shared = shared_versions(found.migrations)
        if shared and options.allow_duplicate_versions:
            found.warnings += [
                (version, f"version {version} is shared by {', '.join(names)}, applied in "
                 "that order (full file name; migrations.allow_duplicate_versions)")
                for version, names in shared
            ]
        elif shared:
            found.problems.append(
                f"versions shared by several files ({clash_list(shared)}), so the order is "
                "ambiguous: renumber, or set migrations.allow_duplicate_versions: true to apply "
                "them in full file name order"
            )
        return found


LAYOUT = Numbered()
