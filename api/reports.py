"""Reports on the other targets: CO2 and its factor table (T6), LED rollout (T2), fossil phase-out (T3), energy
labels (T4) and the yearly green accounts (CSV and a printable HTML page). The reports themselves:
services/reports."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query, Response

from api import cached
from api.deps import BuildingFilter, Caller, ClockDep, EngineDep, RegistryWriter, TimezoneDep, pg, scope_ids
from api.routing import v1_router
from services.reports import service as reports
from services.reports.schemas import Co2Out, FactorIn, FactorOut, FossilOut, GreenAccountsOut, LabelsOut, LedOut

router = v1_router(tags=["reports"])

Year = Annotated[int | None, Query(ge=1990, le=2100, description="default: last year")]
BaselineYear = Annotated[int, Query(ge=1990, le=2100, description="the year compared against")]
# The building group a report counts, as of each month (building group history), for one building as for all: a
# building's own answer equals its row in the group's report (docs/registry.md)
Group = Annotated[str, Query(pattern=r"^[a-z0-9_]{1,40}$", description="the building group the report counts "
                             "(municipal: the municipality's own buildings; citizens_businesses: T5)")]


@router.get("/co2", response_model=Co2Out)
def get_co2(*, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep, year: Year = None,
            baseline_year: BaselineYear = 2015, building_id: BuildingFilter = None,
            group: Group = "municipal") -> Response:
    """kg CO2 per building, carrier and year, with the factor and method used, and the change since the baseline;
    electricity (with heat pumps and EV charging) also hour by hour with the grid's hourly intensity of the price
    area (`electricity_hourly`, each electric row's `hourly`), the annual factor covering hours without one."""
    hourly = reports.hourly_co2_settings()
    with pg(engine) as conn:
        ids = scope_ids(caller, building_id, conn)
        y = reports.report_year(year, clock.now(), tz)
        key, answer = reports.co2_keyed(conn, ids, year=y, baseline_year=baseline_year, tz=tz, group=group,
                                        hourly=hourly)
        return cached.keyed_json(key, lambda: answer, Co2Out)


@router.get("/co2-factors", response_model=list[FactorOut])
def get_co2_factors(_: Caller, engine: EngineDep,
                    history: Annotated[bool, Query(description="true: every version; false: the current ones")] = False
                    ) -> list[dict[str, Any]]:
    """The CO2 factor table: current rows (newest per carrier, year and area), or every version with history=true."""
    with pg(engine) as conn:
        return reports.co2_factors(conn, history=history)


@router.post("/co2-factors", status_code=201, response_model=FactorIn)
def post_co2_factor(body: FactorIn, caller: RegistryWriter, engine: EngineDep) -> dict[str, Any]:
    """Add a factor version (it becomes current for its carrier, year and area; older versions stay)."""
    with pg(engine, write=True) as conn:
        reports.add_co2_factor(conn, body, caller.name)
    return body.model_dump(mode="json")


@router.get("/led", response_model=LedOut)
def get_led(*, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep, building_id: BuildingFilter = None,
            from_year: Annotated[int, Query(ge=1990, le=2100, description="the first 1 January of the series")] = 2015,
            year: Year = None) -> dict[str, Any]:
    """LED share by count and installed W at each 1 January from `from_year` and now, per building and for the
    portfolio; lighting kWh and dimming savings from telemetry for `year` (default last year)."""
    now = clock.now()
    with pg(engine) as conn:
        ids = scope_ids(caller, building_id, conn)
        return reports.led_report(conn, ids, from_year=from_year, lighting_year=year, now=now, tz=tz)


@router.get("/fossil", response_model=FossilOut)
def get_fossil(*, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep,
               baseline_year: BaselineYear = 2015, building_id: BuildingFilter = None,
               group: Group = "municipal") -> Response:
    """Buildings still heated with oil or natural gas: count, kWh and CO2 per year since the baseline year, by
    consumption and by the heating history; each fossil-heated building's heating lifecycle."""
    now = clock.now()
    years = reports.fossil_years(baseline_year, now, tz)
    # (the answer depends on now only through the instant the heating is read at)
    at = reports.heating_read_at(years, now, tz)
    with pg(engine) as conn:
        ids = scope_ids(caller, building_id, conn)
        return cached.json_answer(
            conn, ("fossil", _key(ids), baseline_year, years[-1], tz.key, group, at),
            lambda: reports.fossil(conn, ids, years=years, baseline_year=baseline_year, tz=tz, group=group, now=now),
            FossilOut, years=years)


@router.get("/labels", response_model=LabelsOut)
def get_labels(*, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep, year: Year = None,
               building_id: BuildingFilter = None, group: Group = "municipal") -> Response:
    """Energy labels: registered label, measured kWh/m² against the label limits, ranking by saving potential."""
    with pg(engine) as conn:
        ids = scope_ids(caller, building_id, conn)
        y = reports.report_year(year, clock.now(), tz)
        key, answer = reports.labels_keyed(conn, ids, year=y, tz=tz, group=group, baseline_year=2015)
        return cached.keyed_json(key, lambda: answer, LabelsOut)


@router.get("/green-accounts", response_model=None, responses={200: {
    "model": GreenAccountsOut,
    "description": "the report: JSON (default), or with `format=csv` a CSV file, with `format=html` a printable page",
    "content": {"text/csv": {"schema": {"type": "string"}}, "text/html": {"schema": {"type": "string"}}}}})
def get_green_accounts(*, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep, year: Year = None,
                       baseline_year: BaselineYear = 2015, building_id: BuildingFilter = None,
                       group: Group = "municipal",
                       format: Annotated[Literal["json", "csv", "html"],
                                         Query(description="json, csv (a file) or html (a printable page)")] = "json",
                       ) -> Response:
    """The yearly green accounts (grønt regnskab) per building and for the portfolio: energy by carrier, weather
    corrected, CO2, change against the baseline year, coverage. `format=csv` or `format=html` (printable)."""
    def render(report: dict[str, Any]) -> tuple[bytes, str, dict[str, str]]:
        if format == "csv":
            name = f"green-accounts-{report['year']}.csv"
            headers = {"Content-Disposition": f'attachment; filename="{name}"'}
            if report["computed_through"] is not None:  # as the consumption CSV: the figures are not current yet
                headers["X-Energiblik-Computed-Through"] = report["computed_through"].isoformat()
            return reports.green_accounts_csv(report).encode(), "text/csv; charset=utf-8", headers
        if format == "html":
            return reports.green_accounts_html(report).encode(), "text/html; charset=utf-8", {}
        return cached.json_bytes(report, GreenAccountsOut), "application/json", {}

    with pg(engine) as conn:
        ids = scope_ids(caller, building_id, conn)
        y = reports.report_year(year, clock.now(), tz)
        key, report = reports.green_accounts_keyed(conn, ids, year=y, baseline_year=baseline_year, tz=tz,
                                                   group=group)
        return cached.keyed((key, format), lambda: render(report))


def _key(ids: list[str] | None) -> tuple[str, ...] | None:
    return None if ids is None else tuple(ids)
