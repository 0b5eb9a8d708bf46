"""Keep secrets out of everything the suite prints or writes."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable
from functools import lru_cache, partial
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

MASK = "***"
MIN_SECRET_LENGTH = 8
"""Secrets shorter than this are refused: masking them would also hide ordinary text (ids,
timings, words), and what stayed unmasked around them would give them away."""
MEMO_SIZE = 512
"""How many recently masked texts a redactor remembers."""
CREDENTIAL_WORDS = r"(?:password|passwd|secret|token|api[_-]?key|apikey|authorization|cookie)"
"""How the name of a field, header or parameter that carries a credential ends."""
CREDENTIAL_NAME = re.compile(rf"(?i){CREDENTIAL_WORDS}$")
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
    # quoted fields that carry credentials: "password": "...", 'X-Api-Key': '...' (a Python
    # repr), and \"token\": \"...\" (JSON inside a JSON string): the value ends at the quote
    # that closes it at the same depth of escaping
    re.compile(rf"(?i)((?P<esc>\\*)(?P<quote>[\"'])[\w-]*{CREDENTIAL_WORDS}(?P=esc)(?P=quote)"
               r"\s*:\s*(?P=esc)(?P=quote))((?:(?!(?<!\\)(?P=esc)(?P=quote))[^\r\n])*)"),
    # webhook URLs are credentials in themselves
    re.compile(r"(?i)(https://(?:hooks\.slack\.com/(?:services|workflows)|"
               r"(?:discord|discordapp)\.com/api/webhooks)/)(\S+)"),
)


def secret_problem(value: str) -> str | None:
    """Why ``value`` (or, when it is a DSN, its password) cannot be masked safely, or None."""
    parts = [(value, "a secret")] + [(p, "its password") for p in _dsn_password(value)]
    for part, what in parts:
        if len(part) < MIN_SECRET_LENGTH:
            return (f"{what} of {len(part)} characters is too short to mask safely "
                    f"(the minimum is {MIN_SECRET_LENGTH})")
    return None


class Redactor:
    """Masks known secret values, in every form they are shown in (as they are, JSON-escaped,
    as Python shows them, URL-encoded), and anything shaped like a credential.

    Values learned while the gates run (what a smoke step saved) are masked from then on.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._values: frozenset[str] = frozenset()
        self._known: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        self._masked = self._memo()
        self.learn(secrets)

    def __call__(self, text: str) -> str:
        return self._masked(text) if text else text

    def _memo(self) -> Callable[[str], str]:
        """Masking with the values known now; gates repeat the same evidence (a catalog query
        per schema gate), so each text is masked once."""
        return lru_cache(maxsize=MEMO_SIZE)(partial(_mask, known=self._known))

    def learn(self, secrets: Iterable[str]) -> None:
        """Mask ``secrets`` (and the passwords of DSNs among them) from now on; a ValueError
        when one is too short to mask safely (see :func:`secret_problem`)."""
        new: set[str] = set()
        for secret in secrets:
            if problem := secret_problem(secret):
                raise ValueError(problem)
            new.update([secret, *_dsn_password(secret)])
        with self._lock:
            if new <= self._values:
                return
            self._values |= new
            longest_first = sorted(self._values, key=len, reverse=True)
            self._known = re.compile("|".join(_encoded(v) for v in longest_first))
            self._masked = self._memo()  # a new memo: texts masked before may hold the new values

    def mask_file(self, path: Path) -> None:
        """Rewrite the file at ``path`` (a log kept with the reports) with every line masked."""
        masked = path.with_name(path.name + ".masking")
        with path.open(encoding="utf-8", errors="replace") as source, masked.open(
            "w", encoding="utf-8"
        ) as sink:
            for line in source:
                sink.write(_mask(line, self._known))
        os.replace(masked, path)


def _mask(text: str, known: re.Pattern[str] | None) -> str:
    if known is not None:
        text = known.sub(MASK, text)
    for pattern in PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


def _encoded(value: str) -> str:
    """A regular expression for ``value`` as it is, JSON-escaped (at any depth), as Python shows
    it, or URL-encoded (``%2F``, ``+`` for a space)."""
    return "".join(_char(c) for c in value)


@lru_cache(maxsize=256)
def _char(c: str) -> str:
    if c.isascii() and (c.isalnum() or c in "-_.~"):
        return re.escape(c)  # the same in every form
    forms = [re.escape(c), "(?i:" + "".join(f"%{b:02x}" for b in c.encode()) + ")"]
    if c == "\\":
        forms[0] = r"\\+"
    elif c in "\"'/":
        forms.append(r"\\+" + re.escape(c))
    elif c == " ":
        forms.append(r"\+")
    elif ord(c) < 0x20:
        forms.append(r"\\+" + {"\n": "n", "\r": "r", "\t": "t"}.get(c, f"x{ord(c):02x}"))
    if ord(c) < 0x10000:
        forms.append(rf"(?i:\\+u{ord(c):04x})")
    return "(?:" + "|".join(forms) + ")"


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
