"""Which step of each seed runbook a gate automates, and why the others stay manual:
docs/seeds.md, generated from the runbook documents themselves (``examples/<system>/RUNBOOK.md``,
their numbered steps read by ``runbookdoc``), the examples' specs (``runbook.steps``,
``runbook.manual`` and the ``gates:`` rules) and the gates each spec collects on each target.

    python -m deploy_gates.reports.coverage > docs/seeds.md
    python -m deploy_gates.reports.coverage --check    # exit 1, naming each unmapped step

A seed whose example folder does not exist yet is listed as such, not an error.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from deploy_gates.gates import BLOCKER, spec_rules
from deploy_gates.reports import runbookdoc
from deploy_gates.spec.runbook import Runbook, load_runbook

SEEDS = (
    ("000", "router_api"),
    ("001", "granter"),
    ("002", "tascade"),
    ("003", "api_platform"),
    ("004", "redcube"),
)
SHOWN = 5
DOCUMENT = "RUNBOOK.md"  # the seed's runbook, verbatim, beside its example's spec
COMMAND = "python -m deploy_gates.reports.coverage > docs/seeds.md"


@dataclass(frozen=True)
class Coverage:
    """One seed's spec, and the gates (name -> the targets collecting it) of each step."""

    seed: str
    spec_path: Path
    spec: Runbook
    gates: dict[str, dict[str, list[str]]]
    document: list[runbookdoc.Step]

    def parents(self) -> set[str]:
        """The document's steps that have steps of their own (``4`` of ``4.1``): their
        sub-steps are automated or manual, they need neither."""
        return {s.parent for s in self.document if s.parent}

    def manual(self) -> dict[str, str]:
        """Why each manual step is: its own ``runbook.manual`` reason, else the nearest step
        it is part of that has one (building images, and each command of it)."""
        reasons = dict(self.spec.runbook.manual) if self.spec.runbook else {}
        for step in self.document:  # document order: a step's parent comes first
            if step.number not in reasons and step.parent in reasons and not self.gates.get(
                    step.number):
                reasons[step.number] = reasons[step.parent]
        return reasons

    def problems(self) -> list[str]:
        """A step of the document the spec leaves out or titles otherwise, a step of the spec
        the document does not number, and a step neither a gate automates nor
        ``runbook.manual`` explains, or both."""
        source = self.spec.runbook
        listed = source.steps if source else {}
        document = self.spec_path.parent / DOCUMENT
        found = [f"{self.spec_path}: runbook step {s.number!r} ({s.title}) of {document} is not "
                 "in runbook.steps" for s in self.document if s.number not in listed]
        found += [f"{self.spec_path}: runbook step {s.number!r} is titled {listed[s.number]!r}; "
                  f"{document} titles it {s.title!r}" for s in self.document
                  if s.number in listed and listed[s.number] != s.title]
        numbered = {s.number for s in self.document}
        found += [f"{self.spec_path}: runbook step {step!r} ({title}) is not a step {document} "
                  "numbers" for step, title in listed.items() if step not in numbered]
        reasons, parents = self.manual(), self.parents()
        for step, title in listed.items():
            automated, manual = bool(self.gates.get(step)), step in reasons
            if not automated and not manual and step not in parents:
                found.append(f"{self.spec_path}: runbook step {step!r} ({title}) has no gate "
                             "and no runbook.manual reason")
            elif automated and manual:
                found.append(f"{self.spec_path}: runbook step {step!r} ({title}) is marked "
                             "manual but gates automate it")
        return found


def collected(spec_path: Path, target: str, root: Path) -> list[str]:
    """The gate names a run of ``spec_path`` on ``target`` collects (rollback gates too)."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
         f"--runbook={spec_path}", f"--target={target}", "-m", "rollback or not rollback"],
        cwd=root, capture_output=True, text=True, timeout=120, check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{spec_path}: collecting the gates on {target} failed: "
                         f"{(result.stderr or result.stdout).strip().splitlines()[-1:]}")
    return [line.rsplit("::", 1)[1] for line in result.stdout.splitlines() if "::" in line]


def coverage(seed: str, spec_path: Path, root: Path) -> Coverage:
    """The gates of every target of ``spec_path``, by the step the spec's rules give them."""
    spec = load_runbook(root / spec_path)
    gates: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    with ThreadPoolExecutor(max_workers=2) as pool:  # one pytest process per target
        names = pool.map(lambda target: collected(spec_path, target, root), spec.targets)
    for target, found in zip(spec.targets, names, strict=True):
        for name in found:
            step = spec_rules(spec, name, BLOCKER)[1]
            if step is not None:
                gates[step][name].append(target)
    try:
        document = runbookdoc.steps(root / spec_path.parent / DOCUMENT)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"{spec_path}: its runbook document: {exc}") from None
    return Coverage(seed, spec_path, spec, gates, document)


def _gate_cell(gates: dict[str, list[str]], targets: list[str]) -> str:
    """The gates by function (``test_column x4`` when more than ``SHOWN``), with the targets
    collecting them when not all of the spec's do."""
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
    for name, where in gates.items():
        groups[(name.split("[", 1)[0], tuple(where))].append(name)
    cells = []
    for (function, where), names in groups.items():
        shown = names if len(names) <= SHOWN else [f"{function} x{len(names)}"]
        text = ", ".join(f"`{_code(name)}`" for name in shown)
        if list(where) != targets:
            text += f" ({', '.join(where)})"
        cells.append(text)
    return ", ".join(cells)


def _code(text: str) -> str:
    return text.replace("`", "'")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def seeds(root: Path) -> list[tuple[str, Path, Coverage | None]]:
    """Each seed, its spec's path and its coverage (``None`` while it has no example)."""
    found = []
    for seed, folder in SEEDS:
        spec_path = Path("examples") / folder / "runbook.yaml"
        exists = (root / spec_path).is_file()
        found.append((seed, spec_path, coverage(seed, spec_path, root) if exists else None))
    return found


def render(covers: list[tuple[str, Path, Coverage | None]]) -> str:
    """docs/seeds.md for the seeds' coverage."""
    lines = [
        "# Seed runbooks: what the gates automate",
        "",
        f"Generated from the runbook documents (`examples/<system>/{DOCUMENT}`, each seed's",
        f"runbook verbatim) and the examples' specs by `{COMMAND}`; a test fails when it is",
        "stale, when the spec's `runbook.steps` differ from the steps the document numbers, or",
        "when a step has neither a gate (a `gates:` rule giving the step to a gate the spec",
        "collects) nor a `runbook.manual` reason; a step with steps of its own needs neither.",
        "Gates are grouped by kind, with the targets that collect them when not every target",
        "of the spec does.",
        "",
    ]
    for seed, spec_path, cover in covers:
        if cover is None:
            lines += [f"## Seed {seed}", "", f"No example yet (`{spec_path}`).", ""]
            continue
        spec = cover.spec
        source = spec.runbook
        steps = source.steps if source else {}
        manual = cover.manual()
        targets = list(spec.targets)
        automated = sum(1 for step in steps if cover.gates.get(step))
        lines += [
            f"## Seed {seed}: {spec.system} {spec.release}",
            "",
            f"{source.title if source else spec.system} (`{spec_path}`): {len(steps)} steps, "
            f"{automated} automated, {len(manual)} manual.",
            "",
            "| step | runbook step | automated by | manual, because |",
            "| --- | --- | --- | --- |",
        ]
        parents = cover.parents()
        for step, title in steps.items():
            gates = _gate_cell(cover.gates.get(step, {}), targets)
            if not gates and step in parents and step not in manual:
                gates = "its steps below"
            lines.append(f"| {_cell(step)} | {_cell(title)} | {gates} | "
                         f"{_cell(manual.get(step, ''))} |")
        lines.append("")
    return "\n".join(lines)


def problems(covers: list[tuple[str, Path, Coverage | None]]) -> list[str]:
    """Every step of every seed example that is neither automated nor manual, or both."""
    return [problem for _, _, cover in covers if cover for problem in cover.problems()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy_gates.reports.coverage",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path.cwd(),
                        help="the checkout holding examples/ (default: the current folder)")
    parser.add_argument("--check", action="store_true",
                        help="print each step neither automated nor manual; exit 1 if any")
    args = parser.parse_args(argv)
    covers = seeds(args.root)
    if args.check:
        found = problems(covers)
        print("\n".join(found) or "every runbook step is automated or manual")
        return 1 if found else 0
    sys.stdout.write(render(covers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
