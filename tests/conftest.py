"""Shared fixtures of the suite's own tests: one real throwaway PostgreSQL per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.ephemeral import Server, start_server

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    """A real embedded PostgreSQL server for the whole test session."""
    server = start_server("embedded")
    yield server
    server.stop()


@pytest.fixture
def fresh_dsn(pg_server: Server) -> str:
    """The DSN of a new, empty database on the session server."""
    return pg_server.create_database("test")


@pytest.fixture
def sample_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Specs start the sample service as ``python -m examples.sample_service``: from the repo."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent.parent))
