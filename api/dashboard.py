"""The web dashboard: the static page under /dashboard/ (chart library installed by npm from api/web/package.json),
who the caller is, and the read-only figures the page needs beyond the core API (weather-corrected months, the last
reading and completeness of every meter)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from api import errors
from api.deps import BuildingFilter, Caller, ClockDep, EngineDep, TimezoneDep, pg, scope_ids
from api.routing import v1_router
from services.auth.schemas import Role
from services.dashboard import service
from services.errors import ValidationFailed
from services.registry.schemas import USED_ENERGY_CARRIERS, Carrier
from services.targets import service as targets_service

WEB = Path(__file__).resolve().parent / "web"
CHART_JS = WEB / "node_modules" / "chart.js" / "dist"

router = v1_router(tags=["dashboard"])


class MeOut(BaseModel):
    """Who the caller is, what it may do, and what the dashboard needs to know of the installation so that it
    repeats no rule of its own: the time zone every figure is in, today there, the baseline year of the energy
    target, and which carriers are energy used."""

    role: Role
    name: str
    building_ids: list[str] | None = Field(description="the buildings a facility manager is bound to; null: every "
                                                       "building")
    can_handle_alerts: bool = Field(description="may acknowledge and resolve alerts (every role but viewer)")
    portfolio: bool = Field(description="may see the whole portfolio (every role but facility manager)")
    timezone: str = Field(description="the IANA time zone of every local date and instant (ENERGIBLIK_TIMEZONE)")
    today: date = Field(description="today's date in that time zone")
    baseline_year: int = Field(description="the baseline year of the energy target T1 (the municipality's 2015)")
    energy_carriers: list[Carrier] = Field(description="carriers whose kWh are energy used (not water, which is m3, "
                                                       "nor own PV production, shown beside consumption)")


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
                 energy_carriers=list(USED_ENERGY_CARRIERS))


@router.get("/weather-corrected")
def get_weather_corrected(
    *, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep, building_id: BuildingFilter = None,
    year: Annotated[list[Annotated[int, Field(ge=1990, le=2100)]] | None,
                    Query(max_length=12, description="one to twelve years, 1990-2100; default: the baseline year, "
                                                      "last year and this year")] = None,
    carrier: Annotated[Carrier | None, Query(description="an energy carrier (water is not energy)",
                                             json_schema_extra={"not": {"const": Carrier.water.value}})] = None,
    baseline_year: Annotated[int, Query(ge=1990, le=2100)] = 2015,
) -> dict[str, Any]:
    """Monthly kWh as delivered and weather-corrected (heat only; the method and `a` of progress), per year, for one
    building or every building in the caller's scope."""
    if carrier == Carrier.water:
        raise ValidationFailed("carrier", "water is not energy and is never weather-corrected; its m3 are at "
                                          "/consumption?carrier=water")
    this_year = clock.now().astimezone(tz).year
    years = year or [baseline_year, this_year - 1, this_year]
    if any(not 1990 <= y <= 2100 for y in years) or len(years) > 12:
        raise ValidationFailed("year", "at most 12 years between 1990 and 2100")
    with pg(engine) as conn:
        ids = scope_ids(caller, building_id, conn)
        return service.weather_corrected(conn, ids, years=years, carrier=carrier.value if carrier else None,
                                         baseline_year=baseline_year, tz=tz)


@router.get("/meter-status")
def get_meter_status(*, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep,
                     building_id: BuildingFilter = None) -> list[dict[str, Any]]:
    """Every meter in scope with its last reading time and its data completeness over the last 30 local days."""
    today = clock.now().astimezone(tz).date()
    with pg(engine) as conn:
        ids = scope_ids(caller, building_id, conn)
        return service.meter_status(conn, ids, today=today, tz=tz)


def install(app: FastAPI) -> None:
    """The dashboard's routes: / redirects to it; the chart library is served from its npm install."""
    app.include_router(router, responses=errors.RESPONSES)

    @app.get("/", include_in_schema=False)
    def _root() -> RedirectResponse:
        return RedirectResponse("/dashboard/")

    # check_dir=False: without `npm ci` the API still starts; the page then says the chart library is missing.
    app.mount("/dashboard/vendor/chart.js", StaticFiles(directory=CHART_JS, check_dir=False), name="chartjs")
    app.mount("/dashboard", StaticFiles(directory=WEB / "static", html=True), name="dashboard")
