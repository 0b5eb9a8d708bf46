"""Fingerprints compare what a definition means, not how PostgreSQL happens to print it."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from deploy_gates.fixtures.ephemeral import Server
from deploy_gates.rollback import backup, restore
from deploy_gates.verify.catalog import Catalog, diff, read_catalog
from deploy_gates.verify.definitions import definitions, differences
from deploy_gates.verify.sqltext import same_sql

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


VARIED = """
CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
CREATE DOMAIN short_code AS varchar(8) CHECK (VALUE IN ('a', 'b', 'c'));
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE SEQUENCE ticket_seq;
CREATE TABLE items (
    id serial PRIMARY KEY,
    ticket bigint DEFAULT nextval('ticket_seq'::regclass),
    status varchar(16) NOT NULL CHECK (status IN ('new', 'paid', 'shipped')),
    kind text CHECK (kind IN ('web', 'shop')),
    n int CHECK (n IN (1, 2, 3)) CHECK (n NOT IN (4, 5)),
    price numeric(10,2) DEFAULT 0 CHECK (price >= 0.00),
    created timestamptz DEFAULT now(),
    day date DEFAULT '2020-01-01',
    tags varchar(10)[] DEFAULT ARRAY['a', 'b']::varchar[],
    m mood DEFAULT 'ok',
    code short_code,
    pos positive_int,
    total numeric GENERATED ALWAYS AS (price * n) STORED,
    upper_kind text GENERATED ALWAYS AS (upper(kind)) STORED,
    CONSTRAINT between_c CHECK (n BETWEEN 0 AND 10)
);
CREATE UNIQUE INDEX items_open ON items (status) WHERE status IN ('new', 'paid');
CREATE INDEX items_flag ON items ((status IN ('new', 'paid')));
CREATE INDEX items_ts ON items (created) WHERE created > '2020-01-01'::timestamptz;
CREATE VIEW open_items AS SELECT id, status::text AS s, n::bigint AS nb, CAST(kind AS varchar(4)) AS k,
    'lit'::varchar AS l FROM items WHERE status IN ('new', 'paid') AND n NOT IN (3);
CREATE VIEW coded AS SELECT id FROM items WHERE code IN ('a', 'b') AND m IN ('ok', 'happy')
    AND tags && ARRAY['a']::varchar[];
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER items_touch BEFORE UPDATE ON items FOR EACH ROW
    WHEN (NEW.status IN ('new', 'paid')) EXECUTE FUNCTION touch();
ALTER TABLE items ENABLE ROW LEVEL SECURITY;
CREATE POLICY open_only ON items USING (status IN ('new', 'paid'));
CREATE TABLE slots (r int4range, s varchar(3), EXCLUDE USING gist (r WITH &&) WHERE (s IN ('a', 'b')));
"""


def catalog_of(dsn: str) -> Catalog:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return read_catalog(conn)


def made(pg_server: Server, name: str, sql: str) -> str:
    dsn = pg_server.create_database(name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql)
    return dsn


def test_backup_round_trip_of_a_varied_schema_is_no_difference(pg_server, tmp_path: Path) -> None:
    """IN lists on varchar in index predicates and expressions, trigger conditions and policies
    are respelled by pg_restore as the CHECK constraints are; casts, defaults, generated columns,
    domains and views come back as they were."""
    source = made(pg_server, "varied", VARIED)
    restored = pg_server.create_database("varied_restored")
    restore(backup(source, tmp_path / "b.dump").path, restored)
    before, after = catalog_of(source), catalog_of(restored)
    assert len(before.fingerprint()) > 40
    assert diff(before.fingerprint(), after.fingerprint()) == []
    theirs = definitions(after)
    assert {key: found for key, want in definitions(before).items()
            if (found := differences(want, theirs[key]))} == {}


@pytest.mark.parametrize(("change", "key"), [
    ("WHERE status IN ('new', 'paid');", "index public.items_open"),
    ("((status IN ('new', 'paid')))", "index public.items_flag"),
    ("WHEN (NEW.status IN ('new', 'paid'))", "trigger public.items.items_touch"),
    ("USING (status IN ('new', 'paid'))", "policy public.items.open_only"),
    ("WHERE (s IN ('a', 'b'))", "index public.slots_r_excl"),
    ("CHECK (VALUE IN ('a', 'b', 'c'))", "domain public.short_code"),
])
def test_a_real_change_of_a_respelled_definition_is_still_a_difference(
    pg_server, change: str, key: str
) -> None:
    assert change in VARIED
    before = catalog_of(made(pg_server, "before", VARIED))
    changed = change.replace("'paid'", "'gone'").replace("'b'", "'z'")
    after = catalog_of(made(pg_server, "after", VARIED.replace(change, changed)))
    found = diff(before.fingerprint(), after.fingerprint())
    assert f"changed: {key}" in found and all(c.startswith("changed: ") for c in found), found
    kind, name = key.split(" ")
    lock_key = f"{kind}:{name}"
    assert differences(definitions(before)[lock_key], definitions(after)[lock_key]) != []


PG15_VIEW = """ SELECT u.id,
    u.email
   FROM users u
  WHERE (NOT (EXISTS ( SELECT 1
           FROM dblink('content'::text, 'SELECT id FROM users'::text) c(id bigint)
          WHERE (c.id = u.id))));"""
"""A view as PostgreSQL 15 prints it: every column qualified."""
PG18_VIEW = PG15_VIEW.replace("SELECT u.id,\n    u.email", "SELECT id,\n    email")
"""The same view as PostgreSQL 16 and later print it: a one-table level's columns unqualified."""


def test_a_view_printed_by_two_majors_is_the_same_view() -> None:
    assert same_sql(PG15_VIEW, PG18_VIEW)
    assert not same_sql(PG15_VIEW, PG18_VIEW.replace("email", "name"))
    assert not same_sql(PG15_VIEW, PG18_VIEW.replace("c.id = u.id", "c.id = u.owner_id"))
    assert not same_sql("SELECT a FROM t WHERE EXISTS (SELECT 1 FROM s WHERE s.x = t.a)",
                        "SELECT a FROM t WHERE EXISTS (SELECT 1 FROM s WHERE s.x = s.a)")
