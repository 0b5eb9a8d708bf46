"""Grafana: the dashboard and alert-rule files are valid, the rules enabled, every query on the
spec's datasource and every metric it reads exposed by the service; on a live target with a
grafana_url, Grafana has them installed and the rules are not paused."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.evidence import GateEvidence
from fixtures.service import Service
from fixtures.targets import Target, known_runbook
from verify.grafana import (
    Asset,
    AssetError,
    GrafanaApi,
    Kind,
    datasource_problems,
    exposed_names,
    metric_names,
    read_assets,
)
from verify.http import Http, HttpError
from verify.outcome import fail_gate, require
from verify.spec import Runbook

pytestmark = pytest.mark.postdeploy


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    gates = (("grafana_file", ("dashboard", "alert rule")), ("rule_file", ("alert rule",)))
    for name, kinds in gates:
        if name in metafunc.fixturenames:
            files = grafana_files(known_runbook(metafunc.config), kinds)
            metafunc.parametrize(name, files, ids=[path.name for path, _ in files])


def grafana_files(runbook: Runbook, kinds: tuple[Kind, ...]) -> list[tuple[Path, Kind]]:
    """The spec's Grafana files of ``kinds``, each with its kind."""
    grafana = runbook.grafana
    if grafana is None:
        return []
    by_kind: dict[Kind, list[Path]] = {"dashboard": grafana.dashboards,
                                       "alert rule": grafana.alert_rules}
    return [(path, kind) for kind in kinds for path in by_kind[kind]]


@dataclass(frozen=True)
class Exposition:
    """The series names the service's /metrics exposes, or why they are unknown."""

    url: str
    names: frozenset[str] = frozenset()
    problem: str | None = None


@pytest.fixture(scope="module")
def exposition(service: Service, runbook: Runbook) -> Exposition:
    """The service's exposition, scraped once for every Grafana metric gate."""
    http = Http(service.base_url)
    url = http.url(runbook.metrics.path if runbook.metrics else "/metrics")
    try:
        answer = http.get(url)
    except HttpError as exc:
        return Exposition(url, problem=str(exc))
    finally:
        http.close()
    if answer.status != 200:
        return Exposition(url, problem=f"GET {url}: status {answer.status} (expected 200)")
    try:
        return Exposition(url, exposed_names(answer.text, answer.headers.get("Content-Type", "")))
    except ValueError as exc:
        return Exposition(url, problem=f"GET {url}: not a Prometheus exposition: {exc}")


def assets_of(file: tuple[Path, Kind]) -> list[Asset]:
    """The dashboard or rules in ``file``; the gate fails naming the file when it is unreadable."""
    try:
        return read_assets(*file)
    except AssetError as exc:
        fail_gate(str(exc))


def test_grafana_file(grafana_file: tuple[Path, Kind], evidence: GateEvidence) -> None:
    assets = assets_of(grafana_file)
    evidence.add("assets", "\n".join(
        f"{a.label}: {a.title!r}, {len(a.queries)} queries" for a in assets
    ))


def test_grafana_rule_enabled(rule_file: tuple[Path, Kind], evidence: GateEvidence) -> None:
    rules = assets_of(rule_file)
    evidence.add("rules", "\n".join(f"{r.uid}: {'paused' if r.paused else 'enabled'}"
                                    for r in rules))
    paused = [r.uid for r in rules if r.paused]
    require(paused and f"expected alert rule {', '.join(paused)} enabled; found: isPaused is true")


def test_grafana_datasource(
    grafana_file: tuple[Path, Kind], runbook: Runbook, evidence: GateEvidence
) -> None:
    expected = runbook.grafana.datasource
    if expected is None:
        pytest.skip("the runbook spec names no grafana.datasource")
    assets = assets_of(grafana_file)
    problems, unchecked = datasource_problems(assets, expected)
    evidence.add("queries", "\n".join(
        f"{q.where}: {q.datasource_uid}" for a in assets for q in a.queries
    ))
    if unchecked:
        evidence.add("not checked", "\n".join(unchecked))
    require(problems and f"expected every query on datasource {expected}; found "
            + "; ".join(problems))


def test_grafana_metrics(
    grafana_file: tuple[Path, Kind], exposition: Exposition, evidence: GateEvidence
) -> None:
    assets = assets_of(grafana_file)
    require(exposition.problem)
    missing: dict[str, list[str]] = {}
    lines, unchecked = [], []
    for query in (q for a in assets for q in a.queries if q.promql):
        refs = metric_names(query.promql)
        lines.append(f"{query.where}: {query.promql}\n  metrics: {', '.join(refs.names) or '-'}")
        unchecked += [f"{query.where}: {ref}" for ref in refs.unchecked]
        for name in refs.names:
            if name not in exposition.names:
                missing.setdefault(name, []).append(query.where)
    evidence.add(f"queries, against {exposition.url}", "\n".join(lines) or "no PromQL queries")
    if unchecked:
        evidence.add("not checked", "\n".join(unchecked))
    require(missing and f"expected every metric the queries read in {exposition.url}; found "
            "missing: " + "; ".join(f"{name} ({', '.join(where)})"
                                    for name, where in missing.items()))


def test_grafana_installed(
    grafana_file: tuple[Path, Kind], target: Target, evidence: GateEvidence
) -> None:
    url = getattr(target.spec, "grafana_url", None)
    if url is None:
        pytest.skip(f"target {target.name} has no grafana_url: Grafana's API is not checked")
    token_env = target.spec.grafana_token_env
    token = os.environ.get(token_env) if token_env else None
    require(token_env and not token
            and f"expected a Grafana API token in {token_env}; found: not set")
    api = GrafanaApi(url, token)
    problems = []
    try:
        for asset in assets_of(grafana_file):
            problem, answers = api.installed(asset)
            evidence.extend([(asset.label, answer.excerpt()) for answer in answers])
            problems += [problem] if problem else []
    finally:
        api.close()
    require("; ".join(problems))
