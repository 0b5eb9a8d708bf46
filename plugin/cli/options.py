"""Options several ``deploy-gates`` subcommands share."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

RUNBOOK_ENV = "DEPLOY_GATES_RUNBOOK"
DEFAULT_RUNBOOK = "runbook.yaml"


def add_runbook(parser: argparse.ArgumentParser, help: str) -> None:
    """``--runbook PATH``: else ``DEPLOY_GATES_RUNBOOK``, else ``runbook.yaml`` here."""
    parser.add_argument(
        "--runbook", type=Path, metavar="PATH",
        default=Path(os.environ.get(RUNBOOK_ENV) or DEFAULT_RUNBOOK),
        help=f"{help} (env {RUNBOOK_ENV}; default {DEFAULT_RUNBOOK})",
    )
