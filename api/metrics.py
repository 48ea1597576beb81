"""Prometheus metrics of the API itself, beside the workers': requests by route template, method and status, their
latency, and the requests in flight. Served on a separate localhost port (ENERGIBLIK_API_METRICS_PORT, default 9120)
like the workers' /metrics, not on the public API port.

Routes are labelled by their template (`/api/v1/buildings/{building_id}`), never the raw path: a label per building
id (or per probe of an attacker) would grow without bound. Requests no route matched are labelled `unmatched`."""

from __future__ import annotations

import logging
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from api.hardening import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry()
REQUESTS = Counter("energiblik_api_requests", "HTTP requests answered, by route template, method and status",
                   ["route", "method", "status"], registry=REGISTRY)
LATENCY = Histogram("energiblik_api_request_duration_seconds", "time to the end of the answer, by route template",
                    ["route", "method"], registry=REGISTRY,
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
IN_FLIGHT = Gauge("energiblik_api_requests_in_flight", "requests being answered", registry=REGISTRY)


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    raw = str(scope.get("path", ""))
    # mounted static files (the dashboard's, the docs' assets): one label per mount, whatever the file
    for prefix in ("/static/", "/docs-assets/"):
        if raw.startswith(prefix):
            return prefix + "*"
    return "unmatched"


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500  # an exception that escapes every handler ends as a 500 from the server

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, watch)
        finally:
            IN_FLIGHT.dec()
            route, method = _route(scope), str(scope.get("method", ""))
            REQUESTS.labels(route, method, str(status)).inc()
            LATENCY.labels(route, method).observe(time.perf_counter() - t0)


def serve(host: str, port: int) -> None:
    """Serve /metrics in a daemon thread; the API goes on without it if the port is taken (and says so)."""
    if port <= 0:
        return
    try:
        start_http_server(port, addr=host, registry=REGISTRY)
    except OSError as exc:
        log.error("API metrics endpoint not served", extra={"port": port, "error": str(exc)})
