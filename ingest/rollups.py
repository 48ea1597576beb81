"""`python -m ingest.rollups`: keep the consumption rollups up to date, beside the ingest workers.

Ingest workers record, in the transaction that stores readings, which reading ranges changed (`rollup_dirty`); this
process recomputes the affected days once a second. It runs apart from the workers so that recomputing cannot slow
down draining a backlog (docs/benchmarks.md); several may run (advisory locks per meter). A worker can also do it
inline (ENERGIBLIK_INGEST__ROLLUPS=true), which suits small installations.

It serves /metrics and /health (ENERGIBLIK_ROLLUPS__METRICS_PORT, default 9118): how far the rollups are behind
(`energiblik_rollup_lag_seconds`, the age of the oldest pending range, failed ones waiting for a retry included) and
how many ranges are pending. Both are read from the database at each scrape over a connection of their own, so a
stuck loop still shows a growing lag.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from zoneinfo import ZoneInfo

import psycopg
from prometheus_client import CollectorRegistry, Counter, Gauge

from ingest.loop import Conn, run_forever
from ingest.metrics import serve_http
from services.config import Settings, get_settings
from services.consumption import repository as repo
from services.consumption.service import process_dirty
from services.db import libpq_dsn
from services.logs import setup_logging

log = logging.getLogger("energiblik.rollups")


class RollupMetrics:
    def __init__(self, s: Settings) -> None:
        self.s = s
        r = self.registry = CollectorRegistry()
        self.lag = Gauge("energiblik_rollup_lag_seconds",
                         "age of the oldest pending rollup range (0: none pending; NaN: database unreachable)",
                         registry=r)
        self.pending = Gauge("energiblik_rollup_pending_ranges", "reading ranges whose rollups are not recomputed yet",
                             registry=r)
        self.failed = Gauge("energiblik_rollup_failed_ranges",
                            "pending ranges whose recomputation failed and waits for a retry", registry=r)
        self.meters = Counter("energiblik_rollup_meters", "meter ranges recomputed by this process", registry=r)
        self.last_loop = time.monotonic()
        self.backlog: tuple[int, int, float] | None = None  # (pending, failed, lag_s); None: database unreachable

    def refresh(self) -> None:
        """Read the backlog from the database (called by the HTTP thread, on its own short connection)."""
        try:
            with psycopg.connect(libpq_dsn(self.s.db.url), connect_timeout=3, autocommit=True) as conn:
                pending, failed, lag = repo.rollup_backlog(conn)
        except psycopg.Error as exc:
            log.warning("rollup backlog unavailable", extra={"error": str(exc).strip()[:200]})
            self.backlog = None
            for g in (self.lag, self.pending, self.failed):
                g.set(math.nan)
            return
        self.backlog = (pending, failed, max(0.0, lag or 0.0))
        self.pending.set(pending)
        self.failed.set(failed)
        self.lag.set(self.backlog[2])

    def health(self) -> tuple[bool, dict[str, object]]:
        self.refresh()
        stalled = time.monotonic() - self.last_loop > max(60.0, 30 * self.s.ingest.rollup_interval_s)
        b = self.backlog
        doc: dict[str, object] = {
            "database": b is not None, "loop_stalled": stalled,
            "pending_ranges": b[0] if b else None, "failed_ranges": b[1] if b else None,
            "lag_s": round(b[2], 1) if b else None, "lagging": bool(b and b[2] > self.s.rollups.lag_warn_s),
        }
        return b is not None and not stalled, doc


def main() -> int:
    s = get_settings()
    setup_logging(s.log_level, s.log_json)
    tz = ZoneInfo(s.timezone)
    metrics = RollupMetrics(s)
    try:
        serve_http(metrics.registry, s.rollups.metrics_host, s.rollups.metrics_port, metrics.health, metrics.refresh)
    except OSError as exc:  # recomputing matters more than being observed: go on, say so
        log.error("metrics endpoint not served", extra={"port": s.rollups.metrics_port, "error": str(exc)})

    def step(conn: Conn) -> bool:
        metrics.last_loop = time.monotonic()
        with conn.transaction():
            n = process_dirty(conn, tz, s.ingest.rollup_batch)
        metrics.meters.inc(n)
        metrics.last_loop = time.monotonic()
        return n > 0  # more may be waiting

    return run_forever(log, "rollup maintenance", step, s.ingest.rollup_interval_s)


if __name__ == "__main__":
    sys.exit(main())
