"""The sqitch registry in sqitch's own terms: change and tag ids as sqitch computes them, written
by the rehearsal, compared on live targets, and accepted by the real ``sqitch`` both ways."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from deploy_gates.migrate import MigrationError, scan, status, up
from tests.dbtools import query
from tests.gaterun import gates, summary

EXAMPLE = Path(__file__).parent / "layouts" / "sqitch"
# What sqitch 1.3.1 (Debian) computes for the example plan (`sqitch plan -f format:%H`, and
# sqitch.tags after `sqitch deploy`).
CHANGE_IDS = {
    "users": "2a51e59d6b8aaa4f61c37abbfcdca609d117d1ee",
    "invoices": "189d5a8f3cfdf32ef0f900eeea9bd63383a094ae",
    "invoice_index": "c63eff65a24a918fce6ff3181a1534bb35856524",
}
TAG_ID = "52fe12b385f5ab65110a6e1f00e8e785b904169c"


def project(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLE, tmp_path / "sqitch")
    return tmp_path / "sqitch"


def test_change_and_tag_ids_are_sqitchs_own() -> None:
    migrations = scan(EXAMPLE).require()
    assert {m.name: m.meta["change_id"] for m in migrations} == CHANGE_IDS
    assert '"id": "' + TAG_ID + '"' in migrations[1].meta["tags"]


def test_the_rehearsal_writes_the_registry_as_sqitch_does(fresh_dsn: str) -> None:
    up(fresh_dsn, scan(EXAMPLE).require())
    assert query(fresh_dsn, "SELECT change, change_id FROM sqitch.changes ORDER BY committed_at") == [
        (name, ident) for name, ident in CHANGE_IDS.items()]
    assert query(fresh_dsn, "SELECT tag_id, tag, change_id FROM sqitch.tags") == [
        (TAG_ID, "@v2.0", CHANGE_IDS["invoices"])]
    assert query(fresh_dsn, "SELECT change_id, type, dependency, dependency_id FROM"
                            " sqitch.dependencies ORDER BY dependency DESC") == [
        (CHANGE_IDS["invoices"], "require", "users", CHANGE_IDS["users"]),
        (CHANGE_IDS["invoice_index"], "require", "invoices", CHANGE_IDS["invoices"])]
    assert query(fresh_dsn, "SELECT change, tags, requires FROM sqitch.events ORDER BY committed_at") == [
        ("users", [], []), ("invoices", ["@v2.0"], ["users"]), ("invoice_index", [], ["invoices"])]


def test_an_edited_plan_entry_is_reported_on_a_live_target(
    pytester: pytest.Pytester, pg_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = project(tmp_path)
    dsn = pg_server.create_database("live")
    up(dsn, scan(release).require())
    plan = release / "sqitch.plan"
    plan.write_text(plan.read_text().replace("# Invoices per user.", "# Invoices, one per user."))
    edited = scan(release).require()
    # the entry's id changes, and with it the parent of every later change
    assert [e.state for e in status(dsn, edited)] == ["applied", "drifted", "drifted"]
    with pytest.raises(MigrationError, match="checksum drift: invoices, invoice_index changed"):
        up(dsn, edited)
    monkeypatch.setenv("SHOP_STAGING_DATABASE_URL", dsn)
    gates(pytester, release, "--target=staging", "-m", "postdeploy")
    assert summary(release)["test_ledger_checksums"]["message"] == (
        "expected each applied migration to match its file; found checksum drift: invoices, "
        "invoice_index changed since it was applied")


needs_sqitch = pytest.mark.skipif(shutil.which("sqitch") is None,
                                  reason="sqitch is not installed (apt-get install sqitch)")


def sqitch(folder: Path, dsn: str, *args: str) -> subprocess.CompletedProcess:
    """The real sqitch on the database of ``dsn`` (over its socket or 127.0.0.1)."""
    params = conninfo_to_dict(dsn)
    env = {**os.environ, "HOME": str(folder), "SQITCH_FULLNAME": "Test", "SQITCH_EMAIL": "t@localhost",
           "PGHOST": params["host"], "PGPORT": str(params.get("port", 5432)), "PGUSER": params["user"]}
    (folder / "sqitch.conf").write_text("[core]\n\tengine = pg\n")
    return subprocess.run(["sqitch", *args, f"db:pg:{params['dbname']}"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@needs_sqitch
def test_sqitch_accepts_the_registry_deploy_gates_wrote(fresh_dsn: str, tmp_path: Path) -> None:
    release = project(tmp_path)
    up(fresh_dsn, scan(release).require())
    status_run = sqitch(release, fresh_dsn, "status")
    assert status_run.returncode == 0, status_run.stderr
    assert f"# Change:   {CHANGE_IDS['invoice_index']}" in status_run.stdout
    assert "Nothing to deploy (up-to-date)" in status_run.stdout
    verify = sqitch(release, fresh_dsn, "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "Verify successful" in verify.stdout
    revert = sqitch(release, fresh_dsn, "revert", "-y", "--to", "@v2.0")
    assert revert.returncode == 0, revert.stdout + revert.stderr
    assert [e.state for e in status(fresh_dsn, scan(release).require())] == [
        "applied", "applied", "pending"]


@needs_sqitch
def test_a_registry_sqitch_wrote_reads_as_up_to_date(fresh_dsn: str, tmp_path: Path) -> None:
    release = project(tmp_path)
    deploy = sqitch(release, fresh_dsn, "deploy")
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    migrations = scan(release).require()
    assert [e.state for e in status(fresh_dsn, migrations)] == ["applied"] * 3
    assert up(fresh_dsn, migrations) == []
