"""Grafana: the dashboard and alert-rule files are valid, the rules enabled, every query on the
spec's datasource and every metric it reads exposed by the service; on a live target with a
grafana_url, Grafana has them installed and the rules are not paused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deploy_gates.fixtures.targets import Target, known_runbook
from deploy_gates.reports.evidence import GateEvidence
from deploy_gates.spec.runbook import Runbook
from deploy_gates.verify.exposition import Exposition
from deploy_gates.verify.grafana import (
    Asset,
    AssetError,
    GrafanaApi,
    Kind,
    datasource_problems,
    metric_names,
    read_assets,
)
from deploy_gates.verify.outcome import fail_gate, require

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
    exposed = exposition.series_names()
    missing: dict[str, list[str]] = {}
    lines, unchecked = [], []
    for query in (q for a in assets for q in a.queries if q.promql):
        refs = metric_names(query.promql)
        lines.append(f"{query.where}: {query.promql}\n  metrics: {', '.join(refs.names) or '-'}")
        unchecked += [f"{query.where}: {ref}" for ref in refs.unchecked]
        for name in refs.names:
            if name not in exposed:
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
