"""``liquibase-sql``: Liquibase "formatted SQL" changelogs (first line ``--liquibase formatted
sql``), applied file by file in name order (as ``includeAll`` does), changeset by changeset. Each
``--changeset author:id`` runs until the next one; its ``--rollback`` lines are its down script.

Each changeset carries Liquibase's own checksum (``databasechangelog.md5sum``), computed as
Liquibase's ``CheckSum``/``AbstractSQLChange.generateCheckSum`` do for the changeset's SQL (its
lines without the ``--comment``, ``--rollback``, ``--validCheckSum`` and precondition lines, joined
with newlines and trimmed): ``9:`` (Liquibase 4.24 and later) is the MD5 of ``"9:" + MD5(the SQL
without any space, tab, CR or LF) + ":"``; ``8:`` (older releases) the same over ``"8:" +
MD5("<endDelimiter>:<splitStatements>:<stripComments>:" + the SQL with each whitespace run as one
space, trimmed) + ":"``."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from deploy_gates.migrate.layouts import Discovery, Options, sql_files
from deploy_gates.migrate.migration import Migration, Script, read_script

FLAGS = re.IGNORECASE | re.ASCII
"""Liquibase's patterns are Java regexes: case-insensitive, ``\\s`` meaning ASCII white space."""
HEADER = re.compile(r"^\s*--\s*liquibase\s+formatted\s+sql\b", FLAGS)
CHANGESET = re.compile(
    r"\s*--\s*changeset\s+(?P<author>\"[^\"]+\"|[^:]+):\s*(?P<id>\"[^\"]+\"|\S+)(?P<attrs>.*)",
    FLAGS)
ROLLBACK = re.compile(r"\s*--\s*rollback (.*)", FLAGS)
COMMENT = re.compile(r"--\s*comment:? (.*)", FLAGS)
VALID_CHECKSUM = re.compile(r"--\s*validCheckSum:? (.*)", FLAGS)
UNSUPPORTED = re.compile(
    r"^\s*(?:--\s*(precondition\S*|include\S*)\b|/\*\s*liquibase\s*rollback\s*$)", FLAGS)
ATTRIBUTE = re.compile(r"(\w+):(\S+)")
KNOWN = {"runInTransaction", "splitStatements", "endDelimiter", "failOnError", "context",
         "contextFilter", "labels", "stripComments", "runOnChange"}
LINES = re.compile(r"\r\n|\r|\n")
"""Line breaks as Java's ``BufferedReader.readLine`` sees them."""
SPACE = re.compile(r"[ \t\r\n]+")
"""What Liquibase's normalizing streams count as white space."""


def normalized_v9(sql: str) -> str:
    """The SQL as checksum version 9 hashes it: every space, tab, CR and LF removed."""
    return SPACE.sub("", sql)


def normalized_v8(sql: str) -> str:
    """The SQL as checksum version 8 hashes it (after its header): each white space run one
    space, none at either end."""
    return SPACE.sub(" ", sql).strip(" ")


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _java_trim(text: str) -> str:
    """``String.trim``: characters up to U+0020 removed at both ends."""
    return text.strip("".join(map(chr, range(33))))


def checksums(sql: str, *, split_statements: bool = True, strip_comments: bool = True,
              end_delimiter: str | None = None) -> tuple[str, str]:
    """A formatted SQL changeset's checksums (version 9, version 8), as ``databasechangelog``
    holds them; ``sql`` is the changeset's SQL as Liquibase reads it."""
    v9 = _md5(f"9:{_md5(normalized_v9(sql))}:")
    header = (f"{'null' if end_delimiter is None else end_delimiter}:"
              f"{str(split_statements).lower()}:{str(strip_comments).lower()}:")
    v8 = _md5(f"8:{_md5(header + normalized_v8(sql))}:")
    return f"9:{v9}", f"8:{v8}"


def _unquoted(text: str) -> str:
    return text[1:-1] if len(text) > 1 and text[0] == text[-1] == '"' else text


def _changesets(script: Script, found: Discovery) -> list[Migration]:
    """The changesets of one formatted SQL changelog; problems go to ``found``."""
    path = script.path
    lines = LINES.split(script.text)
    if lines and lines[-1] == "":
        lines.pop()
    starts = [i for i, line in enumerate(lines) if CHANGESET.fullmatch(line)]
    result = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        head = CHANGESET.fullmatch(lines[start])
        attrs = dict(ATTRIBUTE.findall(head.group("attrs")))
        where = f"{path.name}:{start + 1}"
        odd = sorted(attrs.keys() - KNOWN)
        if odd:
            found.problems.append(f"{where}: changeset attribute(s) {', '.join(odd)} not supported")
            continue
        body, sql, down, valid, note = [], [], [], [], ""
        for offset, line in enumerate(lines[start + 1:end], start + 2):
            if UNSUPPORTED.match(line):
                found.problems.append(f"{path.name}:{offset}: {line.strip()} is not supported")
            elif (rollback := ROLLBACK.fullmatch(line)) is not None:
                down.append(rollback.group(1))
            elif (comment := COMMENT.fullmatch(line)) is not None:
                note = comment.group(1)
            elif (checksum := VALID_CHECKSUM.fullmatch(line)) is not None:
                valid.append(checksum.group(1).strip())
            else:
                body.append(line)
                sql.append(line)
                continue
            body.append("")
        text = "\n".join(body) + "\n"
        if attrs.get("splitStatements") == "false" or "endDelimiter" in attrs:
            found.problems.append(f"{where}: splitStatements:false and endDelimiter are not "
                                  "supported; use one statement per ';'")
            continue
        rollback_sql = "\n".join(down).strip()
        author, ident = _unquoted(head.group("author")), _unquoted(head.group("id"))
        v9, v8 = checksums(_java_trim("\n".join(sql) + "\n"),
                           strip_comments=attrs.get("stripComments", "true").lower() == "true")
        result.append(Migration(
            name=f"{author}:{ident}", id=f"{ident}::{author}", layout="liquibase-sql",
            up=Script(path, text, start + 2),
            down=Script(path, rollback_sql + "\n", start + 2)
            if rollback_sql and rollback_sql.lower() not in ("empty", "not required") else None,
            description=note, checksum=v9,
            transactional=attrs.get("runInTransaction", "true").lower() != "false",
            repeatable=attrs.get("runOnChange", "false").lower() == "true",
            meta={"filename": path.name, "checksum_v8": v8, "valid_checksums": " ".join(valid)},
        ))
    return result


class LiquibaseSql:
    name = "liquibase-sql"
    ledger = "liquibase"

    def detect(self, folder: Path) -> str | None:
        logs = [p for p in sql_files(folder) if HEADER.match(read_script(p).text)]
        return f"{len(logs)} '--liquibase formatted sql' changelog(s)" if logs else None

    def scan(self, folder: Path, options: Options) -> Discovery:
        found = Discovery(folder, self.name)
        seen: dict[str, str] = {}
        for path in sql_files(folder):
            changelog = read_script(path)
            if not HEADER.match(changelog.text):
                found.problems.append(f"{path.name}: no '--liquibase formatted sql' first line")
                continue
            for migration in _changesets(changelog, found):
                if migration.id in seen:
                    found.problems.append(f"changeset {migration.name} is in {seen[migration.id]}"
                                          f" and {path.name}")
                    continue
                seen[migration.id] = path.name
                found.migrations.append(migration)
        return found


LAYOUT = LiquibaseSql()
