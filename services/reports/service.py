"""The reports on the other targets: CO2 (T6) and its factor table, LED rollout (T2), fossil phase-out (T3), energy
labels (T4), and the yearly green accounts that put energy, weather correction, CO2 and the change since the
baseline year together (JSON, CSV, a printable page). Rules only: the SQL is in services.reports.repository and in
the targets' public functions (the buildings' monthly figures, the factors, the weather)."""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.config import get_settings
from services.consumption.periods import local_midnight
from services.db import PgConn
from services.errors import ValidationFailed
from services.registry.history import HEATING, PARENT_METER, periods, value_as_of, values_during
from services.reports import repository
from services.reports.schemas import FactorIn
from services.targets import cache
from services.targets import reference as ref
from services.targets.progress import (
    MONTHS,
    TOTAL_CARRIERS,
    BuildingData,
    Weather,
    YearFigures,
    carrier_year_coverage,
    carrier_year_estimated,
    share_for,
    year_figures,
)
from services.targets.service import (
    carrier_key,
    fact_rows,
    load_buildings,
    pending_counted,
    report_freshness,
    weather,
)

FOSSIL = ("natural_gas", "oil")


def only_carrier(b: BuildingData, year: int, carrier: str) -> BuildingData:
    """The building with one carrier's months (and coverage credit) of one year."""
    return BuildingData(b.id, b.name, b.hot_water_share, b.area,
                        data={year: {carrier: b.data.get(year, {}).get(carrier, {})}},
                        year_credit={year: {carrier: b.year_credit.get(year, {}).get(carrier, [])}},
                        year_credit_kwh={year: {carrier: b.year_credit_kwh.get(year, {}).get(carrier, [])}},
                        month_weights={year: {carrier: b.month_weights.get(year, {}).get(carrier, [])}})


# ---- CO2 ---------------------------------------------------------------------------------------------------------

# Electricity-driven carriers take the electricity factor; PV production and water emit nothing counted here.
FACTOR_CARRIER = {"heat_pump": "electricity", "ev_charging": "electricity", "heat_pump_sub": "electricity",
                  "ev_charging_sub": "electricity"}
NO_CO2 = frozenset({"pv_production", "water"})


@dataclass(frozen=True)
class FactorUsed:
    kg_per_kwh: float
    method: str


def factor_for(factors: Sequence[ref.Factor], year: int) -> FactorUsed | None:
    """The factor for `year`: the table's own row, else linear interpolation between the nearest years around it,
    else the nearest year's row (before the first or after the last). `factors` sorted by year."""
    if not factors:
        return None
    by_year = {f.year: f for f in factors}
    if year in by_year:
        f = by_year[year]
        return FactorUsed(f.kg_per_kwh, f"{year}: {f.method}; {f.source}")
    before = [f for f in factors if f.year < year]
    after = [f for f in factors if f.year > year]
    if before and after:
        lo, hi = before[-1], after[0]
        w = (year - lo.year) / (hi.year - lo.year)
        kg = lo.kg_per_kwh + w * (hi.kg_per_kwh - lo.kg_per_kwh)
        return FactorUsed(kg, f"interpolated between {lo.year} ({lo.kg_per_kwh}; {lo.source}) and {hi.year} "
                              f"({hi.kg_per_kwh}; {hi.source})")
    near = before[-1] if before else after[0]
    return FactorUsed(near.kg_per_kwh, f"{near.year} value held for {year} (no later/earlier factor); {near.method}; "
                                       f"{near.source}")


def factor_for_carrier(table: Mapping[str, Sequence[ref.Factor]], carrier: str, year: int) -> FactorUsed | None:
    """The factor of `carrier` for `year` (heat pumps and EV charging take electricity's; PV and water: None)."""
    if carrier in NO_CO2:
        return None
    return factor_for(table.get(FACTOR_CARRIER.get(carrier, carrier), []), year)


# The carriers whose kWh are electricity drawn from the grid (they take the electricity factor); their CO2 can be
# computed hour by hour from the grid's hourly intensity.
ELECTRIC = frozenset({"electricity", "heat_pump", "ev_charging"})
ANNUAL = "annual_declaration_factor"


def annual_method(f: FactorUsed) -> str:
    """How an annual factor is named in an answer's `method`."""
    return f"{ANNUAL} ({f.method})"


@dataclass
class HourlySums:
    """kWh of an (electric) carrier in a period from the hourly rollup in hours with a stored intensity
    (`kwh_with`), and their grams (`g`: sum of kWh_h * g/kWh_h)."""

    kwh_with: float = 0.0
    g: float = 0.0

    def add(self, other: HourlySums) -> None:
        self.kwh_with += other.kwh_with
        self.g += other.g


def hourly_figure(kwh: float, sums: HourlySums, factor: FactorUsed | None, method: str) -> dict[str, object]:
    """kg CO2 of `kwh` of electricity, hour by hour where an hour has both its kWh in the hourly rollup and the grid's
    intensity, and by the annual factor for the rest (named): kWh of hours without an intensity, and kWh the hourly
    rollup does not hold hour by hour (steps longer than 6 h, e.g. daily or monthly reads). `coverage` is the share
    of the kWh computed hour by hour."""
    covered = min(sums.kwh_with, kwh) if kwh > 0 else 0.0
    # the hourly rollup can hold a hair more than the monthly figure (rounding): scale its grams to what is counted
    grams = sums.g * (covered / sums.kwh_with) if sums.kwh_with > 0 else 0.0
    rest = max(kwh - covered, 0.0)
    kg_rest = rest * factor.kg_per_kwh if factor is not None else None
    kg = None if kg_rest is None and rest > 1e-9 else grams / 1000 + (kg_rest or 0.0)
    return {
        "kg_co2": kg,
        "method": method,
        "coverage": covered / kwh if kwh > 0 else None,
        "kwh_hourly": covered,
        "kg_co2_hourly": grams / 1000,
        "fallback_kwh": rest,
        "fallback_kg_co2": kg_rest if rest > 1e-9 else 0.0,
        "fallback_method": (annual_method(factor) if factor is not None else "no annual factor") if rest > 1e-9
        else None,
    }


def co2_rows(buildings: Sequence[BuildingData], years: Sequence[int], table: dict[str, list[ref.Factor]]
             ) -> list[dict[str, Any]]:
    """kWh and kg CO2 per building, carrier and year (meters that count in totals; sub-meters are inside them).
    Unrounded: totals are summed first and rounded once (`rounded`)."""
    out = []
    for b in buildings:
        for y in years:
            if not b.in_portfolio(y):
                continue
            for carrier, months in sorted(b.data.get(y, {}).items()):
                if carrier not in TOTAL_CARRIERS:
                    continue
                kwh = sum(c.kwh for c in months.values())
                f = factor_for_carrier(table, carrier, y)
                out.append({"building_id": b.id, "carrier": carrier, "year": y, "kwh": kwh,
                            "kg_co2": kwh * f.kg_per_kwh if f else None,
                            "kg_per_kwh": round(f.kg_per_kwh, 5) if f else None,
                            "method": f.method if f else "no factor for this carrier",
                            "months": len(months), "coverage": carrier_year_coverage(b, y, carrier),
                            "estimated_share": carrier_year_estimated(b, y, carrier),
                            # the carrier's active meter time in the year (meter-months): what its coverage weighs
                            "_active": sum(b.weight(y, carrier, m) for m in MONTHS)})
    return out


@dataclass(frozen=True)
class HourlyCo2Settings:
    """Where the hourly intensity comes from (settings.sync.energidataservice): the price area of the buildings
    (Ballerup: DK2), the dataset and the fuel allocation method."""

    area: str = "DK2"
    dataset: str = "DeclarationGridEmission"
    method: str = "125%"

    @property
    def label(self) -> str:
        return f"hourly_location_based (Energi Data Service {self.dataset}, {self.area}, {self.method})"


def hourly_sums(conn: PgConn, buildings: Sequence[BuildingData], years: Sequence[int], tz: ZoneInfo, *,
                hourly: HourlyCo2Settings, stored: tuple[datetime | None, datetime | None]
                ) -> dict[tuple[str, str, int, int], HourlySums]:
    """Hourly-rollup kWh and grams per (building, carrier key, year, month) of the electric carriers, each meter
    counted under the key it has as of each local day (its parent then), as the monthly figures count it
    (services.targets.service.load_buildings)."""
    ids = [b.id for b in buildings]
    first, last = stored  # the first and the last hour with a stored intensity
    meters = ref.electric_meters(conn, ids)
    if not meters or not years or first is None or last is None:
        return {}
    parents = fact_rows(conn, PARENT_METER, [m[1] for m in meters])
    info = {m[0]: m for m in meters}
    out: dict[tuple[str, str, int, int], HourlySums] = {}
    # only the hours the intensity covers: a baseline year before the dataset costs no pass over its hours
    start = max(datetime(min(years), 1, 1, tzinfo=tz), first)
    end = min(datetime(max(years) + 1, 1, 1, tzinfo=tz), last + timedelta(hours=1))
    if start >= end:
        return {}
    for mkey, day, kwh_with, grams in ref.hourly_electricity_by_day(
            conn, list(info), (start, end), area=hourly.area, method=hourly.method, tz=tz.key):
        if day.year not in years:
            continue
        _, mid, bid, carrier, sub_now = info[mkey]
        parent = value_as_of(parents.get(mid, []), local_midnight(day, tz), extends_back=True)
        k = carrier_key(carrier, sub_now if parent is None else parent[0] is not None)
        if k is None:
            continue
        out.setdefault((bid, k, day.year, day.month), HourlySums()).add(HourlySums(kwh_with, grams))
    return out


def add_hourly(rows: list[dict[str, Any]], sums: dict[tuple[str, str, int, int], HourlySums],
               months_of: Mapping[tuple[str, str, int], Sequence[int]], table: dict[str, list[ref.Factor]],
               hourly: HourlyCo2Settings) -> None:
    """Each electric row gains `hourly`: its kg CO2 hour by hour (location-based) with the annual factor for what
    has no hourly intensity, named; every row's `method` names the annual method."""
    for r in rows:
        f = factor_for_carrier(table, r["carrier"], r["year"])
        if f is not None:
            r["method"] = annual_method(f)
        if FACTOR_CARRIER.get(r["carrier"], r["carrier"]) != "electricity":
            r["hourly"] = None
            continue
        total = HourlySums()
        for m in months_of.get((r["building_id"], r["carrier"], r["year"]), []):
            s = sums.get((r["building_id"], r["carrier"], r["year"], m))
            if s is not None:
                total.add(s)
        r["hourly"] = hourly_figure(r["kwh"], total, f, hourly.label)


def _co2(conn: PgConn, ids: Sequence[str] | None, *, year: int, baseline_year: int, tz: ZoneInfo,
         group: str | None = "municipal", hourly: HourlyCo2Settings | None = None) -> Fresh:
    hourly = hourly or HourlyCo2Settings()
    years = sorted({baseline_year, year})
    buildings = load_buildings(conn, ids, group, years=years, baseline_year=baseline_year, tz=tz)
    table = ref.co2_factors(conn, hourly.area)
    rows = co2_rows(buildings, years, table)
    months_of = {(b.id, carrier, y): sorted(months) for b in buildings for y in years
                 for carrier, months in b.data.get(y, {}).items()}
    first, last, n_hours = ref.co2_intensity_span(conn, hourly.area, hourly.method)
    add_hourly(rows, hourly_sums(conn, buildings, years, tz, hourly=hourly, stored=(first, last)), months_of, table,
               hourly)

    def total(y: int, carrier: str | None = None) -> float:
        return sum(r["kg_co2"] or 0 for r in rows if r["year"] == y and (carrier is None or r["carrier"] == carrier))

    carriers = sorted({r["carrier"] for r in rows})
    base, now = total(baseline_year), total(year)
    year_rows = [r for r in rows if r["year"] == year]
    answer = {
        "year": year, "baseline_year": baseline_year,
        **NOTHING_PENDING,
        "kg_co2": round(now, 1), "baseline_kg_co2": round(base, 1),
        "change_pct": round((now / base - 1) * 100, 2) if base and now else None,
        # measured time over active meter time (coverage.py), summed over the rows: a carrier whose meter was
        # installed for a month weighs a month, not a year; < 1 for the current year too
        "coverage": weighted_coverage(year_rows),
        # kWh interpolated over gaps or from estimated readings, over all kWh of the year
        "estimated_share": _estimated_share(year_rows),
        "by_carrier": [{"carrier": c, "kg_co2": round(total(year, c), 1),
                        "baseline_kg_co2": round(total(baseline_year, c), 1)} for c in carriers],
        "method": f"{ANNUAL}: kg CO2 = kWh x factor(carrier, year, {hourly.area}); factors from the versioned table "
                  "(GET /co2-factors), interpolated between listed years; heat pumps and EV charging take the "
                  "electricity factor; kWh are as delivered (not weather-corrected)",
        "electricity_hourly": {
            "method": hourly.label,
            "description": "electricity (with heat pumps and EV charging) hour by hour: kWh of each hour of the hourly "
                           "rollup x the grid's declared intensity of that hour in the price area; kWh without an "
                           "hourly intensity (hours not declared or not fetched, steps longer than 6 h) by the "
                           f"annual factor ({ANNUAL}), named as fallback_method",
            "area": hourly.area, "dataset": hourly.dataset, "fuel_allocation": hourly.method,
            "intensity_stored_from": first, "intensity_stored_to": last + timedelta(hours=1) if last else None,
            "intensity_hours": n_hours,
            "year": _hourly_total([r for r in rows if r["year"] == year]),
            "baseline": _hourly_total([r for r in rows if r["year"] == baseline_year]),
        },
        "rows": rounded(rows),
    }
    return answer, tuple(b.id for b in buildings)


def _hourly_total(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The electric rows of a year together: kWh, kg CO2 by the annual factor and hour by hour, and the share of the
    kWh computed hour by hour (the hourly method's coverage)."""
    el = [r for r in rows if r.get("hourly")]
    kwh = sum(r["kwh"] for r in el)
    hourly_kg = [r["hourly"]["kg_co2"] for r in el]
    annual = [r["kg_co2"] for r in el]
    covered = sum(r["hourly"]["kwh_hourly"] for r in el)
    return {
        "kwh": round(kwh, 1),
        "kg_co2_annual_factor": None if any(x is None for x in annual) else round(sum(annual), 1),
        "kg_co2_hourly": None if any(x is None for x in hourly_kg) else round(sum(hourly_kg), 1),
        "hourly_coverage": round(covered / kwh, 4) if kwh > 0 else None,
        "fallback_kwh": round(kwh - covered, 1),
    }


def _estimated_share(rows: Sequence[dict[str, Any]]) -> float:
    kwh = sum(r["kwh"] or 0.0 for r in rows)
    return round(sum((r["estimated_share"] or 0.0) * (r["kwh"] or 0.0) for r in rows) / kwh, 4) if kwh > 0 else 0.0


def weighted_coverage(rows: Sequence[dict[str, Any]]) -> float:
    """Measured time over active meter time summed over `rows` (each with its `coverage` and `_active`, the active
    meter time it weighs): a carrier whose meter was installed for a month weighs a month, not a year."""
    active = sum(r["_active"] for r in rows)
    return round(sum(r["coverage"] * r["_active"] for r in rows) / active, 4) if active > 0 else 0.0


def rounded(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as answered: unrounded figures rounded, working fields (`_...`) dropped."""
    return [{**{k: v for k, v in r.items() if not k.startswith("_")}, "kwh": round(r["kwh"], 1),
             "kg_co2": None if r["kg_co2"] is None else round(r["kg_co2"], 1),
             "coverage": round(r["coverage"], 4), "estimated_share": round(r["estimated_share"], 4),
             **({"hourly": _rounded_hourly(r["hourly"])} if r.get("hourly") else {})} for r in rows]


def _rounded_hourly(h: dict[str, Any]) -> dict[str, Any]:
    def r1(x: float | None) -> float | None:
        return None if x is None else round(x, 1)

    return {**h, "kg_co2": r1(h["kg_co2"]), "kwh_hourly": r1(h["kwh_hourly"]), "kg_co2_hourly": r1(h["kg_co2_hourly"]),
            "fallback_kwh": r1(h["fallback_kwh"]), "fallback_kg_co2": r1(h["fallback_kg_co2"]),
            "coverage": None if h["coverage"] is None else round(h["coverage"], 4)}


# ---- LED rollout (T2) --------------------------------------------------------------------------------------------

def led(conn: PgConn, ids: Sequence[str] | None, at: Sequence[date | datetime], tz: ZoneInfo,
        lighting_year: int | None = None) -> dict[str, Any]:
    """LED share by count and by installed W per building and for the portfolio at each point (a date means its
    local midnight; the technology history per luminaire decides); per building at the last point; lighting kWh
    and dimming savings from telemetry for `lighting_year`."""
    groups = cache.memo(conn, ("luminaire_groups", _ids_key(ids)), lambda: _luminaire_groups(conn, ids))

    def edge_of(d: date | datetime) -> int:
        return _micros(d if isinstance(d, datetime) else datetime(d.year, d.month, d.day, tzinfo=tz))

    # the points before the last depend on the registry only: cached by data version; the last (usually now), with
    # the per-building shares, is counted afresh
    fixed = tuple(edge_of(d) for d in at if d != at[-1])
    earlier = iter(cache.memo(conn, ("led_points", _ids_key(ids), fixed),
                              lambda: [_led_point(groups, e, None) for e in fixed]))
    series = []
    per_building: dict[str, dict[str, Any]] = {}
    for d in at:
        n, led_n, w, led_w = _led_point(groups, edge_of(d), per_building) if d == at[-1] else next(earlier)
        series.append({"at": d, "luminaires": int(n), "led": int(led_n),
                       "led_share_count": round(led_n / n, 4) if n else None,
                       "led_share_watts": round(led_w / w, 4) if w else None, "installed_w": round(w, 1)})
    buildings = [{"building_id": bid, **v, "led_share_count": round(v["led"] / v["luminaires"], 4),
                  "led_share_watts": round(v["led_watts"] / v["watts"], 4) if v["watts"] else None}
                 for bid, v in sorted(per_building.items())]
    out: dict[str, Any] = {"series": series, "buildings": buildings,
                           "method": "technology valid at each date from each luminaire's registry history; share "
                                     "by count and by rated W"}
    if lighting_year is not None:
        out["lighting"] = lighting(conn, ids, lighting_year, tz)
    return out


def _led_point(groups: Sequence[tuple[tuple[str, tuple[tuple[int, str, float], ...]], int]], edge: int,
               per_building: dict[str, dict[str, Any]] | None) -> tuple[float, float, float, float]:
    """Luminaires, LED luminaires, W and LED W installed at `edge` (microseconds since 1970), from each luminaire's
    technology history; with `per_building`, each building's counts added there too."""
    n = led_n = w = led_w = 0.0
    for (bid, rows), count in groups:
        state = None
        for r in rows:  # (oldest first) the row valid at the edge
            if r[0] <= edge:
                state = r
        if state is None:
            continue  # not installed yet
        _, tech, watts = state
        is_led = tech == "led"
        n += count
        w += watts * count
        led_n += is_led * count
        led_w += watts * count if is_led else 0
        if per_building is not None:
            pb = per_building.setdefault(bid, {"luminaires": 0, "led": 0, "watts": 0.0, "led_watts": 0.0})
            pb["luminaires"] += count
            pb["led"] += is_led * count
            pb["watts"] += watts * count
            pb["led_watts"] += watts * count if is_led else 0
    return n, led_n, w, led_w


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(at: datetime) -> int:
    """An instant as whole microseconds since 1970 (exact, and compared much faster than aware datetimes)."""
    return (at - _EPOCH) // timedelta(microseconds=1)


def _luminaire_groups(conn: PgConn, ids: Sequence[str] | None
                      ) -> list[tuple[tuple[str, tuple[tuple[int, str, float], ...]], int]]:
    """The luminaires' technology histories (oldest first; valid_from in microseconds since 1970), grouped:
    (building, history) -> how many luminaires have exactly that history (a building retrofitted at once is one
    group), so the shares at each date are counted per group instead of per luminaire."""
    hist: dict[str, list[tuple[int, str, float]]] = {}
    building_of: dict[str, str] = {}
    for lid, bid, valid_from, tech, watts in repository.luminaire_history(conn, ids):
        hist.setdefault(lid, []).append((_micros(valid_from), tech, watts))
        building_of[lid] = bid
    groups: dict[tuple[str, tuple[tuple[int, str, float], ...]], int] = {}
    for lid, rows in hist.items():
        key = (building_of[lid], tuple(rows))
        groups[key] = groups.get(key, 0) + 1
    return list(groups.items())


def lighting(conn: PgConn, ids: Sequence[str] | None, year: int, tz: ZoneInfo) -> dict[str, Any]:
    """Lighting kWh from the luminaires' energy registers and the saving from dimming: rated power x burning hours
    minus the energy actually used."""
    a = datetime(year, 1, 1, tzinfo=tz)
    b = datetime(year + 1, 1, 1, tzinfo=tz)
    rows = repository.lighting_by_building(conn, ids, a, b)
    per = [{"building_id": r[0], "luminaires_reporting": r[1], "kwh": round((r[2] or 0) / 1000, 2),
            "full_power_kwh": round((r[3] or 0) / 1000, 2) if r[3] is not None else None,
            "dimming_saving_kwh": round(((r[3] or 0) - (r[2] or 0)) / 1000, 2) if r[3] is not None else None}
           for r in rows]
    return {"year": year, "kwh": round(sum(p["kwh"] for p in per), 2),
            "dimming_saving_kwh": round(sum(p["dimming_saving_kwh"] or 0 for p in per), 2), "buildings": per,
            "method": "kWh: difference of each luminaire's energy register (energy_wh) over the year; dimming "
                      "saving: rated W x burning hours (burn_hours difference) minus that energy"}


# ---- Fossil phase-out (T3) ---------------------------------------------------------------------------------------

def _fossil(conn: PgConn, ids: Sequence[str] | None, *, years: Sequence[int], baseline_year: int, tz: ZoneInfo,
           group: str | None = "municipal", now: datetime | None = None) -> dict[str, Any]:
    """Buildings burning oil or gas per year: by their metered (or imported) oil and gas kWh, and by their heating
    as of each year in the registry's heating history, so a replaced boiler shows as a lifecycle."""
    buildings = load_buildings(conn, ids, group, years=years, baseline_year=baseline_year, tz=tz)
    rows = [r for r in co2_rows(buildings, years, ref.co2_factors(conn)) if r["carrier"] in FOSSIL and r["kwh"] > 0]
    heating = fact_rows(conn, HEATING, [b.id for b in buildings])
    current = repository.heating_now(conn, [b.id for b in buildings])

    def heated_fossil(b: BuildingData, y: int) -> bool:
        during = values_during(heating.get(b.id, []), datetime(y, 1, 1, tzinfo=tz), datetime(y + 1, 1, 1, tzinfo=tz),
                               extends_back=True)
        return b.in_portfolio(y) and any(v[0] in FOSSIL for v in during)

    trend = []
    for y in years:
        ry = [r for r in rows if r["year"] == y]
        heated = sorted(b.id for b in buildings if heated_fossil(b, y))
        trend.append({"year": y, "buildings": len({r["building_id"] for r in ry}),
                      "kwh": round(sum(r["kwh"] for r in ry), 1),
                      "kg_co2": round(sum(r["kg_co2"] or 0 for r in ry), 1),
                      "buildings_heated_fossil": len(heated),
                      "buildings_fossil": len({r["building_id"] for r in ry} | set(heated))})
    last = years[-1]
    # the heating the last year reported ended with (or today's, while that year runs)
    edge = min(datetime(last + 1, 1, 1, tzinfo=tz), now or datetime.now(tz))
    registered: dict[str, str | None] = {}
    for b in buildings:
        v = value_as_of(heating.get(b.id, []), edge, extends_back=True)
        registered[b.id] = v[0] if v else current.get(b.id)
    still = sorted({r["building_id"] for r in rows if r["year"] == last}
                   | {b.id for b in buildings if b.in_portfolio(last) and registered[b.id] in FOSSIL})
    fossil_meters: dict[str, list[dict[str, Any]]] = {}
    for mid, bid, carrier, a, z, by in repository.fossil_meters(conn, [b.id for b in buildings]):
        fossil_meters.setdefault(bid, []).append({
            "meter_id": mid, "carrier": carrier, "active_from": a.astimezone(tz) if a else None,
            "active_to": z.astimezone(tz) if z else None, "replaced_by": by})
    lifecycles = []
    for b in buildings:
        hist = heating.get(b.id, [])
        if not any(r.value[0] in FOSSIL for r in hist) and b.id not in fossil_meters:
            continue
        ps = periods(hist)
        fossil_until = next((p[1] for p in reversed(ps) if p[2][0] in FOSSIL), None)
        lifecycles.append({
            "building_id": b.id,
            "heating": [{"heating": v[0], "from": a.astimezone(tz) if a else None,
                         "to": z.astimezone(tz) if z else None} for a, z, v in ps],
            "fossil_until": fossil_until.astimezone(tz) if fossil_until else None,
            "converted_to": ps[-1][2][0] if ps and ps[-1][2][0] not in FOSSIL else None,
            # the oil and gas meters with their active spans (meter lifecycle): removed at the replacement
            "meters": fossil_meters.get(b.id, [])})
    return {"years": list(years), "trend": trend,
            "buildings_still_fossil": [{"building_id": b, "registered_heating": registered.get(b),
                                        "heating_now": current.get(b),
                                        "kwh": round(sum(r["kwh"] for r in rows if r["year"] == last
                                                         and r["building_id"] == b), 1)} for b in still],
            "heating_as_of": edge.astimezone(tz),
            "lifecycles": lifecycles,
            "rows": rounded(rows), "target_year": 2030,
            "method": "trend: `buildings` with natural gas or oil consumption in the year (meters or imported "
                      "baseline), `buildings_heated_fossil` whose registered heating was oil or gas at some time in "
                      "the year (heating history), `buildings_fossil` either; still fossil: consumption in the last "
                      "year or registered heating oil or gas as of `heating_as_of`; lifecycles: each building with "
                      "fossil heating or an oil/gas meter: its heating periods (a replaced boiler ends its fossil "
                      "period) and its oil/gas meters' active spans"}


# ---- Energy labels (T4) ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Limit:
    label: str
    base: float
    per_area: float

    def kwh_per_m2(self, area: float) -> float:
        return self.base + self.per_area / area if area > 0 else float("inf")


def label_limits() -> list[Limit]:
    """The label classes' limits (best first), from the shipped data file."""
    return [Limit(r["label"], float(r["base"]), float(r["per_area"])) for r in ref.read_data_file("label_limits.csv")]


def label_for(intensity: float, area: float, limits: Sequence[Limit]) -> str:
    """The label class `intensity` (kWh/m²) falls in for a building of `area` m²."""
    for lim in limits:  # best first
        if intensity <= lim.kwh_per_m2(area):
            return lim.label
    return "G"


def _labels(conn: PgConn, ids: Sequence[str] | None, *, year: int, tz: ZoneInfo, baseline_year: int = 2015,
           group: str | None = "municipal") -> Fresh:
    """Measured (weather-corrected) kWh per m2 against the label limits; saving potential = kWh a year above the
    limit of the next better class than the measured one."""
    limits = label_limits()
    buildings = load_buildings(conn, ids, group, years=[year], baseline_year=baseline_year, tz=tz)
    w, _, _ = weather(conn, [baseline_year, year])
    registered = repository.registered_labels(conn, ids)
    out = []
    for b in buildings:
        label, area_now = registered.get(b.id, (None, 0.0))
        area = b.area.get(year) or area_now
        # kWh/m² a year: a building held part of the year has that part of its area (progress.area_over)
        held = b.area_over(year) or area
        f = year_figures(b, year, share_for(b, baseline_year, w), w)
        row: dict[str, Any] = {"building_id": b.id, "name": b.name, "registered_label": label,
                               "heated_area_m2": round(area, 1), "label_required": area > 250,
                               "coverage": round(f.coverage, 4), "estimated_share": round(f.estimated_share, 4)}
        if f.kwh > 0 and held > 0:
            intensity = f.normalised_kwh / held
            measured = label_for(intensity, area, limits)
            order = [lim.label for lim in limits] + ["G"]
            better = order[order.index(measured) - 1] if order.index(measured) > 0 else None
            target = next((lim for lim in limits if lim.label == better), None)
            potential = max(0.0, (intensity - target.kwh_per_m2(area)) * area) if target else 0.0
            row |= {"kwh_per_m2": round(intensity, 1), "measured_class": measured, "next_class": better,
                    "next_class_limit_kwh_per_m2": round(target.kwh_per_m2(area), 1) if target else None,
                    "saving_potential_kwh": round(potential, 1)}
        else:
            row |= {"kwh_per_m2": None, "measured_class": None, "next_class": None,
                    "next_class_limit_kwh_per_m2": None, "saving_potential_kwh": None}
        out.append(row)
    out.sort(key=lambda r: -(r["saving_potential_kwh"] or 0))
    answer = {"year": year, "buildings": out, **NOTHING_PENDING,
            "without_label": [r["building_id"] for r in out if r["label_required"] and not r["registered_label"]],
            "limits_source": ref.data_file_source("label_limits.csv"),
            "method": "delivered kWh (heat weather-corrected) per heated m2 against the non-residential label limits; "
                      "an indicator only: a real label rates calculated primary energy"}
    return answer, tuple(b.id for b in buildings)


# ---- Green accounts (grønt regnskab) -----------------------------------------------------------------------------

def _green_accounts(conn: PgConn, ids: Sequence[str] | None, *, year: int, baseline_year: int, tz: ZoneInfo,
                   group: str | None = "municipal") -> Fresh:
    years = [baseline_year, year]
    buildings = load_buildings(conn, ids, group, years=years, baseline_year=baseline_year, tz=tz)
    w: Weather
    w, normal, _ = weather(conn, years)
    table = ref.co2_factors(conn)
    rows = []
    active: list[float] = []  # per row: its carrier's active meter time in the year (what its coverage weighs)
    for b in buildings:
        share = share_for(b, baseline_year, w)
        for carrier in sorted({c for y in years for c in b.data.get(y, {}) if c in TOTAL_CARRIERS}):
            figs: dict[int, tuple[YearFigures, FactorUsed | None] | None] = {}
            for y in years:
                if not b.in_portfolio(y):
                    figs[y] = None
                    continue
                one = only_carrier(b, y, carrier)
                f = year_figures(one, y, share, w)
                fac = factor_for_carrier(table, carrier, y)
                figs[y] = (f, fac)
            cur, base = figs.get(year), figs.get(baseline_year)
            if cur is None and base is None:
                continue
            fc, fb = (cur[0] if cur else None), (base[0] if base else None)
            kg = fc.kwh * cur[1].kg_per_kwh if fc and cur and cur[1] else None
            kg_b = fb.kwh * base[1].kg_per_kwh if fb and base and base[1] else None
            rows.append({
                "building_id": b.id, "name": b.name, "carrier": carrier,
                "kwh": round(fc.kwh, 1) if fc else None,
                "normalised_kwh": round(fc.normalised_kwh, 1) if fc else None,
                "coverage": round(fc.coverage, 4) if fc else None,
                "estimated_share": round(fc.estimated_share, 4) if fc else None,
                "kg_co2": round(kg, 1) if kg is not None else None,
                "baseline_kwh": round(fb.kwh, 1) if fb else None,
                "baseline_normalised_kwh": round(fb.normalised_kwh, 1) if fb else None,
                "baseline_kg_co2": round(kg_b, 1) if kg_b is not None else None,
                # unknown, not -100 %, when the carrier's meters were installed but measured nothing
                "change_normalised_pct": round((fc.normalised_kwh / fb.normalised_kwh - 1) * 100, 2)
                if fc and fb and fb.normalised_kwh > 0 and not (fc.cells > 0 and fc.covered == 0) else None,
                "a": round(share.a, 4), "a_method": share.method,
            })
            active.append(fc.cells if fc else 0.0)

    def tot(key: str) -> float:
        return round(sum(float(r[key] or 0) for r in rows), 1)

    keys = ("kwh", "normalised_kwh", "kg_co2", "baseline_kwh", "baseline_normalised_kwh", "baseline_kg_co2")
    totals: dict[str, float | None] = {k: tot(k) for k in keys}
    totals["change_normalised_pct"] = _change(tot("normalised_kwh"), tot("baseline_normalised_kwh"))
    totals["change_co2_pct"] = _change(tot("kg_co2"), tot("baseline_kg_co2"))
    # measured over active meter time, summed over the rows (as /co2 and /consumption): not a plain average
    totals["coverage"] = weighted_coverage([{"coverage": r["coverage"] or 0.0, "_active": a}
                                             for r, a in zip(rows, active, strict=True)])
    totals["estimated_share"] = _estimated_share(rows)
    answer = {"year": year, "baseline_year": baseline_year, "totals": totals, "rows": rows,
            **NOTHING_PENDING,
            "normal_year": {"degree_days": sum(normal.degree_days), "source": normal.source},
            "method": "energy by carrier as delivered; heat weather-corrected month by month (degree days, normal "
                      "year above, a per building); CO2 = delivered kWh x factor(carrier, year); totals count "
                      "meters without a parent, never water or PV production"}
    return answer, tuple(b.id for b in buildings)


def _change(now: float, base: float) -> float | None:
    return round((now / base - 1) * 100, 2) if base and now else None


GREEN_CSV_COLUMNS = ("building_id", "name", "carrier", "kwh", "normalised_kwh", "coverage", "kg_co2", "baseline_kwh",
                     "baseline_normalised_kwh", "baseline_kg_co2", "change_normalised_pct", "a", "a_method",
                     "estimated_share")


def spreadsheet_safe(value: object) -> object:
    """A text cell a spreadsheet would run as a formula (starting with = + - @, a tab or a carriage return) gets a
    leading apostrophe, as OWASP advises for CSV injection; numbers are left alone."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def green_accounts_csv(report: dict[str, Any]) -> str:
    """The green accounts as CSV: a row per building and carrier, then the totals (text cells spreadsheet-safe)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(GREEN_CSV_COLUMNS)
    for r in report["rows"]:
        w.writerow(["" if r[c] is None else spreadsheet_safe(r[c]) for c in GREEN_CSV_COLUMNS])
    t = report["totals"]
    w.writerow(["TOTAL", "", "", t["kwh"], t["normalised_kwh"], t["coverage"], t["kg_co2"], t["baseline_kwh"],
                t["baseline_normalised_kwh"], t["baseline_kg_co2"], t["change_normalised_pct"], "", "",
                t["estimated_share"]])
    return buf.getvalue()


def _num(x: Any, digits: int = 0) -> str:
    if x is None:
        return "&ndash;"
    return f"{x:,.{digits}f}".replace(",", " ")


def green_accounts_html(r: dict[str, Any]) -> str:
    """The green accounts as a printable HTML page (every text escaped)."""
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


# ---- The answers above, cached exactly by data version (services/targets/cache.py) ---------------------------------
# Each key holds every argument; the answers are shared between callers, who must not change them.

def _ids_key(ids: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if ids is None else tuple(ids)


# What the answers built on the rollups say before the readings waiting for the rollups are read (per request)
NOTHING_PENDING: dict[str, Any] = {"computed_through": None, "pending_buildings": []}

Fresh = tuple[dict[str, Any], tuple[str, ...]]  # an answer and the buildings whose pending readings it names


def _with_freshness(conn: PgConn, key: Hashable, compute: Callable[[], Fresh], *, ids: Sequence[str] | None,
                    years: Sequence[int], fresh_years: Sequence[int], tz: ZoneInfo) -> tuple[Hashable, dict[str, Any]]:
    """The answer for `key`, cached by the data version of the `years` whose rollups it reads, with whether readings
    of `fresh_years` wait for the rollups read anew (README "Freshness"): the pending readings are read before the
    figures, so a rollup committing in between can only make the answer say "pending" needlessly. The pending state is
    not part of the cached answer, so readings arriving and being rolled up every second leave it cached. The key
    returned is equal exactly for equal answers."""
    pending = pending_counted(conn, ids)
    full, (answer, building_ids) = cache.memo_keyed(conn, key, compute, years)
    fresh = report_freshness(conn, building_ids, fresh_years, tz, pending)
    if fresh["computed_through"] is None:
        return (full, None), answer
    return (full, (fresh["computed_through"], tuple(fresh["pending_buildings"]))), {**answer, **fresh}


def co2_keyed(conn: PgConn, ids: Sequence[str] | None, *, year: int, baseline_year: int, tz: ZoneInfo,
              group: str | None = "municipal", hourly: HourlyCo2Settings | None = None
              ) -> tuple[Hashable, dict[str, Any]]:
    """GET /co2: kg CO2 per building, carrier and year, by the annual factors and hour by hour (cached), with a key
    equal exactly for equal answers."""
    # the hourly figures read consumption_hourly, whose rows change only with the daily rows of the same local days
    # (the rollups rewrite both for a range): the years' versions of consumption_daily cover them; the hourly
    # intensities move their years' versions themselves (migration 0014)
    h = hourly or HourlyCo2Settings()
    years = sorted({baseline_year, year})
    return _with_freshness(
        conn, ("co2", _ids_key(ids), year, baseline_year, tz.key, group, h),
        lambda: _co2(conn, ids, year=year, baseline_year=baseline_year, tz=tz, group=group, hourly=h),
        ids=ids, years=years, fresh_years=years, tz=tz)


def co2(conn: PgConn, ids: Sequence[str] | None, *, year: int, baseline_year: int, tz: ZoneInfo,
        group: str | None = "municipal", hourly: HourlyCo2Settings | None = None) -> dict[str, Any]:
    """GET /co2 (`co2_keyed`'s answer; shared: callers must not change it)."""
    return co2_keyed(conn, ids, year=year, baseline_year=baseline_year, tz=tz, group=group, hourly=hourly)[1]


def fossil(conn: PgConn, ids: Sequence[str] | None, *, years: Sequence[int], baseline_year: int, tz: ZoneInfo,
           group: str | None = "municipal", now: datetime | None = None) -> dict[str, Any]:
    """GET /fossil: the fossil trend, the buildings still fossil and their lifecycles (cached)."""
    # `now` only decides the instant the registered heating is read at (the end of the last year, or now while it
    # runs): that instant is the key, so the answer is the same
    edge = min(datetime(years[-1] + 1, 1, 1, tzinfo=tz), now or datetime.now(tz))
    return cache.memo(conn, ("fossil", _ids_key(ids), tuple(years), baseline_year, tz.key, group, edge),
                      lambda: _fossil(conn, ids, years=years, baseline_year=baseline_year, tz=tz, group=group,
                                      now=edge), years=(baseline_year, *years))


def labels_keyed(conn: PgConn, ids: Sequence[str] | None, *, year: int, tz: ZoneInfo, baseline_year: int = 2015,
                 group: str | None = "municipal") -> tuple[Hashable, dict[str, Any]]:
    """GET /labels: measured kWh/m² against the label limits, ranked by saving potential (cached), with a key equal
    exactly for equal answers."""
    return _with_freshness(
        conn, ("labels", _ids_key(ids), year, tz.key, baseline_year, group),
        lambda: _labels(conn, ids, year=year, tz=tz, baseline_year=baseline_year, group=group),
        ids=ids, years=(baseline_year, year), fresh_years=[year], tz=tz)


def labels(conn: PgConn, ids: Sequence[str] | None, *, year: int, tz: ZoneInfo, baseline_year: int = 2015,
           group: str | None = "municipal") -> dict[str, Any]:
    """GET /labels (`labels_keyed`'s answer; shared: callers must not change it)."""
    return labels_keyed(conn, ids, year=year, tz=tz, baseline_year=baseline_year, group=group)[1]


def green_accounts_keyed(conn: PgConn, ids: Sequence[str] | None, *, year: int, baseline_year: int, tz: ZoneInfo,
                         group: str | None = "municipal") -> tuple[Hashable, dict[str, Any]]:
    """GET /green-accounts: the yearly green accounts per building and carrier (cached), with a key equal exactly
    for equal answers."""
    years = sorted({baseline_year, year})
    return _with_freshness(
        conn, ("green_accounts", _ids_key(ids), year, baseline_year, tz.key, group),
        lambda: _green_accounts(conn, ids, year=year, baseline_year=baseline_year, tz=tz, group=group),
        ids=ids, years=years, fresh_years=years, tz=tz)


def green_accounts(conn: PgConn, ids: Sequence[str] | None, *, year: int, baseline_year: int, tz: ZoneInfo,
                   group: str | None = "municipal") -> dict[str, Any]:
    """GET /green-accounts (`green_accounts_keyed`'s answer; shared: callers must not change it)."""
    return green_accounts_keyed(conn, ids, year=year, baseline_year=baseline_year, tz=tz, group=group)[1]


# ---- What a request asks for: the years, the points in time, the factor table ------------------------------------

def last_complete_year(now: datetime, tz: ZoneInfo) -> int:
    """The last whole year before `now`, in local time: what a report defaults to."""
    return now.astimezone(tz).year - 1


def report_year(year: int | None, now: datetime, tz: ZoneInfo) -> int:
    """The year a report is asked for (default: the last complete year); a year not started yet is a
    ValidationFailed."""
    y = year or last_complete_year(now, tz)
    if y > now.astimezone(tz).year:
        raise ValidationFailed("year", f"{y} has not started")
    return y


def fossil_years(baseline_year: int, now: datetime, tz: ZoneInfo) -> list[int]:
    """The years of the fossil trend: the baseline year to the last complete year (a later baseline year is a
    ValidationFailed, not an empty trend)."""
    last = last_complete_year(now, tz)
    if baseline_year > last:
        raise ValidationFailed("baseline_year", f"{baseline_year} is after the last complete year ({last}): the "
                                                "trend runs from the baseline year to the last complete year")
    return list(range(baseline_year, last + 1))


def heating_read_at(years: Sequence[int], now: datetime, tz: ZoneInfo) -> datetime:
    """The instant the fossil report reads the registered heating at: the end of its last year, or now while that
    year runs (the answer depends on `now` only through it)."""
    return min(datetime(years[-1] + 1, 1, 1, tzinfo=tz), now)


def led_points(from_year: int, now: datetime, tz: ZoneInfo) -> list[date | datetime]:
    """The points the LED rollout is counted at: each 1 January from `from_year` to this year, and now."""
    today = now.astimezone(tz).date()
    at: list[date | datetime] = [date(y, 1, 1) for y in range(from_year, today.year + 1)]
    at.append(now)
    return at


def led_report(conn: PgConn, ids: Sequence[str] | None, *, from_year: int, lighting_year: int | None,
               now: datetime, tz: ZoneInfo) -> dict[str, Any]:
    """GET /led: the LED shares at each 1 January from `from_year` and now, and the lighting telemetry of
    `lighting_year` (default: the last complete year)."""
    return led(conn, ids, led_points(from_year, now, tz), tz,
               lighting_year=lighting_year or last_complete_year(now, tz))


def hourly_co2_settings() -> HourlyCo2Settings:
    """The hourly intensity's source as configured (settings.sync.energidataservice)."""
    eds = get_settings().sync.energidataservice
    return HourlyCo2Settings(area=eds.price_area, dataset=eds.dataset, method=eds.method)


def co2_factors(conn: PgConn, *, history: bool = False) -> list[dict[str, Any]]:
    """The CO2 factor table: current rows (newest per carrier, year and area), or every version with `history`."""
    return repository.co2_factor_rows(conn, history=history)


def add_co2_factor(conn: PgConn, factor: FactorIn, actor: str) -> None:
    """A new factor version: it becomes current for its carrier, year and area; older versions stay."""
    ref.add_co2_factor(conn, ref.Factor(factor.carrier.value, factor.year, factor.area, factor.kg_per_kwh,
                                        factor.method, factor.source), actor)
