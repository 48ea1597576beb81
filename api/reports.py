"""Reports on the other targets: CO2 and its factor table (T6), LED rollout (T2), fossil phase-out (T3), energy
labels (T4) and the yearly green accounts (CSV and a printable HTML page)."""

from __future__ import annotations

import html
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import Query, Response
from pydantic import BaseModel, Field

from api import cached
from api.deps import BuildingFilter, Caller, ClockDep, EngineDep, RegistryWriter, TimezoneDep, driver, scope_ids
from api.routing import v1_router
from services.config import get_settings
from services.db import PgConn
from services.errors import ValidationFailed
from services.registry.schemas import Carrier, Number, WholeNumber
from services.targets import portfolio
from services.targets import reference as ref
from services.targets.schemas import Co2Out

router = v1_router(tags=["reports"])

Year = Annotated[int | None, Query(ge=1990, le=2100, description="default: last year")]
BaselineYear = Annotated[int, Query(ge=1990, le=2100)]
# The building group a report counts, as of each month (building group history), for one building as for all: a
# building's own answer equals its row in the group's report (docs/registry.md)
Group = Annotated[str, Query(pattern=r"^[a-z0-9_]{1,40}$", description="the building group the report counts "
                             "(municipal: the municipality's own buildings; citizens_businesses: T5)")]


def _last_year(clock: ClockDep, tz: TimezoneDep) -> int:
    return clock.now().astimezone(tz).year - 1


def _started(year: int, clock: ClockDep, tz: TimezoneDep) -> int:
    if year > clock.now().astimezone(tz).year:
        raise ValidationFailed("year", f"{year} has not started")
    return year


@router.get("/co2", response_model=Co2Out)
def get_co2(*, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep, year: Year = None,
            baseline_year: BaselineYear = 2015, building_id: BuildingFilter = None,
            group: Group = "municipal") -> Response:
    """kg CO2 per building, carrier and year, with the factor and method used, and the change since the baseline;
    electricity (with heat pumps and EV charging) also hour by hour with the grid's hourly intensity of the price
    area (`electricity_hourly`, each electric row's `hourly`), the annual factor covering hours without one."""
    eds = get_settings().sync.energidataservice
    hourly = portfolio.HourlyCo2Settings(area=eds.price_area, dataset=eds.dataset, method=eds.method)
    with engine.connect() as sa:
        ids = scope_ids(caller, building_id, sa)
        y = _started(year or _last_year(clock, tz), clock, tz)
        conn = driver(sa)
        return cached.json_answer(
            conn, ("co2", _key(ids), y, baseline_year, tz.key, group, hourly),
            lambda: portfolio.co2(conn, ids, year=y, baseline_year=baseline_year, tz=tz, group=group, hourly=hourly),
            Co2Out, years=(baseline_year, y))


class FactorOut(BaseModel):
    id: int
    carrier: str
    year: int
    area: str = Field(description="price area (DK1, DK2)")
    kg_per_kwh: float = Field(description="kg CO2 (or CO2e) per kWh delivered")
    method: str
    source: str
    created_at: datetime = Field(description="when this version was added")
    actor: str = Field(description="who added it ('default data file' for the shipped table)")


@router.get("/co2-factors", response_model=list[FactorOut])
def get_co2_factors(_: Caller, engine: EngineDep, history: bool = False) -> list[dict[str, Any]]:
    """The CO2 factor table: current rows (newest per carrier, year and area), or every version with history=true."""
    view = "co2_factors" if history else "co2_factors_current"
    with engine.connect() as sa:
        cur = driver(sa).execute(f"SELECT id, carrier, year, area, kg_per_kwh, method, source, created_at, actor "
                                  f"FROM {view} ORDER BY carrier, year, area, id")
        keys = ("id", "carrier", "year", "area", "kg_per_kwh", "method", "source", "created_at", "actor")
        return [dict(zip(keys, r, strict=True)) for r in cur]


class FactorIn(BaseModel):
    model_config = {"extra": "forbid"}

    carrier: Carrier
    year: WholeNumber = Field(ge=1990, le=2100)
    area: str = Field(default="DK2", pattern=r"^[A-Z0-9]{2,8}$", description="price area, DK1 or DK2")
    kg_per_kwh: Number = Field(ge=0, le=2, description="kg CO2 (or CO2e) per kWh delivered")
    method: str = Field(min_length=1, max_length=300)
    source: str = Field(min_length=1, max_length=500)


@router.post("/co2-factors", status_code=201, response_model=FactorIn)
def post_co2_factor(body: FactorIn, caller: RegistryWriter, engine: EngineDep) -> dict[str, Any]:
    """Add a factor version (it becomes current for its carrier, year and area; older versions stay)."""
    with engine.begin() as sa:
        ref.add_co2_factor(driver(sa), ref.Factor(body.carrier.value, body.year, body.area, body.kg_per_kwh,
                                                   body.method, body.source), caller.name)
    return body.model_dump(mode="json")


@router.get("/led")
def get_led(*, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep, building_id: BuildingFilter = None,
            from_year: Annotated[int, Query(ge=1990, le=2100)] = 2015, year: Year = None) -> dict[str, Any]:
    """LED share by count and installed W at each 1 January from `from_year` and now, per building and for the
    portfolio; lighting kWh and dimming savings from telemetry for `year` (default last year)."""
    now = clock.now()
    today = now.astimezone(tz).date()
    at: list[date | datetime] = [date(y, 1, 1) for y in range(from_year, today.year + 1)]
    at.append(now)
    with engine.connect() as sa:
        ids = scope_ids(caller, building_id, sa)
        return portfolio.led(driver(sa), ids, at, tz, lighting_year=year or today.year - 1)


@router.get("/fossil", response_model=dict[str, Any])
def get_fossil(*, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep,
               baseline_year: BaselineYear = 2015, building_id: BuildingFilter = None,
               group: Group = "municipal") -> Response:
    """Buildings still heated with oil or natural gas: count, kWh and CO2 per year since the baseline year, by
    consumption and by the heating history; each fossil-heated building's heating lifecycle."""
    last = _last_year(clock, tz)
    if baseline_year > last:
        raise ValidationFailed("baseline_year", f"{baseline_year} is after the last complete year ({last}): the "
                                                "trend runs from the baseline year to the last complete year")
    now = clock.now()
    with engine.connect() as sa:
        ids = scope_ids(caller, building_id, sa)
        conn = driver(sa)
        # (the answer depends on now only through the day: the heating is read at the start of this year)
        return cached.json_answer(
            conn, ("fossil", _key(ids), baseline_year, last, tz.key, group, min(datetime(last + 1, 1, 1, tzinfo=tz),
                                                                                now)),
            lambda: portfolio.fossil(conn, ids, years=list(range(baseline_year, last + 1)),
                                     baseline_year=baseline_year, tz=tz, group=group, now=now),
            years=range(baseline_year, last + 1))


@router.get("/labels", response_model=dict[str, Any])
def get_labels(*, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep, year: Year = None,
               building_id: BuildingFilter = None, group: Group = "municipal") -> Response:
    """Energy labels: registered label, measured kWh/m² against the label limits, ranking by saving potential."""
    with engine.connect() as sa:
        ids = scope_ids(caller, building_id, sa)
        y = _started(year or _last_year(clock, tz), clock, tz)
        conn = driver(sa)
        return cached.json_answer(conn, ("labels", _key(ids), y, tz.key, group),
                                  lambda: portfolio.labels(conn, ids, year=y, tz=tz, group=group, baseline_year=2015),
                                  years=(2015, y))


@router.get("/green-accounts", response_model=None, responses={200: {
    "description": "the report: JSON (default), or with `format=csv` a CSV file, with `format=html` a printable page",
    "content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}},
                "text/html": {"schema": {"type": "string"}}}}})
def get_green_accounts(*, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep, year: Year = None,
                       baseline_year: BaselineYear = 2015, building_id: BuildingFilter = None,
                       group: Group = "municipal",
                       format: Annotated[Literal["json", "csv", "html"], Query()] = "json",
                       ) -> Response:
    """The yearly green accounts (grønt regnskab) per building and for the portfolio: energy by carrier, weather
    corrected, CO2, change against the baseline year, coverage. `format=csv` or `format=html` (printable)."""
    def render(conn: PgConn, y: int) -> tuple[bytes, str, dict[str, str]]:
        report = portfolio.green_accounts(conn, ids, year=y, baseline_year=baseline_year, tz=tz, group=group)
        if format == "csv":
            name = f"green-accounts-{report['year']}.csv"
            headers = {"Content-Disposition": f'attachment; filename="{name}"'}
            if report["computed_through"] is not None:  # as the consumption CSV: the figures are not current yet
                headers["X-Energiblik-Computed-Through"] = report["computed_through"].isoformat()
            return portfolio.green_accounts_csv(report).encode(), "text/csv; charset=utf-8", headers
        if format == "html":
            return _green_html(report).encode(), "text/html; charset=utf-8", {}
        return cached.json_bytes(report), "application/json", {}

    with engine.connect() as sa:
        ids = scope_ids(caller, building_id, sa)
        y = _started(year or _last_year(clock, tz), clock, tz)
        conn = driver(sa)
        return cached.answer(conn, ("green-accounts", _key(ids), y, baseline_year, tz.key, group, format),
                             lambda: render(conn, y), years=(baseline_year, y))


def _key(ids: list[str] | None) -> tuple[str, ...] | None:
    return None if ids is None else tuple(ids)


def _num(x: Any, digits: int = 0) -> str:
    if x is None:
        return "&ndash;"
    return f"{x:,.{digits}f}".replace(",", " ")


def _green_html(r: dict[str, Any]) -> str:
    t = r["totals"]
    head = ("<tr><th>Building</th><th>Carrier</th><th>kWh</th><th>kWh weather-corrected</th><th>kg CO₂</th>"
            f"<th>{r['baseline_year']} kWh corrected</th><th>Change</th><th>Coverage</th></tr>")
    body = "".join(
        f"<tr><td>{html.escape(x['name'])}</td><td>{html.escape(x['carrier'])}</td><td>{_num(x['kwh'])}</td>"
        f"<td>{_num(x['normalised_kwh'])}</td><td>{_num(x['kg_co2'])}</td><td>{_num(x['baseline_normalised_kwh'])}</td>"
        f"<td>{_num(x['change_normalised_pct'], 1)} %</td><td>{_num((x['coverage'] or 0) * 100, 0)} %</td></tr>"
        for x in r["rows"])
    total = (f"<tr class='total'><td colspan='2'>Total</td><td>{_num(t['kwh'])}</td><td>{_num(t['normalised_kwh'])}"
             f"</td><td>{_num(t['kg_co2'])}</td><td>{_num(t['baseline_normalised_kwh'])}</td>"
             f"<td>{_num(t['change_normalised_pct'], 1)} %</td><td>{_num((t['coverage'] or 0) * 100)} %</td></tr>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Green accounts {r['year']} &ndash; Energiblik</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #1b1b1b; }}
table {{ border-collapse: collapse; width: 100%; font-size: 0.9rem; }}
th, td {{ border-bottom: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: right; }}
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) {{ text-align: left; }}
tr.total td {{ font-weight: bold; border-top: 2px solid #333; }}
.method {{ font-size: 0.8rem; color: #555; }}
@media print {{ body {{ margin: 0; }} }}
</style></head><body>
<h1>Green accounts {r['year']} (grønt regnskab)</h1>
<p>Energy {_num(t['kwh'])} kWh, weather-corrected {_num(t['normalised_kwh'])} kWh
({_num(t['change_normalised_pct'], 1)} % against {r['baseline_year']}); CO₂ {_num(t['kg_co2'])} kg
({_num(t['change_co2_pct'], 1)} % against {r['baseline_year']}); coverage {_num((t['coverage'] or 0) * 100)} %.</p>
<table><thead>{head}</thead><tbody>{body}{total}</tbody></table>
<p class="method">{html.escape(r['method'])}. Normal year {_num(r['normal_year']['degree_days'])} degree days:
{html.escape(r['normal_year']['source'])}</p>
</body></html>"""
