"""The failure path: 1,000 column gates on a live target whose database cannot be reached (a
closed port on 127.0.0.1), against the same gates passing on a reachable one; sides in turn."""

from __future__ import annotations

import argparse
import socket
import sys
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import (  # noqa: E402
    DSN_ENV,
    column_schema,
    columns,
    create_tables,
    interleaved,
    run_live_suite,
)

from deploy_gates.fixtures.ephemeral import start_server  # noqa: E402


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then closed): connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    wanted = columns()
    spec = {"system": "bench", "release": "1",
            "targets": {"live": {"kind": "live", "dsn_env": DSN_ENV}},
            "schema": {"columns": column_schema(wanted)}}
    unreachable = f"postgresql://postgres@127.0.0.1:{closed_port()}/postgres?connect_timeout=5"
    server = start_server("embedded")
    try:
        dsn = server.create_database("reachable")
        create_tables(dsn, wanted)
        select = ("-m", "postdeploy", "-k", "test_column")
        paired = interleaved({
            "passing run": partial(run_live_suite, spec, dsn, len(wanted), *select),
            "unreachable database": partial(run_live_suite, spec, unreachable, len(wanted),
                                            *select, outcome="error"),
        }, args.runs)
    finally:
        server.stop()
    print(f"{len(wanted)} column gates on a live target")
    print(paired.report("passing run"))


if __name__ == "__main__":
    main()
