"""Expected schema objects from the spec, and the one check that says present or gone."""

from __future__ import annotations

import re
from dataclasses import dataclass

from deploy_gates.reports.evidence import Shared
from deploy_gates.spec.runbook import Column, Schema
from deploy_gates.spec.schema import CONSTRAINT_TYPES, ConstraintSpec, IndexSpec, PolicySpec
from deploy_gates.verify import definitions as defs
from deploy_gates.verify.catalog import Catalog, qualified

QUERY_OF_KIND = {
    "table": "relations", "view": "relations", "empty_view": "view rows", "column": "columns",
    "index": "indexes", "trigger": "triggers", "function": "functions",
    "extension": "extensions", "enum": "types", "migration": "ledger",
    "materialized_view": "relations", "sequence": "sequences", "constraint": "constraint_details",
    "grant": "grants", "policy": "policies", "row_level_security": "row_security",
}
DEFINED_KINDS = {"materialized_view", "sequence", "constraint", "grant", "policy",
                 "row_level_security"}
"""Kinds whose presence and shape come from their definition (see verify/definitions.py)."""
TYPE_ALIASES = {
    "int": "integer",
    "int4": "integer",
    "serial": "integer",
    "serial4": "integer",
    "int8": "bigint",
    "bigserial": "bigint",
    "serial8": "bigint",
    "int2": "smallint",
    "smallserial": "smallint",
    "serial2": "smallint",
    "bool": "boolean",
    "float8": "double precision",
    "float": "double precision",
    "float4": "real",
    "decimal": "numeric",
    "varchar": "character varying",
    "char": "character",
    "bpchar": "character",
    "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
    "timetz": "time with time zone",
    "time": "time without time zone",
}


def normalize_type(name: str) -> str:
    """A type name as ``format_type`` spells it: ``timestamptz`` -> ``timestamp with time zone``."""
    text = re.sub(r"\s+", " ", name.strip().lower())
    array = ""
    while text.endswith("[]"):
        text, array = text[:-2].strip(), array + "[]"
    match = re.fullmatch(r"([a-z0-9_ ]+?)\s*(\(.*\))?", text)
    if not match:
        return text + array
    base, modifier = match.group(1), (match.group(2) or "").replace(" ", "")
    base = TYPE_ALIASES.get(base, base)
    if modifier and base.startswith(("timestamp", "time ")):
        head, _, tail = base.partition(" ")
        return f"{head}{modifier} {tail}{array}".strip()
    return f"{base}{modifier}{array}"


@dataclass(frozen=True)
class Expected:
    """One object the release adds: its ``kind`` (table, column, ...) and name as in the spec."""

    kind: str
    name: str
    column: Column | None = None
    labels: tuple[str, ...] = ()
    spec: IndexSpec | ConstraintSpec | PolicySpec | None = None

    @property
    def id(self) -> str:
        """Readable test id, e.g. ``column:jobs.refund_retry_count``."""
        return f"{self.kind}:{self.name}"

    def where(self, cat: Catalog) -> str | None:
        """The catalog key under which the object exists, or None when it does not."""
        key = qualified(self.name)
        if self.kind == "table":
            return key if cat.relations.get(key) == "table" else None
        if self.kind in ("view", "empty_view"):
            return key if key in cat.view_definitions else None
        if self.kind == "column":
            return (
                qualified_column(self.name) if qualified_column(self.name) in cat.columns else None
            )
        if self.kind == "index":
            return key if key in cat.indexes else None
        if self.kind == "trigger":
            return (
                qualified_column(self.name) if qualified_column(self.name) in cat.triggers else None
            )
        if self.kind == "function":
            return next((f for f in cat.functions if f.split("(")[0] == key), None)
        if self.kind == "extension":
            return self.name if self.name in cat.extensions else None
        if self.kind == "enum":
            return key if key in cat.enums else None
        if self.kind == "migration":
            return self.name if cat.ledger is not None and self.name in cat.ledger else None
        if self.kind in DEFINED_KINDS:
            return self.key if defs.definition_of(cat, self.key) is not None else None
        raise ValueError(f"unknown object kind {self.kind!r}")

    @property
    def key(self) -> str:
        """The object's key among the definitions of a catalog: ``index:public.idx_x``."""
        if self.kind == "grant":
            privilege, _, rest = self.name.partition(" on ")
            obj, _, role = rest.partition(" to ")
            return f"grant:{privilege} on {qualified(obj)} to {role}"
        two_part = self.kind in ("column", "constraint", "trigger", "policy")
        return f"{self.kind}:{qualified_column(self.name) if two_part else qualified(self.name)}"

    def want(self) -> defs.Definition:
        """The definition the spec asks for: only the attributes it names."""
        if self.kind == "column" and self.column is not None:
            found = {"type": self.column.type and normalize_type(self.column.type),
                     "not_null": self.column.not_null, "default": self.column.default}
        elif isinstance(self.spec, IndexSpec):
            found = {"table": self.spec.on and qualified(self.spec.on), "method": self.spec.method,
                     "unique": self.spec.unique, "columns": self.spec.columns,
                     "predicate": self.spec.where}
        elif isinstance(self.spec, ConstraintSpec):
            found = _constraint_want(self.spec)
        elif isinstance(self.spec, PolicySpec):
            found = self.spec.model_dump()
        else:
            return {}
        return {k: v for k, v in found.items() if v is not None}

    def problem_if_missing(self, cat: Catalog) -> str | None:
        """Why the object is not there as expected, or None when it is."""
        key = self.where(cat)
        if key is None:
            return f"expected {self.describe()}; found: {self._absence(cat)}{_hint(self, cat)}"
        want = self.want()
        if want:
            found = defs.differences(want, defs.definition_of(cat, self.key) or {}, loose=True)
            return f"expected {self.describe()}; found: {'; '.join(found)}" if found else None
        if self.kind == "trigger" and key in cat.disabled_triggers:
            return f"expected trigger {self.name} enabled; found: it is disabled"
        if self.kind == "empty_view" and key in cat.nonempty_views:
            return f"expected view {self.name} to return no rows; found: it returns rows"
        if self.kind == "enum" and self.labels and cat.enums[key] != self.labels:
            return (
                f"expected enum {self.name} with labels {', '.join(self.labels)}; "
                f"found: {', '.join(cat.enums[key])}"
            )
        if self.kind == "migration" and cat.ledger is not None and cat.ledger[key] is False:
            return f"expected migration {self.name} applied successfully; found: recorded as failed"
        return None

    def _absence(self, cat: Catalog) -> str:
        if self.kind == "materialized_view" and qualified(self.name) in cat.view_definitions:
            return "it is a view"
        if self.kind == "row_level_security":
            return "it is off"
        return "it does not exist"

    def problem_if_present(self, cat: Catalog) -> str | None:
        """Why the object is still there after rollback, or None when it is gone."""
        if self.where(cat) is None:
            return None
        return f"expected {self.describe()} to be gone after rollback; found: it is still there"

    def definition(self, cat: Catalog) -> dict[str, str]:
        """The fingerprint entries of this object in ``cat`` (a table's or view's with its
        columns and constraints; every overload of a function)."""
        key = qualified(self.name)
        prefixes = {
            "table": (f"table {key}", f"column {key}.", f"constraint {key}."),
            "view": (f"view {key}", f"column {key}."),
            "empty_view": (f"view {key}", f"column {key}."),
            "column": (f"column {qualified_column(self.name)}",),
            "index": (f"index {key}",),
            "trigger": (f"trigger {qualified_column(self.name)}",),
            "function": (f"function {key}(",),
            "extension": (f"extension {self.name}",),
            "enum": (f"enum type {key}",),
        }.get(self.kind, ())

        def mine(k: str) -> bool:
            return any(k == p or (p.endswith((".", "(")) and k.startswith(p)) for p in prefixes)

        return {k: v for k, v in cat.fingerprint().items() if mine(k)}

    def problem_if_not_restored(self, baseline: Catalog, after: Catalog) -> str | None:
        """After rollback: gone when the baseline lacked it, else equal to the baseline's
        definition (the release replaced it); None when so."""
        if self.where(baseline) is None:
            return self.problem_if_present(after)
        from deploy_gates.verify.catalog import diff

        changes = diff(self.definition(baseline), self.definition(after))
        if not changes:
            return None
        return (f"expected {self.describe()} restored to its baseline definition after "
                f"rollback; found: {'; '.join(changes)}")

    def evidence(self, cat: Catalog) -> list[tuple[str, str]]:
        """The SQL behind the answer (shared by every gate of the snapshot that ran it) and the
        row it saw, for the report."""
        query = QUERY_OF_KIND[self.kind]
        key = self.where(cat)
        if key is None:
            seen = "no row for this object"
        elif self.kind == "column":
            col = cat.columns[key]
            nullability = "NOT NULL" if col.not_null else "NULL"
            seen = f"{key}: {col.type} {nullability} default {col.default}"
        elif self.kind in ("view", "empty_view"):
            rows = "returns rows" if key in cat.nonempty_views else "returns no rows"
            seen = f"{key}: {cat.view_definitions[key].strip()} ({rows})"
        elif self.kind in DEFINED_KINDS or self.spec is not None:
            seen = f"{key}: {defs.definition_of(cat, self.key)}"
        else:
            found = {"table": cat.relations, "index": cat.indexes, "trigger": cat.triggers,
                     "function": cat.functions, "extension": cat.extensions, "enum": cat.enums,
                     "migration": cat.ledger or {}}[self.kind][key]
            seen = f"{key}: {found}"
        return [
            Shared(f"SQL (catalog snapshot {cat.taken_at}, {cat.queries} statements in all)",
                   cat.sql.get(query, "(not read: no such table)")),
            ("row seen", seen),
        ]

    def describe(self) -> str:
        """What is expected, in words."""
        noun = {"empty_view": "view", "migration": "ledger entry for migration"}.get(
            self.kind, defs.NOUNS.get(self.kind, self.kind)
        )
        detail = defs.describe(self.key, self.want())
        return f"{noun} {self.name}" + (f" ({detail})" if detail else "")


def qualified_column(name: str) -> str:
    """``table.column`` (or ``schema.table.column``) with the default schema added."""
    return name if name.count(".") >= 2 else f"public.{name}"


def _constraint_want(spec: ConstraintSpec) -> defs.Definition:
    """A constraint of the spec in the terms of verify/definitions.py."""
    kind = next(k for k in CONSTRAINT_TYPES if getattr(spec, k) is not None)
    return {
        "type": kind.replace("_", " "),
        "columns": None if kind == "check" else getattr(spec, kind),
        "references": spec.references and qualified(spec.references),
        "referenced_columns": spec.referenced_columns,
        "on_delete": spec.on_delete,
        "on_update": spec.on_update,
        "check": spec.check,
    }


def _hint(exp: Expected, cat: Catalog) -> str:
    if exp.kind != "column":
        return ""
    table = qualified_column(exp.name).rsplit(".", 1)[0]
    columns = [k.rsplit(".", 1)[1] for k in cat.columns if k.rsplit(".", 1)[0] == table]
    if not columns:
        return f" (no table {table})"
    return f" (table {table} has: {', '.join(columns)})"


def expected_objects(schema: Schema, release_migrations: list[str] = ()) -> list[Expected]:
    """Every object the spec expects, in a stable order; migrations become ledger entries."""
    items = [Expected("table", t) for t in schema.tables]
    items += [
        Expected("column", f"{table}.{name}", column)
        for table, columns in schema.columns.items()
        for name, column in columns.items()
    ]
    items += [Expected("view", v) for v in schema.views]
    items += [Expected("empty_view", v) for v in schema.empty_views]
    items += [Expected("materialized_view", v) for v in schema.materialized_views]
    items += [Expected("index", name, spec=spec) for name, spec in schema.indexes.items()]
    items += [Expected("trigger", t) for t in schema.triggers]
    items += [Expected("function", f) for f in schema.functions]
    items += [Expected("extension", e) for e in schema.extensions]
    items += [Expected("enum", name, labels=tuple(labels)) for name, labels in schema.enums.items()]
    items += [Expected("sequence", s) for s in schema.sequences]
    items += [
        Expected("constraint", f"{table}.{name}", spec=spec)
        for table, constraints in schema.constraints.items()
        for name, spec in constraints.items()
    ]
    items += [
        Expected("grant", f"{privilege} on {grant.on} to {grant.role}")
        for grant in schema.grants
        for privilege in grant.privileges
    ]
    items += [
        Expected("policy", f"{table}.{name}", spec=spec)
        for table, policies in schema.policies.items()
        for name, spec in policies.items()
    ]
    items += [Expected("row_level_security", t) for t in schema.row_level_security]
    items += [Expected("migration", m) for m in release_migrations]
    return items
