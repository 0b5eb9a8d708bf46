"""A live schema read against the release's lock file: drift from what the release leaves, objects
the lock file does not know, and what a rollback must restore. Each check names the object and
what differs."""

from __future__ import annotations

import json

from deploy_gates.verify.catalog import Catalog
from deploy_gates.verify.definitions import (
    Definition,
    describe,
    differences,
    noun,
    split_key,
    table_of,
)
from deploy_gates.verify.expectations import QUERY_OF_KIND
from deploy_gates.verify.lockfile import Lock

Objects = dict[str, Definition]


def release_tables(lock: Lock) -> list[str]:
    """The tables the release creates or changes something on."""
    found = {table_of(key, definition) for key, definition in lock.objects.items()}
    return sorted(table for table in found if table is not None)


def rollback_objects(lock: Lock) -> list[str]:
    """What a rollback must undo, one gate each: the objects the release creates, changes or
    drops, leaving out those that go with a table the release creates (its columns, indexes,
    constraints, owned sequences)."""
    created_tables = {name for key in lock.objects if lock.created(key)
                      for kind, name in [split_key(key)] if kind == "table"}
    return sorted(
        key for key in {*lock.objects, *lock.dropped}
        if not (lock.created(key) and _part_of(key, lock.objects[key], created_tables))
    )


def drift_problem(lock: Lock, key: str, objects: Objects) -> str | None:
    """Why ``key`` is not on the target as the release leaves it, or None."""
    want = lock.objects[key]
    expected = f"expected {noun(key)} as release {lock.release} leaves it"
    got = objects.get(key)
    if got is None:
        return f"{expected}{_detail(key, want)}; found: it does not exist"
    found = differences(want, got)
    return f"{expected}{_detail(key, want)}; found: {'; '.join(found)}" if found else None


def dropped_problem(lock: Lock, key: str, objects: Objects) -> str | None:
    """Why ``key``, which the release drops, is still on the target, or None."""
    if key not in objects:
        return None
    return f"expected {noun(key)} dropped by release {lock.release}; found: it is still there"


def unknown_objects(lock: Lock, table: str, objects: Objects) -> list[str]:
    """Objects on ``table`` that neither the release nor the baseline has: ``index x (...)``."""
    return [
        f"{noun(key)}{_detail(key, definition)}"
        for key, definition in objects.items()
        if table_of(key, definition) == table
        and key not in lock.objects
        and key not in lock.baseline
    ]


def rollback_problem(lock: Lock, key: str, objects: Objects) -> str | None:
    """Why ``key`` is not as the baseline had it (gone, when the release created it), or None."""
    got = objects.get(key)
    if lock.created(key):
        if got is None:
            return None
        return (f"expected {noun(key)} gone after rollback (release {lock.release} creates it); "
                "found: it is still there")
    want = lock.baseline[key]
    expected = f"expected {noun(key)} as the baseline had it after rollback{_detail(key, want)}"
    if got is None:
        return f"{expected}; found: it does not exist"
    found = differences(want, got)
    return f"{expected}; found: {'; '.join(found)}" if found else None


def baseline_differences(lock: Lock, objects: Objects) -> list[str]:
    """How the target differs from the baseline of the lock file, on the objects the lock knows
    and the tables they are on: ``left behind: table tags``, ``changed: column ... (...)``."""
    tables = {table_of(k, d) for k, d in [*lock.baseline.items(), *lock.objects.items()]}
    tables.discard(None)
    known = {*lock.baseline, *lock.objects, *lock.dropped}
    scope = {key: d for key, d in objects.items() if key in known or table_of(key, d) in tables}
    left_tables = {split_key(key)[1] for key in scope
                   if key not in lock.baseline and split_key(key)[0] == "table"}
    lines = [f"left behind: {noun(key)}" for key, d in sorted(scope.items())
             if key not in lock.baseline and not _part_of(key, d, left_tables)]
    lines += [f"missing: {noun(key)}" for key in sorted(lock.baseline) if key not in objects]
    for key in sorted(lock.baseline.keys() & objects.keys()):
        found = differences(lock.baseline[key], objects[key])
        if found:
            lines.append(f"changed: {noun(key)} ({'; '.join(found)})")
    return lines


def drift_evidence(
    catalog: Catalog, key: str, want: Definition | None, objects: Objects
) -> list[tuple[str, str]]:
    """What the lock file records of ``key``, the catalog query, and what it found, for the
    report."""
    entries = [("lock file", f"{key}: {json.dumps(want, sort_keys=True)}")] if want else []
    query = QUERY_OF_KIND.get(split_key(key)[0], "relations")
    entries.append((f"SQL (catalog snapshot {catalog.taken_at}, {catalog.queries} statements in "
                    "all)", catalog.sql.get(query, "")))
    seen = objects.get(key)
    entries.append(("row seen", f"{key}: {json.dumps(seen, sort_keys=True)}" if seen is not None
                    else "no row for this object"))
    return entries


def _part_of(key: str, definition: Definition, tables: set[str]) -> bool:
    """Whether ``key`` belongs to one of ``tables`` without being one of them."""
    kind, name = split_key(key)
    return table_of(key, definition) in tables and not (kind == "table" and name in tables)


def _detail(key: str, definition: Definition) -> str:
    text = describe(key, definition)
    return f" ({text})" if text else ""
