"""All SQL reading dead letters and quarantine, and the ingest workers' share-group membership."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from services.db import PgConn


def dead_letters(conn: PgConn, since: datetime | None, limit: int) -> list[dict[str, Any]]:
    """Newest first, received at or after `since` when given."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            SELECT id, topic, reason, received_at, payload, building_id, device_id FROM dead_letters
            WHERE CAST(%(since)s AS timestamptz) IS NULL OR received_at >= %(since)s
            ORDER BY received_at DESC, id DESC
            LIMIT %(limit)s
            """,
            {"since": since, "limit": limit},
        )
        return cur.fetchall()


def pending_quarantine(conn: PgConn, limit: int) -> list[dict[str, Any]]:
    """Messages still waiting for their device to be registered, oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            SELECT id, topic, kind, building_id, device_id, received_at FROM quarantine
            WHERE replayed_at IS NULL
            ORDER BY id
            LIMIT %s
            """,
            [limit],
        )
        return cur.fetchall()


def processing_errors(conn: PgConn, since: datetime | None, process: str | None, limit: int
                      ) -> list[dict[str, Any]]:
    """Newest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            SELECT id, occurred_at, process, item, error FROM processing_errors
            WHERE (CAST(%(since)s AS timestamptz) IS NULL OR occurred_at >= %(since)s)
              AND (CAST(%(process)s AS text) IS NULL OR process = %(process)s)
            ORDER BY occurred_at DESC, id DESC
            LIMIT %(limit)s
            """,
            {"since": since, "process": process, "limit": limit},
        )
        return cur.fetchall()


def record_processing_error(conn: PgConn, process: str, item: str, error: str) -> None:
    """An item a maintenance loop (rollups, alerts, syncs) failed on and skipped."""
    conn.execute("INSERT INTO processing_errors (process, item, error) VALUES (%s, %s, %s)",
                 [process, item[:200], error.replace("\x00", "\\0")[:2000]])


# -- ingest share-group membership (the worker writes it over its own connection) --------------------------------------

MEMBER_COLUMNS = """client_id, share_group, host, pid, started_at, last_seen_at, session_expiry_s, mqtt_connected,
    stopped_at, retired_at, retired_by, drained_messages, broker_stats, broker_stats_at,
    extract(epoch FROM now() - last_seen_at)::float8 AS seconds_since_seen,
    last_seen_at + session_expiry_s * interval '1 second' AS session_expires_at,
    now() AS db_now"""


def join_member(conn: PgConn, client_id: str, share_group: str, *, host: str, pid: int, session_expiry_s: int) -> None:
    """A worker starts: (re)register its client id, which is a member again even if it was retired."""
    conn.execute(
        """
        INSERT INTO ingest_members (client_id, share_group, host, pid, session_expiry_s)
        VALUES (%s, %s, %s, %s, %s)
        ON CONFLICT (client_id) DO UPDATE SET share_group = excluded.share_group, host = excluded.host,
            pid = excluded.pid, session_expiry_s = excluded.session_expiry_s, started_at = now(),
            last_seen_at = now(), mqtt_connected = false, stopped_at = NULL, retired_at = NULL, retired_by = NULL,
            drained_messages = NULL
        """,
        [client_id, share_group, host, pid, session_expiry_s],
    )


def beat(conn: PgConn, client_id: str, mqtt_connected: bool, broker_stats: dict[str, float] | None) -> bool:
    """The heartbeat; False when the row is gone (deleted by hand), so the caller registers again."""
    cur = conn.execute(
        """
        UPDATE ingest_members SET last_seen_at = now(), mqtt_connected = %s,
            broker_stats = coalesce(%s::jsonb, broker_stats),
            broker_stats_at = CASE WHEN %s::jsonb IS NULL THEN broker_stats_at ELSE now() END
        WHERE client_id = %s
        """,
        [mqtt_connected, _json(broker_stats), _json(broker_stats), client_id],
    )
    return cur.rowcount == 1


def leave(conn: PgConn, client_id: str, *, retired_by: str | None, drained_messages: int | None) -> None:
    """A graceful stop (retired_by None: the session lives on) or the end of the session (retired)."""
    conn.execute(
        """
        UPDATE ingest_members SET last_seen_at = now(), mqtt_connected = false, stopped_at = now(),
            retired_at = CASE WHEN %s::text IS NULL THEN NULL ELSE now() END, retired_by = %s,
            drained_messages = %s
        WHERE client_id = %s
        """,
        [retired_by, retired_by, drained_messages, client_id],
    )


def members(conn: PgConn, share_group: str | None) -> list[dict[str, Any]]:
    """Every member (of one share group when given), by client id."""
    cur = conn.execute(
        f"SELECT {MEMBER_COLUMNS} FROM ingest_members WHERE %s::text IS NULL OR share_group = %s ORDER BY client_id",
        [share_group, share_group],
    )
    cols = [d.name for d in cur.description or []]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def _json(value: dict[str, float] | None) -> str | None:
    return None if value is None else json.dumps(value)
