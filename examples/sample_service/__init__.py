"""A real HTTP service standing in for the five seed systems, so gates can be tested against it.

Run from the repository root (PostgreSQL DSN from ``--dsn`` or ``DATABASE_URL``)::

    python -m examples.sample_service --system all --dsn "$DSN" --port 0 [--faults slow,...]

The first stdout line is ``listening on http://127.0.0.1:PORT``. ``--system`` is one of
router-api, granter, tascade, api-platform, redcube, or ``all`` (each system then lives under
``/<system>``). Fault switches, set with ``--faults`` or ``POST /__faults {"set": [...]}``:
health_503, health_degraded, missing_metric, malformed_metrics, missing_header, step_500, slow,
html_health, log_error, untraced_logs, no_refund, sync_broken. README.md lists the routes and
what each fault does.
"""
