"""JUnit XML from gate records, for report sets no pytest run wrote (a merge of runs); shaped like
pytest's own (``xunit2``): one testsuite, a testcase per gate with its properties, and the one-line
gate message as the ``message`` attribute CI systems show."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from deploy_gates.verdict import GateRecord


def test_address(gate_id: str) -> tuple[str, str]:
    """pytest's ``classname`` and ``name`` of a node id: ``verify.test_schema``, ``test_x[a]``."""
    path, _, rest = gate_id.partition("::")
    parts = [path.removesuffix(".py").replace("/", "."), *rest.split("::")]
    return ".".join(parts[:-1]), parts[-1]


def junit_xml(summary: dict[str, Any], records: list[GateRecord]) -> bytes:
    """The JUnit XML of ``records``; the summary's metadata become the suite's properties."""
    counts = {
        "errors": sum(r.outcome == "error" for r in records),
        "failures": sum(r.outcome == "failed" for r in records),
        "skipped": sum(r.outcome in ("skipped", "inconclusive", "waived") for r in records),
        "tests": len(records),
    }
    root = ET.Element("testsuites", name="deploy-gates")
    suite = ET.SubElement(
        root, "testsuite", name="deploy-gates", **{k: str(v) for k, v in counts.items()},
        time=f"{sum(r.duration for r in records):.3f}",
        timestamp=summary["metadata"].get("started", ""),
    )
    properties = ET.SubElement(suite, "properties")
    for key, value in summary["metadata"].items():
        shown = ", ".join(value) if isinstance(value, list) else str(value)
        ET.SubElement(properties, "property", name=key, value=shown)
    several = len(summary["metadata"]["targets"]) > 1
    for record in records:
        classname, name = test_address(record.id)
        case = ET.SubElement(suite, "testcase", classname=classname, name=name,
                             time=f"{record.duration:.3f}")
        props = ET.SubElement(case, "properties")
        shown = [("severity", record.severity), ("runbook_step", record.step),
                 ("target", record.target if several else None)]
        for key, value in shown:
            if value:
                ET.SubElement(props, "property", name=key, value=value)
        element = {"failed": "failure", "error": "error", "skipped": "skipped",
                   "inconclusive": "skipped", "waived": "skipped"}.get(record.outcome)
        if element:
            message = record.waiver if record.outcome == "waived" else record.message
            kind = {"waived": "pytest.xfail", "failed": None, "error": None}.get(
                record.outcome, "pytest.skip")
            node = ET.SubElement(case, element, message=message or "",
                                 **({"type": kind} if kind else {}))
            node.text = message
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
