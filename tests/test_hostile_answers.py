"""Hostile answers to the HTTP, metric and Prometheus gates, from real servers on 127.0.0.1: bodies
over the cap, trickles, a TLS port that never answers, malformed Prometheus answers, redirects to
another origin; and reports that stay small whatever a gate writes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from deploy_gates.verify.http import Http, HttpError
from tests.gaterun import ROOT, run_gates, sample_project
from tests.hostile_servers import (
    Received,
    Running,
    head,
    json_answer,
    read_head,
    respond,
    serve,
    silent_port,
    stream,
    trickle,
)

MIB = 1024 * 1024
REPORT_BYTES = 1_000_000
"""No report file of these runs may be bigger, whatever the servers sent."""


@pytest.fixture
def live_dsn(monkeypatch: pytest.MonkeyPatch, pg_server) -> None:
    monkeypatch.setenv("DEMO_LIVE_DSN", pg_server.dsn)


def live_gates(pytester: pytest.Pytester, body: str, modules: tuple[str, ...], *,
               base_url: str, prometheus_url: str = "http://127.0.0.1:9") -> dict[str, dict]:
    """Run ``modules`` of verify/ on the live target of a spec pointing at these URLs."""
    project = sample_project(pytester, body, base_url=base_url, prometheus_url=prometheus_url)
    return run_gates(project, modules, target="live")


def report_sizes(pytester: pytest.Pytester) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in (pytester.path / "out").iterdir() if p.is_file()}


# 5. bodies over the cap


def huge_api(request: Received, conn, stop: threading.Event) -> None:
    if request.path == "/health":  # 30 MB of JSON, streamed without a Content-Length
        conn.sendall(head("200 OK", {"Content-Type": "application/json"}))
        stream(conn, stop, b'{"status": "', b"x", 30 * MIB, b'"}')
    elif request.path == "/declared":  # says 100 MiB, sends at most 12 MiB
        conn.sendall(head("200 OK", {"Content-Type": "application/json",
                                     "Content-Length": str(100 * MIB)}))
        stream(conn, stop, b'{"status": "', b"x", 12 * MIB)
    else:
        respond(conn, "200 OK", json.dumps({"status": "x" * 2000}).encode())


def test_answers_over_the_cap_fail_in_one_short_line(
    pytester: pytest.Pytester, live_dsn: None
) -> None:
    body = """
health:
  - {get: /health, body: {status: ok}}
  - {get: /declared, body: {status: ok}}
  - {get: /small, name: small over its cap, body: {status: ok}, max_bytes: 1KiB}
  - {get: /small, name: small, body: {status: ok}}
"""
    with serve(huge_api) as server:
        gates = live_gates(pytester, body, ("health",), base_url=server.url)
    url = server.url
    assert {n: g["message"] for n, g in gates.items()} | {"test_health[small]": ""} == {
        "test_health[GET /health]": f"GET {url}/health: body over the 10 MiB cap (max_bytes)",
        "test_health[GET /declared]": f"GET {url}/declared: body of 100 MiB (Content-Length) over "
                                      "the 10 MiB cap (max_bytes)",
        "test_health[small over its cap]": f"GET {url}/small: body of 2014 bytes (Content-Length) "
                                           "over the 1 KiB cap (max_bytes)",
        "test_health[small]": "",
    }
    small = gates["test_health[small]"]["message"]
    assert fnmatchcase(small, "body: status = 'xxx*xxx... [[]1,8* more characters] (expected 'ok')"
                       ), small
    assert len(small) < 400
    assert all(g["duration"] < 10 for g in gates.values()), gates
    assert max(report_sizes(pytester).values()) < REPORT_BYTES, report_sizes(pytester)


def exposition_stream(size: int):
    def answer(request: Received, conn, stop: threading.Event) -> None:
        conn.sendall(head("200 OK", {"Content-Type": "text/plain; version=0.0.4"}))
        stream(conn, stop, b"# TYPE big_total counter\n", b'big_total{n="1"} 1\n', size)
    return answer


def test_metrics_scrape_over_its_cap_fails_every_metric_gate_in_one_line(
    pytester: pytest.Pytester, live_dsn: None
) -> None:
    body = "metrics:\n  max_bytes: 1MiB\n  present: {big_total: {}}\n"
    with serve(exposition_stream(5 * MIB)) as server:
        gates = live_gates(pytester, body, ("metrics",), base_url=server.url)
    gate = gates["test_metric[big_total]"]
    assert gate["message"] == f"GET {server.url}/metrics: body over the 1 MiB cap (metrics.max_bytes)"
    assert gate["duration"] < 10


def test_a_100_mb_exposition_is_refused_in_bounded_memory_and_time() -> None:
    """The default cap stops a 100 MB /metrics early: the scrape runs in a process that may use
    at most 1 GiB of address space beyond what it had at start, and ends within 20 s."""
    code = """if True:
        import resource, sys
        from deploy_gates.verify.exposition import scrape
        from deploy_gates.verify.http import Http
        from deploy_gates.spec.sections import Metrics
        with open("/proc/self/statm") as f:
            size = int(f.read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (size + 2**30, size + 2**30))
        try:
            scrape(Http(sys.argv[1]), Metrics())
        except Exception as exc:
            print(type(exc).__name__, exc)
        """
    with serve(exposition_stream(100 * MIB)) as server:
        started = time.monotonic()
        out = subprocess.run([sys.executable, "-c", code, server.url], capture_output=True,
                             text=True, timeout=60, cwd=ROOT, check=False)
        elapsed = time.monotonic() - started
    assert out.stdout.strip() == (
        f"ExpositionError GET {server.url}/metrics: body over the 16 MiB cap (metrics.max_bytes)"
    ), out.stdout + out.stderr
    assert elapsed < 20


def test_exposition_errors_quote_a_clipped_line() -> None:
    from deploy_gates.verify.exposition import ExpositionError, parse

    with pytest.raises(ExpositionError) as caught:
        parse("m " + "x" * 3 * MIB + "\n", "text/plain", "http://127.0.0.1:9/metrics")
    message = str(caught.value)
    assert message.startswith("GET http://127.0.0.1:9/metrics: not a Prometheus exposition: "
                              "could not convert string to float: 'xxx")
    assert fnmatchcase(message, "*... [[]3,* more characters]"), message[-80:]
    assert len(message) < 500


# 6. trickles and 11. TLS that never starts: every exchange has a deadline


def trickler(part: str):
    """Trickles the answer's head (``head``) or its 150-byte body (``body``), one byte a second,
    for at most 10 s."""
    def answer(request: Received, conn, stop: threading.Event) -> None:
        status = head("200 OK", {"Content-Type": "application/json", "Content-Length": "150"})
        if part == "body":
            conn.sendall(status)
            trickle(conn, stop, b" " * 150)
        else:
            trickle(conn, stop, status + b" " * 150)
    return answer


TIMEOUTS = """
health:
  - {get: /health, timeout: 2s}
prometheus:
  up: {query: up, expect: "== 1", timeout: 2s}
"""


@pytest.mark.parametrize(
    ("part", "health", "query"),
    [
        ("head", "GET {url}/health: no answer within 2 s",
         "GET {url}/api/v1/query: no answer within 2 s"),
        ("body", "GET {url}/health: no complete answer within 2 s (* of 150 bytes received)",
         "GET {url}/api/v1/query: no complete answer within 2 s (* of 150 bytes received)"),
    ],
    ids=["head", "body"],
)
def test_a_trickle_is_cut_at_the_exchange_deadline(
    pytester: pytest.Pytester, live_dsn: None, part: str, health: str, query: str
) -> None:
    with serve(trickler(part)) as server:
        gates = live_gates(pytester, TIMEOUTS, ("health", "prometheus"), base_url=server.url,
                           prometheus_url=server.url)
    for name, wanted in (("test_health[GET /health]", health), ("test_prometheus[up]", query)):
        gate = gates[name]
        assert fnmatchcase(gate["message"], wanted.format(url=server.url)), gate["message"]
        assert gate["duration"] < 8, gate  # the trickle would last 10 s


def keep_alive_then_trickle(request: Received, conn, stop: threading.Event) -> None:
    """Answers the first request and keeps the connection; trickles the answer to the next."""
    body = b'{"status": "ok"}'
    conn.sendall(head("200 OK", {"Content-Type": "application/json",
                                 "Content-Length": str(len(body))}, close=False) + body)
    if read_head(conn) is not None:
        conn.sendall(head("200 OK", {"Content-Length": "150"}))
        trickle(conn, stop, b" " * 150)


def test_the_deadline_holds_on_a_kept_alive_connection() -> None:
    with serve(keep_alive_then_trickle) as server:
        http = Http(server.url)
        assert http.get("/first", timeout_s=2).json() == {"status": "ok"}
        started = time.monotonic()
        with pytest.raises(HttpError) as caught:
            http.get("/second", timeout_s=2)
        elapsed = time.monotonic() - started
        http.close()
    assert fnmatchcase(str(caught.value), f"GET {server.url}/second: no complete answer within 2 s "
                       "(* of 150 bytes received)"), caught.value
    assert elapsed < 8  # the trickle would last 10 s: the 2 s deadline cut it
    assert len(server.received) == 1  # one connection, reused


def test_a_tls_handshake_that_never_ends_says_so_with_its_deadline(
    pytester: pytest.Pytester, live_dsn: None
) -> None:
    with silent_port() as port:
        url = f"https://127.0.0.1:{port}"
        gates = live_gates(pytester, TIMEOUTS, ("health", "prometheus"), base_url=url,
                           prometheus_url=url)
    assert {n: g["message"] for n, g in gates.items()} == {
        "test_health[GET /health]": f"GET {url}/health: no TLS handshake within 2 s",
        "test_prometheus[up]": f"GET {url}/api/v1/query: no TLS handshake within 2 s",
    }
    assert all(g["duration"] < 12 for g in gates.values()), gates  # a silent port never ends


def test_a_tls_handshake_gets_the_connect_timeout_by_default() -> None:
    with silent_port() as port:
        http = Http(f"https://127.0.0.1:{port}")
        started = time.monotonic()
        with pytest.raises(HttpError) as caught:
            http.get("/health")
        elapsed = time.monotonic() - started
    assert str(caught.value) == f"GET https://127.0.0.1:{port}/health: no TLS handshake within 5 s"
    assert 4.5 < elapsed < 12  # the 5 s default, not forever


# 11. malformed Prometheus answers


SHAPES = {
    "bad_result": {"resultType": "vector", "result": "x"},
    "not_a_number": {"resultType": "vector",
                     "result": [{"metric": {"job": "api"}, "value": [1700000000, "notanumber"]}]},
    "no_value": {"resultType": "vector", "result": [{"metric": {"job": "api"}}]},
    "bad_scalar": {"resultType": "scalar", "result": "x"},
    "unknown_type": {"resultType": "histogram", "result": []},
    "nan": {"resultType": "vector", "result": [{"metric": {}, "value": [1700000000, "NaN"]}]},
    "inf": {"resultType": "vector", "result": [{"metric": {}, "value": [1700000000, "+Inf"]}]},
}


def fake_prometheus(request: Received, conn, stop: threading.Event) -> None:
    query = request.query("query")
    if query == "no_data":
        json_answer(conn, {"status": "success"})
    elif query == "a_list":
        json_answer(conn, [1, 2])
    else:
        json_answer(conn, {"status": "success", "data": SHAPES[query]})


def test_malformed_prometheus_answers_are_one_line_naming_query_and_url(
    pytester: pytest.Pytester, live_dsn: None
) -> None:
    names = [*SHAPES, "no_data", "a_list"]
    body = "prometheus:\n" + "".join(f"  {n}: {{query: {n}, expect: '> 0'}}\n" for n in names)
    with serve(fake_prometheus) as server:
        gates = live_gates(pytester, body, ("prometheus",), base_url=server.url,
                           prometheus_url=server.url)
    where = f"{server.url}/api/v1/query"
    assert {n.removeprefix("test_prometheus[")[:-1]: g["message"] for n, g in gates.items()} == {
        "bad_result": f"{where} (bad_result): malformed answer: the vector's result is not a list",
        "not_a_number": f'{where} (not_a_number): malformed answer: value \'notanumber\' of '
                        '{job="api"} is not a number',
        "no_value": f'{where} (no_value): malformed answer: series {{job="api"}} has no '
                    "[time, value] pair",
        "bad_scalar": f"{where} (bad_scalar): malformed answer: the scalar is not a [time, value] "
                      "pair",
        "unknown_type": f"{where} (unknown_type): the result is a histogram; a gate needs an "
                        "instant vector or a scalar",
        "nan": "expected nan > 0; found nan",
        "inf": "",
        "no_data": f"{where} (no_data): malformed answer: no data object",
        "a_list": f"{where} (a_list): malformed answer: not a JSON object",
    }


# 13. redirects


@pytest.fixture
def other_origin() -> Iterator[Running]:
    """The origin redirects point to: answers ``{"status": "ok"}``."""
    with serve(lambda request, conn, stop: json_answer(conn, {"status": "ok"})) as server:
        yield server


def redirecting(to: str):
    def answer(request: Received, conn, stop: threading.Event) -> None:
        moves = {"/health": ("302 Found", f"{to}/health"), "/moved": ("301 Moved", "/here"),
                 "/loop": ("302 Found", "/loop")}
        if request.path in moves:
            status, location = moves[request.path]
            respond(conn, status, content_type="text/plain", Location=location)
        else:
            json_answer(conn, {"status": "ok"})
    return answer


def test_redirects_stay_on_the_origin_unless_the_spec_allows_and_are_all_evidence(
    pytester: pytest.Pytester, live_dsn: None, other_origin: Running,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEMO_REDIRECT_TOKEN", "tk-redirect-secret")
    body = """
health:
  - {get: /health, body: {status: ok}}
  - {get: /moved, body: {status: ok}}
  - {get: /health, name: elsewhere allowed, body: {status: ok}, follow_redirects: any,
     auth_env: DEMO_REDIRECT_TOKEN}
  - {get: /health, name: not followed, status: 302, follow_redirects: none}
  - {get: /loop}
"""
    with serve(redirecting(other_origin.url)) as server:
        gates = live_gates(pytester, body, ("health",), base_url=server.url)
    url, other = server.url, other_origin.url
    assert {n: g["message"] for n, g in gates.items()} == {
        "test_health[GET /health]": f"GET {url}/health: redirect to another origin not followed "
                                    f"(follow_redirects: same-origin): 302 -> {other}/health",
        "test_health[GET /moved]": "",
        "test_health[elsewhere allowed]": "",
        "test_health[not followed]": "",
        "test_health[GET /loop]": f"GET {url}/loop: more than 10 redirects: 302 -> {url}/loop",
    }
    moved = gates["test_health[GET /moved]"]["evidence"][0]["text"].splitlines()
    assert moved[0] == f"GET {url}/moved -> 301 Location: /here"
    assert fnmatchcase(moved[1], f"GET {url}/here -> 200 in * ms"), moved
    allowed = gates["test_health[elsewhere allowed]"]["evidence"][0]["text"].splitlines()
    assert allowed[0] == f"GET {url}/health -> 302 Location: {other}/health"
    assert fnmatchcase(allowed[1], f"GET {other}/health -> 200 in * ms"), allowed
    assert [r.headers.get("authorization") for r in other_origin.received] == [None]


# every message and evidence entry is bounded where the reports are made


def test_a_gate_that_writes_megabytes_leaves_small_reports_and_no_secret(
    pytester: pytest.Pytester, live_dsn: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-" + "s" * 40
    monkeypatch.setenv("DG_CLIP_SECRET", secret)
    custom = Path(pytester.path / "test_custom.py")
    custom.write_text(
        "from deploy_gates.verify.outcome import fail_gate\n"
        "import os\n"
        "def test_huge(evidence):\n"
        "    secret = os.environ['DG_CLIP_SECRET']\n"
        "    evidence.add('big', 'y' * 1990 + secret + 'y' * 5_000_000)\n"
        "    fail_gate('x' * 1990 + secret + 'x' * 5_000_000)\n"
    )
    sample_project(pytester, "secrets: [DG_CLIP_SECRET]\n")
    result = pytester.runpytest_subprocess(
        "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
        str(custom), "--target=live", f"--runbook={pytester.path / 'runbook.yaml'}",
        f"--report-dir={pytester.path / 'out'}", timeout=120,
    )
    result.assert_outcomes(failed=1)
    assert max(report_sizes(pytester).values()) < REPORT_BYTES, report_sizes(pytester)
    (path,) = (pytester.path / "out").glob("*.json")
    (gate,) = json.loads(path.read_text())["gates"]
    assert fnmatchcase(gate["message"], "x" * 1990 + "***x*... [[]5,000,* more characters]")
    assert len(gate["message"]) < 2100
    assert fnmatchcase(gate["evidence"][0]["text"], "y" * 1990 + "***y*... [[]*more characters]")
    everything = "\n".join(p.read_text(errors="replace") for p in (pytester.path / "out").iterdir())
    assert secret[:8] not in everything + result.stdout.str()


@pytest.mark.parametrize(
    ("item", "error"),
    [
        ("{get: /health, max_bytes: 10MB}", ":5: health.0.max_bytes: Value error, '10MB' is not a "
                                            "size like 512KiB, 10MiB or 1048576 (bytes)"),
        ("{get: /health, follow_redirects: always}",
         ":5: health.0.follow_redirects: Input should be 'same-origin', 'any' or 'none'"),
    ],
)
def test_limits_in_the_spec_are_checked_when_it_loads(tmp_path: Path, item: str, error: str) -> None:
    from deploy_gates.spec.runbook import load_runbook
    from deploy_gates.spec.yamlsource import SpecError

    path = tmp_path / "runbook.yaml"
    path.write_text(f"system: demo\nrelease: '1'\ntargets: {{}}\nhealth:\n  - {item}\n")
    with pytest.raises(SpecError) as caught:
        load_runbook(path)
    assert str(caught.value) == f"{path}{error}"
