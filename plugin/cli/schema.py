"""``deploy-gates schema``: the runbook spec's JSON Schema, or its Markdown reference."""

from __future__ import annotations

import argparse
import sys

EXAMPLES = """\
examples:
  deploy-gates schema > runbook.schema.json
      then, as the first line of runbook.yaml:
      # yaml-language-server: $schema=runbook.schema.json
  deploy-gates schema --markdown > spec-reference.md
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``deploy-gates schema``."""
    parser = argparse.ArgumentParser(
        prog="deploy-gates schema",
        description="Print the JSON Schema of a runbook spec, generated from the spec's models, "
        "for editors' YAML language servers; or, with --markdown, the reference of every key.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--markdown", action="store_true",
                        help="print the Markdown reference (docs/spec-reference.md) instead")
    return parser


def run(command: str, argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from deploy_gates.spec.reference import markdown, schema_text

    sys.stdout.write(markdown() if args.markdown else schema_text())
    return 0
