"""Progress towards an energy target (T1, T5): pure rules over monthly kWh per building and carrier.

Reduction = 1 - (reporting-year normalised kWh / baseline-year normalised kWh), three ways:
  - total: every building in the portfolio in that year (what the target literally says);
  - like-for-like: only buildings present in both years;
  - intensity: kWh per heated m2 (the area time-weighted over the same months as the energy).
A building of the portfolio without any data in the months compared makes the total unknown (not a saving): see
`compute`.
Heat is weather-corrected month by month (services.targets.weather). Electrification (heat pumps, EV charging) is
reported beside the total. A running year's figures are its complete months so far against the same months of the
baseline year; its `forecast` adds the rest of the year from last year's months and compares the whole year.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import reduce
from operator import add
from typing import Any, NamedTuple

from services.targets.weather import Share, choose_share, correct_month

# Carriers as keys of the monthly data. "*_sub" are sub-meters inside an electricity parent: they never add to
# totals, but a heat-pump sub-meter's part is weather-corrected like heat.
HEAT_CARRIERS = frozenset({"district_heating", "natural_gas", "oil", "heat_pump"})
TOTAL_CARRIERS = frozenset({"electricity", "district_heating", "natural_gas", "oil", "ev_charging", "heat_pump"})
HEAT_PUMP_SUB = "heat_pump_sub"
EV_SUB = "ev_charging_sub"
MONTHS = range(1, 13)
UNCERTAIN_BELOW = 0.95  # coverage under which a verdict is called uncertain


class Cell(NamedTuple):  # a tuple: a progress answer at 2,000 buildings makes ~150,000 of them
    kwh: float
    coverage: float  # share of the month backed by measured data (1 for an imported month)
    estimated: float = 0.0  # kWh of the month interpolated over gaps or from estimated readings (coverage.py)


Months = dict[int, Cell]  # month number -> cell


@dataclass
class BuildingData:
    id: str
    name: str
    hot_water_share: float | None
    area: Mapping[int, float]  # year -> time-weighted heated area
    added: date | None = None  # from non-routine adjustments
    sold: date | None = None
    # year -> carrier -> months. The baseline year's data is imported or derived from readings (see sources).
    data: dict[int, dict[str, Months]] = field(default_factory=dict)
    sources: dict[int, dict[str, str]] = field(default_factory=dict)  # year -> carrier -> "import" | "readings"
    # year -> carrier -> one {month: share of the month's active time} per gap step that crosses month edges inside
    # the year: estimated in each month, measured in any span of months it lies inside (coverage.py's definition).
    year_credit: dict[int, dict[str, list[dict[int, float]]]] = field(default_factory=dict)
    # the same steps' kWh per month (parallel to year_credit): estimated in each month, measured inside the span
    year_credit_kwh: dict[int, dict[str, list[dict[int, float]]]] = field(default_factory=dict)
    # year -> carrier -> the 12 months' weights in coverage: the carrier's meters' active seconds in each month
    # (services/consumption/coverage.py), so a year's coverage is the measured share of its time. Without weights
    # (none loaded) every month weighs the same.
    month_weights: dict[int, dict[str, Sequence[float]]] = field(default_factory=dict)

    def weight(self, year: int, carrier: str, month: int) -> float:
        ws = self.month_weights.get(year, {}).get(carrier)
        return ws[month - 1] if ws else 1.0
    # years in which the building never belonged to the target's building group (group history)
    outside_group: frozenset[int] = frozenset()
    # (year, month) in which the building was not in the target's group, as of the month's first day
    outside_group_months: frozenset[tuple[int, int]] = frozenset()
    # (valid_from as a local date, heated m2), the registry's area history; empty: `area` holds for every period
    area_history: Sequence[tuple[date, float]] = ()

    def area_over(self, year: int, months: Sequence[int] = MONTHS) -> float | None:
        """Heated area time-weighted over the months of a year, counting 0 m² in a month the building did not belong
        to the portfolio or the group (its kWh do not count there either): a building held 8 months of a year has
        8/12 of its area in that year's kWh/m², so kWh/m² stays a yearly figure. `area` for a whole year held
        throughout; None when it belonged in none of the months."""
        kept = list(months) if self.held_throughout() else [m for m in months if self.counts_in(year, m)]
        if not kept:
            return None
        if not self.area_history and len(kept) == len(MONTHS):
            return self.area.get(year)
        month_areas = self.month_areas(year)
        total = days = 0.0
        for m in months:
            length, area = month_areas[m - 1]
            days += length
            if m in kept:
                total += (area or 0.0) * length
        return total / days

    def month_areas(self, year: int) -> list[tuple[int, float | None]]:
        """(days, heated area time-weighted over the month) of each month of a year, worked out once per year."""
        cache = self.__dict__.setdefault("_month_areas", {})
        hit = cache.get(year)
        if hit is not None and hit[0] is self.area_history and hit[1] is self.area:
            held: list[tuple[int, float | None]] = hit[2]
            return held
        rows = sorted(self.area_history)
        out: list[tuple[int, float | None]] = []
        for m in MONTHS:
            start, end = date(year, m, 1), date(year + (m == 12), m % 12 + 1, 1)
            out.append(((end - start).days,
                        _time_weighted_area(rows, start, end) if self.area_history else self.area.get(year)))
        cache[year] = (self.area_history, self.area, out)
        return out

    def counts_in(self, year: int, month: int) -> bool:
        """Whether it belonged to the portfolio and the target's group in that month."""
        return (year, month) not in self.outside_group_months and self.in_portfolio_between(
            date(year, month, 1), date(year + (month == 12), month % 12 + 1, 1))

    # the spans [from, to) in which it belonged to the portfolio, from its added/sold adjustments in date order (a
    # building sold and bought back has two); None: the one span (added, sold)
    portfolio: Sequence[tuple[date | None, date | None]] | None = None

    def portfolio_spans(self) -> Sequence[tuple[date | None, date | None]]:
        return self.portfolio if self.portfolio is not None else [(self.added, self.sold)]

    def held_throughout(self) -> bool:
        """Whether it counts in every month (`counts_in`): never added, sold nor outside the group."""
        return not self.outside_group_months and any(a is None and z is None for a, z in self.portfolio_spans())

    def in_portfolio_between(self, start: date, end: date) -> bool:
        """Whether it belonged to the portfolio at some time of [start, end)."""
        return any((a is None or a < end) and (z is None or z > start) for a, z in self.portfolio_spans())

    def in_portfolio(self, year: int) -> bool:
        if year in self.outside_group:
            return False
        return self.in_portfolio_between(date(year, 1, 1), date(year + 1, 1, 1))

    def has_data(self, year: int, months: Sequence[int] = MONTHS) -> bool:
        """Whether any month of these has data counted in totals: kWh, or a measured share (a meter measuring 0)."""
        return any(c.kwh > 0 or c.coverage > 0 for carrier, ms in self.data.get(year, {}).items()
                   if carrier in TOTAL_CARRIERS for m, c in ms.items() if m in months)


def time_weighted_area(history: Sequence[tuple[date, float]], start: date, end: date) -> float:
    """Heated area time-weighted over [start, end) from (valid_from, area) rows; before the first row its area held."""
    return _time_weighted_area(sorted(history), start, end)


def _time_weighted_area(rows: Sequence[tuple[date, float]], start: date, end: date) -> float:
    if len(rows) == 1:  # one area throughout (the loop below, in one step)
        return rows[0][1] * (end - start).days / (end - start).days
    total = 0.0
    for i, (valid_from, area) in enumerate(rows):
        a = start if i == 0 else max(valid_from, start)
        b = min(rows[i + 1][0], end) if i + 1 < len(rows) else end
        if b > a:
            total += area * (b - a).days
    return total / (end - start).days


@dataclass(frozen=True)
class Weather:
    normal: Sequence[float]  # 12 normal-year degree days, January first
    actual: Mapping[tuple[int, int], float]  # (year, month) -> degree days
    default_share: float


@dataclass
class YearFigures:
    kwh: float = 0.0
    normalised_kwh: float = 0.0
    covered: float = 0.0  # measured time: Σ cell coverage x the month's weight (its meters' active seconds)
    cells: float = 0.0  # the months' weights summed (months without a cell included)
    estimated_kwh: float = 0.0  # of `kwh`: interpolated over gaps or from estimated readings
    heat_pump_kwh: float = 0.0
    ev_charging_kwh: float = 0.0
    corrected_months: int = 0
    uncorrected: dict[str, int] = field(default_factory=dict)  # reason -> months with heat left uncorrected

    @property
    def coverage(self) -> float:
        return min(1.0, self.covered / self.cells) if self.cells else 0.0

    @property
    def estimated_share(self) -> float:
        return min(1.0, max(0.0, self.estimated_kwh / self.kwh)) if self.kwh > 0 else 0.0

    def add(self, o: YearFigures) -> None:
        self.kwh += o.kwh
        self.estimated_kwh += o.estimated_kwh
        self.normalised_kwh += o.normalised_kwh
        self.covered += o.covered
        self.cells += o.cells
        self.heat_pump_kwh += o.heat_pump_kwh
        self.ev_charging_kwh += o.ev_charging_kwh
        self.corrected_months += o.corrected_months
        for k, v in o.uncorrected.items():
            self.uncorrected[k] = self.uncorrected.get(k, 0) + v


def share_for(b: BuildingData, baseline_year: int, w: Weather) -> Share:
    """`a` of a building: registered, or regression on its baseline-year monthly heat, or the default."""
    base = b.data.get(baseline_year, {})
    heat: list[float | None] = []
    for m in MONTHS:
        cells = [base[c][m] for c in (*HEAT_CARRIERS, HEAT_PUMP_SUB) if c in base and m in base[c]]
        heat.append(sum(c.kwh for c in cells) if cells else None)
    gd = [w.actual.get((baseline_year, m)) for m in MONTHS]
    return choose_share(b.hot_water_share, heat, gd, w.default_share)


def year_figures(b: BuildingData, year: int, share: Share, w: Weather, months: Sequence[int] = MONTHS) -> YearFigures:
    """kWh and normalised kWh of one building for the given months of a year."""
    return BuildingYear(b, year, share, w, months).figures(months)


@dataclass(frozen=True, slots=True)
class _CarrierYear:
    """One carrier's 12 months of a building's year as `year_figures` adds them up (index: month - 1): a month without
    a cell adds 0.0, which leaves a sum unchanged, so summing these month by month gives the same floats as adding the
    cells one by one. `sums` names the YearFigures fields this carrier adds to, with their 12 values."""

    carrier: str
    sums: tuple[tuple[str, Sequence[float]], ...]
    # the heat months with kWh: (month, None when weather-corrected, else why not)
    corrections: tuple[tuple[int, str | None], ...]


def _carrier_year(b: BuildingData, year: int, carrier: str, ms: Months, *, share: Share, w: Weather,
                  months: frozenset[int]) -> _CarrierYear:
    counts = carrier in TOTAL_CARRIERS
    heat = carrier in HEAT_CARRIERS or carrier == HEAT_PUMP_SUB
    ws = b.month_weights.get(year, {}).get(carrier)
    weights = list(ws) if ws else [1.0] * 12  # as BuildingData.weight
    kwh, covered, estimated, normalised = [0.0] * 12, [0.0] * 12, [0.0] * 12, [0.0] * 12
    corrections: list[tuple[int, str | None]] = []
    for m, cell in ms.items():
        if m not in months:
            continue
        i = m - 1
        kwh[i], estimated[i], covered[i] = cell.kwh, cell.estimated, cell.coverage * weights[i]
        norm = cell.kwh
        if heat and cell.kwh > 0:
            c = correct_month(cell.kwh, share.a, w.normal[i], w.actual.get((year, m)))
            norm = c.kwh
            corrections.append((m, None if c.corrected else c.reason))
        normalised[i] = norm if counts else norm - cell.kwh  # a heat-pump sub: parent - sub + corrected sub
    sums: list[tuple[str, Sequence[float]]] = []
    if counts:
        sums += [("cells", weights), ("covered", covered), ("kwh", kwh), ("estimated_kwh", estimated),
                 ("normalised_kwh", normalised)]
    elif carrier == HEAT_PUMP_SUB:
        sums.append(("normalised_kwh", normalised))
    if carrier in ("heat_pump", HEAT_PUMP_SUB):
        sums.append(("heat_pump_kwh", kwh))
    if carrier in ("ev_charging", EV_SUB):
        sums.append(("ev_charging_kwh", kwh))
    return _CarrierYear(carrier, tuple(sums), tuple(sorted(corrections)))


class BuildingYear:
    """A building's year prepared once (per carrier its 12 months' kWh, weather-corrected kWh, coverage), from which
    the figures of any months of that year are sums (`figures`): what `year_figures` gives, without correcting a month
    again for each set of months asked. Only the months `prepared` are (the others count nothing): ask for no other."""

    def __init__(self, b: BuildingData, year: int, share: Share, w: Weather, prepared: Sequence[int] = MONTHS) -> None:
        self.b, self.year, self.prepared = b, year, frozenset(m for m in prepared if 1 <= m <= 12)
        self.carriers = [_carrier_year(b, year, c, ms, share=share, w=w, months=self.prepared)
                         for c, ms in b.data.get(year, {}).items()]
        # per month: whether any counted carrier has kWh or a measured share there (`BuildingData.has_data`)
        self.with_data = [False] * 12
        for carrier, ms in b.data.get(year, {}).items():
            if carrier in TOTAL_CARRIERS:
                for m, c in ms.items():
                    if m in self.prepared and (c.kwh > 0 or c.coverage > 0):
                        self.with_data[m - 1] = True

    def _check(self, months: Sequence[int]) -> None:
        if not set(months) <= self.prepared:
            raise ValueError(f"months {sorted(set(months) - self.prepared)} of {self.year} were not prepared")

    def has_data(self, months: Sequence[int] = MONTHS) -> bool:
        self._check(months)
        return any(self.with_data[m - 1] for m in months)

    def figures(self, months: Sequence[int] = MONTHS) -> YearFigures:
        """The building's figures for these months of the year (the order of `months` is the order of the sums)."""
        self._check(months)
        picked = [m - 1 for m in months if 1 <= m <= 12]
        span = (slice(picked[0], picked[-1] + 1) if picked and picked == list(range(picked[0], picked[-1] + 1))
                else None)
        totals = dict.fromkeys(("cells", "covered", "kwh", "estimated_kwh", "normalised_kwh", "heat_pump_kwh",
                                "ev_charging_kwh"), 0.0)
        out = YearFigures()
        wanted = set(months)
        for cy in self.carriers:
            for name, values in cy.sums:
                # left to right, as adding the cells one by one
                totals[name] = reduce(add, values[span] if span else [values[i] for i in picked], totals[name])
            for m, reason in cy.corrections:
                if m not in wanted:
                    continue
                if reason is None:
                    out.corrected_months += 1
                else:
                    out.uncorrected[reason] = out.uncorrected.get(reason, 0) + 1
        out.cells, out.covered, out.kwh = totals["cells"], totals["covered"], totals["kwh"]
        out.estimated_kwh, out.normalised_kwh = totals["estimated_kwh"], totals["normalised_kwh"]
        out.heat_pump_kwh, out.ev_charging_kwh = totals["heat_pump_kwh"], totals["ev_charging_kwh"]
        self._credit(out, months)
        return out

    def _credit(self, out: YearFigures, months: Sequence[int]) -> None:
        """A gap step lying inside the months judged together is measured there, though estimated in each month it
        crosses: its share of each month's active time moves to covered (a single month never gets any)."""
        b, year = self.b, self.year
        for carrier, credits in b.year_credit.get(year, {}).items():
            if carrier in TOTAL_CARRIERS and carrier in b.data.get(year, {}):
                out.covered += sum(share * b.weight(year, carrier, m) for shares in credits
                                   if shares and set(shares) <= set(months) for m, share in shares.items())
                out.estimated_kwh -= sum(kwh for parts in b.year_credit_kwh.get(year, {}).get(carrier, [])
                                         if parts and set(parts) <= set(months) for kwh in parts.values())
        out.estimated_kwh = max(0.0, out.estimated_kwh)


def carrier_year_coverage(b: BuildingData, year: int, carrier: str) -> float:
    """Coverage of one carrier's year of a building, as year_figures computes it: the measured share of the year's
    active time, with the gap steps lying inside the year measured."""
    months = b.data.get(year, {}).get(carrier, {})
    weights = [b.weight(year, carrier, m) for m in MONTHS]
    covered = sum(c.coverage * weights[m - 1] for m, c in months.items())
    covered += sum(share * weights[m - 1] for shares in b.year_credit.get(year, {}).get(carrier, [])
                   for m, share in shares.items())
    return min(1.0, covered / sum(weights)) if sum(weights) > 0 else 0.0


def carrier_year_estimated(b: BuildingData, year: int, carrier: str) -> float:
    """Estimated share of one carrier's year of a building, as year_figures computes it: kWh interpolated over gaps
    or from estimated readings over kWh, the gap steps lying inside the year measured."""
    months = b.data.get(year, {}).get(carrier, {})
    kwh = sum(c.kwh for c in months.values())
    estimated = sum(c.estimated for c in months.values()) - sum(
        part for parts in b.year_credit_kwh.get(year, {}).get(carrier, []) for part in parts.values())
    return min(1.0, max(0.0, estimated / kwh)) if kwh > 0 else 0.0


def reduction_pct(baseline: float, actual: float) -> float | None:
    return round((1 - actual / baseline) * 100, 2) if baseline > 0 else None


def required_pct(target_pct: float, baseline_year: int, target_year: int, year: int) -> float:
    """The reduction a straight path from the baseline year to the target year asks for by `year`."""
    if year >= target_year or target_year == baseline_year:
        return target_pct
    return round(target_pct * max(0, year - baseline_year) / (target_year - baseline_year), 2)


def _figures_out(base: YearFigures, act: YearFigures, known: bool = True) -> dict[str, Any]:
    """The compared figures; the reductions are null unless both sides are known (`known`: no building of the
    portfolio lacks data in the months compared)."""
    return {
        "baseline_kwh": round(base.kwh, 1), "actual_kwh": round(act.kwh, 1),
        "baseline_normalised_kwh": round(base.normalised_kwh, 1),
        "actual_normalised_kwh": round(act.normalised_kwh, 1),
        "reduction_pct": reduction_pct(base.normalised_kwh, act.normalised_kwh) if known else None,
        "reduction_pct_unnormalised": reduction_pct(base.kwh, act.kwh) if known else None,
        "coverage": {"baseline": round(base.coverage, 4), "year": round(act.coverage, 4)},
        "estimated_share": {"baseline": round(base.estimated_share, 4), "year": round(act.estimated_share, 4)},
    }


def _sum(*figs: YearFigures) -> YearFigures:
    out = YearFigures()
    for f in figs:
        out.add(f)
    return out


def _intensity(total: tuple[YearFigures, YearFigures], area: tuple[float, float],
               lfl: tuple[YearFigures, YearFigures], lfl_area: tuple[float, float],
               known: tuple[bool, bool] = (True, True)) -> dict[str, Any]:
    """kWh per heated m2 of (baseline, year), total and like-for-like. A side of the total with a building whose
    consumption is unknown (`known` false) has no intensity."""
    (base, act), (area_b, area_y), (lfl_b, lfl_y), (lfl_area_b, lfl_area_y) = total, area, lfl, lfl_area
    ok_b, ok_y = bool(area_b) and known[0], bool(area_y) and known[1]
    return {
        "baseline": round(base.normalised_kwh / area_b, 2) if ok_b else None,
        "year": round(act.normalised_kwh / area_y, 2) if ok_y else None,
        "reduction_pct": reduction_pct(base.normalised_kwh / area_b, act.normalised_kwh / area_y)
        if ok_b and ok_y else None,
        "like_for_like_reduction_pct": reduction_pct(lfl_b.normalised_kwh / lfl_area_b,
                                                     lfl_y.normalised_kwh / lfl_area_y)
        if lfl_area_b and lfl_area_y else None,
        "heated_area_m2": {"baseline": round(area_b, 1), "year": round(area_y, 1)},
    }


def _electrification(base: YearFigures, act: YearFigures, known: bool = True) -> dict[str, Any]:
    return {
        "heat_pump_kwh": {"baseline": round(base.heat_pump_kwh, 1), "year": round(act.heat_pump_kwh, 1)},
        "ev_charging_kwh": {"baseline": round(base.ev_charging_kwh, 1), "year": round(act.ev_charging_kwh, 1)},
        "reduction_pct_without_ev_charging": reduction_pct(base.normalised_kwh - base.ev_charging_kwh,
                                                           act.normalised_kwh - act.ev_charging_kwh)
        if known else None,
        "note": "heat pumps and EV chargers move energy from gas, oil and petrol into the buildings' "
                "electricity; shown here so that they neither mask nor fake the target",
    }


def _names(ids: Sequence[str], limit: int = 5) -> str:
    return ", ".join(ids[:limit]) + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _without_data_reasons(missing: Mapping[str, Sequence[str]], periods: Mapping[str, str], total: str) -> list[str]:
    """Why a total is unknown: per side (baseline, year, last year), the buildings of the portfolio without data."""
    def why(side: str) -> str:
        return ", from which the forecast takes the rest of the year" if side == "last_year" else ""

    return [f"no data for {len(ids)} building(s) of the portfolio in {periods[side]} ({_names(ids)}){why(side)}: "
            f"their consumption there is unknown, not 0, so {total} is unknown; like_for_like compares the buildings "
            "with data on both sides" for side, ids in missing.items() if ids]


def _uncorrected_reasons(*figs: YearFigures) -> list[str]:
    out = []
    for fig in figs:
        for reason, n in fig.uncorrected.items():
            if reason != "actual degree days below 5 % of normal":
                out.append(f"{n} building-month(s) of heat not weather-corrected: {reason}")
    return out


def _month_span(months: Sequence[int]) -> str:
    return f"month {months[0]}" if len(months) == 1 else f"months {months[0]}-{months[-1]}"


@dataclass
class _Comparison:
    """One comparison's sides, summed over the buildings: the total (every building of the portfolio on a side) and
    like-for-like (the buildings with data on both), with their heated areas."""

    base: YearFigures = field(default_factory=YearFigures)
    year: YearFigures = field(default_factory=YearFigures)
    lfl_base: YearFigures = field(default_factory=YearFigures)
    lfl_year: YearFigures = field(default_factory=YearFigures)
    area_base: float = 0.0
    area_year: float = 0.0
    lfl_area_base: float = 0.0
    lfl_area_year: float = 0.0

    def add(self, base: YearFigures, year: YearFigures, areas: tuple[float, float], *, on_base: bool, on_year: bool,
            lfl: bool) -> None:
        if on_base:
            self.base.add(base)
            self.area_base += areas[0]
        if on_year:
            self.year.add(year)
            self.area_year += areas[1]
        if lfl:
            self.lfl_base.add(base)
            self.lfl_year.add(year)
            self.lfl_area_base += areas[0]
            self.lfl_area_year += areas[1]


@dataclass(frozen=True)
class _Period:
    """The months a progress answer compares (see `compute`)."""

    baseline_year: int
    year: int
    measured: list[int]  # the year's complete months: all of a finished year, January up to last month of a running one
    rest: list[int]  # a running year's months still to come (the forecast takes them from last year)
    keep: float  # the share of the baseline the target leaves (1 - target_pct / 100)

    @property
    def current(self) -> bool:
        return bool(self.rest)

    @property
    def k(self) -> int:
        return len(self.measured)

    @property
    def span(self) -> list[int]:
        """The months whose data decide whether a building has any (before January is complete: the whole year)."""
        return self.measured or list(MONTHS)


def _period(baseline_year: int, year: int, today: date, target_pct: float) -> _Period:
    measured = list(MONTHS) if year < today.year else [m for m in MONTHS if m < today.month]
    return _Period(baseline_year, year, measured, [m for m in MONTHS if m not in measured], 1 - target_pct / 100)


@dataclass
class _Tally:
    """What `compute` gathers building by building: the sums of the measured comparison (`m`: the measured months
    against the same months of the baseline year) and of the forecast (`f`: the whole year against the whole
    baseline year), the buildings of the portfolio without data on a side, the rows."""

    m: _Comparison = field(default_factory=_Comparison)
    f: _Comparison = field(default_factory=_Comparison)
    missing: dict[str, list[str]] = field(default_factory=lambda: {"baseline": [], "year": []})
    f_missing: dict[str, list[str]] = field(default_factory=lambda: {"baseline": [], "year": [], "last_year": []})
    rows: list[dict[str, Any]] = field(default_factory=list)
    shares: dict[str, int] = field(default_factory=lambda: {"hot_water_share": 0, "regression": 0, "default": 0})
    no_baseline: list[str] = field(default_factory=list)
    held: list[tuple[str, bool, bool]] = field(default_factory=list)  # (id, in the portfolio in baseline, in year)


def _saving_and_gap(base: YearFigures, act: YearFigures, keep: float, lfl: bool) -> dict[str, float | None]:
    """A like-for-like building's saving against the baseline, and its gap to the target's path (else null)."""
    return {"saving_kwh": round(base.normalised_kwh - act.normalised_kwh, 1) if lfl else None,
            "gap_kwh": round(act.normalised_kwh - base.normalised_kwh * keep, 1) if lfl else None}


def _add_forecast(t: _Tally, b: BuildingData, p: _Period, years: tuple[BuildingYear, BuildingYear, BuildingYear],
                  act: YearFigures, *, held: tuple[bool, bool], dy: bool) -> dict[str, Any]:
    """A running year's whole-year forecast of one building (the measured months plus the rest from last year's,
    against the whole baseline year), added to the forecast's sums; its row."""
    base_y, _, last_y = years
    pb, py = held
    base_year = base_y.figures()
    whole = _sum(act, last_y.figures(p.rest))
    f_sides = (("baseline", pb, base_y.has_data()), ("year", py, not p.measured or dy),
               ("last_year", py, last_y.has_data(p.rest)))
    f_unknown = [side for side, on, data in f_sides if on and not data]
    for side in f_unknown:
        t.f_missing[side].append(b.id)
    f_lfl = pb and py and not f_unknown
    areas = (b.area_over(p.baseline_year) or 0.0, b.area_over(p.year) or 0.0)
    t.f.add(base_year, whole, areas, on_base=pb, on_year=py, lfl=f_lfl)
    return {
        "baseline_normalised_kwh": round(base_year.normalised_kwh, 1),
        "normalised_kwh": round(whole.normalised_kwh, 1),
        "reduction_pct": None if f_unknown else reduction_pct(base_year.normalised_kwh, whole.normalised_kwh),
        **_saving_and_gap(base_year, whole, p.keep, f_lfl),
        "like_for_like": f_lfl, "without_data": f_unknown,
    }


def _add_building(t: _Tally, b: BuildingData, p: _Period, w: Weather) -> None:
    """One building's figures for the months compared (and the forecast), added to the sums; its row."""
    share = share_for(b, p.baseline_year, w)
    t.shares[share.method] += 1
    years = (BuildingYear(b, p.baseline_year, share, w), BuildingYear(b, p.year, share, w),
             BuildingYear(b, p.year - 1, share, w, p.rest) if p.current else None)  # the forecast's months
    base_y, year_y, _ = years
    pb, py = b.in_portfolio(p.baseline_year), b.in_portfolio(p.year)
    t.held.append((b.id, pb, py))
    db, dy = base_y.has_data(p.span), year_y.has_data(p.span)
    in_b, in_y = pb and db, py and dy
    base, act = base_y.figures(p.measured), year_y.figures(p.measured)
    # in the portfolio on a side of the comparison, but no data there: unknown (nothing to compare before January is
    # complete)
    unknown = [side for side, on, data in (("baseline", pb, db), ("year", py, dy)) if p.k and on and not data]
    for side in unknown:
        t.missing[side].append(b.id)
    area_b, area_y = b.area_over(p.baseline_year, p.span), b.area_over(p.year, p.span)
    if in_y and pb and not db:
        t.no_baseline.append(b.id)
    lfl = in_b and in_y
    t.m.add(base, act, (area_b or 0.0, area_y or 0.0), on_base=pb, on_year=py, lfl=lfl)
    forecast = (_add_forecast(t, b, p, (base_y, year_y, years[2]), act, held=(pb, py), dy=dy)
                if years[2] is not None else None)
    t.rows.append({
        "building_id": b.id, "name": b.name, "in_baseline": in_b, "in_year": in_y, "like_for_like": lfl,
        "without_data": unknown,
        **_figures_out(base, act, known=not unknown),
        "coverage_lower": round(min(base.coverage, act.coverage), 4),
        **_saving_and_gap(base, act, p.keep, lfl),
        "forecast": forecast,
        "baseline_source": b.sources.get(p.baseline_year, {}),
        "weather": {"a": round(share.a, 4), "method": share.method, "r2": share.r2, "detail": share.detail},
        "heated_area_m2": {"baseline": area_b, "year": area_y},
    })


def _measured_reasons(t: _Tally, p: _Period, coverage: float, known: bool, judged: float | None) -> list[str]:
    """Why the verdict on the measured months is uncertain (empty: it is not)."""
    year, k = p.year, p.k
    left = [bid for bid, pb, py in t.held if pb and not py]
    reasons = []
    if k == 0:
        reasons.append(f"no month of {year} is complete yet: nothing measured to compare; see the forecast")
    elif left and not any(py for _, _, py in t.held):
        reasons.append(f"none of these buildings is in the portfolio in {year} ({_names(sorted(left))} left it: sold "
                       "or moved to another group): the total has them in the baseline only; like_for_like compares "
                       "buildings present in both years")
    elif coverage < UNCERTAIN_BELOW:
        reasons.append(f"coverage {coverage:.0%} is below {UNCERTAIN_BELOW:.0%}")
    span = _month_span(p.span)
    reasons += _without_data_reasons(t.missing, {"baseline": f"{p.baseline_year} {span}", "year": f"{year} {span}"},
                                     "the total")
    if p.current and 0 < k < 3:
        reasons.append(f"only {k} month(s) of {year} measured so far")
    reasons += _uncorrected_reasons(t.m.base, t.m.year)
    if judged is None and k and known:
        reasons.append("no baseline consumption")
    return reasons


def _verdict(reasons: Sequence[str], on_track: bool) -> str:
    return "uncertain" if reasons else ("on_track" if on_track else "off_track")


def _like_for_like_out(c: _Comparison, buildings: int, figures: bool = True) -> dict[str, Any]:
    if figures:
        return {**_figures_out(c.lfl_base, c.lfl_year), "buildings": buildings}
    return {"baseline_normalised_kwh": round(c.lfl_base.normalised_kwh, 1),
            "actual_normalised_kwh": round(c.lfl_year.normalised_kwh, 1),
            "reduction_pct": reduction_pct(c.lfl_base.normalised_kwh, c.lfl_year.normalised_kwh),
            "buildings": buildings}


def _intensity_of(c: _Comparison, known: tuple[bool, bool]) -> dict[str, Any]:
    return _intensity((c.base, c.year), (c.area_base, c.area_year), (c.lfl_base, c.lfl_year),
                      (c.lfl_area_base, c.lfl_area_year), known)


def _forecast_out(t: _Tally, p: _Period, required: float) -> dict[str, Any]:
    """A running year's whole-year forecast, judged like the measured months."""
    f, f_missing, year, k = t.f, t.f_missing, p.year, p.k
    f_known = not any(f_missing.values())
    f_reduction = reduction_pct(f.base.normalised_kwh, f.year.normalised_kwh) if f_known else None
    f_on_track = f_reduction is not None and f_reduction >= required
    f_coverage = min(f.base.coverage, f.year.coverage)
    f_reasons = []
    if f_coverage < UNCERTAIN_BELOW:
        f_reasons.append(f"coverage {f_coverage:.0%} is below {UNCERTAIN_BELOW:.0%}")
    f_periods = {"baseline": f"{p.baseline_year}", "year": f"{year} {_month_span(p.measured)}" if p.measured else "",
                 "last_year": f"{year - 1} {_month_span(p.rest)}"}
    f_reasons += _without_data_reasons(f_missing, f_periods, "the forecast total")
    if k < 3:
        f_reasons.append(f"only {k} month(s) of {year} measured; the forecast rests on {year - 1}")
    f_reasons += _uncorrected_reasons(f.base, f.year)
    if f_reduction is None and f_known:
        f_reasons.append("no baseline consumption")
    return {
        "months_measured": k, "months_from_last_year": len(p.rest),
        "baseline_normalised_kwh": round(f.base.normalised_kwh, 1),
        "normalised_kwh": round(f.year.normalised_kwh, 1),
        "reduction_pct": f_reduction,
        "required_pct": required,
        "on_track": f_on_track,
        "verdict": _verdict(f_reasons, f_on_track),
        "uncertain_because": f_reasons,
        "coverage": round(f_coverage, 4),
        "coverage_detail": {"baseline": round(f.base.coverage, 4), "year": round(f.year.coverage, 4)},
        "estimated_share": round(max(f.base.estimated_share, f.year.estimated_share), 4),
        "buildings_without_data": f_missing,
        "like_for_like": _like_for_like_out(f, sum(1 for r in t.rows if r["forecast"]["like_for_like"]), False),
        "intensity_kwh_per_m2": _intensity_of(f, (not f_missing["baseline"],
                                                  not (f_missing["year"] or f_missing["last_year"]))),
        "electrification": _electrification(f.base, f.year, f_known),
        "method": (f"{year} {_month_span(p.measured)} as measured, {_month_span(p.rest)} from {year - 1}, all "
                   f"normalised to the normal year, against the whole of {p.baseline_year}") if p.measured else
                  f"all months from {year - 1}, normalised to the normal year, against the whole of "
                  f"{p.baseline_year}",
    }


def _method(t: _Tally, p: _Period, share_source: str) -> str:
    return ("heat (district heating, gas, oil, heat pumps) weather-corrected month by month with the Danish "
            "degree-day method: E_norm = a*E + (1-a)*E*GD_normal/GD_actual, months below 5 % of normal degree "
            "days not corrected; a per building: "
            + ", ".join(f"{k_} {v}" for k_, v in t.shares.items() if v)
            + (f"; default a from {share_source}" if share_source else "")
            + "; totals: meters without a parent, no water, no PV production"
            + (f"; {p.year} is running: these figures compare its {p.k} complete month(s) with the same months "
               f"of {p.baseline_year}; `forecast` holds the whole-year forecast" if p.current else ""))


def _weather_out(m: _Comparison) -> dict[str, Any]:
    return {"corrected_building_months": m.base.corrected_months + m.year.corrected_months,
            "uncorrected_building_months": {k_: m.base.uncorrected.get(k_, 0) + m.year.uncorrected.get(k_, 0)
                                            for k_ in sorted({*m.base.uncorrected, *m.year.uncorrected})}}


def _ranking(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The ten largest savings and gaps (`rows` sorted by saving, largest first)."""
    gaps = sorted((r for r in rows if r["gap_kwh"] is not None), key=lambda r: -r["gap_kwh"])
    return {"largest_savings": [r["building_id"] for r in rows if (r["saving_kwh"] or 0) > 0][:10],
            "largest_gaps": [r["building_id"] for r in gaps if r["gap_kwh"] > 0][:10]}


def compute(buildings: Sequence[BuildingData], *, baseline_year: int, year: int, target_pct: float,
            target_year: int, w: Weather, today: date, share_source: str = "") -> dict[str, Any]:
    """The progress answer (API contract v1 fields plus detail). `today` decides whether `year` is complete.

    The top-level figures say what was measured, and judge it: for a finished year the whole year against the whole
    baseline year; for a running year its complete months so far (`months_measured`, January up to the month before
    `today`) against the same months of the baseline year. `reduction_pct`, `on_track`, `verdict`, like-for-like,
    intensity, electrification and the buildings' figures all compare those same months.

    For a running year `forecast` holds the whole-year forecast: the measured months plus the rest of the year from
    last year's months, all normalised to the normal year, against the whole baseline year, with its own reduction,
    `on_track` and verdict (the product's "is the target year on track"). For a finished year `forecast` is None.

    Total portfolio: every building in the portfolio in a year counts on that year's side. A building of the portfolio
    without any data in the months compared (a year, the baseline year, or for the forecast last year's months) has
    an unknown consumption there, not 0: the total's reductions (and intensity of that side) are then null, `on_track`
    false and the verdict uncertain, naming the buildings (`buildings_without_data`). Like-for-like compares the
    buildings with data on both sides, and says how many."""
    p = _period(baseline_year, year, today, target_pct)
    t = _Tally()
    for b in buildings:
        _add_building(t, b, p, w)
    required = required_pct(target_pct, baseline_year, target_year, year)
    m = t.m
    known = not (t.missing["baseline"] or t.missing["year"])
    figures = _figures_out(m.base, m.year, known)
    judged = figures["reduction_pct"]
    on_track = judged is not None and judged >= required
    coverage = min(m.base.coverage, m.year.coverage)  # no data in the year at all is coverage 0, not -100 %
    reasons = _measured_reasons(t, p, coverage, known, judged)
    forecast = _forecast_out(t, p, required) if p.current else None
    rows = sorted(t.rows, key=lambda r: -(r["saving_kwh"] if r["saving_kwh"] is not None else float("-inf")))
    return {
        "baseline_year": baseline_year, "year": year, "year_complete": not p.current, "months_measured": p.k,
        **{k_: v for k_, v in figures.items() if k_ not in ("coverage", "estimated_share")},
        "target_pct": target_pct, "target_year": target_year, "required_pct": required,
        "on_track": on_track, "verdict": _verdict(reasons, on_track), "uncertain_because": reasons,
        "coverage": round(coverage, 4), "coverage_detail": figures["coverage"],
        # the larger of the two sides' shares of kWh interpolated over gaps or from estimated readings
        "estimated_share": round(max(m.base.estimated_share, m.year.estimated_share), 4),
        "estimated_share_detail": figures["estimated_share"],
        "method": _method(t, p, share_source),
        "weather": _weather_out(m),
        # the same figures as the top level (kept for scripts that read them here)
        "year_to_date": {"months": p.k, "baseline_normalised_kwh": round(m.base.normalised_kwh, 1),
                         "actual_normalised_kwh": round(m.year.normalised_kwh, 1), "reduction_pct": judged}
        if p.current else None,
        "like_for_like": _like_for_like_out(m, sum(1 for r in rows if r["like_for_like"])),
        "intensity_kwh_per_m2": _intensity_of(m, (not t.missing["baseline"], not t.missing["year"])),
        "electrification": _electrification(m.base, m.year, known),
        "forecast": forecast,
        "buildings_without_data": t.missing,
        "portfolio_changes": {"left": sorted(bid for bid, pb, py in t.held if pb and not py),
                              "joined": sorted(bid for bid, pb, py in t.held if py and not pb)},
        "buildings_without_baseline": t.no_baseline,
        "ranking": _ranking(rows),
        "buildings": rows,
    }
