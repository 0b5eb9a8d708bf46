"""Run the migration CLI: ``python -m migrate``."""

from __future__ import annotations

import sys

from deploy_gates.migrate.cli import main

sys.exit(main())
