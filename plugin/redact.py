"""Keep secrets out of everything the suite prints or writes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from psycopg.conninfo import conninfo_to_dict, make_conninfo

MASK = "***"
MIN_SECRET_LENGTH = 4
MEMO_SIZE = 512
"""How many recently masked texts a redactor remembers."""
PATTERNS = (
    # key=value DSNs and query strings: password=..., token=..., api_key=...
    re.compile(r"(?i)\b((?:password|passwd|pwd|token|access_token|api[_-]?key|secret)\s*=\s*)"
               r"('[^']*'|[^\s&'\"]+)"),
    # URLs with credentials: scheme://user:password@host
    re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]+:)([^@\s]+)(?=@)"),
    # HTTP credentials: Authorization / Cookie / X-Api-Key headers, bearer tokens
    re.compile(r"(?i)\b((?:bearer|basic|token)\s+)([A-Za-z0-9._~+/=-]{8,})"),
    re.compile(r"(?i)\b((?:(?:proxy-)?authorization|set-cookie|cookie|x-api-key|"
               r"x-[a-z0-9-]*token)\s*:\s*)"
               r"([^\r\n\"']+)"),
    # JSON fields that carry credentials
    re.compile(r"(?i)(\"(?:password|token|access_token|refresh_token|api_key|apikey|secret)\""
               r"\s*:\s*\")([^\"]*)"),
    # webhook URLs are credentials in themselves
    re.compile(r"(?i)(https://(?:hooks\.slack\.com/(?:services|workflows)|"
               r"(?:discord|discordapp)\.com/api/webhooks)/)(\S+)"),
)


class Redactor:
    """Masks known secret values and anything shaped like a credential."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values: set[str] = set()
        for secret in secrets:
            values.add(secret)
            values.update(_dsn_password(secret))
        self.values = sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len,
                             reverse=True)
        # gates repeat the same evidence (a catalog query per schema gate): mask each text once
        self._masked = lru_cache(maxsize=MEMO_SIZE)(self._mask)

    def __call__(self, text: str) -> str:
        return self._masked(text) if text else text

    def _mask(self, text: str) -> str:
        for value in self.values:
            text = text.replace(value, MASK)
        for pattern in PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        return text


def _dsn_password(value: str) -> list[str]:
    try:
        password = conninfo_to_dict(value).get("password")
    except Exception:
        return []
    return [password] if password else []


redact_text = Redactor()


def redact_dsn(dsn: str) -> str:
    """``dsn`` with its password replaced by ``***``; unparsable input is hidden whole."""
    try:
        params = conninfo_to_dict(dsn)
    except Exception:
        return "<unparsable DSN>"
    if params.get("password"):
        params["password"] = MASK
    return make_conninfo("", **params)
