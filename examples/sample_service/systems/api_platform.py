"""API platform (seed 003): versioned health, liveness/readiness, auth and users CRUD."""

from __future__ import annotations

from typing import Any

import psycopg

from .. import params
from ..auth import TOKEN_TTL_S, hash_password, password_matches
from ..context import Context
from ..logs import utc_now
from ..web import HttpError, Request, Response, Route, json_response

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS platform;
CREATE TABLE IF NOT EXISTS platform.users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email text NOT NULL UNIQUE,
    name text NOT NULL DEFAULT '',
    role text NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'admin')),
    password_hash text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
"""

AUDIENCE = "api-platform"
ROLES = ("member", "admin")
COLUMNS = "id, email, name, role, created_at, updated_at"


def _role(body: dict[str, Any], default: str | None) -> str | None:
    role = body.get("role", default)
    if role is not None and role not in ROLES:
        raise HttpError(400, f"field 'role' must be one of {', '.join(ROLES)}")
    return role


def _name(body: dict[str, Any], default: str | None) -> str | None:
    name = body.get("name", default)
    if name is not None and not isinstance(name, str):
        raise HttpError(400, "field 'name' must be a string")
    return name


def mount(ctx: Context) -> list[Route]:
    """Create ``platform.users`` if absent and return the routes."""
    ctx.db.setup(SCHEMA)

    def health(_: Request) -> Response:
        up = ctx.database_up()
        return json_response(200, {
            "status": "healthy" if up else "degraded",
            "version": ctx.settings.release,
            "timestamp": utc_now(),
            "uptime": ctx.uptime_s(),
            "services": {"database": "healthy" if up else "unhealthy"},
        })

    def live(_: Request) -> Response:
        return json_response(200, {"status": "ok", "timestamp": utc_now()})

    def ready(_: Request) -> Response:
        if ctx.database_up():
            return json_response(200, {"status": "ready", "checks": {"database": "connected"}})
        return json_response(503, {"status": "not ready", "checks": {"database": "disconnected"}})

    def insert(body: dict[str, Any], password_hash: str | None) -> Response:
        email = params.email(body)
        try:
            with ctx.db.transaction() as conn:
                user = conn.execute(
                    f"INSERT INTO platform.users (email, name, role, password_hash)"
                    f" VALUES (%s, %s, %s, %s) RETURNING {COLUMNS}",
                    (email, _name(body, ""), _role(body, "member"), password_hash),
                ).fetchone()
        except psycopg.errors.UniqueViolation as exc:
            raise HttpError(409, f"a user with e-mail {email} exists") from exc
        return json_response(201, user, {"Location": f"/v1/users/{user['id']}"})

    def register(request: Request) -> Response:
        body = request.json()
        return insert(body, hash_password(params.password(body)))

    def login(request: Request) -> Response:
        body = request.json()
        email, password = params.email(body), params.password(body, min_length=1)
        with ctx.db.transaction() as conn:
            user = conn.execute(
                f"SELECT {COLUMNS}, password_hash FROM platform.users WHERE email = %s", (email,)
            ).fetchone()
        if user is None or not password_matches(password, user.pop("password_hash")):
            raise HttpError(401, "invalid email or password")
        return json_response(200, {
            "access_token": ctx.tokens.issue(AUDIENCE, str(user["id"])),
            "token_type": "Bearer", "expires_in": TOKEN_TTL_S, "user": user,
        })

    def list_users(request: Request) -> Response:
        ctx.tokens.subject(AUDIENCE, request)
        limit = params.integer(request.query, "limit", 20, 1, 100)
        offset = params.integer(request.query, "offset", 0, 0, 1_000_000)
        with ctx.db.transaction() as conn:
            total = conn.execute("SELECT count(*) AS n FROM platform.users").fetchone()["n"]
            users = conn.execute(
                f"SELECT {COLUMNS} FROM platform.users ORDER BY created_at, id LIMIT %s OFFSET %s",
                (limit, offset),
            ).fetchall()
        return json_response(200, {"data": users, "total": total, "limit": limit, "offset": offset})

    def create_user(request: Request) -> Response:
        ctx.tokens.subject(AUDIENCE, request)
        return insert(request.json(), None)

    def get_user(request: Request) -> Response:
        ctx.tokens.subject(AUDIENCE, request)
        user_id = params.identifier(request.params["user_id"], "user_id")
        with ctx.db.transaction() as conn:
            user = conn.execute(
                f"SELECT {COLUMNS} FROM platform.users WHERE id = %s", (user_id,)
            ).fetchone()
        if user is None:
            raise HttpError(404, f"user {user_id} not found")
        return json_response(200, user)

    def update_user(request: Request) -> Response:
        ctx.tokens.subject(AUDIENCE, request)
        user_id = params.identifier(request.params["user_id"], "user_id")
        body = request.json()
        name, role = _name(body, None), _role(body, None)
        if name is None and role is None:
            raise HttpError(400, "nothing to update: give 'name' and/or 'role'")
        with ctx.db.transaction() as conn:
            user = conn.execute(
                f"UPDATE platform.users SET name = coalesce(%s, name), role = coalesce(%s, role),"
                f" updated_at = now() WHERE id = %s RETURNING {COLUMNS}",
                (name, role, user_id),
            ).fetchone()
        if user is None:
            raise HttpError(404, f"user {user_id} not found")
        return json_response(200, user)

    def delete_user(request: Request) -> Response:
        ctx.tokens.subject(AUDIENCE, request)
        user_id = params.identifier(request.params["user_id"], "user_id")
        with ctx.db.transaction() as conn:
            deleted = conn.execute("DELETE FROM platform.users WHERE id = %s", (user_id,)).rowcount
        if not deleted:
            raise HttpError(404, f"user {user_id} not found")
        return Response(204)

    return [
        Route("GET", "/v1/health", health, "health"),
        Route("GET", "/health/live", live, "health"),
        Route("GET", "/health/ready", ready, "health"),
        Route("POST", "/v1/auth/register", register, "step"),
        Route("POST", "/v1/auth/login", login, "step"),
        Route("GET", "/v1/users", list_users),
        Route("POST", "/v1/users", create_user),
        Route("GET", "/v1/users/{user_id}", get_user),
        Route("PATCH", "/v1/users/{user_id}", update_user),
        Route("DELETE", "/v1/users/{user_id}", delete_user),
    ]
