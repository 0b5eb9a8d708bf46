"""Safety checks on migrations against the ledger, and the choice of what to apply next."""

from __future__ import annotations

from deploy_gates.migrate.errors import MigrationError
from deploy_gates.migrate.ledger import LedgerRow
from deploy_gates.migrate.migration import Migration, find, natural_key


def _names(ids: list[str], migrations: list[Migration], *, files: bool = False) -> str:
    """The migrations recorded as ``ids``, by name (with their file: ``files``), in apply order
    (unknown ids after)."""
    by_id = {m.id: (i, m.title if files else m.name) for i, m in enumerate(migrations)}
    known = sorted(by_id[i] for i in ids if i in by_id)
    unknown = sorted((i for i in ids if i not in by_id), key=natural_key)
    return ", ".join([name for _, name in known] + unknown)


def check_consistency(migrations: list[Migration], rows: list[LedgerRow], ledger: str) -> None:
    """Refuse failed runs, applied migrations that are gone and checksum drift."""
    failed = [r.version for r in rows if r.success is False]
    if failed:
        raise MigrationError(
            f"{_names(failed, migrations)} failed in an earlier run (recorded as failed in "
            f"{ledger}) and may be partly applied; inspect the database, then delete that ledger "
            "row to retry"
        )
    by_id = {m.id: m for m in migrations}
    missing = [r.version for r in rows if r.version not in by_id]
    if missing:
        raise MigrationError(
            f"applied migration(s) {_names(missing, migrations)} recorded in {ledger} are "
            "missing from the migrations directory; restore the file(s)"
        )
    drifted = [
        r.version for r in rows
        if r.checksum and by_id[r.version].checksum and not by_id[r.version].repeatable
        and r.checksum != by_id[r.version].checksum
    ]
    if drifted:
        raise MigrationError(
            f"checksum drift: {_names(drifted, migrations, files=True)} changed since it was "
            "applied; restore the applied content and put changes in a new migration"
        )


def position(migrations: list[Migration], reference: str, flag: str) -> int:
    """Where the migration ``reference`` names is in the list; refuse an unknown one."""
    found = find(migrations, reference)
    if found is None:
        raise MigrationError(f"{flag} {reference}: no such migration")
    return found


def select_pending(
    migrations: list[Migration],
    rows: list[LedgerRow],
    *,
    ledger: str,
    through: str | None,
    allow_out_of_order: bool,
) -> list[Migration]:
    """The migrations to apply, in order, after every safety check passed: the pending ones
    and the repeatable ones whose checksum changed, where they are in the list (Flyway's come
    last, a Liquibase ``runOnChange`` changeset in its changelog's order), through ``through``
    (the repeatables after the last versioned migration always)."""
    check_consistency(migrations, rows, ledger)
    last = len(migrations) if through is None else position(migrations, through, "--through")
    applied = {r.version: r for r in rows}
    index = {m.id: i for i, m in enumerate(migrations)}
    pending = [m for m in migrations if not m.repeatable and m.id not in applied]
    done = [index[r.version] for r in rows if not migrations[index[r.version]].repeatable]
    if done and not allow_out_of_order:
        newest = max(done)
        early = [m.name for m in pending if index[m.id] < newest]
        if early:
            raise MigrationError(
                f"{', '.join(early)} pending but {migrations[newest].name} is already applied "
                "(out of order); use --allow-out-of-order (allow_out_of_order=True) to apply "
                "anyway"
            )
    trailing = next((i for i in range(len(migrations), 0, -1)
                     if not migrations[i - 1].repeatable), 0)
    changed = [m for m in migrations if m.repeatable
               and (index[m.id] <= last or index[m.id] >= trailing)
               and (m.id not in applied or applied[m.id].checksum != m.checksum)]
    return sorted([m for m in pending if index[m.id] <= last] + changed,
                  key=lambda m: index[m.id])
