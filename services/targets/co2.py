"""CO2 factors per carrier and year: the factor table's value for a year, interpolated between the years it lists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.targets.reference import Factor

# Electricity-driven carriers take the electricity factor; PV production and water emit nothing counted here.
FACTOR_CARRIER = {"heat_pump": "electricity", "ev_charging": "electricity", "heat_pump_sub": "electricity",
                  "ev_charging_sub": "electricity"}
NO_CO2 = frozenset({"pv_production", "water"})


@dataclass(frozen=True)
class FactorUsed:
    kg_per_kwh: float
    method: str


def factor_for(factors: Sequence[Factor], year: int) -> FactorUsed | None:
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


def factor_for_carrier(table: Mapping[str, Sequence[Factor]], carrier: str, year: int) -> FactorUsed | None:
    if carrier in NO_CO2:
        return None
    return factor_for(table.get(FACTOR_CARRIER.get(carrier, carrier), []), year)


# ---- hourly, location-based CO2 of electricity -------------------------------------------------------------------

# The carriers whose kWh are electricity drawn from the grid (they take the electricity factor); their CO2 can be
# computed hour by hour from the grid's hourly intensity.
ELECTRIC = frozenset({"electricity", "heat_pump", "ev_charging"})
ANNUAL = "annual_declaration_factor"


def annual_method(f: FactorUsed) -> str:
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
