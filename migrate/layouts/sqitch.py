"""``sqitch``: a ``sqitch.plan`` naming the changes in order, each with ``deploy/<change>.sql``,
``revert/<change>.sql`` and ``verify/<change>.sql``. The registry (schema ``sqitch``) records each
deployed change by its change id, with the SHA-1 of its deploy script.

Change and tag ids are sqitch's own (``App::Sqitch::Plan::Change`` and ``::Tag``, ``info`` and
``id``): the SHA-1 of ``"change <bytes>\\0<info>"`` (``"tag ..."`` for a tag), where ``info`` is the
lines ``project <name>``, ``uri <uri>`` (when the plan has one), ``change <name>`` (a tag:
``tag @<name>`` then ``change <its change's id>``), ``parent <previous change's id>`` (changes
after the first), ``planner <name> <<email>>``, ``date <planned_at>``, ``requires`` / ``conflicts``
each followed by ``  + dep`` / ``  - dep`` lines, and a blank line and the note when there is
one."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from deploy_gates.migrate.layouts import Discovery, Options
from deploy_gates.migrate.migration import Migration, Script, optional_script, read_source
from deploy_gates.migrate.statements import manages_transactions

PLAN = "sqitch.plan"
MAX_PLAN_BYTES = 16 << 20
"""The largest ``sqitch.plan`` read (16 MiB)."""
KINDS = {"deploy": "migration script", "revert": "down script", "verify": "verify script"}
CHANGE = re.compile(
    r"^(?P<name>[^\s@:#\[\]]+)\s+(?:\[(?P<deps>[^\]]*)\]\s+)?(?P<at>\S+)\s+"
    r"(?P<planner>[^<]*?)\s*<(?P<email>[^>]*)>\s*(?:#(?P<note>.*))?$"
)
TAG = re.compile(r"^@(?P<name>[^\s@:#]+)\s+(?P<at>\S+)\s+(?P<planner>[^<]*?)\s*"
                 r"<(?P<email>[^>]*)>\s*(?:#(?P<note>.*))?$")
UNESCAPE = {"\\\\": "\\", "\\n": "\n", "\\r": "\r"}


def sha1_id(kind: str, info: str) -> str:
    """sqitch's id of a change or tag: SHA-1 of ``"<kind> <bytes>\\0<info>"`` (info in UTF-8)."""
    data = info.encode()
    return hashlib.sha1(f"{kind} {len(data)}\0".encode() + data).hexdigest()


def _note(raw: str | None) -> str:
    """A plan note as sqitch keeps it: trimmed, ``\\n``, ``\\r`` and ``\\\\`` unescaped."""
    return re.sub(r"\\[\\nr]", lambda m: UNESCAPE[m.group()], (raw or "").strip())


def _canonical(uri: str) -> str:
    """The ``%uri`` as Perl's ``URI->canonical`` prints an http(s) one: scheme and host in lower
    case, no default port, ``/`` for an empty path."""
    parts = urlsplit(uri)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return uri
    default = {"http": 80, "https": 443}[parts.scheme.lower()]
    host = parts.hostname + (f":{parts.port}" if parts.port not in (None, default) else "")
    userinfo = parts.netloc.rpartition("@")[0]
    return urlunsplit((parts.scheme.lower(), f"{userinfo}@{host}" if userinfo else host,
                       parts.path or "/", parts.query, parts.fragment))


def _dependencies(raw: str, project: str) -> tuple[list[str], list[str]]:
    """The requires and conflicts of ``[deps]``, each as sqitch prints it (``change``,
    ``change@tag``, ``other_project:change``; the own project's prefix left out)."""
    requires, conflicts = [], []
    for dep in raw.split():
        conflict = dep.startswith("!")
        name = dep.lstrip("!")
        owner, colon, key = name.partition(":")
        if colon and owner == project:
            name = key
        (conflicts if conflict else requires).append(name)
    return requires, conflicts


def _info(head: list[str], planner: str, planned_at: str, note: str,
          requires: list[str] = (), conflicts: list[str] = ()) -> str:
    lines = [*head, f"planner {planner}", f"date {planned_at}"]
    if requires:
        lines += ["requires", *(f"  + {dep}" for dep in requires)]
    if conflicts:
        lines += ["conflicts", *(f"  - {dep}" for dep in conflicts)]
    return "\n".join(lines + (["", note] if note else []))


def _script(folder: Path, kind: str, change: str) -> Script | None:
    return optional_script(folder / kind / f"{change}.sql", KINDS[kind])


class Sqitch:
    name = "sqitch"
    ledger = "sqitch"

    def detect(self, folder: Path) -> str | None:
        return f"{PLAN} in the folder" if os.path.lexists(folder / PLAN) else None

    def scan(self, folder: Path, options: Options) -> Discovery:
        found = Discovery(folder, self.name)
        plan = folder / PLAN
        if not os.path.lexists(plan):
            found.problems.append(f"{PLAN}: not found in the folder")
            return found
        text = read_source(plan, "sqitch plan", MAX_PLAN_BYTES)[1]
        project, uri, seen, parent = "", "", set(), ""
        tags: dict[str, list[dict[str, str]]] = {}
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if line.startswith("%project="):
                project = line.removeprefix("%project=").strip()
            if line.startswith("%uri="):
                uri = _canonical(line.removeprefix("%uri=").strip())
            if line.startswith("@") and (tag := TAG.match(line)) and found.migrations:
                change = found.migrations[-1]
                head = [f"project {project}", *([f"uri {uri}"] if uri else []),
                        f"tag @{tag.group('name')}", f"change {change.meta['change_id']}"]
                note = _note(tag.group("note"))
                planner = f"{tag.group('planner')} <{tag.group('email')}>"
                tags.setdefault(change.name, []).append({
                    "id": sha1_id("tag", _info(head, planner, tag.group("at"), note)),
                    "tag": f"@{tag.group('name')}", "note": note,
                    "planned_at": tag.group("at"), "planner_name": tag.group("planner"),
                    "planner_email": tag.group("email")})
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
            path = folder / "deploy" / f"{name}.sql"
            if not os.path.lexists(path):
                found.problems.append(f"{PLAN}:{number}: change {name} has no deploy/{name}.sql")
                continue
            data, sql = read_source(path, KINDS["deploy"])
            deploy = Script(path, sql)
            note = _note(match.group("note"))
            requires, conflicts = _dependencies(match.group("deps") or "", project)
            head = [f"project {project}", *([f"uri {uri}"] if uri else []), f"change {name}",
                    *([f"parent {parent}"] if parent else [])]
            planner = f"{match.group('planner')} <{match.group('email')}>"
            parent = sha1_id("change", _info(head, planner, match.group("at"), note, requires,
                                             conflicts))
            found.migrations.append(Migration(
                name=name, id=name, layout=self.name, up=deploy,
                down=_script(folder, "revert", name), verify=_script(folder, "verify", name),
                description=note,
                checksum=hashlib.sha1(data).hexdigest(),
                transactional=not manages_transactions(deploy.text),
                meta={"project": project, "uri": uri, "change_id": parent,
                      "planned_at": match.group("at"), "planner_name": match.group("planner"),
                      "planner_email": match.group("email"),
                      "requires": json.dumps(requires), "conflicts": json.dumps(conflicts)},
            ))
        for migration in found.migrations:
            migration.meta["tags"] = json.dumps(tags.get(migration.name, []))
        if not project:
            found.problems.append(f"{PLAN}: no %project= line")
        return found


LAYOUT = Sqitch()
