"""Prometheus gates against a real Prometheus (Debian's package) scraping the real sample service:
thresholds met and missed, polling windows, "no data" failed or inconclusive, and Prometheus
answering errors, HTML or nothing at all."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from deploy_gates.fixtures.ephemeral import Server
from tests.examplecopy import sample_serving
from tests.gaterun import ROOT, run_gates, sample_project
from tests.prometheus_server import running_prometheus

pytestmark = pytest.mark.usefixtures("sample_on_path")


@dataclass(frozen=True)
class Live:
    """The sample service on a real database, and a Prometheus scraping it."""

    service_url: str
    prometheus_url: str
    dsn: str


@pytest.fixture(scope="module")
def live(pg_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("live")
    dsn = pg_server.create_database("router")
    with (sample_serving("router-api", dsn, workdir) as base_url,
          running_prometheus([base_url.removeprefix("http://")], workdir) as url):
        yield Live(base_url, url, dsn)


def prometheus_gates(pytester: pytest.Pytester, live: Live, body: str, *,
                     prometheus_url: str | None = None,
                     monkeypatch: pytest.MonkeyPatch) -> dict[str, dict]:
    monkeypatch.setenv("DEMO_LIVE_DSN", live.dsn)
    project = sample_project(pytester, body, base_url=live.service_url,
                             prometheus_url=prometheus_url or live.prometheus_url)
    return run_gates(project, ("prometheus",), target="live")


def test_thresholds_met_and_missed_with_every_attempt_recorded(
    pytester: pytest.Pytester, live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = """
prometheus:
  scraped: {query: 'up{job="service"}', expect: "== 1"}
  refund_counter_exposed: {query: count(router_refund_retries_total), expect: "> 0", within: 5s,
                           every: 500ms}
  no_refunds_yet: {query: sum(router_refund_retries_total), expect: "> 5", within: 2s,
                   every: 500ms}
"""
    gates = prometheus_gates(pytester, live, body, monkeypatch=monkeypatch)
    assert gates["test_prometheus[scraped]"]["outcome"] == "passed"
    assert gates["test_prometheus[refund_counter_exposed]"]["outcome"] == "passed"
    missed = gates["test_prometheus[no_refunds_yet]"]
    assert missed["outcome"] == "failed"
    assert fnmatchcase(missed["message"], "expected sum(router_refund_retries_total) > 5; found 0 "
                       "(* attempts over 2 s)"), missed["message"]
    attempts = missed["evidence"][0]["text"].splitlines()
    assert len(attempts) >= 3
    assert all(fnmatchcase(line, "??:??:??.???  0") for line in attempts), attempts
    assert missed["evidence"][0]["title"] == (
        f"sum(router_refund_retries_total) (expect > 5) at {live.prometheus_url}")


def test_no_data_fails_by_default_and_is_inconclusive_when_the_spec_says(
    pytester: pytest.Pytester, live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = """
prometheus:
  error_rate:
    query: sum(rate(http_requests_total{status=~"5.."}[5m])) > 0
    expect: "< 0.001"
    within: 1s
    every: 500ms
    no_data: inconclusive
"""
    gates = prometheus_gates(pytester, live, body, monkeypatch=monkeypatch)
    gate = gates["test_prometheus[error_rate]"]
    assert gate["outcome"] == "inconclusive"
    assert gate["message"] == ('inconclusive: sum(rate(http_requests_total{status=~"5.."}[5m])) '
                               "> 0: no data: the query returned no series (3 attempts over 1 s)")
    summary = next((pytester.path / "out").glob("*.json")).read_text()
    assert '"verdict": "INCONCLUSIVE"' in summary
    (pytester.path / "out").rename(pytester.path / "out-inconclusive")
    failing = prometheus_gates(pytester, live, body.replace("no_data: inconclusive", ""),
                               monkeypatch=monkeypatch)["test_prometheus[error_rate]"]
    assert failing["outcome"] == "failed"
    assert failing["message"].endswith("no data: the query returned no series (3 attempts over "
                                       "1 s)")


def test_inconclusive_run_exits_6(
    pytester: pytest.Pytester, live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_LIVE_DSN", live.dsn)
    sample_project(pytester, "prometheus:\n  gone: {query: absent_xyz, expect: '> 0', "
                   "no_data: inconclusive}\n", base_url=live.service_url,
                   prometheus_url=live.prometheus_url)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir",
         str(ROOT), str(ROOT / "verify" / "test_prometheus.py"), "--target=live",
         f"--runbook={pytester.path / 'runbook.yaml'}", f"--report-dir={pytester.path / 'out'}"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 6, done.stdout[-2000:]
    assert done.stdout.splitlines()[-1] == "INCONCLUSIVE: 0 passed, 0 failed, 1 skipped"


@pytest.mark.parametrize(
    ("query", "where", "message"),
    [
        ("sum(", "prometheus", "{url}/api/v1/query (sum(): bad_data: *parse error*"),
        ("up[1m]", "prometheus", "{url}/api/v1/query (up[[]1m]): the result is a matrix; a gate "
                                 "needs an instant vector or a scalar"),
        ("up", "service", "{url}/api/v1/query (up): HTTP 404: no route for GET /api/v1/query"),
        ("up", "login_page", "GET {url}/api/v1/query: expected a JSON body, got "
                             "text/html: '<html><body>Sign in</body></html>'"),
        ("up", "nowhere", "GET {url}/api/v1/query: cannot connect: *Connection refused*"),
    ],
)
def test_prometheus_errors_are_one_line_and_end_the_poll(
    pytester: pytest.Pytester, live: Live, monkeypatch: pytest.MonkeyPatch, query: str,
    where: str, message: str, html_page: str,
) -> None:
    url = {"prometheus": live.prometheus_url, "service": live.service_url,
           "login_page": html_page, "nowhere": "http://127.0.0.1:9"}[where]
    body = f"prometheus:\n  broken: {{query: '{query}', expect: '> 0', within: 30s}}\n" \
           "  scraped: {query: up, expect: '== 1'}\n"
    gates = prometheus_gates(pytester, live, body, prometheus_url=url, monkeypatch=monkeypatch)
    gate = gates["test_prometheus[broken]"]
    assert gate["outcome"] == "failed"
    assert fnmatchcase(gate["message"], message.format(url=url)), gate["message"]
    assert "\n" not in gate["message"]
    assert len(gate["evidence"][0]["text"].splitlines()) == 1  # no polling after an error
    assert gate["duration"] < 20


def test_target_without_prometheus_skips(pytester: pytest.Pytester) -> None:
    sample_project(pytester, "prometheus:\n  scraped: {query: up, expect: '== 1'}\n",
                   system="router-api")
    gate = run_gates(pytester, ("prometheus",))["test_prometheus[scraped]"]
    assert gate["outcome"] == "skipped"
    assert gate["message"] == "target rehearsal has no prometheus_url: Prometheus is not queried"


def test_custom_gate_uses_the_public_fixtures(
    pytester: pytest.Pytester, live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    custom = Path(pytester.path / "test_custom.py")
    custom.write_text(
        "def test_refunds_scraped(prometheus, exposition, http):\n"
        "    (series,) = prometheus.query('count(router_refund_retries_total)')\n"
        "    assert series.value == 1\n"
        "    assert exposition.value('router_refund_retries_total') == 0\n"
        "    assert http.get('/health').status == 200\n"
    )
    monkeypatch.setenv("DEMO_LIVE_DSN", live.dsn)
    sample_project(pytester, "", base_url=live.service_url, prometheus_url=live.prometheus_url)
    result = pytester.runpytest_subprocess(
        "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
        str(custom), "--target=live",
        f"--runbook={pytester.path / 'runbook.yaml'}", f"--report-dir={pytester.path / 'out'}",
        timeout=120,
    )
    result.assert_outcomes(passed=1)
