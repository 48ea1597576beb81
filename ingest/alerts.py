"""`python -m ingest.alerts`: evaluate the alert rules every minute and deliver webhook notifications.

Each evaluation judges the data as stored (readings, rollups, decisions, telemetry) for the last few complete days,
so late data is judged too; alerts are deduplicated per period, so running it again (or two of it) changes nothing.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from datetime import UTC, datetime
from types import FrameType
from zoneinfo import ZoneInfo

import psycopg

from services.alerts.service import evaluate
from services.alerts.webhook import deliver_due
from services.config import get_settings
from services.db import libpq_dsn
from services.logs import setup_logging

log = logging.getLogger("energiblik.alerts")
LOCK = 20261128  # one evaluator at a time (advisory lock)


def run_once(conn: psycopg.Connection[tuple[object, ...]], tz: ZoneInfo, days_back: int) -> None:
    s = get_settings()
    with conn.transaction():
        if conn.execute("SELECT pg_try_advisory_xact_lock(%s)", [LOCK]).fetchone() == (True,):
            out = evaluate(conn, datetime.now(UTC), tz, days_back=days_back)
            if out.opened or out.repeated or out.resolved:
                log.info("alerts evaluated", extra={"opened": out.opened, "repeated": out.repeated,
                                                    "resolved": out.resolved})
    with conn.transaction():
        deliver_due(conn, s.alerts, datetime.now(UTC))


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
    log.info("alert evaluation started", extra={"interval_s": s.alerts.interval_s,
                                                "webhook": bool(s.alerts.webhook_url)})
    next_eval = 0.0
    while not stopping:
        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(libpq_dsn(s.db.url), connect_timeout=5)
            if time.monotonic() >= next_eval:
                run_once(conn, tz, s.alerts.days_back)
                next_eval = time.monotonic() + s.alerts.interval_s
            else:
                with conn.transaction():
                    deliver_due(conn, s.alerts, datetime.now(UTC))
        except psycopg.OperationalError as exc:
            log.warning("database unavailable; retrying", extra={"error": str(exc).strip()[:200]})
            conn = None
        time.sleep(min(1.0, s.alerts.interval_s))
    if conn is not None:
        conn.close()
    log.info("alert evaluation stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
