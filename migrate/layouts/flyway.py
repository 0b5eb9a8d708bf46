"""``flyway``: versioned ``V<version>__<description>.sql``, undo ``U<version>__<description>.sql``
and repeatable ``R__<description>.sql`` files, in the folder and its subfolders. Versioned ones
apply in version order, then repeatables (by description) whenever their checksum changed."""

from __future__ import annotations

import os
import re
import zlib
from dataclasses import replace
from pathlib import Path

from deploy_gates.migrate.layouts import Discovery, Options
from deploy_gates.migrate.migration import Migration, Script, read_script, read_source
from deploy_gates.migrate.statements import NO_TRANSACTION, split_statements

NAME = re.compile(r"^(?:([VU])(\d+(?:[._]\d+)*)|(R))__(.+)\.sql$")
CALLBACK = re.compile(r"^(before|after)[A-Z]\w*\.sql$")
SHAPE = "V<version>__<description>.sql, U<version>__<description>.sql or R__<description>.sql"
MAX_CONF_BYTES = 1 << 20
"""The largest per-script ``.conf`` file read (1 MiB)."""


def checksum(text: str) -> str:
    """Flyway's checksum: CRC-32 of the UTF-8 lines without their line endings, as a signed
    32-bit number (the byte order mark is already gone)."""
    crc = 0
    for line in text.splitlines():
        crc = zlib.crc32(line.encode(), crc)
    return str(crc - (1 << 32) if crc >= 1 << 31 else crc)


def version_id(text: str) -> str:
    """A version as Flyway compares it: ``1_01`` and ``1.1`` are both ``1.1``."""
    return ".".join(str(int(part)) for part in re.split(r"[._]", text))


def _in_transaction(path: Path, script: Script) -> bool:
    """False when the script's ``.conf`` says ``executeInTransaction=false`` or a statement
    cannot run in a transaction (Flyway's own detection, for CONCURRENTLY and VACUUM)."""
    conf = path.with_name(path.name + ".conf")
    if os.path.lexists(conf) and re.search(
        r"^\s*executeInTransaction\s*=\s*false\s*$",
        read_source(conf, "Flyway script configuration", MAX_CONF_BYTES)[1], re.MULTILINE,
    ):
        return False
    return not any(NO_TRANSACTION.match(s.text) for s in split_statements(script.text))


class Flyway:
    name = "flyway"
    ledger = "flyway"

    def detect(self, folder: Path) -> str | None:
        versioned = [p for p in folder.rglob("V*__*.sql") if NAME.match(p.name)]
        return f"{len(versioned)} V<version>__<description>.sql file(s)" if versioned else None

    def scan(self, folder: Path, options: Options) -> Discovery:
        found = Discovery(folder, self.name)
        versioned: dict[str, list[Migration]] = {}
        undo: dict[str, Script] = {}
        repeatable: list[Migration] = []
        files = (p for p in folder.rglob("*.sql") if not p.is_dir())
        for path in sorted(files, key=lambda p: p.relative_to(folder).as_posix()):
            relative = path.relative_to(folder).as_posix()
            match = NAME.match(path.name)
            if CALLBACK.match(path.name):
                found.problems.append(f"{relative}: Flyway callbacks are not run by deploy-gates")
                continue
            if not match:
                found.problems.append(f"{relative}: not a Flyway name ({SHAPE})")
                continue
            kind = match.group(1) or "R"
            script = read_script(path, "down script" if kind == "U" else "migration script")
            raw = match.group(2)
            description = match.group(4).replace("_", " ")
            if kind == "U":
                undo[version_id(raw)] = script
                continue
            migration = Migration(
                name=relative, id=version_id(raw) if raw else f"R__{description}",
                layout=self.name, up=script, version=raw.replace("_", ".") if raw else "",
                description=description, checksum=checksum(script.text),
                transactional=_in_transaction(path, script), repeatable=kind == "R",
            )
            if kind == "R":
                repeatable.append(migration)
            else:
                versioned.setdefault(migration.id, []).append(migration)
        for version, same in versioned.items():
            if len(same) > 1:
                found.problems.append(
                    f"version {version} is shared by {', '.join(m.name for m in same)}"
                )
        for version in sorted(undo.keys() - versioned.keys()):
            found.problems.append(f"{undo[version].label}: an undo file without its V file")
        ordered = sorted((same[0] for same in versioned.values()),
                         key=lambda m: tuple(int(p) for p in m.id.split(".")))
        found.migrations = [replace(m, down=undo.get(m.id)) for m in ordered]
        found.migrations += sorted(repeatable, key=lambda m: m.description)
        return found


LAYOUT = Flyway()
