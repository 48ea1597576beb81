"""What the fake external servers (fake_dmi, fake_energidataservice) share: a threaded HTTP server whose answers a
test steers over `POST /_control` (JSON):

- `{"fail": [{"status": 429, "retry_after": 1}, {"status": 503}]}` — the next requests get these errors, in order
  (a `Retry-After` header when `retry_after` is given), then normal answers again; a failure with
  `"match": {"timeResolution": "day"}` waits for a request whose query has those values (`"times": n` repeats it);
- `{"now": "2026-11-30T06:00:00+00:00"}` — the server's clock (what is published depends on it); `null` = real time;
- `{"override": {...}}` — source-specific corrections of published values (see each server);
- `GET /_requests` lists the requests received (path and query), for tests that check paging and retries.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class FakeState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.failures: list[dict[str, Any]] = []
        self.fixed_now: datetime | None = None
        self.overrides: dict[str, float | None] = {}
        self.requests: list[dict[str, Any]] = []

    def now(self) -> datetime:
        return self.fixed_now or datetime.now(UTC)

    def control(self, body: dict[str, Any]) -> None:
        with self.lock:
            if "fail" in body:
                self.failures = list(body["fail"])
            if "now" in body:
                self.fixed_now = datetime.fromisoformat(body["now"]) if body["now"] else None
            if "override" in body:
                self.overrides.update(body["override"])
            if body.get("reset"):
                self.failures, self.fixed_now, self.overrides, self.requests = [], None, {}, []

    def next_failure(self, query: dict[str, str]) -> dict[str, Any] | None:
        with self.lock:
            for i, f in enumerate(self.failures):
                if all(query.get(k) == v for k, v in (f.get("match") or {}).items()):
                    if f.get("times", 1) > 1:
                        f["times"] -= 1
                    else:
                        self.failures.pop(i)
                    return f
            return None


Answer = tuple[int, dict[str, str], Any]


def make_handler(state: FakeState, route: Callable[[str, dict[str, list[str]], dict[str, str]], Answer]
                 ) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read /_requests instead
            pass

        def _send(self, status: int, headers: dict[str, str], body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/_control":
                self._send(404, {}, {"error": "not found"})
                return
            n = int(self.headers.get("Content-Length") or 0)
            state.control(json.loads(self.rfile.read(n) or b"{}"))
            self._send(200, {}, {"ok": True})

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/_requests":
                with state.lock:
                    self._send(200, {}, state.requests)
                return
            query = parse_qs(parts.query)
            with state.lock:
                state.requests.append({"path": parts.path, "query": {k: v[0] for k, v in query.items()}})
            failure = state.next_failure({k: v[0] for k, v in query.items()})
            if failure is not None:
                headers = {}
                if failure.get("retry_after") is not None:
                    headers["Retry-After"] = str(failure["retry_after"])
                self._send(int(failure["status"]), headers, {"error": failure.get("message", "injected failure")})
                return
            status, headers, body = route(parts.path, query, dict(self.headers.items()))
            self._send(status, headers, body)

    return Handler


def serve(state: FakeState, route: Callable[[str, dict[str, list[str]], dict[str, str]], Answer], host: str,
          port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), make_handler(state, route))
    server.daemon_threads = True
    return server
