"""The ledger that records which migrations a database has applied, in the shape of the tool that
keeps it. The runner, the rollback, ``status``/``plan`` and the ledger gates all reach it through
``locate``: one code path per format, in ``migrate.ledgers``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
from typing import ClassVar

import psycopg
from psycopg import sql

from deploy_gates.migrate.errors import MigrationError
from deploy_gates.migrate.migration import Migration
from deploy_gates.spec.runbook import Ledger

FORMATS = {
    "deploy-gates": ("native", "schema_migrations"),
    "plain": ("native", "schema_migrations"),
    "golang-migrate": ("golang", "schema_migrations"),
    "dbmate": ("dbmate", "schema_migrations"),
    "flyway": ("flyway", "flyway_schema_history"),
    "sqitch": ("sqitch", "sqitch.changes"),
    "liquibase": ("liquibase", "databasechangelog"),
}
"""Ledger format -> (module in ``migrate.ledgers``, default table)."""
LAYOUT_FORMATS = {
    "numbered": "deploy-gates", "golang-migrate": "golang-migrate", "dbmate": "dbmate",
    "flyway": "flyway", "sqitch": "sqitch", "liquibase-sql": "liquibase",
}
"""Each layout's ledger format, unless the spec's ``migrations.ledger.format`` says another."""
DEFAULT_SETTINGS = Ledger()
"""The layout's own ledger, in the default schema."""


@dataclass(frozen=True)
class LedgerRow:
    """One recorded migration, by the id its ledger gives it; ``success`` is None when the
    ledger does not record failures, ``checksum`` and ``applied_at`` when it does not keep them."""

    version: str
    checksum: str | None
    applied_at: datetime | None
    execution_ms: int | None
    success: bool | None


@dataclass(frozen=True)
class LedgerRead:
    """What a ledger says, and the SQL that read it (for evidence)."""

    rows: list[LedgerRow]
    query: str
    records_failures: bool


@dataclass(frozen=True)
class LedgerTable:
    """A ledger table of one format: where it is, how to read it and how the runner writes it."""

    schema: str
    name: str
    format: ClassVar[str] = ""

    @property
    def ident(self) -> sql.Identifier:
        """The schema-qualified identifier (stable even if a migration changes search_path)."""
        return sql.Identifier(self.schema, self.name)

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"

    def owns(self, key: str) -> bool:
        """True when the catalog key ``key`` is the ledger's bookkeeping, not schema."""
        return key == str(self) or key.startswith(f"{self}.")

    def columns(self, conn: psycopg.Connection) -> set[str] | None:
        """The table's column names; None when it does not exist."""
        name = self.ident.as_string(conn)
        if conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] is None:
            return None
        rows = conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s)"
            " AND attnum > 0 AND NOT attisdropped",
            (name,),
        ).fetchall()
        return {row[0] for row in rows}

    def require(self, columns: set[str], needed: tuple[str, ...], hint: str = "") -> None:
        """Refuse a table that lacks any of the ``needed`` columns."""
        missing = [c for c in needed if c not in columns]
        if missing:
            raise MigrationError(
                f"ledger table {self} exists but lacks column(s) {', '.join(missing)}; "
                f"expected {', '.join(needed)} ({self.format} ledger){hint}"
            )

    def create_schema(self, conn: psycopg.Connection) -> None:
        """Create the ledger's schema when it is missing."""
        found = conn.execute("SELECT to_regnamespace(%s)",
                             (sql.Identifier(self.schema).as_string(conn),)).fetchone()[0]
        if found is None:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                sql.Identifier(self.schema)))

    def read(self, conn: psycopg.Connection, migrations: list[Migration]) -> LedgerRead | None:
        """The recorded migrations (ids as ``Migration.id``); None when there is no ledger."""
        raise NotImplementedError

    def ensure(self, conn: psycopg.Connection) -> None:
        """Create the ledger in its tool's shape when missing; refuse one of another shape."""
        raise NotImplementedError

    def start(self, conn: psycopg.Connection, migration: Migration) -> bool:
        """Before ``migration`` runs (outside its transaction): record it as running where the
        format does, and say whether it did (then a failure stays recorded as failed)."""
        return False

    def finish(
        self, conn: psycopg.Connection, migration: Migration, execution_ms: int, started: bool
    ) -> None:
        """Record ``migration`` as applied (inside its transaction when it has one)."""
        raise NotImplementedError

    def remove(
        self, conn: psycopg.Connection, migration: Migration, migrations: list[Migration]
    ) -> None:
        """Record that ``migration`` was rolled back (``migrations``: all, in order)."""
        raise NotImplementedError


def format_of(settings: Ledger, layout: str) -> str:
    """The ledger format of a layout under the spec's settings."""
    return settings.format or LAYOUT_FORMATS[layout]


def locate(conn: psycopg.Connection, settings: Ledger, layout: str = "numbered") -> LedgerTable:
    """The ledger ``settings`` name for migrations of ``layout``: ``schema.name`` as written, a
    bare name in the first existing schema of the connection's search_path."""
    kind = format_of(settings, layout)
    module, default = FORMATS[kind]
    schema, _, name = (settings.table or default).rpartition(".")
    if not schema:
        schema = conn.execute("SELECT current_schema()").fetchone()[0]
        if schema is None:
            raise MigrationError(
                f"no default schema for ledger {settings.table or default}: search_path names "
                "none"
            )
    return import_module(f"deploy_gates.migrate.ledgers.{module}").table(
        kind, schema, name, settings
    )


def layout_of(migrations: list[Migration]) -> str:
    """The layout of a release's migrations (``numbered`` when there are none)."""
    return migrations[0].layout if migrations else "numbered"
