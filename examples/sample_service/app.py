"""The application: routes every request, applies the faults, logs it and counts it."""

from __future__ import annotations

import ipaddress
import time
from dataclasses import replace

from . import faults
from .context import Context
from .metrics import CONTENT_TYPE
from .routing import Router
from .systems import MOUNTS
from .web import HttpError, Request, Response, Route, error_response, html_response, json_response

SLOW_DELAY_S = 1.5
UNMATCHED = "<unmatched>"
HTML_HEALTH = (
    "<!DOCTYPE html>\n<html><head><title>Service status</title></head>"
    "<body><h1>Everything is fine</h1><p>Status page moved.</p></body></html>\n"
)
MISSING_COLUMN = 'psycopg.errors.UndefinedColumn: column "refund_retry_count" does not exist'


def level_of(status: int) -> str:
    """The log level of an answer with ``status``."""
    return "ERROR" if status >= 500 else "WARN" if status >= 400 else "INFO"


class App:
    """Every served system's routes plus ``/metrics`` and ``/__faults``."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.router = Router()
        service = [
            Route("GET", "/metrics", self._metrics, "metrics"),
            Route("GET", "/__faults", self._faults, "control"),
            Route("POST", "/__faults", self._faults, "control"),
        ]
        for system in ctx.settings.systems:
            routes = MOUNTS[system](ctx)
            self.router.mount(system, ctx.settings.prefix(system), [*service, *routes])
        if ctx.settings.system == "all":
            self.router.mount("all", "", service)
        ctx.faults.listen(self._on_faults)
        if "log_error" in ctx.faults:
            self._log_errors()

    def handle(self, request: Request) -> Response:
        """Answer ``request``; every answer is counted, timed and logged once."""
        started = time.perf_counter()
        system, route = self.ctx.settings.system, UNMATCHED
        try:
            mounted, path_params = self.router.match(request.method, request.path)
            system, route = mounted.system, mounted.route.template
            response = self._dispatch(mounted.route, replace(request, params=path_params))
        except HttpError as exc:
            response = error_response(exc, request.trace_id)
        except Exception as exc:
            detail = str(exc).strip().splitlines()
            self.ctx.log.event(
                "ERROR", "unhandled error", error=type(exc).__name__,
                detail=detail[0] if detail else "", path=request.path, trace_id=request.trace_id,
            )
            response = error_response(HttpError(500, "internal server error"), request.trace_id)
        response.headers["X-Trace-Id"] = request.trace_id
        seconds = time.perf_counter() - started
        self.ctx.metrics.observe(system, request.method, route, response.status, seconds)
        traced = {} if "untraced_logs" in self.ctx.faults else {"trace_id": request.trace_id}
        self.ctx.log.event(
            level_of(response.status), "request", system=system, method=request.method,
            path=request.path, route=route, status=response.status,
            duration_ms=round(seconds * 1000, 1), **traced,
        )
        return response

    def _dispatch(self, route: Route, request: Request) -> Response:
        active = self.ctx.faults.active()
        if route.kind != "control":
            if "slow" in active and route.kind != "metrics":
                time.sleep(SLOW_DELAY_S)
            if "log_error" in active:
                self._log_errors()
        if route.kind == "health" and "health_503" in active:
            return json_response(503, {"status": "unavailable"})
        if route.kind == "health" and "html_health" in active:
            return html_response(200, HTML_HEALTH)
        if route.kind == "step" and "step_500" in active:
            raise HttpError(500, "internal server error")
        return route.handler(request)

    def _metrics(self, _: Request) -> Response:
        return Response(200, self.ctx.metrics.exposition(self.ctx.faults.active()), CONTENT_TYPE)

    def _faults(self, request: Request) -> Response:
        if not ipaddress.ip_address(request.client).is_loopback:
            raise HttpError(403, "fault switches answer loopback clients only")
        if request.method == "POST":
            names = request.json().get("set")
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise HttpError(400, 'body must be {"set": [fault names]}')
            try:
                self.ctx.faults.replace(names)
            except ValueError as exc:
                raise HttpError(400, str(exc)) from exc
        active = sorted(self.ctx.faults.active())
        return json_response(200, {"active": active, "known": faults.KNOWN})

    def _on_faults(self, before: frozenset[str], after: frozenset[str]) -> None:
        self.ctx.log.event("WARN", "faults changed", active=sorted(after))
        if "log_error" in after - before:
            self._log_errors()

    def _log_errors(self) -> None:
        self.ctx.log.plain("ERROR", "refund reconciliation failed; retrying on next tick")
        self.ctx.log.plain("ERROR", MISSING_COLUMN)
