"""Texts cut to a size for gate messages and evidence, saying how much was cut."""

from __future__ import annotations

MESSAGE_CHARS = 2000
"""The longest gate message, in the reports and on the terminal."""
EVIDENCE_CHARS = 64 * 1024
"""The longest evidence entry."""


def clip(text: str, limit: int, *, length: int | None = None) -> str:
    """The first ``limit`` characters of ``text``, saying how many more there were; ``length``
    is the length of the whole text when ``text`` is already a prefix of it."""
    length = len(text) if length is None else length
    if length <= limit:
        return text
    return f"{text[:limit]}... [{length - limit:,} more characters]"
