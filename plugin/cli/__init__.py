"""``deploy-gates``: the suite's command line for everything that is not a pytest run.

Each subcommand's module is imported only when it runs. Options may stand before or after the
subcommand: ``deploy-gates --runbook x.yaml lint`` is ``deploy-gates lint --runbook x.yaml``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "migrate": ("deploy_gates.migrate.cli", "apply SQL migrations: status, plan, up"),
    "rollback": ("deploy_gates.rollback.cli", "run the down scripts, newest first, after a backup"),
    "backup": ("deploy_gates.rollback.cli", "pg_dump a database and verify the file"),
    "restore": ("deploy_gates.rollback.cli", "pg_restore a backup into a database"),
    "lint": ("deploy_gates.cli.lint", "check a runbook spec and its migrations, no database"),
    "schema": ("deploy_gates.cli.schema", "print the JSON Schema (or Markdown reference) of specs"),
    "init": ("deploy_gates.cli.init", "write a starting runbook spec for an existing project"),
    "lock": ("deploy_gates.verify.lockfile", "record the release's schema in <spec>.lock.json"),
    "merge": ("deploy_gates.reports.merge", "merge the reports of several runs into one set"),
}
EXAMPLES = """\
examples:
  deploy-gates init                                   # draft runbook.yaml from ./migrations
  deploy-gates lint --runbook runbook.yaml
  deploy-gates migrate status --runbook runbook.yaml --target staging
  deploy-gates rollback --dsn-env STAGING_DSN --dir migrations --down-dir down --dry-run
  deploy-gates schema > runbook.schema.json

Gates run with pytest: pytest --runbook runbook.yaml --target=rehearsal
"""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser: it only names the subcommands; each parses its own options."""
    width = max(map(len, COMMANDS))
    listing = "\n".join(f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="deploy-gates",
        description="Deployment verification gates: the commands around the pytest gate runs.",
        epilog=f"commands:\n{listing}\n\n{EXAMPLES}\n'deploy-gates COMMAND --help' shows a "
        "command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("command", choices=COMMANDS, metavar="COMMAND",
                        help="one of the commands below")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; its options may stand before or after its name."""
    args = list(sys.argv[1:] if argv is None else argv)
    at = next((i for i, word in enumerate(args) if word in COMMANDS), None)
    if at is None:
        build_parser().parse_args(args)  # help, version, or an error naming the commands
        return 2
    command = args[at]
    module = importlib.import_module(COMMANDS[command][0])
    return module.run(command, args[:at] + args[at + 1 :])


def _version() -> str:
    from deploy_gates import __version__

    return __version__
