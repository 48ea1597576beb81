"""All SQL reading stored series. Each query fetches one row beyond the limit to tell whether more remain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, text


def readings(conn: Connection, meter_key: int, start: datetime, end: datetime, limit: int) -> list[RowMapping]:
    """Readings of a meter in [start, end), oldest first, at most `limit` rows; `revised` tells a replaced value."""
    return list(
        conn.execute(
            text("""
            SELECT r.ts, r.value, r.quality::text AS quality, r.source::text AS source,
                   EXISTS (SELECT 1 FROM reading_revisions rr WHERE rr.meter_key = r.meter_key AND rr.ts = r.ts)
                       AS revised
            FROM readings r
            WHERE r.meter_key = :key AND r.ts >= :start AND r.ts < :end
            ORDER BY r.ts
            LIMIT :limit
        """),
            {"key": meter_key, "start": start, "end": end, "limit": limit},
        ).mappings()
    )


def revisions(
    conn: Connection, meter_key: int, start: datetime | None, end: datetime | None, limit: int
) -> list[RowMapping]:
    """Revisions of a meter's readings whose reading time lies in [start, end) (open ends allowed), in order."""
    params: dict[str, Any] = {"key": meter_key, "start": start, "end": end, "limit": limit}
    return list(
        conn.execute(
            text("""
            SELECT id, ts, old_value, new_value, old_quality::text AS old_quality, new_quality::text AS new_quality,
                   source::text AS source, revised_at
            FROM reading_revisions
            WHERE meter_key = :key
              AND (CAST(:start AS timestamptz) IS NULL OR ts >= :start)
              AND (CAST(:end AS timestamptz) IS NULL OR ts < :end)
            ORDER BY ts, revised_at, id
            LIMIT :limit
        """),
            params,
        ).mappings()
    )


def telemetry(conn: Connection, luminaire_key: int, start: datetime, end: datetime, limit: int) -> list[RowMapping]:
    """Telemetry of a luminaire in [start, end), oldest first, at most `limit` rows."""
    return list(
        conn.execute(
            text("""
            SELECT ts, power_w, energy_wh, dim_pct, is_on AS on, burn_hours, failure
            FROM luminaire_telemetry
            WHERE luminaire_key = :key AND ts >= :start AND ts < :end
            ORDER BY ts
            LIMIT :limit
        """),
            {"key": luminaire_key, "start": start, "end": end, "limit": limit},
        ).mappings()
    )
