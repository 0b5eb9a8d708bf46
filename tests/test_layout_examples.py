"""Each layout's example (tests/layouts/<layout>/) rehearses green, and a broken copy is caught;
its ledger, written by the rehearsal in the tool's shape, is read back by status and the gates."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from deploy_gates.migrate import scan, status, up
from deploy_gates.spec.runbook import load_runbook
from tests.gaterun import gates, summary

EXAMPLES = Path(__file__).parent / "layouts"
FOLDER = {"numbered": "migrations", "golang-migrate": "migrations", "dbmate": "db/migrations",
          "flyway": "sql", "sqitch": ".", "liquibase-sql": "changelog"}
INVOICES_DOWN = {
    "numbered": ("down/002__create-invoices.sql", "DROP TABLE invoices;"),
    "golang-migrate": ("migrations/000002_create_invoices.down.sql", "DROP TABLE IF EXISTS invoices;"),
    "dbmate": ("db/migrations/20250301120000_create_invoices.sql", "DROP TABLE invoices;"),
    "flyway": ("sql/U1_1__Create_invoices.sql", "DROP TABLE invoices;"),
    "sqitch": ("revert/invoices.sql", "DROP TABLE invoices;"),
    "liquibase-sql": ("changelog/002-invoices.sql", "--rollback DROP TABLE invoices;"),
}
LAYOUTS = list(FOLDER)


def copy(layout: str, tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLES / layout, tmp_path / layout)
    return tmp_path / layout


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_is_detected(layout: str) -> None:
    found = scan(EXAMPLES / layout / FOLDER[layout])
    assert (found.layout, found.problems) == (layout, [])
    assert found.detected or layout == "numbered"
    assert len(found.migrations) == 3 + (layout == "flyway")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_example_rehearses_green(pytester: pytest.Pytester, tmp_path: Path, layout: str) -> None:
    release = copy(layout, tmp_path)
    result = gates(pytester, release, "--target=rehearsal")
    assert result.ret == 0, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines([f"deploy-gates: migrations *: layout {layout} (*), * migration(s)"])
    outcomes = summary(release)
    assert outcomes["test_absent_after_down[table:invoices]"]["outcome"] == "passed"
    assert outcomes["test_backup_restores_baseline"]["outcome"] == "passed"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_broken_down_script_is_caught(pytester: pytest.Pytester, tmp_path: Path, layout: str) -> None:
    release = copy(layout, tmp_path)
    path, drop = INVOICES_DOWN[layout]
    text = (release / path).read_text()
    assert drop in text
    (release / path).write_text(text.replace(drop, drop.replace("DROP TABLE IF EXISTS invoices", "SELECT 1")
                                             .replace("DROP TABLE invoices", "SELECT 1")))
    result = gates(pytester, release, "--target=rehearsal")
    assert result.ret == 1
    outcomes = summary(release)
    assert outcomes["test_absent_after_down[table:invoices]"]["message"] == (
        "expected table invoices to be gone after rollback; found: it is still there")
    assert "left behind: table public.invoices" in outcomes["test_schema_restored"]["message"]


def test_sqitch_verify_scripts_are_gates(pytester: pytest.Pytester, tmp_path: Path) -> None:
    release = copy("sqitch", tmp_path)
    verify = release / "verify" / "invoices.sql"
    verify.write_text(verify.read_text().replace("status FROM", "currency FROM"))
    gates(pytester, release, "--target=rehearsal")
    outcomes = summary(release)
    assert outcomes["test_verified_after_up[users]"]["outcome"] == "passed"
    message = outcomes["test_verified_after_up[invoices]"]["message"]
    assert message.startswith("expected verify/invoices.sql of invoices to pass; found: "
                              "verify/invoices.sql:5: column \"currency\" does not exist")
    assert outcomes["test_verify_script[invoices]"]["outcome"] == "failed"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_tools_ledger_is_read_on_a_live_target(
    pytester: pytest.Pytester, tmp_path: Path, pg_server, monkeypatch: pytest.MonkeyPatch,
    layout: str,
) -> None:
    release = copy(layout, tmp_path)
    spec = load_runbook(release / "runbook.yaml")
    migrations = scan(spec.migrations.dir).require()
    dsn = pg_server.create_database("live")
    up(dsn, migrations, ledger=spec.migrations.ledger)
    assert [e.state for e in status(dsn, migrations, ledger=spec.migrations.ledger)] == [
        "applied"] * len(migrations)
    monkeypatch.setenv("SHOP_STAGING_DATABASE_URL", dsn)
    result = gates(pytester, release, "--target=staging", "-m", "postdeploy")
    assert result.ret == 0, result.stdout.str()[-3000:]
    outcomes = summary(release)
    assert outcomes["test_nothing_pending"]["outcome"] == "passed"
    failed = outcomes["test_nothing_failed"]
    if layout in ("dbmate", "sqitch"):
        assert failed["outcome"] == "skipped"
        assert failed["message"].startswith(f"cannot tell: the {layout} ledger ")
    else:
        assert failed["outcome"] == "passed"


def test_sqitch_example_rehearses_with_psql(pytester: pytest.Pytester, tmp_path: Path) -> None:
    release = copy("sqitch", tmp_path)
    spec = release / "runbook.yaml"
    spec.write_text(spec.read_text().replace("  baseline: users", "  baseline: users\n  executor: psql"))
    (release / "deploy" / "users.sql").write_text(
        "\\echo deploying users\n" + (release / "deploy" / "users.sql").read_text())
    result = gates(pytester, release, "--target=rehearsal")
    assert result.ret == 0, result.stdout.str()[-3000:]
