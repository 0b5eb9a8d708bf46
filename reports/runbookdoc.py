"""The numbered steps of a runbook document (Markdown or plain text), as the document numbers them.

A step is a numbered heading (``## 4. Staging Deployment``, ``### Step 1: Take a backup``,
``#### Phase 2: Database Migration``, ``**Option 1: Helm Rollback**``, an underlined
``III. Post-deployment verification``), a numbered line (``[ ] 1. Database Backup``,
``Step 1.1: Final Database Backup``, ``1) If migration fails mid-run:`` below a numbered
heading), or a numbered command in a code block (``# 1. Backup current database``,
``# Test 2: User registration``, ``Step 3: Rollback Database``).

A step's number is the path of the numbered headings above it and its own (``II.1`` for
``Step 1`` under ``II.``; ``1.1`` stays ``1.1`` under ``Phase 1``). Where the same number occurs
under two unnumbered headings (a checklist's ``1.`` and a rollback's ``Step 1``), every step under
such a heading is named by it: ``ROLLBACK PROCEDURE 1``. A heading's parenthesis is left out of
that name; the step's title is the document's text after its number.

Not steps: plain ``1. ...`` list items (a table of contents, a procedure's prose), ``1)`` items
under no numbered heading (rules), numbered comments in a code block under no step, and
headings whose leading number is a quantity (``24 Hours Before``, ``30-Minute Mark``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

NUMBER = r"(?P<number>\d+(?:\.\d+)*|[IVX]+(?=\.))"
WORD = r"(?:Step|Phase|Option|Test)"
DASH = "[\u2014\u2013-]"  # em dash, en dash, hyphen
TITLE = rf"[.:)]?\s*(?:{DASH}\s+)?(?P<title>\S.*?)"
HEADING = re.compile(  # a number after Step/Phase/..., a dotted one, or one with a separator
    rf"^(?:{WORD}\s+{NUMBER}|(?P<n2>\d+(?:\.\d+)+)(?=\s)|(?P<n3>\d+|[IVX]+)(?=[.:)](?!\d)))"
    rf"{TITLE}$")
CHECKLIST = re.compile(rf"^\s*\[ \]\s+{NUMBER}\.\s+(?P<title>\S.*?)$")
STEP_LINE = re.compile(rf"^\s*Step\s+{NUMBER}{TITLE}$")
PAREN_ITEM = re.compile(r"^(?P<number>\d+)\)\s+(?P<title>\S.*?)$")
COMMAND = re.compile(rf"^\s*(?:#\s+)?(?:(?:Step|Test)\s+{NUMBER}:"
                     rf"|#\s*{NUMBER.replace('number', 'n2')}\.)\s+(?P<title>\S.*?)$")
MARKDOWN_HEADING = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<text>.+?)\s*#*$")
BOLD_LINE = re.compile(  # a whole line in bold that ends in a colon, or is numbered
    rf"^\*\*(?P<text>[^*]+?(?:\*\*:|:\*\*))$|^\*\*(?P<numbered>(?:{WORD}\s+)?\d[^*]*)\*\*$")
UNDERLINE = re.compile(r"^(?:-{3,}|\^{3,}|={3,})$")
FENCE = re.compile(r"^\s*(?:```|~~~)")
BOLD_LEVEL = 7  # a whole line in bold heads what follows, below every heading


@dataclass(frozen=True)
class Step:
    """One numbered step: its number as the document gives it, and its title."""

    number: str
    title: str
    parent: str | None = None  # the number of the step it is part of


@dataclass
class _Found:
    path: str
    title: str
    context: str  # the nearest unnumbered heading above it
    under: _Found | None


@dataclass
class _Heading:
    level: int
    text: str
    step: _Found | None  # the step a numbered heading is


def steps(path: Path) -> list[Step]:
    """The numbered steps of the runbook document at ``path``, in document order; ValueError
    naming the file when two steps end up with one number."""
    found = named(_scan(path.read_text(encoding="utf-8").splitlines()))
    twice = sorted(n for n, c in Counter(s.number for s in found).items() if c > 1)
    if twice:
        raise ValueError(f"{path}: step {twice[0]} is numbered twice under one heading")
    return found


def named(found: list[_Found]) -> list[Step]:
    """Numbers made unique: the steps under a heading whose numbers recur elsewhere carry it."""
    counts = Counter(f.path for f in found)
    shared = {f.context for f in found if counts[f.path] > 1}
    names = {id(f): f"{f.context} {f.path}" if f.context and f.context in shared else f.path
             for f in found}
    return [Step(names[id(f)], f.title, f.under and names[id(f.under)]) for f in found]


def _scan(lines: list[str]) -> list[_Found]:
    stack: list[_Heading] = []
    found: list[_Found] = []
    fenced = False
    parent: _Found | None = None  # the last step outside a code block: its commands' parent

    def push(level: int, text: str) -> None:
        nonlocal parent
        while stack and stack[-1].level >= level:
            stack.pop()
        match = HEADING.match(text)
        step = None
        if match:
            number = match["number"] or match["n2"] or match["n3"]
            parent = step = add(number, match["title"], _innermost(stack))
        elif level < BOLD_LEVEL:
            parent = None
        stack.append(_Heading(level, text, step))

    def add(number: str, title: str, under: _Found | None) -> _Found:
        base = under.path if under else ""
        path = number if not base or number.startswith(base + ".") else f"{base}.{number}"
        item = _Found(path, _clean(title), _context(stack), under)
        found.append(item)
        return item

    for index, line in enumerate(lines):
        text = line.strip()
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:  # a checklist or Step line counts anywhere, a numbered comment under a step
            match = CHECKLIST.match(line) or STEP_LINE.match(line)
            if match:
                add(match["number"], match["title"], parent or _innermost(stack))
                continue
            match = COMMAND.match(line)
            if match and parent is not None:
                add(match["number"] or match["n2"], match["title"], parent)
            continue
        heading = MARKDOWN_HEADING.match(text)
        if heading:
            push(len(heading["hashes"]), heading["text"])
            continue
        bold = BOLD_LINE.match(text)
        if bold:
            push(BOLD_LEVEL, (bold["text"] or bold["numbered"]).replace("**", ""))
            continue
        following = lines[index + 1].strip() if index + 1 < len(lines) else ""
        if text and UNDERLINE.match(following) and not UNDERLINE.match(text):
            push(1 if following[0] in "=-" else 2, text)
            continue
        for pattern in (CHECKLIST, STEP_LINE):
            match = pattern.match(line)
            if match:
                parent = add(match["number"], match["title"], _innermost(stack))
                break
        else:
            match = PAREN_ITEM.match(text)
            if match and _innermost(stack):
                add(match["number"], match["title"], _innermost(stack))
    return found


def _innermost(stack: list[_Heading]) -> _Found | None:
    """The step of the innermost numbered heading."""
    return next((h.step for h in reversed(stack) if h.step is not None), None)


def _context(stack: list[_Heading]) -> str:
    """The nearest unnumbered heading above the current line, without its parenthesis."""
    for heading in reversed(stack):
        if heading.step is None:
            text = re.sub(r"\s*\(.*?\)", "", heading.text).strip(" :*")
            return re.sub(r"^[^A-Za-z0-9]+", "", text).strip()  # emoji, also misdecoded
    return ""


def _clean(title: str) -> str:
    """A title as the document writes it, without emphasis or a trailing colon."""
    return re.sub(r"\*\*|`", "", title).strip().rstrip(":").strip()
