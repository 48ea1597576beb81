"""`python -m ingest.sync`: the connectors' scheduler. Every ENERGIBLIK_SYNC__TICK_S it asks which enabled sources
are due (each source says when: Eloverblik nightly, DMI daily, Energi Data Service hourly, the utility inbox every
few minutes) and runs them one after another, each as a recorded run (GET /api/v1/sync). A source that fails ends
its run 'failed' with the message and is tried again at its next time; it never stops the scheduler or the others.

Serves /metrics and /health on ENERGIBLIK_SYNC__METRICS_PORT (default 9119): runs per source and outcome, rows
stored, and the age of each source's last run.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge

from ingest.loop import Conn, run_forever
from ingest.metrics import serve_http
from services.config import get_settings
from services.connectors.service import AlreadyRunning, due, report_schedule, run_source
from services.logs import setup_logging

log = logging.getLogger("energiblik.sync")


class SyncMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.runs = Counter("energiblik_sync_runs", "connector runs by source and outcome", ["source", "status"],
                            registry=r)
        self.stored = Counter("energiblik_sync_rows_stored", "readings or values a connector stored", ["source"],
                              registry=r)
        self.rejected = Counter("energiblik_sync_rows_rejected", "rows a connector delivered that were refused",
                                ["source"], registry=r)
        self.last_finished = Gauge("energiblik_sync_last_finished_timestamp_seconds",
                                   "when a source's last run finished", ["source"], registry=r)
        self.last_loop = time.monotonic()

    def health(self) -> tuple[bool, dict[str, object]]:
        stalled = time.monotonic() - self.last_loop > max(600.0, 10 * get_settings().sync.tick_s)
        return not stalled, {"loop_stalled": stalled}


def main() -> int:
    s = get_settings()
    setup_logging(s.log_level, s.log_json)
    metrics = SyncMetrics()
    try:
        serve_http(metrics.registry, s.sync.metrics_host, s.sync.metrics_port, metrics.health)
    except OSError as exc:
        log.error("metrics endpoint not served", extra={"port": s.sync.metrics_port, "error": str(exc)})

    reporter = f"{socket.gethostname()}:{os.getpid()}"

    def step(conn: Conn) -> bool:
        metrics.last_loop = time.monotonic()
        with conn.transaction():
            names = due(conn, s, datetime.now(UTC))
            report_schedule(conn, s, reporter)
        for name in names:
            try:
                run = run_source(name, settings=s, trigger="schedule", actor="scheduler")
            except AlreadyRunning:
                continue  # the CLI or another scheduler has it; its run is recorded there
            metrics.runs.labels(name, run.status).inc()
            metrics.stored.labels(name).inc(run.stored)
            metrics.rejected.labels(name).inc(run.rejected)
            metrics.last_finished.labels(name).set(time.time())
            log.info("sync run ended", extra={"source": name, "status": run.status, "stored": run.stored,
                                              "rejected": run.rejected, "errors": run.errors,
                                              "message": (run.message or "")[:300]})
            metrics.last_loop = time.monotonic()
            with conn.transaction():
                report_schedule(conn, s, reporter)  # the next run, as it is now
        return False

    return run_forever(log, "sync scheduler", step, s.sync.tick_s)


if __name__ == "__main__":
    sys.exit(main())
