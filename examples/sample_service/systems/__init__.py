"""The seed systems the service stands in for: each module's ``mount(ctx)`` returns its routes."""

from __future__ import annotations

from collections.abc import Callable

from ..context import Context
from ..web import Route
from . import api_platform, granter, redcube, router_api, tascade

MOUNTS: dict[str, Callable[[Context], list[Route]]] = {
    "router-api": router_api.mount,
    "granter": granter.mount,
    "tascade": tascade.mount,
    "api-platform": api_platform.mount,
    "redcube": redcube.mount,
}
