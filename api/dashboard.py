"""The web dashboard: the static page under /dashboard/ (chart library installed by npm from api/web/package.json),
who the caller is, and the read-only figures the page needs beyond the core API (weather-corrected months, the last
reading and completeness of every meter)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Query
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import Field

from api import errors
from api.deps import (
    BuildingFilter,
    Caller,
    ClockDep,
    End,
    EngineDep,
    Start,
    TimezoneDep,
    pg,
    scope_ids,
)
from api.routing import v1_router
from services.auth.schemas import Role
from services.consumption import window
from services.dashboard import service
from services.dashboard.schemas import (
    CorrectedResolution,
    CorrectedSeriesOut,
    MeOut,
    MeterStatusOut,
    WeatherCorrectedOut,
)
from services.errors import ValidationFailed
from services.registry.schemas import USED_ENERGY_CARRIERS, Carrier
from services.reports.service import FOSSIL
from services.targets import service as targets_service

WEB = Path(__file__).resolve().parent / "web"
CHART_JS = WEB / "node_modules" / "chart.js" / "dist"

router = v1_router(tags=["dashboard"])

_WATER = "water is not energy and is never weather-corrected; its m3 are at /consumption?carrier=water"


@router.get("/me", response_model=MeOut)
def me(caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep) -> MeOut:
    """The caller: role, name, the buildings it is bound to (null: every building), what it may do, and the
    installation's time zone, today, T1's baseline year and the energy carriers."""
    ids = caller.scope.building_ids
    with pg(engine) as conn:
        baseline_year = targets_service.energy_baseline_year(conn)
    return MeOut(role=caller.role, name=caller.name, building_ids=None if ids is None else sorted(ids),
                 can_handle_alerts=caller.role != Role.viewer, portfolio=caller.role != Role.facility_manager,
                 timezone=tz.key, today=clock.now().astimezone(tz).date(), baseline_year=baseline_year,
                 energy_carriers=list(USED_ENERGY_CARRIERS), fossil_heating=list(FOSSIL))


@router.get("/weather-corrected", response_model=WeatherCorrectedOut)
def get_weather_corrected(
    *, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep, building_id: BuildingFilter = None,
    year: Annotated[list[Annotated[int, Field(ge=1990, le=2100)]] | None,
                    Query(max_length=12, description="one to twelve years, 1990-2100; default: the baseline year, "
                                                      "last year and this year")] = None,
    carrier: Annotated[Carrier | None, Query(description="an energy carrier (water is not energy)",
                                             json_schema_extra={"not": {"const": Carrier.water.value}})] = None,
    baseline_year: Annotated[int | None, Query(ge=1990, le=2100, description="the year `a` is estimated from; "
                                                                             "default: the energy target T1's")] = None,
) -> WeatherCorrectedOut:
    """Monthly kWh as delivered and weather-corrected (heat only; the method and `a` of progress), per year, for one
    building or every building in the caller's scope."""
    if carrier == Carrier.water:
        raise ValidationFailed("carrier", _WATER)
    if year is not None and (any(not 1990 <= y <= 2100 for y in year) or len(year) > 12):
        raise ValidationFailed("year", "at most 12 years between 1990 and 2100")
    with pg(engine) as conn:
        ids = scope_ids(caller, building_id, conn)
        base = baseline_year or targets_service.energy_baseline_year(conn)
        this_year = clock.now().astimezone(tz).year
        years = year or [base, this_year - 1, this_year]
        return service.weather_corrected(conn, ids, years=years, carrier=carrier.value if carrier else None,
                                         baseline_year=base, tz=tz, now=clock.now())


@router.get("/consumption/weather-corrected", response_model=CorrectedSeriesOut, tags=["consumption"])
def get_consumption_weather_corrected(
    *, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep, building_id: BuildingFilter = None,
    carrier: Annotated[Carrier | None, Query(description="an energy carrier (water is not energy); default: every "
                                                         "energy carrier")] = None,
    start: Start = None, end: End = None,
    resolution: Annotated[CorrectedResolution, Query(description="whole local periods; each lies in one month, "
                                                                 "whose factor corrects it")] = "day",
) -> CorrectedSeriesOut:
    """The series of /consumption (same window, periods, coverage and pending) with each period also
    weather-corrected: `normalised_kwh` = `kwh` x the weather-correction factor of its local month (the month's
    normalised kWh / kWh as /weather-corrected has them: heat only, the method and `a` of progress, T1's baseline
    year). Hours, days or months; for whole years see /weather-corrected."""
    if carrier == Carrier.water:
        raise ValidationFailed("carrier", _WATER)
    now = clock.now()
    w = window.resolve(start, end, resolution, now, tz)
    with pg(engine) as conn:
        ids = scope_ids(caller, building_id, conn)
        return service.corrected_series(conn, ids, carrier=carrier.value if carrier else None, window=w,
                                        resolution=resolution, baseline_year=targets_service.energy_baseline_year(conn),
                                        tz=tz, now=now)


@router.get("/meter-status", response_model=list[MeterStatusOut])
def get_meter_status(*, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep,
                     building_id: BuildingFilter = None) -> list[MeterStatusOut]:
    """Every meter in scope with its last reading time and its data completeness over the last 30 local days."""
    with pg(engine) as conn:
        ids = scope_ids(caller, building_id, conn)
        return service.meter_status(conn, ids, now=clock.now(), tz=tz)


def install(app: FastAPI) -> None:
    """The dashboard's routes: / redirects to it; the chart library is served from its npm install."""
    app.include_router(router, responses=errors.RESPONSES)

    @app.get("/", include_in_schema=False)
    def _root() -> RedirectResponse:
        return RedirectResponse("/dashboard/")

    # check_dir=False: without `npm ci` the API still starts; the page then says the chart library is missing.
    app.mount("/dashboard/vendor/chart.js", StaticFiles(directory=CHART_JS, check_dir=False), name="chartjs")
    app.mount("/dashboard", StaticFiles(directory=WEB / "static", html=True), name="dashboard")
