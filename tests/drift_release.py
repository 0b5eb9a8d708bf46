"""A small release with a lock file, for the drift and rollback tests: the baseline has one
table; the release adds a column, a check, an index, a table with a foreign key, a sequence, and
changes a baseline column's default."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.dbtools import write
from tests.gaterun import ROOT

SPEC = """\
system: demo
release: "2"
targets:
  rehearsal: {kind: ephemeral, provider: embedded}
  live: {kind: live, dsn_env: DG_DRIFT_DSN}
migrations: {dir: migrations, down_dir: down, baseline: 001_items.sql}
"""
MIGRATIONS = {
    "001_items.sql": "CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL);\n",
    "002_status.sql": """\
ALTER TABLE items ADD COLUMN status text NOT NULL DEFAULT 'new';
ALTER TABLE items ALTER COLUMN name SET DEFAULT 'unnamed';
ALTER TABLE items ADD CONSTRAINT items_status_check CHECK (status IN ('new', 'done'));
CREATE INDEX idx_items_status ON items (status);
CREATE TABLE tags (
    id bigserial PRIMARY KEY,
    item_id bigint NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    label text UNIQUE
);
CREATE SEQUENCE ticket_seq START 100;
""",
}
DOWN = {
    "002_status.sql": """\
DROP SEQUENCE IF EXISTS ticket_seq;
DROP TABLE IF EXISTS tags;
DROP INDEX IF EXISTS idx_items_status;
ALTER TABLE items DROP CONSTRAINT IF EXISTS items_status_check;
ALTER TABLE items ALTER COLUMN name DROP DEFAULT;
ALTER TABLE items DROP COLUMN IF EXISTS status;
""",
}
STATEMENT = re.compile(r"\bLOG:\s+(?:statement|execute [^:]*):\s*(\w+)")


def write_release(directory: Path, spec: str = SPEC) -> Path:
    """The release's spec, migrations and down scripts in ``directory``."""
    write(directory / "migrations", MIGRATIONS)
    write(directory / "down", DOWN)
    (directory / "runbook.yaml").write_text(spec)
    return directory


def write_lock(release: Path) -> subprocess.CompletedProcess:
    """``deploy-gates lock --runbook ...`` as users run it."""
    return subprocess.run(
        [sys.executable, "-m", "deploy_gates", "lock",
         "--runbook", str(release / "runbook.yaml")],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )


def deployed(pg_server, release: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A live database with the whole release applied, named by the spec's ``dsn_env``."""
    from deploy_gates.migrate import discover, up

    dsn = pg_server.create_database("live")
    up(dsn, discover(release / "migrations"))
    monkeypatch.setenv("DG_DRIFT_DSN", dsn)
    return dsn


def execute(dsn: str, text: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(text)  # type: ignore[arg-type]


def log_statements(pg_server, dsn: str) -> None:
    """Make the server log every statement run on ``dsn``'s database."""
    name = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    with pg_server.connect() as conn:
        conn.execute(f'ALTER DATABASE "{name}" SET log_statement = \'all\'')


def statements_since(pg_server, offset: int) -> list[str]:
    """The statements the server logged after byte ``offset`` of its log."""
    with pg_server.log_path.open("rb") as log:
        log.seek(offset)
        return STATEMENT.findall(log.read().decode(errors="replace"))
