"""Stored readings, revisions and telemetry of one device, within the caller's building scope.

Windows are half-open [start, end). Bounds are RFC 3339 instants or local dates (a date is local midnight); without
bounds the window is the last `DEFAULT_SPAN` up to now.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.auth.schemas import BuildingScope
from services.db import PgConn
from services.errors import ValidationFailed
from services.localtime import iso_local, parse_instant
from services.registry.service import get_luminaire_and_key, get_meter_and_key
from services.series import repository
from services.series.schemas import (
    Reading,
    ReadingsPage,
    Revision,
    RevisionsPage,
    TelemetryPage,
    TelemetryPoint,
    Window,
)

DEFAULT_SPAN = timedelta(days=7)


def resolve_bounds(start: str | None, end: str | None, tz: ZoneInfo, *, names: tuple[str, str] = ("start", "end")
                   ) -> tuple[datetime | None, datetime | None]:
    """The bounds a caller gave, parsed; either may be missing, but when both are given end must be after start.
    `names` are the parameters' names in errors."""
    start_ts = parse_instant(start, names[0], tz) if start else None
    end_ts = parse_instant(end, names[1], tz) if end else None
    if start_ts is not None and end_ts is not None and end_ts <= start_ts:
        raise ValidationFailed(names[1], f"must be after {names[0]} ({iso_local(start_ts, tz)})")
    return start_ts, end_ts


def resolve_window(start: str | None, end: str | None, now: datetime, tz: ZoneInfo) -> Window:
    """The window [start, end) a caller asked for: a missing end is now, a missing start is DEFAULT_SPAN before end."""
    start_ts, end_ts = resolve_bounds(start, end, tz)
    end_ts = end_ts or now
    start_ts = start_ts or end_ts - DEFAULT_SPAN
    if end_ts <= start_ts:
        raise ValidationFailed("end", f"must be after start ({iso_local(start_ts, tz)}); without end it is now")
    return Window(start=start_ts, end=end_ts)


def _utc(ts: datetime) -> datetime:
    return ts.astimezone(UTC)


def meter_readings(conn: PgConn, meter_id: str, scope: BuildingScope, window: Window, limit: int) -> ReadingsPage:
    """Stored readings of a meter in the window, oldest first (NotFoundError outside the scope)."""
    meter, key = get_meter_and_key(conn, meter_id, scope)
    rows = repository.readings(conn, key, window.start, window.end, limit + 1)
    more = len(rows) > limit
    return ReadingsPage(
        meter_id=meter.id,
        unit=meter.unit,
        start=window.start,
        end=window.end,
        limit=limit,
        truncated=more,
        next_start=_utc(rows[limit]["ts"]) if more else None,
        readings=[
            Reading(
                ts=_utc(r["ts"]),
                value=r["value"],
                unit=meter.unit,
                quality=r["quality"],
                source=r["source"],
                revised=r["revised"],
            )
            for r in rows[:limit]
        ],
    )


def meter_revisions(
    conn: PgConn, meter_id: str, scope: BuildingScope, *, start: datetime | None, end: datetime | None, limit: int
) -> RevisionsPage:
    """Every recorded revision of a meter's readings, by reading time (NotFoundError outside the scope)."""
    meter, key = get_meter_and_key(conn, meter_id, scope)
    rows = repository.revisions(conn, key, start, end, limit + 1)
    return RevisionsPage(
        meter_id=meter.id,
        unit=meter.unit,
        limit=limit,
        truncated=len(rows) > limit,
        revisions=[
            Revision.model_validate({**r, "ts": _utc(r["ts"]), "revised_at": _utc(r["revised_at"])})
            for r in rows[:limit]
        ],
    )


def luminaire_telemetry(
    conn: PgConn, luminaire_id: str, scope: BuildingScope, window: Window, limit: int
) -> TelemetryPage:
    """Stored telemetry of a luminaire in the window, oldest first (NotFoundError outside the scope)."""
    luminaire, key = get_luminaire_and_key(conn, luminaire_id, scope)
    rows = repository.telemetry(conn, key, window.start, window.end, limit + 1)
    more = len(rows) > limit
    return TelemetryPage(
        luminaire_id=luminaire.id,
        start=window.start,
        end=window.end,
        limit=limit,
        truncated=more,
        next_start=_utc(rows[limit]["ts"]) if more else None,
        telemetry=[TelemetryPoint.model_validate({**r, "ts": _utc(r["ts"])}) for r in rows[:limit]],
    )
