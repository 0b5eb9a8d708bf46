"""Expected values as the spec writes them: literals, ``"> 0"`` comparisons, ``not_null``, and
JSON subsets with dotted keys."""

from __future__ import annotations

import operator
import re
from typing import Any

from deploy_gates.verify.excerpt import clip

COMPARISON = re.compile(r"^\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?(?:e-?\d+)?)\s*$")
OPERATORS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
             "==": operator.eq, "!=": operator.ne}
MISSING = object()
VALUE_CHARS = 200
"""How much of a value found a message quotes."""


def value_problem(expected: Any, actual: Any) -> str | None:
    """Why ``actual`` does not satisfy ``expected``, or None when it does."""
    if expected == "not_null":
        return None if actual is not None else "null"
    if expected == "null":
        return None if actual is None else _shown(actual)
    if isinstance(expected, str) and (match := COMPARISON.match(expected)):
        op, bound = match.group(1), float(match.group(2))
        try:
            number = float(actual)
        except (TypeError, ValueError):
            return f"{_shown(actual)} (not a number)"
        return None if OPERATORS[op](number, bound) else _shown(actual)
    return None if expected == actual else _shown(actual)


def subset_problems(expected: dict[str, Any], actual: Any, at: str = "") -> list[str]:
    """Where ``actual`` (parsed JSON) differs from the ``expected`` subset.

    Keys may be dotted (``services.database``); nested dicts are subsets too; other values use
    :func:`value_problem`.
    """
    problems = []
    for key, want in expected.items():
        where = f"{at}.{key}" if at else key
        got = lookup(actual, key)
        if got is MISSING:
            problems.append(f"{where} missing")
        elif isinstance(want, dict):
            problems += subset_problems(want, got, where)
        elif (problem := value_problem(want, got)) is not None:
            problems.append(f"{where} = {problem} (expected {want!r})")
    return problems


def lookup(data: Any, path: str) -> Any:
    """``data`` at a dotted path (``a.b``, ``items.0.id``, or JSONPath-like ``$.a.b[0]``)."""
    steps = [s for s in re.split(r"\.|\[|\]", path.removeprefix("$")) if s]
    for step in steps:
        if isinstance(data, dict) and step in data:
            data = data[step]
        elif isinstance(data, list) and step.isdigit() and int(step) < len(data):
            data = data[int(step)]
        else:
            return MISSING
    return data


def _shown(value: Any) -> str:
    return clip(repr(value), VALUE_CHARS)
