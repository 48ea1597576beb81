"""The loop the maintenance processes share (`ingest.rollups`, `ingest.alerts`): a database connection kept open and
reopened after an outage, a step repeated with a pause, and a clean stop on SIGTERM or SIGINT."""

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
    log.info(f"{what} started")
    while not stopping:
        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(libpq_dsn(s.db.url), connect_timeout=5)
            if step(conn):
                continue
        except psycopg.OperationalError as exc:
            log.warning("database unavailable; retrying", extra={"error": str(exc).strip()[:200]})
            conn = None
        time.sleep(pause_s)
    if conn is not None:
        conn.close()
    log.info(f"{what} stopped")
    return 0
