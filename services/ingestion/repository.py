"""SQL of ingestion: the registry as the pipeline looks devices up, dead letters and quarantine. The caller owns the
transaction. Storing readings, telemetry and heat samples is the readings slice's (services/readings/repository.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import sql

from services.db import PgConn

# (topic, payload, reason, building_id, device_id, received_at)
DeadLetterRow = tuple[str, bytes, str, str | None, str | None, datetime]
# (topic, kind, building_id, device_id, payload, received_at)
QuarantineRow = tuple[str, str, str, str, bytes, datetime]
# (id, topic, payload, received_at) of a quarantined message waiting for its device
PendingRow = tuple[Any, ...]


def insert_dead_letters(conn: PgConn, rows: Sequence[DeadLetterRow]) -> None:
    """(topic, payload, reason, building_id, device_id, received_at)"""
    if rows:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO dead_letters (topic, payload, reason, building_id, device_id, received_at) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                rows,
            )


def insert_quarantine(conn: PgConn, rows: Sequence[QuarantineRow]) -> None:
    """(topic, kind, building_id, device_id, payload, received_at)"""
    if rows:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO quarantine (topic, kind, building_id, device_id, payload, received_at) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                rows,
            )


# -- the registry, as the pipeline's cache loads it -------------------------------------------------------------------

def registry_version(conn: PgConn) -> int:
    """The registry's version: it moves whenever a meter or luminaire is added, changed or removed."""
    row = conn.execute("SELECT version FROM registry_state").fetchone()
    return int(row[0]) if row else 0


def load_meters(
    conn: PgConn, ids: Sequence[str] | None = None,
    external_ids: Sequence[str] | None = None,
) -> list[tuple[str, int, str, str, str | None, str]]:
    """(id, key, building_id, unit, external_id, mode) of all meters, or of those with the given ids/external ids."""
    query = "SELECT id, key, building_id, unit, external_id, mode FROM meters"
    if ids is None and external_ids is None:
        return list(conn.execute(query).fetchall())
    cur = conn.execute(
        sql.SQL(query + " WHERE id = ANY(%s) OR external_id = ANY(%s)"), [list(ids or []), list(external_ids or [])]
    )
    return list(cur.fetchall())


def load_luminaires(
    conn: PgConn, ids: Sequence[str] | None = None
) -> list[tuple[str, int, str]]:
    """(id, key, building_id) of all luminaires, or of those with the given ids."""
    if ids is None:
        return list(conn.execute("SELECT id, key, building_id FROM luminaires").fetchall())
    cur = conn.execute("SELECT id, key, building_id FROM luminaires WHERE id = ANY(%s)", [list(ids)])
    return list(cur.fetchall())


def meter_external_id(conn: PgConn, meter_id: str) -> str | None:
    """The meter's external id (a wmbus telegram's id, a GSRN), if it has one."""
    row = conn.execute("SELECT external_id FROM meters WHERE id = %s", [meter_id]).fetchone()
    return row[0] if row and row[0] else None


# -- quarantine replay -------------------------------------------------------------------------------------------------

_PENDING_FOR_DEVICE = """
SELECT id, topic, payload, received_at FROM quarantine
WHERE replayed_at IS NULL AND kind = %s AND device_id = %s
ORDER BY id FOR UPDATE SKIP LOCKED
"""

_PENDING_RESOLVABLE = """
SELECT q.id, q.topic, q.payload, q.received_at FROM quarantine q
WHERE q.replayed_at IS NULL AND (
    (q.kind = 'meter' AND EXISTS (SELECT 1 FROM meters m WHERE m.id = q.device_id))
 OR (q.kind = 'wmbus' AND EXISTS (SELECT 1 FROM meters m WHERE m.external_id = q.device_id))
 OR (q.kind = 'luminaire' AND EXISTS (SELECT 1 FROM luminaires l WHERE l.id = q.device_id)))
ORDER BY q.id LIMIT %s FOR UPDATE SKIP LOCKED
"""


def pending_for_device(conn: PgConn, kind: str, device_id: str) -> list[PendingRow]:
    """The messages quarantined for one device and not replayed yet, oldest first, locked (others skip them)."""
    return list(conn.execute(_PENDING_FOR_DEVICE, [kind, device_id]).fetchall())


def pending_resolvable(conn: PgConn, limit: int) -> list[PendingRow]:
    """Up to `limit` quarantined messages whose device is registered by now, oldest first, locked."""
    return list(conn.execute(_PENDING_RESOLVABLE, [limit]).fetchall())


def mark_replayed(conn: PgConn, ids: Sequence[Any]) -> None:
    conn.execute("UPDATE quarantine SET replayed_at = now() WHERE id = ANY(%s)", [list(ids)])
