"""A simulated municipal estate: buildings of seven archetypes with hourly energy use that follows opening hours,
weekends, Danish public and school holidays, outdoor temperature (degree days) and the years' improvements.

Everything is a pure function of the seed: the same seed gives the same fleet and the same numbers. `hour_kwh` is
the truth the meters count, so tests can compare what the product computes with what was simulated.
"""

from __future__ import annotations

import math
import random
import zlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.calendar import WEEKDAYS as CALENDAR_DAYS
from services.calendar import closed_reason

TZ = ZoneInfo("Europe/Copenhagen")
HISTORY_START = date(2015, 1, 1)
GAS_KWH_PER_M3 = 11.0
OIL_KWH_PER_L = 10.0
BOILER_EFFICIENCY = {"natural_gas": 0.9, "oil": 0.85}
HEAT_PUMP_COP = 3.0
# A "luminaire" here is a four-lamp fitting on one DALI address: 4 x 58 W fluorescent tubes, or its LED replacement.
FLUORESCENT_W = 232.0
LED_W = 100.0


@dataclass(frozen=True)
class Archetype:
    type: str
    area: tuple[int, int]
    hours: dict[str, list[str]]
    base_kw_per_1000m2: float  # always on: ventilation, servers, fridges
    occupied_kw_per_1000m2: float  # on top while open
    heat_kwh_per_m2: float  # a year, space heating and hot water, in 2015
    hot_water_share: float
    names: tuple[str, ...]


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
ARCHETYPES = (
    Archetype("school", (3000, 9000), {d: ["07:30-16:00"] for d in WEEKDAYS}, 4.0, 14.0, 95, 0.15,
              ("Skole", "Skolen")),
    Archetype("daycare", (400, 1200), {d: ["06:30-17:00"] for d in WEEKDAYS}, 3.0, 10.0, 110, 0.2,
              ("Børnehus", "Vuggestue")),
    Archetype("town_hall", (3000, 10000), {**{d: ["08:00-16:00"] for d in WEEKDAYS[:4]}, "fri": ["08:00-14:00"]},
              5.0, 16.0, 85, 0.1, ("Rådhus", "Administrationsbygning")),
    Archetype("sports_hall", (1500, 4000), {d: ["07:00-22:00"] for d in (*WEEKDAYS, "sat", "sun")}, 3.0, 10.0, 80,
              0.35, ("Idrætshal", "Svømmehal")),
    Archetype("nursing_home", (2000, 6000), {d: ["00:00-24:00"] for d in (*WEEKDAYS, "sat", "sun")}, 8.0, 6.0, 130,
              0.3, ("Plejecenter",)),
    Archetype("library", (800, 2500), {**{d: ["10:00-19:00"] for d in WEEKDAYS}, "sat": ["10:00-14:00"]}, 4.0,
              10.0, 90, 0.05, ("Bibliotek",)),
    Archetype("depot", (500, 2000), {d: ["06:00-15:00"] for d in WEEKDAYS}, 3.0, 8.0, 70, 0.1,
              ("Materielgård", "Driftsgård")),
)
STREETS = ("Ballerup Byvej", "Hold-an Vej", "Skovlunde Byvej", "Måløv Hovedgade", "Egebjergvej", "Lautrupvang",
           "Baltorpvej", "Sønderhaven", "Grantoftevej", "Jonstrupvej")


@dataclass
class MeterSpec:
    id: str
    carrier: str
    unit: str
    kwh_per_unit: float | None = None
    parent: str | None = None
    active_from: date = HISTORY_START
    active_until: date | None = None  # exclusive; None: still in use
    wmbus_id: str | None = None  # published through a wmbusmeters gateway
    v0: float = 0.0  # register value on active_from


@dataclass(frozen=True)
class Event:
    """Something that happened to a building, part of its true history (the demo's scenarios,
    simulators/scenarios.py): between `start` and `end` (UTC, half-open; end None: still going on)

    - `closed_load`: `value` kW more electricity in every hour the building is closed all of (a lost night setback);
    - `load`: `value` kW more electricity in every hour;
    - `lights`: luminaires drawing `value` W more (a zone left on);
    - `poor_cooling`: district-heating return temperature around `value` °C instead of the normal 35 °C;
    - `silent`: meter `meter` sends nothing from `start` on (its last reading is the one at `start`);
    - `reset`: the register of meter `meter` restarts from zero at `start` (a quarter-hour end)."""

    kind: str
    start: datetime
    end: datetime | None = None
    value: float = 0.0
    meter: str | None = None

    def at(self, t: datetime) -> bool:
        return self.start <= t and (self.end is None or t < self.end)


@dataclass
class BuildingSpec:
    id: str
    name: str
    archetype: Archetype
    area_m2: float
    heating_2015: str  # district_heating | natural_gas | oil
    heating_now: str
    conversion_year: int | None  # gas/oil replaced by district heating or a heat pump
    improvement_per_year: float  # efficiency gain (negative: getting worse)
    led_year: int | None  # luminaires replaced by LED that year
    pv_year: int | None
    ev_year: int | None
    luminaires: int
    night_light_rate: float  # share of nights a zone is left lit
    energy_label: str | None = None
    meters: list[MeterSpec] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)  # planted by simulators.scenarios

    @property
    def school(self) -> bool:
        return self.archetype.type == "school"


def fleet(n: int, seed: int = 2015) -> list[BuildingSpec]:
    rng = random.Random(seed)
    out = []
    weights = (0.3, 0.25, 0.05, 0.1, 0.1, 0.08, 0.12)
    for i in range(1, n + 1):
        a = rng.choices(ARCHETYPES, weights=weights)[0]
        bid = f"{a.type.replace('_', '-')}-{i:03d}"
        area = round(rng.uniform(*a.area), -1)
        heating = rng.choices(("district_heating", "natural_gas", "oil"), weights=(0.7, 0.22, 0.08))[0]
        conversion = rng.choice((None, None, 2019, 2021, 2023, 2024)) if heating != "district_heating" else None
        now_heating = heating if conversion is None else rng.choice(("district_heating", "heat_pump"))
        b = BuildingSpec(
            id=bid, name=f"{rng.choice(a.names)} {rng.choice(STREETS)}", archetype=a, area_m2=area,
            heating_2015=heating, heating_now=now_heating, conversion_year=conversion,
            improvement_per_year=rng.choice((0.025, 0.02, 0.018, 0.015, 0.012, 0.008, 0.0, -0.005)),
            led_year=rng.choice((2017, 2018, 2019, 2020, 2021, 2022, 2023, 2024, None)),
            pv_year=rng.choice((2018, 2020, 2022)) if rng.random() < 0.3 else None,
            ev_year=rng.choice((2020, 2021, 2023)) if rng.random() < 0.25 else None,
            luminaires=max(3, int(area / 240)), night_light_rate=rng.choice((0.0, 0.0, 0.02, 0.05)),
            energy_label=rng.choice((None, "B", "C", "C", "D", "D", "E", "F")),
        )
        b.meters = _meters(b, rng)
        out.append(b)
    return out


def _meters(b: BuildingSpec, rng: random.Random) -> list[MeterSpec]:
    ms = [MeterSpec(f"{b.id}-el", "electricity", "kWh", v0=round(rng.uniform(1e4, 5e5)))]
    first_heat_until = date(b.conversion_year, 7, 1) if b.conversion_year else None
    if b.heating_2015 == "district_heating":
        ms.append(MeterSpec(f"{b.id}-fv", "district_heating", "MWh", v0=round(rng.uniform(100, 5000), 3),
                            wmbus_id=f"{rng.randrange(10**7, 10**8)}" if rng.random() < 0.3 else None))
    elif b.heating_2015 == "natural_gas":
        ms.append(MeterSpec(f"{b.id}-gas", "natural_gas", "m3", GAS_KWH_PER_M3, active_until=first_heat_until,
                            v0=round(rng.uniform(1e4, 2e5))))
    else:
        ms.append(MeterSpec(f"{b.id}-olie", "oil", "l", OIL_KWH_PER_L, active_until=first_heat_until,
                            v0=round(rng.uniform(1e4, 2e5))))
    if first_heat_until is not None:
        if b.heating_now == "district_heating":
            ms.append(MeterSpec(f"{b.id}-fv", "district_heating", "MWh", active_from=first_heat_until))
        else:
            ms.append(MeterSpec(f"{b.id}-vp", "heat_pump", "kWh", parent=f"{b.id}-el", active_from=first_heat_until))
    ms.append(MeterSpec(f"{b.id}-vand", "water", "m3", v0=round(rng.uniform(100, 20000), 1)))
    if b.pv_year:
        ms.append(MeterSpec(f"{b.id}-pv", "pv_production", "kWh", active_from=date(b.pv_year, 4, 1)))
    if b.ev_year:
        ms.append(MeterSpec(f"{b.id}-ev", "ev_charging", "kWh", parent=f"{b.id}-el", active_from=date(b.ev_year, 3, 1)))
    return ms


# ---- weather -----------------------------------------------------------------------------------------------------

_TEMPS: dict[int, list[float]] = {}
_T0 = HISTORY_START - timedelta(days=60)


def _seasonal(d: date) -> float:
    return 8.6 - 8.0 * math.cos(2 * math.pi * (d.timetuple().tm_yday - 20) / 365.25)


def daily_temperature(d: date, seed: int = 2015) -> float:
    """Daily mean outdoor temperature, °C: a Danish seasonal curve plus deterministic day-to-day weather (an AR(1)
    anomaly, so cold and warm spells last a few days)."""
    temps = _TEMPS.setdefault(seed, [])
    i = (d - _T0).days
    if i < 0:
        return _seasonal(d)
    if i >= len(temps):
        rng = random.Random(seed * 1_000_003 + len(temps))
        anomaly = temps[-1] - _seasonal(_T0 + timedelta(days=len(temps) - 1)) if temps else 0.0
        while len(temps) <= i:
            rng.seed(seed * 1_000_003 + len(temps))
            anomaly = 0.7 * anomaly + rng.gauss(0, 1.8)
            temps.append(_seasonal(_T0 + timedelta(days=len(temps))) + anomaly)
    return temps[i]


def degree_days(d: date, seed: int = 2015) -> float:
    """Heating degree days of a day (base 17 °C), as DMI's acc_heating_degree_days_17 counts them."""
    return max(0.0, 17.0 - daily_temperature(d, seed))


def month_degree_days(year: int, month: int, seed: int = 2015) -> float:
    d = date(year, month, 1)
    total = 0.0
    while d.month == month:
        total += degree_days(d, seed)
        d += timedelta(days=1)
    return total


# ---- hourly use --------------------------------------------------------------------------------------------------

def _hash01(*parts: object) -> float:
    """A stable pseudo-random number in [0, 1] from the parts (Python's hash() differs between processes)."""
    return (zlib.crc32(repr(parts).encode()) & 0xFFFFFF) / 0xFFFFFF


_QUARTERS: dict[tuple[str, date, bool], tuple[bool, ...]] = {}
_RANGES: dict[str, dict[int, list[tuple[int, int]]]] = {}


def open_quarters(a: Archetype, d: date, school: bool) -> tuple[bool, ...]:
    """Open in each local quarter-hour of day d (judged at its start, as services.calendar.open_at judges an
    instant), holidays counted; 96 flags (index 4h + q)."""
    key = (a.type, d, school)
    found = _QUARTERS.get(key)
    if found is None:
        ranges = _RANGES.get(a.type)
        if ranges is None:
            ranges = {i: [(int(r[:2]) * 60 + int(r[3:5]), int(r[6:8]) * 60 + int(r[9:11]))
                          for r in a.hours.get(day, [])] for i, day in enumerate(CALENDAR_DAYS)}
            _RANGES[a.type] = ranges
        if closed_reason(d, school=school):
            found = (False,) * 96
        else:
            today = ranges[d.weekday()]
            found = tuple(any(lo <= q * 15 < hi for lo, hi in today) for q in range(96))
        _QUARTERS[key] = found
    return found


def open_hours(a: Archetype, d: date, school: bool) -> tuple[bool, ...]:
    """Open in the local hour h of day d (judged at h:30), holidays counted; 24 flags."""
    q = open_quarters(a, d, school)
    return tuple(q[4 * h + 2] for h in range(24))


def local_day_hours(d: date) -> list[datetime]:
    """UTC starts of the local day's hours: 23, 24 or 25 of them."""
    a = datetime(d.year, d.month, d.day, tzinfo=TZ).astimezone(UTC)
    nxt = d + timedelta(days=1)
    b = datetime(nxt.year, nxt.month, nxt.day, tzinfo=TZ).astimezone(UTC)
    return [a + timedelta(hours=i) for i in range(int((b - a) / timedelta(hours=1)))]


def day_use(b: BuildingSpec, d: date, seed: int = 2015) -> list[tuple[datetime, dict[str, float]]]:
    """What each carrier counts in every hour of local day d: [(UTC hour start, {carrier: kWh})]; water in m3,
    gas and oil as kWh of fuel. This is the truth the meters measure."""
    a = b.archetype
    quarters = open_quarters(a, d, b.school)
    eff = (1 - b.improvement_per_year) ** (d.year - 2015)
    area_k = b.area_m2 / 1000
    annual = b.area_m2 * a.heat_kwh_per_m2 * eff
    dd = degree_days(d, seed)
    space_per_h = annual * (1 - a.hot_water_share) / 3112 * dd / 24
    water_heat = annual * a.hot_water_share / 8760
    heating = b.heating_now if b.conversion_year and d >= date(b.conversion_year, 7, 1) else b.heating_2015
    ev_on = b.ev_year is not None and d >= date(b.ev_year, 3, 1) and d.weekday() < 5
    pv_on = b.pv_year is not None and d >= date(b.pv_year, 4, 1)
    if pv_on:
        doy = d.timetuple().tm_yday
        pv_day = (b.area_m2 / 100 * 0.75 * (0.25 + 0.75 * max(0.0, math.sin(math.pi * (doy - 20) / 330)))
                  * (0.4 + 0.6 * _hash01(b.id, d.toordinal(), "sun")))
    out = []
    for start in local_day_hours(d):
        h = start.astimezone(TZ).hour
        q = quarters[4 * h:4 * h + 4]
        is_open = q[2]  # occupancy follows the hour's half past
        use: dict[str, float] = {}
        el = area_k * (a.base_kw_per_1000m2 + (a.occupied_kw_per_1000m2 if is_open else 0.0)) * eff
        # lighting by the quarter-hour: lights come on when the building opens (07:30), not with the hour
        if q[0] == q[1] == q[2] == q[3]:
            el += lighting_w(b, d, h, q[0]) / 1000
        else:
            el += sum(lighting_w(b, d, h, x) for x in q) / 4000
        if b.events:
            el += _event_kw(b, start, not any(q))
        heat = space_per_h * (1.2 if 6 <= h < 18 else 0.8) + water_heat * (1.6 if is_open else 0.5)
        if heating == "heat_pump":
            hp = heat / HEAT_PUMP_COP
            use["heat_pump"] = hp
            el += hp
        elif heating == "district_heating":
            use["district_heating"] = heat
        else:
            use[heating] = heat / BOILER_EFFICIENCY[heating]
        if ev_on and 8 <= h < 15:
            ev = 11.0 * (0.3 + 0.5 * _hash01(b.id, start.timestamp(), "ev"))
            use["ev_charging"] = ev
            el += ev
        if pv_on and 5 <= h < 20:
            use["pv_production"] = pv_day * math.sin(math.pi * (h - 5) / 15)
        use["electricity"] = el
        use["water"] = area_k * (0.03 if is_open else 0.004)
        out.append((start, use))
    return out


def lighting_w(b: BuildingSpec, d: date, hour: int, is_open: bool) -> float:
    """Lighting power of the whole building in a local hour. Old fluorescent fittings are simply on while the building
    is open; the LED retrofits came with DALI presence sensors and daylight dimming: only the occupied share of the
    rooms is lit, dimmed at midday in summer. Some nights a zone is left on after closing."""
    led = b.led_year is not None and d.year >= b.led_year
    if is_open:
        if not led:
            return b.luminaires * FLUORESCENT_W
        presence = 0.6 + 0.4 * _hash01(b.id, d.toordinal(), hour, "presence")
        daylight = 0.7 if 4 <= d.month <= 9 and 9 <= hour <= 15 else 1.0
        return b.luminaires * LED_W * presence * daylight
    if b.night_light_rate and hour >= 18 and _hash01(b.id, d.toordinal(), "night") < b.night_light_rate:
        return b.luminaires * (LED_W if led else FLUORESCENT_W) * 0.15  # one zone left on
    return 0.0


def _event_kw(b: BuildingSpec, hour_start: datetime, closed_hour: bool) -> float:
    """Electricity the building's events add in the hour starting at `hour_start` (UTC), kW = kWh."""
    kw = 0.0
    for e in b.events:
        if (e.kind == "load" or (e.kind == "closed_load" and closed_hour)) and e.at(hour_start):
            kw += e.value
        elif e.kind == "lights":  # quarter by quarter
            kw += sum(e.value for k in range(4) if e.at(hour_start + timedelta(minutes=15 * k))) / 4000
    return kw


def lit_watts(b: BuildingSpec, local: datetime) -> float:
    """Lighting power of the whole building in the quarter-hour starting at a local time (what its luminaires
    report), events included."""
    d = local.date()
    w = lighting_w(b, d, local.hour, open_quarters(b.archetype, d, b.school)[4 * local.hour + local.minute // 15])
    if b.events:
        t = local.astimezone(UTC)
        w += sum(e.value for e in b.events if e.kind == "lights" and e.at(t))
    return w


def heat_sample(b: BuildingSpec, t: datetime, heat_kw: float) -> tuple[float, float, float]:
    """(flow °C, return °C, volume flow m³/h) a district-heating meter reports at `t` (UTC) while delivering
    `heat_kw`: flow 70 °C (60 °C without demand), return about 35 °C (±2 K), or about an event's temperature while
    the substation cools poorly."""
    flow = 70.0 if heat_kw > 0 else 60.0
    ret = 35.0
    for e in b.events:
        if e.kind == "poor_cooling" and e.at(t):
            ret = e.value
    ret += 4.0 * (_hash01(b.id, t.timestamp(), "return") - 0.5)
    return flow, ret, heat_kw / (1.16 * max(flow - ret, 5.0))


def silent_since(b: BuildingSpec, meter_id: str) -> datetime | None:
    return next((e.start for e in b.events if e.kind == "silent" and e.meter == meter_id), None)


def meter_amount(m: MeterSpec, use: dict[str, float]) -> float:
    """The meter's register increase in its own unit for one hour of `hour_kwh`."""
    kwh = use.get(m.carrier, 0.0)
    if m.unit == "MWh":
        return kwh / 1000
    if m.carrier == "water":
        return kwh
    if m.kwh_per_unit:
        return kwh / m.kwh_per_unit
    return kwh



def luminaire_states(b: BuildingSpec, t: datetime) -> list[dict[str, object]]:
    """What each of the building's luminaires reports for the quarter-hour starting at `t` (UTC): the building's
    lighting power carried by the fewest fittings that can carry it, each dimmed to its share."""
    local = t.astimezone(TZ)
    total_w = lit_watts(b, local)
    n = b.luminaires
    led = b.led_year is not None and local.year >= b.led_year
    rated = LED_W if led else FLUORESCENT_W
    lit = min(n, math.ceil(total_w / rated - 1e-9)) if total_w > 0 else 0
    per_lit = total_w / lit if lit else 0.0
    return [{"on": True, "power_w": round(per_lit, 2), "dim_pct": round(min(100.0, per_lit / rated * 100), 1)}
            if i < lit else {"on": False, "power_w": 0.0, "dim_pct": 0} for i in range(n)]


def wmbus_telegram(b: BuildingSpec, m: MeterSpec, value: float, t: datetime, quarter_use: dict[str, float]
                   ) -> dict[str, object]:
    """A wmbusmeters `kamheat` telegram of heat meter `m` (register `value` in its unit, MWh) at `t` (UTC), for the
    quarter-hour ending at `t` that used `quarter_use`."""
    heat_kw = quarter_use.get("district_heating", 0.0) * 4
    flow_c, ret, volume = heat_sample(b, t, heat_kw)
    return {"_": "telegram", "media": "heat", "meter": "kamheat", "name": m.id, "id": m.wmbus_id,
            "total_energy_consumption_kwh": round(value * 1000, 3), "power_kw": round(heat_kw, 3),
            "volume_flow_m3h": round(volume, 4), "t1_temperature_c": round(flow_c, 1),
            "t2_temperature_c": round(ret, 1), "timestamp": t.astimezone(UTC).isoformat()}
