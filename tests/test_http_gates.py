"""Health and smoke gates against the real sample service, healthy and with each fault switched on."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from fnmatch import fnmatchcase

import pytest

from tests.gaterun import ROOT, run_gates, sample_project

pytestmark = pytest.mark.usefixtures("sample_on_path")

GRANTER_FLOW = """
health:
  - {get: /health, body: {status: healthy, services.database: up}, within: 1s}
smoke:
  register_login_me:
    steps:
      - {post: /auth/register, json: {email: "ada@example.com", password: "correct horse 1"},
         status: 201, save: {user_id: "$.id", email: "$.email"}}
      - {post: /auth/login, json: {email: "{email}", password: "correct horse 1"},
         save: {token: "$.access_token"}}
      - {get: /auth/me, headers: {Authorization: "Bearer {token}"}, body: {email: "{email}"}}
      - sql: "SELECT count(*) AS n FROM granter.users WHERE email = %(email)s"
        expect: {n: 1}
    finally:
      - {get: /health}
"""


def project(pytester: pytest.Pytester, *, body: str = GRANTER_FLOW, **spec: str) -> pytest.Pytester:
    return sample_project(pytester, body, **spec)


def run(pytester: pytest.Pytester, *args: str, target: str = "rehearsal") -> dict[str, dict]:
    return run_gates(pytester, ("health", "smoke"), *args, target=target)


def test_healthy_service_passes_health_and_flow(pytester: pytest.Pytester) -> None:
    gates = run(project(pytester))
    assert gates["test_health[GET /health]"]["outcome"] == "passed"
    flow = gates["test_smoke[register_login_me]"]
    assert flow["outcome"] == "passed", flow["message"]
    titles = [e["title"] for e in flow["evidence"]]
    assert titles == ["POST /auth/register", "POST /auth/login", "GET /auth/me", "SQL", "GET /health"]
    assert "***" in flow["evidence"][1]["text"]  # the access token in the login answer is masked


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("health_503", "status 503 (expected 200)"),
        ("health_degraded", "body: status = 'degraded' (expected 'healthy'); services.database = "
                            "'down' (expected 'up')"),
        ("html_health", "GET http://127.0.0.1:*/health: expected a JSON body, got text/html*"),
        ("slow", "took 1* ms (budget 1000 ms)"),
    ],
)
def test_health_fails_on_its_fault(pytester: pytest.Pytester, fault: str, message: str) -> None:
    gate = run(project(pytester, faults=fault))["test_health[GET /health]"]
    assert gate["outcome"] == "failed"
    assert fnmatchcase(gate["message"], message), gate["message"]


def test_failing_step_is_named_and_cleanup_still_runs(pytester: pytest.Pytester) -> None:
    flow = run(project(pytester, faults="step_500"))["test_smoke[register_login_me]"]
    assert flow["outcome"] == "failed"
    assert flow["message"].startswith("step 1 (POST /auth/register): status 500 (expected 201)")
    assert [e["title"] for e in flow["evidence"]] == ["POST /auth/register", "GET /health"]


def test_missing_header_is_named(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = f"""
migrations: {{dir: {ROOT / "examples" / "tascade" / "migrations"}}}
smoke:
  metrics_summary:
    destructive: false
    steps:
      - {{get: /v1/metrics/summary, query: {{project_id: "00000000-0000-0000-0000-000000000000"}},
         auth_env: DEMO_TASCADE_KEY, status: [200, 404], expect_headers: {{X-API-Version: "1.0"}}}}
"""
    monkeypatch.setenv("DEMO_TASCADE_KEY", "tk-12345678")
    healthy = run(project(pytester, system="tascade", body=body))
    assert healthy["test_smoke[metrics_summary]"]["outcome"] == "passed"
    (pytester.path / "out").rename(pytester.path / "out-healthy")
    broken = run(project(pytester, system="tascade", faults="missing_header", body=body))
    assert broken["test_smoke[metrics_summary]"]["message"].endswith(
        "header X-API-Version: missing (expected 1.0)")


def test_sql_step_polls_then_names_the_mismatch(pytester: pytest.Pytester) -> None:
    body = """
smoke:
  refund_path:
    steps:
      - {post: /jobs, json: {model: test, simulate_failure: true}, status: 202,
         save: {job_id: "$.job_id"}}
      - sql: "SELECT refund_retry_count FROM router.jobs WHERE job_id = %(job_id)s"
        expect: {refund_retry_count: "> 0"}
        within: 1s
        every: 200ms
"""
    gates = run(project(pytester, system="router-api", faults="no_refund", body=body))
    flow = gates["test_smoke[refund_path]"]
    assert flow["message"] == ("step 2 (sql): refund_retry_count = 0 (expected '> 0') after 1 s")
    assert sum(e["title"] == "SQL" for e in flow["evidence"]) >= 3


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections on 127.0.0.1 and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("refused", "GET http://127.0.0.1:9/health: cannot connect: *Connection refused*"),
        ("silent", "GET http://127.0.0.1:*/health: no answer within 1 s"),
    ],
)
def test_unreachable_live_service_is_one_line_and_other_gates_run(
    pytester: pytest.Pytester, silent_server: int, where: str, message: str,
    monkeypatch: pytest.MonkeyPatch, pg_server,
) -> None:
    monkeypatch.setenv("DEMO_LIVE_DSN", pg_server.dsn)
    base = "http://127.0.0.1:9" if where == "refused" else f"http://127.0.0.1:{silent_server}"
    body = "health:\n  - {get: /health, timeout: 1s}\n  - {get: /ready, timeout: 1s}\n"
    gates = run(project(pytester, base_url=base, body=body), target="live")
    for name in ("test_health[GET /health]", "test_health[GET /ready]"):
        assert gates[name]["outcome"] == "failed"
    assert fnmatchcase(gates["test_health[GET /health]"]["message"], message)


def test_tls_error_and_missing_token_are_one_line(
    pytester: pytest.Pytester, html_page: str, monkeypatch: pytest.MonkeyPatch, pg_server
) -> None:
    monkeypatch.setenv("DEMO_LIVE_DSN", pg_server.dsn)
    monkeypatch.delenv("DEMO_UNSET_TOKEN", raising=False)
    body = """
health:
  - {get: /health, timeout: 5s}
smoke:
  me:
    destructive: false
    steps:
      - {get: /auth/me, auth_env: DEMO_UNSET_TOKEN}
"""
    tls = html_page.replace("http://", "https://")
    gates = run(project(pytester, base_url=tls, body=body), target="live")
    assert fnmatchcase(gates["test_health[GET /health]"]["message"],
                       f"GET {tls}/health: TLS error: *"), gates["test_health[GET /health]"]
    assert gates["test_smoke[me]"]["message"] == (
        "step 1 (GET /auth/me): environment variable DEMO_UNSET_TOKEN (auth_env) is not set")


def test_flows_that_write_are_refused_on_live_targets(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, pg_server
) -> None:
    monkeypatch.setenv("DEMO_LIVE_DSN", pg_server.dsn)
    gates = run(project(pytester), target="live")
    flow = gates["test_smoke[register_login_me]"]
    assert flow["outcome"] == "skipped"
    assert "pass --allow-destructive=live" in flow["message"]


SERVE = """\
import json, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"status": "ok", "cwd": os.getcwd(), "python": sys.executable,
                           "greeting": os.environ.get("GREETING")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def test_start_command_runs_in_the_spec_folder_with_the_running_python(
    pytester: pytest.Pytester,
) -> None:
    folder = pytester.mkdir("service")
    (folder / "serve.py").write_text(SERVE)
    (folder / "runbook.yaml").write_text(f"""\
system: demo
release: "1"
targets:
  rehearsal:
    kind: ephemeral
    provider: embedded
    start:
      command: ["{{python}}", serve.py, "{{port}}"]
      env: {{GREETING: hello}}
health:
  - {{get: /health, body: {{status: ok, cwd: "{folder}", python: "{sys.executable}",
                            greeting: hello}}}}
""")
    result = pytester.runpytest_subprocess(
        "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
        str(ROOT / "verify" / "test_health.py"), f"--runbook={folder / 'runbook.yaml'}",
        f"--report-dir={pytester.path / 'out'}", "--target=rehearsal", timeout=120,
    )
    assert result.ret == 0, result.stdout.str()[-2000:]
    result.stdout.fnmatch_lines(["GO: 1 passed, 0 failed, 0 skipped"])


def test_a_flow_saves_a_value_from_a_response_header(pytester: pytest.Pytester) -> None:
    body = """
smoke:
  session_header:
    steps:
      - {post: /auth/register, json: {email: "hd@example.com", password: "correct horse 1"},
         status: 201}
      - {post: /auth/login, json: {email: "hd@example.com", password: "correct horse 1"},
         save: {session: "header:X-Session-Token"}}
      - {get: /auth/me, headers: {Authorization: "Bearer {session}"}, body: {email: "hd@example.com"}}
  missing_header:
    steps:
      - {get: /health, save: {session: "header:X-No-Such-Header"}}
"""
    gates = run(project(pytester, body=body))
    flow = gates["test_smoke[session_header]"]
    assert flow["outcome"] == "passed", flow["message"]
    assert "X-Session-Token: ***" in flow["evidence"][1]["text"]
    assert gates["test_smoke[missing_header]"]["message"] == (
        "step 1 (GET /health): cannot save session: header X-No-Such-Header is not in the answer")
