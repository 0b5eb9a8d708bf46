"""The plugin's import time: ``python -X importtime -c "import deploy_gates.plugin"`` in fresh
processes, the median of the plugin's cumulative time, and which of the libraries only some gates
or reports need were loaded by it (none should be)."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

LAZY = ("requests", "prometheus_client", "testinfra", "sqlparse", "pglast",
        "deploy_gates.reports.ticket", "deploy_gates.verify.http_deadline")
"""Loaded when a gate or report needs them, never by the plugin's import."""
TIMEOUT_S = 60


def import_time() -> tuple[float, set[str]]:
    """Seconds ``import deploy_gates.plugin`` took (importtime's cumulative figure), and the
    modules it loaded."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import deploy_gates.plugin"],
                          capture_output=True, text=True, timeout=TIMEOUT_S, check=True)
    rows = [line.split("|") for line in done.stderr.splitlines() if line.startswith("import time:")]
    names = {row[2].strip() for row in rows[1:]}
    plugin = next(row for row in reversed(rows) if row[2].strip() == "deploy_gates.plugin")
    return int(plugin[1]) / 1e6, names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    seen = [import_time() for _ in range(args.runs)]
    times = [t for t, _ in seen]
    loaded = sorted({m if m in LAZY else m.split(".")[0] for _, names in seen for m in names
                     if m in LAZY or m.split(".")[0] in LAZY})
    print(f"import deploy_gates.plugin: {statistics.median(times):.3f} s (median of {args.runs}; "
          f"min {min(times):.3f} s, max {max(times):.3f} s)")
    print(f"lazy libraries loaded by the import: {', '.join(loaded) or 'none'}")


if __name__ == "__main__":
    main()
