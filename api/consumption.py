"""Consumption (API contract v1): whole Europe/Copenhagen periods, from the rollups, with coverage and the share
interpolated or estimated; totals count meters without a parent only, and never water unless asked for."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import Query, Response
from fastapi.responses import JSONResponse

from api.deps import (
    BuildingFilter,
    Caller,
    ClockDep,
    End,
    EngineDep,
    MeterId,
    RegistryWriter,
    SettingsDep,
    Start,
    TimezoneDep,
    pg,
)
from api.routing import local_instants, v1_router
from services.consumption import repository as repo
from services.consumption import service, window
from services.consumption.query import (
    MAX_BUCKETS,
    MAX_METER_PERIODS,
    Series,
    series,
    series_quality,
    totals_series,
)
from services.consumption.schemas import ConsumptionOut, DecisionOut, ExchangeIn, ExchangeOut, PointOut
from services.consumption.window import Window
from services.registry import service as registry
from services.registry.schemas import Carrier

router = v1_router(tags=["consumption"])

FormatQ = Annotated[Literal["json", "csv"], Query(description="csv: one row per period, for spreadsheets")]
ResolutionQ = Annotated[Literal["hour", "day", "week", "month", "year"],
                        Query(description="whole local periods (a day can have 23 or 25 hours)")]


def _answer(found: Series, w: Window, water: bool, resolution: str, tz: ZoneInfo, *, now: datetime
            ) -> ConsumptionOut:
    q = series_quality(found, now)
    answer = ConsumptionOut(
        unit="m3" if water else "kWh", resolution=resolution, timezone=tz.key,
        requested_start=w.requested_start, requested_end=w.requested_end, start=w.start, end=w.end,
        widened=w.widened, computed_through=found.computed_through,
        coverage=q.coverage, estimated_share=q.estimated_share, complete=q.complete,
        series=[PointOut(start=p.start, end=p.end, kwh=None if water else p.amount, m3=p.amount if water else None,
                         coverage=p.coverage, estimated_share=p.estimated_share, pending=p.pending)
                for p in found.points],
    )
    out: ConsumptionOut = local_instants(answer, tz)  # answered as a Response: the route does not convert it
    return out


def _json(answer: ConsumptionOut) -> JSONResponse:
    """`kwh` (or `m3` for water) stays in every period, null while pending; the other unit's field is left out."""
    body = answer.model_dump(mode="json")
    other = "kwh" if answer.unit == "m3" else "m3"
    for p in body["series"]:
        del p[other]
    return JSONResponse(body)


_CSV_RESPONSE: dict[int | str, dict[str, Any]] = {200: {
    "description": "the series: JSON (default), or with `format=csv` a CSV file (start,end,kwh or m3,coverage,"
                   "estimated_share,pending)",
    "content": {"text/csv": {"schema": {"type": "string"}}}}}


def _csv(answer: ConsumptionOut) -> Response:
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    amount = "m3" if answer.unit == "m3" else "kwh"
    out.writerow(["start", "end", amount, "coverage", "estimated_share", "pending"])
    for p in answer.series:
        out.writerow([p.start.isoformat(), p.end.isoformat(), p.m3 if amount == "m3" else p.kwh, p.coverage,
                      p.estimated_share, "true" if p.pending else "false"])
    # the window asked for (the rows are the whole periods answering it, from `start` of the first to `end` of the
    # last)
    headers = {"X-Energiblik-Requested-Start": answer.requested_start.isoformat(),
               "X-Energiblik-Requested-End": answer.requested_end.isoformat()}
    if answer.computed_through:
        headers["X-Energiblik-Computed-Through"] = answer.computed_through.isoformat()
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


_CONSUMPTION_DOC = (
    "Consumption of one building, or of every building in the caller's scope, per carrier or all energy carriers. "
    f"A request answers at most {MAX_BUCKETS} periods, and at most {MAX_METER_PERIODS} periods x meters counted "
    "(the whole portfolio by the hour for a year is more: 422 naming `resolution` and `start`; ask for a coarser "
    "resolution, a shorter window or one building)."
)


@router.get("/consumption", response_model=ConsumptionOut, responses=_CSV_RESPONSE, description=_CONSUMPTION_DOC)
def get_consumption(
    *, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep,
    building_id: BuildingFilter = None,
    carrier: Annotated[Carrier | None, Query(description="one carrier (water answers m3); default: every energy "
                                                         "carrier, never water")] = None,
    start: Start = None, end: End = None, resolution: ResolutionQ = "day", format: FormatQ = "json",
) -> ConsumptionOut | Response:
    """Consumption of one building, or of every building in the caller's scope (_CONSUMPTION_DOC)."""
    now = clock.now()
    w = window.resolve(start, end, resolution, now, tz)
    with pg(engine) as conn:
        if building_id is not None:
            registry.get_building(conn, building_id, caller.scope)  # 404 outside the scope
            buildings: list[str] | None = [building_id]
        else:
            ids = caller.scope.building_ids
            buildings = None if ids is None else sorted(ids)
        found = totals_series(conn, buildings, carrier.value if carrier else None, start=w.requested_start,
                              end=w.requested_end, resolution=resolution, tz=tz)
    answer = _answer(found, w, carrier == Carrier.water, resolution, tz, now=now)
    return _csv(answer) if format == "csv" else _json(answer)


@router.get("/meters/{meter_id}/consumption", response_model=ConsumptionOut, responses=_CSV_RESPONSE)
def get_meter_consumption(
    *, meter_id: MeterId, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep,
    start: Start = None, end: End = None, resolution: ResolutionQ = "day", format: FormatQ = "json",
) -> ConsumptionOut | Response:
    """One meter's consumption (sub-meters included), with the same periods and quality figures."""
    now = clock.now()
    w = window.resolve(start, end, resolution, now, tz)
    with pg(engine) as conn:
        meter, key = registry.get_meter_and_key(conn, meter_id, caller.scope)
        found = series(conn, [key], start=w.requested_start, end=w.requested_end, resolution=resolution, tz=tz)
    answer = _answer(found, w, meter.carrier == Carrier.water, resolution, tz, now=now)
    return _csv(answer) if format == "csv" else _json(answer)


@router.post("/meters/{meter_id}/exchanges", status_code=201, response_model=ExchangeOut)
def post_meter_exchange(*, meter_id: MeterId, body: ExchangeIn, caller: Caller, writer: RegistryWriter,
                        engine: EngineDep, clock: ClockDep, settings: SettingsDep) -> ExchangeOut:
    """Declare a meter exchange: the register starts a new series at `ts`; with both register values the
    consumption across the exchange is counted. The rollups around it are recomputed. `ts` must lie where readings
    may (from the ingest's earliest time to a day ahead); the declaration is audit-logged."""
    service.check_exchange_time(body.ts, earliest=settings.ingest.earliest_ts,
                        latest=clock.now() + timedelta(hours=settings.ingest.max_future_hours))
    with pg(engine, write=True) as conn:
        _, key = registry.get_meter_and_key(conn, meter_id, caller.scope)
        repo.add_exchange(conn, meter_id, key, body.ts, body.old_final, body.new_initial, body.note)
        registry.audit_exchange(conn, meter_id, body.model_dump(mode="json"),
                                actor=registry.Actor(writer.name, writer.role.value, "API"))
    return ExchangeOut(meter_id=meter_id, **body.model_dump())


@router.get("/meters/{meter_id}/decisions", response_model=list[DecisionOut])
def get_meter_decisions(*, meter_id: MeterId, caller: Caller, engine: EngineDep) -> list[DecisionOut]:
    """Every counter decision on this meter's readings: glitch, reset, exchange, spike."""
    with pg(engine) as conn:
        _, key = registry.get_meter_and_key(conn, meter_id, caller.scope)
        found = repo.decisions(conn, key)
    return [DecisionOut(ts=d.ts, kind=d.kind, value=d.value, reference=d.reference, detail=d.detail) for d in found]
