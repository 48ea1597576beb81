"""One failure boundary per item for the maintenance loops (rollups per meter, alerts per building, syncs per source).

An item whose work raises is rolled back to its savepoint, recorded (`processing_errors`, a log line with the
traceback, the `energiblik_processing_errors_total` counter) and skipped: the loop goes on with the next item, so one
bad meter can never freeze every figure in a crash loop. A lost database connection is not the item's fault: it
propagates, and the loop reconnects and tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import Counter

from services.db import PgConn, connection_lost
from services.operations import repository as operations_repo

log = logging.getLogger(__name__)

PROCESSING_ERRORS = Counter("energiblik_processing_errors", "items a maintenance loop failed on and skipped",
                            ["process"])


def one_item(conn: PgConn, process: str, item: str, work: Callable[[], None],
             on_error: Callable[[str], None] | None = None) -> bool:
    """Run `work` in a savepoint of the caller's transaction; True when it succeeded. On any exception but a lost
    connection: roll the item back, record it, call `on_error(error)` (e.g. to retry it later), return False."""
    try:
        with conn.transaction():
            work()
        return True
    except Exception as exc:
        if connection_lost(conn, exc):
            raise
        error = f"{type(exc).__name__}: {exc}"
        log.exception("failed on one item; recorded and skipped", extra={"process": process, "item": item})
        PROCESSING_ERRORS.labels(process).inc()
        with conn.transaction():
            operations_repo.record_processing_error(conn, process, item, error)
            if on_error is not None:
                on_error(error)
        return False
