"""HTTP for gates: every call has connect and read timeouts, and every failure is one line."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
EXCERPT_CHARS = 2000


class HttpError(Exception):
    """The request got no usable answer; the message names the method and URL."""


@dataclass(frozen=True)
class Answer:
    """A response, kept small enough to show as evidence."""

    method: str
    url: str
    status: int
    headers: dict[str, str]
    text: str
    seconds: float

    def json(self) -> Any:
        """The body as JSON; an HttpError naming the URL when it is not JSON."""
        try:
            return requests.models.complexjson.loads(self.text)
        except ValueError:
            kind = self.headers.get("Content-Type", "unknown content type")
            raise HttpError(
                f"{self.method} {self.url}: expected a JSON body, got {kind}: {self.text[:80]!r}"
            ) from None

    def excerpt(self) -> str:
        """Status line, headers and the start of the body, for the report."""
        head = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
        return (f"{self.method} {self.url} -> {self.status} in {self.seconds * 1000:.0f} ms\n"
                f"{head}\n\n{self.text[:EXCERPT_CHARS]}")


class Http:
    """A session bound to a base URL."""

    def __init__(self, base_url: str, *, read_timeout_s: float = READ_TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = (CONNECT_TIMEOUT_S, read_timeout_s)
        self.session = requests.Session()

    def url(self, path: str) -> str:
        """``path`` joined to the base URL (absolute URLs pass through)."""
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def request(self, method: str, path: str, *, read_timeout_s: float | None = None,
                **kwargs: Any) -> Answer:
        """Send one request; an HttpError says why there was no answer."""
        url = self.url(path)
        timeout = (self.timeout[0], read_timeout_s or self.timeout[1])
        start = time.perf_counter()
        try:
            response = self.session.request(method, url, timeout=timeout, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise HttpError(f"{method} {url}: TLS error: {_reason(exc)}") from None
        except requests.exceptions.ConnectTimeout:
            raise HttpError(f"{method} {url}: no connection within {timeout[0]:g} s") from None
        except requests.exceptions.ReadTimeout:
            raise HttpError(f"{method} {url}: no answer within {timeout[1]:g} s") from None
        except requests.exceptions.ConnectionError as exc:
            raise HttpError(f"{method} {url}: cannot connect: {_reason(exc)}") from None
        except requests.exceptions.RequestException as exc:
            raise HttpError(f"{method} {url}: {_reason(exc)}") from None
        return Answer(method, url, response.status_code, dict(response.headers), response.text,
                      time.perf_counter() - start)

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.request("GET", path, **kwargs)

    def close(self) -> None:
        self.session.close()


def _reason(exc: Exception) -> str:
    """The innermost, most specific reason of a requests exception, on one line."""
    text = str(exc)
    for marker in ("Errno", "refused", "Name or service", "timed out", "CERTIFICATE"):
        if marker in text:
            start = text.rfind("[", 0, text.find(marker))
            return text[start if start >= 0 else 0:].split("'))")[0].split('"))')[0].strip()
    return text.splitlines()[0] if text else type(exc).__name__
