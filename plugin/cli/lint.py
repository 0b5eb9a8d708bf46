"""``deploy-gates lint``: a runbook spec and its migrations checked without a database."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from deploy_gates.cli.options import add_runbook

EXAMPLES = """\
examples:
  deploy-gates lint --runbook runbook.yaml
  deploy-gates --runbook examples/tascade/runbook.yaml lint
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``deploy-gates lint``."""
    parser = argparse.ArgumentParser(
        prog="deploy-gates lint",
        description="Check a runbook spec as the gates read it (every key, the paths it names) "
        "and its migrations as the predeploy gates do (one file per version number, a down "
        "script for each release migration), without a database.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_runbook(parser, "the runbook spec to check")
    return parser


def check(path: Path) -> tuple[list[str], str]:
    """The problems of the spec at ``path``, one line each, and a one-line summary of it."""
    from deploy_gates.migrate import MigrationError
    from deploy_gates.spec.runbook import load_runbook
    from deploy_gates.spec.yamlsource import SpecError
    from deploy_gates.verify.expectations import expected_objects
    from deploy_gates.verify.migration_lint import lint
    from deploy_gates.verify.release import split_at_baseline

    try:
        spec = load_runbook(path)
        specs = [db for _, db in spec.per_database()]
        splits = [split_at_baseline(db) for db in specs]
        problems = [f"{path}: migrations: {p}" for p in lint(spec)]
    except (SpecError, MigrationError) as exc:
        return [str(exc)], ""
    total = sum(len(baseline) + len(release) for baseline, release in splits)
    released = sum(len(release) for _, release in splits)
    migrations = (
        f"{total} migration(s), {released} in the release"
        if any(db.migrations for db in specs) else "no migrations"
    )
    databases = f", {len(spec.databases)} database(s)" if spec.databases else ""
    objects = sum(len(expected_objects(db.expected)) for db in specs)
    return problems, (
        f"{spec.system} {spec.release}, {len(spec.targets)} target(s){databases}, {migrations}, "
        f"{objects} schema object(s)"
    )


def run(command: str, argv: list[str]) -> int:
    """Print each problem on one line; exit 1 when there is one, 0 when the spec is clean."""
    args = build_parser().parse_args(argv)
    problems, summary = check(args.runbook)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print(f"{args.runbook}: ok: {summary}")
    return 0
