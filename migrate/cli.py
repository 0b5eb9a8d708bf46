"""``deploy-gates migrate``: status, plan and up from the command line. ``status`` exits
non-zero when an applied file drifted, failed or is missing, as ``flyway validate`` does."""

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
    say,
)
from deploy_gates.migrate.errors import MigrationError
from deploy_gates.migrate.log import MigrationLog
from deploy_gates.migrate.status import StatusEntry, status, status_problem

EXAMPLES = """\
examples:
  deploy-gates migrate status --runbook runbook.yaml --target staging
  deploy-gates migrate plan --runbook runbook.yaml --target staging
  deploy-gates migrate up --runbook runbook.yaml --target staging --allow-destructive staging
  deploy-gates migrate status --dsn-env DATABASE_URL --dir migrations
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``deploy-gates migrate``; options go before or after the action."""
    parser = CliParser(
        prog="deploy-gates migrate", description="Apply SQL migration files.", epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=("status", "plan", "up"), metavar="ACTION",
                        help="status: each migration's state; plan: what up would apply; "
                        "up: apply pending migrations")
    add_target_args(parser)
    parser.add_argument("--dir", type=Path, help="migrations directory (default: the spec's)")
    parser.add_argument("--through", metavar="FILE",
                        help="plan, up: stop after this migration file")
    parser.add_argument("--allow-out-of-order", action="store_true",
                        help="plan, up: apply pending files older than the newest applied one")
    add_lock_timeout(parser)
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
        rows = status(dsn, files, ledger=ledger)
        say(format_status(rows))
        problem = status_problem(rows)
        if problem:
            raise MigrationError(problem)
        return
    if args.command == "plan":
        pending = plan(dsn, files, through=args.through, ledger=ledger,
                       allow_out_of_order=args.allow_out_of_order)
        say("\n".join(f.name for f in pending) if pending else "nothing pending")
        return
    require_permission(args, target)
    log = MigrationLog.create(Path(args.report_dir), "migrate")
    say(f"log: {log.path}")
    say(f"migrations: {found.folder}, {found.describe()}")
    applied = up(dsn, files, through=args.through, ledger=ledger,
                 allow_out_of_order=args.allow_out_of_order, lock_timeout_s=args.lock_timeout,
                 log=log, echo=say, databases=target.databases,
                 **run_options(target.migrations))
    say(f"{len(applied)} migration(s) applied" if applied else "nothing pending")


def run(command: str, argv: list[str]) -> int:
    """``deploy-gates migrate ARGV``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "status" and (args.through or args.allow_out_of_order):
        parser.error("--through and --allow-out-of-order apply to plan and up")
    return run_command(f"deploy-gates {command}", lambda: execute(args))
