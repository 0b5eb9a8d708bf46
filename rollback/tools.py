"""Run the PostgreSQL client tools (pg_dump, pg_restore) with a deadline and one-line errors."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from deploy_gates.fixtures.ephemeral.embedded import bin_dir
from deploy_gates.fixtures.ephemeral.local import DEBIAN_ROOT
from deploy_gates.migrate.db import CONNECT_TIMEOUT_S, first_line, hide_password
from deploy_gates.migrate.errors import MigrationError
from deploy_gates.redact import redact_dsn

TOOL_TIMEOUT_S = 600


def _with_connect_timeout(dsn: str) -> str:
    """``dsn`` with a connect_timeout unless it already sets one."""
    params = conninfo_to_dict(dsn)
    params.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
    return make_conninfo("", **params)


@cache
def client_dirs() -> dict[int, Path]:
    """Installed client tool folders by major version: Debian's and the embedded wheel's."""
    found = {}
    for folder in [*DEBIAN_ROOT.glob("*/bin"), bin_dir()]:
        if (folder / "pg_dump").exists():
            out = subprocess.run([str(folder / "pg_dump"), "--version"], capture_output=True,
                                 text=True, timeout=30, check=False).stdout
            match = re.search(r"(\d+)\.\d+", out)
            if match:
                found.setdefault(int(match.group(1)), folder)
    return found


def client_dir_for(server_major: int | None) -> Path:
    """Client tools for a server: the same major version, else the oldest newer one.

    A newer pg_dump writes settings an older server rejects on restore, so match when we can.
    """
    dirs = client_dirs()
    if server_major is None:
        return dirs[max(dirs)] if dirs else bin_dir()
    fitting = sorted(v for v in dirs if v >= server_major)
    return dirs[fitting[0]] if fitting else bin_dir()


def server_major(dsn: str) -> int:
    """The major version of the server behind ``dsn``."""
    with psycopg.connect(_with_connect_timeout(dsn), autocommit=True) as conn:
        return conn.info.server_version // 10000


def run_tool(tool: str, *args: str, dsn: str | None = None) -> str:
    """Run ``tool args`` (plus ``--dbname dsn``); return stdout or raise naming the command."""
    shown = " ".join([tool, *args])
    major = None
    if dsn is not None:
        shown += f" --dbname '{redact_dsn(dsn)}'"
        try:
            major = server_major(dsn)
        except psycopg.Error as exc:
            raise MigrationError(f"{shown} failed: {first_line(str(exc), dsn)}") from exc
    argv = [str(client_dir_for(major) / tool), *args]
    if dsn is not None:
        argv += ["--dbname", _with_connect_timeout(dsn)]
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
