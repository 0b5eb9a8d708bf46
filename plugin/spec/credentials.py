"""The secrets a runbook spec implies: the values of the environment variables it names, and the
credentials it writes out itself (a request's ``X-Api-Key`` header, a ``password`` in a JSON
body, a service's ``*_TOKEN`` env). Each must be long enough to mask safely."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploy_gates.redact import CREDENTIAL_NAME, secret_problem
from deploy_gates.spec.yamlsource import KeyPath, SpecError

if TYPE_CHECKING:
    from deploy_gates.spec.runbook import Runbook

PLACEHOLDER = re.compile(r"\{\w+\}")
"""``{token}``, ``{dsn}``: filled in at run time; the values filled in are secrets of their own."""
SCHEME = re.compile(r"^[A-Za-z][\w-]*\s+(\S+)$")
"""``Bearer abc``, ``Basic abc``: the credential after the scheme of an Authorization value."""


def spec_literals(spec: Runbook) -> Iterator[tuple[KeyPath, str]]:
    """Where the spec writes a credential itself, and the value: headers, query parameters and
    JSON body fields of requests, and service env variables, whose name ends like a credential
    (``Authorization``, ``Cookie``, ``X-Api-Key``, ``access_token``, ``DB_PASSWORD``)."""
    requests = [(("health", i), r) for i, r in enumerate(spec.health)]
    for name, flow in spec.smoke.items():
        for key, steps in (("steps", flow.steps), ("finally", flow.finally_)):
            requests += [(("smoke", name, key, i), s) for i, s in enumerate(steps)]
    for at, request in requests:
        if not hasattr(request, "headers"):
            continue  # sql and metric steps
        for key in ("headers", "query"):
            yield from _credentials(getattr(request, key), (*at, key))
        yield from _credentials(request.json_body, (*at, "json"))
    for name, target in spec.targets.items():
        start = getattr(target, "start", None)  # ephemeral targets that boot the service
        if start is not None:
            yield from _credentials(start.env, ("targets", name, "start", "env"))


def _credentials(data: Any, at: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(data, Mapping):
        items = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return
    for key, value in items:
        if isinstance(value, Mapping | list):
            yield from _credentials(value, (*at, key))
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            continue
        text = str(value)
        if isinstance(key, str) and CREDENTIAL_NAME.search(key) and not PLACEHOLDER.search(text):
            yield (*at, key), text
            scheme = SCHEME.match(text) if key.lower().endswith("authorization") else None
            if scheme:
                yield (*at, key), scheme.group(1)


def check_spec_literals(path: Path, spec: Runbook, lines: dict[KeyPath, int]) -> None:
    """Every credential the spec writes out must be long enough to mask safely."""
    for at, value in spec_literals(spec):
        if problem := secret_problem(value):
            dotted = ".".join(str(p) for p in at)
            raise SpecError(f"{path}:{lines.get(at, 1)}: {dotted}: {problem}")


def run_secrets(spec: Runbook, environ: Mapping[str, str] = os.environ) -> list[str]:
    """Every secret of a run that is known before the gates run: the values of the env
    variables the spec names (blank ones are not set) and the credentials it writes out. A
    ValueError naming the variable when a value is too short to mask safely."""
    values = [value for _, value in spec_literals(spec)]
    for name in sorted(spec.secret_env_names()):
        value = environ.get(name, "")
        if not value.strip():
            continue
        if problem := secret_problem(value):
            raise ValueError(f"environment variable {name}: {problem}; set a longer value")
        values.append(value)
    return values
