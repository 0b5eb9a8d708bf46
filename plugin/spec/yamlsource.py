"""YAML loading that remembers where every key and item stands, for errors that name the line.

Specs and waivers are hostile input until checked: only a regular file of at most ``MAX_BYTES``
is read, it must be UTF-8, and its events are counted before any node is built, so that
an alias bomb, absurd nesting or a huge document is refused at once, in one line."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

KeyPath = tuple[str | int, ...]


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Booleans as YAML 1.2 spells them (``true``/``false``): ``on``, ``off``, ``yes`` and ``no``
    stay words, so that a key such as ``on:`` (a grant's object) is not read as ``true``."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in _Loader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
LOADER = _Loader
"""libyaml's parser when PyYAML was built with it: the same documents, several times faster."""
MAX_BYTES = 1 << 20
"""The largest spec or waivers file read (1 MiB)."""
MAX_DEPTH = 64
"""How deeply mappings and lists may nest, aliases expanded."""
MAX_NODES = 100_000
"""How many keys, values and items a document may hold, aliases expanded."""
MAX_ALIASES = 1_000
"""How many aliases (``*name``) a document may use."""
FILE_TYPES = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


class SpecError(Exception):
    """A runbook spec or waivers file that cannot be used; the message names the file, the line
    and, when known, the key path."""


def load_with_lines(path: Path, kind: str = "runbook spec") -> tuple[Any, dict[KeyPath, int]]:
    """Parse ``path`` into plain data plus a map from key path to 1-based line number.

    ``kind`` names the file in messages (``runbook spec``, ``waivers file``).
    """
    text = read_text(path, kind)
    loader = LOADER(text)
    try:
        _check_limits(yaml.parse(text, Loader=LOADER), path, kind)
        node = loader.get_single_node()
        if node is None:
            raise SpecError(f"{path}: {kind} is empty")
        lines: dict[KeyPath, int] = {}
        _index(node, (), lines, path)
        return loader.construct_document(node), lines
    except yaml.YAMLError as exc:
        raise SpecError(_yaml_message(path, text, exc)) from exc
    finally:
        loader.dispose()


def read_text(path: Path, kind: str, max_bytes: int = MAX_BYTES) -> str:
    """The text of ``path``: a regular file of at most ``max_bytes``, in UTF-8."""
    return decode(path, read_bytes(path, kind, max_bytes), kind)


def read_bytes(path: Path, kind: str, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of ``path``: a regular file of at most ``max_bytes``, refused at once when it
    is anything else (a FIFO would block, a device never end)."""
    try:
        require_regular(path, kind)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            _require_regular(path, os.fstat(fd).st_mode, kind)
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise SpecError(f"{path}: cannot read {kind}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise SpecError(f"{path}: {kind} is larger than {max_bytes >> 20} MiB")
    return data


def decode(path: Path, data: bytes, kind: str) -> str:
    """``data`` read from ``path`` as UTF-8 text, a byte order mark dropped."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SpecError(
            f"{path}:{line}: {kind} is not UTF-8 text: invalid byte at offset {exc.start} "
            f"(0x{data[exc.start]:02x})"
        ) from None


def require_regular(path: Path, kind: str) -> None:
    """``path`` is a regular file (symbolic links followed); an OSError when it is missing."""
    _require_regular(path, os.stat(path).st_mode, kind)


def _require_regular(path: Path, mode: int, kind: str) -> None:
    """Only regular files are read: a FIFO would block, a device would never end."""
    if not stat.S_ISREG(mode):
        what = FILE_TYPES.get(stat.S_IFMT(mode), "not a file")
        raise SpecError(f"{path}: cannot read {kind}: not a regular file ({what})")


@dataclass
class _Open:
    """A mapping or list being parsed: its anchor, where it starts, how deep its content goes."""

    anchor: str | None
    nodes_before: int
    depth: int
    deepest: int


def _check_limits(events: Iterator[yaml.Event], path: Path, kind: str) -> None:
    """Count nodes, aliases and depth from the parser's events, aliases expanded, and refuse a
    document beyond the limits before its node graph is built. Each anchor's expanded size and
    height are remembered, so a bomb of nested aliases is measured in one pass over its text."""
    sizes: dict[str, tuple[int, int]] = {}
    stack: list[_Open] = []
    nodes = aliases = 0
    for event in events:
        cls = type(event)
        if cls is yaml.ScalarEvent:
            nodes += 1
            if event.anchor:
                sizes[event.anchor] = (1, 1)
            if nodes > MAX_NODES:
                raise SpecError(f"{_at(path, event)}: {kind} has more than {MAX_NODES} nodes")
        elif cls is yaml.AliasEvent:
            aliases += 1
            if aliases > MAX_ALIASES:
                raise SpecError(f"{_at(path, event)}: {kind} has more than {MAX_ALIASES} aliases")
            if any(frame.anchor == event.anchor for frame in stack):
                raise SpecError(f"{_at(path, event)}: recursive alias *{event.anchor}")
            size, height = sizes.get(event.anchor, (1, 1))
            nodes += size
            if nodes > MAX_NODES:
                raise SpecError(
                    f"{_at(path, event)}: aliases expand the {kind} to more than {MAX_NODES} nodes"
                )
            _reach(stack, len(stack) + height, path, event, kind)
        elif cls is yaml.SequenceStartEvent or cls is yaml.MappingStartEvent:
            depth = len(stack) + 1
            _reach(stack, depth + 1, path, event, kind)
            stack.append(_Open(event.anchor, nodes, depth, depth + 1))
            nodes += 1
        elif cls is yaml.SequenceEndEvent or cls is yaml.MappingEndEvent:
            frame = stack.pop()
            if frame.anchor:
                sizes[frame.anchor] = (nodes - frame.nodes_before, frame.deepest - frame.depth + 1)
            if stack:
                stack[-1].deepest = max(stack[-1].deepest, frame.deepest)


def _reach(stack: list[_Open], depth: int, path: Path, event: yaml.Event, kind: str) -> None:
    """Content reaches ``depth`` levels (a collection's scalars count as one level below it)."""
    if depth > MAX_DEPTH:
        raise SpecError(f"{_at(path, event)}: {kind} nests deeper than {MAX_DEPTH} levels")
    if stack:
        stack[-1].deepest = max(stack[-1].deepest, depth)


def _at(path: Path, event: yaml.Event) -> str:
    return f"{path}:{event.start_mark.line + 1}"


def _yaml_message(path: Path, text: str, exc: yaml.YAMLError) -> str:
    """A parser error as one line naming the file and the line."""
    mark = getattr(exc, "problem_mark", None)
    if isinstance(exc, yaml.reader.ReaderError):
        line, problem = text.count("\n", 0, exc.position) + 1, str(exc).splitlines()[0]
    else:
        line, problem = (mark.line + 1 if mark else None), getattr(exc, "problem", None)
    where = f"{path}:{line}" if line else str(path)
    return f"{where}: not valid YAML: {problem or str(exc).splitlines()[0]}"


def _index(node: yaml.Node, at: KeyPath, lines: dict[KeyPath, int], path: Path) -> None:
    lines[at] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                dotted = ".".join(str(p) for p in (*at, key))
                raise SpecError(f"{path}:{key_node.start_mark.line + 1}: {dotted}: duplicate key")
            seen.add(key)
            lines[(*at, key)] = key_node.start_mark.line + 1
            _index(value_node, (*at, key), lines, path)
            lines[(*at, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index(item, (*at, index), lines, path)


def locate(loc: tuple[str | int, ...], lines: dict[KeyPath, int]) -> tuple[KeyPath, int]:
    """Map a validation error location onto the YAML key path it refers to, and its line.

    Validation locations may carry extra steps (union tags, wrapper names) that are not keys
    in the file; those are skipped.
    """
    path: KeyPath = ()
    for step in loc:
        if (*path, step) in lines:
            path = (*path, step)
    return path, lines.get(path, 1)


def validation_message(path: Path, exc: ValidationError, lines: dict[KeyPath, int]) -> str:
    """The first validation problem as one line: file, line, key path, what is wrong."""
    error = exc.errors()[0]
    loc = tuple(error["loc"])
    key_path, line = locate(loc, lines)
    if error["type"] == "extra_forbidden":
        key_path, message = key_path[:-1], f"unknown key {loc[-1]!r}"
    elif error["type"] == "missing":
        message = f"missing required key {loc[-1]!r}"
    elif error["type"] == "union_tag_invalid":
        key_path, line = locate((*loc, "kind"), lines)
        kind, tags = error["input"].get("kind"), error["ctx"]["expected_tags"]
        message = f"unknown kind {kind!r}; expected one of {tags}"
    else:
        message = error["msg"]
    dotted = ".".join(str(p) for p in key_path) or "(top level)"
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{path}:{line}: {dotted}: {message}{suffix}"
