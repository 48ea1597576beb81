"""The loop the maintenance processes share (`ingest.rollups`, `ingest.alerts`): a database connection kept open and
reopened after an outage, a step repeated with a pause, and a clean stop on SIGTERM or SIGINT.

Steps handle one item (meter, building) at a time behind services/boundary.py, so an item's failure never reaches
this loop. Anything that still escapes a step (a bug outside any item) is logged with its traceback and retried with a
growing pause: the process stays up, the supervisor's restart loop is not the cure, and the cause stays visible."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from types import FrameType

import psycopg

from services.config import get_settings
from services.db import libpq_dsn

Conn = psycopg.Connection[tuple[object, ...]]


def _sleep_unless(stopping: Callable[[], bool], seconds: float) -> None:
    end = time.monotonic() + seconds
    while not stopping() and time.monotonic() < end:
        time.sleep(min(0.2, end - time.monotonic()))


def run_forever(log: logging.Logger, what: str, step: Callable[[Conn], bool], pause_s: float) -> int:
    """Call `step` until stopped; it returns True when more work is waiting (no pause then)."""
    s = get_settings()
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    conn: Conn | None = None
    failures = 0
    log.info(f"{what} started")
    while not stopping:
        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(libpq_dsn(s.db.url), connect_timeout=5)
            more = step(conn)
            failures = 0
            if more:
                continue
        except psycopg.OperationalError as exc:
            log.warning("database unavailable; retrying", extra={"error": str(exc).strip()[:200]})
            conn = None
        except Exception:
            failures += 1
            log.exception(f"{what}: a step failed; retrying", extra={"failures_in_a_row": failures})
            if conn is not None and (conn.closed or conn.broken):
                conn = None
            _sleep_unless(lambda: stopping, min(pause_s * 2 ** min(failures, 10), 60.0))
            continue
        time.sleep(pause_s)
    if conn is not None:
        conn.close()
    log.info(f"{what} stopped")
    return 0
