"""Report sets in the report directory: which files one run wrote, and removing older sets."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

STAMP = r"\d{8}T\d{6}Z"
REPORT_SUFFIXES = ("html", "xml", "json", "md")


def stamp(moment: datetime) -> str:
    """A report set's UTC timestamp as its file names carry it: ``20261201T095000Z``."""
    return moment.strftime("%Y%m%dT%H%M%SZ")


def run_logs(report_dir: Path, targets: tuple[str, ...], started: datetime) -> list[str]:
    """The migration logs this run wrote for its targets: the files
    ``<target>[-<worker>]-<phase>-<stamp>.log`` no older than the run."""
    names = "|".join(re.escape(t) for t in targets)
    pattern = re.compile(rf"(?:{names})-.+-({STAMP})\.log")
    since = stamp(started)
    return sorted(
        p.name for p in report_dir.glob("*.log")
        if (m := pattern.fullmatch(p.name)) and m.group(1) >= since
    )


def prune(report_dir: Path, label: str, keep: int) -> int:
    """Keep the ``keep`` newest report sets of ``label`` (``a`` or ``a+b``); remove the older
    ones, each with the files its JSON summary lists. Returns how many sets went."""
    pattern = re.compile(rf"{re.escape(label)}-({STAMP})\.json")
    sets = sorted(m.group(1) for p in report_dir.iterdir() if (m := pattern.fullmatch(p.name)))
    for old in sets[:-keep]:
        stem = f"{label}-{old}"
        names = {f"{stem}.{suffix}" for suffix in REPORT_SUFFIXES}
        names.update(_listed(report_dir / f"{stem}.json"))
        for name in names:
            (report_dir / name).unlink(missing_ok=True)
    return max(0, len(sets) - keep)


def _listed(summary: Path) -> list[str]:
    """The plain file names (nothing outside the report directory) a summary lists."""
    try:
        files = json.loads(summary.read_text(encoding="utf-8")).get("files", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [f for f in files if isinstance(f, str) and f == Path(f).name and f not in ("", "..")]
