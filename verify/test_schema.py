"""Schema gates: one test per object the release adds, read from one catalog snapshot."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from deploy_gates.fixtures.targets import known_runbook, parametrize_rows
from deploy_gates.reports.evidence import GateEvidence
from deploy_gates.verify.catalog import Catalog
from deploy_gates.verify.expectations import Expected, expected_objects
from deploy_gates.verify.outcome import require

pytestmark = pytest.mark.postdeploy
objects_key = pytest.StashKey[dict[str, list[tuple[str, str, Expected]]]]()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "expected" in metafunc.fixturenames:
        kind = metafunc.function.__name__.removeprefix("test_")
        parametrize_rows(metafunc, "expected", schema_objects(metafunc.config).get(kind, []))


def schema_objects(config: pytest.Config) -> dict[str, list[tuple[str, str, Expected]]]:
    """Every object the spec expects, by kind, as ``(database key, id, object)`` rows; read from
    the spec once for the gates of every kind."""
    if objects_key not in config.stash:
        rows: dict[str, list[tuple[str, str, Expected]]] = {}
        for key, spec in known_runbook(config).per_database():
            for e in expected_objects(spec.expected):
                rows.setdefault(e.kind, []).append((key, e.name, e))
        config.stash[objects_key] = rows
    return config.stash[objects_key]


def schema_gate(kind: str) -> Callable[[Expected, dict[str, Catalog], str, GateEvidence], None]:
    """A gate for one kind of schema object, parametrized with every such object in the spec
    (in each database of a system with several)."""

    def gate(
        expected: Expected, catalogs: dict[str, Catalog], database: str, evidence: GateEvidence
    ) -> None:
        catalog = catalogs[database]
        evidence.extend(expected.evidence(catalog))
        require(expected.problem_if_missing(catalog))

    gate.__name__ = f"test_{kind}"
    gate.__doc__ = f"The {kind.replace('_', ' ')} the spec names is there as specified."
    return gate


test_table = schema_gate("table")
test_column = schema_gate("column")
test_view = schema_gate("view")
test_empty_view = schema_gate("empty_view")
test_index = schema_gate("index")
test_trigger = schema_gate("trigger")
test_function = schema_gate("function")
test_extension = schema_gate("extension")
test_enum = schema_gate("enum")
test_materialized_view = schema_gate("materialized_view")
test_sequence = schema_gate("sequence")
test_constraint = schema_gate("constraint")
test_grant = schema_gate("grant")
test_policy = schema_gate("policy")
test_row_level_security = schema_gate("row_level_security")
