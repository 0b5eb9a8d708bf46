"""Command-line pieces shared by ``python -m migrate`` and ``python -m rollback``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from migrate.errors import MigrationError


def add_target_args(parser: argparse.ArgumentParser) -> None:
    """``--dsn``/``--dsn-env``, ``--ledger-table`` and ``--report-dir``."""
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--dsn", help="target database DSN (prefer --dsn-env: argv is visible)")
    target.add_argument("--dsn-env", metavar="VAR", help="read the target DSN from this env var")
    parser.add_argument("--ledger-table", default="schema_migrations", help="(%(default)s)")
    parser.add_argument("--report-dir", default="reports", help="run logs go here (%(default)s)")


def resolve_dsn(args: argparse.Namespace) -> str:
    """The DSN given by ``--dsn`` or found in the ``--dsn-env`` variable."""
    if args.dsn:
        return args.dsn
    dsn = os.environ.get(args.dsn_env)
    if not dsn:
        raise MigrationError(f"environment variable {args.dsn_env} (from --dsn-env) is not set")
    return dsn


def run_command(prog: str, command: Callable[[], None]) -> int:
    """Run ``command``; a MigrationError becomes ``<prog>: <message>`` on stderr and exit 1."""
    try:
        command()
    except MigrationError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return 0
