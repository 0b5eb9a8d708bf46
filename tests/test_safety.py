"""Safe against production: secrets never reach an output, live gates never write,
destructive gates need explicit permission; evidence reaches the change ticket."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from deploy_gates.migrate import MigrationLog, discover, up
from deploy_gates.redact import Redactor
from psycopg.conninfo import make_conninfo

from tests.dbtools import write_counters

ROOT = Path(__file__).resolve().parent.parent
DSN_PASSWORD = "PW-dsn-91f3c"
API_KEY = "sk-demo-SECRET-5512"
BODY_TOKEN = "tok-body-7781xyz"
WEBHOOK = "https://hooks.slack.com/services/T000/B000/whk3391abc"
COOKIE = "session=ck-4410-qq"
PLANTED = (DSN_PASSWORD, API_KEY, BODY_TOKEN, "whk3391abc", "ck-4410-qq")

SPEC = """\
system: demo
release: "2.0"
secrets: [DEMO_API_KEY]
targets:
  staging: {kind: live, dsn_env: DEMO_STAGING_DSN}
  prod: {kind: live, dsn_env: DEMO_PROD_DSN, protected: true}
ticket: {url: "http://127.0.0.1:PORT", token_env: DEMO_JIRA_TOKEN}
"""

LEAKY_GATES = f"""\
import json, os
import pytest

def test_dsn_in_message(target):
    pytest.fail("cannot use " + os.environ["DEMO_STAGING_DSN"], pytrace=False)

def test_key_in_output(target):
    print("Authorization: Bearer " + os.environ["DEMO_API_KEY"])
    print("Cookie: {COOKIE}")
    assert os.environ["DEMO_API_KEY"] == "something else"

def test_body_in_error(target):
    body = json.dumps({{"access_token": "{BODY_TOKEN}", "user": "x"}})
    raise RuntimeError("unexpected response " + body)

def test_webhook_in_skip(target):
    pytest.skip("alert delivery to {WEBHOOK} not checked")
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, pg_server) -> pytest.Pytester:
    for var in ("DEPLOY_GATES_TARGET", "DEPLOY_GATES_ALLOW_DESTRUCTIVE",
                "DEPLOY_GATES_CONFIRM_PROTECTED", "DEPLOY_GATES_TICKET"):
        monkeypatch.delenv(var, raising=False)
    dsn = make_conninfo(pg_server.dsn, password=DSN_PASSWORD)
    monkeypatch.setenv("DEMO_STAGING_DSN", dsn)
    monkeypatch.setenv("DEMO_PROD_DSN", dsn)
    monkeypatch.setenv("DEMO_API_KEY", API_KEY)
    pytester.makefile(".yaml", runbook=SPEC)
    pytester.makeini("[pytest]\nrunbook = runbook.yaml\nreport_dir = out\n")
    return pytester


def run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest("-rA", *args, str(project.path))


def test_planted_secrets_reach_no_artifact_and_no_terminal(project: pytest.Pytester) -> None:
    project.makepyfile(test_leaky=LEAKY_GATES)
    result = run(project, "--target=staging")
    result.assert_outcomes(failed=3, skipped=1)
    outputs = {"terminal": result.stdout.str() + result.stderr.str()}
    outputs |= {p.name: p.read_text() for p in (project.path / "out").iterdir()}
    assert {p.rsplit(".", 1)[1] for p in outputs if p != "terminal"} == {"html", "xml", "json", "md"}
    leaks = [(name, secret) for name, text in outputs.items() for secret in PLANTED if secret in text]
    assert leaks == [], [t[max(0, t.find(s) - 300):t.find(s) + 50] for n, s in leaks
                         for t in [outputs[n]]]
    assert "Authorization: ***" in outputs["terminal"]  # the line is still there, masked


def test_migration_logs_mask_secrets(tmp_path: Path) -> None:
    log = MigrationLog.create(tmp_path, "deploy", Redactor([API_KEY]))
    log.write(f"failed: key {API_KEY} rejected by host=db password={DSN_PASSWORD}")
    text = log.path.read_text()
    assert API_KEY not in text and DSN_PASSWORD not in text and "password=***" in text


def test_live_gates_run_read_only(project: pytest.Pytester) -> None:
    project.makepyfile(test_write="""
        def test_sneaky_write(db):
            db.execute("CREATE TABLE sneaky (id int)")
    """)
    result = run(project, "--target=staging")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*cannot execute CREATE TABLE in a read-only transaction*"])


def test_full_postdeploy_pass_on_live_writes_nothing(
    pytester: pytest.Pytester, tmp_path: Path, pg_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = tmp_path / "tascade"
    shutil.copytree(ROOT / "examples" / "tascade", release)
    dsn = pg_server.create_database("live")
    up(dsn, discover(release / "migrations"))
    before = write_counters(dsn)
    monkeypatch.setenv("TASCADE_STAGING_DATABASE_URL", dsn)
    result = pytester.runpytest_subprocess(
        "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), str(ROOT / "verify"),
        f"--runbook={release / 'runbook.yaml'}", f"--report-dir={tmp_path / 'out'}",
        "--target=staging", timeout=300,
    )
    assert result.ret == 0, result.stdout.str()[-2000:]
    assert write_counters(dsn) == before


DESTRUCTIVE = """
import pytest

@pytest.mark.destructive
def test_smoke_that_writes(target):
    pass
"""


def test_destructive_gates_are_refused_on_live_with_how_to_proceed(project: pytest.Pytester) -> None:
    project.makepyfile(test_d=DESTRUCTIVE)
    result = run(project, "--target=staging")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*destructive gates run only on ephemeral targets; 'staging' is "
                                 "live (pass --allow-destructive=staging)*"])
    run(project, "--target=staging", "--allow-destructive=staging").assert_outcomes(passed=1)


def test_allow_destructive_must_name_the_target_exactly(project: pytest.Pytester) -> None:
    project.makepyfile(test_d=DESTRUCTIVE)
    result = run(project, "--target=prod", "--allow-destructive=staging")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--allow-destructive=staging does not name the target 'prod'*"])


def test_protected_target_also_needs_confirmation_from_the_environment(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makepyfile(test_d=DESTRUCTIVE)
    skipped = run(project, "--target=prod")
    skipped.stdout.fnmatch_lines(["*(pass --allow-destructive=prod and set "
                                  "DEPLOY_GATES_CONFIRM_PROTECTED=prod)*"])
    refused = run(project, "--target=prod", "--allow-destructive=prod")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*target 'prod' is protected: destructive steps on it also need "
                                  "DEPLOY_GATES_CONFIRM_PROTECTED=prod in the environment*"])
    monkeypatch.setenv("DEPLOY_GATES_CONFIRM_PROTECTED", "prod")
    run(project, "--target=prod", "--allow-destructive=prod").assert_outcomes(passed=1)


class JiraStub(BaseHTTPRequestHandler):
    """Answers Jira's attachment API the documented way, recording what it was sent."""

    status = 200
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body)
        parts = [(p.get_param("name", header="content-disposition"), p.get_filename(),
                  p.get_payload(decode=True)) for p in message.iter_parts()]
        self.received.append({"path": self.path, "headers": dict(self.headers), "parts": parts})
        payload = json.dumps([{"filename": f} for _, f, _ in parts]).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def jira() -> Iterator[tuple[int, type[JiraStub]]]:
    JiraStub.received, JiraStub.status = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), JiraStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], JiraStub
    server.shutdown()


def test_attach_to_ticket_uploads_report_and_summary(
    project: pytest.Pytester, jira, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, stub = jira
    project.makefile(".yaml", runbook=SPEC.replace("PORT", str(port)))
    monkeypatch.setenv("DEMO_JIRA_TOKEN", "jira-tok-6620")
    project.makepyfile(test_ok="def test_ok(target): pass")
    result = run(project, "--target=staging", "--attach-to-ticket=OPS-123")
    (request,) = stub.received
    assert request["path"] == "/rest/api/2/issue/OPS-123/attachments"
    assert request["headers"]["X-Atlassian-Token"] == "no-check"
    assert request["headers"]["Authorization"] == "Bearer jira-tok-6620"
    assert request["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")
    names = [(field, filename.rsplit(".", 1)[1]) for field, filename, _ in request["parts"]]
    assert names == [("file", "html"), ("file", "md")]
    assert b"GO" in request["parts"][1][2]
    result.stdout.fnmatch_lines(["attached staging-*.html, staging-*.md to OPS-123 (*)"])
    assert "jira-tok-6620" not in result.stdout.str()


def test_failed_upload_is_reported_and_reports_stay(
    project: pytest.Pytester, jira, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, stub = jira
    stub.status = 500
    project.makefile(".yaml", runbook=SPEC.replace("PORT", str(port)))
    monkeypatch.setenv("DEMO_JIRA_TOKEN", "jira-tok-6620")
    project.makepyfile(test_ok="def test_ok(target): pass")
    result = run(project, "--target=staging", "--attach-to-ticket=OPS-123")
    result.stdout.fnmatch_lines(["ticket upload failed: POST http://127.0.0.1:*/rest/api/2/issue/"
                                 "OPS-123/attachments: HTTP 500: *; reports stay in *out"])
    assert result.ret == 0
    assert {p.suffix for p in (project.path / "out").iterdir()} == {".html", ".xml", ".json", ".md"}


def test_unreachable_ticket_server_and_bad_key_are_one_line(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makefile(".yaml", runbook=SPEC.replace("PORT", "9"))
    monkeypatch.setenv("DEMO_JIRA_TOKEN", "jira-tok-6620")
    project.makepyfile(test_ok="def test_ok(target): pass")
    result = run(project, "--target=staging", "--attach-to-ticket=OPS-123")
    result.stdout.fnmatch_lines(["ticket upload failed: POST http://127.0.0.1:9/*; reports stay in *"])
    result = run(project, "--target=staging", "--attach-to-ticket=not a key")
    result.stdout.fnmatch_lines(["ticket upload failed: --attach-to-ticket: 'not a key' is not a "
                                 "Jira issue key like OPS-123; reports stay in *"])


def test_cli_never_prints_a_dsn_password() -> None:
    dsn = f"host=127.0.0.1 port=9 user=app password={DSN_PASSWORD} dbname=app"
    for command in (["migrate", "status"], ["rollback"], ["backup", "--out", "/tmp/never.dump"]):
        args = ["--dsn", dsn, "--dir", str(ROOT / "examples" / "tascade" / "migrations")]
        if command == ["rollback"]:
            args += ["--down-dir", str(ROOT / "examples" / "tascade" / "down"), "--dry-run"]
        if command[0] == "backup":
            args = args[:2]
        done = subprocess.run([sys.executable, "-m", "deploy_gates", *command, *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1
        assert DSN_PASSWORD not in done.stdout + done.stderr
        assert "Traceback" not in done.stderr


def cli(command: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``deploy-gates COMMAND ARGS`` (as ``python -m deploy_gates``), from the repository root."""
    return subprocess.run([sys.executable, "-m", "deploy_gates", command, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env={**os.environ, **env})


def test_cli_changes_a_spec_target_only_when_allowed(pg_server, tmp_path: Path) -> None:
    spec = str(ROOT / "examples" / "tascade" / "runbook.yaml")
    dsn = pg_server.create_database("cli")
    env = {"TASCADE_STAGING_DATABASE_URL": dsn, "TASCADE_DATABASE_URL": dsn,
           "DEPLOY_GATES_CONFIRM_PROTECTED": ""}
    common = ["--runbook", spec, "--report-dir", str(tmp_path)]
    refused = cli("migrate", *common, "--target", "staging", "up", env=env)
    assert (refused.returncode, refused.stderr) == (1, (
        "deploy-gates migrate: refusing to change the target: 'staging' is live "
        "(pass --allow-destructive=staging)\n"))
    status = cli("migrate", *common, "--target", "staging", "status", env=env)
    assert status.returncode == 0 and status.stdout.count("pending") == 8
    protected = cli("migrate", *common, "--target", "prod", "--allow-destructive", "prod", "up",
                    env=env)
    assert "target 'prod' is protected" in protected.stderr and protected.returncode == 1
    allowed = cli("migrate", *common, "--target", "staging", "--allow-destructive", "staging",
                  "up", env=env)
    assert allowed.returncode == 0 and "8 migration(s) applied" in allowed.stdout
    down = ["--to", "0004_gate_candidate_link.sql", "--confirm", "--no-backup"]
    refused = cli("rollback", *common, "--target", "staging", *down, env=env)
    assert refused.returncode == 1 and "refusing to change the target" in refused.stderr
    dry = cli("rollback", *common, "--target", "staging", "--dry-run", "--to",
              "0004_gate_candidate_link.sql", env=env)
    assert dry.returncode == 0 and "0008_metrics_alerts.sql" in dry.stdout
    done = cli("rollback", *common, "--target", "staging", "--allow-destructive", "staging", *down,
               env=env)
    assert done.returncode == 0 and "4 migration(s) rolled back" in done.stdout
    ephemeral = cli("migrate", *common, "--target", "rehearsal", "status", env=env)
    assert ephemeral.stderr == ("deploy-gates migrate: target 'rehearsal' is ephemeral: the suite starts it; "
                                "rehearse with pytest --target=rehearsal\n")
