"""Command-line pieces shared by ``deploy-gates migrate``, ``rollback``, ``backup``, ``restore``."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from deploy_gates.migrate.errors import MigrationError
from deploy_gates.migrate.layouts import Discovery, scan
from deploy_gates.migrate.ledger import DEFAULT_SETTINGS
from deploy_gates.redact import redact_text
from deploy_gates.safety import permission_problem
from deploy_gates.spec.credentials import run_secrets
from deploy_gates.spec.runbook import EphemeralTarget, Ledger, Migrations, load_runbook
from deploy_gates.spec.schema import IDENTIFIER
from deploy_gates.spec.yamlsource import SpecError

MAX_LOCK_TIMEOUT_S = 3600.0
"""The longest ``--lock-timeout``: a migration never waits more than an hour for a lock."""


class CliParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line: ``prog: message``, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def lock_timeout(text: str) -> float:
    """``--lock-timeout SECONDS``: a finite number of seconds, more than 0, at most an hour."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= MAX_LOCK_TIMEOUT_S:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds from 0 to {MAX_LOCK_TIMEOUT_S:g}"
        )
    return seconds


def add_lock_timeout(parser: argparse.ArgumentParser) -> None:
    """``--lock-timeout SECONDS`` (default 60) for the commands that take locks."""
    parser.add_argument("--lock-timeout", type=lock_timeout, default=60.0, metavar="SECONDS",
                        help="give up waiting for locks after this long (%(default)s; at most "
                        f"{MAX_LOCK_TIMEOUT_S:g})")


@dataclass(frozen=True)
class CliTarget:
    """The database a command works on, and what a runbook spec says about it."""

    dsn: str
    name: str | None = None
    protected: bool = False
    migrations: Migrations | None = None
    databases: dict[str, str] = field(default_factory=dict)
    """What a psql ``\\c`` may name: the target's other databases whose DSN variable is set."""


def add_target_args(parser: argparse.ArgumentParser) -> None:
    """``--dsn``/``--dsn-env``/``--target``, ``--ledger-table`` and ``--report-dir``."""
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--dsn", help="target database DSN (prefer --dsn-env: argv is visible)")
    target.add_argument("--dsn-env", metavar="VAR", help="read the target DSN from this env var")
    target.add_argument("--target", metavar="NAME",
                        help="a live target of the runbook spec (DSN, folders and ledger from it)")
    parser.add_argument("--runbook", type=Path, default=os.environ.get("DEPLOY_GATES_RUNBOOK"),
                        help="runbook spec for --target (env DEPLOY_GATES_RUNBOOK)")
    parser.add_argument("--database", metavar="KEY",
                        help="with --target: which database of a spec with several")
    parser.add_argument("--allow-destructive", metavar="NAME",
                        help="let this command change --target NAME (must name it exactly)")
    parser.add_argument("--ledger-table", type=ledger_table_name, metavar="[SCHEMA.]TABLE",
                        help="ledger table (default: the spec's, else schema_migrations)")
    parser.add_argument("--report-dir", default="reports", help="run logs go here (%(default)s)")


def resolve_target(args: argparse.Namespace) -> CliTarget:
    """The DSN from ``--dsn``, the ``--dsn-env`` variable, or the spec's ``--target``."""
    if args.dsn:
        return CliTarget(args.dsn)
    if args.dsn_env:
        return CliTarget(_from_env(args.dsn_env, "from --dsn-env"))
    if args.runbook is None:
        raise MigrationError("--target needs --runbook PATH (or DEPLOY_GATES_RUNBOOK)")
    try:
        spec = load_runbook(args.runbook)
        redact_text.learn(run_secrets(spec))  # masked in every line the command prints or logs
    except SpecError as exc:
        raise MigrationError(str(exc)) from None
    except ValueError as exc:
        raise MigrationError(f"{args.runbook}: {exc}") from None
    target = spec.targets.get(args.target)
    if target is None:
        raise MigrationError(f"unknown target {args.target!r} in {args.runbook}; "
                             f"known targets: {', '.join(spec.targets) or '(none)'}")
    if isinstance(target, EphemeralTarget):
        raise MigrationError(f"target {args.target!r} is ephemeral: the suite starts it; "
                             f"rehearse with pytest --target={args.target}")
    views = dict(spec.per_database())
    if spec.databases and args.database not in views:
        raise MigrationError(f"{args.runbook} names databases ({', '.join(spec.databases)}): "
                             "pass --database KEY")
    if not spec.databases and args.database:
        raise MigrationError(f"--database {args.database}: {args.runbook} names no databases")
    from deploy_gates.verify.databases import connect_names

    found = {key: os.environ.get(view.targets[args.target].dsn_env or "")
             for key, view in views.items() if key}
    databases = connect_names(spec, {key: dsn for key, dsn in found.items() if dsn})
    spec = views[args.database or ""]
    target = spec.targets[args.target]
    dsn = _from_env(target.dsn_env, f"target {args.target}")
    return CliTarget(dsn, args.target, target.protected, spec.migrations, databases)


def require_permission(args: argparse.Namespace, target: CliTarget) -> None:
    """Refuse a change to a spec target unless ``--allow-destructive`` names it (and, when it
    is protected, the environment confirms it)."""
    if target.name is None:
        return
    problem = permission_problem(target.name, target.protected, args.allow_destructive)
    if problem:
        raise MigrationError(f"refusing to change the target: {problem}")


def ledger_table_name(text: str) -> str:
    """``--ledger-table``: ``name`` or ``schema.name``, as the spec's ``ledger.table``."""
    if not re.fullmatch(IDENTIFIER, text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a table name like schema_migrations "
                                         "or audit.schema_migrations")
    return text


def ledger_settings(args: argparse.Namespace, target: CliTarget) -> Ledger:
    """The spec's ledger settings (else the defaults), with ``--ledger-table`` as the table."""
    settings = target.migrations.ledger if target.migrations else DEFAULT_SETTINGS
    if args.ledger_table:
        return settings.model_copy(update={"table": args.ledger_table})
    return settings


def folder(given: Path | None, target: CliTarget, key: str, flag: str) -> Path:
    """A folder from the command line, else from the spec's ``migrations.<key>``."""
    found = given or (getattr(target.migrations, key) if target.migrations else None)
    if found is None:
        raise MigrationError(
            f"{flag} is needed (or --target with a spec that names migrations.{key})"
        )
    return found


def release_migrations(args: argparse.Namespace, target: CliTarget) -> Discovery:
    """The migrations of ``--dir`` (else the spec's folder), read as the spec's layout (detected
    when it names none, or without a spec); refused when the folder has problems."""
    directory = folder(args.dir, target, "dir", "--dir")
    settings = target.migrations
    found = scan(directory, settings.layout if settings else None,
                 allow_duplicate_versions=bool(settings and settings.allow_duplicate_versions))
    found.require()
    return found


def _from_env(name: str, source: str) -> str:
    dsn = os.environ.get(name)
    if not dsn:
        raise MigrationError(f"environment variable {name} ({source}) is not set")
    return dsn


def say(text: str) -> None:
    """Print a line of a command's output, every secret the command knows of masked."""
    print(redact_text(text))


def run_command(prog: str, command: Callable[[], None]) -> int:
    """Run ``command``; a MigrationError becomes ``<prog>: <message>`` on stderr and exit 1."""
    try:
        command()
    except MigrationError as exc:
        print(redact_text(f"{prog}: {exc}"), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return 0
