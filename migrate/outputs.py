"""Folders the suite writes into: created when missing, refused in one line when unusable."""

from __future__ import annotations

import tempfile
from pathlib import Path


def directory_problem(path: Path) -> str | None:
    """Why files cannot be written in ``path`` (created when missing); None when they can."""
    if path.exists() and not path.is_dir():
        return "not a directory"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create it: {exc.strerror or exc}"
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        return f"cannot write in it: {exc.strerror or exc}"
    return None
