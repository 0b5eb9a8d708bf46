"""Folders the suite writes into: created when missing, refused in one line when unusable."""

from __future__ import annotations

import tempfile
from pathlib import Path

MAX_SAME_NAME = 1000
"""How many files of one name and second a folder may hold (``name``, ``name-2``, ...)."""


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


def new_file(folder: Path, stem: str, suffix: str) -> Path:
    """Create ``<folder>/<stem><suffix>`` (else ``<stem>-2<suffix>``, ``-3``, ...) exclusively, so
    that runs started in the same second never share a file; its path."""
    for count in range(1, MAX_SAME_NAME + 1):
        path = folder / f"{stem}{f'-{count}' if count > 1 else ''}{suffix}"
        try:
            path.touch(exist_ok=False)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"{folder / stem}{suffix} and {MAX_SAME_NAME - 1} more exist")
