"""Reading request fields and query parameters; a bad value is a 400 that names the field."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from .web import HttpError

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def text(body: Mapping[str, Any], name: str, *, default: str | None = None) -> str:
    """A non-empty string field; required unless ``default`` is given."""
    value = body.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise HttpError(400, f"field '{name}' must be a non-empty string")
    return value.strip()


def email(body: Mapping[str, Any], name: str = "email") -> str:
    """An e-mail address field, lower-cased."""
    value = text(body, name).lower()
    if not EMAIL.match(value):
        raise HttpError(400, f"field '{name}' is not an e-mail address")
    return value


def password(body: Mapping[str, Any], name: str = "password", min_length: int = 6) -> str:
    """A password field of at least ``min_length`` characters."""
    value = body.get(name)
    if not isinstance(value, str) or len(value) < min_length:
        raise HttpError(400, f"field '{name}' must be a string of at least {min_length} characters")
    return value


def choice(query: Mapping[str, str], name: str, options: tuple[str, ...], default: str) -> str:
    """A query parameter that must be one of ``options``."""
    value = query.get(name) or default
    if value not in options:
        raise HttpError(400, f"parameter '{name}' must be one of {', '.join(options)}")
    return value


def integer(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter between ``low`` and ``high``."""
    raw = query.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise HttpError(400, f"parameter '{name}' must be an integer from {low} to {high}")
    return value


def decimal(query: Mapping[str, str], name: str) -> Decimal | None:
    """An optional decimal query parameter."""
    raw = query.get(name)
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise HttpError(400, f"parameter '{name}' must be a number")
    return value


def iso_date(query: Mapping[str, str], name: str) -> date | None:
    """An optional ``YYYY-MM-DD`` query parameter."""
    raw = query.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise HttpError(400, f"parameter '{name}' must be a date (YYYY-MM-DD)") from exc


def identifier(raw: str | None, name: str) -> uuid.UUID:
    """A UUID from a path or query parameter."""
    if not raw:
        raise HttpError(400, f"parameter '{name}' is required")
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise HttpError(400, f"parameter '{name}' must be a UUID") from exc


def flag(query: Mapping[str, str], name: str) -> bool:
    """A boolean query parameter: true/1/yes, else false."""
    return query.get(name, "").lower() in {"1", "true", "yes"}
