"""One streaming pass over a Prometheus text exposition: every line checked, every family's
``# TYPE``, help, label names and series names noted, and the text of the families some gates
name kept for prometheus_client's parser, which builds samples for those only.

Families are grouped as prometheus_client's text parser groups them: a ``# HELP`` or ``# TYPE``
line with a new name starts a family; a sample line outside its family's series is a family of
its own (untyped). A line this pass cannot vouch for goes to prometheus_client's parser whole, so
what is accepted and the error messages are that parser's."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
VALUE = r"[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|Inf|NaN)"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*(?:\\.[^"\\\n]*)*"'
"""A label and its value; the value's loop unrolled (runs of plain characters, an escape between
them), which the regular expression engine matches faster than a choice of one character at
a time."""
SAMPLE_LINE = re.compile(
    rf"({NAME})(?:\{{((?:{LABEL}(?:,{LABEL})*,?)?)\}})? {VALUE}(?: -?\d+)?"
)
"""A sample line in the form prometheus_client itself writes (a strict subset of what it reads)."""
LABEL_NAME = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="[^"\\\n]*(?:\\.[^"\\\n]*)*"')
COMMENT_LINE = re.compile(rf"#[ \t]+(HELP|TYPE)[ \t]+({NAME})(?:[ \t]+(.*))?")
SERIES = {"summary": ("_count", "_sum", ""), "histogram": ("_count", "_sum", "_bucket")}
"""The sample names each type allows after its ``# TYPE`` line (others: the family's name)."""
CHUNK_CHARS = 1 << 20
"""About how much text is split into lines at a time."""
EMPTY_SERIES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
}
"""The series a family declared without samples will have, as Prometheus stores them."""


class Unvouched(Exception):
    """A line only prometheus_client's parser can judge."""


@dataclass
class Family:
    """One family as the text groups it: its name, type, label names, series names, and where
    its lines are in the text."""

    name: str
    start: int
    kind: str = "untyped"
    typed: bool = False
    labels: set[str] = field(default_factory=set)
    samples: set[str] = field(default_factory=set)
    end: int = 0
    allowed: frozenset[str] = frozenset()
    """The sample names that belong to it: its name, and after ``# TYPE`` its type's series."""
    shape: list[str] | None = None
    """The text around the label values of its last sample line read: a line of the same shape
    has the same label names, so they are read again only when the shape changes."""

    def __post_init__(self) -> None:
        self.allowed = frozenset([self.name])

    def declare(self, kind: str) -> None:
        self.kind, self.typed = kind, True
        self.allowed = frozenset(self.name + s for s in SERIES.get(kind, ("",)))

    def series(self) -> set[str]:
        """Its series names as prometheus_client names them (counters get ``_total``)."""
        if not self.samples:
            return {self.parsed_name() + s for s in EMPTY_SERIES.get(self.kind, ("",))}
        if self.kind == "counter" and not self.name.endswith("_total"):
            return {s + "_total" for s in self.samples}
        return set(self.samples)

    def parsed_name(self) -> str:
        """The family's name after prometheus_client's parser: counters lose ``_total``."""
        return self.name.removesuffix("_total") if self.kind == "counter" else self.name


@dataclass
class Scan:
    """What one pass saw: ``# TYPE`` lines as written, names with help text, every family."""

    declared: dict[str, str] = field(default_factory=dict)
    helped: set[str] = field(default_factory=set)
    families: list[Family] = field(default_factory=list)

    def labels(self) -> dict[str, set[str]]:
        """Label names by family name (the name of its ``# TYPE``/``# HELP`` line or sample)."""
        found: dict[str, set[str]] = {}
        for family in self.families:
            found.setdefault(family.name, set()).update(family.labels)
        return found

    def untyped(self) -> list[str]:
        """Families without a ``# TYPE`` line, by name, in order."""
        return list(dict.fromkeys(
            f.name for f in self.families if not f.typed and f.name not in self.declared))

    def series_names(self) -> frozenset[str]:
        return frozenset(n for f in self.families for n in f.series())

    def text_of(self, text: str, wanted: Collection[str]) -> str:
        """The lines of the families ``wanted`` names (by family or series name), in order."""
        return "".join(
            text[f.start:f.end] for f in self.families
            if f.name in wanted or f.parsed_name() in wanted or not f.series().isdisjoint(wanted)
        )


def scan(text: str) -> Scan:
    """``text`` read once; Unvouched at the first line prometheus_client must judge. A sample
    outside the current family is a family of its own, and ends the current one (as for the
    parser)."""
    seen = Scan()
    family: Family | None = None
    offset = 0
    sample_line, label_name = SAMPLE_LINE.fullmatch, LABEL_NAME.findall
    for raw in _lines(text):
        start, offset = offset, offset + len(raw) + 1
        line = raw.strip()
        if not line:
            continue
        if line[0] == "#":
            family = owner = _comment(seen, family, line, start)
            if owner is not None:
                owner.end = offset
            continue
        match = sample_line(line)
        if match is None:
            raise Unvouched
        name, labels = match.groups()
        owner = family
        if owner is None or name not in owner.allowed:
            owner, family = Family(name, start), None
            seen.families.append(owner)
        owner.samples.add(name)
        if labels:
            # without escapes, no value holds a quote: the text between values is exact
            shape = None if "\\" in labels else labels.split('"')[0::2]
            if shape is None or shape != owner.shape:
                owner.shape = shape
                owner.labels.update(label_name(labels))
        owner.end = offset
    return seen


def _lines(text: str, chunk: int = CHUNK_CHARS) -> Iterator[str]:
    """The lines of ``text`` without their ``\\n``, split about ``chunk`` characters at a time
    (``str.split`` is several times faster than reading line by line, and a chunk at a time keeps
    the list of lines small)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start + chunk)
        end = len(text) if end < 0 else end + 1
        lines = text[start:end].split("\n")
        if text[end - 1] == "\n":
            lines.pop()  # the empty text after the chunk's last newline
        yield from lines
        start = end


def _comment(seen: Scan, family: Family | None, line: str, start: int) -> Family | None:
    """The family after a comment line (ignored unless ``# HELP`` or ``# TYPE``)."""
    parts = line.split(None, 2)
    if len(parts) < 2 or parts[1] not in ("HELP", "TYPE"):
        return family
    match = COMMENT_LINE.fullmatch(line)
    if match is None:
        raise Unvouched
    keyword, name, rest = match.groups()
    if family is None or family.name != name:
        family = Family(name, start)
        seen.families.append(family)
    if keyword == "HELP":
        if rest and rest.strip():
            seen.helped.add(name)
        return family
    if not rest or len(rest.split()) != 1:
        raise Unvouched
    family.declare(rest.strip())
    seen.declared[name] = family.kind
    return family
