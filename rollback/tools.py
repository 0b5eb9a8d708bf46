"""Run the PostgreSQL client tools (pg_dump, pg_restore) with a deadline and one-line errors."""

from __future__ import annotations

import subprocess

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from fixtures.ephemeral.embedded import bin_dir
from migrate.db import CONNECT_TIMEOUT_S, hide_password
from migrate.errors import MigrationError
from verify.redact import redact_dsn

TOOL_TIMEOUT_S = 600


def _with_connect_timeout(dsn: str) -> str:
    """``dsn`` with a connect_timeout unless it already sets one."""
    params = conninfo_to_dict(dsn)
    params.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
    return make_conninfo("", **params)


def run_tool(tool: str, *args: str, dsn: str | None = None) -> str:
    """Run ``tool args`` (plus ``--dbname dsn``); return stdout or raise naming the command."""
    argv = [str(bin_dir() / tool), *args]
    shown = " ".join([tool, *args])
    if dsn is not None:
        argv += ["--dbname", _with_connect_timeout(dsn)]
        shown += f" --dbname '{redact_dsn(dsn)}'"
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise MigrationError(f"{shown}: no result within {TOOL_TIMEOUT_S} s") from exc
    except OSError as exc:
        raise MigrationError(f"{shown}: cannot run: {exc}") from exc
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        last = hide_password(lines[-1], dsn or "") if lines else "(no error output)"
        raise MigrationError(f"{shown} failed (exit {done.returncode}): {last}")
    return done.stdout
