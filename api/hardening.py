"""What every HTTP answer carries and every request is held to, done once as ASGI middleware: security headers
(no MIME sniffing, no framing, no referrer, API answers never cached) and a request-body size limit checked before
any of the body is read."""

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

# The largest body a request may announce: the CSV imports take up to 20 MiB (api/imports.py MAX_CSV_BYTES).
MAX_BODY_BYTES = 21 * 1024 * 1024

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
]


class _BodyTooLarge(HTTPException):
    """Raised from `receive` when a body without a length grows past the limit: an HTTPException, so that FastAPI's
    body parsing passes it on (it turns any other error into a 400) and the error handler answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large_text(limit))


class Hardening:
    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _too_large(send, self.max_body)
            return
        api = str(scope.get("path", "")).startswith("/api/")
        received = 0
        started = False

        async def counted() -> Message:
            # a body sent without a length (chunked) is counted as it arrives and cut off at the same limit
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body") or b"")
                if received > self.max_body:
                    raise _BodyTooLarge(self.max_body)
            return message

        async def with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers") or [])
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                if api and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))  # per-caller data: never kept by a proxy
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, counted, with_headers)
        except _BodyTooLarge:
            if not started:
                await _too_large(send, self.max_body)


def _too_large_text(limit: int) -> str:
    return f"the request body exceeds {limit} bytes (or announces no valid length); split it"


async def _too_large(send: Send, limit: int) -> None:
    msg = _too_large_text(limit)
    body = json.dumps({"detail": msg, "errors": [{"field": "body", "message": msg}]}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": body})
