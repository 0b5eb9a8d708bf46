"""The release's schema, recorded once: every object the release creates, changes or drops (with
its whole definition), the baseline schema it meets, and the checksums of the migration files.

The rehearsal writes it next to its reports (``schema-locks/<system>-<release>.lock.json``);
``deploy-gates lock --runbook SPEC`` writes it beside the spec
(``runbook.lock.json`` for ``runbook.yaml``), where the drift and rollback gates of live targets
read it and a lint gate checks that it is as current as the migrations. A system with several
``databases`` has one entry per database in the one file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Literal

import psycopg
from pydantic import BaseModel, ConfigDict, ValidationError

from deploy_gates.fixtures.ephemeral import PROVIDERS
from deploy_gates.migrate import MigrationError, up
from deploy_gates.migrate.migration import sha256
from deploy_gates.spec.runbook import EphemeralTarget, Runbook, load_runbook
from deploy_gates.spec.yamlsource import SpecError, read_text
from deploy_gates.verify.catalog import Catalog, snapshot
from deploy_gates.verify.definitions import Definition, definitions
from deploy_gates.verify.release import bookkeeping_tables, migration_files, split_at_baseline

LOCK_FORMAT = 1
CONNECT_TIMEOUT_S = 10
MAX_LOCK_BYTES = 64 << 20
"""A lock file holds every definition of a release and its baseline: large, never unbounded."""


class LockError(Exception):
    """A lock file cannot be read or written; the message names the file."""


class Lock(BaseModel):
    """What one release does to the schema, as the rehearsal saw it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal[1]
    system: str
    release: str
    postgres: str
    """Major version of the server the lock was recorded on."""
    migrations: dict[str, str]
    """Every migration file of the system -> its SHA-256, as when the lock was written."""
    objects: dict[str, dict[str, Any]]
    """What the release creates or changes, as the release leaves it (``kind:name`` keys)."""
    dropped: list[str]
    """Baseline objects the release removes."""
    baseline: dict[str, dict[str, Any]]
    """The whole schema before the release: what a rollback must restore."""

    def created(self, key: str) -> bool:
        """Whether the release creates ``key`` (rather than changing a baseline object)."""
        return key in self.objects and key not in self.baseline

    def stale(self, runbook: Runbook) -> list[str]:
        """How the migrations on disk and the spec differ from what the lock was written for."""
        files = {f.name: sha256(f.up.text) for f in migration_files(runbook)}
        changed = [name for name in files if name in self.migrations
                   and files[name] != self.migrations[name]]
        problems = []
        if (self.system, self.release) != (runbook.system, runbook.release):
            problems.append(f"written for {self.system} release {self.release}")
        for label, names in (("changed since it was written", changed),
                             ("not in it", [n for n in files if n not in self.migrations]),
                             ("gone from the migrations", [n for n in self.migrations
                                                           if n not in files])):
            if names:
                problems.append(f"{label}: {', '.join(names)}")
        return problems


class SystemLock(BaseModel):
    """The lock file of a system with several databases: one lock per database, by key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal[1]
    system: str
    release: str
    databases: dict[str, Lock]


Locks = dict[str, Lock]
"""A lock file as the gates read it: each database's lock by key (``""``: the one database)."""


def lock_path(spec: Path) -> Path:
    """Where the lock file of ``spec`` lives: ``runbook.yaml`` -> ``runbook.lock.json``."""
    return spec.with_name(f"{spec.stem}.lock.json")


ARTIFACT_DIR = "schema-locks"
"""The rehearsal's folder in the report directory (apart from the reports' ``*.json``)."""


def artifact_path(report_dir: Path, runbook: Runbook) -> Path:
    """Where the rehearsal records the release: ``<report dir>/schema-locks/<system>-<release>
    .lock.json``."""
    name = re.sub(r"[^\w.-]+", "_", f"{runbook.system}-{runbook.release}")
    return report_dir / ARTIFACT_DIR / f"{name}.lock.json"


def build_lock(runbook: Runbook, baseline: Catalog, released: Catalog, postgres: str) -> Lock:
    """The lock of ``runbook``'s release from the schema before and after it."""
    ignore = bookkeeping_tables(runbook)
    before: dict[str, Definition] = definitions(baseline, ignore)
    after: dict[str, Definition] = definitions(released, ignore)
    return Lock(
        format=LOCK_FORMAT,
        system=runbook.system,
        release=runbook.release,
        postgres=postgres,
        migrations={f.name: sha256(f.up.text) for f in migration_files(runbook)},
        objects={key: value for key, value in after.items() if before.get(key) != value},
        dropped=sorted(before.keys() - after.keys()),
        baseline=before,
    )


def file_of(runbook: Runbook, locks: Locks) -> Lock | SystemLock:
    """What a lock file holds for ``locks``: the one database's lock, or each database's."""
    if list(locks) == [""]:
        return locks[""]
    return SystemLock(format=LOCK_FORMAT, system=runbook.system, release=runbook.release,
                      databases=locks)


def dump(lock: Lock | SystemLock) -> str:
    """The lock as stable JSON: the same release always gives the same text."""
    return json.dumps(lock.model_dump(), indent=2, sort_keys=True) + "\n"


def write(lock: Lock | SystemLock, path: Path) -> None:
    """Write ``lock`` to ``path``, replacing it whole."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(dump(lock))
        partial.replace(path)
    except OSError as exc:
        raise LockError(f"cannot write {path}: {exc.strerror}") from None


def load_locks(path: Path, runbook: Runbook, spec: Path) -> Locks | None:
    """The lock file at ``path`` for ``runbook`` (at ``spec``), each database's lock by key;
    None when there is none. One written for other databases than the spec names is refused."""
    found = load_lock(path)
    if found is None:
        return None
    locks = found.databases if isinstance(found, SystemLock) else {"": found}
    keys = list(runbook.databases)
    if sorted(locks) != sorted(keys or [""]):
        written = (f"databases ({', '.join(locks)})" if isinstance(found, SystemLock)
                   else "one database")
        named = f"names databases ({', '.join(keys)})" if keys else "names no databases"
        raise LockError(f"{path}: written for {written}; the spec {named}: rewrite it: "
                        f"deploy-gates lock --runbook {spec}")
    return {key: locks[key] for key in keys or [""]}


def load_lock(path: Path) -> Lock | SystemLock | None:
    """The lock file at ``path``; None when there is none."""
    if not os.path.lexists(path):
        return None
    try:
        text = read_text(path, "lock file", MAX_LOCK_BYTES)
    except SpecError as exc:
        raise LockError(str(exc)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LockError(
            f"{path}: not a lock file: invalid JSON at line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}"
        ) from None
    try:
        if isinstance(data, dict) and "databases" in data:
            return SystemLock.model_validate(data)
        return Lock.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "(top level)"
        raise LockError(f"{path}: not a lock file: {where}: {error['msg']}") from None


def record(runbook: Runbook, dsns: dict[str, str]) -> Locks:
    """Apply ``runbook``'s baseline, then its release, to the empty databases ``dsns`` (by key,
    as ``create_databases`` makes them), reading each one's schema after each; the lock of
    what the release did to each database."""
    from deploy_gates.migrate.apply import run_options
    from deploy_gates.verify.databases import connect_names

    names = connect_names(runbook, dsns)
    views = runbook.per_database()
    before = {}
    for key, spec in views:
        baseline_files, _ = split_at_baseline(spec)
        if baseline_files and spec.migrations:
            up(dsns[key], migration_files(spec), through=baseline_files[-1].name,
               ledger=spec.migrations.ledger, databases=names, **run_options(spec.migrations))
        before[key] = _snapshot(dsns[key], spec)
    for key, spec in views:
        if spec.migrations:
            up(dsns[key], migration_files(spec), ledger=spec.migrations.ledger, databases=names,
               **run_options(spec.migrations))
    with psycopg.connect(dsns[views[0][0]], autocommit=True,
                         connect_timeout=CONNECT_TIMEOUT_S) as conn:
        major = str(conn.info.server_version // 10000)
    return {key: build_lock(spec, before[key], _snapshot(dsns[key], spec), major)
            for key, spec in views}


def _snapshot(dsn: str, runbook: Runbook) -> Catalog:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
        return snapshot(conn, runbook)


def write_beside_spec(spec_path: Path, provider: str | None = None) -> tuple[Path, Locks]:
    """Record the release of the spec at ``spec_path`` on a throwaway server and write its lock
    file beside the spec; each database's lock by key."""
    from deploy_gates.fixtures.ephemeral import ServerStartError, resolve_provider, start_server
    from deploy_gates.fixtures.targets import SERVER_DSN_ENV
    from deploy_gates.verify.databases import create_databases

    try:
        runbook = load_runbook(spec_path)
    except (SpecError, MigrationError) as exc:
        raise LockError(str(exc)) from None
    if runbook.migrations is None and not runbook.databases:
        raise LockError(f"{spec_path}: the runbook spec names no migrations: nothing to lock")
    target = next((t for t in runbook.targets.values() if isinstance(t, EphemeralTarget)), None)
    image = (target.image if target else None) or "postgres:16"
    chosen = resolve_provider(provider or (target.provider if target else None) or "auto", image)
    dsn = os.environ.get((target and target.dsn_env) or SERVER_DSN_ENV) if chosen == "dsn" else None
    try:
        server = start_server(chosen, image=image, dsn=dsn)
    except ServerStartError as exc:
        raise LockError(str(exc).splitlines()[0]) from None
    try:
        locks = record(runbook, create_databases(server, runbook, "lock"))
    except (MigrationError, psycopg.Error) as exc:
        raise LockError(f"{spec_path}: {str(exc).splitlines()[0]}") from None
    finally:
        server.stop()
    path = lock_path(spec_path)
    write(file_of(runbook, locks), path)
    return path, locks


def run(command: str, argv: list[str]) -> int:
    """``deploy-gates lock --runbook SPEC``: rehearse the release and write its lock file beside
    the spec; the exit status."""
    parser = argparse.ArgumentParser(
        prog=f"deploy-gates {command}",
        description="Record the release's schema in a lock file beside the runbook spec "
        "(<spec>.lock.json), from a rehearsal on a throwaway PostgreSQL.",
    )
    parser.add_argument("--runbook", type=Path, required=True, help="the runbook spec (YAML)")
    parser.add_argument("--db-provider", choices=PROVIDERS,
                        help="throwaway PostgreSQL (default: the spec's ephemeral target's)")
    args = parser.parse_args(argv)
    try:
        path, locks = write_beside_spec(args.runbook, args.db_provider)
    except LockError as exc:
        print(f"deploy-gates {command}: {exc}", file=sys.stderr)
        return 1
    said = []
    for key, lock in locks.items():
        created = sum(lock.created(k) for k in lock.objects)
        said.append(f"{f'database {key}: ' if key else ''}release {lock.release} creates "
                    f"{created} object(s), changes {len(lock.objects) - created}, drops "
                    f"{len(lock.dropped)}")
    print(f"wrote {path}: {'; '.join(said)} (PostgreSQL {lock.postgres})")
    return 0
