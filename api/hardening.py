"""What every HTTP answer carries and every request is held to, done once as ASGI middleware: security headers
(no MIME sniffing, no framing, no referrer, a Content-Security-Policy per kind of answer, API answers never cached)
and a request-body size limit per kind of body, checked before any of the body is read (and before authentication)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The file uploads (CSV and xlsx imports, every one under /api/v1/imports/) take up to 20 MiB (api/imports.py
# MAX_CSV_BYTES): their bodies may be a little larger. Every other body is JSON, and the largest legitimate one (a
# registry PUT with its texts of at most 300 characters and opening hours, a target, an alert rule, the normal
# year's 12 values) is a few KiB: 64 KiB leaves room and keeps a body of unknown keys from costing seconds to refuse.
UPLOAD_PREFIX = "/api/v1/imports/"
MAX_UPLOAD_BYTES = 21 * 1024 * 1024
MAX_JSON_BYTES = 64 * 1024


def body_limit(path: str) -> int:
    """The most bytes a request to `path` may send: file uploads the large limit, every other (JSON) body the small."""
    return MAX_UPLOAD_BYTES if path.startswith(UPLOAD_PREFIX) else MAX_JSON_BYTES


# Content-Security-Policy per kind of answer. API answers (JSON, CSV) load nothing. The dashboard loads its own
# scripts, styles and the chart library from itself, nothing inline; `data:` for the empty favicon. /docs (Swagger UI)
# sets its own in api/app.py: its init script allowed by hash, its styles (set inline by the library) allowed.
API_CSP = b"default-src 'none'; frame-ancestors 'none'"
DASHBOARD_CSP = (b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                 b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


def _csp(path: str) -> bytes:
    return DASHBOARD_CSP if path == "/dashboard" or path.startswith("/dashboard/") else API_CSP


class _BodyTooLarge(HTTPException):
    """Raised from `receive` when a body without a length grows past the limit: an HTTPException, so that FastAPI's
    body parsing passes it on (it turns any other error into a 400) and the error handler answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large_text(limit))


class Hardening:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        limit = body_limit(path)
        csp = (b"content-security-policy", _csp(path))
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _too_large(send, limit, csp)
            return
        api = path.startswith("/api/")
        received = 0
        started = False

        async def counted() -> Message:
            # a body sent without a length (chunked) is counted as it arrives and cut off at the same limit
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body") or b"")
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        async def with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers") or [])
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in (*SECURITY_HEADERS, csp) if k not in present]
                if api and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))  # per-caller data: never kept by a proxy
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, counted, with_headers)
        except _BodyTooLarge:
            if not started:
                await _too_large(send, limit, csp)


def _too_large_text(limit: int) -> str:
    what = "split the file" if limit == MAX_UPLOAD_BYTES else "a JSON body is a few KiB at most"
    return f"the request body exceeds {limit} bytes (or announces no valid length); {what}"


def too_large_description(path: str) -> str:
    """The 413 of an operation on `path` that takes a body, as the OpenAPI document describes it."""
    limit = body_limit(path)
    kind = "a file upload" if limit == MAX_UPLOAD_BYTES else "a JSON body"
    return (f"the body is larger than {limit} bytes ({limit // 1024} KiB, the limit of {kind}), or a chunked body "
            "grew past it: refused before authentication and before it is read")


async def _too_large(send: Send, limit: int, csp: tuple[bytes, bytes]) -> None:
    msg = _too_large_text(limit)
    body = json.dumps({"detail": msg, "errors": [{"field": "body", "message": msg}]}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *SECURITY_HEADERS, csp]})
    await send({"type": "http.response.body", "body": body})
