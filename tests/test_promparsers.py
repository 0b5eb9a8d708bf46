"""prometheus_client's parsers load without the package's HTTP server modules, and the package
is whole for whatever asks for the rest of it later in the same process."""

from __future__ import annotations

import subprocess
import sys

PARSE = """
import sys
from deploy_gates.verify.exposition import parse
text = "# TYPE jobs_total counter\\njobs_total{queue=\\"a\\"} 3\\n# TYPE up gauge\\nup 1\\n"
exposition = parse(text, "text/plain; version=0.0.4", "http://127.0.0.1/metrics", {"jobs"})
print(sorted(exposition.families), [s.value for s in exposition.families["jobs"].samples])
om = "# TYPE jobs counter\\njobs_total 3\\n# EOF\\n"
print(sorted(parse(om, "application/openmetrics-text; version=1.0.0", "u").families))
print(sorted(m for m in ("prometheus_client.exposition", "http.server") if m in sys.modules))
"""

LATER = """
from prometheus_client import CollectorRegistry, Counter, generate_latest
import prometheus_client.parser
registry = CollectorRegistry()
Counter("served", "requests served", registry=registry).inc()
families = prometheus_client.parser.text_string_to_metric_families(
    generate_latest(registry).decode())
print([(f.name, f.samples[0].value) for f in families if f.name == "served"])
"""


def run(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_parsing_loads_no_http_server() -> None:
    assert run(PARSE) == ["['jobs'] [3]", "['jobs']", "[]"]


def test_the_package_is_whole_after_a_parse() -> None:
    assert run(PARSE + LATER)[-1] == "[('served', 1.0)]"
