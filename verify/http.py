"""HTTP for gates: every exchange has a deadline and a byte cap, redirects stay on their origin
unless allowed and are all recorded, and every failure is one line naming the method and URL."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from deploy_gates.verify.excerpt import clip
from deploy_gates.verify.limits import (
    CONNECT_TIMEOUT_S,
    MAX_BYTES,
    MAX_REDIRECTS,
    TIMEOUT_S,
    FollowRedirects,
    size,
)

if TYPE_CHECKING:  # requests and the deadline adapter load with the first Http (gates that use it)
    import requests

    from deploy_gates.verify.http_deadline import Deadline

EXCERPT_CHARS = 2000
CHUNK_BYTES = 64 * 1024
REDIRECTS = (301, 302, 303, 307, 308)
CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie")
"""Headers never sent on to another origin."""


class HttpError(Exception):
    """The request got no usable answer; the message names the method and URL."""


@dataclass(frozen=True)
class Answer:
    """A response, kept small enough to show as evidence, and the redirects that led to it."""

    method: str
    url: str
    status: int
    headers: dict[str, str]
    text: str
    seconds: float
    redirects: tuple[str, ...] = ()
    """Each redirect followed: ``GET http://a/x -> 302 Location: /y``."""

    def json(self) -> Any:
        """The body as JSON; an HttpError naming the URL when it is not JSON."""
        try:
            import requests

            return requests.models.complexjson.loads(self.text)
        except ValueError:
            kind = self.headers.get("Content-Type", "unknown content type")
            raise HttpError(
                f"{self.method} {self.url}: expected a JSON body, got {kind}: {self.text[:80]!r}"
            ) from None

    def excerpt(self) -> str:
        """The redirects, status line, headers and the start of the body, for the report."""
        head = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
        return "\n".join([
            *self.redirects,
            f"{self.method} {self.url} -> {self.status} in {self.seconds * 1000:.0f} ms",
            clip(head, EXCERPT_CHARS), "", clip(self.text, EXCERPT_CHARS),
        ])


class Http:
    """A session bound to a base URL."""

    def __init__(self, base_url: str, *, timeout_s: float = TIMEOUT_S,
                 max_bytes: int = MAX_BYTES) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        import requests

        from deploy_gates.verify.http_deadline import DeadlineAdapter

        self.session = requests.Session()
        adapter = DeadlineAdapter()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def url(self, path: str) -> str:
        """``path`` joined to the base URL (absolute URLs pass through)."""
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def request(self, method: str, path: str, *, timeout_s: float | None = None,
                max_bytes: int | None = None, max_bytes_key: str = "max_bytes",
                follow_redirects: FollowRedirects = "same-origin", **kwargs: Any) -> Answer:
        """Send one request and read its answer within ``timeout_s`` in all, redirects included;
        an HttpError says why there is no answer. A body over ``max_bytes`` is an error naming
        ``max_bytes_key``, the spec key that sets the cap."""
        from deploy_gates.verify.http_deadline import Deadline

        url = self.url(path)
        cap = max_bytes or self.max_bytes
        start = time.perf_counter()
        hops: list[str] = []
        with Deadline(timeout_s or self.timeout_s) as deadline:
            while True:
                response = self._send(deadline, method, url, **kwargs)
                with response:
                    target = _redirect(response, url, follow_redirects)
                    if target is None:
                        body = _read(response, deadline, cap, max_bytes_key, method, url)
                        break
                hops.append(f"{method} {url} -> {response.status_code} Location: "
                            + clip(response.headers["Location"], EXCERPT_CHARS))
                moved = f"{response.status_code} -> {target}"
                elsewhere = _origin(target) != _origin(url)
                if elsewhere and follow_redirects == "same-origin":
                    raise HttpError(f"{method} {url}: redirect to another origin not followed "
                                    f"(follow_redirects: same-origin): {moved}")
                if len(hops) > MAX_REDIRECTS:
                    raise HttpError(f"{method} {url}: more than {MAX_REDIRECTS} redirects: {moved}")
                method, kwargs = _redirected(method, response.status_code, kwargs, elsewhere)
                url = target
        return Answer(method, url, response.status_code, dict(response.headers),
                      _decode(body, response.encoding), time.perf_counter() - start, tuple(hops))

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.request("GET", path, **kwargs)

    def close(self) -> None:
        self.session.close()

    def _send(self, deadline: Deadline, method: str, url: str, **kwargs: Any
              ) -> requests.Response:
        """One request, its answer's head read; the body is left to stream."""
        import requests

        from deploy_gates.verify.http_deadline import CONNECTING, current

        left = max(deadline.remaining(), 0.001)
        deadline.phase = CONNECTING
        token = current.set(deadline)
        try:
            return self.session.request(
                method, url, timeout=(min(CONNECT_TIMEOUT_S, left), left), stream=True,
                allow_redirects=False, **kwargs,
            )
        except requests.exceptions.RequestException as exc:
            raise HttpError(_failure(method, url, exc, deadline)) from None
        finally:
            current.reset(token)


def _redirect(response: requests.Response, url: str, follow: FollowRedirects) -> str | None:
    """Where ``response`` redirects to, when it is a redirect to follow (or refuse)."""
    location = response.headers.get("Location")
    if follow == "none" or response.status_code not in REDIRECTS or not location:
        return None
    return urljoin(url, location)


def _redirected(method: str, status: int, kwargs: dict[str, Any], elsewhere: bool
                ) -> tuple[str, dict[str, Any]]:
    """The method and arguments of the request that follows a redirect, as browsers (and
    requests) send it: 303, and 301/302 after a POST, become a GET without a body; the query is
    the Location's; credentials are not sent to another origin."""
    kwargs = {k: v for k, v in kwargs.items() if k != "params"}
    if method != "HEAD" and (status == 303 or (status in (301, 302) and method == "POST")):
        method = "GET"
        kwargs = {k: v for k, v in kwargs.items() if k not in ("json", "data", "files")}
    if elsewhere:
        kwargs.pop("auth", None)
        headers = kwargs.get("headers") or {}
        kwargs["headers"] = {k: v for k, v in headers.items()
                             if k.lower() not in CREDENTIAL_HEADERS}
    return method, kwargs


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def _read(response: requests.Response, deadline: Deadline, cap: int, key: str, method: str,
          url: str) -> bytes:
    """The body, streamed, refused past ``cap`` bytes (decoded)."""
    import requests

    from deploy_gates.verify.http_deadline import READING

    declared = response.headers.get("Content-Length", "") if method != "HEAD" else ""
    if declared.isdigit() and int(declared) > cap:
        raise HttpError(f"{method} {url}: body of {size(int(declared))} (Content-Length) over the "
                        f"{size(cap)} cap ({key})")
    deadline.phase = READING
    body = bytearray()
    try:
        for chunk in response.iter_content(CHUNK_BYTES):
            body += chunk
            if len(body) > cap:
                raise HttpError(f"{method} {url}: body over the {size(cap)} cap ({key})")
    except requests.exceptions.RequestException as exc:
        total = f" of {declared}" if declared.isdigit() else ""
        received = f"{response.raw.tell()}{total} bytes received"
        raise HttpError(_failure(method, url, exc, deadline, received)) from None
    return bytes(body)


def _failure(method: str, url: str, exc: Exception, deadline: Deadline,
             received: str = "") -> str:
    """The one-line reason an exchange failed; a timeout names the phase it happened in."""
    import requests
    from urllib3.exceptions import ReadTimeoutError

    from deploy_gates.verify.http_deadline import CONNECTING, TLS_HANDSHAKE, WAITING

    where = f"{method} {url}"
    timed_out = deadline.expired or isinstance(exc, requests.exceptions.Timeout) or any(
        isinstance(arg, ReadTimeoutError) for arg in exc.args)
    connect_s = min(CONNECT_TIMEOUT_S, deadline.seconds)
    if timed_out and deadline.phase == CONNECTING:
        return f"{where}: no connection within {connect_s:g} s"
    if timed_out and deadline.phase == TLS_HANDSHAKE:
        return f"{where}: no TLS handshake within {connect_s:g} s"
    if timed_out and deadline.phase == WAITING:
        return f"{where}: no answer within {deadline.seconds:g} s"
    if timed_out:
        return f"{where}: no complete answer within {deadline.seconds:g} s ({received})"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"{where}: TLS error: {_reason(exc)}"
    if received:
        return f"{where}: answer cut short ({received}): {_reason(exc)}"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return f"{where}: cannot connect: {_reason(exc)}"
    return f"{where}: {_reason(exc)}"


def _decode(body: bytes, encoding: str | None) -> str:
    try:
        return body.decode(encoding or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", errors="replace")


def _reason(exc: Exception) -> str:
    """The innermost, most specific reason of a requests exception, on one line."""
    text = str(exc)
    for marker in ("Errno", "refused", "Name or service", "timed out", "CERTIFICATE"):
        if marker in text:
            start = text.rfind("[", 0, text.find(marker))
            return text[start if start >= 0 else 0:].split("'))")[0].split('"))')[0].strip()
    return text.splitlines()[0] if text else type(exc).__name__
