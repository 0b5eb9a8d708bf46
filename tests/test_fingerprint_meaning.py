"""Fingerprints compare what a definition means, not how PostgreSQL happens to print it."""

from __future__ import annotations

from pathlib import Path

import psycopg

from deploy_gates.rollback import backup, restore
from deploy_gates.verify.catalog import diff, read_catalog

CHECKED = """
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    status varchar(16) NOT NULL CHECK (status IN ('new', 'paid', 'shipped')),
    kind varchar(8) DEFAULT 'web' CHECK (kind::text = ANY (ARRAY['web', 'shop']))
);
CREATE VIEW open_orders AS SELECT id FROM orders WHERE status IN ('new', 'paid');
"""


def fingerprint(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return read_catalog(conn).fingerprint()


def test_backup_round_trip_of_varchar_in_checks_is_no_difference(pg_server, tmp_path: Path) -> None:
    source = pg_server.create_database("printed")
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute(CHECKED)
    restored = pg_server.create_database("restored")
    restore(backup(source, tmp_path / "b.dump").path, restored)
    assert diff(fingerprint(source), fingerprint(restored)) == []


def test_a_real_change_of_a_check_is_still_a_difference(pg_server) -> None:
    before = pg_server.create_database("before")
    after = pg_server.create_database("after")
    with psycopg.connect(before, autocommit=True) as conn:
        conn.execute(CHECKED)
    with psycopg.connect(after, autocommit=True) as conn:
        conn.execute(CHECKED.replace("'shipped'", "'returned'"))
    assert diff(fingerprint(before), fingerprint(after)) == [
        "changed: constraint public.orders.orders_status_check"]
