"""The runbook spec's reference, generated from its models: the JSON Schema editors validate and
complete the YAML with (docs/runbook.schema.json), and the Markdown reference of every key
(docs/spec-reference.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import yaml
from pydantic import TypeAdapter

from deploy_gates.spec.keydocs import KEYS
from deploy_gates.spec.runbook import Identifier, Runbook
from deploy_gates.spec.sections import DURATION, EnvName

SCHEMA_FILE = "docs/runbook.schema.json"
REFERENCE_FILE = "docs/spec-reference.md"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
BOUNDS = {"ge": "minimum", "gt": "exclusiveMinimum"}
"""pydantic's bounds on a value given as text first (durations), as JSON Schema keywords."""
NAMED_PATTERNS = {
    TypeAdapter(Identifier).json_schema()["pattern"]: "SQL name (`name` or `schema.name`)",
    TypeAdapter(EnvName).json_schema()["pattern"]: "env variable name",
    DURATION.pattern: "duration (`500ms`, `15s`, `2m`, `1h`, or seconds)",
}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a runbook spec, with each key's description and example."""
    schema = Runbook.model_json_schema(by_alias=True, mode="validation")
    _fix_bounds(schema)
    for model, node in _models(schema):
        docs = _docs(model, node)
        for key, field in node.get("properties", {}).items():
            text, example = docs[key]
            field["description"] = text
            field["examples"] = [yaml.safe_load(example)]
    return {"$schema": DIALECT, "title": "deploy-gates runbook spec", **schema}


def schema_text() -> str:
    """The JSON Schema as the committed file holds it."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def markdown() -> str:
    """docs/spec-reference.md: every key of every section, its type, default and an example."""
    schema = json_schema()
    places = _places(schema)
    lines = [
        "# Runbook spec reference",
        "",
        "Every key of a runbook spec, generated from the spec's models by "
        "`deploy-gates schema --markdown`; do not edit by hand (a test fails when this file is "
        "stale). The same models give the JSON Schema, "
        f"[{SCHEMA_FILE.removeprefix('docs/')}]({SCHEMA_FILE.removeprefix('docs/')}) "
        "(`deploy-gates schema`), for editors: add "
        "`# yaml-language-server: $schema=<path or URL of the schema>` at the top of the spec.",
        "",
        "Paths in a spec are relative to the spec file. Unknown keys are errors.",
    ]
    for model, node in _models(schema):
        where = ", ".join(f"`{p}`" for p in places.get(model, [])) or "the top level"
        lines += ["", f"## {model}", "", f"At {where}. {_first_paragraph(node)}", ""]
        lines += ["| key | type | default | meaning | example |", "| --- | --- | --- | --- | --- |"]
        required = set(node.get("required", []))
        for key, field in node.get("properties", {}).items():
            default = "required" if key in required else _default(field)
            example = f"`{key}: {KEYS[model][key][1]}`"
            lines.append(
                f"| `{key}` | {_cell(_kind(field))} | {_cell(default)} | "
                f"{_cell(field['description'])} | {_cell(example)} |"
            )
        if "oneOf" in node and model == "Request":
            lines += ["", "Exactly one method key (`get`, `post`, ...) with the path."]
    return "\n".join(lines) + "\n"


def _models(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The top level, then each section in the order the top level first reaches it."""
    yield "Runbook", schema
    order = list(dict.fromkeys(name for name, _ in _refs(schema, "")))
    seen = set(order)
    for name in order:
        for found, _ in _refs(schema["$defs"][name], ""):
            if found not in seen:
                seen.add(found)
                order.append(found)
    for name in order:
        yield name, schema["$defs"][name]


def _refs(node: Any, path: str) -> Iterator[tuple[str, str]]:
    """Each section ``node`` refers to, with the key path it stands at."""
    if not isinstance(node, dict):
        return
    if "$ref" in node:
        yield node["$ref"].rsplit("/", 1)[-1], path
    for key in ("anyOf", "oneOf", "allOf"):
        for option in node.get(key, []):
            yield from _refs(option, path)
    yield from _refs(node.get("items"), f"{path}[]")
    yield from _refs(node.get("additionalProperties"), f"{path}.<name>")
    for value in node.get("patternProperties", {}).values():
        yield from _refs(value, f"{path}.<name>")
    for key, value in node.get("properties", {}).items():
        yield from _refs(value, f"{path}.{key}" if path else key)


def _places(schema: dict[str, Any]) -> dict[str, list[str]]:
    """Where in a spec each section stands (``targets.<name>``), following references."""
    places: dict[str, list[str]] = {}
    pending = [("Runbook", "")]
    while pending:
        model, at = pending.pop(0)
        node = schema if model == "Runbook" else schema["$defs"][model]
        for name, path in _refs(node, ""):
            full = f"{at}.{path}" if at and not path.startswith("[") else f"{at}{path}"
            if full not in places.setdefault(name, []) and len(places[name]) < 4:
                places[name].append(full)
                pending.append((name, full))
    return places


def _docs(model: str, node: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The documented keys of ``model``; every key of the model must have an entry, and only
    those."""
    keys, docs = set(node.get("properties", {})), KEYS.get(model, {})
    missing, stale = sorted(keys - docs.keys()), sorted(docs.keys() - keys)
    if missing or stale:
        raise ValueError(
            f"plugin/spec/keydocs.py: {model}: "
            + "; ".join(
                part
                for part in (
                    missing and f"no entry for {', '.join(missing)}",
                    stale and f"no such key: {', '.join(stale)}",
                )
                if part
            )
        )
    return docs


def _fix_bounds(node: Any) -> None:
    """Move pydantic's ``ge``/``gt`` of a duration onto its number branch."""
    if isinstance(node, dict):
        for name, keyword in BOUNDS.items():
            if name in node:
                bound = node.pop(name)
                for option in node.get("anyOf", []):
                    if option.get("type") == "number":
                        option[keyword] = bound
        for value in node.values():
            _fix_bounds(value)
    elif isinstance(node, list):
        for value in node:
            _fix_bounds(value)


def _kind(node: dict[str, Any]) -> str:
    """A key's type in words: ``list of string``, ``map of name to Column``, ``duration``."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    for key in ("anyOf", "oneOf"):
        if key in node:
            kinds = [_kind(o) for o in node[key] if o.get("type") != "null"]
            duration = next((k for k in kinds if k.startswith("duration")), None)
            return duration or " or ".join(dict.fromkeys(kinds))
    if "enum" in node:
        return "one of " + ", ".join(f"`{v}`" for v in node["enum"])
    if "const" in node:
        return f"`{node['const']}`"
    kind = node.get("type")
    if kind == "array":
        return f"list of {_kind(node.get('items', {}))}"
    if kind == "object":
        values = node.get("additionalProperties")
        if not isinstance(values, dict):
            values = next(iter(node.get("patternProperties", {}).values()), None)
        return f"map of name to {_kind(values)}" if isinstance(values, dict) else "mapping"
    if kind == "string":
        if node.get("format") == "path":
            return "path"
        pattern = node.get("pattern")
        return NAMED_PATTERNS.get(pattern, f"string matching `{pattern}`") if pattern else "string"
    if kind in ("number", "integer"):
        for keyword, sign in (("minimum", ">="), ("exclusiveMinimum", ">")):
            if keyword in node:
                return f"{kind} {sign} {node[keyword]:g}"
        return kind
    return kind or "any"


def _default(node: dict[str, Any]) -> str:
    if "default" not in node:
        return "none"
    value = node["default"]
    if value is None:
        return "none"
    if isinstance(value, dict) and value and "$ref" in json.dumps(node):
        return "each key's default"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{json.dumps(value) if isinstance(value, dict | list) else value}`"


def _first_paragraph(node: dict[str, Any]) -> str:
    text = node.get("description", "").split("\n\n")[0]
    return " ".join(text.replace("``", "`").split())


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
