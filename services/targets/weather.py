"""Danish degree-day (graddage) weather correction, as ../shared/PRODUCT.md defines it.

Only heat is corrected, month by month:

    E_norm = E_indep + (E - E_indep) * GD_normal / GD_actual,   E_indep = a * E

`a` is the weather-independent share (hot water): the building's `hot_water_share` when set; otherwise estimated by
regressing the baseline year's 12 monthly heat values on degree days (E_m = alpha + beta * GD_m, a = 12 alpha / sum E)
when that fit has R^2 >= 0.75; otherwise the configured default. A month whose actual degree days are below 5 % of its
normal value is not corrected (factor 1): summer months would otherwise be blown up by a tiny denominator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

GUARD_SHARE = 0.05
MIN_R2 = 0.75


@dataclass(frozen=True)
class Share:
    """The weather-independent share `a` used for a building, and where it came from."""

    a: float
    method: str  # "hot_water_share" | "regression" | "default"
    r2: float | None = None
    detail: str = ""


@dataclass(frozen=True)
class Corrected:
    kwh: float
    factor: float  # kwh / E (1.0 when not corrected)
    corrected: bool
    reason: str  # "" when corrected; why not otherwise


def correct_month(e: float, a: float, gd_normal: float | None, gd_actual: float | None) -> Corrected:
    """One month of heat normalised to the normal year."""
    if gd_normal is None or gd_actual is None:
        return Corrected(e, 1.0, False, "no degree days for the month")
    if gd_normal <= 0 or gd_actual < GUARD_SHARE * gd_normal:
        return Corrected(e, 1.0, False, "actual degree days below 5 % of normal")
    indep = a * e
    kwh = indep + (e - indep) * gd_normal / gd_actual
    return Corrected(kwh, kwh / e if e else 1.0, True, "")


def correct_year(e: float, a: float, gd_normal: float, gd_actual: float) -> float:
    """The annual form (Rødovre Fjernvarme): E * [(1 - a) * GD_normal / GD_actual + a]."""
    return e * ((1 - a) * gd_normal / gd_actual + a)


@dataclass(frozen=True)
class Fit:
    alpha: float  # weather-independent kWh per month
    beta: float  # kWh per degree day
    r2: float


def fit(heat: Sequence[float], degree_days: Sequence[float]) -> Fit | None:
    """Least-squares line heat = alpha + beta * degree_days; None when degree days do not vary."""
    n = len(heat)
    if n != len(degree_days) or n < 3:
        return None
    mx, my = sum(degree_days) / n, sum(heat) / n
    sxx = sum((x - mx) ** 2 for x in degree_days)
    if sxx == 0:
        return None
    sxy = sum((x - mx) * (y - my) for x, y in zip(degree_days, heat, strict=True))
    beta = sxy / sxx
    alpha = my - beta * mx
    ss_tot = sum((y - my) ** 2 for y in heat)
    ss_res = sum((y - alpha - beta * x) ** 2 for x, y in zip(degree_days, heat, strict=True))
    r2 = 1 - ss_res / ss_tot if ss_tot > 0 else 0.0
    return Fit(alpha, beta, r2)


def choose_share(hot_water_share: float | None, baseline_heat: Sequence[float | None],
                 baseline_degree_days: Sequence[float | None], default: float) -> Share:
    """`a` for a building: its registered share, else the baseline-year regression if good enough, else the default.

    `baseline_heat` and `baseline_degree_days` are the 12 months of the baseline year (None where missing)."""
    if hot_water_share is not None:
        return Share(hot_water_share, "hot_water_share", None, "registered for the building")
    pairs = [(h, d) for h, d in zip(baseline_heat, baseline_degree_days, strict=True)
             if h is not None and d is not None]
    if len(pairs) < 12:
        return Share(default, "default", None, f"regression needs 12 baseline months with heat and degree days, "
                                               f"{len(pairs)} available")
    f = fit([p[0] for p in pairs], [p[1] for p in pairs])
    total = sum(p[0] for p in pairs)
    if f is None or total <= 0:
        return Share(default, "default", None, "baseline heat does not vary with degree days")
    a = 12 * f.alpha / total
    if f.r2 < MIN_R2:
        return Share(default, "default", round(f.r2, 4), f"regression R² {f.r2:.2f} below {MIN_R2}")
    if not 0 <= a <= 1:
        return Share(default, "default", round(f.r2, 4), f"regression gives a = {a:.2f}, outside 0..1")
    return Share(a, "regression", round(f.r2, 4), f"baseline year: {f.alpha:.1f} kWh/month + "
                                                    f"{f.beta:.2f} kWh per degree day")
