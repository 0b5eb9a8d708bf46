"""The HTML report's own parts, built from a run's summary: the decision first (verdict banner,
runbook steps, the rehearsal as a timeline, schema differences), then each gate's evidence.

pytest-html writes the page around them (its hooks take these parts); a merge of several runs
writes :func:`page`, the same parts with a plain table of the gates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from html import escape
from pathlib import Path
from typing import Any

from deploy_gates.verdict import GateRecord, tally

STYLE = Path(__file__).parent / "resources" / "report.css"
BANNER_FAILURES = 10
"""How many failed (or inconclusive) blocker gates the banner lists; it counts the rest."""
WORST_FIRST = ("error", "failed", "inconclusive", "waived", "skipped", "passed")
"""Outcomes from the one that weighs most to the one that weighs least."""
SHARED = "shared"
"""The kind of an evidence entry many gates record alike (the SQL of one catalog snapshot): the
reports hold its text once (the summary's ``shared_evidence``, a section of the HTML report) and
each gate's entry names it by its ``data.ref``."""
STEP_KINDS = ("step", "table")
"""Evidence kinds the rehearsal timeline shows under its rows."""
COLLAPSE_ENVIRONMENT = (
    "<script>document.getElementById('environment').classList.add('hidden');"
    "document.getElementById('environment-header').classList.add('collapsed');</script>"
)
"""pytest-html's environment table, collapsed until clicked (its header toggles it)."""


def seconds(duration: float) -> str:
    """The one duration format of every report: ``0.004 s``, ``87.312 s``."""
    return f"{duration:.3f} s"


def outcome_rank(outcome: str) -> int:
    """0 for the outcome that weighs most (error), up to 5 (passed)."""
    return WORST_FIRST.index(outcome) if outcome in WORST_FIRST else len(WORST_FIRST)


def _outcome(outcome: str) -> str:
    css = escape(outcome.replace(" ", "-"))
    return f'<span class="outcome outcome-{css}">{escape(outcome)}</span>'


def _table(css: str, headers: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """A table whose cells are HTML already."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><tr>{head}</tr>{body}</table>'


def banner(summary: dict[str, Any], records: list[GateRecord]) -> str:
    """The verdict, who ran what where and when, and the blocker gates that decided it."""
    verdict, meta = summary["verdict"], summary["metadata"]
    facts = [
        ("system", meta["system"]), ("release", meta["release"]),
        ("target" if len(meta["targets"]) == 1 else "targets", ", ".join(meta["targets"])),
        ("operator", meta["operator"]),
        ("finished", meta.get("finished", "")[:19].replace("T", " ") + " UTC"),
    ]
    facts.append(("gates", tally(records)))
    several = len(meta["targets"]) > 1
    deciding = [r for r in records if r.severity == "blocker" and r.outcome in
                (("failed", "error") if verdict == "NO-GO" else ("inconclusive",))]
    items = [
        f"<li><code>{escape(r.name)}</code>{_where(r, several)}: {escape(r.message)}</li>"
        for r in deciding[:BANNER_FAILURES]
    ]
    if len(deciding) > BANNER_FAILURES:
        items.append(f"<li>and {len(deciding) - BANNER_FAILURES} more, in the gates table</li>")
    failures = f'<ul class="deciding">{"".join(items)}</ul>' if items else ""
    targets = "".join(
        f'<span class="target-verdict verdict-{row["verdict"].lower()}">'
        f"{escape(row['target'])}: {row['verdict']}</span>"
        for row in summary["targets"]
    )
    return (
        f'<div class="verdict-banner verdict-{verdict.lower()}">'
        f'<div class="verdict-word">{verdict}</div>'
        f'<div class="verdict-reason">{escape(summary["verdict_reason"])}</div>'
        + (f'<div class="target-verdicts">{targets}</div>' if targets else "")
        + '<dl class="verdict-facts">'
        + "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in facts)
        + f"</dl>{failures}</div>"
    )


def _where(record: GateRecord, several: bool) -> str:
    parts = [f"step {record.step}"] if record.step else []
    parts += [record.target] if record.target and several else []
    return f' <span class="where">({escape(", ".join(parts))})</span>' if parts else ""


def steps_table(summary: dict[str, Any]) -> str:
    """Each runbook step, its gates and their combined result."""
    rows = [
        (escape(r["step"]), escape(r["title"]), str(r["gates"]), _outcome(r["result"]))
        for r in summary["runbook_steps"]
    ]
    return "<h2>Runbook steps</h2>" + _table("steps", ("step", "title", "gates", "result"), rows)


def timeline(records: list[GateRecord]) -> str:
    """The rehearsal in the order it ran: each step (the parametrized ones folded into one row),
    the rows its gates recorded as ``step`` evidence (each migration) and their tables."""
    groups: dict[tuple[str, str], list[GateRecord]] = {}
    for record in records:
        if record.rehearsal:
            groups.setdefault((record.target, record.name.split("[", 1)[0]), []).append(record)
    if not groups:
        return ""
    several = len({target for target, _ in groups}) > 1
    rows = []
    for (target, name), members in groups.items():
        worst = min(members, key=lambda r: outcome_rank(r.outcome))
        label = name.removeprefix("test_").replace("_", " ")
        if len(members) > 1:
            label += f" ({len(members)} gates)"
        message = worst.message
        if len(members) > 1 and worst.outcome != "passed":
            broken = sum(r.outcome == worst.outcome for r in members)
            message = f"{broken} {worst.outcome}: {worst.message}"
        rows.append(
            '<tr class="timeline-step">'
            + (f"<td>{escape(target)}</td>" if several else "")
            + f"<td>{escape(label)}</td><td>{_outcome(worst.outcome)}</td>"
            f'<td class="num">{seconds(sum(r.duration for r in members))}</td>'
            f"<td>{escape(message)}</td></tr>"
        )
        span = 5 if several else 4
        for record in members:
            for entry in record.evidence:
                if entry.get("kind") == "step":
                    data = entry["data"]
                    rows.append(
                        '<tr class="timeline-detail">' + ("<td></td>" if several else "")
                        + f'<td class="indent">{escape(entry["title"])}</td>'
                        f"<td>{_outcome(data['result'])}</td>"
                        f'<td class="num">{seconds(data["duration"])}</td>'
                        f"<td>{escape(entry['text'])}</td></tr>"
                    )
                elif entry.get("kind") == "table":
                    rows.append(f'<tr class="timeline-table"><td colspan="{span}">'
                                f"{data_table(entry)}</td></tr>")
    head = (["target"] if several else []) + ["step", "result", "duration", "detail"]
    return ("<h2>Rehearsal</h2>" + '<table class="timeline"><tr>'
            + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(rows) + "</table>")


def data_table(entry: dict[str, Any]) -> str:
    """A ``table`` evidence entry: its title over its columns and rows."""
    data = entry["data"]
    rows = [[escape(str(cell)) for cell in row] for row in data["rows"]]
    return (f'<div class="evidence-table"><b>{escape(entry["title"])}</b>'
            + _table("data", data["columns"], rows) + "</div>")


def schema_diff(entry: dict[str, Any]) -> str:
    """A ``schema_diff`` evidence entry: each object left behind, missing or changed, with its
    definition on either side."""
    data = entry["data"]
    rows = [
        (escape(c["change"]), f"<code>{escape(c['object'])}</code>",
         f"<pre>{escape(c['before'])}</pre>", f"<pre>{escape(c['after'])}</pre>")
        for c in data["changes"]
    ]
    return _table("schema-diff", ("change", "object", data["left"], data["right"]), rows)


def differences(records: list[GateRecord]) -> str:
    """Every schema comparison that found differences, under the gate that made it."""
    several = len({r.target for r in records if r.target}) > 1
    parts = [
        f"<h3><code>{escape(r.name)}</code>{_where(r, several)}: {escape(e['title'])}</h3>"
        + schema_diff(e)
        for r in records
        for e in r.evidence
        if e.get("kind") == "schema_diff" and e["data"]["changes"]
    ]
    return "<h2>Schema differences</h2>" + "".join(parts) if parts else ""


def shared_evidence(summary: dict[str, Any], records: list[GateRecord]) -> str:
    """Each text many gates recorded alike (the SQL of a catalog snapshot), once, with how many
    gates refer to it; each gate's row links here."""
    shared = summary.get("shared_evidence", {})
    if not shared:
        return ""
    uses = dict.fromkeys(shared, 0)
    for record in records:
        for entry in record.evidence:
            if entry.get("kind") == SHARED and entry["data"]["ref"] in uses:
                uses[entry["data"]["ref"]] += 1
    parts = [
        f'<div class="evidence shared-evidence" id="{escape(ref)}"><b>{escape(e["title"])}</b>'
        f' <span class="where">({uses[ref]} gates)</span><pre>{escape(e["text"])}</pre></div>'
        for ref, e in shared.items()
    ]
    return "<h2>Evidence the gates share</h2>" + "".join(parts)


def decision(summary: dict[str, Any], records: list[GateRecord]) -> str:
    """Everything the report shows above the table of gates, in the order an approver reads."""
    return (
        '<div class="deploy-gates">'
        + banner(summary, records)
        + steps_table(summary)
        + timeline(records)
        + differences(records)
        + shared_evidence(summary, records)
        + "<h2>Gates</h2></div>"
    )


def row_evidence(record_rehearsal: bool, entries: list[dict[str, Any]],
                 waiver: str | None) -> list[str]:
    """What a gate's expandable row shows: its waiver and evidence, except what the sections
    above show already (the rehearsal's steps and tables, schema differences)."""
    shown = [f'<div class="gate">{escape(waiver)}</div>'] if waiver else []
    above = set()
    for entry in entries:
        kind = entry.get("kind", "text")
        if kind == "schema_diff":
            above.add("Schema differences")
            continue
        if kind in STEP_KINDS and record_rehearsal:
            above.add("Rehearsal")
            continue
        if kind == "table":
            shown.append(f'<div class="evidence">{data_table(entry)}</div>')
        elif kind == SHARED:
            ref = escape(entry["data"]["ref"])
            shown.append(f'<div class="evidence"><b>{escape(entry["title"])}</b> '
                         f'<a href="#{ref}">shown once above, under Evidence the gates share'
                         "</a></div>")
        else:
            shown.append(f'<div class="evidence"><b>{escape(entry["title"])}</b>'
                         f"<pre>{escape(entry['text'])}</pre></div>")
    if above:
        shown.append(f'<div class="gate">evidence shown above: {", ".join(sorted(above))}</div>')
    return shown


def page(summary: dict[str, Any], records: list[GateRecord]) -> str:
    """A whole self-contained page for a summary that no pytest run wrote (a merge): the decision,
    the gates grouped by target and step with failures first, and the run's details."""
    steps = [row["step"] for row in summary["runbook_steps"]]
    ordered = sorted(records, key=sort_key(summary["metadata"]["targets"], steps))
    rows = [
        (_outcome(r.outcome), escape(r.target), f"<code>{escape(r.id)}</code>",
         escape(r.step or ""), escape(r.severity), escape(r.waiver or r.message),
         f'<span class="num">{seconds(r.duration)}</span>')
        for r in ordered
    ]
    meta = summary["metadata"]
    details = [(escape(k), escape(", ".join(v) if isinstance(v, list) else str(v)))
               for k, v in meta.items()]
    title = (f"deploy-gates: {meta['system']} {meta['release']} on "
             f"{', '.join(meta['targets'])}")
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"/>'
        f"<title>{escape(title)}</title><style>{STYLE.read_text()}</style></head>"
        f'<body class="merged"><h1 id="title">{escape(title)}</h1>'
        + decision(summary, records)
        + _table("gates", ("result", "target", "gate", "step", "severity", "message", "duration"),
                 rows)
        + "<details><summary><h2>Environment</h2></summary>"
        + _table("environment", ("", ""), details) + "</details>"
        + f"<p>Merged from {len(summary['merged_from'])} run(s).</p>"
        + "</body></html>\n"
    )


def sort_key(targets: list[str], steps: list[str]) -> Callable[[GateRecord], tuple[int, ...]]:
    """How the table orders gates: by target (in a run of several, in the run's order; gates
    that use none first), failed ones first, then by runbook step (in the runbook's order) and
    outcome (the one that weighs most first)."""

    def key(record: GateRecord) -> tuple[int, ...]:
        several = len(targets) > 1
        target = targets.index(record.target) + 1 if several and record.target in targets else 0
        broken = 0 if record.outcome in ("failed", "error") else 1
        step = steps.index(record.step) if record.step in steps else len(steps)
        return target, broken, step, outcome_rank(record.outcome)

    return key

