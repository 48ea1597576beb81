"""Progress towards an energy target (T1, T5): pure rules over monthly kWh per building and carrier.

Reduction = 1 - (reporting-year normalised kWh / baseline-year normalised kWh), three ways:
  - total: every building in the portfolio in that year (what the target literally says);
  - like-for-like: only buildings present in both years;
  - intensity: kWh per heated m2 (time-weighted area of each year).
Heat is weather-corrected month by month (services.targets.weather). Electrification (heat pumps, EV charging) is
reported beside the total. For the current year a forecast adds the rest of the year from last year's months.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from services.targets.weather import Share, choose_share, correct_month

# Carriers as keys of the monthly data. "*_sub" are sub-meters inside an electricity parent: they never add to
# totals, but a heat-pump sub-meter's part is weather-corrected like heat.
HEAT_CARRIERS = frozenset({"district_heating", "natural_gas", "oil", "heat_pump"})
TOTAL_CARRIERS = frozenset({"electricity", "district_heating", "natural_gas", "oil", "ev_charging", "heat_pump"})
HEAT_PUMP_SUB = "heat_pump_sub"
EV_SUB = "ev_charging_sub"
MONTHS = range(1, 13)
UNCERTAIN_BELOW = 0.95  # coverage under which a verdict is called uncertain


@dataclass(frozen=True)
class Cell:
    kwh: float
    coverage: float  # share of the month backed by measured data (1 for an imported month)


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
    # year -> carrier -> the 12 months' weights in coverage: the carrier's meters' active seconds in each month
    # (services/consumption/coverage.py), so a year's coverage is the measured share of its time. Without weights
    # (none loaded) every month weighs the same.
    month_weights: dict[int, dict[str, Sequence[float]]] = field(default_factory=dict)

    def weight(self, year: int, carrier: str, month: int) -> float:
        ws = self.month_weights.get(year, {}).get(carrier)
        return ws[month - 1] if ws else 1.0
    # years in which the building never belonged to the target's building group (group history)
    outside_group: frozenset[int] = frozenset()

    def in_portfolio(self, year: int) -> bool:
        if year in self.outside_group:
            return False
        if self.sold is not None and self.sold <= date(year, 1, 1):
            return False
        return not (self.added is not None and self.added > date(year, 12, 31))

    def has_data(self, year: int, months: Sequence[int] = MONTHS) -> bool:
        return any(c.kwh > 0 for carrier, ms in self.data.get(year, {}).items() if carrier in TOTAL_CARRIERS
                   for m, c in ms.items() if m in months)


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
    heat_pump_kwh: float = 0.0
    ev_charging_kwh: float = 0.0
    corrected_months: int = 0
    uncorrected: dict[str, int] = field(default_factory=dict)  # reason -> months with heat left uncorrected

    @property
    def coverage(self) -> float:
        return min(1.0, self.covered / self.cells) if self.cells else 0.0

    def add(self, o: YearFigures) -> None:
        self.kwh += o.kwh
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
    out = YearFigures()
    for carrier, ms in b.data.get(year, {}).items():
        counts = carrier in TOTAL_CARRIERS
        heat = carrier in HEAT_CARRIERS or carrier == HEAT_PUMP_SUB
        for m in months:
            cell = ms.get(m)
            weight = b.weight(year, carrier, m)
            if counts:
                out.cells += weight
            if cell is None:
                continue
            if counts:
                out.covered += cell.coverage * weight
                out.kwh += cell.kwh
            if carrier in ("heat_pump", HEAT_PUMP_SUB):
                out.heat_pump_kwh += cell.kwh
            if carrier in ("ev_charging", EV_SUB):
                out.ev_charging_kwh += cell.kwh
            normalised = cell.kwh
            if heat and cell.kwh > 0:
                c = correct_month(cell.kwh, share.a, w.normal[m - 1], w.actual.get((year, m)))
                normalised = c.kwh
                if c.corrected:
                    out.corrected_months += 1
                else:
                    out.uncorrected[c.reason] = out.uncorrected.get(c.reason, 0) + 1
            if counts:
                out.normalised_kwh += normalised
            elif carrier == HEAT_PUMP_SUB:  # parent - sub + corrected sub
                out.normalised_kwh += normalised - cell.kwh
    # A gap step lying inside the months judged together is measured there, though estimated in each month it
    # crosses: its share of each month's active time moves to covered (a single month never gets any).
    for carrier, credits in b.year_credit.get(year, {}).items():
        if carrier in TOTAL_CARRIERS and carrier in b.data.get(year, {}):
            out.covered += sum(share * b.weight(year, carrier, m) for shares in credits
                               if shares and set(shares) <= set(months) for m, share in shares.items())
    return out


def carrier_year_coverage(b: BuildingData, year: int, carrier: str) -> float:
    """Coverage of one carrier's year of a building, as year_figures computes it: the measured share of the year's
    active time, with the gap steps lying inside the year measured."""
    months = b.data.get(year, {}).get(carrier, {})
    weights = [b.weight(year, carrier, m) for m in MONTHS]
    covered = sum(c.coverage * weights[m - 1] for m, c in months.items())
    covered += sum(share * weights[m - 1] for shares in b.year_credit.get(year, {}).get(carrier, [])
                   for m, share in shares.items())
    return min(1.0, covered / sum(weights)) if sum(weights) > 0 else 0.0


def reduction_pct(baseline: float, actual: float) -> float | None:
    return round((1 - actual / baseline) * 100, 2) if baseline > 0 else None


def required_pct(target_pct: float, baseline_year: int, target_year: int, year: int) -> float:
    """The reduction a straight path from the baseline year to the target year asks for by `year`."""
    if year >= target_year or target_year == baseline_year:
        return target_pct
    return round(target_pct * max(0, year - baseline_year) / (target_year - baseline_year), 2)


def _figures_out(base: YearFigures, act: YearFigures) -> dict[str, Any]:
    return {
        "baseline_kwh": round(base.kwh, 1), "actual_kwh": round(act.kwh, 1),
        "baseline_normalised_kwh": round(base.normalised_kwh, 1),
        "actual_normalised_kwh": round(act.normalised_kwh, 1),
        "reduction_pct": reduction_pct(base.normalised_kwh, act.normalised_kwh),
        "reduction_pct_unnormalised": reduction_pct(base.kwh, act.kwh),
        "coverage": {"baseline": round(base.coverage, 4), "year": round(act.coverage, 4)},
    }


def _sum(*figs: YearFigures) -> YearFigures:
    out = YearFigures()
    for f in figs:
        out.add(f)
    return out


def compute(buildings: Sequence[BuildingData], *, baseline_year: int, year: int, target_pct: float,
            target_year: int, w: Weather, today: date, share_source: str = "") -> dict[str, Any]:
    """The progress answer (API contract v1 fields plus detail). `today` decides whether `year` is complete.

    For the current year, `actual_*` are the measured months so far; `reduction_pct`, like-for-like, intensity and
    the buildings' figures are the forecast for the whole year (measured months plus the rest from last year)."""
    complete_months = list(MONTHS) if year < today.year else [m for m in MONTHS if m < today.month]
    forecast_months = [m for m in MONTHS if m not in complete_months]
    current = bool(forecast_months)
    total_b, total_y, ytd_b, lfl_b, lfl_y, fc_y = (YearFigures() for _ in range(6))
    area_b = area_y = lfl_area_b = lfl_area_y = 0.0
    rows, shares = [], {"hot_water_share": 0, "regression": 0, "default": 0}
    no_baseline = []
    for b in buildings:
        share = share_for(b, baseline_year, w)
        shares[share.method] += 1
        in_b = b.in_portfolio(baseline_year) and b.has_data(baseline_year)
        in_y = b.in_portfolio(year) and b.has_data(year, complete_months or MONTHS)
        fb = year_figures(b, baseline_year, share, w)
        fy = year_figures(b, year, share, w, complete_months)
        # forecast: the rest of the year from last year's months, normalised the same way
        ff = year_figures(b, year - 1, share, w, forecast_months) if current else YearFigures()
        whole = _sum(fy, ff)
        if in_b:
            total_b.add(fb)
            area_b += b.area.get(baseline_year, 0.0)
        if in_y:
            total_y.add(fy)
            fc_y.add(whole)
            area_y += b.area.get(year, 0.0)
            if current and in_b:
                ytd_b.add(year_figures(b, baseline_year, share, w, complete_months))
        if in_y and not in_b and b.in_portfolio(baseline_year):
            no_baseline.append(b.id)
        lfl = in_b and in_y
        if lfl:
            lfl_b.add(fb)
            lfl_y.add(whole)
            lfl_area_b += b.area.get(baseline_year, 0.0)
            lfl_area_y += b.area.get(year, 0.0)
        saving = fb.normalised_kwh - whole.normalised_kwh if lfl else None
        rows.append({
            "building_id": b.id, "name": b.name, "in_baseline": in_b, "in_year": in_y, "like_for_like": lfl,
            **_figures_out(fb, whole),
            "saving_kwh": round(saving, 1) if saving is not None else None,
            "gap_kwh": round(whole.normalised_kwh - fb.normalised_kwh * (1 - target_pct / 100), 1) if lfl else None,
            "baseline_source": b.sources.get(baseline_year, {}),
            "weather": {"a": round(share.a, 4), "method": share.method, "r2": share.r2, "detail": share.detail},
            "heated_area_m2": {"baseline": b.area.get(baseline_year), "year": b.area.get(year)},
        })
    figures = _figures_out(total_b, total_y)
    forecast = None
    if current:
        forecast = {
            "months_measured": len(complete_months), "months_from_last_year": len(forecast_months),
            "normalised_kwh": round(fc_y.normalised_kwh, 1),
            "reduction_pct": reduction_pct(total_b.normalised_kwh, fc_y.normalised_kwh),
            "method": (f"{year} months 1-{len(complete_months)} as measured, months {forecast_months[0]}-12 from "
                       f"{year - 1}, all normalised to the normal year") if complete_months else
                      f"all months from {year - 1}, normalised to the normal year",
        }
        figures["reduction_pct"] = forecast["reduction_pct"]
        figures["reduction_pct_unnormalised"] = None
    judged = figures["reduction_pct"]
    required = required_pct(target_pct, baseline_year, target_year, year)
    on_track = judged is not None and judged >= required
    reasons = []
    coverage = min(total_b.coverage, total_y.coverage)  # no data in the year at all is coverage 0, not -100 %
    if coverage < UNCERTAIN_BELOW:
        reasons.append(f"coverage {coverage:.0%} is below {UNCERTAIN_BELOW:.0%}")
    if no_baseline:
        reasons.append(f"{len(no_baseline)} building(s) with data in {year} have no baseline for {baseline_year}")
    if current and len(complete_months) < 3:
        reasons.append(f"only {len(complete_months)} month(s) of {year} measured; the forecast rests on {year - 1}")
    for fig in (total_b, total_y):
        for reason, n in fig.uncorrected.items():
            if reason != "actual degree days below 5 % of normal":
                reasons.append(f"{n} building-month(s) of heat not weather-corrected: {reason}")
    if judged is None:
        reasons.append("no baseline consumption")
    verdict = "uncertain" if reasons else ("on_track" if on_track else "off_track")
    rows.sort(key=lambda r: -(r["saving_kwh"] if r["saving_kwh"] is not None else float("-inf")))
    gaps = sorted((r for r in rows if r["gap_kwh"] is not None), key=lambda r: -r["gap_kwh"])
    return {
        "baseline_year": baseline_year, "year": year, **{k: v for k, v in figures.items() if k != "coverage"},
        "target_pct": target_pct, "target_year": target_year, "required_pct": required,
        "on_track": on_track, "verdict": verdict, "uncertain_because": reasons,
        "coverage": round(coverage, 4), "coverage_detail": figures["coverage"],
        "method": ("heat (district heating, gas, oil, heat pumps) weather-corrected month by month with the Danish "
                   "degree-day method: E_norm = a*E + (1-a)*E*GD_normal/GD_actual, months below 5 % of normal degree "
                   "days not corrected; a per building: "
                   + ", ".join(f"{k} {v}" for k, v in shares.items() if v)
                   + (f"; default a from {share_source}" if share_source else "")
                   + "; totals: meters without a parent, no water, no PV production"
                   + ("; current year: reduction, like-for-like, intensity and buildings are the whole-year "
                      "forecast" if current else "")),
        "weather": {"corrected_building_months": total_b.corrected_months + total_y.corrected_months,
                    "uncorrected_building_months": {k: total_b.uncorrected.get(k, 0) + total_y.uncorrected.get(k, 0)
                                                    for k in sorted({*total_b.uncorrected, *total_y.uncorrected})}},
        "year_to_date": {"months": len(complete_months),
                         "baseline_normalised_kwh": round(ytd_b.normalised_kwh, 1),
                         "actual_normalised_kwh": round(total_y.normalised_kwh, 1),
                         "reduction_pct": reduction_pct(ytd_b.normalised_kwh, total_y.normalised_kwh)}
        if current else None,
        "like_for_like": {**_figures_out(lfl_b, lfl_y), "buildings": sum(1 for r in rows if r["like_for_like"])},
        "intensity_kwh_per_m2": {
            "baseline": round(total_b.normalised_kwh / area_b, 2) if area_b else None,
            "year": round(fc_y.normalised_kwh / area_y, 2) if area_y else None,
            "reduction_pct": reduction_pct(total_b.normalised_kwh / area_b, fc_y.normalised_kwh / area_y)
            if area_b and area_y else None,
            "like_for_like_reduction_pct": reduction_pct(lfl_b.normalised_kwh / lfl_area_b,
                                                         lfl_y.normalised_kwh / lfl_area_y)
            if lfl_area_b and lfl_area_y else None,
            "heated_area_m2": {"baseline": round(area_b, 1), "year": round(area_y, 1)},
        },
        "electrification": {
            "heat_pump_kwh": {"baseline": round(total_b.heat_pump_kwh, 1), "year": round(fc_y.heat_pump_kwh, 1)},
            "ev_charging_kwh": {"baseline": round(total_b.ev_charging_kwh, 1),
                                "year": round(fc_y.ev_charging_kwh, 1)},
            "reduction_pct_without_ev_charging": reduction_pct(total_b.normalised_kwh - total_b.ev_charging_kwh,
                                                               fc_y.normalised_kwh - fc_y.ev_charging_kwh),
            "note": "heat pumps and EV chargers move energy from gas, oil and petrol into the buildings' "
                    "electricity; shown here so that they neither mask nor fake the target",
        },
        "forecast": forecast,
        "buildings_without_baseline": no_baseline,
        "ranking": {"largest_savings": [r["building_id"] for r in rows if (r["saving_kwh"] or 0) > 0][:10],
                    "largest_gaps": [r["building_id"] for r in gaps if r["gap_kwh"] > 0][:10]},
        "buildings": rows,
    }
