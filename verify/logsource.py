"""Service logs for the log gates: the last lines of a command's output or of a file, bounded in
size and time."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

BLOCK_BYTES = 64 * 1024
EXCERPT_CHARS = 200


@dataclass(frozen=True)
class LogRead:
    """The lines read from ``source``, or the one-line reason there are none to judge."""

    source: str
    lines: tuple[str, ...] = ()
    problem: str | None = None


def fill(template: str, values: dict[str, str]) -> str:
    """``template`` with each ``{name}`` of ``values`` replaced; other braces stay as they are."""
    for name, value in values.items():
        template = template.replace(f"{{{name}}}", value)
    return template


def read_command(argv: list[str], tail_lines: int, timeout_s: float, cwd: Path) -> LogRead:
    """The last ``tail_lines`` lines of what ``argv`` prints (stdout and stderr, in order).

    The command is killed, with everything it started, when it runs longer than ``timeout_s``.
    """
    source = f"command `{shlex.join(argv)}`"
    try:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except FileNotFoundError:
        return LogRead(source, problem=f"logs {source}: {argv[0]} is not on PATH")
    except OSError as exc:
        return LogRead(source, problem=f"logs {source}: cannot start: {exc.strerror}")
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    timer = threading.Timer(timeout_s, kill)
    timer.start()
    try:
        tail = deque(process.stdout, maxlen=tail_lines)
        status = process.wait()
    finally:
        timer.cancel()
        process.stdout.close()
    lines = tuple(_decode(raw) for raw in tail)
    if timed_out.is_set():
        return LogRead(source, lines, f"logs {source}: did not finish within {timeout_s:g} s")
    if status != 0:
        last = next((line for line in reversed(lines) if line.strip()), "no output")
        return LogRead(
            source, lines, f"logs {source}: exited with status {status}: {last[:EXCERPT_CHARS]}"
        )
    return LogRead(source, lines)


def read_file(path: Path, tail_lines: int) -> LogRead:
    """The last ``tail_lines`` lines of the file at ``path``, read backwards from its end."""
    source = f"file {path}"
    try:
        with path.open("rb") as log:
            data = _tail_bytes(log, tail_lines)
    except FileNotFoundError:
        return LogRead(source, problem=f"logs {source}: it does not exist")
    except OSError as exc:
        return LogRead(source, problem=f"logs {source}: cannot read it: {exc.strerror}")
    lines = data.splitlines()[-tail_lines:]
    return LogRead(source, tuple(_decode(raw) for raw in lines))


def _tail_bytes(log: BinaryIO, tail_lines: int) -> bytes:
    """The end of ``log`` holding at least ``tail_lines`` whole lines (or the whole file)."""
    end = log.seek(0, os.SEEK_END)
    chunks: list[bytes] = []
    newlines, position = 0, end
    while position > 0 and newlines <= tail_lines:
        step = min(BLOCK_BYTES, position)
        position -= step
        log.seek(position)
        chunk = log.read(step)
        chunks.append(chunk)
        newlines += chunk.count(b"\n")
    data = b"".join(reversed(chunks))
    if position > 0:
        data = data[data.index(b"\n") + 1 :]  # drop the partial first line
    return data


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\r\n")
