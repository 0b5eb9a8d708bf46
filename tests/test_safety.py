"""Safe against production: secrets never reach an output, live gates never write,
destructive gates need explicit permission; evidence reaches the change ticket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.parser import BytesParser
from email.policy import HTTP
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote, quote_plus

import pytest
from psycopg.conninfo import make_conninfo
from requests.utils import requote_uri

from deploy_gates.migrate import MigrationLog, discover, up
from deploy_gates.redact import Redactor
from deploy_gates.spec.sections import Flow, Request
from deploy_gates.verify.flows import FlowRun
from deploy_gates.verify.http import Http
from tests.conftest import answering
from tests.dbtools import write_counters
from tests.examplecopy import TASCADE_KEY, copy_example, tascade_serving
from tests.reportrun import html_rows

ROOT = Path(__file__).resolve().parent.parent
DSN_PASSWORD = "PW-dsn/91f3c+q"
API_KEY = "sk-demo/SECRET+5512"
SECRETS = {  # one distinct value per channel; quotes, slashes, plus signs and spaces change
    # when JSON-escaped or URL-encoded
    "env secret (secrets:)": API_KEY,
    "dsn_env DSN password": DSN_PASSWORD,
    "auth_env bearer token": "bearer-tok/4471+zz",
    "value the service writes to its log": 'log-key"8823/qq',
    "spec literal X-Api-Key header": 'xak-lit"3391/aa',
    "spec literal Cookie header": "ck-lit-4410/qq",
    "spec literal Authorization header": "lit-auth-5567/ww",
    "spec literal JSON password": 'pw-lit"7781/x y',
    "spec literal api_key query parameter": "qk-lit-2290/pp",
    "value saved from a response": 'sv"Q7/x+z w-991',
    "JSON credential field a gate raises": "tok-body-7781xyz",
    "Cookie header a gate prints": "ck-4410-qq-gate",
    "Slack webhook URL": "whk3391abc",
}
PUBLIC_ID = "job-public-4242"
"""Saved from the same answer, but the spec says it is public: it stays readable."""

PLANTED_SERVICE = '''\
"""A service for the planted-secret test: hands out a session, echoes what it was sent inside
a JSON string and URL-escaped, and writes secrets to its log."""
import json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
log = open(args["--log-file"], "a", buffering=1)
log.write(f"INFO boot dsn={{args['--dsn']}}\\n")


class Echo(BaseHTTPRequestHandler):
    def do_GET(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if self.path == "/health":
            data = {{"status": "ok"}}
        elif self.path == "/login":
            data = {{"session": {saved!r}, "job_id": {public!r}}}
        else:
            seen = {{"path": self.path, "headers": dict(self.headers), "body": body}}
            data = {{"echo": json.dumps(seen), "next": "/items?s=" + quote({saved!r}, safe="")}}
            log.write(f"ERROR item {{self.path}} session={{self.headers.get('X-Session')}} "
                      f"upstream key {{os.environ['DEMO_LOG_SECRET']}}\\n")
        payload = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_GET

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(args["--port"])), Echo).serve_forever()
'''

PLANTED_SPEC = """\
system: demo
release: "2.0"
secrets: [DEMO_API_KEY, DEMO_LOG_SECRET]
targets:
  rehearsal:
    kind: ephemeral
    provider: dsn
    dsn_env: DEMO_SERVER_DSN
    start:
      command: [{python}, {service}, --port, "{{port}}", --log-file, "{{log_file}}",
                --dsn, "{{dsn}}"]
migrations: {{dir: migrations}}
health:
  - {{get: /health, headers: {{X-Api-Key: '{xak}'}}}}
smoke:
  echo:
    steps:
      - {{post: /login, save: {{session: "$.session", job_id: "$.job_id"}}, public: [job_id]}}
      - get: "/items/{{session}}"
        headers: {{X-Api-Key: '{xak}', Cookie: "sid={cookie}", X-Session: "{{session}}"}}
        query: {{api_key: "{query}"}}
        auth_env: DEMO_BEARER
        json: {{password: '{password}', note: "{{session}}", job: "{{job_id}}"}}
      - sql: "SELECT length(%(session)s::text) AS n, %(job_id)s AS job"
        expect: {{n: "> 0"}}
      - {{post: "/items/{{session}}", headers: {{Authorization: "Token {auth}"}},
         body: {{echo: never}}}}
logs: {{file: "{{log_file}}", absent: [ERROR]}}
"""

PLANTED_GATES = f"""\
import json, os
import pytest
from deploy_gates.verify.flows import FlowRun
from deploy_gates.spec.sections import Flow

def test_dsn_in_message(target):
    pytest.fail("cannot use " + os.environ["DEMO_SERVER_DSN"], pytrace=False)

def test_key_in_output(target):
    print("Authorization: Bearer " + os.environ["DEMO_API_KEY"])
    print("Cookie: session={SECRETS['Cookie header a gate prints']}")
    assert os.environ["DEMO_API_KEY"] == "something else"

def test_body_in_error(target):
    body = json.dumps({{"access_token": "{SECRETS['JSON credential field a gate raises']}"}})
    raise RuntimeError("unexpected response " + body)

def test_webhook_in_skip(target):
    pytest.skip("alert delivery to https://hooks.slack.com/services/T0/B0/"
                "{SECRETS['Slack webhook URL']} not checked")

def test_spec_literals_in_locals(runbook):
    step = runbook.smoke["echo"].steps[1]
    headers, body = step.headers, step.json_body
    assert (headers, body) == ({{}}, {{}})

def test_saved_values_in_locals(runbook, http, redactor):
    run = FlowRun(http, connect=lambda: None, redactor=redactor)
    run.run(Flow(steps=runbook.smoke["echo"].steps[:1]))
    saved = run.saved
    assert saved == {{}}
"""

SPEC = """\
system: demo
release: "2.0"
secrets: [DEMO_API_KEY]
targets:
  staging: {kind: live, dsn_env: DEMO_STAGING_DSN}
  prod: {kind: live, dsn_env: DEMO_PROD_DSN, protected: true}
ticket: {url: "http://127.0.0.1:PORT", token_env: DEMO_JIRA_TOKEN}
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


PLANTED_RUNS = [("-q",), ("-v",), ("-vv",), ("--tb=long",), ("--showlocals",), ("-n", "2")]


@pytest.mark.parametrize("options", PLANTED_RUNS, ids=[" ".join(o) for o in PLANTED_RUNS])
def test_planted_secrets_reach_no_artifact_and_no_terminal(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, pg_server, options: tuple[str, ...]
) -> None:
    """A distinct secret in every channel; none reaches the terminal or any file of the report
    folder (reports, migration and service logs) raw, JSON-escaped or URL-encoded."""
    monkeypatch.setenv("DEMO_API_KEY", API_KEY)
    monkeypatch.setenv("DEMO_LOG_SECRET", SECRETS["value the service writes to its log"])
    monkeypatch.setenv("DEMO_BEARER", SECRETS["auth_env bearer token"])
    monkeypatch.setenv("DEMO_SERVER_DSN", make_conninfo(pg_server.dsn, password=DSN_PASSWORD))
    service = pytester.path / "service.py"
    service.write_text(PLANTED_SERVICE.format(saved=SECRETS["value saved from a response"],
                                              public=PUBLIC_ID))
    (pytester.path / "migrations").mkdir()
    (pytester.path / "migrations" / "001_items.sql").write_text("CREATE TABLE items (id int);\n")
    literals = {key: SECRETS[f"spec literal {name}"] for key, name in (
        ("xak", "X-Api-Key header"), ("cookie", "Cookie header"), ("auth", "Authorization header"),
        ("password", "JSON password"), ("query", "api_key query parameter"))}
    pytester.makefile(".yaml", runbook=PLANTED_SPEC.format(
        python=sys.executable, service=service, **literals))
    gates = pytester.makepyfile(test_planted=PLANTED_GATES)
    out = pytester.path / "out"
    result = pytester.runpytest_subprocess(
        "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), str(gates),
        *(str(ROOT / "verify" / f"test_{m}.py") for m in ("health", "smoke", "logs")),
        f"--runbook={pytester.path / 'runbook.yaml'}", f"--report-dir={out}", "--target=rehearsal",
        "-rA", *options, timeout=120,
    )
    outputs = {"terminal": result.stdout.str() + result.stderr.str()}
    outputs |= {p.name: p.read_text(errors="replace") for p in out.iterdir()}
    (summary,) = (json.loads(text) for name, text in outputs.items() if name.endswith(".json"))
    gates_run = {g["name"]: g for g in summary["gates"]}
    assert {name: g["outcome"] for name, g in gates_run.items()} == {
        "test_dsn_in_message": "failed", "test_key_in_output": "failed",
        "test_body_in_error": "failed", "test_webhook_in_skip": "skipped",
        "test_spec_literals_in_locals": "failed", "test_saved_values_in_locals": "failed",
        "test_health[GET /health]": "passed", "test_smoke[echo]": "failed",
        "test_logs_absent[ERROR]": "failed",
    }, result.stdout.str()[-3000:]
    kinds = {name.rsplit(".", 1)[-1] for name in outputs if name != "terminal"}
    assert {"html", "xml", "json", "md", "log", "out"} <= kinds
    assert any("-deploy-" in name for name in outputs)  # the migration log
    leaks = [(name, channel) for name, text in outputs.items() for channel, value in SECRETS.items()
             if any(form in shown for form in encodings(value) for shown in unescaped(text))]
    assert leaks == [], "\n".join(f"{channel} in {name}: {excerpt(outputs[name], SECRETS[channel])}"
                                  for name, channel in leaks)
    smoke = gates_run["test_smoke[echo]"]
    assert smoke["message"].startswith("step 4 (POST /items/{session}): body: echo = ")
    (sql,) = [e["text"] for e in smoke["evidence"] if e["title"] == "SQL"]
    assert f'parameters: {{"session": "***", "job_id": "{PUBLIC_ID}"}}' in sql  # job_id is public
    assert "Authorization: ***" in outputs["terminal"]  # the line is still there, masked


def encodings(value: str) -> set[str]:
    """``value`` as it is and URL-encoded, each also JSON-escaped up to five times (JSON text
    in a JSON string of an answer, in the evidence of the JSON summary) and as Python shows it."""
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value), requote_uri(value)}
    for form in list(forms):
        for _ in range(5):
            forms.add(repr(form)[1:-1])
            form = json.dumps(form)[1:-1]
            forms.add(form)
    return forms


def unescaped(text: str) -> tuple[str, ...]:
    """``text``, and as HTML shows it (twice: the report holds HTML in an HTML attribute)."""
    return text, unescape(text), unescape(unescape(text))


def excerpt(text: str, value: str) -> str:
    """The text around the first form of ``value`` found in ``text``."""
    for shown in unescaped(text):
        for form in encodings(value):
            if form in shown:
                at = shown.find(form)
                return repr(shown[max(0, at - 200):at + len(form) + 40])
    return ""


def test_migration_logs_mask_secrets(tmp_path: Path) -> None:
    log = MigrationLog.create(tmp_path, "deploy", Redactor([API_KEY]))
    log.write(f"failed: key {API_KEY} rejected by host=db password={DSN_PASSWORD}")
    text = log.path.read_text()
    assert API_KEY not in text and DSN_PASSWORD not in text and "password=***" in text


def test_redactor_masks_every_form_a_known_value_is_shown_in() -> None:
    redact = Redactor([*SECRETS.values(), "pässwörd-ünïcode"])
    for value in [*SECRETS.values(), "pässwörd-ünïcode"]:
        for form in encodings(value):
            assert redact(f"<{form}>") == "<***>", form


def test_credential_fields_are_masked_inside_json_strings_and_python_reprs() -> None:
    redact = Redactor()
    inner = json.dumps({"password": 'hunter2"x', "user": "ada", "X-Api-Key": "k-123"})
    assert redact(json.dumps({"echo": inner})) == json.dumps(
        {"echo": json.dumps({"password": "***", "user": "ada", "X-Api-Key": "***"})})
    shown = {"Cookie": "sid=abc", "client_secret": "s3", "token_type": "bearer", "Accept": "*/*"}
    assert redact(repr(shown)) == repr({**shown, "Cookie": "***", "client_secret": "***"})


def test_redactor_learns_values_while_the_gates_run() -> None:
    redact = Redactor()
    saved = SECRETS["value saved from a response"]
    text = f"GET /items/{quote(saved)}"
    assert redact(text) == text  # remembered unmasked
    redact.learn([saved])
    assert redact(text) == "GET /items/***"
    with pytest.raises(ValueError, match="a secret of 3 characters is too short to mask safely"):
        redact.learn(["abc"])
    values = [f"learned-{i:03d}-value" for i in range(64)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda v: (redact(v), redact.learn([v]), redact(v)), values))
    assert [redact(v) for v in values] == ["***"] * len(values)


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("DEMO_API_KEY", "abc", "a secret of 3 characters"),
        ("DEMO_STAGING_DSN", "host=db password=pw1", "its password of 3 characters"),
    ],
)
def test_secret_too_short_to_mask_is_a_usage_error(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(name, value)
    project.makepyfile(test_ok="def test_ok(target): pass")
    result = run(project, "--target=staging")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.stderr.lines if line] == [
        f"ERROR: {project.path / 'runbook.yaml'}: environment variable {name}: {problem} is too "
        "short to mask safely (the minimum is 8); set a longer value"]


def test_collection_errors_are_masked(project: pytest.Pytester) -> None:
    project.makepyfile(test_broken="import os\nraise RuntimeError(os.environ['DEMO_API_KEY'])\n")
    result = run(project, "--target=staging", "--showlocals")
    result.stdout.fnmatch_lines(["*RuntimeError: ****"])
    assert API_KEY not in result.stdout.str() + result.stderr.str()


FIXTURE_OUTPUT_GATES = """\
import os
import pytest

@pytest.fixture
def noisy():
    print("setup sees " + os.environ["DEMO_API_KEY"])
    yield
    print("teardown sees " + os.environ["DEMO_API_KEY"])

@pytest.fixture
def broken_setup():
    print("broken setup sees " + os.environ["DEMO_API_KEY"])
    raise RuntimeError("cannot start with " + os.environ["DEMO_API_KEY"])

@pytest.fixture
def broken_teardown():
    yield
    print("broken teardown sees " + os.environ["DEMO_API_KEY"])
    raise RuntimeError("cannot stop with " + os.environ["DEMO_API_KEY"])

def test_noisy(target, noisy):
    pass

def test_broken_setup(target, broken_setup):
    pass

def test_broken_teardown(target, broken_teardown):
    pass
"""


def test_setup_and_teardown_output_is_masked_whether_they_pass_or_fail(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(test_fixtures=FIXTURE_OUTPUT_GATES)
    result = run(project, "--target=staging", "-p", "no:xdist")
    terminal = result.stdout.str() + result.stderr.str()
    files = {p.name: p.read_text() for p in (project.path / "out").iterdir()}
    assert [name for name, text in {"terminal": terminal, **files}.items()
            if API_KEY in text or API_KEY in unescape(unescape(text))] == []
    for shown in ("setup sees ***", "teardown sees ***", "broken setup sees ***",
                  "RuntimeError: cannot start with ***", "broken teardown sees ***",
                  "RuntimeError: cannot stop with ***"):
        assert shown in terminal, shown
    (page,) = [text for name, text in files.items() if name.endswith(".html")]
    rows = {test_id.split("test_fixtures.py::", 1)[-1]: row for test_id, row in
            ((row["testId"], row) for row in html_rows(page))}
    assert sorted(rows) == ["test_broken_setup::setup", "test_broken_teardown",
                            "test_broken_teardown::teardown", "test_noisy"]
    assert "teardown sees ***" in rows["test_noisy"]["log"]  # a passed teardown's output
    assert "broken setup sees ***" in rows["test_broken_setup::setup"]["log"]
    assert "cannot stop with ***" in rows["test_broken_teardown::teardown"]["log"]


@pytest.fixture
def login_service() -> Iterator[str]:
    """A service on 127.0.0.1 whose every POST answers with a session, a pin and a user id."""
    payload = json.dumps({"session": "sess-0042-long", "pin": 123, "user": {"id": 7}})
    with answering("application/json", payload.encode()) as url:
        yield url


def test_saved_values_are_secrets_unless_public(login_service: str) -> None:
    redact = Redactor()
    flow = FlowRun(Http(login_service), connect=lambda: None, redactor=redact)
    login = Request.model_validate(
        {"post": "/login", "save": {"session": "$.session", "pin": "$.pin"}, "public": ["pin"]})
    assert flow.run(Flow(steps=[login])) == []
    assert redact(repr(flow.saved)) == "{'session': '***', 'pin': 123}"
    for saved, length in (("$.pin", 3), ("$.user", 1)):  # 123; {"id": 7}
        secret_pin = Request.model_validate({"post": "/login", "save": {"pin": saved}})
        assert flow.run(Flow(steps=[secret_pin])) == [
            f"step 1 (POST /login): cannot save pin: a secret of {length} characters is too "
            "short to mask safely (the minimum is 8); if it is no secret, list it in the step's "
            "public: [pin]"]


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
    release = copy_example("tascade", tmp_path / "tascade")
    dsn = pg_server.create_database("live")
    up(dsn, discover(release / "migrations"))
    monkeypatch.setenv("TASCADE_STAGING_DATABASE_URL", dsn)
    monkeypatch.setenv("TASCADE_API_KEY", TASCADE_KEY)
    with tascade_serving(release, dsn):  # the service adds its project before the count
        before = write_counters(dsn)
        result = pytester.runpytest_subprocess(
            "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), str(ROOT / "verify"),
            f"--runbook={release / 'runbook.yaml'}", f"--report-dir={tmp_path / 'out'}",
            "--target=staging", timeout=300,
        )
        after = write_counters(dsn)
    assert result.ret == 0, result.stdout.str()[-2000:]
    (report,) = (tmp_path / "out").glob("*.json")
    gates = {g["name"]: g["outcome"] for g in json.loads(report.read_text())["gates"]}
    assert gates["test_smoke[metrics_endpoints]"] == gates["test_health[GET /health]"] == "passed"
    assert after == before


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
