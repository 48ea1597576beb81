"""Prometheus metrics and a health endpoint for the ingest worker (and the rollup process), served from a small HTTP
thread.

The thread only reads counters; all MQTT and database work stays on the worker's single thread.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.received = Counter("energiblik_ingest_messages_received", "MQTT messages received", registry=r)
        self.readings_received = Counter("energiblik_ingest_readings_received",
                                         "readings in valid messages for known meters", registry=r)
        self.stored = Counter("energiblik_ingest_readings_stored", "new readings stored", registry=r)
        self.duplicates = Counter("energiblik_ingest_readings_duplicate", "readings already stored", registry=r)
        self.revisions = Counter("energiblik_ingest_readings_revised", "readings that changed a stored value",
                                 registry=r)
        self.telemetry_stored = Counter("energiblik_ingest_telemetry_stored", "luminaire samples stored", registry=r)
        self.dead_lettered = Counter("energiblik_ingest_dead_lettered", "messages sent to the dead-letter store",
                                     registry=r)
        self.internal_errors = Counter("energiblik_ingest_internal_errors",
                                       "messages dead-lettered for an unexpected error while handling them (a bug)",
                                       registry=r)
        self.quarantined = Counter("energiblik_ingest_quarantined", "messages for unknown devices", registry=r)
        self.batches = Counter("energiblik_ingest_batches", "committed batches", registry=r)
        self.rollup_meters = Counter("energiblik_ingest_rollup_meters", "meter ranges whose rollups were recomputed",
                                     registry=r)
        self.db_errors = Counter("energiblik_ingest_db_errors", "failed batch attempts (database)", registry=r)
        self.batch_seconds = Histogram(
            "energiblik_ingest_batch_seconds", "time to process and commit one batch",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r)
        self.queue_depth = Gauge("energiblik_ingest_queue_depth", "messages held, not yet committed", registry=r)
        self.last_loop = time.monotonic()

    def heartbeat(self) -> None:
        self.last_loop = time.monotonic()


def serve(metrics: Metrics, host: str, port: int, health: Callable[[], dict[str, object]]) -> ThreadingHTTPServer:
    """Serve /metrics and /health in a daemon thread; `health` reports the worker's state."""

    def state() -> tuple[bool, dict[str, object]]:
        stalled = time.monotonic() - metrics.last_loop > 30
        doc = health()
        ok = bool(doc.get("mqtt_connected")) and not stalled
        return ok, {**doc, "loop_stalled": stalled}

    return serve_http(metrics.registry, host, port, state)


def serve_http(registry: CollectorRegistry, host: str, port: int, health: Callable[[], tuple[bool, dict[str, object]]],
               refresh: Callable[[], None] | None = None) -> ThreadingHTTPServer:
    """Serve /metrics (after `refresh`, which may update gauges) and /health (200 when `health` says ok, else 503,
    with its document and `status`) in a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                if refresh is not None:
                    refresh()
                body = generate_latest(registry)
                self._send(200, body, CONTENT_TYPE_LATEST)
            elif self.path == "/health":
                ok, state = health()
                doc = {**state, "status": "ok" if ok else "degraded"}
                self._send(200 if ok else 503, json.dumps(doc).encode(), "application/json")
            else:
                self._send(404, b"not found", "text/plain")

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
