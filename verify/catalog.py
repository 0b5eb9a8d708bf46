"""One snapshot of a database's schema, read with a fixed number of catalog queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from deploy_gates.migrate import Migration, MigrationError
from deploy_gates.migrate.ledger import LedgerTable, layout_of, locate
from deploy_gates.spec.runbook import Ledger, Runbook
from deploy_gates.verify.canonical import canonical

USER_SCHEMAS = """n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'"""
NOT_FROM_EXTENSION = """NOT EXISTS (SELECT 1 FROM pg_depend d
    WHERE d.objid = {oid} AND d.deptype = 'e')"""

QUERIES = {
    "relations": f"""
        SELECT n.nspname || '.' || c.relname, c.relkind,
               CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND {USER_SCHEMAS}
          AND {NOT_FROM_EXTENSION.format(oid="c.oid")}""",
    "columns": f"""
        SELECT n.nspname || '.' || c.relname || '.' || a.attname,
               format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(ad.adbin, ad.adrelid)
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
        WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND {USER_SCHEMAS} AND {NOT_FROM_EXTENSION.format(oid="c.oid")}""",
    "indexes": f"""
        SELECT n.nspname || '.' || i.relname, n.nspname || '.' || t.relname,
               pg_get_indexdef(i.oid)
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = i.relnamespace
        WHERE {USER_SCHEMAS} AND {NOT_FROM_EXTENSION.format(oid="t.oid")}""",
    "constraints": f"""
        SELECT n.nspname || '.' || t.relname || '.' || k.conname, pg_get_constraintdef(k.oid)
        FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE {USER_SCHEMAS} AND {NOT_FROM_EXTENSION.format(oid="t.oid")}""",
    "triggers": f"""
        SELECT n.nspname || '.' || t.relname || '.' || g.tgname, pg_get_triggerdef(g.oid)
        FROM pg_trigger g JOIN pg_class t ON t.oid = g.tgrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE NOT g.tgisinternal AND {USER_SCHEMAS}""",
    "functions": f"""
        SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid)
               || ')', p.prokind::text || ' ' || pg_get_function_result(p.oid) || ' '
               || md5(coalesce(p.prosrc, ''))
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE {USER_SCHEMAS} AND {NOT_FROM_EXTENSION.format(oid="p.oid")}""",
    "types": f"""
        SELECT n.nspname || '.' || t.typname, t.typtype,
               CASE t.typtype
                 WHEN 'e' THEN (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                                FROM pg_enum e WHERE e.enumtypid = t.oid)
                 WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod) END
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE t.typtype IN ('e', 'd') AND {USER_SCHEMAS}
          AND {NOT_FROM_EXTENSION.format(oid="t.oid")}""",
    "extensions": "SELECT extname, extversion FROM pg_extension WHERE extname <> 'plpgsql'",
    "schemas": f"""
        SELECT n.nspname FROM pg_namespace n WHERE {USER_SCHEMAS} AND n.nspname <> 'public'""",
}
VIEW, EXPRESSION, CONSTRAINT = "CREATE VIEW v AS {}", "SELECT {}", "ALTER TABLE t ADD {}"
"""Statements around a definition, for ``canonical``."""
RELKIND = {"r": "table", "p": "table", "v": "view", "m": "view", "S": "sequence", "f": "table"}


@dataclass(frozen=True)
class ColumnInfo:
    """A column as the database has it."""

    type: str
    not_null: bool
    default: str | None


@dataclass
class Catalog:
    """The user-visible schema objects of one database, keyed by schema-qualified name."""

    relations: dict[str, str] = field(default_factory=dict)
    view_definitions: dict[str, str] = field(default_factory=dict)
    columns: dict[str, ColumnInfo] = field(default_factory=dict)
    indexes: dict[str, tuple[str, str]] = field(default_factory=dict)
    constraints: dict[str, str] = field(default_factory=dict)
    triggers: dict[str, str] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)
    domains: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)
    schemas: set[str] = field(default_factory=set)
    ledger_table: LedgerTable | None = None
    ledger: dict[str, bool | None] | None = None
    """Recorded migrations by name -> succeeded (None: the ledger does not record failures)."""
    ledger_records_failures: bool = False
    ledger_problem: str | None = None
    nonempty_views: set[str] = field(default_factory=set)
    sql: dict[str, str] = field(default_factory=dict)
    taken_at: str = ""

    @property
    def queries(self) -> int:
        """How many statements the snapshot took."""
        return len(self.sql)

    def fingerprint(self) -> dict[str, str]:
        """Every object and its definition (``kind name -> definition``), for diffs; the ledger
        table is bookkeeping, not schema, and is left out."""
        ledger = self.ledger_table

        def kept(key: str) -> bool:
            return ledger is None or not ledger.owns(key)

        items: dict[str, str] = {}
        for key, kind in self.relations.items():
            items[f"{kind} {key}"] = canonical(self.view_definitions.get(key, ""), VIEW)
        for key, col in self.columns.items():
            items[f"column {key}"] = (
                f"{col.type} {'NOT NULL' if col.not_null else 'NULL'} "
                f"{canonical(col.default, EXPRESSION)}"
            )
        for key, (table, definition) in self.indexes.items():
            if kept(table):
                items[f"index {key}"] = definition
        items.update({f"constraint {k}": canonical(v, CONSTRAINT)
                      for k, v in self.constraints.items()})
        items.update({f"trigger {k}": v for k, v in self.triggers.items()})
        items.update({f"function {k}": v for k, v in self.functions.items()})
        items.update({f"enum type {k}": ",".join(v) for k, v in self.enums.items()})
        items.update({f"domain {k}": v for k, v in self.domains.items()})
        items.update({f"extension {k}": v for k, v in self.extensions.items()})
        items.update({f"schema {k}": "" for k in self.schemas})
        return {k: v for k, v in items.items() if kept(k.split(" ")[-1])}


def diff(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Readable differences between two fingerprints: what appeared, vanished or changed."""
    lines = [f"left behind: {k}" for k in sorted(after.keys() - before.keys())]
    lines += [f"missing: {k}" for k in sorted(before.keys() - after.keys())]
    lines += [
        f"changed: {k}" for k in sorted(before.keys() & after.keys()) if before[k] != after[k]
    ]
    return lines


def read_catalog(
    conn: psycopg.Connection,
    *,
    ledger: Ledger | None = None,
    migrations: list[Migration] = (),
    probe_views: tuple[str, ...] = (),
) -> Catalog:
    """Snapshot the schema of ``conn``'s database, with the ledger the settings name (in the
    shape of the ``migrations``' layout); the query count does not grow with objects."""
    cat = Catalog()
    with conn.cursor() as cur:
        for name, query in QUERIES.items():
            rows = cur.execute(query).fetchall()
            cat.sql[name] = query
            _store(cat, name, rows)
    if ledger is not None:
        _read_ledger(conn, locate(conn, ledger, layout_of(list(migrations))), cat,
                     list(migrations))
    existing = [v for v in probe_views if qualified(v) in cat.view_definitions]
    if existing:
        probes = sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT {} WHERE EXISTS (SELECT 1 FROM {})").format(
                sql.Literal(v), sql.Identifier(*qualified(v).split("."))
            )
            for v in existing
        )
        cat.nonempty_views = {qualified(row[0]) for row in conn.execute(probes).fetchall()}
        cat.sql["view rows"] = probes.as_string(conn)
    cat.taken_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return cat


def snapshot(conn: psycopg.Connection, runbook: Runbook) -> Catalog:
    """Read the catalog together with the ledger and the probed views the spec names."""
    from deploy_gates.verify.release import migration_files

    return read_catalog(
        conn,
        ledger=runbook.migrations.ledger if runbook.migrations else None,
        migrations=migration_files(runbook),
        probe_views=tuple(runbook.expected.empty_views),
    )


def _store(cat: Catalog, name: str, rows: list[tuple]) -> None:
    if name == "relations":
        for key, relkind, viewdef in rows:
            cat.relations[key] = RELKIND[relkind]
            if viewdef is not None:
                cat.view_definitions[key] = viewdef
    elif name == "columns":
        cat.columns = {key: ColumnInfo(t, nn, d) for key, t, nn, d in rows}
    elif name == "indexes":
        cat.indexes = {key: (table, definition) for key, table, definition in rows}
    elif name == "types":
        for key, typtype, detail in rows:
            if typtype == "e":
                cat.enums[key] = tuple(detail.split(",")) if detail else ()
            else:
                cat.domains[key] = detail
    elif name == "schemas":
        cat.schemas = {row[0] for row in rows}
    else:
        setattr(cat, name, dict(rows))


def _read_ledger(
    conn: psycopg.Connection, table: LedgerTable, cat: Catalog, migrations: list[Migration]
) -> None:
    """The ledger's rows (migration name -> succeeded), read as the runner reads them; or why
    not."""
    cat.ledger_table = table
    try:
        found = table.read(conn, migrations)
    except MigrationError as exc:
        cat.ledger_problem = str(exc)
        return
    if found is None:
        cat.ledger_problem = f"expected ledger table {table}; found: it does not exist"
        return
    cat.sql["ledger"] = found.query
    names = {m.id: m.name for m in migrations}
    cat.ledger = {names.get(r.version, r.version): r.success for r in found.rows}
    cat.ledger_records_failures = found.records_failures


def qualified(name: str) -> str:
    """``name`` with the default schema added when it has none."""
    return name if "." in name else f"public.{name}"
