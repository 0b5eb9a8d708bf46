"""Baseline rows on a real PostgreSQL: the generator honours types and constraints (or names the
table it cannot fill), seeds load, content hashes name what changed, and the lock probe measures
what a migration takes."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from deploy_gates.migrate import discover, up
from deploy_gates.migrate.errors import MigrationError
from deploy_gates.verify.catalog import read_catalog
from deploy_gates.verify.datagen import fill, read_tables
from deploy_gates.verify.locks import LockProbe
from deploy_gates.verify.seed import load_seed
from deploy_gates.verify.tabledata import (
    content_changes,
    present_in,
    quote_table,
    read_contents,
)
from tests.dbtools import query, write

SCHEMA = """
CREATE TYPE mood AS ENUM ('calm', 'busy', 'late');
CREATE DOMAIN short_code AS varchar(6);
CREATE TABLE owners (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email varchar(40) NOT NULL UNIQUE,
    active boolean NOT NULL,
    score numeric(5, 2) NOT NULL CHECK (score > 1),
    kind text NOT NULL CHECK (kind IN ('person', 'team')),
    mood mood NOT NULL,
    code short_code,
    tags text[] NOT NULL,
    meta jsonb NOT NULL,
    seen_at timestamptz NOT NULL DEFAULT now(),
    doubled numeric GENERATED ALWAYS AS (score * 2) STORED
);
CREATE TABLE flags (mood mood NOT NULL, on_call boolean NOT NULL, PRIMARY KEY (mood, on_call));
CREATE TABLE pets (
    owner_id bigint NOT NULL REFERENCES owners (id),
    name text NOT NULL,
    parent_name text,
    born date NOT NULL,
    PRIMARY KEY (owner_id, name)
);
CREATE TABLE tree (id serial PRIMARY KEY, parent_id int REFERENCES tree (id));
CREATE TABLE strict_tree (id serial PRIMARY KEY, parent_id int NOT NULL REFERENCES strict_tree (id));
CREATE TABLE orphans (id serial PRIMARY KEY, strict_id int NOT NULL REFERENCES strict_tree (id));
CREATE TABLE documents (id serial PRIMARY KEY, body tsvector NOT NULL);
CREATE TABLE stamps (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());
CREATE TABLE events (id bigint NOT NULL, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE events_all PARTITION OF events FOR VALUES FROM ('2000-01-01') TO ('2100-01-01');
"""


def filled(dsn: str, rows: int = 300):
    with psycopg.connect(dsn, autocommit=True) as conn:
        return fill(conn, read_tables(conn, frozenset()), rows)


def test_generated_rows_honour_types_and_constraints(fresh_dsn: str) -> None:
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
    report = filled(fresh_dsn)
    rows = {name: f.rows for name, f in report.filled.items()}
    assert rows["public.owners"] == 297  # score 0.5 (every 100th row) breaks CHECK (score > 1)
    assert rows["public.flags"] == 6  # every (mood, on_call) pair, no more: the key allows 6
    assert rows["public.pets"] == 300
    assert rows["public.tree"] == 300 and rows["public.stamps"] == 300
    assert rows["public.events"] == 300  # through its partition, which is not filled itself
    assert "public.events_all" not in report.filled
    kinds, moods = query(fresh_dsn, "SELECT count(DISTINCT kind), count(DISTINCT mood) FROM owners")[0]
    assert (kinds, moods) == (2, 3)
    assert query(fresh_dsn, "SELECT count(*) FROM owners WHERE code IS NULL")[0][0] == 30
    assert query(fresh_dsn, "SELECT count(DISTINCT name) FROM pets")[0][0] == 300
    assert query(fresh_dsn, "SELECT count(DISTINCT parent_name) FROM pets")[0][0] == 90
    assert query(fresh_dsn, "SELECT count(*) FROM tree WHERE parent_id IS NOT NULL")[0][0] == 0


def test_tables_the_generator_cannot_fill_are_named_with_the_reason(fresh_dsn: str) -> None:
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
    report = filled(fresh_dsn)
    empty = {f.table: f.describe() for f in report.empty}
    assert empty == {
        "public.strict_tree": "public.strict_tree: left empty: its NOT NULL foreign key "
                              "references public.strict_tree itself",
        "public.orphans": "public.orphans: left empty: it references public.strict_tree, "
                          "which has no rows",
        "public.documents": "public.documents: left empty: no generator for column body of "
                            "type tsvector",
    }


def test_rows_already_there_are_kept_and_referenced(fresh_dsn: str) -> None:
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE colours (name text PRIMARY KEY);"
                     "INSERT INTO colours VALUES ('red'), ('blue');"
                     "CREATE TABLE cars (id serial PRIMARY KEY, colour text NOT NULL "
                     "REFERENCES colours (name))")
    report = filled(fresh_dsn, rows=50)
    assert report.filled["public.colours"].describe() == (
        "public.colours: 2 rows from the baseline migrations or seed, kept")
    assert query(fresh_dsn, "SELECT count(*), count(DISTINCT colour) FROM cars")[0] == (50, 2)


def test_seed_sql_with_copy_and_a_pg_dump_archive_load(
    fresh_dsn: str, pg_server, tmp_path: Path
) -> None:
    schema = "CREATE TABLE colours (name text PRIMARY KEY, hex text);"
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute(schema)
    seed = tmp_path / "seed.sql"
    seed.write_text("INSERT INTO colours VALUES ('red', '#f00');\n"
                    "COPY colours (name, hex) FROM stdin;\nblue\t#00f\n\\.\n")
    load_seed(fresh_dsn, seed)
    assert query(fresh_dsn, "SELECT count(*) FROM colours")[0][0] == 2
    from deploy_gates.rollback import backup

    archive = backup(fresh_dsn, tmp_path / "sample.dump").path
    other = pg_server.create_database("seeded")
    with psycopg.connect(other, autocommit=True) as conn:
        conn.execute(schema)
    load_seed(other, archive)
    assert query(other, "SELECT name FROM colours ORDER BY name") == [("blue",), ("red",)]
    broken = tmp_path / "broken.sql"
    broken.write_text("INSERT INTO colours VALUES ('green', '#0f0');\nINSERT INTO nope VALUES (1);\n")
    with pytest.raises(MigrationError, match=r"broken\.sql:2: ERROR:  relation \"nope\" does not exist"):
        load_seed(other, broken)


def test_content_changes_name_the_table_and_what_changed(fresh_dsn: str) -> None:
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE a (id int PRIMARY KEY, note text, size int);"
                     "CREATE TABLE b (id int PRIMARY KEY);"
                     "INSERT INTO a SELECT g, 'n' || g, g FROM generate_series(1, 20) g;"
                     "INSERT INTO b SELECT generate_series(1, 5)")
        tables = {"public.a": ["id", "note", "size"], "public.b": ["id"]}
        before = read_contents(conn, tables, present_in(read_catalog(conn), tables))
        conn.execute("UPDATE a SET size = size + 1 WHERE id = 3; DELETE FROM b WHERE id > 3")
        after = read_contents(conn, tables, present_in(read_catalog(conn), tables))
        assert content_changes(before, after) == [
            "public.a: values of column size changed (20 rows before and after)",
            "public.b: 5 rows before, 3 after",
        ]
        conn.execute("UPDATE a SET size = size - 1 WHERE id = 3; ALTER TABLE a DROP COLUMN note;"
                     "DROP TABLE b")
        gone = read_contents(conn, tables, present_in(read_catalog(conn), tables))
        assert content_changes(before, gone) == [
            "public.a: column note is gone", "public.b: the table is gone (5 rows before)"]
        conn.execute("ALTER TABLE a ADD COLUMN note text; UPDATE a SET note = 'n' || id")
        assert content_changes(before, read_contents(conn, tables, present_in(read_catalog(conn), tables))) == [
            "public.b: the table is gone (5 rows before)"]


def test_lock_probe_measures_locks_rows_and_rewrites(fresh_dsn: str, tmp_path: Path) -> None:
    migrations = write(tmp_path / "migrations", {
        "001_base.sql": "CREATE TABLE jobs (id int PRIMARY KEY, state text);"
                        "INSERT INTO jobs SELECT g, 'new' FROM generate_series(1, 200) g;",
        "002_backfill.sql": "ALTER TABLE jobs ADD COLUMN tries int;\nUPDATE jobs SET tries = 0;\n",
        "003_rewrite.sql": "ALTER TABLE jobs ALTER COLUMN state TYPE varchar(20);\n",
        "004_index.sql": "-- deploy-gates: no-transaction\n"
                         "CREATE INDEX CONCURRENTLY jobs_state ON jobs (state);\n"
                         "CREATE INDEX jobs_tries ON jobs (tries);\n",
        "005_note.sql": "ALTER TABLE jobs ADD COLUMN note text;\n",
    })
    files = discover(migrations)
    up(fresh_dsn, files, through="001_base.sql")
    probe = LockProbe(fresh_dsn, {"public.jobs": quote_table("public.jobs")}, {"public.jobs": 200})
    up(fresh_dsn, files, watcher=probe)
    backfill = probe.seen("002_backfill.sql", catalog_only="pass")
    assert [(s.line, s.mode, s.flagged) for s in backfill] == [
        (1, "ACCESS EXCLUSIVE", True), (2, "ROW EXCLUSIVE", False)]
    assert backfill[0].problem().startswith(
        "002_backfill.sql:1 ALTER TABLE jobs ADD COLUMN tries int: ACCESS EXCLUSIVE lock on "
        "public.jobs (blocks reads and writes), held ")
    assert "ms at 200 rows while the migration read or wrote 400 rows of baseline tables; " \
           "safer: commit the schema change on its own" in backfill[0].problem()
    (rewrite,) = probe.seen("003_rewrite.sql", catalog_only="pass")
    assert rewrite.rewrite and rewrite.mode == "ACCESS EXCLUSIVE" and rewrite.flagged
    index = probe.seen("004_index.sql", catalog_only="pass")
    assert [(s.line, s.mode, s.flagged) for s in index] == [
        (2, "SHARE UPDATE EXCLUSIVE", False), (3, "SHARE", True)]
    assert index[1].safer.startswith("CREATE INDEX CONCURRENTLY")
    (note,) = probe.seen("005_note.sql", catalog_only="flag")
    assert note.flagged and note.problem().endswith("ms at 200 rows (no rows processed while held)")
    assert not probe.seen("005_note.sql", catalog_only="pass")[0].flagged
