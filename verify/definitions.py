"""Schema objects as definitions that say what they mean, attribute by attribute: what the lock file
records of a release, what drift and rollback gates compare, and how a difference reads.

An object's key is ``kind:name`` with a schema-qualified name (``index:public.idx_items_status``,
``grant:SELECT on public.items to app_read``); its definition is a JSON-ready mapping.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

from deploy_gates.verify.catalog import Catalog, ConstraintInfo, qualified
from deploy_gates.verify.sqltext import same_sql

Definition = dict[str, Any]
DEFAULT_SCHEMA = re.compile(r"(?<![\w.$\"])public\.")
NOUNS = {
    "table": "table", "view": "view", "materialized_view": "materialized view",
    "sequence": "sequence", "column": "column", "index": "index", "constraint": "constraint",
    "trigger": "trigger", "function": "function", "enum": "enum", "domain": "domain",
    "extension": "extension", "schema": "schema", "grant": "grant", "policy": "policy",
    "row_level_security": "row-level security on",
}
CONSTRAINT_TYPES = {"p": "primary key", "u": "unique", "f": "foreign key", "c": "check",
                    "x": "exclusion"}
ACTIONS = {"a": "no action", "r": "restrict", "c": "cascade", "n": "set null", "d": "set default"}
COMMANDS = {"r": "select", "a": "insert", "w": "update", "d": "delete", "*": "all"}
EXPRESSIONS = {"default", "predicate", "check", "using", "with_check"}
"""Attributes holding SQL expressions, compared by meaning."""
CATCH_ALL = "definition"
"""The whole definition as the server prints it: compared when no other attribute differs."""


def split_key(key: str) -> tuple[str, str]:
    """``index:public.idx`` -> ``("index", "public.idx")``."""
    kind, _, name = key.partition(":")
    return kind, name


def display(name: str) -> str:
    """A name as people write it: without the default schema."""
    return DEFAULT_SCHEMA.sub("", name)


def object_id(key: str) -> str:
    """A readable gate id: ``index:idx_items_status``."""
    kind, name = split_key(key)
    return f"{kind}:{display(name)}"


def table_of(key: str, definition: Definition) -> str | None:
    """The table an object belongs to (itself for a table), or None."""
    kind, name = split_key(key)
    if kind in ("table", "view", "materialized_view"):
        return name
    if kind in ("column", "constraint", "trigger", "policy"):
        return name.rsplit(".", 1)[0]
    if kind == "index":
        return definition.get("table")
    if kind == "sequence":
        owner = definition.get("owned_by")
        return owner.rsplit(".", 1)[0] if owner else None
    if kind == "grant":
        return name.split(" on ", 1)[1].split(" to ", 1)[0]
    return None


def definitions(cat: Catalog, ignore_tables: frozenset[str] = frozenset()) -> dict[str, Definition]:
    """Every object of the snapshot with its definition, leaving out ``ignore_tables`` and what
    belongs to them (the ledger)."""
    found = {}
    for key in _keys(cat):
        definition = definition_of(cat, key)
        if definition is not None and table_of(key, definition) not in ignore_tables:
            found[key] = definition
    return found


def definition_of(cat: Catalog, key: str) -> Definition | None:
    """The definition of one object, or None when the snapshot has no such object."""
    kind, name = split_key(key)
    build = BUILDERS.get(kind)
    return build(cat, name) if build else None


def differences(want: Definition, got: Definition, *, loose: bool = False) -> list[str]:
    """How ``got`` differs from ``want``, on the attributes ``want`` has: ``columns (name)``."""
    found = []
    for attr, expected in want.items():
        if attr == CATCH_ALL:
            continue
        actual = got.get(attr)
        if not _same(attr, expected, actual, loose):
            found.append(_render(attr, actual))
    if not found and CATCH_ALL in want and not _same(CATCH_ALL, want[CATCH_ALL],
                                                        got.get(CATCH_ALL), loose):
        found.append(f"definition {got.get(CATCH_ALL)}")
    return found


def describe(key: str, definition: Definition) -> str:
    """An object's definition in a few words: ``btree on items (status)``."""
    kind = split_key(key)[0]
    d = definition
    if kind == "column":
        text = " ".join(part for part in (
            d.get("type"), {True: "NOT NULL", False: "NULL"}.get(d.get("not_null"))) if part)
        return text + (f" DEFAULT {d['default']}" if d.get("default") is not None else "")
    if kind == "index":
        parts = ["unique" if d.get("unique") else "", d.get("method") or "",
                 f"on {display(d['table'])}" if d.get("table") else
                 "on" if d.get("columns") is not None else "",
                 f"({', '.join(d['columns'])})" if d.get("columns") is not None else "",
                 f"where {d['predicate']}" if d.get("predicate") else ""]
        return " ".join(part for part in parts if part)
    if kind == "constraint":
        return d.get(CATCH_ALL) or _constraint_sql(d)
    if kind == "policy":
        parts = [f"for {d['command']}" if d.get("command") else "",
                 "restrictive" if d.get("permissive") is False else "",
                 f"to {', '.join(d['roles'])}" if d.get("roles") else "",
                 f"using {d['using']}" if d.get("using") else "",
                 f"with check {d['with_check']}" if d.get("with_check") else ""]
        return " ".join(part for part in parts if part)
    if kind == "sequence" and d:
        return f"{d['type']} start {d['start']} increment {d['increment']}"
    if kind == "enum":
        return ", ".join(d.get("labels", []))
    if kind == "domain":
        return d.get("type", "")
    return ""


def noun(key: str) -> str:
    """What kind of object, in words, and its name: ``index idx_items_status``."""
    kind, name = split_key(key)
    return f"{NOUNS.get(kind, kind)} {display(name)}"


def _keys(cat: Catalog) -> Iterator[str]:
    for name, kind in cat.relations.items():
        if kind == "view":
            yield f"{'materialized_view' if name in cat.materialized_views else 'view'}:{name}"
        elif kind in ("table", "sequence"):
            yield f"{kind}:{name}"
    yield from (f"column:{name}" for name in cat.columns  # a view's columns are its definition
                if cat.relations.get(name.rsplit(".", 1)[0]) == "table")
    yield from (f"index:{name}" for name in cat.index_details)
    yield from (f"constraint:{name}" for name in cat.constraint_details)
    yield from (f"trigger:{name}" for name in cat.triggers)
    yield from (f"function:{name}" for name in cat.functions)
    yield from (f"enum:{name}" for name in cat.enums)
    yield from (f"domain:{name}" for name in cat.domains)
    yield from (f"extension:{name}" for name in cat.extensions)
    yield from (f"schema:{name}" for name in cat.schemas)
    yield from (f"grant:{p} on {o} to {r}" for p, o, r in cat.grants)
    yield from (f"policy:{name}" for name in cat.policies)


def _table(cat: Catalog, name: str) -> Definition | None:
    if cat.relations.get(name) != "table":
        return None
    return {"row_security": name in cat.row_security,
            "force_row_security": cat.row_security.get(name, False)}


def _view(materialized: bool) -> Callable[[Catalog, str], Definition | None]:
    def build(cat: Catalog, name: str) -> Definition | None:
        if name not in cat.view_definitions or (name in cat.materialized_views) != materialized:
            return None
        return {CATCH_ALL: cat.view_definitions[name]}

    return build


def _sequence(cat: Catalog, name: str) -> Definition | None:
    if cat.relations.get(name) != "sequence":
        return None
    info = cat.sequences.get(name)
    return asdict(info) if info else {}


def _column(cat: Catalog, name: str) -> Definition | None:
    col = cat.columns.get(name)
    if col is None:
        return None
    return {"type": col.type, "not_null": col.not_null, "default": col.default}


def _index(cat: Catalog, name: str) -> Definition | None:
    info = cat.index_details.get(name)
    if info is None:
        return None
    table, definition = cat.indexes[name]
    return {"table": table, "method": info.method, "unique": info.unique,
            "columns": list(info.columns), "predicate": info.predicate, CATCH_ALL: definition}


def _constraint(cat: Catalog, name: str) -> Definition | None:
    info: ConstraintInfo | None = cat.constraint_details.get(name)
    if info is None:
        return None
    found: Definition = {"type": CONSTRAINT_TYPES[info.type]}
    if info.type != "c":
        found["columns"] = list(info.columns)
    if info.type == "f":
        found |= {"references": info.references,
                  "referenced_columns": list(info.referenced_columns),
                  "on_delete": ACTIONS[info.on_delete], "on_update": ACTIONS[info.on_update]}
    if info.type == "c":
        found["check"] = info.check
    found[CATCH_ALL] = cat.constraints.get(name)
    return found


def _function(cat: Catalog, name: str) -> Definition | None:
    text = cat.functions.get(name)
    if text is None:
        return None
    kind, _, rest = text.partition(" ")
    result, _, body = rest.rpartition(" ")
    return {"kind": kind, "result": result, "body_md5": body}


def _grant(cat: Catalog, name: str) -> Definition | None:
    privilege, _, rest = name.partition(" on ")
    obj, _, role = rest.partition(" to ")
    grantable = cat.grants.get((privilege, obj, role))
    return None if grantable is None else {"grantable": grantable}


def _policy(cat: Catalog, name: str) -> Definition | None:
    info = cat.policies.get(name)
    if info is None:
        return None
    return {"command": COMMANDS[info.command], "permissive": info.permissive,
            "roles": list(info.roles), "using": info.using, "with_check": info.with_check}


def _row_level_security(cat: Catalog, name: str) -> Definition | None:
    return {"forced": cat.row_security[name]} if name in cat.row_security else None


def _domain(cat: Catalog, name: str) -> Definition | None:
    info = cat.domains.get(name)
    if info is None:
        return None
    return {"type": info.type, "not_null": info.not_null, "default": info.default,
            "checks": list(info.checks)}


def _simple(lookup: Callable[[Catalog], dict], field: str | None) -> Callable[..., Any]:
    def build(cat: Catalog, name: str) -> Definition | None:
        table = lookup(cat)
        if name not in table:
            return None
        if field is None:
            return {}
        value = table[name]
        return {field: list(value) if isinstance(value, tuple) else value}

    return build


BUILDERS: dict[str, Callable[[Catalog, str], Definition | None]] = {
    "table": _table,
    "view": _view(materialized=False),
    "materialized_view": _view(materialized=True),
    "sequence": _sequence,
    "column": _column,
    "index": _index,
    "constraint": _constraint,
    "trigger": _simple(lambda c: c.triggers, CATCH_ALL),
    "function": _function,
    "enum": _simple(lambda c: c.enums, "labels"),
    "domain": _domain,
    "extension": _simple(lambda c: c.extensions, None),
    "schema": _simple(lambda c: dict.fromkeys(c.schemas), None),
    "grant": _grant,
    "policy": _policy,
    "row_level_security": _row_level_security,
}


def _same(attr: str, want: Any, got: Any, loose: bool) -> bool:
    if attr in EXPRESSIONS or attr == CATCH_ALL:
        return same_sql(want, got, loose=loose)
    if attr in ("columns", "checks") and isinstance(want, list) and isinstance(got, list):
        return len(want) == len(got) and all(
            same_sql(w, g, loose=loose) for w, g in zip(want, got, strict=True))
    if attr in ("table", "references") and isinstance(want, str):
        return got is not None and qualified(want) == got
    return want == got


def _render(attr: str, value: Any) -> str:
    """One attribute as found: ``default 'done'::text``, ``nullable``, ``no predicate``."""
    if isinstance(value, bool):
        words = {"not_null": ("NOT NULL", "nullable"), "unique": ("unique", "not unique"),
                 "row_security": ("row-level security on", "row-level security off"),
                 "force_row_security": ("row-level security forced", "not forced"),
                 "permissive": ("permissive", "restrictive"),
                 "grantable": ("with grant option", "without grant option"),
                 "cycle": ("cycle", "no cycle")}.get(attr, (attr, f"not {attr}"))
        return words[0] if value else words[1]
    label = {"with_check": "with check", "on_delete": "on delete", "on_update": "on update",
             "owned_by": "owned by", "body_md5": "body md5", "referenced_columns":
             "referenced columns", "command": "for", "roles": "to"}.get(attr, attr)
    if value is None or value == []:
        return {"default": "no default", "predicate": "no predicate", "owned_by": "no owner"
                }.get(attr, f"no {label}")
    if isinstance(value, list):
        shown = ", ".join(map(str, value))
        return f"{label} ({shown})" if attr in ("columns", "referenced_columns") else \
            f"{label} {shown}"
    if attr in ("table", "references", "owned_by"):
        value = display(value)
    return f"{label} {value}"


def _constraint_sql(d: Definition) -> str:
    """A constraint from the spec, written as SQL."""
    columns = f"({', '.join(d.get('columns') or [])})"
    kind = d.get("type")
    if kind == "check":
        return f"CHECK ({d.get('check')})"
    if kind != "foreign key":
        return f"{(kind or 'constraint').upper()} {columns}"
    text = f"FOREIGN KEY {columns} REFERENCES {display(d.get('references') or '')}"
    if d.get("referenced_columns"):
        text += f"({', '.join(d['referenced_columns'])})"
    for attr in ("on_delete", "on_update"):
        if d.get(attr):
            text += f" {attr.replace('_', ' ').upper()} {d[attr].upper()}"
    return text
