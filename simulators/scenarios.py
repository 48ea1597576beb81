"""The demo's planted scenarios: six things that went wrong in the simulated estate, one for each alert rule, placed
in the days just before the demo starts so that the alert process finds them on its first evaluation.

They are part of the estate's true history (the model, simulators/model.py `Event`s), not inserted alerts: the
history writer and the live simulation publish what the meters and luminaires would have measured, and the product
has to find them. Everything is placed relative to the history's end `end` (an instant; `run.sh` writes the history
until the last full hour but one) and to the day the demo starts, `today` (the local date of end + 1 h). The alert
process judges the three complete local days before today (`ENERGIBLIK_ALERTS__DAYS_BACK`), and rules that judge days
resolve an alert when the last of them is normal again, so each day-judged scenario lasts into yesterday.

Each scenario takes the first building of the fleet that fits (and no other scenario's):

- lights_out_of_hours — a school without lights left on by habit: ten fittings (the gym, zone 1) left on from
  08:00 yesterday if that was a closed day (Saturday, Sunday, holiday), else the day before if that was one, else
  from closing time yesterday; until the school opens next.
- night_baseload — a depot, town hall, library or sports hall (opening on whole hours) without EV charger, heat
  pump or lights left on: the ventilation's night setback lost, 80 % of its base load more in every closed hour,
  from local midnight three days before today, still going on.
- above_baseline — a building with a registered hot-water share (id ending in 1 or 2), no heat pump, no EV charger,
  at most 2,500 m² if one is: an electric frost heater in the ventilation ran day and night all of the previous
  calendar month, as much as 60 % of the building's use in that month of 2015.
- dh_cooling — a district-heated building with a wmbusmeters heat meter (one is given such a meter if none has):
  the substation's bypass valve stuck open a week before today, return about 52 °C instead of 35 °C, still so.
- counter_anomaly — the next building's electricity meter: a power cut resets its register to zero in the first
  quarter-hour after the history's end (the live simulation publishes it in its first seconds).
- meter_silent — the next building with a water meter: its M-Bus gateway lost power five hours before the
  history's end, for good.

`python -m simulators.scenarios --buildings 100 --seed 2015 [--end 2026-11-30T09:00:00+00:00]` prints them with the
waste the model says each caused (`expected`, computed from the model, independently of the alert code); the
integration test tests/integration/test_demo_alerts.py runs them through the real pipeline and compares.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from simulators.model import (
    FLUORESCENT_W,
    LED_W,
    TZ,
    BuildingSpec,
    Event,
    day_use,
    fleet,
    heat_sample,
    lit_watts,
    local_day_hours,
    month_degree_days,
    open_quarters,
)

JUDGED_DAYS = 3  # the alert process's days_back
TELEMETRY_DAYS = JUDGED_DAYS  # luminaire and heat-meter telemetry the history writer writes before its end
TOTAL = ("electricity", "district_heating", "natural_gas", "oil")  # what the building totals count (no sub-meters)
HEAT = ("district_heating", "natural_gas", "oil")
NORMAL_YEAR = Path(__file__).resolve().parent.parent / "services" / "targets" / "data" / "normal_year.csv"


@dataclass
class Scenario:
    rule: str
    building_id: str
    subject: str  # the alert's subject: a meter id, or "" / "month" as the rule names it
    what: str
    events: list[Event] = field(default_factory=list)


def today_of(end: datetime) -> date:
    """The day the demo starts, for a history that ends at `end`."""
    return (end + timedelta(hours=1)).astimezone(TZ).date()


def judged_days(end: datetime) -> list[date]:
    t = today_of(end)
    return [t - timedelta(days=k) for k in range(JUDGED_DAYS, 0, -1)]


def _local(d: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=TZ).astimezone(UTC)


def _closed_day(b: BuildingSpec, d: date) -> bool:
    return not any(open_quarters(b.archetype, d, b.school))


def _next_opening(b: BuildingSpec, t: datetime) -> datetime:
    """The first quarter-hour at or after `t` (UTC, on a quarter) in which the building is open."""
    for _ in range(96 * 14):
        local = t.astimezone(TZ)
        if open_quarters(b.archetype, local.date(), b.school)[4 * local.hour + local.minute // 15]:
            return t
        t += timedelta(minutes=15)
    raise ValueError(f"{b.id} does not open within two weeks of {t}")


def _closing(b: BuildingSpec, d: date) -> datetime:
    """The end of the last open quarter-hour of day d (its closing time)."""
    q = open_quarters(b.archetype, d, b.school)
    last = max(i for i, x in enumerate(q) if x)
    return _local(d) + timedelta(minutes=15 * (last + 1))  # (no opening hours cross a DST change)


def _pick(buildings: list[BuildingSpec], used: set[str], *tests: object) -> BuildingSpec:
    """The first building passing every test not yet used; fewer tests (the last dropped first) when none does."""
    preds = list(tests)
    while True:
        for b in buildings:
            if b.id not in used and all(p(b) for p in preds):  # type: ignore[operator]
                used.add(b.id)
                return b
        if not preds:
            raise ValueError("the fleet is too small for the demo's scenarios")
        preds.pop()


def _heating_at(b: BuildingSpec, d: date) -> str:
    return b.heating_now if b.conversion_year and d >= date(b.conversion_year, 7, 1) else b.heating_2015


def plant(buildings: list[BuildingSpec], end: datetime, seed: int = 2015) -> list[Scenario]:
    """Give the fleet its scenarios (each building's `events`) for a history that ends at `end`; returns them."""
    for b in buildings:
        b.events = []
    today = today_of(end)
    d1, d2 = today - timedelta(days=1), today - timedelta(days=2)
    used: set[str] = set()
    out: list[Scenario] = []

    # lights left on in a school
    school = _pick(buildings, used, lambda b: b.school, lambda b: b.night_light_rate == 0)
    if _closed_day(school, d1):
        start, why = _local(d1, 8), f"{d1:%A} {d1}"
    elif _closed_day(school, d2):
        start, why = _local(d2, 8), f"{d2:%A} {d2}"
    else:
        start, why = _closing(school, d1), f"the evening of {d1:%A} {d1}"
    stop = _next_opening(school, start)
    rated = LED_W if school.led_year is not None and start.astimezone(TZ).year >= school.led_year else FLUORESCENT_W
    fittings = min(10, school.luminaires)
    school.events.append(Event("lights", start, stop, fittings * rated))
    out.append(Scenario("lights_out_of_hours", school.id, "", (
        f"{school.name} ({school.id}): the gym's {fittings} fittings (zone 1, {fittings * rated:.0f} W) were left on "
        f"from {start.astimezone(TZ):%H:%M} on {why} until the school opened at "
        f"{stop.astimezone(TZ):%a %d %b %H:%M}"), [school.events[-1]]))

    # a night baseload jump: the ventilation's night setback lost
    whole_hours = ("depot", "town_hall", "library", "sports_hall")
    b = _pick(buildings, used, lambda b: b.archetype.type in whole_hours, lambda b: b.ev_year is None,
              lambda b: b.heating_now != "heat_pump", lambda b: b.night_light_rate == 0)
    eff = (1 - b.improvement_per_year) ** (today.year - 2015)
    kw = round(0.8 * b.area_m2 / 1000 * b.archetype.base_kw_per_1000m2 * eff, 1)
    first = today - timedelta(days=JUDGED_DAYS)
    b.events.append(Event("closed_load", _local(first), None, kw))
    out.append(Scenario("night_baseload", b.id, "", (
        f"{b.name} ({b.id}): a BMS update on {first} lost the ventilation's night setback; the air handling units "
        f"run at day speed whenever the building is closed, {kw:g} kW more (80 % of its base load), still going on"),
        [b.events[-1]]))

    # a month far above its weather-corrected baseline
    month_end = today.replace(day=1)
    month = (month_end - timedelta(days=1)).replace(day=1)
    b = _pick(buildings, used, lambda b: b.id.endswith(("1", "2")), lambda b: b.heating_now != "heat_pump",
              lambda b: b.ev_year is None, lambda b: b.area_m2 <= 2500)
    base_2015 = sum(_total(use) for d in _days(date(2015, month.month, 1)) for _, use in day_use(b, d, seed))
    hours = (_local(month_end) - _local(month)) / timedelta(hours=1)
    kw = round(0.6 * base_2015 / hours, 1)
    b.events.append(Event("load", _local(month), _local(month_end), kw))
    out.append(Scenario("above_baseline", b.id, "month", (
        f"{b.name} ({b.id}): a failed frost thermostat kept an electric heater in the ventilation on day and night "
        f"all of {month:%B %Y}: {kw:g} kW, {kw * hours:,.0f} kWh"), [b.events[-1]]))

    # poor district-heating cooling
    b = _pick(buildings, used, lambda b: any(m.carrier == "district_heating" for m in b.meters),
              lambda b: any(m.wmbus_id for m in b.meters if m.carrier == "district_heating"))
    heat = next(m for m in b.meters if m.carrier == "district_heating")
    if heat.wmbus_id is None:  # the scenario needs a meter that reports temperatures
        heat.wmbus_id = f"{10**7 + sum(map(ord, b.id)) * 7919 % (9 * 10**7)}"
    since = today - timedelta(days=7)
    b.events.append(Event("poor_cooling", _local(since), None, 52.0, heat.id))
    out.append(Scenario("dh_cooling", b.id, heat.id, (
        f"{b.name} ({b.id}): the district-heating substation's bypass valve stuck open on {since}; the return runs "
        f"at about 52 °C instead of 35 °C (meter {heat.id}, wmbusmeters kamheat telegrams), still going on"),
        [b.events[-1]]))

    # a counter reset, in the live simulation's first quarter-hour
    b = _pick(buildings, used)
    el = next(m for m in b.meters if m.carrier == "electricity")
    at = end + timedelta(minutes=15)
    b.events.append(Event("reset", at, None, 0.0, el.id))
    out.append(Scenario("counter_anomaly", b.id, el.id, (
        f"{b.name} ({b.id}): a power cut reset the register of meter {el.id} to zero at "
        f"{at.astimezone(TZ):%Y-%m-%d %H:%M}"), [b.events[-1]]))

    # a silent meter
    b = _pick(buildings, used, lambda b: any(m.carrier == "water" for m in b.meters))
    water = next(m for m in b.meters if m.carrier == "water")
    at = end - timedelta(hours=5)
    b.events.append(Event("silent", at, None, 0.0, water.id))
    out.append(Scenario("meter_silent", b.id, water.id, (
        f"{b.name} ({b.id}): the M-Bus gateway of water meter {water.id} lost power at "
        f"{at.astimezone(TZ):%Y-%m-%d %H:%M}; no reading since"), [b.events[-1]]))
    return out


def _days(first: date) -> list[date]:
    out, d = [], first
    while d.month == first.month:
        out.append(d)
        d += timedelta(days=1)
    return out


def _total(use: dict[str, float]) -> float:
    return sum(use.get(c, 0.0) for c in TOTAL)


# ---- what the model says each scenario caused (independent of the alert code) -----------------------------------

def lights_waste(b: BuildingSpec, day: date, *, min_w: float = 5.0, min_minutes: float = 30.0) -> float | None:
    """kWh the building's lights drew on `day` while it was closed (quarter-hour by quarter-hour, as the model lights
    them), or None when they were on out of hours for less than `min_minutes`."""
    t, stop = _local(day), _local(day + timedelta(days=1))
    kwh, minutes = 0.0, 0.0
    while t < stop:
        local = t.astimezone(TZ)
        if not open_quarters(b.archetype, local.date(), b.school)[4 * local.hour + local.minute // 15]:
            w = lit_watts(b, local)
            if w >= min_w:
                kwh += w / 4000
                minutes += 15
        t += timedelta(minutes=15)
    return kwh if minutes >= min_minutes else None


def closed_load_waste(b: BuildingSpec, day: date) -> float:
    """kWh the building's closed-hour load events added on `day` (hours it is closed all of)."""
    q = open_quarters(b.archetype, day, b.school)
    total = 0.0
    for start in local_day_hours(day):
        h = start.astimezone(TZ).hour
        if not any(q[4 * h:4 * h + 4]):
            total += sum(e.value for e in b.events if e.kind == "closed_load" and e.at(start))
    return total


def normal_year() -> dict[int, float]:
    with NORMAL_YEAR.open(encoding="utf-8") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        return {int(r["month"]): float(r["degree_days"]) for r in rows}


def month_kwh(b: BuildingSpec, year: int, month: int, seed: int = 2015) -> dict[str, float]:
    out: dict[str, float] = {}
    for d in _days(date(year, month, 1)):
        for _, use in day_use(b, d, seed):
            for c in TOTAL:
                if c in use:
                    out[c] = out.get(c, 0.0) + use[c]
    return out


def weather_corrected(kwh: dict[str, float], a: float, gd_normal: float, gd_actual: float) -> float:
    """Heat normalised to the normal year (docs/semantics.md: E_norm = a E + (1 - a) E GD_normal / GD_actual, left
    alone under 5 % of the normal degree days), electricity as it is."""
    total = 0.0
    for c, e in kwh.items():
        corrected = c in HEAT and gd_actual >= 0.05 * gd_normal > 0
        total += a * e + (1 - a) * e * gd_normal / gd_actual if corrected else e
    return total


def month_waste(b: BuildingSpec, month: date, seed: int = 2015) -> float:
    """How far `month` lies above the same month of 2015, both weather-corrected with the building's registered
    hot-water share (degree days as imported: one decimal)."""
    a = b.archetype.hot_water_share
    normal = normal_year()[month.month]
    now = weather_corrected(month_kwh(b, month.year, month.month, seed), a, normal,
                            round(month_degree_days(month.year, month.month, seed), 1))
    base = weather_corrected(month_kwh(b, 2015, month.month, seed), a, normal,
                             round(month_degree_days(2015, month.month, seed), 1))
    return now - base


def cooling_day(b: BuildingSpec, meter_id: str, day: date, seed: int = 2015) -> tuple[float, float]:
    """(volume-weighted mean return °C, mean cooling K) of the heat meter's quarter-hourly telegrams stamped on
    `day`, each reporting the quarter-hour that ends at its time, rounded as the telegram rounds."""
    hours = {start: use for d in (day - timedelta(days=1), day) for start, use in day_use(b, d, seed)}
    t, stop = _local(day), _local(day + timedelta(days=1))
    w_sum = ret_sum = cool_sum = 0.0
    while t < stop:
        hour = (t - timedelta(minutes=15)).replace(minute=0)
        heat_kw = hours[hour].get("district_heating", 0.0)
        flow, ret, vol = heat_sample(b, t, heat_kw)
        flow, ret, vol = round(flow, 1), round(ret, 1), round(vol, 4)
        w = vol if vol > 0 else 1.0
        w_sum += w
        ret_sum += w * ret
        cool_sum += w * (flow - ret)
        t += timedelta(minutes=15)
    return ret_sum / w_sum, cool_sum / w_sum


def expected(scenarios: list[Scenario], buildings: list[BuildingSpec], end: datetime, seed: int = 2015
             ) -> dict[str, dict[str, object]]:
    """Per rule: the scenario's building and what the model says the alert should carry."""
    by_id = {b.id: b for b in buildings}
    days = judged_days(end)
    out: dict[str, dict[str, object]] = {}
    for s in scenarios:
        b = by_id[s.building_id]
        e = s.events[0]
        row: dict[str, object] = {"building_id": s.building_id, "subject": s.subject, "what": s.what}
        if s.rule == "lights_out_of_hours":
            per_day = {d.isoformat(): w for d in days if (w := lights_waste(b, d)) is not None}
            row.update(wasted_kwh=sum(per_day.values()), per_day=per_day)
        elif s.rule == "night_baseload":
            per_day = {d.isoformat(): closed_load_waste(b, d) for d in days}
            row.update(wasted_kwh=sum(per_day.values()), per_day=per_day)
        elif s.rule == "above_baseline":
            month = e.start.astimezone(TZ).date()
            row.update(wasted_kwh=month_waste(b, month, seed), injected_kwh=e.value * (
                (e.end or e.start) - e.start) / timedelta(hours=1))
        elif s.rule == "dh_cooling":
            ret, cool = cooling_day(b, s.subject, days[-1], seed)
            row.update(wasted_kwh=None, mean_return_c=ret, mean_cooling_k=cool, day=days[-1].isoformat())
        elif s.rule == "counter_anomaly":
            row.update(wasted_kwh=None, kind="reset", ts=e.start.isoformat())
        else:
            row.update(wasted_kwh=None, last_reading=e.start.isoformat())
        out[s.rule] = row
    return out


def default_end(now: datetime | None = None) -> datetime:
    """Where run.sh's history ends: the last full hour but one (the live simulation catches up the rest at once)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--buildings", type=int, default=100)
    ap.add_argument("--seed", type=int, default=2015)
    ap.add_argument("--end", type=datetime.fromisoformat, default=None, help="the history's end (default: run.sh's)")
    args = ap.parse_args(argv)
    end = args.end or default_end()
    buildings = fleet(args.buildings, args.seed)
    scenarios = plant(buildings, end, args.seed)
    for rule, row in expected(scenarios, buildings, end, args.seed).items():
        waste = row["wasted_kwh"]
        print(f"{rule}: {row['what']}" + (f"; expected wasted_kwh {waste:,.1f}" if isinstance(waste, float) else ""))
        extra = {k: v for k, v in row.items() if k not in ("what", "wasted_kwh", "building_id", "subject")}
        if extra:
            print(f"    {extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
