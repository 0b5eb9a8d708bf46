"""YAML loading that remembers where every key and item stands, for errors that name the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

KeyPath = tuple[str | int, ...]
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser when PyYAML was built with it: the same documents, several times faster."""


class SpecError(Exception):
    """A runbook spec that cannot be used; the message names the file, key path and line."""


def load_with_lines(path: Path) -> tuple[Any, dict[KeyPath, int]]:
    """Parse ``path`` into plain data plus a map from key path to 1-based line number."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{path}: cannot read runbook spec: {exc.strerror or exc}") from exc
    loader = LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError(f"{path}: runbook spec is empty")
        lines: dict[KeyPath, int] = {}
        _index(node, (), lines, path)
        return loader.construct_document(node), lines
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise SpecError(f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from exc
    finally:
        loader.dispose()


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
