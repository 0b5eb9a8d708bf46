"""squawk's static lint of the release's migration files (``squawk --reporter json``), run once
per pytest process, and how its guesses line up with the locks the rehearsal measured."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from deploy_gates.migrate import Migration
from deploy_gates.spec.rehearsal import Squawk
from deploy_gates.spec.runbook import Runbook
from deploy_gates.verify.locks import LockSeen
from deploy_gates.verify.release import split_at_baseline

TIMEOUT_S = 60
LOCK_RULES = frozenset({
    "adding-field-with-default", "adding-foreign-key-constraint", "adding-not-nullable-field",
    "adding-required-field", "adding-serial-primary-key-field", "changing-column-type",
    "constraint-missing-not-valid", "disallowed-unique-constraint",
    "require-concurrent-index-creation", "require-concurrent-index-deletion",
})
"""squawk's rules that guess a blocking lock or a table rewrite."""
REQUIRES = re.compile(r"Statement requires: ([A-Z ]+?) lock")


@dataclass(frozen=True)
class SquawkFinding:
    """One of squawk's findings: the file, its 1-based line, the rule and squawk's words."""

    file: str
    line: int
    rule: str
    message: str
    help: str | None

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}:{self.rule}"

    def describe(self) -> str:
        advice = f" ({self.help})" if self.help else ""
        return f"{self.file}:{self.line}: {self.rule}: {self.message}{advice}"

    @property
    def expects(self) -> str | None:
        """The lock squawk says the statement takes, when it says one."""
        match = REQUIRES.search(self.help or "")
        return match.group(1) if match else None


@dataclass
class SquawkReport:
    """squawk's findings per release file, or why squawk could not run."""

    files: list[str] = field(default_factory=list)
    findings: dict[str, list[SquawkFinding]] = field(default_factory=dict)
    error: str | None = None
    enabled: bool = True


squawk_key = pytest.StashKey[SquawkReport]()


@dataclass(frozen=True)
class LintGate:
    """One squawk gate: a finding, a release file without findings, or squawk's failure."""

    id: str
    finding: SquawkFinding | None = None
    error: str | None = None


def lint_gates(report: SquawkReport) -> list[LintGate]:
    """The gates of a report: one per finding (``file:line:rule``), one per clean file."""
    if not report.enabled:
        return []
    if report.error:
        return [LintGate("squawk", error=report.error)]
    return [
        gate
        for name in report.files
        for gate in [LintGate(f.id, f) for f in report.findings.get(name, [])] or [LintGate(name)]
    ]


def squawk_report(config: pytest.Config, runbook: Runbook) -> SquawkReport:
    """The lint of this run's release, computed once per process."""
    if squawk_key not in config.stash:
        spec = runbook.rehearsal.squawk
        files = split_at_baseline(runbook)[1] if runbook.migrations else []
        config.stash[squawk_key] = run_squawk(files, spec) if spec.enabled else SquawkReport(
            [f.name for f in files], enabled=False
        )
    return config.stash[squawk_key]


def binary() -> str | None:
    """The squawk executable: the one installed next to this Python (squawk-cli), else PATH's."""
    beside = Path(sys.executable).parent / "squawk"
    return str(beside) if beside.is_file() else shutil.which("squawk")


def run_squawk(files: list[Migration], spec: Squawk) -> SquawkReport:
    """Lint ``files``: transactional ones as wrapped in a transaction (as the runner runs them)."""
    report = SquawkReport([f.name for f in files], {f.name: [] for f in files})
    exe = binary()
    if exe is None:
        report.error = "squawk is not installed: pip install squawk-cli"
        return report
    options = ["--reporter", "json"]
    options += [f"--exclude={','.join(spec.exclude)}"] if spec.exclude else []
    options += [f"--include={','.join(spec.include)}"] if spec.include else []
    by_path = {str(f.path): f.name for f in files}
    for transactional in (True, False):
        batch = [str(f.path) for f in files if f.transactional == transactional]
        if not batch:
            continue
        extra = ["--assume-in-transaction"] if transactional else []
        try:
            found = _run([exe, *options, *extra, *batch])
        except SquawkError as exc:
            report.error = str(exc)
            return report
        for item in found:
            name = by_path.get(item["file"], Path(item["file"]).name)
            report.findings.setdefault(name, []).append(SquawkFinding(
                name, int(item["line"]) + 1, item["rule_name"], item["message"], item.get("help")
            ))
    return report


class SquawkError(Exception):
    """squawk did not run or did not answer in JSON; the message says what happened."""


def _run(argv: list[str]) -> list[dict]:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise SquawkError(f"squawk: no answer within {TIMEOUT_S} s") from None
    except OSError as exc:
        raise SquawkError(f"squawk: cannot run {argv[0]}: {exc}") from None
    try:
        found = json.loads(done.stdout or "[]")
    except json.JSONDecodeError:
        found = None
    if not isinstance(found, list) or done.returncode not in (0, 1):
        lines = [ln.strip() for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
        raise SquawkError(f"squawk failed (exit {done.returncode}): "
                          f"{lines[0] if lines else 'no output'}")
    return found


def compare(
    report: SquawkReport,
    migration: str,
    flagged: list[LockSeen],
    line_ranges: list[tuple[int, int]],
    *,
    transactional: bool,
) -> list[str]:
    """Where squawk's static guess and the measured locks agree or differ, statement by
    statement: the statements squawk flags with a lock rule, and the ones that took a flagged
    lock. ``line_ranges`` are each statement's first and last line."""
    if not report.enabled:
        return ["squawk is off (rehearsal.squawk.enabled: false)"]
    if report.error:
        return [f"squawk could not run: {report.error}"]

    def statement_line(line: int) -> int:
        return next((first for first, last in line_ranges if first <= line <= last), line)

    def held(line: int) -> str:
        """The flagged locks held while the statement at ``line`` ran."""
        return ", ".join(
            f"{lock.mode or 'a rewrite'} on {lock.table}"
            + (f" (since line {lock.line})" if lock.line != line else "")
            for lock in flagged
            if lock.line == line or (transactional and lock.line < line)
        )

    guessed: dict[int, list[SquawkFinding]] = {}
    for finding in report.findings.get(migration, []):
        if finding.rule in LOCK_RULES:
            guessed.setdefault(statement_line(finding.line), []).append(finding)
    lines = []
    for line in sorted(set(guessed) | {lock.line for lock in flagged}):
        rules = ", ".join(dict.fromkeys(f.rule for f in guessed.get(line, [])))
        expects = next((f.expects for f in guessed.get(line, []) if f.expects), None)
        measured = held(line)
        if rules and measured:
            text = f"line {line}: agree: squawk {rules}; measured {measured}"
        elif rules:
            text = (f"line {line}: differ: squawk {rules}; measured no flagged lock on a "
                    "baseline table (a new or empty table, or a lock held while no rows were "
                    "processed)")
        else:
            text = f"line {line}: differ: squawk silent; measured {measured}"
        lines.append(text + (f" (squawk expects {expects})" if expects else ""))
    return lines or ["neither squawk nor the measurement flags a lock in this migration"]
