"""Stored series: meter readings and their revisions, luminaire telemetry."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from api.deps import Caller, ClockDep, End, EngineDep, LuminaireId, MeterId, Start, TimezoneDep, pg
from api.routing import v1_router
from services.series import service
from services.series.schemas import DEFAULT_LIMIT, MAX_LIMIT, ReadingsPage, RevisionsPage, TelemetryPage

router = v1_router(tags=["readings"])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="most rows returned; see `truncated`/`next_start`")]


@router.get("/meters/{meter_id}/readings")
def get_readings(
    *,
    meter_id: MeterId,
    caller: Caller,
    engine: EngineDep,
    clock: ClockDep,
    tz: TimezoneDep,
    start: Start = None,
    end: End = None,
    limit: Limit = DEFAULT_LIMIT,
) -> ReadingsPage:
    """Stored readings in [start, end), oldest first, values in the meter's unit. Default window: the last 7 days."""
    window = service.resolve_window(start, end, clock.now(), tz)
    with pg(engine) as conn:
        return service.meter_readings(conn, meter_id, caller.scope, window, limit)


@router.get("/meters/{meter_id}/revisions")
def get_revisions(
    *,
    meter_id: MeterId,
    caller: Caller,
    engine: EngineDep,
    tz: TimezoneDep,
    start: Start = None,
    end: End = None,
    limit: Limit = DEFAULT_LIMIT,
) -> RevisionsPage:
    """Replaced reading values, by reading time; start/end (optional) bound the reading time."""
    start_ts, end_ts = service.resolve_bounds(start, end, tz)
    with pg(engine) as conn:
        return service.meter_revisions(conn, meter_id, caller.scope, start=start_ts, end=end_ts, limit=limit)


@router.get("/luminaires/{luminaire_id}/telemetry")
def get_telemetry(
    *,
    luminaire_id: LuminaireId,
    caller: Caller,
    engine: EngineDep,
    clock: ClockDep,
    tz: TimezoneDep,
    start: Start = None,
    end: End = None,
    limit: Limit = DEFAULT_LIMIT,
) -> TelemetryPage:
    """Stored telemetry in [start, end), oldest first. Default window: the last 7 days."""
    window = service.resolve_window(start, end, clock.now(), tz)
    with pg(engine) as conn:
        return service.luminaire_telemetry(conn, luminaire_id, caller.scope, window, limit)
