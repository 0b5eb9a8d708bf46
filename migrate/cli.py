"""``python -m migrate``: status, plan and up from the command line."""

from __future__ import annotations

import argparse
from datetime import UTC
from pathlib import Path

from deploy_gates.migrate.apply import plan, run_options, up
from deploy_gates.migrate.cli_common import (
    CliParser,
    add_lock_timeout,
    add_target_args,
    ledger_settings,
    release_migrations,
    require_permission,
    resolve_target,
    run_command,
)
from deploy_gates.migrate.log import MigrationLog
from deploy_gates.migrate.status import StatusEntry, status


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m migrate``."""
    parser = CliParser(prog="migrate", description="Apply SQL migration files.")
    add_target_args(parser)
    parser.add_argument("--dir", type=Path, help="migrations directory (default: the spec's)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="show each migration's state")
    for name, text in (("plan", "list what up would apply"), ("up", "apply pending migrations")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--through", metavar="FILE", help="stop after this migration file")
        sub.add_argument("--allow-out-of-order", action="store_true",
                         help="apply pending files older than the newest applied one")
    add_lock_timeout(commands.choices["up"])
    return parser


def format_status(rows: list[StatusEntry]) -> str:
    """A plain table: file, state, applied_at (UTC), ms."""
    table = [("file", "state", "applied_at", "ms")] + [
        (
            e.name,
            e.state,
            e.applied_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if e.applied_at else "-",
            "-" if e.execution_ms is None else str(e.execution_ms),
        )
        for e in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    )


def execute(args: argparse.Namespace) -> None:
    """Run the chosen subcommand."""
    target = resolve_target(args)
    dsn, ledger = target.dsn, ledger_settings(args, target)
    found = release_migrations(args, target)
    files = found.migrations
    if args.command == "status":
        print(format_status(status(dsn, files, ledger=ledger)))
        return
    if args.command == "plan":
        pending = plan(dsn, files, through=args.through, ledger=ledger,
                       allow_out_of_order=args.allow_out_of_order)
        print("\n".join(f.name for f in pending) if pending else "nothing pending")
        return
    require_permission(args, target)
    log = MigrationLog.create(Path(args.report_dir), "migrate")
    print(f"log: {log.path}")
    print(f"migrations: {found.folder}, {found.describe()}")
    applied = up(dsn, files, through=args.through, ledger=ledger,
                 allow_out_of_order=args.allow_out_of_order, lock_timeout_s=args.lock_timeout,
                 log=log, echo=print, **run_options(target.migrations))
    print(f"{len(applied)} migration(s) applied" if applied else "nothing pending")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    return run_command("migrate", lambda: execute(args))
