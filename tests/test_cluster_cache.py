"""Throwaway servers start from a cached cluster: initdb once per server build, a copy per run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deploy_gates.fixtures.ephemeral import local_binaries_installed, start_server
from deploy_gates.fixtures.ephemeral.template import CACHE_ENV, cache_root

PROVIDERS = ["embedded", pytest.param("local", marks=pytest.mark.skipif(
    not local_binaries_installed(), reason="PostgreSQL server binaries are not installed"))]


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return cache_root()


START_AND_PROBE = """
import sys, psycopg
from deploy_gates.fixtures.ephemeral import start_server
server = start_server(sys.argv[1])
try:
    with psycopg.connect(server.dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"CREATE TABLE only_in_{sys.argv[2]} ()")
        print(sorted(r[0] for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relname LIKE 'only_in_%'")))
finally:
    server.stop()
"""


@pytest.mark.parametrize("provider", PROVIDERS)
def test_concurrent_first_starts_share_one_cached_cluster(provider: str, empty_cache: Path) -> None:
    runs = [subprocess.Popen([sys.executable, "-c", START_AND_PROBE, provider, str(index)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for index in range(3)]
    for index, run in enumerate(runs):
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
        assert out.strip() == f"['only_in_{index}']"  # each server runs on its own copy
    entries = sorted(p.name for p in empty_cache.iterdir())
    assert len(entries) == 1 and ".new-" not in entries[0]  # one cluster, no half-built leftovers
    assert (empty_cache / entries[0] / "PG_VERSION").is_file()
    assert not (empty_cache / entries[0] / "postmaster.pid").exists()  # the cache never runs


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_warm_start_copies_the_cached_cluster(provider: str, empty_cache: Path) -> None:
    start_server(provider).stop()
    (cached,) = empty_cache.iterdir()
    marker = cached / "deploy-gates-cache-probe"
    marker.write_text("from the cache")
    server = start_server(provider)
    try:
        # embedded logs inside its cluster folder, local beside it
        pgdata = server.log_path.parent / ("pgdata" if provider == "local" else "")
        assert (pgdata / "deploy-gates-cache-probe").read_text() == "from the cache"
    finally:
        server.stop()
    assert [p.name for p in empty_cache.iterdir()] == [cached.name]
