"""Schema gates: one test per object the release adds, read from one catalog snapshot."""

from __future__ import annotations

import pytest

from fixtures.targets import known_runbook
from verify.catalog import Catalog
from verify.expectations import Expected, expected_objects
from verify.outcome import require

pytestmark = pytest.mark.postdeploy


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "expected" in metafunc.fixturenames:
        kind = metafunc.function.__name__.removeprefix("test_")
        items = [
            e for e in expected_objects(known_runbook(metafunc.config).expected) if e.kind == kind
        ]
        metafunc.parametrize("expected", items, ids=[e.name for e in items])


def test_table(expected: Expected, catalog: Catalog) -> None:
    require(expected.problem_if_missing(catalog))


def test_column(expected: Expected, catalog: Catalog) -> None:
    require(expected.problem_if_missing(catalog))


def test_view(expected: Expected, catalog: Catalog) -> None:
    require(expected.problem_if_missing(catalog))


def test_empty_view(expected: Expected, catalog: Catalog) -> None:
    require(expected.problem_if_missing(catalog))


def test_index(expected: Expected, catalog: Catalog) -> None:
    require(expected.problem_if_missing(catalog))


def test_trigger(expected: Expected, catalog: Catalog) -> None:
    require(expected.problem_if_missing(catalog))


def test_function(expected: Expected, catalog: Catalog) -> None:
    require(expected.problem_if_missing(catalog))


def test_extension(expected: Expected, catalog: Catalog) -> None:
    require(expected.problem_if_missing(catalog))


def test_enum(expected: Expected, catalog: Catalog) -> None:
    require(expected.problem_if_missing(catalog))
