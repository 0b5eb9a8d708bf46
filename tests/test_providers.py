"""Throwaway PostgreSQL providers: each starts a real server, answers a query and cleans up."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

import psycopg
import pytest

from deploy_gates.fixtures.ephemeral import ServerStartError, resolve_provider, start_server
from deploy_gates.fixtures.ephemeral import local as local_provider
from deploy_gates.fixtures.ephemeral import server as server_module
from deploy_gates.fixtures.ephemeral.server import providers_with, wait_ready

needs_local = pytest.mark.skipif(
    local_provider.find_bin_dir() is None, reason="PostgreSQL server binaries are not installed"
)


def answers(dsn: str) -> int:
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        return conn.execute("SELECT 41 + 1").fetchone()[0]


def test_embedded_starts_creates_databases_and_cleans_up() -> None:
    server = start_server("embedded")
    data_dir = server.log_path.parent.parent
    dsn = server.create_database("probe")
    assert answers(dsn) == 42
    assert server.version().startswith("18")
    server.stop()
    assert not data_dir.exists()


@needs_local
def test_local_starts_on_loopback_and_cleans_up() -> None:
    server = start_server("local")
    workdir = server.log_path.parent
    assert "host=127.0.0.1" in server.dsn
    assert answers(server.create_database("probe")) == 42
    server.stop()
    assert not workdir.exists()


@needs_local
def test_local_failed_start_shows_the_log_and_cleans_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a scratch folder of this test's own (other runs on the machine use the shared one), where
    # the server's system user can reach
    own = Path(tempfile.mkdtemp(dir=server_module.scratch_root()))
    own.chmod(0o755)
    monkeypatch.setattr(server_module, "scratch_root", lambda: own)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        monkeypatch.setattr(local_provider, "free_loopback_port", lambda: busy.getsockname()[1])
        with pytest.raises(ServerStartError) as info:
            start_server("local")
    message = str(info.value)
    assert message.startswith("local provider (")
    assert "pg_ctl failed" in message and "server log:" in message
    assert "could not" in message.split("server log:")[1]
    assert not list(own.iterdir())
    own.rmdir()


def test_dsn_provider_uses_an_existing_server_and_leaves_it_running(pg_server) -> None:
    server = start_server("dsn", dsn=pg_server.dsn)
    dsn = server.create_database("attached")
    name = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    server.stop()
    with pg_server.connect() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchall()


def test_dsn_provider_without_dsn_says_where_to_put_it() -> None:
    with pytest.raises(ServerStartError, match="dsn provider: no server DSN; set the environment"):
        start_server("dsn")


def test_testcontainers_without_docker_engine_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    with pytest.raises(ServerStartError) as info:
        start_server("testcontainers", image="postgres:16")
    assert str(info.value).startswith("testcontainers provider: could not start image 'postgres:16'")
    assert "is a Docker engine running" in str(info.value)


def test_auto_prefers_docker_then_local_then_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    import deploy_gates.fixtures.ephemeral as ephemeral

    monkeypatch.setattr(ephemeral.shutil, "which", lambda name: "/usr/bin/docker")
    monkeypatch.setattr(ephemeral, "docker_answers", lambda: True)
    monkeypatch.setattr(ephemeral, "image_present", lambda image: image == "here:1")
    assert resolve_provider("auto", "here:1") == "testcontainers"
    monkeypatch.setattr(ephemeral, "docker_answers", lambda: False)
    monkeypatch.setattr(ephemeral, "local_binaries_installed", lambda: True)
    assert resolve_provider("auto") == "local"
    monkeypatch.setattr(ephemeral, "local_binaries_installed", lambda: False)
    assert resolve_provider("auto") == "embedded"
    assert resolve_provider("testcontainers") == "testcontainers"


def test_readiness_deadline_says_what_was_tried_and_seen() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ServerStartError) as info:
        wait_ready(f"host=127.0.0.1 port={port} user=x password=s3cret dbname=x",
                   tried="probe server", log=lambda: "LOG: tail of the log", deadline_s=0.5)
    message = str(info.value)
    assert message.startswith("probe server: no answer to SELECT 1 within 0.5s; last error: ")
    assert "refused" in message and message.endswith("server log:\nLOG: tail of the log")
    assert "s3cret" not in message


def test_missing_extension_advice_names_providers() -> None:
    assert "local provider" in providers_with("pgcrypto")
    assert "testcontainers" in providers_with("uuid-ossp")
    assert "no built-in provider" in providers_with("postgis")
