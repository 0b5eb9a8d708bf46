"""Service logs for the log gates: the last lines of a command's output or of a file, bounded in
lines, bytes and time; each line cut to ``LINE_BYTES``."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import stat
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from deploy_gates.spec.yamlsource import FILE_TYPES
from deploy_gates.verify.limits import LINE_BYTES, LOG_MAX_BYTES, size

BLOCK_BYTES = 64 * 1024
EXCERPT_CHARS = 200


@dataclass(frozen=True)
class LogRead:
    """The lines read from ``source``, or the one-line reason there are none to judge."""

    source: str
    lines: tuple[str, ...] = ()
    problem: str | None = None
    note: str | None = None
    """What the bounds left out: ``the last 16 MiB (logs.max_bytes); 2 lines cut to 64 KiB``."""


def fill(template: str, values: dict[str, str]) -> str:
    """``template`` with each ``{name}`` of ``values`` replaced; other braces stay as they are."""
    for name, value in values.items():
        template = template.replace(f"{{{name}}}", value)
    return template


def read_command(argv: list[str], tail_lines: int, timeout_s: float, cwd: Path,
                 max_bytes: int = LOG_MAX_BYTES) -> LogRead:
    """The last ``tail_lines`` lines (at most ``max_bytes``) of what ``argv`` prints (stdout and
    stderr, in order).

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
        tail, short = _last_lines(process.stdout, tail_lines, max_bytes)
        status = process.wait()
    finally:
        timer.cancel()
        process.stdout.close()
    lines = tuple(_decode(raw) for raw, _ in tail)
    note = _note(short, sum(cut for _, cut in tail), max_bytes)
    if timed_out.is_set():
        return LogRead(source, lines, f"logs {source}: did not finish within {timeout_s:g} s")
    if status != 0:
        last = next((line for line in reversed(lines) if line.strip()), "no output")
        return LogRead(
            source, lines, f"logs {source}: exited with status {status}: {last[:EXCERPT_CHARS]}",
            note,
        )
    return LogRead(source, lines, note=note)


def _last_lines(stream: BinaryIO, tail_lines: int, max_bytes: int
                ) -> tuple[deque[tuple[bytes, bool]], bool]:
    """The last ``tail_lines`` lines of ``stream`` within ``max_bytes``, each cut to
    ``LINE_BYTES`` (with whether it was), and whether ``max_bytes`` left lines out."""
    tail: deque[tuple[bytes, bool]] = deque()
    kept, short = 0, False
    while raw := stream.readline(LINE_BYTES + 1):
        cut = len(raw) > LINE_BYTES and not raw.endswith(b"\n")
        if cut:  # keep the start of a longer line, skip the rest of it
            raw = raw[:LINE_BYTES]
            while (rest := stream.readline(BLOCK_BYTES)) and not rest.endswith(b"\n"):
                pass
        tail.append((raw, cut))
        kept += len(raw)
        if len(tail) > tail_lines:
            kept -= len(tail.popleft()[0])
        while kept > max_bytes:
            kept -= len(tail.popleft()[0])
            short = True
    return tail, short


def read_file(path: Path, tail_lines: int, max_bytes: int = LOG_MAX_BYTES) -> LogRead:
    """The last ``tail_lines`` lines of the file at ``path`` within its last ``max_bytes``, read
    backwards from its end, each cut to ``LINE_BYTES``."""
    source = f"file {path}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as log:
            kind = stat.S_IFMT(os.fstat(fd).st_mode)
            if kind != stat.S_IFREG:  # a FIFO would block, a device never end
                what = FILE_TYPES.get(kind, "not a file")
                return LogRead(source, problem=f"logs {source}: cannot read it: not a regular "
                                               f"file ({what})")
            data, short = _tail_bytes(log, tail_lines, max_bytes)
    except FileNotFoundError:
        return LogRead(source, problem=f"logs {source}: it does not exist")
    except OSError as exc:
        return LogRead(source, problem=f"logs {source}: cannot read it: {exc.strerror}")
    lines = data.splitlines()[-tail_lines:]
    cut = sum(len(raw) > LINE_BYTES for raw in lines)
    return LogRead(source, tuple(_decode(raw[:LINE_BYTES]) for raw in lines),
                   note=_note(short, cut, max_bytes))


def _tail_bytes(log: BinaryIO, tail_lines: int, max_bytes: int) -> tuple[bytes, bool]:
    """The end of ``log`` holding at least ``tail_lines`` whole lines (or the whole file), but
    no more than its last ``max_bytes``; and whether ``max_bytes`` stopped the read short."""
    end = log.seek(0, os.SEEK_END)
    floor = max(0, end - max_bytes)
    chunks: list[bytes] = []
    newlines, position = 0, end
    while position > floor and newlines <= tail_lines:
        step = min(BLOCK_BYTES, position - floor)
        position -= step
        log.seek(position)
        chunk = log.read(step)
        chunks.append(chunk)
        newlines += chunk.count(b"\n")
    data = b"".join(reversed(chunks))
    first = data.find(b"\n")
    if position > 0 and 0 <= first < len(data) - 1:
        data = data[first + 1 :]  # drop the partial first line, unless it is the only one
    return data, position > 0 and newlines <= tail_lines


def _note(short: bool, cut: int, max_bytes: int) -> str | None:
    """What the bounds left out, or None."""
    parts = [f"the last {size(max_bytes)} (logs.max_bytes)"] if short else []
    if cut:
        parts.append(f"{cut} line{'s' if cut > 1 else ''} cut to {size(LINE_BYTES)}")
    return "; ".join(parts) or None


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\r\n")
