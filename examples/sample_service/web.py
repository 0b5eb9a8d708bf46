"""HTTP values shared by the router and the systems: requests, responses, routes, errors."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=utf-8"
TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
TRACE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

# "health" routes answer the health faults, "step" routes (login, register) answer step_500,
# "metrics" (/metrics) is never slowed, so a scrape sees the slow answers of the others in time,
# "control" routes (fault switches) are never slowed or logged as errors.
Kind = Literal["api", "health", "step", "metrics", "control"]


class HttpError(Exception):
    """Ends a request with ``status`` and a JSON error body."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class Request:
    """One HTTP request: header names are lower case, query values the first of each name."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    client: str
    trace_id: str
    params: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        """The body as a JSON object (an empty body is ``{}``); 400 when it is not one."""
        if not self.body:
            return {}
        try:
            data = json.loads(self.body)
        except ValueError as exc:
            raise HttpError(400, f"body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise HttpError(400, "body must be a JSON object")
        return data

    def bearer(self) -> str | None:
        """The token of an ``Authorization: Bearer <token>`` header, if any."""
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return (token.strip() or None) if scheme.lower() == "bearer" else None


@dataclass
class Response:
    """Status, body, content type and extra headers of an answer."""

    status: int
    body: bytes = b""
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    """A handler for one method and path template such as ``/v1/users/{user_id}``."""

    method: str
    template: str
    handler: Handler
    kind: Kind = "api"


def _encode(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def json_response(
    status: int, payload: object, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON answer; dates, decimals and UUIDs are encoded as ISO text, numbers and text."""
    body = json.dumps(payload, default=_encode, separators=(",", ":")).encode()
    return Response(status, body, JSON_TYPE, dict(headers or {}))


def error_response(error: HttpError, trace_id: str) -> Response:
    """The JSON answer of ``error``: ``{"error": ..., "trace_id": ...}``."""
    payload = {"error": error.message, "trace_id": trace_id}
    return json_response(error.status, payload, error.headers)


def html_response(status: int, html: str) -> Response:
    """An HTML answer."""
    return Response(status, html.encode(), HTML_TYPE)


def trace_id_of(headers: Mapping[str, str]) -> str:
    """The caller's ``X-Trace-Id`` or W3C ``traceparent`` trace id, else a new one."""
    given = headers.get("x-trace-id", "").strip()
    if TRACE_ID.match(given):
        return given
    parent = TRACEPARENT.match(headers.get("traceparent", "").strip())
    return parent.group(1) if parent else uuid.uuid4().hex
