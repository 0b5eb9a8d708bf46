"""Password hashes and signed bearer tokens (HMAC-SHA256, one secret per service process)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time

from .web import HttpError, Request

TOKEN_TTL_S = 3600
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password``, as ``scrypt$<salt>$<digest>``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)
    return f"scrypt${_b64(salt)}${_b64(digest)}"


def password_matches(password: str, stored: str | None) -> bool:
    """True when ``password`` hashes to ``stored``."""
    if not stored or stored.count("$") != 2:
        return False
    _, salt, digest = stored.split("$")
    candidate = hashlib.scrypt(password.encode(), salt=_unb64(salt), **SCRYPT)
    return hmac.compare_digest(candidate, _unb64(digest))


class Tokens:
    """Issues and checks ``<claims>.<signature>`` tokens bound to one audience (a system)."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def issue(self, audience: str, subject: str) -> str:
        """A token for ``subject`` valid for ``TOKEN_TTL_S`` seconds at ``audience``."""
        claims = {"aud": audience, "sub": subject, "exp": int(time.time()) + TOKEN_TTL_S}
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}"

    def subject(self, audience: str, request: Request) -> str:
        """The subject of the request's bearer token for ``audience``; 401 otherwise."""
        token = request.bearer()
        if token is None:
            raise HttpError(401, "missing bearer token", UNAUTHORIZED)
        payload, _, signature = token.partition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            raise HttpError(401, "invalid bearer token", UNAUTHORIZED)
        claims = json.loads(_unb64(payload))
        if claims.get("aud") != audience or claims.get("exp", 0) < time.time():
            raise HttpError(401, "bearer token expired or not for this service", UNAUTHORIZED)
        return str(claims["sub"])
