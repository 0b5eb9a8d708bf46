"""The locks each release migration really takes on the baseline's tables, and each statement's
time, measured while it runs in the rehearsal.

In a transactional file every statement is followed, inside the migration's own transaction
and before it commits, by one query of its own backend's ``pg_locks``, of
``pg_stat_xact_user_tables`` (rows read and written) and of ``pg_class.relfilenode`` (a changed
one is a table rewrite). A no-transaction file commits each statement at once: a second
session samples ``pg_locks`` of the migrating backend while the statement runs, and the
statistics are read after a forced flush (PostgreSQL 15 or newer).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg

from deploy_gates.migrate import Migration, Statement
from deploy_gates.verify.saferforms import BACKFILL, safer_form

MODES = {
    "AccessShareLock": "ACCESS SHARE",
    "RowShareLock": "ROW SHARE",
    "RowExclusiveLock": "ROW EXCLUSIVE",
    "ShareUpdateExclusiveLock": "SHARE UPDATE EXCLUSIVE",
    "ShareLock": "SHARE",
    "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE",
    "ExclusiveLock": "EXCLUSIVE",
    "AccessExclusiveLock": "ACCESS EXCLUSIVE",
}
STRENGTH = list(MODES.values())
BLOCKS = {
    "ACCESS EXCLUSIVE": "reads and writes",
    "EXCLUSIVE": "writes",
    "SHARE ROW EXCLUSIVE": "writes",
    "SHARE": "writes",
}
"""The lock modes that stop a busy table's reads or writes, and what they stop."""
PROBE = """
SELECT 'lock', l.relation::bigint, l.mode, 0::bigint FROM pg_locks l
 WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted
   AND l.relation = ANY (%(oids)s::oid[])
UNION ALL
SELECT 'rows', s.relid::bigint, '', s.seq_tup_read + coalesce(s.idx_tup_fetch, 0) + s.n_tup_ins
       + s.n_tup_upd + s.n_tup_del FROM {stats} s WHERE s.relid = ANY (%(oids)s::oid[])
UNION ALL
SELECT 'file', c.oid::bigint, c.relfilenode::text, 0 FROM pg_class c
 WHERE c.oid = ANY (%(oids)s::oid[])"""
SAMPLE = "SELECT locktype, relation::bigint, mode, granted FROM pg_locks WHERE pid = %s"
MAX_SAMPLES = 1_000_000
"""Samples are back to back (a few per millisecond); at most this many per statement."""


@dataclass
class StatementRun:
    """One statement as it ran: its time, the locks it took, the rows it processed."""

    line: int
    text: str
    started: float
    ended: float = 0.0
    locks: dict[str, set[str]] = field(default_factory=dict)
    rewrites: set[str] = field(default_factory=set)
    rows: int | None = 0
    probed_before: float = 0.0
    """Seconds the probe's own queries had taken in this file before the statement began."""

    @property
    def ms(self) -> float:
        return (self.ended - self.started) * 1000


@dataclass
class MigrationRun:
    """One release migration as it ran in the rehearsal."""

    name: str
    transactional: bool
    statements: list[StatementRun] = field(default_factory=list)
    committed: float | None = None
    probed: float = 0.0
    """Seconds the probe's own queries took, left out of the times held."""

    @property
    def ms(self) -> float:
        """The time of its statements."""
        return sum(s.ms for s in self.statements)


@dataclass(frozen=True)
class LockSeen:
    """A lock a statement took on a baseline table, and whether it is flagged."""

    migration: str
    line: int
    statement: str
    table: str
    mode: str | None
    held_ms: float
    table_rows: int
    rows_while_held: int | None
    rewrite: bool
    flagged: bool
    safer: str | None

    @property
    def blocks(self) -> str | None:
        return BLOCKS.get(self.mode or "ACCESS EXCLUSIVE")

    def problem(self) -> str:
        """The one-line finding of a flagged lock."""
        where = f"{self.migration}:{self.line} {self.statement}"
        mode = self.mode or "ACCESS EXCLUSIVE"
        held = f"held {self.held_ms:.1f} ms at {self.table_rows} rows"
        if self.rewrite:
            text = (f"{where}: rewrites {self.table} under {_article(mode)} {mode} lock "
                    f"(blocks {self.blocks}), {held}")
        else:
            text = f"{where}: {mode} lock on {self.table} (blocks {self.blocks}), {held}"
            text += (f" while the migration read or wrote {self.rows_while_held} rows of baseline "
                     "tables" if self.rows_while_held else
                     " (rows processed while held: unknown)" if self.rows_while_held is None
                     else " (no rows processed while held)")
        return text + (f"; safer: {self.safer}" if self.safer else "")

    def evidence(self) -> str:
        """A line of the gate's evidence."""
        text = f"line {self.line}: {self.mode or 'lock not sampled'} on {self.table}, held " \
               f"{self.held_ms:.1f} ms" + (" (table rewritten)" if self.rewrite else "")
        if self.blocks is None:
            return text + " (blocks neither reads nor writes)"
        catalog_only = "no rows of a baseline table were processed while it was held"
        if self.flagged and (self.rewrite or self.rows_while_held != 0):
            return text + f"; flagged: blocks {self.blocks}"
        if self.flagged:
            return text + f"; flagged: blocks {self.blocks} (catalog-only: {catalog_only})"
        return text + f"; not flagged: {catalog_only}"

    def as_json(self) -> dict:
        return {"table": self.table, "mode": self.mode, "line": self.line,
                "held_ms": round(self.held_ms, 2), "rewrite": self.rewrite,
                "flagged": self.flagged}


def _later_work(statements: list[StatementRun]) -> str:
    """Advice for a lock held while later statements of its transaction work through rows."""
    busy = [s for s in statements if s.rows]
    lines = ("line " if len(busy) == 1 else "lines ") + ", ".join(
        f"{s.line} ({s.rows} rows)" for s in busy
    )
    if all(safer_form(s.text, rewrite=False) == BACKFILL for s in busy):
        return f"{BACKFILL} ({lines})"
    return f"give it a transaction of its own: {lines} worked through rows while it was held"


def _article(mode: str) -> str:
    return "an" if mode[0] in "AEIOU" else "a"


@dataclass
class LockProbe:
    """Watches release migrations on ``dsn`` (a migrate ``Watcher``): ``tables`` are the
    baseline's tables (name -> quoted name), ``rows`` what each held."""

    dsn: str
    tables: dict[str, str]
    rows: dict[str, int]
    runs: dict[str, MigrationRun] = field(default_factory=dict)

    def __call__(self, conn: psycopg.Connection, file: Migration) -> FileProbe:
        run = MigrationRun(file.name, file.transactional)
        self.runs[file.name] = run
        return FileProbe(self, conn, run)

    def seen(self, name: str, *, catalog_only: str) -> list[LockSeen]:
        """Every lock migration ``name`` took on a baseline table (the strongest mode a statement
        took on each table). Rewrites are flagged, and blocking locks held while rows of a
        baseline table were read or written; catalog-only ones when ``catalog_only`` is flag."""
        run = self.runs[name]
        found = []
        for index, st in enumerate(run.statements):
            later = run.statements[index:] if run.transactional else [st]
            rows = None if any(s.rows is None for s in later) else sum(s.rows for s in later)
            if run.transactional:
                held = run.committed - st.started - (run.probed - st.probed_before)
            else:
                held = st.ended - st.started
            for table in sorted(set(st.locks) | st.rewrites):
                modes = st.locks.get(table)
                mode = max(modes, key=STRENGTH.index) if modes else None
                rewrite = table in st.rewrites
                flagged = (mode in BLOCKS or rewrite) and (
                    rewrite or rows != 0 or catalog_only == "flag"
                )
                safer = None
                if flagged and not rewrite and st.rows == 0 and rows:
                    safer = _later_work(later)
                elif flagged:
                    safer = safer_form(st.text, rewrite=rewrite)
                found.append(LockSeen(
                    name, st.line, st.text, table, mode, held * 1000, self.rows.get(table, 0),
                    rows, rewrite, flagged, safer,
                ))
        return found


class FileProbe:
    """The watch of one migration file (a migrate ``FileWatch``)."""

    def __init__(self, probe: LockProbe, conn: psycopg.Connection, run: MigrationRun) -> None:
        self.probe, self.conn, self.run = probe, conn, run
        names = list(probe.tables)
        rows = conn.execute(
            "SELECT t.name, to_regclass(t.quoted)::bigint FROM unnest(%s::text[], %s::text[])"
            " AS t(name, quoted)", (names, [probe.tables[n] for n in names])
        ).fetchall()
        self.oids = {oid: name for name, oid in rows if oid is not None}
        self.held: dict[str, set[str]] = {}
        self.touched: dict[str, int] = {}
        self.files: dict[str, str] = {}
        self.flushes = conn.info.server_version >= 150000
        self._read(cumulative=not run.transactional)

    @contextmanager
    def statement(self, statement: Statement) -> Iterator[None]:
        st = StatementRun(statement.line, one_line(statement.text), time.monotonic(),
                          probed_before=self.run.probed)
        sampler = None if self.run.transactional else Sampler(
            self.probe.dsn, self.conn, self.oids, [self.probe.tables[t] for t in self.oids.values()]
        )
        try:
            yield
        finally:
            st.ended = time.monotonic()
            sampled = sampler.stop() if sampler else None
        self.run.statements.append(st)
        locks, touched, files = self._read(cumulative=not self.run.transactional)
        self.run.probed += time.monotonic() - st.ended
        if sampled is not None:
            locks = sampled
        st.locks = {t: modes - self.held.get(t, set()) for t, modes in locks.items()}
        st.locks = {t: modes for t, modes in st.locks.items() if modes}
        st.rewrites = {t for t, node in files.items() if self.files.get(t, node) != node}
        st.rows = sum(touched.get(t, 0) - self.touched.get(t, 0) for t in touched) \
            if touched is not None else None
        if self.run.transactional:
            self.held = locks
        self.touched, self.files = touched or {}, {**self.files, **files}

    def done(self) -> None:
        self.run.committed = time.monotonic()

    def _read(
        self, *, cumulative: bool
    ) -> tuple[dict[str, set[str]], dict[str, int] | None, dict[str, str]]:
        """Locks held now, rows processed so far, relfilenodes; sets the first reading."""
        stats = "pg_stat_user_tables" if cumulative else "pg_stat_xact_user_tables"
        if cumulative and self.flushes:
            self.conn.execute("SELECT pg_stat_force_next_flush()")
        rows = self.conn.execute(PROBE.format(stats=stats), {"oids": list(self.oids)}).fetchall()
        locks: dict[str, set[str]] = {}
        touched: dict[str, int] = {}
        files: dict[str, str] = {}
        for kind, oid, value, count in rows:
            name = self.oids[oid]
            if kind == "lock":
                locks.setdefault(name, set()).add(MODES.get(value, value))
            elif kind == "rows":
                touched[name] = count
            else:
                files[name] = value
        if not self.files:
            self.files, self.touched = files, touched
        return locks, (touched if not cumulative or self.flushes else None), files


class Sampler:
    """Watches, from a second session, the locks the migrating backend takes while a statement of
    a no-transaction file runs. The second session holds ROW EXCLUSIVE on every baseline table
    (what a busy table's writers hold), so a statement that asks for a lock that blocks writes
    (or reads) waits, and the wait shows which lock; it lets go as soon as the statement waits.
    Other locks are sampled: one held for less than a sample's round trip can be missed."""

    def __init__(self, dsn: str, conn: psycopg.Connection, tables: dict[int, str],
                 quoted: list[str]) -> None:
        self.pid, self.tables = conn.info.backend_pid, tables
        self.seen: dict[str, set[str]] = {}
        self.samples = 0
        self.stopping = threading.Event()
        self.monitor = psycopg.connect(dsn, connect_timeout=10)
        try:
            self.monitor.execute("SET lock_timeout = '5s'")
            if quoted:
                self.monitor.execute(f"LOCK TABLE {', '.join(quoted)} IN ROW EXCLUSIVE MODE")
        except psycopg.Error:
            self.monitor.close()
            raise
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        holding = True
        try:
            while not self.stopping.is_set() and self.samples < MAX_SAMPLES:
                rows = self.monitor.execute(SAMPLE, (self.pid,)).fetchall()
                for locktype, oid, mode, _ in rows:
                    if locktype == "relation" and oid in self.tables:
                        self.seen.setdefault(self.tables[oid], set()).add(MODES.get(mode, mode))
                if holding and not all(granted for *_, granted in rows):
                    self.monitor.rollback()
                    self.monitor.autocommit = True  # no open transaction to wait for
                    holding = False
                self.samples += 1
        finally:
            self.monitor.close()

    def stop(self) -> dict[str, set[str]]:
        self.stopping.set()
        self.thread.join()
        return self.seen


def one_line(text: str, limit: int = 160) -> str:
    """A statement on one line, without its semicolon, cut at ``limit`` characters."""
    flat = " ".join(text.split()).rstrip(";").rstrip()
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
