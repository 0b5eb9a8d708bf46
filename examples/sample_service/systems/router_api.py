"""Router API (seed 000): jobs whose failure takes the refund path, and the refund counters."""

from __future__ import annotations

import secrets

from prometheus_client import Counter

from .. import params
from ..context import Context
from ..web import HttpError, Request, Response, Route, json_response

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS router;
CREATE TABLE IF NOT EXISTS router.jobs (
    job_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    model text NOT NULL,
    status text NOT NULL DEFAULT 'queued',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    refund_retry_count integer NOT NULL DEFAULT 0,
    refund_last_attempt_at timestamptz,
    refund_alert_count integer NOT NULL DEFAULT 0,
    refund_last_alert_at timestamptz,
    refund_tx_signature text
);
"""

INSERT_JOB = "INSERT INTO router.jobs (model, status) VALUES (%s, %s) RETURNING job_id"
REFUND = """
UPDATE router.jobs SET
    refund_retry_count = refund_retry_count + 1,
    refund_last_attempt_at = now(),
    refund_tx_signature = %(signature)s,
    refund_alert_count = refund_alert_count + %(alerted)s::int,
    refund_last_alert_at = CASE WHEN %(alerted)s THEN now() ELSE refund_last_alert_at END,
    status = %(status)s,
    updated_at = now()
WHERE job_id = %(job_id)s
"""


def _failure(value: object) -> str | None:
    """What ``simulate_failure`` asks for: nothing, a failed job, or a job whose refund fails."""
    if value is False or value is None:
        return None
    if value is True or value == "job":
        return "job"
    if value == "refund":
        return "refund"
    raise HttpError(400, "field 'simulate_failure' must be true, false, \"job\" or \"refund\"")


def _outcome(failure: str | None, refund: bool) -> str:
    """The job's final status."""
    if failure is None:
        return "completed"
    if not refund:
        return "failed"
    return "refund_failed" if failure == "refund" else "refunded"


def mount(ctx: Context) -> list[Route]:
    """Create ``router.jobs`` if absent, register the refund counters, return the routes."""
    ctx.db.setup(SCHEMA)
    retries = Counter(
        "router_refund_retries", "Refund attempts made for failed jobs.",
        registry=ctx.metrics.registry,
    )
    alerts = Counter(
        "router_refund_alerts", "Alerts raised for refunds that failed.",
        registry=ctx.metrics.registry,
    )

    def health(_: Request) -> Response:
        up = ctx.database_up()
        return json_response(200, {
            "status": "ok" if up else "degraded",
            "services": {"database": "up" if up else "down"},
        })

    def submit(request: Request) -> Response:
        body = request.json()
        model = params.text(body, "model")
        failure = _failure(body.get("simulate_failure", False))
        refund = failure is not None and "no_refund" not in ctx.faults
        status = _outcome(failure, refund)
        with ctx.db.transaction() as conn:
            row = conn.execute(INSERT_JOB, (model, "failed" if failure else status)).fetchone()
            if refund:
                conn.execute(REFUND, {
                    "job_id": row["job_id"], "status": status, "alerted": failure == "refund",
                    "signature": None if failure == "refund" else secrets.token_hex(32),
                })
        if refund:
            retries.inc()
            if failure == "refund":
                alerts.inc()
        ctx.log.event(
            "INFO" if failure is None else "WARN", "job finished", job_id=str(row["job_id"]),
            model=model, job_status=status, trace_id=request.trace_id,
        )
        return json_response(202, {"job_id": row["job_id"], "status": status})

    def job(request: Request) -> Response:
        job_id = params.identifier(request.params["job_id"], "job_id")
        with ctx.db.transaction() as conn:
            row = conn.execute("SELECT * FROM router.jobs WHERE job_id = %s", (job_id,)).fetchone()
        if row is None:
            raise HttpError(404, f"job {job_id} not found")
        return json_response(200, row)

    return [
        Route("GET", "/health", health, "health"),
        Route("POST", "/jobs", submit),
        Route("GET", "/jobs/{job_id}", job),
    ]
