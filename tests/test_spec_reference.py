"""The spec's JSON Schema and Markdown reference: generated from the models, committed fresh,
true to the examples, and strict where the models are."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from deploy_gates.spec import keydocs
from deploy_gates.spec.reference import (
    REFERENCE_FILE,
    SCHEMA_FILE,
    json_schema,
    markdown,
    schema_text,
)
from tests.gaterun import ROOT

REGENERATE = ("regenerate: deploy-gates schema > docs/runbook.schema.json && "
              "deploy-gates schema --markdown > docs/spec-reference.md")
EXAMPLES = sorted((ROOT / "examples").glob("*/runbook.yaml"))


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((ROOT / SCHEMA_FILE).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_committed_schema_and_reference_are_fresh() -> None:
    assert (ROOT / SCHEMA_FILE).read_text() == schema_text(), REGENERATE
    assert (ROOT / REFERENCE_FILE).read_text() == markdown(), REGENERATE


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.parent.name)
def test_examples_point_editors_at_the_schema_and_pass_it(spec) -> None:
    first = spec.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    assert (spec.parent / first.split("=", 1)[1]).resolve() == (ROOT / SCHEMA_FILE).resolve()
    errors = [f"{list(e.path)}: {e.message}" for e in validator().iter_errors(
        yaml.safe_load(spec.read_text()))]
    assert errors == []


@pytest.mark.parametrize(("change", "where"), [
    (("provider: embedded", "providr: embedded"), ["targets", "rehearsal"]),
    (("kind: ephemeral", "kind: ephemerl"), ["targets", "rehearsal"]),
    (("within: 2s", "within: soon"), ["health", 0, "within"]),
    (("- {get: /metrics, status: 200}", "- {status: 200}"), ["health", 1]),
])
def test_the_schema_refuses_what_the_models_refuse(change: tuple[str, str], where: list) -> None:
    text = (ROOT / "examples" / "router_api" / "runbook.yaml").read_text()
    assert change[0] in text
    errors = list(validator().iter_errors(yaml.safe_load(text.replace(*change))))
    assert errors and any(list(e.path)[:len(where)] == where for e in errors), errors


def test_every_documented_example_fits_its_key() -> None:
    schema = json_schema()
    check = jsonschema.Draft202012Validator
    nodes = {"Runbook": schema, **schema["$defs"]}
    for model, keys in keydocs.KEYS.items():
        for key, field in nodes[model]["properties"].items():
            example = yaml.safe_load(keys[key][1])
            errors = list(check({**field, "$defs": schema["$defs"]}).iter_errors(example))
            assert not errors, f"{model}.{key}: example {example!r}: {errors[0].message}"


def test_a_key_without_documentation_stops_the_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = {model: dict(keys) for model, keys in keydocs.KEYS.items()}
    del docs["Ledger"]["table"]
    docs["Ledger"]["tabel"] = ("typo", "x")
    monkeypatch.setattr("deploy_gates.spec.reference.KEYS", docs)
    with pytest.raises(ValueError, match=r"Ledger: no entry for table; no such key: tabel"):
        markdown()
