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
