"""RedCube (seed 004): two databases kept in sync by a trigger, experiences, timed analysis.

Schema ``redcube_main`` stands for the ``redcube_users`` database the user service writes;
``redcube_sync`` for the ``postgres`` database the trigger copies each registered user into.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter

import psycopg

from .. import params
from ..auth import hash_password
from ..context import Context
from ..db import Database
from ..web import HttpError, Request, Response, Route, json_response

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS redcube_main;
CREATE SCHEMA IF NOT EXISTS redcube_sync;
CREATE TABLE IF NOT EXISTS redcube_main.users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS redcube_sync.users (
    id bigint PRIMARY KEY,
    email text NOT NULL UNIQUE,
    synced_at timestamptz NOT NULL DEFAULT now()
);
CREATE OR REPLACE FUNCTION redcube_main.sync_user() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO redcube_sync.users (id, email) VALUES (NEW.id, NEW.email)
    ON CONFLICT (id) DO NOTHING;
    RETURN NEW;
END;
$$;
CREATE OR REPLACE TRIGGER trg_user_sync AFTER INSERT ON redcube_main.users
    FOR EACH ROW EXECUTE FUNCTION redcube_main.sync_user();
CREATE OR REPLACE VIEW redcube_main.v_user_sync_missing AS
    SELECT m.id, m.email, m.created_at FROM redcube_main.users m
    WHERE NOT EXISTS (SELECT 1 FROM redcube_sync.users s WHERE s.id = m.id);
CREATE OR REPLACE VIEW redcube_main.v_user_sync_status AS
    SELECT (SELECT count(*) FROM redcube_main.users) AS main_users,
           (SELECT count(*) FROM redcube_sync.users) AS synced_users,
           (SELECT count(*) FROM redcube_main.v_user_sync_missing) AS missing_users;
CREATE TABLE IF NOT EXISTS redcube_main.experiences (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company text NOT NULL,
    role text NOT NULL,
    outcome text NOT NULL,
    summary text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO redcube_main.experiences (company, role, outcome, summary)
SELECT v.company, v.role, v.outcome, v.summary FROM (VALUES
    ('Acme Cloud', 'Backend Engineer', 'offer', 'Two system design rounds and a SQL exercise.'),
    ('Northwind', 'SRE', 'rejected', 'Incident review role play; deep dive into Postgres.'),
    ('Globex', 'Data Engineer', 'offer', 'Take-home pipeline task, then a panel interview.')
) AS v (company, role, outcome, summary)
WHERE NOT EXISTS (SELECT 1 FROM redcube_main.experiences);
"""

ENABLE_SYNC = "ALTER TABLE redcube_main.users ENABLE TRIGGER trg_user_sync"
DISABLE_SYNC = "ALTER TABLE redcube_main.users DISABLE TRIGGER trg_user_sync"
WORD = re.compile(r"[a-z]{5,}")
POSITIVE = frozenset({"great", "good", "friendly", "offer", "smooth", "helpful", "clear"})
NEGATIVE = frozenset({"bad", "rude", "rejected", "stressful", "unclear", "ghosted", "hard"})


def set_sync(db: Database, broken: bool) -> None:
    """Disable the sync trigger (``sync_broken``) or enable it again."""
    with db.transaction() as conn:
        conn.execute(DISABLE_SYNC if broken else ENABLE_SYNC)


def analyse(text: str) -> dict[str, object]:
    """Word count, top keywords and a rough sentiment of ``text``."""
    words = re.findall(r"[a-z]+", text.lower())
    score = sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words)
    return {
        "word_count": len(words),
        "keywords": [w for w, _ in Counter(WORD.findall(text.lower())).most_common(5)],
        "sentiment": "positive" if score > 0 else "negative" if score < 0 else "neutral",
    }


def mount(ctx: Context) -> list[Route]:
    """Create both schemas, the trigger and the views if absent; follow ``sync_broken``."""
    ctx.db.setup(SCHEMA)
    set_sync(ctx.db, "sync_broken" in ctx.faults)

    def on_faults(before: frozenset[str], after: frozenset[str]) -> None:
        if ("sync_broken" in before) != ("sync_broken" in after):
            set_sync(ctx.db, "sync_broken" in after)

    ctx.faults.listen(on_faults)

    def health(_: Request) -> Response:
        up = "up" if ctx.database_up() else "down"
        return json_response(200, {
            "status": "ok" if up == "up" else "degraded",
            "databases": {"redcube_users": up, "postgres": up},
        })

    def register(request: Request) -> Response:
        body = request.json()
        email, password = params.email(body), params.password(body)
        if "confirmPassword" in body and body["confirmPassword"] != password:
            raise HttpError(400, "fields 'password' and 'confirmPassword' differ")
        try:
            with ctx.db.transaction() as conn:
                user = conn.execute(
                    "INSERT INTO redcube_main.users (email, password_hash) VALUES (%s, %s)"
                    " RETURNING id, email, created_at",
                    (email, hash_password(password)),
                ).fetchone()
        except psycopg.errors.UniqueViolation as exc:
            raise HttpError(409, f"{email} is already registered") from exc
        ctx.log.event("INFO", "user registered", user_id=user["id"], trace_id=request.trace_id)
        return json_response(201, user)

    def experiences(request: Request) -> Response:
        limit = params.integer(request.query, "limit", 20, 1, 100)
        with ctx.db.transaction() as conn:
            total = conn.execute("SELECT count(*) AS n FROM redcube_main.experiences").fetchone()
            rows = conn.execute(
                "SELECT id, company, role, outcome, summary, created_at"
                " FROM redcube_main.experiences ORDER BY created_at DESC, id DESC LIMIT %s",
                (limit,),
            ).fetchall()
        return json_response(200, {"experiences": rows, "total": total["n"], "limit": limit})

    def analysis(request: Request) -> Response:
        text = params.text(request.json(), "text")
        started = time.perf_counter()
        time.sleep(ctx.settings.analysis_delay_s)
        result = analyse(text)
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        ctx.log.event(
            "INFO", "analysis completed", trace_id=request.trace_id, duration_ms=duration_ms,
        )
        return json_response(200, {
            "analysis_id": uuid.uuid4(), "status": "completed", "trace_id": request.trace_id,
            "duration_ms": duration_ms, "result": result,
        })

    return [
        Route("GET", "/api/health", health, "health"),
        Route("POST", "/api/users/register", register, "step"),
        Route("GET", "/api/experiences", experiences),
        Route("POST", "/api/analysis", analysis),
    ]
