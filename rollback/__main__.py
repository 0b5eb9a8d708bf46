"""Run the rollback CLI: ``python -m rollback``."""

from __future__ import annotations

import sys

from deploy_gates.rollback.cli import main

sys.exit(main())
