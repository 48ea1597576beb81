"""`python -m ingest.alerts`: evaluate the alert rules every minute and deliver webhook notifications; make
future-dated registry changes current when their date comes.

Each evaluation judges the data as stored (readings, rollups, decisions, telemetry) for the last few complete days,
so late data is judged too; alerts are deduplicated per period, so running it again (or two of it) changes nothing.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ingest.loop import Conn, run_forever
from services.alerts.service import evaluate
from services.alerts.webhook import deliver_due
from services.config import get_settings
from services.logs import setup_logging

log = logging.getLogger("energiblik.alerts")
LOCK = 20261128  # one evaluator at a time (advisory lock)


def run_once(conn: Conn, tz: ZoneInfo, days_back: int) -> None:
    s = get_settings()
    apply_due_registry_changes()  # first: the evaluation reads the registry's current values
    with conn.transaction():
        if conn.execute("SELECT pg_try_advisory_xact_lock(%s)", [LOCK]).fetchone() == (True,):
            out = evaluate(conn, datetime.now(UTC), tz, days_back=days_back)
            if out.opened or out.repeated or out.resolved:
                log.info("alerts evaluated", extra={"opened": out.opened, "repeated": out.repeated,
                                                    "resolved": out.resolved})
    with conn.transaction():
        deliver_due(conn, s.alerts, datetime.now(UTC))


def apply_due_registry_changes() -> None:
    """Future-dated registry changes (heating, group, area, meter parent, luminaire) become the current values when
    their date comes; the histories are already right, this keeps the "as of now" columns in step."""
    from services.db import get_engine, pg
    from services.registry.service import apply_due_changes

    with pg(get_engine(), write=True) as c:
        n = apply_due_changes(c)
    if n:
        log.info("scheduled registry changes became current", extra={"entities": n})


def main() -> int:
    s = get_settings()
    setup_logging(s.log_level, s.log_json)
    tz = ZoneInfo(s.timezone)
    next_eval = 0.0

    def step(conn: Conn) -> bool:
        nonlocal next_eval
        if time.monotonic() >= next_eval:
            run_once(conn, tz, s.alerts.days_back)
            next_eval = time.monotonic() + s.alerts.interval_s
        else:
            with conn.transaction():
                deliver_due(conn, s.alerts, datetime.now(UTC))
        return False

    log.info("alert settings", extra={"interval_s": s.alerts.interval_s, "webhook": bool(s.alerts.webhook_url)})
    return run_forever(log, "alert evaluation", step, min(1.0, s.alerts.interval_s))


if __name__ == "__main__":
    sys.exit(main())
