"""``python -m deploy_gates``: the ``deploy-gates`` command."""

from __future__ import annotations

import sys

from deploy_gates.cli import main

sys.exit(main())
