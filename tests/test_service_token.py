"""``{token}`` in a start command: a random key of the run that the service and the flows'
``auth_env`` share, and that no output shows."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from deploy_gates.fixtures.service import start_service, stop_service
from deploy_gates.redact import Redactor
from deploy_gates.spec.sections import ServiceStart
from tests.gaterun import ROOT, run_gates

SERVE = ("import os, sys, http.server; open('seen.txt', 'w').write(os.environ['API_KEY']); "
         "http.server.test(http.server.SimpleHTTPRequestHandler, port=int(sys.argv[1]), "
         "bind='127.0.0.1')")


def _start(tmp_path: Path, redactor: Redactor) -> str:
    start = ServiceStart(command=[sys.executable, "-c", SERVE, "{port}"],
                         env={"API_KEY": "{token}"}, ready="/", timeout=20)
    process, service = start_service(start, {"": "dbname=x"}, tmp_path / "service.log",
                                     redactor, tmp_path)
    stop_service(process)
    token = (tmp_path / "seen.txt").read_text()
    assert service.env["API_KEY"] == token
    return token


def test_each_start_gets_a_new_token_that_is_masked(tmp_path: Path) -> None:
    redactor = Redactor()
    first, second = _start(tmp_path, redactor), _start(tmp_path, redactor)
    assert first != second and len(first) >= 32
    assert redactor(f"key {first} and {second}") == "key *** and ***"


TASCADE = f"""\
system: tascade-demo
release: "1"
secrets: [TASCADE_API_KEY]
targets:
  rehearsal:
    kind: ephemeral
    provider: embedded
    start:
      command: [{sys.executable}, -m, examples.sample_service, --system, tascade, --dsn, "{{dsn}}",
                --port, "{{port}}", --log-file, "{{log_file}}", --demo-project, smoke]
      env: {{PYTHONPATH: "{ROOT}", TASCADE_API_KEY: "{{token}}"}}
  live:
    kind: live
    dsn_env: DEMO_LIVE_DSN
    base_url: http://127.0.0.1:9
migrations: {{dir: {ROOT / "examples" / "tascade" / "migrations"}}}
smoke:
  metrics_summary:
    destructive: false
    steps:
      - sql: SELECT id::text AS id, name FROM projects WHERE name = 'smoke'
        save: {{project_id: id}}
      - {{get: /v1/metrics/summary, query: {{project_id: "{{project_id}}"}},
         auth_env: TASCADE_API_KEY, expect_headers: {{X-API-Version: "1.0"}},
         body: {{project_id: "{{project_id}}"}}}}
  unknown_column:
    destructive: false
    steps:
      - sql: SELECT 1 AS one
        save: {{two: two}}
"""


def test_flows_read_auth_env_from_the_started_service_and_save_sql_columns(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TASCADE_API_KEY", raising=False)
    pytester.makefile(".yaml", runbook=TASCADE)
    gates = run_gates(pytester, ("smoke",))
    flow = gates["test_smoke[metrics_summary]"]
    assert flow["outcome"] == "passed", flow["message"]
    sql, summary = flow["evidence"][0]["text"], flow["evidence"][1]["text"]
    assert "-> {'id': '***', 'name': 'smoke'}" in sql  # a saved column is secret unless public
    assert '"project_id":"***"' in summary
    assert gates["test_smoke[unknown_column]"]["message"] == (
        "step 1 (sql): cannot save two: no such column in the row (columns: one)")
