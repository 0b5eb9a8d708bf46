"""``deploy-gates rollback``, ``backup`` and ``restore``: down scripts, backups and restores from
the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from deploy_gates.migrate.apply import run_options
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
    say,
)
from deploy_gates.migrate.log import MigrationLog, file_timestamp
from deploy_gates.redact import redact_dsn
from deploy_gates.rollback.backup import BackupInfo, backup, restore
from deploy_gates.rollback.confirm import confirm_change
from deploy_gates.rollback.down import down

DRY_RUN_HINT = " (or use --dry-run to see what would run)"
ABOUT = {
    "rollback": ("Roll back applied migrations with their down scripts, newest first, after a "
                 "pg_dump backup.", """\
examples:
  deploy-gates rollback --runbook runbook.yaml --target staging --to 0004_links.sql --dry-run
  deploy-gates rollback --runbook runbook.yaml --target staging --to 0004_links.sql \\
      --allow-destructive staging --confirm
  deploy-gates rollback --dsn-env STAGING_DSN --dir migrations --down-dir down --dry-run
"""),
    "backup": ("pg_dump -Fc a database and verify the file with pg_restore --list.", """\
examples:
  deploy-gates backup --dsn-env STAGING_DSN --out before.dump
  deploy-gates backup --runbook runbook.yaml --target staging --out before.dump
"""),
    "restore": ("pg_restore a backup into a database.", """\
examples:
  deploy-gates restore --dsn-env STAGING_DSN --from before.dump --confirm
"""),
}


def build_parser(command: str) -> argparse.ArgumentParser:
    """The argument parser of ``deploy-gates rollback``, ``backup`` or ``restore``."""
    description, examples = ABOUT[command]
    parser = CliParser(
        prog=f"deploy-gates {command}", description=description, epilog=examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_args(parser)
    if command == "rollback":
        parser.add_argument("--dir", type=Path, help="migrations directory (default: the spec's)")
        parser.add_argument("--down-dir", type=Path,
                            help="down scripts directory (default: the spec's)")
        parser.add_argument("--to", metavar="FILE",
                            help="keep this migration and those before it")
        parser.add_argument("--dry-run", action="store_true", help="only show what would run")
        parser.add_argument("--confirm", action="store_true",
                            help="change the database, no prompt")
        parser.add_argument("--no-backup", action="store_true", help="skip the pg_dump backup")
        add_lock_timeout(parser)
    elif command == "backup":
        parser.add_argument("--out", type=Path, required=True, metavar="PATH")
    else:
        parser.add_argument("--from", dest="source", type=Path, required=True, metavar="PATH")
        parser.add_argument("--confirm", action="store_true",
                            help="change the database, no prompt")
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
    options = {"to": args.to, "ledger": ledger_settings(args, target),
               "databases": target.databases, **run_options(target.migrations)}
    if args.dry_run:
        down(dsn, files, down_dir, dry_run=True, echo=say, **options)
        return
    targets = down(dsn, files, down_dir, dry_run=True, **options)
    if not targets:
        say("nothing to roll back")
        return
    say(f"will roll back, newest first: {', '.join(targets)}")
    require_permission(args, target)
    confirm_change(dsn, confirmed=args.confirm, alternative=DRY_RUN_HINT)
    report_dir = Path(args.report_dir)
    if not args.no_backup:
        say(describe(backup(dsn, report_dir / f"backup-{file_timestamp()}.dump")))
    log = MigrationLog.create(report_dir, "rollback")
    say(f"log: {log.path}")
    reverted = down(dsn, files, down_dir, lock_timeout_s=args.lock_timeout, log=log,
                    echo=say, **options)
    say(f"{len(reverted)} migration(s) rolled back")


def execute(command: str, args: argparse.Namespace) -> None:
    """Run ``command``."""
    target = resolve_target(args)
    dsn = target.dsn
    if command == "rollback":
        run_down(args, target)
    elif command == "backup":
        say(describe(backup(dsn, args.out)))
    else:
        require_permission(args, target)
        confirm_change(dsn, confirmed=args.confirm)
        restore(args.source, dsn)
        say(f"restored {args.source} into {redact_dsn(dsn)}")


def run(command: str, argv: list[str]) -> int:
    """``deploy-gates rollback|backup|restore ARGV``; returns the exit status."""
    args = build_parser(command).parse_args(argv)
    return run_command(f"deploy-gates {command}", lambda: execute(command, args))
