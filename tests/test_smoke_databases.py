"""A smoke flow's ``sql:`` step names the database of a system with several it queries
(``database: <key>``, checked when the spec loads); without one it queries the first."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from deploy_gates.spec.runbook import load_runbook
from deploy_gates.spec.yamlsource import SpecError
from tests.gaterun import gates, summary

SPEC = """\
system: two
release: "1"
targets:
  staging:
    kind: live
    base_url: http://127.0.0.1:9
    databases:
      content: {{dsn_env: TWO_CONTENT_URL}}
      users: {{dsn_env: TWO_USERS_URL}}
databases:
  content: {{}}
  users: {{}}
smoke:
  both:
    destructive: false
    steps:
      - sql: SELECT count(*) AS n FROM posts
        expect: {{n: 1}}
      - sql: SELECT count(*) AS n FROM accounts
        database: {database}
        expect: {{n: 2}}
"""


def spec_file(folder: Path, database: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "runbook.yaml").write_text(SPEC.format(database=database))
    return folder / "runbook.yaml"


def test_a_sql_step_queries_the_database_it_names(
    pytester: pytest.Pytester, tmp_path: Path, pg_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, users = pg_server.create_database("content"), pg_server.create_database("users")
    for dsn, setup in ((content, "CREATE TABLE posts AS SELECT 1 AS id"),
                       (users, "CREATE TABLE accounts AS SELECT generate_series(1, 2) AS id")):
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(setup)
    monkeypatch.setenv("TWO_CONTENT_URL", content)
    monkeypatch.setenv("TWO_USERS_URL", users)
    release = spec_file(tmp_path / "two", "users").parent
    gates(pytester, release, "--target=staging", "-m", "postdeploy", "-k", "test_smoke")
    assert summary(release)["test_smoke[both]"]["outcome"] == "passed"

    shutil.rmtree(release / "reports")
    (release / "runbook.yaml").write_text(SPEC.format(database="content"))
    gates(pytester, release, "--target=staging", "-m", "postdeploy", "-k", "test_smoke")
    assert summary(release)["test_smoke[both]"]["message"].startswith(
        'step 2 (sql): relation "accounts" does not exist')


def test_a_sql_step_names_a_database_of_the_spec(tmp_path: Path) -> None:
    spec = spec_file(tmp_path, "search")
    with pytest.raises(SpecError) as refused:
        load_runbook(spec)
    assert str(refused.value) == (f"{spec}:20: smoke.both.steps.1.database: 'search' is not a "
                                  "database of the spec (content, users)")


def test_a_sql_step_of_a_single_database_names_none(tmp_path: Path) -> None:
    spec = spec_file(tmp_path, "users")
    text = spec.read_text()
    spec.write_text(text.replace(text[text.index("    databases:\n      content"):
                                      text.index("smoke:")], "    dsn_env: TWO_URL\n"))
    with pytest.raises(SpecError) as refused:
        load_runbook(spec)
    assert str(refused.value) == (f"{spec}:15: smoke.both.steps.1.database: 'users' is not a "
                                  "database of the spec: it names no databases")
