"""``liquibase-sql``: Liquibase "formatted SQL" changelogs (first line ``--liquibase formatted
sql``), applied file by file in name order (as ``includeAll`` does), changeset by changeset. Each
``--changeset author:id`` runs until the next one; its ``--rollback`` lines are its down script."""

from __future__ import annotations

import re
from pathlib import Path

from deploy_gates.migrate.layouts import Discovery, Options, sql_files
from deploy_gates.migrate.migration import Migration, Script, read_script

HEADER = re.compile(r"^\s*--\s*liquibase\s+formatted\s+sql\b", re.IGNORECASE)
CHANGESET = re.compile(r"^\s*--\s*changeset\s+(?P<author>[^:\s]+):(?P<id>\S+)(?P<attrs>.*)$",
                       re.IGNORECASE)
ROLLBACK = re.compile(r"^\s*--\s*rollback\b\s?(.*)$", re.IGNORECASE)
COMMENT = re.compile(r"^\s*--\s*comment:?\s*(.*)$", re.IGNORECASE)
UNSUPPORTED = re.compile(r"^\s*--\s*(precondition\S*|include\S*)\b", re.IGNORECASE)
ATTRIBUTE = re.compile(r"(\w+):(\S+)")
KNOWN = {"runInTransaction", "splitStatements", "endDelimiter", "failOnError", "context",
         "contextFilter", "labels", "stripComments"}


def _changesets(path: Path, found: Discovery) -> list[Migration]:
    """The changesets of one formatted SQL changelog; problems go to ``found``."""
    script = read_script(path)
    lines = script.text.splitlines()
    starts = [i for i, line in enumerate(lines) if CHANGESET.match(line)]
    result = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        head = CHANGESET.match(lines[start])
        attrs = dict(ATTRIBUTE.findall(head.group("attrs")))
        where = f"{path.name}:{start + 1}"
        odd = sorted(attrs.keys() - KNOWN)
        if odd:
            found.problems.append(f"{where}: changeset attribute(s) {', '.join(odd)} not supported")
            continue
        body, down, note = [], [], ""
        for offset, line in enumerate(lines[start + 1:end], start + 2):
            if UNSUPPORTED.match(line):
                found.problems.append(f"{path.name}:{offset}: {line.strip()} is not supported")
            elif (rollback := ROLLBACK.match(line)) is not None:
                down.append(rollback.group(1))
                body.append("")
            elif (comment := COMMENT.match(line)) is not None and not note:
                note = comment.group(1)
                body.append("")
            else:
                body.append(line)
        text = "\n".join(body) + "\n"
        if attrs.get("splitStatements") == "false" or "endDelimiter" in attrs:
            found.problems.append(f"{where}: splitStatements:false and endDelimiter are not "
                                  "supported; use one statement per ';'")
            continue
        rollback_sql = "\n".join(down).strip()
        ident = f"{head.group('id')}::{head.group('author')}"
        result.append(Migration(
            name=f"{head.group('author')}:{head.group('id')}", id=ident, layout="liquibase-sql",
            up=Script(path, text, start + 2),
            down=Script(path, rollback_sql + "\n", start + 2)
            if rollback_sql and rollback_sql.lower() not in ("empty", "not required") else None,
            description=note,
            transactional=attrs.get("runInTransaction", "true") != "false",
            meta={"filename": path.name},
        ))
    return result


class LiquibaseSql:
    name = "liquibase-sql"
    ledger = "liquibase"

    def detect(self, folder: Path) -> str | None:
        logs = [p for p in sql_files(folder) if HEADER.match(p.read_text(errors="replace"))]
        return f"{len(logs)} '--liquibase formatted sql' changelog(s)" if logs else None

    def scan(self, folder: Path, options: Options) -> Discovery:
        found = Discovery(folder, self.name)
        seen: dict[str, str] = {}
        for path in sql_files(folder):
            if not HEADER.match(read_script(path).text):
                found.problems.append(f"{path.name}: no '--liquibase formatted sql' first line")
                continue
            for migration in _changesets(path, found):
                if migration.id in seen:
                    found.problems.append(f"changeset {migration.name} is in {seen[migration.id]}"
                                          f" and {path.name}")
                    continue
                seen[migration.id] = path.name
                found.migrations.append(migration)
        return found


LAYOUT = LiquibaseSql()
