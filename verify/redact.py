"""Keep secrets out of everything the suite prints or writes."""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict, make_conninfo


def redact_dsn(dsn: str) -> str:
    """``dsn`` with its password replaced by ``***``; unparsable input is hidden whole."""
    try:
        params = conninfo_to_dict(dsn)
    except Exception:
        return "<unparsable DSN>"
    if params.get("password"):
        params["password"] = "***"
    return make_conninfo("", **params)
