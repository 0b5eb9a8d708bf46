"""``sqitch``: a ``sqitch.plan`` naming the changes in order, each with ``deploy/<change>.sql``,
``revert/<change>.sql`` and ``verify/<change>.sql``. The registry (schema ``sqitch``) records each
deployed change with the SHA-1 of its deploy script."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from deploy_gates.migrate.layouts import Discovery, Options
from deploy_gates.migrate.migration import Migration, Script, read_script
from deploy_gates.migrate.statements import manages_transactions

PLAN = "sqitch.plan"
CHANGE = re.compile(
    r"^(?P<name>[^\s@:#\[\]]+)\s+(?:\[(?P<deps>[^\]]*)\]\s+)?(?P<at>\S+)\s+"
    r"(?P<planner>[^<]*?)\s*<(?P<email>[^>]*)>\s*(?:#\s?(?P<note>.*))?$"
)


def _script(folder: Path, kind: str, change: str) -> Script | None:
    path = folder / kind / f"{change}.sql"
    return read_script(path) if path.is_file() else None


class Sqitch:
    name = "sqitch"
    ledger = "sqitch"

    def detect(self, folder: Path) -> str | None:
        return f"{PLAN} in the folder" if (folder / PLAN).is_file() else None

    def scan(self, folder: Path, options: Options) -> Discovery:
        found = Discovery(folder, self.name)
        plan = folder / PLAN
        if not plan.is_file():
            found.problems.append(f"{PLAN}: not found in the folder")
            return found
        project, seen = "", set()
        for number, raw in enumerate(plan.read_text(encoding="utf-8").splitlines(), 1):
            line = raw.strip()
            if line.startswith("%project="):
                project = line.removeprefix("%project=").strip()
            if not line or line.startswith(("#", "%", "@")):
                continue
            match = CHANGE.match(line)
            if not match:
                found.problems.append(f"{PLAN}:{number}: not a change line "
                                      "(<name> [deps] <date> <planner> <<email>> # note)")
                continue
            name = match.group("name")
            if name in seen:
                found.problems.append(f"{PLAN}:{number}: change {name} is reworked; "
                                      "reworked changes are not supported")
                continue
            seen.add(name)
            deploy = _script(folder, "deploy", name)
            if deploy is None:
                found.problems.append(f"{PLAN}:{number}: change {name} has no deploy/{name}.sql")
                continue
            found.migrations.append(Migration(
                name=name, id=name, layout=self.name, up=deploy,
                down=_script(folder, "revert", name), verify=_script(folder, "verify", name),
                description=match.group("note") or "",
                checksum=hashlib.sha1(deploy.path.read_bytes()).hexdigest(),
                transactional=not manages_transactions(deploy.text),
                meta={"project": project, "planned_at": match.group("at"),
                      "planner_name": match.group("planner"),
                      "planner_email": match.group("email"),
                      "requires": match.group("deps") or ""},
            ))
        if not project:
            found.problems.append(f"{PLAN}: no %project= line")
        return found


LAYOUT = Sqitch()
