"""The composer's guard against the web pages its user visits (ASGI middleware).

Threat model: the server has no login and listens on the loopback address, so the
one attacker who can reach it is a web page open in the user's own browser. Such a
page can (a) point a host name of its own at 127.0.0.1 (DNS rebinding) and then read
every answer as same-origin, and (b) send requests to 127.0.0.1 from its own origin:
a form post or a "simple" ``fetch`` goes out without any CORS preflight, though the
page cannot read the answer. What this refuses, before any route runs:

- a ``Host`` that does not name this server (defeats rebinding: the page's own name
  is in its requests' Host), with Starlette's ``TrustedHostMiddleware`` (400);
- a state-changing request (any method but GET, HEAD, OPTIONS) whose ``Origin`` is
  another origin, or ``null`` (sandboxed frames, files), or whose
  ``Sec-Fetch-Site`` says another site sent it (403); programs such as curl send
  neither header and pass;
- a state-changing request without a ``Content-Type``, or with one of the three
  that a cross-site form may send without a preflight
  (``application/x-www-form-urlencoded``, ``multipart/form-data``, ``text/plain``),
  or, but on the routes that take files, with any type but ``application/json``
  (415), so that no default of the web stack decides how a body is read.

A body whose declared ``Content-Length`` passes its route's limit is refused here
too (413, as JSON); bodies are bounded by FastAPI's ``max_body_size`` while they are
read (chunked ones too), the number of open connections by uvicorn's
``limit_concurrency``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def host_names(host: str, extra: Iterable[str] = ()) -> list[str]:
    """The ``Host`` names a server bound to ``host`` answers to: the loopback names,
    ``host`` itself (IPv6 in brackets) and ``extra``."""
    named = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return sorted({*LOOPBACK_NAMES, named.lower(), *(name.lower() for name in extra)})


class SameOriginWrites:
    """Refuse cross-site state-changing requests (see the module docstring).
    ``takes_files(path)`` says which routes take a file's bytes rather than JSON,
    ``body_limit(path)`` the most bytes a route's body may have and the words that
    say so."""

    def __init__(self, app: ASGIApp, takes_files: Callable[[str], bool],
                 body_limit: Callable[[str], tuple[int, str]]) -> None:
        self.app, self.takes_files, self.body_limit = app, takes_files, body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            headers = Headers(scope=scope)
            refusal = self.refusal(headers, self.takes_files(scope["path"]))
            limit, words = self.body_limit(scope["path"])
            if refusal is None and int(headers.get("content-length", "0") or 0) > limit:
                refusal = 413, words
            if refusal is not None:
                status, message = refusal
                await JSONResponse({"error": message}, status_code=status)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    def refusal(headers: Headers, takes_file: bool) -> tuple[int, str] | None:
        """(status, reason) for a request to refuse, None for one to serve."""
        origin = headers.get("origin")
        if origin is not None and urlsplit(origin).netloc.lower() != headers.get("host", "").lower():
            return 403, f"cross-origin request refused (Origin {origin[:80]!r} is not this server)"
        if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return 403, "cross-site request refused (Sec-Fetch-Site: " + headers["sec-fetch-site"][:40] + ")"
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        if not kind:
            return 415, "say what the body is: a Content-Type header (application/json for the API)"
        if kind in FORM_TYPES:
            return 415, f"Content-Type {kind} is refused here (a web form may send it from any site): send " \
                        "application/json to the API, the file's own type (or application/octet-stream) to uploads"
        if not takes_file and kind != "application/json":
            return 415, f"send the request as JSON (Content-Type: application/json, not {kind[:60]})"
        return None

