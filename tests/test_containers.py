"""The testcontainers provider on a real Docker engine, with the image ci/build-postgres-image.sh
builds offline (no registry): start, query, clean up, and the whole rehearsal of the example.

Needs DEPLOY_GATES_TEST_IMAGE (e.g. deploy-gates/postgres:15-bookworm) and a Docker engine that
answers `docker info`. Skipped without them, except with CI=true, where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from deploy_gates.fixtures.ephemeral import ServerStartError, start_server
from deploy_gates.fixtures.ephemeral.server import docker_answers
from tests.examplecopy import copy_example
from tests.gaterun import gates, summary

# Every connection over loopback, and no Ryuk reaper (its image would come from a registry).
# testcontainers reads these once, when first imported: that is after this module is collected.
LOOPBACK_ENV = {
    "TESTCONTAINERS_RYUK_DISABLED": "true",
    "TC_HOST": "127.0.0.1",
    "TESTCONTAINERS_CONNECTION_MODE": "docker_host",
}
for _key, _value in LOOPBACK_ENV.items():
    os.environ.setdefault(_key, _value)

MISSING_IMAGE = "127.0.0.1:9/deploy-gates/no-such-image:0"  # a pull fails on loopback, at once


def docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout


def why_not_runnable() -> str | None:
    image = os.environ.get("DEPLOY_GATES_TEST_IMAGE")
    if not image:
        return "DEPLOY_GATES_TEST_IMAGE is not set (build one with ci/build-postgres-image.sh)"
    if not shutil.which("docker") or not docker_answers():
        return "no Docker engine answers `docker info` (start one with ci/start-docker.sh)"
    if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode:
        return f"image {image} is not present (build it with ci/build-postgres-image.sh {image})"
    from testcontainers.core.config import ConnectionMode
    from testcontainers.core.config import testcontainers_config as tc

    if not (
        tc.tc_host_override == "127.0.0.1"
        and tc.connection_mode_override == ConnectionMode.docker_host
        and tc.ryuk_disabled
    ):
        return f"testcontainers was configured before this module could set {LOOPBACK_ENV}"
    return None


@pytest.fixture(scope="module")
def image() -> str:
    """The image to test; in CI a missing engine or image fails instead of skipping."""
    reason = why_not_runnable()
    if reason and os.environ.get("CI", "").lower() in {"true", "1"}:
        pytest.fail(f"CI=true, so the container tests must run, but {reason}", pytrace=False)
    if reason:
        pytest.skip(reason)
    return os.environ["DEPLOY_GATES_TEST_IMAGE"]


def containers_of(image: str) -> set[str]:
    return set(docker("ps", "-a", "-q", "--no-trunc", "--filter", f"ancestor={image}").split())


def test_provider_starts_the_image_answers_and_removes_the_container(image: str) -> None:
    before = containers_of(image)
    started = time.monotonic()
    server = start_server("testcontainers", image=image)
    try:
        ready_s = time.monotonic() - started
        (container,) = containers_of(image) - before
        assert conninfo_to_dict(server.dsn)["host"] == "127.0.0.1"
        assert "127.0.0.1:" in docker("port", container, "5432")
        with server.connect() as conn:
            assert conn.execute("SELECT 41 + 1").fetchone() == (42,)
        assert server.version().startswith("15")
        assert {"citext", "pgcrypto"} <= server.available_extensions()
        dsn = server.create_database("probe")
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            name = conn.execute("SELECT current_database()").fetchone()[0]
        assert name == conninfo_to_dict(dsn)["dbname"] and name.startswith("probe_")
    finally:
        server.stop()
    assert container not in docker("ps", "-a", "-q", "--no-trunc").split()
    assert ready_s < 30, f"container ready after {ready_s:.1f}s"


def test_rehearsal_on_testcontainers_agrees_with_embedded(
    pytester: pytest.Pytester, tmp_path: Path, image: str
) -> None:
    def rehearse(name: str, *provider: str) -> dict[str, dict]:
        release = tmp_path / name
        copy_example("tascade", release)
        result = gates(pytester, release, "--target=rehearsal", *provider)  # last option wins
        assert result.ret == pytest.ExitCode.OK, result.outlines[-20:]
        return summary(release)

    since = f"{time.time():.3f}"
    on_containers = rehearse("tc", "--db-provider=testcontainers", f"--postgres-image={image}")
    until = f"{time.time():.3f}"
    on_embedded = rehearse("embedded", "--db-provider=embedded")

    assert set(on_containers) == set(on_embedded)
    assert len(on_containers) > 100
    assert {g["outcome"] for g in on_containers.values()} == {"passed"}, on_containers
    assert {g["outcome"] for g in on_embedded.values()} == {"passed"}, on_embedded
    # The first run really ran on containers of the image, and removed every one it created.
    events = [line.split() for line in docker(
        "events", "--since", since, "--until", until, "--filter", f"image={image}",
        "--format", "{{.Action}} {{.Actor.ID}}").splitlines()]
    created = {cid for action, cid in events if action == "create"}
    assert created and created <= {cid for action, cid in events if action == "destroy"}, events


def test_missing_image_is_one_line_naming_it(image: str) -> None:
    with pytest.raises(ServerStartError) as info:
        start_server("testcontainers", image=MISSING_IMAGE)
    message = str(info.value)
    assert "\n" not in message, message
    assert message.startswith(
        f"testcontainers provider: could not start image {MISSING_IMAGE!r}: "), message
    assert "is a Docker engine running and the image present (--postgres-image)?" in message


def test_container_that_exits_fails_at_once_with_its_log_and_is_removed(
    image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deploy_gates.fixtures.ephemeral import containers

    monkeypatch.setattr(containers, "USER", "pg_reserved")  # initdb refuses pg_ role names
    before = containers_of(image)
    started = time.monotonic()
    with pytest.raises(ServerStartError) as info:
        start_server("testcontainers", image=image)
    message = str(info.value)
    assert time.monotonic() - started < 15  # not the 30 s readiness deadline
    assert message.startswith("testcontainers provider: container "), message
    assert f"of image {image!r}" in message and "stopped (exit code 1) before it answered" in message
    assert 'container log:\ninitdb: error: superuser name "pg_reserved" is disallowed' in message
    assert containers_of(image) == before
