"""Migration files on disk: naming, ordering, checksums and the no-transaction marker."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from deploy_gates.migrate.errors import MigrationError
from deploy_gates.migrate.statements import Statement, read_statements

NAME_PATTERN = re.compile(r"^(\d+)_(.+)\.sql$")
NO_TRANSACTION_MARKER = "-- deploy-gates: no-transaction"


def order_key(name: str) -> tuple[int, str]:
    """Sort key of a migration file name: numeric version, then name (-1 if unversioned)."""
    match = NAME_PATTERN.match(name)
    return (int(match.group(1)) if match else -1, name)


@dataclass(frozen=True)
class MigrationFile:
    """One up migration; its identity in the ledger is ``name``, the file name."""

    name: str
    version: str
    description: str
    path: Path
    checksum: str
    transactional: bool

    def statements(self) -> list[Statement]:
        """The file's statements with the lines they start on."""
        return read_statements(self.path, transactional=self.transactional)


def _has_marker(text: str) -> bool:
    """True when the leading comment lines hold the no-transaction marker."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.lower() == NO_TRANSACTION_MARKER:
            return True
        if stripped and not stripped.startswith("--"):
            return False
    return False


def load(path: Path) -> MigrationFile:
    """The migration file at ``path``; its name must be ``<digits>_<description>.sql``."""
    match = NAME_PATTERN.match(path.name)
    if not match:
        raise MigrationError(
            f"{path}: migration file names must look like <digits>_<description>.sql"
        )
    try:
        data = path.read_bytes()
        text = data.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MigrationError(f"cannot read {path}: {exc}") from exc
    return MigrationFile(
        name=path.name,
        version=match.group(1),
        description=match.group(2).replace("_", " "),
        path=path,
        checksum=hashlib.sha256(data).hexdigest(),
        transactional=not _has_marker(text),
    )


def discover(directory: Path) -> list[MigrationFile]:
    """The ``.sql`` migrations in ``directory`` in apply order (other files are ignored)."""
    if not directory.is_dir():
        raise MigrationError(f"migrations directory {directory} does not exist")
    files = [load(path) for path in directory.iterdir() if path.suffix == ".sql" and path.is_file()]
    return sorted(files, key=lambda f: order_key(f.name))


def duplicate_versions(files: list[MigrationFile]) -> list[tuple[str, list[str]]]:
    """Version numbers shared by several files, each with those file names (order ambiguous)."""
    groups: dict[int, list[MigrationFile]] = defaultdict(list)
    for file in files:
        groups[int(file.version)].append(file)
    return [
        (group[0].version, sorted(f.name for f in group))
        for _, group in sorted(groups.items())
        if len(group) > 1
    ]
