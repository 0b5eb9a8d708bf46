"""``deploy-gates init``: a starting runbook spec for an existing project, its schema section read
from what the release creates on a throwaway database (or from a live database's objects)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from deploy_gates.cli.options import add_runbook

if TYPE_CHECKING:
    from deploy_gates.migrate import Migration
    from deploy_gates.spec.draft import Created, Draft
    from deploy_gates.verify.catalog import Catalog

EXAMPLES = """\
examples:
  deploy-gates init                          # ./runbook.yaml from ./migrations (or db/migrations,
                                             # sql, ...); the release is the newest file
  deploy-gates init --release-from 0005_metrics_read_model.sql
  deploy-gates init --runbook deploy/runbook.yaml --migrations db/migrations --force
  deploy-gates init --from-dsn-env STAGING_DATABASE_URL   # the objects of a live database
"""
PROVIDERS = ("embedded", "local", "testcontainers", "auto")
LEDGER = "schema_migrations"


class InitError(Exception):
    """The spec cannot be drafted; the message says why and what to pass."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``deploy-gates init``."""
    parser = argparse.ArgumentParser(
        prog="deploy-gates init",
        description="Write a starting runbook spec for an existing project: find its migrations, "
        "apply the baseline and then the release on a throwaway PostgreSQL, and write the schema "
        "section from what the release created. The spec passes deploy-gates lint and a "
        "rehearsal as written.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_runbook(parser, "the spec to write; migrations are searched in its folder")
    parser.add_argument("--migrations", type=Path, metavar="DIR",
                        help="the migrations folder (default: found under the spec's folder)")
    parser.add_argument("--release-from", metavar="FILE",
                        help="the release's first migration; the files before it are the "
                        "baseline (default: the release is the newest file)")
    parser.add_argument("--from-dsn-env", metavar="VAR",
                        help="read the release's objects from the live database whose DSN this "
                        "env variable holds (read-only), instead of applying the release")
    parser.add_argument("--system", help="the system's name (default: the spec folder's name)")
    parser.add_argument("--release", help="the release's name (default: its newest migration)")
    parser.add_argument("--db-provider", choices=PROVIDERS, default="embedded",
                        help="the throwaway PostgreSQL (default %(default)s)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing spec")
    return parser


def run(command: str, argv: list[str]) -> int:
    """Write the spec and say what it holds; a one-line error and exit 1 when it cannot."""
    args = build_parser().parse_args(argv)
    import psycopg

    from deploy_gates.fixtures.ephemeral import ServerStartError
    from deploy_gates.migrate import MigrationError
    from deploy_gates.redact import redact_text

    try:
        print(write_spec(args))
    except (InitError, MigrationError, ServerStartError, psycopg.Error, OSError) as exc:
        text = str(exc).strip()
        message = text.splitlines()[0] if text else type(exc).__name__
        print(f"deploy-gates init: {redact_text(message)}", file=sys.stderr)
        return 1
    return 0


def write_spec(args: argparse.Namespace) -> str:
    """Draft, write and check the spec; what was written, and what to run next."""
    from deploy_gates.cli.lint import check
    from deploy_gates.migrate import discover
    from deploy_gates.spec.draft import Draft, find_down_dir, relative, render

    out: Path = args.runbook
    if out.exists() and not args.force:
        raise InitError(f"{out} exists; pass --force to overwrite it")
    if args.from_dsn_env and not os.environ.get(args.from_dsn_env):
        raise InitError(f"environment variable {args.from_dsn_env} (--from-dsn-env) is not set")
    spec_dir = out.parent.resolve()
    migrations = args.migrations or _find_migrations(spec_dir, required=not args.from_dsn_env)
    files = discover(migrations) if migrations else []
    if migrations and not files:
        raise InitError(f"no .sql migrations in {migrations}")
    names = [f.name for f in files]
    if args.release_from is not None and args.release_from not in names:
        raise InitError(f"--release-from {args.release_from}: not a migration in {migrations}")
    first = names.index(args.release_from) if args.release_from else max(len(names) - 1, 0)
    draft = Draft(
        system=args.system or spec_dir.name,
        release=args.release or (names[-1].removesuffix(".sql") if names else "unreleased"),
        migrations=migrations,
        down_dir=find_down_dir(migrations) if migrations else None,
        baseline=names[first - 1] if first > 0 else None,
        provider=args.db_provider,
        live_env=args.from_dsn_env,
        source=f"the live database of ${args.from_dsn_env}" if args.from_dsn_env
        else f"{len(names) - first} release migration(s) in {relative(migrations, spec_dir)}",
    )
    objects = _created(draft, files)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(draft, objects, spec_dir), encoding="utf-8")
    problems, _ = check(out)
    baseline = f" (baseline {draft.baseline})" if draft.baseline else ""
    return "\n".join([
        f"wrote {out}: {objects.count()} schema object(s) from {draft.source}{baseline}",
        *(f"lint: {p}" for p in problems),
        f"next: deploy-gates lint --runbook {out}; pytest --runbook {out} --target=rehearsal",
    ])


def _find_migrations(spec_dir: Path, *, required: bool) -> Path | None:
    """The project's migrations folder; with a live database to read, none is fine."""
    from deploy_gates.migrate import MigrationError
    from deploy_gates.spec.draft import find_migrations

    try:
        return find_migrations(spec_dir)
    except MigrationError:
        if required:
            raise
        return None


def _created(draft: Draft, files: list[Migration]) -> Created:
    """Apply the baseline on a throwaway database and read its catalog; then the release there
    (or the live database) and read it again: the difference is what the release created."""
    from deploy_gates.fixtures.ephemeral import start_server
    from deploy_gates.migrate import up
    from deploy_gates.spec.draft import created

    server = start_server(draft.provider)
    try:
        dsn = server.create_database("init")
        if draft.baseline:
            up(dsn, files, through=draft.baseline)
        before = _catalog(dsn)
        if draft.live_env:
            after = _catalog(os.environ[draft.live_env], live=True)
        else:
            up(dsn, files)
            after = _catalog(dsn)
    finally:
        server.stop()
    return created(before, after, LEDGER)


def _catalog(dsn: str, *, live: bool = False) -> Catalog:
    """A database's catalog; a live one is read in a read-only session with a statement
    timeout, as the gates read it."""
    from deploy_gates.fixtures.targets import Target, connect
    from deploy_gates.spec.runbook import EphemeralTarget, LiveTarget
    from deploy_gates.verify.catalog import read_catalog

    spec = LiveTarget(kind="live", dsn_env="-") if live else EphemeralTarget(kind="ephemeral")
    with connect(dsn, Target("init", spec)) as conn:
        return read_catalog(conn)
