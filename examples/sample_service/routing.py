"""Route table: path templates mounted per system, matched to a request's method and path."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .web import HttpError, Route

PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Mounted:
    """A route as served: the system it belongs to and its full path pattern."""

    system: str
    route: Route
    path: str
    pattern: re.Pattern[str]


def compile_path(path: str) -> re.Pattern[str]:
    """A pattern matching ``path`` where ``{name}`` is one path segment."""
    parts = PARAM.split(path)
    regex = "".join(
        f"(?P<{part}>[^/]+)" if index % 2 else re.escape(part) for index, part in enumerate(parts)
    )
    return re.compile(f"^{regex}$")


class Router:
    """The routes of the served systems, each under its prefix ("" or ``/<system>``)."""

    def __init__(self) -> None:
        self._mounted: list[Mounted] = []

    def mount(self, system: str, prefix: str, routes: Iterable[Route]) -> None:
        """Serve ``routes`` of ``system`` under ``prefix``; a duplicate route is an error."""
        for route in routes:
            path = prefix + route.template
            if any(m.path == path and m.route.method == route.method for m in self._mounted):
                raise ValueError(f"route {route.method} {path} mounted twice")
            self._mounted.append(Mounted(system, route, path, compile_path(path)))

    def match(self, method: str, path: str) -> tuple[Mounted, dict[str, str]]:
        """The route for ``method`` and ``path`` and its path parameters; 404 or 405 otherwise."""
        allowed: list[str] = []
        for mounted in self._mounted:
            found = mounted.pattern.match(path)
            if found is None:
                continue
            if mounted.route.method == method:
                return mounted, found.groupdict()
            allowed.append(mounted.route.method)
        if allowed:
            raise HttpError(405, f"{method} not allowed on {path}", {"Allow": ", ".join(allowed)})
        raise HttpError(404, f"no route for {method} {path}")

    def describe(self) -> list[str]:
        """Every served route as ``METHOD /path``, in mount order."""
        return [f"{m.route.method} {m.path}" for m in self._mounted]
