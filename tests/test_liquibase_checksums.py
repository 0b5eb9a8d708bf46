"""Liquibase's own changeset checksums for formatted SQL changelogs: the ``9:`` values Liquibase
4.24+ writes and the ``8:`` values of older releases, read back from a ledger, and the drift and
``runOnChange`` behaviour they give."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from deploy_gates.migrate import MigrationError, plan, scan, status, up
from deploy_gates.migrate.layouts.liquibase_sql import normalized_v8, normalized_v9
from deploy_gates.spec.runbook import load_runbook
from tests.dbtools import query
from tests.gaterun import gates, summary

EXAMPLE = Path(__file__).parent / "layouts" / "liquibase-sql"
VECTORS = EXAMPLE / "vectors"

# Written into databasechangelog.md5sum by the real tool: Liquibase 4.28.1 (9:) and 4.3.3 (8:),
# `update` on PostgreSQL with an includeAll of the example changelog and vectors/003-more.sql
# (which has comments, CRLF line endings, stripComments:false, runOnChange and a quoted author).
REAL = {
    "dana:create-users": ("9:886dcd506ae900a150b55fc8a3752c35", "8:068e5ff0efb45a16fba5b03d2c32387b"),
    "dana:create-invoices": ("9:77163c759445a97106bd2ff5c6472e04", "8:4921a8127940ae4fdc45cca9310ae2c8"),
    "dana:index-invoices": ("9:685f7c8b01ec970523dd13bcbc062050", "8:2eedbba5ce244f3be234e89a5dbd83e8"),
    "kim:views": ("9:08599095c06d2234a8119a7d8fb35d79", "8:5ffa15720aee3b676fd067592fa55d28"),
    "kim:crlf": ("9:6ce8dbd6d0bc2c484a2f3c497f670fe6", "8:b0626b25b75d38bc6989441e29efaf63"),
    "kim lee:quoted-id": ("9:0832ef90403599fd53bdd40994be1861", "8:82278a19ffc3c1be75c65239af24ebc4"),
}


def changelog(tmp_path: Path) -> Path:
    folder = tmp_path / "changelog"
    shutil.copytree(EXAMPLE / "changelog", folder)
    shutil.copy(VECTORS / "003-more.sql", folder)
    return folder


def test_checksums_are_the_ones_liquibase_writes(tmp_path: Path) -> None:
    found = scan(changelog(tmp_path))
    assert found.problems == []
    assert {m.name: (m.checksum, m.meta["checksum_v8"]) for m in found.migrations} == REAL


@pytest.mark.parametrize(("text", "v9", "v8"), [
    # AbstractSQLChangeTest.normalizeSql_latest / normalizeSql_V8 in Liquibase's own sources
    ("single line String", "singlelineString", "single line String"),
    ("single line string with      whitespace", "singlelinestringwithwhitespace",
     "single line string with whitespace"),
    ("\r\nmultiple\r\nline\r\nstring\r\n", "multiplelinestring", "multiple line string"),
    ("\rmultiple\rline\rstring\r", "multiplelinestring", "multiple line string"),
    ("\n\na\nline \n with \r\n \r\n double \n \n \n \n newlines", "alinewithdoublenewlines",
     "a line with double newlines"),
    (" \n \n \n   \n  ", "", ""),
    ("INSERT INTO \n    recommendation_list(instanceId, name, publicId)\nSELECT \n    DISTINCT \n"
     "        instanceId, \n          \"default\" as name, \n          \"default\" as publicId\n"
     "   FROM \n       recommendation;",
     "INSERTINTOrecommendation_list(instanceId,name,publicId)SELECTDISTINCTinstanceId,"
     "\"default\"asname,\"default\"aspublicIdFROMrecommendation;",
     "INSERT INTO recommendation_list(instanceId, name, publicId) SELECT DISTINCT instanceId, "
     "\"default\" as name, \"default\" as publicId FROM recommendation;"),
])
def test_sql_is_normalized_as_liquibase_does(text: str, v9: str, v8: str) -> None:
    assert normalized_v9(text) == v9
    assert normalized_v8(text) == v8


def test_whitespace_and_rollback_edits_keep_the_checksum_other_edits_change_it(tmp_path: Path) -> None:
    folder = changelog(tmp_path)
    path = folder / "002-invoices.sql"
    text = path.read_text()
    path.write_text(text.replace("    status", "\tstatus   ").replace(
        "--rollback DROP TABLE invoices;", "--rollback DROP TABLE IF EXISTS invoices;"))
    same = {m.name: m.checksum for m in scan(folder).migrations}
    assert same["dana:create-invoices"] == REAL["dana:create-invoices"][0]
    path.write_text(text.replace("'void'", "'void', 'late'"))
    assert {m.name: m.checksum for m in scan(folder).migrations}["dana:create-invoices"] != (
        REAL["dana:create-invoices"][0])


def applied(pg_server, tmp_path: Path) -> tuple[str, Path, list]:
    release = tmp_path / "release"
    shutil.copytree(EXAMPLE, release, ignore=shutil.ignore_patterns("vectors"))
    spec = load_runbook(release / "runbook.yaml")
    migrations = scan(spec.migrations.dir).require()
    dsn = pg_server.create_database("lb")
    up(dsn, migrations)
    return dsn, release, migrations


def test_the_rehearsal_ledger_holds_liquibases_checksums(pg_server, tmp_path: Path) -> None:
    dsn, _, _ = applied(pg_server, tmp_path)
    rows = query(dsn, "SELECT author || ':' || id, md5sum FROM databasechangelog ORDER BY orderexecuted")
    assert rows == [(name, REAL[name][0]) for name in
                    ("dana:create-users", "dana:create-invoices", "dana:index-invoices")]


def test_a_ledger_written_by_an_older_liquibase_is_compared_with_its_own_algorithm(
    pg_server, tmp_path: Path
) -> None:
    dsn, release, migrations = applied(pg_server, tmp_path)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name, (_, v8) in REAL.items():
            author, ident = name.split(":")
            conn.execute("UPDATE databasechangelog SET md5sum = %s WHERE id = %s AND author = %s",
                         (v8, ident, author))
    assert [e.state for e in status(dsn, migrations)] == ["applied"] * 3
    path = release / "changelog" / "002-invoices.sql"
    path.write_text(path.read_text().replace("'void'", "'void', 'late'"))
    edited = scan(release / "changelog").require()
    assert [e.state for e in status(dsn, edited)] == ["applied", "drifted", "applied"]


def test_an_edited_changeset_fails_the_drift_gate_naming_it_and_its_file(
    pytester: pytest.Pytester, pg_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn, release, _ = applied(pg_server, tmp_path)
    monkeypatch.setenv("SHOP_STAGING_DATABASE_URL", dsn)
    gates(pytester, release, "--target=staging", "-m", "postdeploy")
    assert summary(release)["test_ledger_checksums"]["outcome"] == "passed"
    shutil.rmtree(release / "reports")
    path = release / "changelog" / "002-invoices.sql"
    path.write_text(path.read_text().replace("'void'", "'void', 'late'"))
    result = gates(pytester, release, "--target=staging", "-m", "postdeploy")
    assert result.ret == 1
    assert summary(release)["test_ledger_checksums"]["message"] == (
        "expected each applied migration to match its file; found checksum drift: "
        "dana:create-invoices (002-invoices.sql) changed since it was applied")
    with pytest.raises(MigrationError, match=r"checksum drift: dana:create-invoices \(002-invoices\.sql\)"):
        up(dsn, scan(release / "changelog").require())


def test_run_on_change_changesets_are_reapplied_when_they_change(pg_server, tmp_path: Path) -> None:
    folder = tmp_path / "changelog"
    folder.mkdir()
    view = folder / "001-view.sql"
    view.write_text("--liquibase formatted sql\n\n--changeset kim:t\nCREATE TABLE t (a int, b int);\n"
                    "--rollback DROP TABLE t;\n\n--changeset kim:v runOnChange:true\n"
                    "CREATE OR REPLACE VIEW v AS SELECT a FROM t;\n--rollback DROP VIEW v;\n\n"
                    "--changeset kim:w\nCREATE VIEW w AS SELECT a FROM v;\n--rollback DROP VIEW w;\n")
    dsn = pg_server.create_database("lb")
    assert [m.name for m in plan(dsn, scan(folder).require())] == ["kim:t", "kim:v", "kim:w"]
    up(dsn, scan(folder).require())
    view.write_text(view.read_text().replace("SELECT a FROM t;", "SELECT a, b FROM t;"))
    changed = scan(folder).require()
    assert [e.state for e in status(dsn, changed)] == ["applied", "outdated", "applied"]
    assert [m.name for m in plan(dsn, changed)] == ["kim:v"]
    up(dsn, changed)
    assert query(dsn, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'v'") == [(2,)]
    assert query(dsn, "SELECT id, exectype, md5sum FROM databasechangelog ORDER BY orderexecuted") == [
        ("t", "EXECUTED", changed[0].checksum), ("w", "EXECUTED", changed[2].checksum),
        ("v", "RERAN", changed[1].checksum)]
    assert [e.state for e in status(dsn, changed)] == ["applied"] * 3
