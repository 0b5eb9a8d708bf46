"""What a change approver and a pipeline read: the HTML report's decision first, readable rows, a
verdict that counts every failure, JSON in snake_case against its published schema, JUnit messages
CI systems show, Markdown for the ticket, report paths said once, and old report sets removed."""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import psycopg
import pytest
from markdown_it import MarkdownIt

from deploy_gates.reports.merge import merge_runs
from tests.gaterun import run_gates
from tests.reportrun import gate_project, html_rows, newest, run

SCHEMA = Path(__file__).resolve().parent.parent / "docs" / "summary.schema.json"


@pytest.fixture
def no_go(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    return gate_project(pytester, monkeypatch, "NO-GO")


def test_verdict_line_counts_the_failures_it_leaves_off(no_go: pytest.Pytester) -> None:
    result = run(no_go)
    assert result.ret == 1
    reason = ("8 blocker gate(s) failed: test_column[jobs.c0], test_column[jobs.c1], "
              "test_column[jobs.c2], test_column[jobs.c3], test_column[jobs.c4] and 3 more")
    assert result.outlines[-2] == f"deploy-gates verdict NO-GO: {reason} (1 advisory failed)"
    assert json.loads(newest(no_go, "json").read_text())["verdict_reason"] == reason
    assert reason in newest(no_go, "html").read_text()


def test_skip_reason_is_the_reason_not_a_python_tuple(no_go: pytest.Pytester) -> None:
    run(no_go)
    page = newest(no_go, "html").read_text()
    (row,) = [r for r in html_rows(page) if "test_env_required" in r["testId"]]
    cells = html.unescape("".join(row["resultsTableRow"]))
    assert "present after re-apply: not run, because rehearsal step 'migrate up' failed" in cells
    assert "('/" not in row["log"] + cells and "Skipped: " not in row["log"] + cells


def test_expected_failure_is_one_message_without_an_exception_chain(
    no_go: pytest.Pytester,
) -> None:
    result = run(no_go)
    message = "migrate up again: 0008_alerts.sql:2: type already exists"
    page = newest(no_go, "html").read_text()
    (row,) = [r for r in html_rows(page) if "test_restored" in r["testId"]]
    text = row["log"] + "".join(row["resultsTableRow"])
    assert text.count("type already exists") == 1, text
    assert "The above exception" not in text and "During handling" not in text
    assert "The above exception" not in result.stdout.str()
    junit = ET.parse(newest(no_go, "xml")).getroot()
    (failure,) = [c.find("failure") for c in junit.iter("testcase") if c.get("name") == "test_restored"]
    assert failure.get("message") == message
    assert "The above exception" not in (failure.text or "")


def test_rows_carry_no_noise(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    project = gate_project(pytester, monkeypatch, "GO")
    run(project)
    rows = html_rows(newest(project, "html").read_text())
    assert not any("No log output captured" in r["log"] for r in rows)
    (plain,) = [r for r in rows if "test_env_required" in r["testId"]]
    assert plain["log"] == ""  # a passed gate with no evidence has nothing to expand
    with_evidence = [r for r in rows if "test_column" in r["testId"]]
    assert all("SELECT jobs.c" in r["log"] for r in with_evidence)


def test_severity_and_step_are_columns_and_durations_have_one_format(
    no_go: pytest.Pytester,
) -> None:
    run(no_go)
    page = newest(no_go, "html").read_text()
    head = re.search(r'<thead id="results-table-head">(.*?)</thead>', page, re.S).group(1)
    columns = re.findall(r"<th[^>]*>(.*?)</th>", head)
    assert "Links" not in columns
    assert {"Step", "Severity", "Message"} <= set(columns), columns
    rows = html_rows(page)
    (index,) = [r for r in rows if "test_index" in r["testId"]]
    assert '<td class="col-severity">advisory</td>' in index["resultsTableRow"]
    durations = [r["duration"] for r in rows]
    assert all(re.fullmatch(r"\d+\.\d{3} s", d) for d in durations), durations


def test_json_keys_are_snake_case_and_match_the_published_schema(no_go: pytest.Pytester) -> None:
    run(no_go)
    summary = json.loads(newest(no_go, "json").read_text())
    jsonschema.validate(summary, json.loads(SCHEMA.read_text()))
    assert summary["schema_version"] == 1
    assert {"git_commit", "operator", "started", "finished", "system", "release", "targets",
            "runbook"} <= summary["metadata"].keys()
    assert summary["metadata"]["runbook"] == "runbook.yaml"
    assert summary["metadata"]["operator"] == "jane.doe"

    def keys(value: object) -> set[str]:
        if isinstance(value, dict):
            return set(value) | {k for v in value.values() for k in keys(v)}
        if isinstance(value, list):
            return {k for v in value for k in keys(v)}
        return set()

    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", k) for k in keys(summary)), keys(summary)


def test_markdown_names_reports_relative_to_the_report_folder_and_renders(
    no_go: pytest.Pytester,
) -> None:
    run(no_go)
    markdown = newest(no_go, "md").read_text()
    assert str(no_go.path) not in markdown
    rendered = MarkdownIt("commonmark").enable("table").render(markdown)
    assert "<table>" in rendered and "<h2>" in rendered
    assert "<strong>NO-GO</strong>" in rendered
    html_name = newest(no_go, "html").name
    assert f'<a href="{html_name}">' in rendered
    assert "| " not in rendered  # every table row became a table
    assert "and 3 more" in rendered


def test_report_paths_are_said_once(no_go: pytest.Pytester) -> None:
    result = run(no_go)
    out = result.stdout.str()
    stem = newest(no_go, "html").stem
    assert out.count(stem) == 1, out
    result.stdout.fnmatch_lines([f"deploy-gates reports: out/{stem}.{{html,xml,json,md}}"])


@pytest.mark.parametrize("how", ["option", "ini", "env"])
def test_keep_reports_removes_older_sets_of_the_same_target(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    project = gate_project(pytester, monkeypatch, "GO",
                           ini="keep_reports = 2\n" if how == "ini" else "")
    out = project.path / "out"
    out.mkdir()
    for stamp in ("20200101T000000Z", "20200102T000000Z", "20200103T000000Z"):
        for suffix in ("html", "xml", "md"):
            (out / f"rehearsal-{stamp}.{suffix}").write_text("old")
        (out / f"rehearsal-{stamp}.json").write_text(json.dumps({"files": [
            f"rehearsal-{stamp}.html", f"rehearsal-{stamp}.xml", f"rehearsal-{stamp}.md",
            f"rehearsal-down-{stamp}.log"]}))
        (out / f"rehearsal-down-{stamp}.log").write_text("old")
    (out / "eu-20200101T000000Z.json").write_text("{}")  # another target: kept
    (out / "notes.txt").write_text("mine")  # not a report: kept
    args = ("--keep-reports=2",) if how == "option" else ()
    if how == "env":
        monkeypatch.setenv("DEPLOY_GATES_KEEP_REPORTS", "2")
    result = run(project, *args)
    assert result.ret == 0
    names = sorted(p.name for p in out.iterdir())
    kept = [n for n in names if n.startswith("rehearsal-2020")]
    assert kept == [f"rehearsal-20200103T000000Z.{s}" for s in ("html", "json", "md", "xml")]
    assert "rehearsal-down-20200103T000000Z.log" in names
    assert "rehearsal-down-20200101T000000Z.log" not in names
    assert {"eu-20200101T000000Z.json", "notes.txt"} <= set(names)
    assert len([n for n in names if re.fullmatch(r"rehearsal-\d{8}T\d{6}Z\.json", n)]) == 2
    result.stdout.fnmatch_lines(["deploy-gates removed 2 older report set(s) of rehearsal*"])


def test_keep_reports_must_be_a_positive_number(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = gate_project(pytester, monkeypatch, "GO")
    result = run(project, "--keep-reports=none")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--keep-reports: 'none' is not a whole number of 1 or more*"])


SHARED_SPEC = """\
system: demo
release: "1"
targets:
  live: {kind: live, dsn_env: DEMO_SHARED_DSN}
schema:
  columns:
    jobs: {id: bigint, note: text, done: boolean}
"""


def test_catalog_sql_is_written_once_and_each_gate_refers_to_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, fresh_dsn: str, tmp_path: Path
) -> None:
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE jobs (id bigint, note text, done boolean)")
    monkeypatch.setenv("DEMO_SHARED_DSN", fresh_dsn)
    pytester.makefile(".yaml", runbook=SHARED_SPEC)
    gates = run_gates(pytester, ("schema",), "-k", "test_column", target="live")
    assert [g["outcome"] for g in gates.values()] == ["passed"] * 3
    summary = json.loads(newest(pytester, "json").read_text())
    jsonschema.validate(summary, json.loads(SCHEMA.read_text()))
    (ref, shared), = summary["shared_evidence"].items()
    assert "FROM pg_attribute" in shared["text"] and shared["title"].startswith("SQL (catalog")
    for gate in gates.values():
        sql, seen = gate["evidence"]
        assert sql == {"title": shared["title"], "text": f"(shared evidence {ref})",
                       "kind": "shared", "data": {"ref": ref}}
        assert seen["title"] == "row seen" and "FROM pg_attribute" not in seen["text"]

    page = newest(pytester, "html").read_text()
    assert html.unescape(html.unescape(page)).count("FROM pg_attribute") == 1
    assert f'id="{ref}"' in page and "(3 gates)" in page
    for row in html_rows(page):
        assert f'<a href="#{ref}">' in row["log"] and "pg_attribute" not in row["log"]

    merge_runs([newest(pytester, "json")], tmp_path / "merged")
    (merged,) = (tmp_path / "merged").glob("*.json")
    assert json.loads(merged.read_text())["shared_evidence"] == summary["shared_evidence"]
