"""Tascade P5.M3 (seed 002): health and the seven metrics endpoints over the metrics_* tables.

The tables come from ``examples/tascade/migrations``; the service never creates them, so a
rolled-back database makes the metrics endpoints fail (500, logged) as the real one would.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import psycopg

from .. import params
from ..auth import UNAUTHORIZED
from ..context import Context
from ..db import Row
from ..web import HttpError, Request, Response, Route, error_response, json_response

API_VERSION = {"X-API-Version": "1.0"}
GRANULARITIES = ("day", "week", "month")
ACTIONS = {
    "critical": "page the on-call engineer and review the metric now",
    "warning": "review the metric trend before the next planning",
    "info": "no action needed; keep watching",
}

Conn = psycopg.Connection[Row]
Params = Mapping[str, str]
Body = dict[str, Any]
Query = Callable[[Conn, uuid.UUID, Params], Body]


def summary(conn: Conn, project: uuid.UUID, _: Params) -> Body:
    """Task counts, cycle time and state transition counts of the project."""
    row = conn.execute(
        "SELECT open_tasks, done_tasks, cycle_time_p50_hours, computed_at"
        " FROM metrics_summary WHERE project_id = %s", (project,),
    ).fetchone() or {
        "open_tasks": 0, "done_tasks": 0, "cycle_time_p50_hours": None, "computed_at": None,
    }
    transitions = conn.execute(
        "SELECT from_state, to_state, transitions FROM metrics_state_transition_counter"
        " WHERE project_id = %s ORDER BY from_state, to_state", (project,),
    ).fetchall()
    return {**row, "transitions": transitions}


def trends(conn: Conn, project: uuid.UUID, query: Params) -> Body:
    """One metric's points over time at a granularity, optionally within dates."""
    metric = query.get("metric") or "cycle_time"
    granularity = params.choice(query, "granularity", GRANULARITIES, "day")
    start, end = params.iso_date(query, "start_date"), params.iso_date(query, "end_date")
    points = conn.execute(
        "SELECT bucket_start AS date, value FROM metrics_trend_point"
        " WHERE project_id = %s AND metric = %s AND granularity = %s"
        " AND (%s::date IS NULL OR bucket_start >= %s) AND (%s::date IS NULL OR bucket_start <= %s)"
        " ORDER BY bucket_start",
        (project, metric, granularity, start, start, end, end),
    ).fetchall()
    return {
        "metric": metric, "granularity": granularity, "start_date": start, "end_date": end,
        "points": points,
    }


def breakdown(conn: Conn, project: uuid.UUID, query: Params) -> Body:
    """One metric split by dimension values (all dimensions, or the one asked for)."""
    metric = query.get("metric") or "cycle_time"
    dimension = query.get("dimension") or None
    items = conn.execute(
        "SELECT dimension, dimension_value, value FROM metrics_breakdown_point"
        " WHERE project_id = %s AND metric = %s AND (%s::text IS NULL OR dimension = %s)"
        " ORDER BY dimension, value DESC, dimension_value",
        (project, metric, dimension, dimension),
    ).fetchall()
    return {"metric": metric, "dimension": dimension, "items": items}


def drilldown(conn: Conn, project: uuid.UUID, query: Params) -> Body:
    """The task-level rows behind a metric."""
    metric = query.get("metric") or "cycle_time"
    limit = params.integer(query, "limit", 50, 1, 500)
    items = conn.execute(
        "SELECT d.id, d.task_id, t.title AS task_title, t.state AS task_state, d.detail"
        " FROM metrics_drilldown d LEFT JOIN tasks t ON t.id = d.task_id"
        " WHERE d.project_id = %s AND d.metric = %s ORDER BY d.id LIMIT %s",
        (project, metric, limit),
    ).fetchall()
    return {"metric": metric, "limit": limit, "items": items}


def alerts(conn: Conn, project: uuid.UUID, query: Params) -> Body:
    """The project's alerts, open ones only unless ``include_acknowledged=true``."""
    include = params.flag(query, "include_acknowledged")
    rows = conn.execute(
        "SELECT id, metric, severity::text AS severity, threshold, acknowledged, created_at,"
        " updated_at FROM metrics_alert WHERE project_id = %s AND (%s OR NOT acknowledged)"
        " ORDER BY created_at DESC, id DESC",
        (project, include),
    ).fetchall()
    return {"include_acknowledged": include, "alerts": rows}


def actions(conn: Conn, project: uuid.UUID, _: Params) -> Body:
    """What to do about each open alert, most severe first."""
    rows = conn.execute(
        "SELECT id, metric, severity::text AS severity FROM metrics_alert"
        " WHERE project_id = %s AND NOT acknowledged ORDER BY metrics_alert.severity DESC, id",
        (project,),
    ).fetchall()
    return {"actions": [
        {"alert_id": r["id"], "metric": r["metric"], "severity": r["severity"],
         "action": ACTIONS[r["severity"]]}
        for r in rows
    ]}


def jobs(conn: Conn, _: uuid.UUID, __: Params) -> Body:
    """The incremental metrics jobs: checkpoint and latest run of each (jobs are global)."""
    rows = conn.execute(
        "SELECT c.job_name, c.last_event_id, c.updated_at AS checkpoint_updated_at,"
        " r.started_at, r.finished_at, r.events_processed, r.error"
        " FROM metrics_job_checkpoint c LEFT JOIN LATERAL ("
        "   SELECT * FROM metrics_job_run WHERE job_name = c.job_name"
        "   ORDER BY started_at DESC, id DESC LIMIT 1) r ON true"
        " ORDER BY c.job_name",
    ).fetchall()
    run_keys = ("started_at", "finished_at", "events_processed", "error")
    return {"jobs": [
        {"job_name": r["job_name"], "last_event_id": r["last_event_id"],
         "checkpoint_updated_at": r["checkpoint_updated_at"],
         "last_run": {k: r[k] for k in run_keys} if r["started_at"] else None}
        for r in rows
    ]}


ENDPOINTS: dict[str, Query] = {
    "summary": summary, "trends": trends, "breakdown": breakdown, "drilldown": drilldown,
    "alerts": alerts, "actions": actions, "jobs": jobs,
}


def add_demo_project(ctx: Context, name: str) -> None:
    """A project called ``name``, unless the database has one (a rolled-back or empty
    database is logged, not fatal: health still answers)."""
    try:
        with ctx.db.transaction() as conn:
            conn.execute(
                "INSERT INTO projects (name) SELECT %s"
                " WHERE NOT EXISTS (SELECT 1 FROM projects WHERE name = %s)", (name, name),
            )
    except psycopg.Error as exc:
        ctx.log.event("WARN", f"demo project {name!r} not added: {exc}".strip())


def mount(ctx: Context) -> list[Route]:
    """The health route and the seven ``/v1/metrics/*`` routes (bearer ``TASCADE_API_KEY``)."""
    key = ctx.settings.tascade_api_key
    if key is None:
        ctx.log.event("WARN", "TASCADE_API_KEY is not set: every /v1/metrics request answers 401")
    if ctx.settings.demo_project:
        add_demo_project(ctx, ctx.settings.demo_project)

    def health(_: Request) -> Response:
        if ctx.database_up():
            return json_response(200, {"status": "ok"})
        return json_response(200, {"status": "degraded", "database": "down"})

    def authorize(request: Request) -> None:
        token = request.bearer()
        if key is None or token is None or not hmac.compare_digest(token.encode(), key.encode()):
            raise HttpError(401, "missing or invalid API key", UNAUTHORIZED)

    def endpoint(query: Query) -> Callable[[Request], Response]:
        def handle(request: Request) -> Response:
            try:
                authorize(request)
                project = params.identifier(request.query.get("project_id"), "project_id")
                with ctx.db.transaction() as conn:
                    found = conn.execute("SELECT 1 FROM projects WHERE id = %s", (project,))
                    if found.fetchone() is None:
                        raise HttpError(404, f"project {project} not found")
                    body = {"project_id": project, **query(conn, project, request.query)}
                response = json_response(200, body)
            except HttpError as exc:
                response = error_response(exc, request.trace_id)
            if "missing_header" not in ctx.faults:
                response.headers.update(API_VERSION)
            return response

        return handle

    return [
        Route("GET", "/health", health, "health"),
        *(Route("GET", f"/v1/metrics/{name}", endpoint(q)) for name, q in ENDPOINTS.items()),
    ]
