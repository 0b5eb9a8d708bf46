"""The environment a target's env gates read: the runner's, or the target's own (its host's
shell, a service process's ``/proc/<pid>/environ``, a command's ``NAME=value`` lines, a Kubernetes
secret's keys). Values stay in memory: nothing here prints, logs or repeats them."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import shlex
import signal
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from deploy_gates.spec.sections import EnvSource
from deploy_gates.verify.logsource import fill

if TYPE_CHECKING:
    from testinfra.host import Host

MAX_OUTPUT_BYTES = 1024 * 1024
RUNNER = "the runner"
FIND_PROCESS = (
    'for d in /proc/[0-9]*; do [ "$(cat "$d/comm" 2>/dev/null)" = %s ] && echo "${d#/proc/}";'
    " done; true"
)
"""The pids of the processes of one name, from /proc alone (no ps or pgrep needed)."""
COMM_CHARS = 15
"""The kernel keeps the first 15 characters of a process's name."""


@dataclass(frozen=True)
class TargetEnvironment:
    """The variables of one environment, where they came from, or why they could not be read."""

    source: str
    values: Mapping[str, str] = field(default_factory=dict, repr=False)
    problem: str | None = None

    @property
    def runner(self) -> bool:
        return self.source == RUNNER


def runner_environment() -> TargetEnvironment:
    """The environment of the process running the gates."""
    return TargetEnvironment(RUNNER, os.environ)


def read_environment(
    source: EnvSource, host: Host | None, host_spec: str, cwd: Path, values: dict[str, str]
) -> TargetEnvironment:
    """The environment ``source`` names; ``host`` is the target's testinfra host, ``values``
    fill ``{target}`` in commands, which run on the runner from ``cwd``."""
    if source.runner:
        return runner_environment()
    if source.host:
        where = f"host {host_spec}"
        return TargetEnvironment(where, dict(host.environment()))
    if source.process is not None or source.pidfile is not None:
        return _process(source, host, host_spec)
    argv = [fill(part, values) for part in (source.command or source.secret)]
    label = f"{'secret command' if source.secret else 'command'} `{shlex.join(argv)}`"
    output, problem = _run(argv, source.timeout, cwd)
    if problem:
        return TargetEnvironment(label, problem=f"env source {label}: {problem}")
    parsed, problem = _secret(output) if source.secret else (_lines(output), None)
    return TargetEnvironment(label, parsed, f"env source {label}: {problem}" if problem else None)


def _process(source: EnvSource, host: Host, host_spec: str) -> TargetEnvironment:
    where = (f"process {source.process}" if source.process else f"pidfile {source.pidfile}")
    label = f"{where} on {host_spec}"

    def failed(problem: str) -> TargetEnvironment:
        return TargetEnvironment(label, problem=f"env source {label}: {problem}")

    if source.process is not None:
        found = host.run(FIND_PROCESS, source.process[:COMM_CHARS]).stdout.split()
        if not found:
            return failed("no process of that name")
        pid = str(min(int(p) for p in found))
    else:
        read = host.run("cat -- %s", source.pidfile)
        if read.rc != 0:
            return failed(f"cannot read the pidfile: {_reason(read.stderr)}")
        pid = read.stdout.strip()
        if not pid.isdigit():
            return failed("the pidfile holds no process id")
    environ = host.run("cat -- %s", f"/proc/{pid}/environ")
    if environ.rc != 0:
        reason = _reason(environ.stderr)
        if "No such file" in reason:
            return failed(f"no process {pid}")
        return failed(f"cannot read /proc/{pid}/environ: {reason}")
    entries = environ.stdout_bytes.decode(errors="replace").split("\0")
    return TargetEnvironment(f"{where} (pid {pid}) on {host_spec}", _pairs(entries))


def _run(argv: list[str], timeout_s: float, cwd: Path) -> tuple[bytes, str | None]:
    """``argv``'s standard output (at most MAX_OUTPUT_BYTES), or why it gave none. The command
    is killed, with everything it started, after ``timeout_s``."""
    try:
        process = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=True)
    except FileNotFoundError:
        return b"", f"{argv[0]} is not on PATH"
    except OSError as exc:
        return b"", f"cannot start: {exc.strerror}"
    stdout, stderr = bytearray(), bytearray()
    readers = [threading.Thread(target=_drain, args=(stream, sink), daemon=True)
               for stream, sink in ((process.stdout, stdout), (process.stderr, stderr))]
    for reader in readers:
        reader.start()
    try:
        status = process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return b"", f"did not finish within {timeout_s:g} s"
    finally:
        for reader in readers:
            reader.join(5)
    if status != 0:
        last = _reason(stderr.decode(errors="replace")) or "no message"
        return b"", f"exited with status {status}: {last}"
    if len(stdout) >= MAX_OUTPUT_BYTES:
        return b"", f"printed more than {MAX_OUTPUT_BYTES // 1024} KiB"
    return bytes(stdout), None


def _drain(stream: IO[bytes], sink: bytearray) -> None:
    """Keep the first MAX_OUTPUT_BYTES of ``stream``; read and drop the rest."""
    with stream:
        for chunk in iter(lambda: stream.read(65536), b""):
            room = MAX_OUTPUT_BYTES - len(sink)
            if room > 0:
                sink.extend(chunk[:room])


def _lines(output: bytes) -> dict[str, str]:
    """``NAME=value`` lines (or the NUL-separated entries ``env -0`` prints)."""
    text = output.decode(errors="replace")
    return _pairs(text.split("\0") if "\0" in text else text.splitlines())


def _pairs(entries: list[str]) -> dict[str, str]:
    found = {}
    for entry in entries:
        name, equals, value = entry.partition("=")
        if equals and name and name.replace("_", "a").isalnum() and not name[0].isdigit():
            found[name] = value
    return found


def _secret(output: bytes) -> tuple[dict[str, str], str | None]:
    """The keys of a Kubernetes secret (``kubectl get secret NAME -o json``), values decoded."""
    try:
        secret = json.loads(output)
    except ValueError:
        secret = None
    if not isinstance(secret, dict) or not isinstance(secret.get("data", {}), dict):
        return {}, "not a Kubernetes secret as JSON (kubectl get secret NAME -o json)"
    found = {k: str(v) for k, v in (secret.get("stringData") or {}).items()}
    for name, encoded in (secret.get("data") or {}).items():
        try:
            found[name] = base64.b64decode(str(encoded), validate=True).decode(errors="replace")
        except (binascii.Error, ValueError):
            return {}, f"key {name} of the secret is not base64"
    return found, None


def _reason(stderr: str) -> str:
    """The last non-blank line of a command's error output, without the command's name."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    return lines[-1].rsplit(": ", 1)[-1].strip() if lines else ""
