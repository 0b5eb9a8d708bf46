"""``python -m rollback``: down scripts, backups and restores from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from deploy_gates.migrate.cli_common import (
    CliParser,
    CliTarget,
    add_lock_timeout,
    add_target_args,
    folder,
    ledger_settings,
    release_migrations,
    require_permission,
    resolve_target,
    run_command,
)
from deploy_gates.migrate.log import MigrationLog, file_timestamp
from deploy_gates.redact import redact_dsn
from deploy_gates.rollback.backup import BackupInfo, backup, restore
from deploy_gates.rollback.confirm import confirm_change
from deploy_gates.rollback.down import down

DRY_RUN_HINT = " (or use --dry-run to see what would run)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m rollback``."""
    parser = CliParser(
        prog="rollback", description="Revert migrations, back up and restore a database."
    )
    add_target_args(parser)
    parser.add_argument("--dir", type=Path, help="migrations directory (for down; default: spec)")
    parser.add_argument("--down-dir", type=Path, help="down scripts directory (for down; default: "
                        "spec)")
    commands = parser.add_subparsers(dest="command", required=True)
    revert = commands.add_parser("down", help="roll back applied migrations, newest first")
    revert.add_argument("--to", metavar="FILE", help="keep this migration and those before it")
    revert.add_argument("--dry-run", action="store_true", help="only show what would run")
    revert.add_argument("--confirm", action="store_true", help="change the database, no prompt")
    revert.add_argument("--no-backup", action="store_true", help="skip the pg_dump backup")
    add_lock_timeout(revert)
    dump = commands.add_parser("backup", help="pg_dump the database and verify the file")
    dump.add_argument("--out", type=Path, required=True, metavar="PATH")
    load = commands.add_parser("restore", help="pg_restore a backup into the database")
    load.add_argument("--from", dest="source", type=Path, required=True, metavar="PATH")
    load.add_argument("--confirm", action="store_true", help="change the database, no prompt")
    return parser


def describe(info: BackupInfo) -> str:
    """One line about a verified backup."""
    return f"backup: {info.path} ({info.size_bytes} bytes, {info.toc_entries} TOC entries, ok)"


def run_down(args: argparse.Namespace, target: CliTarget) -> None:
    """Preview, confirm, back up, then roll back."""
    dsn = target.dsn
    found = release_migrations(args, target)
    files = found.migrations
    down_dir = (folder(args.down_dir, target, "down_dir", "--down-dir")
                if found.layout == "numbered" else None)
    options = {"to": args.to, "ledger": ledger_settings(args, target)}
    if args.dry_run:
        down(dsn, files, down_dir, dry_run=True, echo=print, **options)
        return
    targets = down(dsn, files, down_dir, dry_run=True, **options)
    if not targets:
        print("nothing to roll back")
        return
    print(f"will roll back, newest first: {', '.join(targets)}")
    require_permission(args, target)
    confirm_change(dsn, confirmed=args.confirm, alternative=DRY_RUN_HINT)
    report_dir = Path(args.report_dir)
    if not args.no_backup:
        print(describe(backup(dsn, report_dir / f"backup-{file_timestamp()}.dump")))
    log = MigrationLog.create(report_dir, "rollback")
    print(f"log: {log.path}")
    reverted = down(dsn, files, down_dir, lock_timeout_s=args.lock_timeout, log=log,
                    echo=print, **options)
    print(f"{len(reverted)} migration(s) rolled back")


def execute(args: argparse.Namespace) -> None:
    """Run the chosen subcommand."""
    target = resolve_target(args)
    dsn = target.dsn
    if args.command == "down":
        run_down(args, target)
    elif args.command == "backup":
        print(describe(backup(dsn, args.out)))
    else:
        require_permission(args, target)
        confirm_change(dsn, confirmed=args.confirm)
        restore(args.source, dsn)
        print(f"restored {args.source} into {redact_dsn(dsn)}")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    return run_command("rollback", lambda: execute(args))
