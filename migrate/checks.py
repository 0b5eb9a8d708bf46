"""Safety checks on files against the ledger, and the choice of what to apply next."""

from __future__ import annotations

from deploy_gates.migrate.errors import MigrationError
from deploy_gates.migrate.files import MigrationFile, duplicate_versions, order_key
from deploy_gates.migrate.ledger import LedgerRow


def check_consistency(files: list[MigrationFile], rows: list[LedgerRow], ledger: str) -> None:
    """Refuse duplicate versions, failed runs, missing files and checksum drift."""
    duplicates = duplicate_versions(files)
    if duplicates:
        shared = ", ".join(f"{' and '.join(names)} share {number}" for number, names in duplicates)
        raise MigrationError(
            f"duplicate version numbers: {shared}; the order would be ambiguous, renumber one"
        )
    failed = sorted((r.version for r in rows if not r.success), key=order_key)
    if failed:
        raise MigrationError(
            f"{', '.join(failed)} failed in an earlier run (success=false in {ledger}) and may "
            "be partly applied; inspect the database, then delete that ledger row to retry"
        )
    by_name = {f.name: f for f in files}
    missing = sorted((r.version for r in rows if r.version not in by_name), key=order_key)
    if missing:
        raise MigrationError(
            f"applied migration(s) {', '.join(missing)} recorded in {ledger} are missing from the "
            "migrations directory; restore the file(s)"
        )
    drifted = [
        r.version for r in rows if r.checksum and r.checksum != by_name[r.version].checksum
    ]
    if drifted:
        raise MigrationError(
            f"checksum drift: {', '.join(sorted(drifted, key=order_key))} changed since it was "
            "applied; restore the applied content and put changes in a new migration"
        )


def select_pending(
    files: list[MigrationFile],
    rows: list[LedgerRow],
    *,
    ledger: str,
    through: str | None,
    allow_out_of_order: bool,
) -> list[MigrationFile]:
    """The files to apply, in order, after every safety check passed."""
    check_consistency(files, rows, ledger)
    names = {f.name for f in files}
    if through is not None and through not in names:
        raise MigrationError(f"--through {through}: no such migration file")
    applied = {r.version for r in rows}
    pending = [f for f in files if f.name not in applied]
    if rows and not allow_out_of_order:
        newest = max((r.version for r in rows), key=order_key)
        early = [f.name for f in pending if int(f.version) < order_key(newest)[0]]
        if early:
            raise MigrationError(
                f"{', '.join(early)} pending but {newest} is already applied (out of order); "
                "use --allow-out-of-order (allow_out_of_order=True) to apply anyway"
            )
    if through is None:
        return pending
    return [f for f in pending if order_key(f.name) <= order_key(through)]
