"""`python -m ingest.rollups`: keep the consumption rollups up to date, beside the ingest workers.

Ingest workers record, in the transaction that stores readings, which reading ranges changed (`rollup_dirty`); this
process recomputes the affected days once a second. It runs apart from the workers so that recomputing cannot slow
down draining a backlog (docs/benchmarks.md); several may run (advisory locks per meter). A worker can also do it
inline (ENERGIBLIK_INGEST__ROLLUPS=true), which suits small installations.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from types import FrameType
from zoneinfo import ZoneInfo

import psycopg

from services.config import get_settings
from services.consumption.service import process_dirty
from services.db import libpq_dsn
from services.logs import setup_logging

log = logging.getLogger("energiblik.rollups")


def main() -> int:
    s = get_settings()
    setup_logging(s.log_level, s.log_json)
    tz = ZoneInfo(s.timezone)
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    conn: psycopg.Connection[tuple[object, ...]] | None = None
    log.info("rollup maintenance started")
    while not stopping:
        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(libpq_dsn(s.db.url), connect_timeout=5)
            with conn.transaction():
                n = process_dirty(conn, tz, s.ingest.rollup_batch)
            if n:
                continue  # more may be waiting
        except psycopg.OperationalError as exc:
            log.warning("database unavailable; retrying", extra={"error": str(exc).strip()[:200]})
            conn = None
        time.sleep(s.ingest.rollup_interval_s)
    if conn is not None:
        conn.close()
    log.info("rollup maintenance stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
