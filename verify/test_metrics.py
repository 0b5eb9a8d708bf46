"""Metric gates: every metric the spec names is in the service's /metrics (scraped once per run)
with its type, bounds and labels; optionally, the exposition passes promtool's lint rules."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from deploy_gates.fixtures.targets import known_runbook
from deploy_gates.reports.evidence import GateEvidence
from deploy_gates.spec.sections import MetricSpec
from deploy_gates.verify.exposition import SPEC_TYPES, Exposition, lint
from deploy_gates.verify.outcome import fail_gate, require

if TYPE_CHECKING:
    from prometheus_client.samples import Sample

pytestmark = pytest.mark.postdeploy

EVIDENCE_SAMPLES = 20


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    metrics = known_runbook(metafunc.config).metrics
    if "metric" in metafunc.fixturenames:
        present = metrics.present if metrics else {}
        metafunc.parametrize("metric", list(present.items()), ids=list(present))
    if "lint_path" in metafunc.fixturenames:
        metafunc.parametrize("lint_path", [metrics.path] if metrics and metrics.lint else [])


def test_metric(
    metric: tuple[str, MetricSpec | None], exposition: Exposition, evidence: GateEvidence
) -> None:
    name, spec = metric
    spec = spec or MetricSpec()
    family = exposition.family(name)
    if family is None:
        near = exposition.close_matches(name)
        fail_gate(f"expected metric {name} in {exposition.url}; found: not exposed"
                  + (f" (similar: {', '.join(near)})" if near else ""))
    samples = [s for s in family.samples if not s.name.endswith("_created")]
    evidence.add(f"{family.name} ({family.type}) in {exposition.url}", "\n".join(
        [f"{s.name}{_labels(s.labels)} {s.value:g}" for s in samples[:EVIDENCE_SAMPLES]]
        + ([f"... {len(samples) - EVIDENCE_SAMPLES} more"] if len(samples) > EVIDENCE_SAMPLES
           else [])
    ) or "declared, no samples yet")
    wanted_type = SPEC_TYPES.get(spec.type or "", spec.type)
    require(wanted_type and family.type != wanted_type
            and f"expected {name} to be a {spec.type}; found {family.type}")
    if not (spec.labels or spec.min is not None or spec.max is not None):
        return
    require(not samples and f"expected samples of {name}; found none (declared, never observed)")
    require(_label_problem(name, spec, samples) or _bound_problem(name, spec, exposition))


def test_metrics_lint(lint_path: str, exposition: Exposition, evidence: GateEvidence) -> None:
    problems = lint(exposition)
    evidence.add(f"lint of {exposition.url}", "\n".join(problems) or "no problems")
    require(problems and f"expected an exposition that passes promtool check metrics; found "
            f"{len(problems)} problem(s): " + "; ".join(problems[:5])
            + (" ..." if len(problems) > 5 else ""))


def _label_problem(name: str, spec: MetricSpec, samples: list[Sample]) -> str | None:
    lacking = [s for s in samples if not set(spec.labels) <= s.labels.keys()]
    if not lacking:
        return None
    missing = sorted({label for s in lacking for label in spec.labels if label not in s.labels})
    return (f"expected labels {', '.join(spec.labels)} on every {name} series; found "
            f"{len(lacking)} of {len(samples)} without {', '.join(missing)}, e.g. "
            f"{lacking[0].name}{_labels(lacking[0].labels)}")


def _bound_problem(name: str, spec: MetricSpec, exposition: Exposition) -> str | None:
    if spec.min is None and spec.max is None:
        return None
    values = exposition.samples(name)
    if not values:
        return (f"expected a value of {name} to compare with min/max; found a "
                f"{exposition.family(name).type}: name one of its series ("
                + ", ".join(sorted({s.name for s in exposition.family(name).samples})) + ")")
    out = [s for s in values if (spec.min is not None and s.value < spec.min)
           or (spec.max is not None and s.value > spec.max)]
    if not out:
        return None
    bounds = " and ".join(b for b in (spec.min is not None and f">= {spec.min:g}",
                                      spec.max is not None and f"<= {spec.max:g}") if b)
    shown = "; ".join(f"{s.name}{_labels(s.labels)} {s.value:g}" for s in out[:3])
    return f"expected {name} {bounds}; found {shown}" + (" ..." if len(out) > 3 else "")


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""
