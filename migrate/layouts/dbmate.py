"""``dbmate``: one file per migration, ``<version>_<name>.sql``, with a ``-- migrate:up`` and a
``-- migrate:down`` section (either may say ``transaction:false``); applied in version order.
Its ledger records each applied version."""

from __future__ import annotations

import re
from pathlib import Path

from deploy_gates.migrate.layouts import Discovery, Options, sql_files
from deploy_gates.migrate.migration import Migration, Script, read_script
from deploy_gates.migrate.statements import split_statements

NAME = re.compile(r"^(\d+)_(.+)\.sql$")
DIRECTIVE = re.compile(r"^--\s*migrate:(up|down)\b(.*)$", re.MULTILINE)
OPTION = re.compile(r"(\w+):(\S+)")


def sections(script: Script) -> dict[str, tuple[Script, bool]] | str:
    """The up and down sections of a dbmate file (each with whether it runs in a transaction),
    or what is wrong with it."""
    found: dict[str, tuple[Script, bool]] = {}
    marks = list(DIRECTIVE.finditer(script.text))
    if not marks or marks[0].group(1) != "up":
        return "no '-- migrate:up' section"
    if split_statements(script.text[: marks[0].start()]):
        return "SQL before '-- migrate:up'"
    for index, mark in enumerate(marks):
        if mark.group(1) in found:
            return f"two '-- migrate:{mark.group(1)}' sections"
        options = dict(OPTION.findall(mark.group(2)))
        start = mark.end() + 1
        end = marks[index + 1].start() if index + 1 < len(marks) else len(script.text)
        line = script.text.count("\n", 0, start) + 1
        body = Script(script.path, script.text[start:end], line)
        found[mark.group(1)] = (body, options.get("transaction", "true") != "false")
    return found


class Dbmate:
    name = "dbmate"
    ledger = "dbmate"

    def detect(self, folder: Path) -> str | None:
        marked = [p for p in sql_files(folder) if DIRECTIVE.search(read_script(p).text)]
        return f"{len(marked)} file(s) with '-- migrate:up' sections" if marked else None

    def scan(self, folder: Path, options: Options) -> Discovery:
        found = Discovery(folder, self.name)
        versions: dict[str, list[str]] = {}
        for path in sql_files(folder):
            match = NAME.match(path.name)
            if not match:
                found.problems.append(f"{path.name}: not a dbmate name (<version>_<name>.sql)")
                continue
            parts = sections(read_script(path))
            if isinstance(parts, str):
                found.problems.append(f"{path.name}: {parts}")
                continue
            up, transactional = parts["up"]
            down = parts.get("down", (None, True))[0]
            versions.setdefault(match.group(1), []).append(path.name)
            found.migrations.append(Migration(
                name=path.name, id=match.group(1), layout=self.name, up=up,
                down=down if down is not None and split_statements(down.text) else None,
                version=match.group(1), description=match.group(2).replace("_", " "),
                transactional=transactional,
            ))
        shared = {v: names for v, names in versions.items() if len(names) > 1}
        found.problems += [f"version {v} is shared by {', '.join(n)}" for v, n in shared.items()]
        found.migrations.sort(key=lambda m: (int(m.version), m.name))
        return found


LAYOUT = Dbmate()
