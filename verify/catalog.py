"""One snapshot of a database's schema, read with a fixed number of catalog queries."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from deploy_gates.migrate import Migration, MigrationError
from deploy_gates.migrate.ledger import LedgerTable, layout_of, locate
from deploy_gates.spec.runbook import Ledger, Runbook
from deploy_gates.verify.sqltext import fingerprint_form

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
        SELECT n.nspname || '.' || t.relname || '.' || g.tgname, pg_get_triggerdef(g.oid),
               g.tgenabled = 'D'
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
                 WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod) END,
               t.typnotnull, t.typdefault,
               ARRAY(SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
                     WHERE c.contypid = t.oid AND c.contype = 'c' ORDER BY c.conname)
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE t.typtype IN ('e', 'd') AND {USER_SCHEMAS}
          AND {NOT_FROM_EXTENSION.format(oid="t.oid")}""",
    "extensions": "SELECT extname, extversion FROM pg_extension WHERE extname <> 'plpgsql'",
    "schemas": f"""
        SELECT n.nspname FROM pg_namespace n WHERE {USER_SCHEMAS} AND n.nspname <> 'public'""",
    "index_details": f"""
        SELECT n.nspname || '.' || i.relname, am.amname, x.indisunique,
               ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, false)
                     FROM generate_series(1, x.indnkeyatts) AS k ORDER BY k),
               pg_get_expr(x.indpred, x.indrelid)
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = i.relnamespace
        JOIN pg_am am ON am.oid = i.relam
        WHERE {USER_SCHEMAS} AND {NOT_FROM_EXTENSION.format(oid="t.oid")}""",
    "constraint_details": f"""
        SELECT n.nspname || '.' || t.relname || '.' || k.conname, k.contype::text,
               ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY AS u(num, ord)
                     JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.num
                     ORDER BY u.ord),
               rn.nspname || '.' || r.relname,
               ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY AS u(num, ord)
                     JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.num
                     ORDER BY u.ord),
               k.confdeltype::text, k.confupdtype::text, pg_get_expr(k.conbin, k.conrelid)
        FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        LEFT JOIN pg_class r ON r.oid = k.confrelid
        LEFT JOIN pg_namespace rn ON rn.oid = r.relnamespace
        WHERE k.contype IN ('p', 'u', 'f', 'c', 'x') AND {USER_SCHEMAS}
          AND {NOT_FROM_EXTENSION.format(oid="t.oid")}""",
    "sequences": f"""
        SELECT n.nspname || '.' || c.relname, format_type(s.seqtypid, NULL), s.seqstart,
               s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
               (SELECT tn.nspname || '.' || t.relname || '.' || a.attname
                FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
                JOIN pg_namespace tn ON tn.oid = t.relnamespace
                JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') LIMIT 1)
        FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {USER_SCHEMAS} AND {NOT_FROM_EXTENSION.format(oid="c.oid")}""",
    "grants": f"""
        SELECT a.privilege_type, n.nspname || '.' || c.relname, coalesce(r.rolname, 'PUBLIC'),
               a.is_grantable
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        CROSS JOIN LATERAL aclexplode(c.relacl) AS a
        LEFT JOIN pg_roles r ON r.oid = a.grantee
        WHERE c.relacl IS NOT NULL AND a.grantee <> c.relowner
          AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND {USER_SCHEMAS}
          AND {NOT_FROM_EXTENSION.format(oid="c.oid")}""",
    "policies": f"""
        SELECT n.nspname || '.' || t.relname || '.' || p.polname, p.polcmd::text,
               p.polpermissive,
               ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(r)::text END
                     FROM unnest(p.polroles) AS r ORDER BY 1),
               pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
        FROM pg_policy p JOIN pg_class t ON t.oid = p.polrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE {USER_SCHEMAS}""",
    "row_security": f"""
        SELECT n.nspname || '.' || c.relname, c.relforcerowsecurity
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relrowsecurity AND c.relkind IN ('r', 'p') AND {USER_SCHEMAS}""",
}
VIEW, EXPRESSION, CONSTRAINT = "CREATE VIEW v AS {}", "SELECT {}", "ALTER TABLE t ADD {}"
STATEMENT = "{}"
"""A whole statement (``pg_get_indexdef``, ``pg_get_triggerdef``)."""
"""Statements around a definition, for ``canonical``."""
RELKIND = {"r": "table", "p": "table", "v": "view", "m": "view", "S": "sequence", "f": "table"}


@dataclass(frozen=True)
class ColumnInfo:
    """A column as the database has it."""

    type: str
    not_null: bool
    default: str | None


@dataclass(frozen=True)
class DomainInfo:
    """A domain as the database has it: its base type, NOT NULL, default and CHECKs."""

    type: str
    not_null: bool
    default: str | None
    checks: tuple[str, ...]


@dataclass(frozen=True)
class IndexInfo:
    """How an index is built: access method, uniqueness, key columns or expressions, predicate."""

    method: str
    unique: bool
    columns: tuple[str, ...]
    predicate: str | None


@dataclass(frozen=True)
class ConstraintInfo:
    """A table constraint: its type letter (p, u, f, c, x), columns, and what a foreign key
    references or a check tests."""

    type: str
    columns: tuple[str, ...]
    references: str | None
    referenced_columns: tuple[str, ...]
    on_delete: str
    on_update: str
    check: str | None


@dataclass(frozen=True)
class SequenceInfo:
    """A sequence's parameters and the column that owns it, if any."""

    type: str
    start: int
    increment: int
    min: int
    max: int
    cache: int
    cycle: bool
    owned_by: str | None


@dataclass(frozen=True)
class PolicyInfo:
    """A row-level security policy: command letter (r, a, w, d, *), roles, expressions."""

    command: str
    permissive: bool
    roles: tuple[str, ...]
    using: str | None
    with_check: str | None


@dataclass
class Catalog:
    """The user-visible schema objects of one database, keyed by schema-qualified name."""

    relations: dict[str, str] = field(default_factory=dict)
    view_definitions: dict[str, str] = field(default_factory=dict)
    columns: dict[str, ColumnInfo] = field(default_factory=dict)
    indexes: dict[str, tuple[str, str]] = field(default_factory=dict)
    constraints: dict[str, str] = field(default_factory=dict)
    triggers: dict[str, str] = field(default_factory=dict)
    disabled_triggers: set[str] = field(default_factory=set)
    """Triggers that exist but are disabled (ALTER TABLE ... DISABLE TRIGGER): they never fire."""
    functions: dict[str, str] = field(default_factory=dict)
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)
    domains: dict[str, DomainInfo] = field(default_factory=dict)
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
    materialized_views: set[str] = field(default_factory=set)
    index_details: dict[str, IndexInfo] = field(default_factory=dict)
    constraint_details: dict[str, ConstraintInfo] = field(default_factory=dict)
    sequences: dict[str, SequenceInfo] = field(default_factory=dict)
    grants: dict[tuple[str, str, str], bool] = field(default_factory=dict)
    """(privilege, object, role) -> grantable; the owner's own privileges are left out."""
    policies: dict[str, PolicyInfo] = field(default_factory=dict)
    row_security: dict[str, bool] = field(default_factory=dict)
    """Tables with row-level security enabled -> whether it is forced on their owner too."""
    ledger_checksums: dict[str, str | None] = field(default_factory=dict)

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
            items[f"{kind} {key}"] = fingerprint_form(self.view_definitions.get(key, ""), VIEW)
        for key, col in self.columns.items():
            items[f"column {key}"] = (
                f"{col.type} {'NOT NULL' if col.not_null else 'NULL'} "
                f"{fingerprint_form(col.default, EXPRESSION)}"
            )
        for key, (table, definition) in self.indexes.items():
            if kept(table):
                items[f"index {key}"] = fingerprint_form(definition, STATEMENT)
        items.update({f"constraint {k}": fingerprint_form(v, CONSTRAINT)
                      for k, v in self.constraints.items()})
        items.update({f"trigger {k}": fingerprint_form(v, STATEMENT)
                      for k, v in self.triggers.items()})
        items.update({f"function {k}": v for k, v in self.functions.items()})
        items.update({f"enum type {k}": ",".join(v) for k, v in self.enums.items()})
        items.update({f"domain {k}": repr(replace(
            v, default=fingerprint_form(v.default, EXPRESSION),
            checks=tuple(fingerprint_form(c, CONSTRAINT) for c in v.checks),
        )) for k, v in self.domains.items()})
        items.update({f"extension {k}": v for k, v in self.extensions.items()})
        items.update({f"schema {k}": "" for k in self.schemas})
        items.update({f"policy {k}": repr(replace(
            v, using=fingerprint_form(v.using, EXPRESSION),
            with_check=fingerprint_form(v.with_check, EXPRESSION),
        )) for k, v in self.policies.items()})
        items.update({f"row security {k}": str(v) for k, v in self.row_security.items()})
        items.update({f"grant {p} on {o} to {r}": str(g) for (p, o, r), g in self.grants.items()})
        return {k: v for k, v in items.items() if kept(k.split(" ")[-1])}


@dataclass(frozen=True)
class Change:
    """One object that differs between two fingerprints, with its definition on either side
    (empty where it does not exist)."""

    change: str
    object: str
    before: str
    after: str


def changes(before: dict[str, str], after: dict[str, str]) -> list[Change]:
    """What appeared (left behind), vanished (missing) or changed between two fingerprints."""
    found = [Change("left behind", k, "", after[k]) for k in sorted(after.keys() - before.keys())]
    found += [Change("missing", k, before[k], "") for k in sorted(before.keys() - after.keys())]
    found += [
        Change("changed", k, before[k], after[k])
        for k in sorted(before.keys() & after.keys())
        if before[k] != after[k]
    ]
    return found


def diff(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Readable differences between two fingerprints: what appeared, vanished or changed."""
    return [f"{c.change}: {c.object}" for c in changes(before, after)]


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
            if relkind == "m":
                cat.materialized_views.add(key)
    elif name == "columns":
        cat.columns = {key: ColumnInfo(t, nn, d) for key, t, nn, d in rows}
    elif name == "indexes":
        cat.indexes = {key: (table, definition) for key, table, definition in rows}
    elif name == "triggers":
        cat.triggers = {key: definition for key, definition, _ in rows}
        cat.disabled_triggers = {key for key, _, disabled in rows if disabled}
    elif name == "types":
        for key, typtype, detail, not_null, default, checks in rows:
            if typtype == "e":
                cat.enums[key] = tuple(detail.split(",")) if detail else ()
            else:
                cat.domains[key] = DomainInfo(detail, not_null, default, tuple(checks))
    elif name == "schemas":
        cat.schemas = {row[0] for row in rows}
    elif name in DETAILS:
        field_name, info = DETAILS[name]
        setattr(cat, field_name, {key: info(*(_frozen(v) for v in rest)) for key, *rest in rows})
    elif name == "grants":
        cat.grants = {(privilege, obj, role): grantable for privilege, obj, role, grantable in rows}
    else:
        setattr(cat, name, dict(rows))


DETAILS = {
    "index_details": ("index_details", IndexInfo),
    "constraint_details": ("constraint_details", ConstraintInfo),
    "sequences": ("sequences", SequenceInfo),
    "policies": ("policies", PolicyInfo),
    "row_security": ("row_security", bool),
}
"""Snapshot queries whose rows are ``key, *fields`` of one info type, and where they go."""


def _frozen(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


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
    cat.ledger_checksums = {names.get(r.version, r.version): r.checksum for r in found.rows}


def qualified(name: str) -> str:
    """``name`` with the default schema added when it has none."""
    return name if "." in name else f"public.{name}"
