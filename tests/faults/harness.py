"""Run one fault group: a copy of its example with the group's files changed and the sample
service's fault switches on, the gates run the way users run them, in one pytest process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import requests

from tests.commands import clean_env
from tests.examplecopy import copy_example, sample_serving
from tests.faults.catalog import SYSTEMS, Group
from tests.gaterun import ROOT
from tests.prometheus_server import running_prometheus

SCRAPES_S = 2.5


def prepare(group: Group, workdir: Path) -> Path:
    """The copy of the group's example, with its edits and switches; its spec's path."""
    copy = copy_example(group.example, workdir / group.example)
    if not group.keep_lock:
        (copy / "runbook.lock.json").unlink(missing_ok=True)
    for name, old, new in group.edits:
        path = copy / name
        if new is None:
            path.unlink()
            continue
        text = path.read_text()
        assert old in text, f"{group.name}: {name} does not hold {old!r}"
        path.write_text(text.replace(old, new, 1) if old else new)
    spec = copy / "runbook.yaml"
    text = spec.read_text()
    if group.switches:
        text = text.replace('--log-file, "{log_file}"',
                            f'--log-file, "{{log_file}}", --faults, "{",".join(group.switches)}"')
        for ready in ("ready: /health/ready", "ready: /health"):
            text = text.replace(ready, "ready: /__faults")
    spec.write_text(text)
    return spec


def old_tools(workdir: Path) -> Path:
    """A folder with a kubectl that answers its version command as 1.27.3 does."""
    folder = workdir / "bin"
    folder.mkdir()
    kubectl = folder / "kubectl"
    kubectl.write_text('#!/bin/sh\n[ "$*" = "version --client" ] && echo "Client Version: v1.27.3"\n')
    kubectl.chmod(0o755)
    return folder


def deploy(group: Group, spec: Path, dsn: str) -> None:
    """Migrate the live database at ``dsn`` as the group says, then run its ``live_sql``."""
    through = ("--through", group.through) if group.through else ()
    subprocess.run(
        [sys.executable, "-m", "deploy_gates", "migrate", "up", "--dsn", dsn,
         "--dir", str(spec.parent / "migrations"), "--report-dir", str(spec.parent / "logs"),
         *through],
        cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=120, check=True,
    )
    if group.live_sql:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(group.live_sql)


def run_group(group: Group, workdir: Path, dsn: str | None = None) -> dict[str, dict]:
    """The gates of the group's run, by name, from its JSON summary; a group with a live
    target gets the database at ``dsn``."""
    spec = prepare(group, workdir)
    out = workdir / "out"
    env = dict(group.env)
    if group.live:
        assert dsn is not None, f"{group.name} needs a database"
        deploy(group, spec, dsn)
        env[group.live] = dsn
    if group.traffic or group.release:
        return _with_service(group, spec, dsn or "", workdir, env)
    return _run(group, spec, out, env)


def _with_service(group: Group, spec: Path, dsn: str, workdir: Path,
                  env: dict[str, str]) -> dict[str, dict]:
    """The group's service (with its switches and release) on the live database; with traffic,
    scraped by a real Prometheus after it. The live target of the copy points at both."""
    release = ("--release", group.release) if group.release else ()
    with sample_serving(SYSTEMS[group.example], dsn, workdir, *release,
                        "--faults", ",".join(group.switches), ready="/__faults") as base_url:
        if not group.traffic:
            _point_at(spec, base_url, None)
            return _run(group, spec, workdir / "out", env)
        with running_prometheus([base_url.removeprefix("http://")], workdir / "p") as url:
            for _burst in (0, 1):  # a series' first sample is no increase: scraped before and after
                for method, path in group.traffic:
                    requests.request(method, base_url + path, json={}, timeout=10)
                time.sleep(SCRAPES_S)
            _point_at(spec, base_url, url)
            return _run(group, spec, workdir / "out", env)


def _point_at(spec: Path, base_url: str, prometheus_url: str | None) -> None:
    """The live targets of the copy ``spec`` answered by the service (and the Prometheus)."""
    text = re.sub(r"base_url: http://127\.0\.0\.1:\d+", f"base_url: {base_url}", spec.read_text())
    if prometheus_url:
        text = text.replace("prometheus_url: http://127.0.0.1:9090", f"prometheus_url: {prometheus_url}")
    spec.write_text(text)


def _run(group: Group, spec: Path, out: Path, env: dict[str, str]) -> dict[str, dict]:
    """One pytest process of the gates on the copy ``spec``; its JSON summary's gates by name."""
    if group.fake_tools:
        env["PATH"] = f"{old_tools(out.parent)}:{os.environ['PATH']}"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-c", str(ROOT / "pyproject.toml"),
         "--rootdir", str(ROOT), str(ROOT / "verify"), f"--runbook={spec}", f"--report-dir={out}",
         f"--target={group.target}", "--db-provider=embedded", "-q", *group.args],
        cwd=ROOT, env=clean_env(**env), capture_output=True, text=True, timeout=180,
    )
    summaries = list(out.glob("*.json"))
    assert len(summaries) == 1, result.stdout[-3000:] + result.stderr[-2000:]
    return {g["name"]: g for g in json.loads(summaries[0].read_text())["gates"]}
