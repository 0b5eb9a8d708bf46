"""Tool versions: how to ask a tool for its version, how to read the answer, how to compare it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

# How each well-known tool reports its version; any other tool is asked for ``--version``.
VERSION_ARGS = {
    "kubectl": "version --client",
    "helm": "version",
    "terraform": "version",
    "aws": "--version",
    "docker": "--version",
    "psql": "--version",
}
DEFAULT_VERSION_ARGS = "--version"
RUN_TIMEOUT_S = 30
TIMED_OUT = 124  # the exit status of coreutils' timeout
VERSION = re.compile(r"(?:^|[^\w.])v?(\d+(?:\.\d+)+)")
REQUIREMENT = re.compile(r"^\s*(>=|==|>)?\s*(\d+(?:\.\d+)*)\s*$")
EXCERPT_CHARS = 300


class CommandResult(Protocol):
    rc: int
    stdout: str
    stderr: str


class Host(Protocol):
    """What the tool checks need of a testinfra host."""

    def exists(self, command: str) -> bool: ...

    def run(self, command: str, *args: str) -> CommandResult: ...


Version = tuple[int, ...]


def parse_version(text: str) -> Version | None:
    """The first version-looking token (``v1.28.2``, ``15.5``) in ``text``, as numbers."""
    match = VERSION.search(text)
    return tuple(int(part) for part in match.group(1).split(".")) if match else None


def shown(version: Version) -> str:
    return ".".join(map(str, version))


@dataclass(frozen=True)
class Requirement:
    """``>=1.28`` (the default operator), ``>1.28`` or ``==1.28`` (any 1.28.x)."""

    op: str
    version: Version

    @classmethod
    def parse(cls, text: str) -> Requirement:
        match = REQUIREMENT.match(text)
        if not match:
            raise ValueError(f"{text!r} is not a version requirement like >=1.28")
        return cls(match.group(1) or ">=", tuple(int(p) for p in match.group(2).split(".")))

    def allows(self, found: Version) -> bool:
        """Compare numerically, missing trailing parts counting as zero."""
        if self.op == "==":
            return found[: len(self.version)] == self.version
        width = max(len(found), len(self.version))
        have, want = _padded(found, width), _padded(self.version, width)
        return have >= want if self.op == ">=" else have > want

    def __str__(self) -> str:
        return f"{self.op} {shown(self.version)}"


def _padded(version: Version, width: int) -> Version:
    return version + (0,) * (width - len(version))


@dataclass(frozen=True)
class ToolCheck:
    """What a tool check ran and saw, and what is wrong (``problem`` is None when it passes)."""

    command: str
    output: str
    problem: str | None


def check_tool(host: Host, where: str, tool: str, requirement: str) -> ToolCheck:
    """``tool`` is on PATH of ``host`` (named ``where``) and its version meets ``requirement``."""
    wanted = Requirement.parse(requirement)
    args = VERSION_ARGS.get(tool, DEFAULT_VERSION_ARGS)
    command, expected = f"{tool} {args}", f"expected {tool} {wanted}"
    try:
        output, version = _probe(host, where, tool, args)
    except ProbeFailed as exc:
        return ToolCheck(command, exc.output, f"{expected}; {exc}")
    except Exception as exc:  # testinfra backends raise their own errors for unreachable hosts
        return ToolCheck(
            command, "", f"{expected}; found: cannot run commands on {where}: {_one_line(exc)}"
        )
    problem = None if wanted.allows(version) else f"{expected}; found {shown(version)}"
    return ToolCheck(command, output, problem)


class ProbeFailed(Exception):
    """No version to compare: the message says what was found; the output is kept as evidence."""

    def __init__(self, found: str, output: str = "") -> None:
        super().__init__(found)
        self.output = output


def _probe(host: Host, where: str, tool: str, args: str) -> tuple[str, Version]:
    """The output of ``tool``'s version command on ``host`` and the version in it."""
    command = f"{tool} {args}"
    if not host.exists(tool):
        raise ProbeFailed(f"found: {tool} is not on PATH of {where}")
    result = host.run(
        f"if command -v timeout >/dev/null 2>&1; then timeout {RUN_TIMEOUT_S} %s {args};"
        f" else %s {args}; fi",
        tool,
        tool,
    )
    output = "\n".join(part.strip() for part in (result.stdout, result.stderr) if part.strip())
    if result.rc == TIMED_OUT:
        raise ProbeFailed(f"found: `{command}` did not finish within {RUN_TIMEOUT_S} s", output)
    if result.rc != 0:
        first = output.splitlines()[0][:EXCERPT_CHARS] if output else "no output"
        raise ProbeFailed(f"found: `{command}` exited with status {result.rc}: {first}", output)
    found = parse_version(result.stdout) or parse_version(result.stderr)
    if found is None:
        raise ProbeFailed(
            f"found no version in the output of `{command}`: {output[:EXCERPT_CHARS]!r}", output
        )
    return output, found


def _one_line(exc: Exception) -> str:
    """The reason of a backend error: the command's stderr when the error carries a result."""
    detail = exc.args[0] if exc.args else None
    text = (getattr(detail, "stderr", None) or str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__
