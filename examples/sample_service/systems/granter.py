"""Granter (seed 001): health, register/login/me, grant search, scraper runs, IA extraction."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import psycopg

from .. import params
from ..auth import TOKEN_TTL_S, hash_password, password_matches
from ..context import Context
from ..web import HttpError, Request, Response, Route, json_response

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS granter;
CREATE TABLE IF NOT EXISTS granter.users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email text NOT NULL UNIQUE,
    name text NOT NULL DEFAULT '',
    password_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS granter.grants (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title text NOT NULL,
    funder text NOT NULL,
    region text NOT NULL,
    amount numeric(12, 2) NOT NULL,
    deadline date NOT NULL
);
INSERT INTO granter.grants (title, funder, region, amount, deadline)
SELECT v.title, v.funder, v.region, v.amount, v.deadline FROM (VALUES
    ('Clean Energy Pilot Grant', 'Green Future Fund', 'eu', 50000.00, DATE '2026-09-30'),
    ('Rural Broadband Access', 'Digital Inclusion Trust', 'us', 120000.00, DATE '2026-07-15'),
    ('Open Source Security Audit', 'Open Tech Foundation', 'global', 25000.00, DATE '2026-05-01'),
    ('Community Health Research', 'Public Health Alliance', 'eu', 80000.00, DATE '2026-11-20'),
    ('Youth Coding Clubs', 'Open Tech Foundation', 'us', 15000.00, DATE '2026-06-10'),
    ('Crop Field Test Programme', 'Rural Futures Fund', 'global', 200000.00, DATE '2027-01-31')
) AS v (title, funder, region, amount, deadline)
WHERE NOT EXISTS (SELECT 1 FROM granter.grants);
"""

MATCHING = """
FROM granter.grants
WHERE (title ILIKE %(pattern)s OR funder ILIKE %(pattern)s)
  AND (%(region)s::text IS NULL OR region = %(region)s)
  AND (%(min_amount)s::numeric IS NULL OR amount >= %(min_amount)s)
  AND (%(max_amount)s::numeric IS NULL OR amount <= %(max_amount)s)
  AND (%(deadline_after)s::date IS NULL OR deadline >= %(deadline_after)s)
"""
COUNT = f"SELECT count(*) AS total {MATCHING}"
PAGE = f"""SELECT id, title, funder, region, amount, deadline {MATCHING}
ORDER BY deadline, id LIMIT %(limit)s OFFSET %(offset)s"""

ITEMS_PER_PAGE = 10
LAST_PAGE_ITEMS = 4
AMOUNT = re.compile(r"[$€£]\s?\d[\d,]*(?:\.\d+)?|\b\d[\d,]*(?:\.\d+)?\s?(?:USD|EUR|GBP)\b")
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def _like(term: str) -> str:
    """A case-insensitive ``LIKE`` pattern that finds ``term`` literally."""
    return "%" + re.sub(r"([\\%_])", r"\\\1", term) + "%"


def _extract(text: str) -> dict[str, list[str]]:
    """The amounts, dates and e-mail addresses quoted in ``text``."""
    return {
        "amounts": AMOUNT.findall(text),
        "deadlines": DATE.findall(text),
        "contacts": EMAIL.findall(text),
    }


def mount(ctx: Context) -> list[Route]:
    """Create the ``granter`` schema if absent (with a few grants to search) and the routes."""
    ctx.db.setup(SCHEMA)

    def health(_: Request) -> Response:
        up = ctx.database_up()
        return json_response(200, {
            "status": "healthy" if up else "degraded",
            "services": {"database": "up" if up else "down", "api": "up"},
        })

    def register(request: Request) -> Response:
        body = request.json()
        email, password = params.email(body), params.password(body)
        name = body.get("name") if isinstance(body.get("name"), str) else ""
        try:
            with ctx.db.transaction() as conn:
                user = conn.execute(
                    "INSERT INTO granter.users (email, name, password_hash) VALUES (%s, %s, %s)"
                    " RETURNING id, email, name, created_at",
                    (email, name, hash_password(password)),
                ).fetchone()
        except psycopg.errors.UniqueViolation as exc:
            raise HttpError(409, f"{email} is already registered") from exc
        return json_response(201, user)

    def login(request: Request) -> Response:
        body = request.json()
        email, password = params.email(body), params.password(body, min_length=1)
        with ctx.db.transaction() as conn:
            user = conn.execute(
                "SELECT id, password_hash FROM granter.users WHERE email = %s", (email,)
            ).fetchone()
        if user is None or not password_matches(password, user["password_hash"]):
            raise HttpError(401, "invalid email or password")
        token = ctx.tokens.issue("granter", str(user["id"]))
        answer = json_response(
            200, {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_TTL_S}
        )
        answer.headers["X-Session-Token"] = token
        return answer

    def me(request: Request) -> Response:
        subject = ctx.tokens.subject("granter", request)
        with ctx.db.transaction() as conn:
            user = conn.execute(
                "SELECT id, email, name, created_at FROM granter.users WHERE id = %s", (subject,)
            ).fetchone()
        if user is None:
            raise HttpError(401, "the token's user no longer exists")
        return json_response(200, user)

    def search(request: Request) -> Response:
        query = request.query
        term = (query.get("q") or query.get("query") or "").strip()
        filters: dict[str, Any] = {
            "region": query.get("region") or None,
            "min_amount": params.decimal(query, "min_amount"),
            "max_amount": params.decimal(query, "max_amount"),
            "deadline_after": params.iso_date(query, "deadline_after"),
        }
        page = params.integer(query, "page", 1, 1, 10_000)
        limit = params.integer(query, "limit", 20, 1, 100)
        values = {**filters, "pattern": _like(term), "limit": limit, "offset": (page - 1) * limit}
        with ctx.db.transaction() as conn:
            total = conn.execute(COUNT, values).fetchone()["total"]
            results = conn.execute(PAGE, values).fetchall()
        return json_response(200, {
            "query": term, "filters": filters, "page": page, "limit": limit, "total": total,
            "results": results,
        })

    def scrape(request: Request) -> Response:
        body = request.json()
        source = params.text(body, "source")
        if urlsplit(source).scheme not in {"http", "https"} or not urlsplit(source).netloc:
            raise HttpError(400, "field 'source' must be an http(s) URL")
        max_pages = body.get("max_pages", 3)
        if not isinstance(max_pages, int) or not 1 <= max_pages <= 20:
            raise HttpError(400, "field 'max_pages' must be an integer from 1 to 20")
        pages = [
            {"page": n, "url": f"{source}?page={n}",
             "items": ITEMS_PER_PAGE if n < max_pages else LAST_PAGE_ITEMS}
            for n in range(1, max_pages + 1)
        ]
        return json_response(200, {
            "run_id": uuid.uuid4(), "source": source, "status": "completed",
            "pages_scraped": len(pages), "items_found": sum(p["items"] for p in pages),
            "pages": pages,
        })

    def extract(request: Request) -> Response:
        body = request.json()
        text = params.text(body, "text")
        fallback = body.get("simulate_provider_error") is True
        return json_response(200, {
            "provider": "fallback" if fallback else "primary",
            "fallback_used": fallback,
            "fields": _extract(text),
            "confidence": 0.71 if fallback else 0.92,
        })

    return [
        Route("GET", "/health", health, "health"),
        Route("POST", "/auth/register", register, "step"),
        Route("POST", "/auth/login", login, "step"),
        Route("GET", "/auth/me", me),
        Route("GET", "/search", search),
        Route("POST", "/scraper/run", scrape),
        Route("POST", "/ia/extract", extract),
    ]
