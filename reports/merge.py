"""Merge the report sets of several runs (a CI matrix job per target or region) into one: the gates
of every run, a verdict per target and one overall, written as JSON, JUnit, Markdown and HTML.

    deploy-gates merge eu/ us/rehearsal-20261201T095000Z.json --out merged/

Each input is a run's JSON summary, its JUnit XML (the summary beside it is read), or a folder
holding report sets (every summary in it). The merge equals one run of all the targets
(``--target eu,us``), gate for gate.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploy_gates.reports import html as pages
from deploy_gates.reports.junit import junit_xml
from deploy_gates.reports.retention import stamp
from deploy_gates.reports.summary import (
    NOT_IN_RUNBOOK,
    build_summary,
    markdown_summary,
    summary_json,
)
from deploy_gates.spec.yamlsource import SpecError, read_text
from deploy_gates.verdict import EXIT_CODES, GateRecord

USAGE_EXIT = 2
MAX_SUMMARY_BYTES = 256 << 20
"""The largest JSON summary read (256 MiB)."""


class MergeError(Exception):
    """An input cannot be merged; the message names the file and why."""


def merge_runs(paths: list[Path], out_dir: Path) -> str:
    """Merge the runs whose reports ``paths`` name into one report set in ``out_dir``; returns
    the overall verdict."""
    return write_merge(paths, out_dir)[0]["verdict"]


def write_merge(paths: list[Path], out_dir: Path) -> tuple[dict[str, Any], Path]:
    """The merged summary, and the merged set's path without its suffix."""
    runs = [(path, _load(path)) for path in _summaries(paths)]
    if not runs:
        raise MergeError("merge: no JSON summary among " + ", ".join(map(str, paths)))
    metadata = _metadata(runs)
    several = len(metadata["targets"]) > 1
    shared: dict[str, GateRecord] = {}
    per_target: list[GateRecord] = []
    for _path, summary in runs:
        alone = len(summary["metadata"]["targets"]) == 1
        for gate in summary["gates"]:
            record = GateRecord(**gate)
            if not record.target:
                known = shared.setdefault(record.id, record)
                if pages.outcome_rank(record.outcome) < pages.outcome_rank(known.outcome):
                    shared[record.id] = record
                continue
            if alone and several:
                record.name = with_target(record.name, record.target)
                record.id = f"{record.id.rsplit('::', 1)[0]}::{record.name}"
            per_target.append(record)
    order = metadata["targets"]
    records = list(shared.values()) + sorted(per_target, key=lambda r: order.index(r.target))
    steps: dict[str, str] = {}
    for _path, summary in runs:
        for row in summary["runbook_steps"]:
            if row["title"] != NOT_IN_RUNBOOK:
                steps.setdefault(row["step"], row["title"])
    stem = f"{'+'.join(order)}-{stamp(datetime.now(UTC))}"
    names = {kind: f"{stem}.{suffix}" for kind, suffix in
             (("html", "html"), ("junit", "xml"), ("json", "json"), ("markdown", "md"))}
    evidence = {ref: e for _path, run in runs for ref, e in run.get("shared_evidence", {}).items()}
    summary = build_summary(metadata, records, steps, list(names.values()), shared=evidence)
    summary["merged_from"] = [str(path) for path, _ in runs]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / names["json"]).write_text(summary_json(summary), encoding="utf-8")
    (out_dir / names["junit"]).write_bytes(junit_xml(summary, records))
    (out_dir / names["markdown"]).write_text(markdown_summary(summary, records),
                                             encoding="utf-8")
    (out_dir / names["html"]).write_text(pages.page(summary, records), encoding="utf-8")
    return summary, out_dir / stem


def with_target(name: str, target: str) -> str:
    """A gate's name as a run of several targets gives it: ``test_x[a-eu]``, ``test_y[eu]``."""
    if name.endswith("]") and "[" in name:
        return f"{name[:-1]}-{target}]"
    return f"{name}[{target}]"


def _summaries(paths: list[Path]) -> list[Path]:
    """The JSON summaries the inputs name, each once, in the order given."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.glob("*.json") if p.is_file())
        elif path.suffix == ".xml":
            found.append(path.with_suffix(".json"))
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(read_text(path, "run summary", MAX_SUMMARY_BYTES))
    except SpecError as exc:
        raise MergeError(f"merge: {exc}") from None
    except ValueError as exc:
        raise MergeError(f"merge: {path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("schema_version") != 1:
        raise MergeError(f"merge: {path}: not a deploy-gates summary of schema_version 1")
    return data


def _metadata(runs: list[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    """One run's metadata for all: every target once, the earliest start and latest finish."""
    first_path, first = runs[0]
    targets: list[str] = []
    seen: dict[str, Path] = {}
    for path, summary in runs:
        meta = summary["metadata"]
        for key in ("system", "release"):
            if meta[key] != first["metadata"][key]:
                raise MergeError(
                    f"merge: {path}: {key} {meta[key]!r}, but {first_path} has "
                    f"{first['metadata'][key]!r}; only runs of one release merge"
                )
        for target in meta["targets"]:
            if target in seen:
                raise MergeError(f"merge: target {target!r} is in both {seen[target]} and {path}")
            seen[target] = path
            targets.append(target)

    def joined(key: str) -> str:
        return ", ".join(dict.fromkeys(str(s["metadata"].get(key, "")) for _, s in runs))

    metas = [s["metadata"] for _, s in runs]
    merged = {**first["metadata"], "targets": targets, "git_commit": joined("git_commit"),
              "operator": joined("operator"), "suite_version": joined("suite_version"),
              "started": min(m["started"] for m in metas)}
    if all("finished" in m for m in metas):
        merged["finished"] = max(m["finished"] for m in metas)
    return merged


def run(command: str, argv: list[str]) -> int:
    """``deploy-gates merge FILES... --out DIR``: exits with the verdict's code (GO 0, NO-GO 1,
    INCONCLUSIVE 6), 2 on bad input."""
    parser = argparse.ArgumentParser(
        prog=f"deploy-gates {command}",
        description="Merge the reports of several deploy-gates runs into one report set.",
    )
    parser.add_argument("files", nargs="+", type=Path,
                        help="JSON summaries, JUnit files beside them, or folders of report sets")
    parser.add_argument("--out", required=True, type=Path, help="where the merged set goes")
    args = parser.parse_args(argv)
    try:
        summary, stem = write_merge(args.files, args.out)
    except MergeError as exc:
        print(exc, file=sys.stderr)
        return USAGE_EXIT
    print(f"deploy-gates reports: {stem}.{{html,xml,json,md}}")
    print(f"deploy-gates merge verdict {summary['verdict']}: {summary['verdict_reason']}")
    for row in summary["targets"]:
        print(f"  {row['target']}: {row['verdict']}: {row['reason']}")
    return EXIT_CODES[summary["verdict"]]
