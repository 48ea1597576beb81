"""All SQL of the dashboard slice. Functions take a connection inside a transaction the caller owns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from services.db import PgConn


@dataclass(frozen=True)
class MeterRow:
    """A meter with its latest reading time and the measured seconds of its active days in a window."""

    meter_id: str
    building_id: str
    carrier: str
    unit: str
    parent_meter_id: str | None
    last_reading: datetime | None
    active_from: datetime | None
    active_to: datetime | None
    replaced_by: str | None
    measured_s: float


def meters_with_last_reading(conn: PgConn, building_ids: Sequence[str] | None, *, first: date, until: date,
                             tz: str) -> list[MeterRow]:
    """Every meter of the buildings (None: every building), by building and id, with its latest reading time and the
    measured seconds of the daily rollup in local days [first, until) that lie in its active span."""
    ids = None if building_ids is None else list(building_ids)
    rows = conn.execute(
        """
        SELECT m.id, m.building_id, m.carrier, m.unit, m.parent_meter_id, r.ts, m.active_from, m.active_to,
               m.replaced_by,
               (SELECT coalesce(sum(d.measured_s), 0) FROM consumption_daily d
                WHERE d.meter_key = m.key AND d.day >= %s AND d.day < %s
                  AND (m.active_from IS NULL OR d.day >= (m.active_from AT TIME ZONE %s)::date)
                  AND (m.active_to IS NULL
                       OR d.day <= ((m.active_to - interval '1 microsecond') AT TIME ZONE %s)::date))
        FROM meters m
        LEFT JOIN LATERAL (SELECT ts FROM readings WHERE meter_key = m.key ORDER BY ts DESC LIMIT 1) r ON TRUE
        WHERE (%s::text[] IS NULL OR m.building_id = ANY(%s))
        ORDER BY m.building_id, m.id
        """, [first, until, tz, tz, ids, ids]).fetchall()
    return [MeterRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], float(r[9])) for r in rows]
