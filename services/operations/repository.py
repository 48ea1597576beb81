"""All SQL reading dead letters and quarantine."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, RowMapping, text

from services.db import PgConn


def dead_letters(conn: Connection, since: datetime | None, limit: int) -> list[RowMapping]:
    """Newest first, received at or after `since` when given."""
    return list(
        conn.execute(
            text("""
            SELECT id, topic, reason, received_at, payload, building_id, device_id FROM dead_letters
            WHERE CAST(:since AS timestamptz) IS NULL OR received_at >= :since
            ORDER BY received_at DESC, id DESC
            LIMIT :limit
        """),
            {"since": since, "limit": limit},
        ).mappings()
    )


def pending_quarantine(conn: Connection, limit: int) -> list[RowMapping]:
    """Messages still waiting for their device to be registered, oldest first."""
    return list(
        conn.execute(
            text("""
            SELECT id, topic, kind, building_id, device_id, received_at FROM quarantine
            WHERE replayed_at IS NULL
            ORDER BY id
            LIMIT :limit
        """),
            {"limit": limit},
        ).mappings()
    )


def record_processing_error(conn: PgConn, process: str, item: str, error: str) -> None:
    """An item a maintenance loop (rollups, alerts, syncs) failed on and skipped (psycopg connection)."""
    conn.execute("INSERT INTO processing_errors (process, item, error) VALUES (%s, %s, %s)",
                 [process, item[:200], error.replace("\x00", "\\0")[:2000]])
