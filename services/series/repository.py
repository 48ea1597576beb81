"""All SQL reading stored series. Each query fetches one row beyond the limit to tell whether more remain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from services.db import PgConn


def readings(conn: PgConn, meter_key: int, start: datetime, end: datetime, limit: int) -> list[dict[str, Any]]:
    """Readings of a meter in [start, end), oldest first, at most `limit` rows; `revised` tells a replaced value."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            SELECT r.ts, r.value, r.quality::text AS quality, r.source::text AS source,
                   EXISTS (SELECT 1 FROM reading_revisions rr WHERE rr.meter_key = r.meter_key AND rr.ts = r.ts)
                       AS revised
            FROM readings r
            WHERE r.meter_key = %(key)s AND r.ts >= %(start)s AND r.ts < %(end)s
            ORDER BY r.ts
            LIMIT %(limit)s
            """,
            {"key": meter_key, "start": start, "end": end, "limit": limit},
        )
        return cur.fetchall()


def revisions(
    conn: PgConn, meter_key: int, start: datetime | None, end: datetime | None, limit: int
) -> list[dict[str, Any]]:
    """Revisions of a meter's readings whose reading time lies in [start, end) (open ends allowed), in order."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            SELECT id, ts, old_value, new_value, old_quality::text AS old_quality, new_quality::text AS new_quality,
                   source::text AS source, revised_at
            FROM reading_revisions
            WHERE meter_key = %(key)s
              AND (CAST(%(start)s AS timestamptz) IS NULL OR ts >= %(start)s)
              AND (CAST(%(end)s AS timestamptz) IS NULL OR ts < %(end)s)
            ORDER BY ts, revised_at, id
            LIMIT %(limit)s
            """,
            {"key": meter_key, "start": start, "end": end, "limit": limit},
        )
        return cur.fetchall()


def telemetry(conn: PgConn, luminaire_key: int, start: datetime, end: datetime, limit: int) -> list[dict[str, Any]]:
    """Telemetry of a luminaire in [start, end), oldest first, at most `limit` rows."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            SELECT ts, power_w, energy_wh, dim_pct, is_on AS on, burn_hours, failure
            FROM luminaire_telemetry
            WHERE luminaire_key = %(key)s AND ts >= %(start)s AND ts < %(end)s
            ORDER BY ts
            LIMIT %(limit)s
            """,
            {"key": luminaire_key, "start": start, "end": end, "limit": limit},
        )
        return cur.fetchall()
