"""A system with several databases, as custom gates and started services see it: every database
by key (``target_dsns``, ``catalogs``, ``dbs``; ``{dsn.users}`` in a start command), with the
one-database spelling (``target_dsn``, ``catalog``, ``db``, ``{dsn}``) unchanged."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from deploy_gates.fixtures.service import start_service, stop_service
from deploy_gates.migrate import discover, up
from deploy_gates.redact import redact_text
from deploy_gates.spec.runbook import load_runbook
from deploy_gates.spec.sections import ServiceStart
from deploy_gates.spec.yamlsource import SpecError
from tests.gaterun import ROOT

EXAMPLE = ROOT / "examples" / "redcube"
SERVE = ("import os, sys, http.server; open('seen.txt', 'w').write(sys.argv[1] + ' ' + "
         "os.environ['USERS_DSN']); http.server.test(http.server.SimpleHTTPRequestHandler, "
         "port=int(sys.argv[2]), bind='127.0.0.1')")

GATES = '''\
import pytest

pytestmark = pytest.mark.postdeploy


def test_every_database_is_reachable(target_dsns, target_dsn, catalogs, catalog, dbs, db):
    assert list(target_dsns) == ["content", "users"]
    assert target_dsn == target_dsns["content"] and catalog is catalogs["content"]
    assert "public.users.trg_user_sync" in catalogs["users"].triggers
    assert "public.users.trg_user_sync" not in catalogs["content"].triggers
    assert dbs["users"].execute("SELECT to_regclass('reputation_events')").fetchone() == (None,)
    assert db.execute("SELECT to_regclass('reputation_events') IS NOT NULL").fetchone() == (True,)
    assert dbs["content"].execute("SELECT to_regclass('reputation_events')").fetchone()[0]


def test_an_unknown_database_is_one_line(dbs):
    dbs["search"]
'''


def test_start_command_fills_each_databases_dsn(tmp_path: Path) -> None:
    start = ServiceStart(command=[sys.executable, "-c", SERVE, "{dsn}", "{port}"],
                         env={"USERS_DSN": "{dsn.users}"}, ready="/", timeout=20)
    dsns = {"content": "dbname=content_db", "users": "dbname=users_db"}
    process, _ = start_service(start, dsns, tmp_path / "service.log", redact_text, tmp_path)
    stop_service(process)
    assert (tmp_path / "seen.txt").read_text() == "dbname=content_db dbname=users_db"


@pytest.mark.parametrize(("placeholder", "error"), [
    ("{dsn.search}", "unknown placeholder {dsn.search} (known: {dsn}, {dsn.content}, {dsn.users}, "
                     "{port}, {log_file}, {python}, {token})"),
    ("{secret}", "unknown placeholder {secret} (known: {dsn}, {dsn.content}, {dsn.users}, {port}, "
                 "{log_file}, {python}, {token})"),
    ("{dsn", "not a placeholder: expected '}' before end of string (write {{ for a literal {)"),
])
def test_start_placeholders_are_checked_when_the_spec_loads(
    tmp_path: Path, placeholder: str, error: str
) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "redcube")
    spec = tmp_path / "redcube" / "runbook.yaml"
    text = spec.read_text()
    line = text[:text.index('--dsn, "{dsn}"')].count("\n") + 1
    spec.write_text(text.replace('--dsn, "{dsn}"', f'--dsn, "{placeholder}"'))
    with pytest.raises(SpecError) as caught:
        load_runbook(spec)
    assert str(caught.value) == f"{spec}:{line}: targets.rehearsal.start.command.6: {error}"


def test_custom_gates_reach_every_database(
    pytester: pytest.Pytester, pg_server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "redcube")
    redcube = tmp_path / "redcube"
    (redcube / "gates").mkdir()
    (redcube / "gates" / "test_both.py").write_text(GATES)
    content, users = pg_server.create_database("content"), pg_server.create_database("users")
    up(content, discover(redcube / "content" / "migrations"))
    up(users, discover(redcube / "users" / "migrations"))
    monkeypatch.setenv("REDCUBE_STAGING_CONTENT_URL", content)
    monkeypatch.setenv("REDCUBE_STAGING_USERS_URL", users)
    result = pytester.runpytest_subprocess(
        "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), str(redcube / "gates"),
        f"--runbook={redcube / 'runbook.yaml'}", f"--report-dir={redcube / 'reports'}",
        "--target=staging", "-rf", timeout=120,
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*_ test_an_unknown_database_is_one_line _*",
                                 "target staging: no database 'search' (databases: content, users)"])
