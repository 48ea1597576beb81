"""The documented shape of a progress answer (GET /api/v1/progress): the API contract v1 fields with what they mean,
for a finished and for a running year. Every further detail of `services.targets.progress.compute` passes through
(extra fields allowed), so the models describe, never trim."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_REDUCTION = ("1 - actual_normalised_kwh / baseline_normalised_kwh, in % (null without baseline consumption, and "
              "null while a building of the portfolio has no data on a side: buildings_without_data)")
_WITHOUT_DATA = ("buildings of the portfolio without any data in the months compared, per side: their consumption "
                 "there is unknown, not 0, so the total's reduction is null, on_track false and the verdict uncertain; "
                 "like_for_like compares the buildings with data on both sides")


class ForecastOut(BaseModel):
    """The whole-year forecast of a running year."""

    model_config = ConfigDict(extra="allow")

    months_measured: int = Field(description="complete months of the year measured (January on)")
    months_from_last_year: int = Field(description="the rest of the year, taken from last year's same months")
    baseline_normalised_kwh: float = Field(description="the whole baseline year, weather-corrected")
    normalised_kwh: float = Field(description="the measured months plus the rest of the year from last year, all "
                                              "weather-corrected to the normal year")
    reduction_pct: float | None = Field(description="1 - normalised_kwh / baseline_normalised_kwh, in %: the "
                                                    "reduction the whole year is heading for; null without baseline "
                                                    "consumption or while buildings_without_data lists a building")
    required_pct: float = Field(description="the reduction a straight path to the target year asks for this year")
    on_track: bool = Field(description="reduction_pct >= required_pct: the year is forecast to be on track")
    verdict: str = Field(description="on_track, off_track, or uncertain (reasons in uncertain_because)")
    uncertain_because: list[str]
    coverage: float = Field(description="share of the forecast's months (measured and last year's) backed by "
                                        "measured data, the lower of the baseline's and the year's")
    estimated_share: float = Field(description="share of the kWh interpolated over gaps or from estimated readings, "
                                               "the larger of the baseline's and the forecast year's")
    buildings_without_data: dict[str, list[str]] = Field(
        description=f"{_WITHOUT_DATA}. Sides: baseline (the whole baseline year), year (the measured months), "
                    "last_year (last year's months the rest of the year is taken from)")
    method: str


class ProgressOut(BaseModel):
    """Progress of an energy target for a year. The top-level figures are what was measured: a finished year whole;
    a running year's complete months so far against the same months of the baseline year. A running year's
    whole-year forecast is in `forecast` (null for a finished year)."""

    model_config = ConfigDict(extra="allow")

    baseline_year: int
    year: int
    year_complete: bool = Field(description="false while the year is running: the figures then cover "
                                            "period_start..period_end only")
    months_measured: int = Field(description="complete months the figures cover (12 for a finished year; 0 before "
                                             "January is over)")
    period_start: datetime = Field(description="start of the period the figures cover (1 January, local time)")
    period_end: datetime = Field(description="end (exclusive) of the period the figures cover: 1 January of the next "
                                             "year, or for a running year the start of the current month")
    baseline_period_start: datetime = Field(description="start of the baseline year's period compared")
    baseline_period_end: datetime = Field(description="end (exclusive) of the baseline year's period compared: the "
                                                      "same months")
    baseline_kwh: float = Field(description="kWh of the baseline year's period (the same months as the year's)")
    actual_kwh: float = Field(description="kWh measured in the period")
    baseline_normalised_kwh: float = Field(description="baseline_kwh with heat weather-corrected")
    actual_normalised_kwh: float = Field(description="actual_kwh with heat weather-corrected")
    reduction_pct: float | None = Field(description=f"measured: {_REDUCTION}. For a running year: the months so "
                                                    "far against the same months of the baseline year, not a "
                                                    "forecast (that is forecast.reduction_pct)")
    target_pct: float = Field(description="the target's reduction by its target year")
    required_pct: float = Field(description="the reduction a straight path from the baseline year to the target "
                                            "year asks for by this year")
    on_track: bool = Field(description="reduction_pct >= required_pct: measured on track (for a running year, so "
                                       "far); false when nothing can be judged (then verdict is uncertain). Whether "
                                       "the running year as a whole is on track: forecast.on_track")
    verdict: str = Field(description="on_track, off_track, or uncertain (reasons in uncertain_because), about the "
                                     "measured figures")
    uncertain_because: list[str]
    coverage: float = Field(description="share of the period backed by measured data, the lower of the baseline's "
                                        "and the year's (docs/semantics.md)")
    estimated_share: float = Field(description="share of the kWh interpolated over gaps or from estimated readings, "
                                               "the larger of the baseline's and the year's (docs/semantics.md)")
    estimated_share_detail: dict[str, float] = Field(description="the estimated share of each side: baseline, year")
    method: str
    buildings_without_data: dict[str, list[str]] = Field(
        description=f"{_WITHOUT_DATA}. Sides: baseline, year (the same months in each)")
    like_for_like: dict[str, Any] = Field(description="the same figures for the buildings with data in both years "
                                                      "(`buildings`: how many)")
    intensity_kwh_per_m2: dict[str, Any] = Field(description="kWh per heated m2 over the period (a running year: "
                                                             "its months so far, the area time-weighted over them "
                                                             "and over the baseline's same months); a side with a "
                                                             "building without data: null")
    adjustments: list[dict[str, Any]] = Field(description="non-routine adjustments effective from 1 January of the "
                                                          "baseline year to 31 December of the year: added, sold, "
                                                          "other, and area changes (source `adjustment`: recorded "
                                                          "through POST /buildings/{id}/adjustments; `area_history`: "
                                                          "a dated change of the building's heated area), each with "
                                                          "its reason and actor")
    forecast: ForecastOut | None = Field(description="a running year's whole-year forecast; null for a finished "
                                                     "year")
    computed_through: datetime | None = Field(description="null: every figure is current; otherwise the instant up "
                                                          "to which the rollups read are current")
    buildings: list[dict[str, Any]] = Field(description="per building, the same period as the top level; a running "
                                                        "year's per-building forecast in each `forecast`")


# ---- CO2 (GET /api/v1/co2) -----------------------------------------------------------------------------------------

class HourlyCo2Out(BaseModel):
    """An electric row's CO2 hour by hour (location-based), with the annual factor for what has no hourly intensity."""

    model_config = ConfigDict(extra="allow")

    kg_co2: float | None = Field(description="kg_co2_hourly + fallback_kg_co2 (null: no annual factor for the rest)")
    method: str = Field(description="e.g. 'hourly_location_based (Energi Data Service DeclarationGridEmission, DK2, "
                                    "125%)'")
    coverage: float | None = Field(description="share of the row's kWh computed hour by hour (null: no kWh)")
    kwh_hourly: float | None = Field(description="kWh in hours with a stored intensity")
    kg_co2_hourly: float | None = Field(description="Σ kWh of each such hour x that hour's g/kWh / 1000")
    fallback_kwh: float | None = Field(description="kWh without an hourly intensity (hours not declared or fetched, "
                                                   "steps longer than 6 h): by the annual factor")
    fallback_kg_co2: float | None
    fallback_method: str | None = Field(description="the annual factor used for fallback_kwh (null: none needed)")


class Co2RowOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    building_id: str
    carrier: str
    year: int
    kwh: float
    kg_co2: float | None = Field(description="kWh x the annual factor (the method named in `method`)")
    kg_per_kwh: float | None
    method: str = Field(description="'annual_declaration_factor (<the factor's year, method and source>)', or why "
                                    "there is none")
    months: int
    coverage: float
    estimated_share: float
    hourly: HourlyCo2Out | None = Field(default=None, description="electric carriers: the same kWh hour by hour")


class Co2CarrierOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    carrier: str
    kg_co2: float
    baseline_kg_co2: float


class HourlyCo2TotalOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    kwh: float
    kg_co2_annual_factor: float | None
    kg_co2_hourly: float | None = Field(description="hour by hour where an intensity is stored, the annual factor "
                                                    "for the rest")
    hourly_coverage: float | None = Field(description="share of the kWh computed hour by hour")
    fallback_kwh: float


class ElectricityHourlyOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    method: str
    description: str
    area: str
    dataset: str
    fuel_allocation: str
    intensity_stored_from: datetime | None
    intensity_stored_to: datetime | None = Field(description="end (exclusive) of the newest stored hour")
    intensity_hours: int
    year: HourlyCo2TotalOut
    baseline: HourlyCo2TotalOut


class Co2Out(BaseModel):
    """kg CO2 per building, carrier and year by the annual declaration factors (top-level figures, as before), and
    electricity hour by hour beside them (`electricity_hourly`, each row's `hourly`); every figure names its method."""

    model_config = ConfigDict(extra="allow")

    year: int
    baseline_year: int
    computed_through: datetime | None
    pending_buildings: list[str]
    kg_co2: float
    baseline_kg_co2: float
    change_pct: float | None
    coverage: float
    estimated_share: float
    by_carrier: list[Co2CarrierOut]
    method: str
    electricity_hourly: ElectricityHourlyOut
    rows: list[Co2RowOut]


class PathYearOut(BaseModel):
    """One year of a target's path."""

    year: int
    required_pct: float = Field(description="the reduction a straight path from the baseline year to the target "
                                            "year asks for by this year (the target's from the target year on)")
    reduction_pct: float | None = Field(description="the reduction reached: measured (a finished year), the whole-"
                                                    "year forecast (the running year), 0 (the baseline year); null "
                                                    "for a year not started, without coverage or without a reduction")
    basis: Literal["baseline", "measured", "forecast", "not_started"]
    coverage: float | None = Field(description="the coverage of the figure (GET /progress for the year)")
    verdict: str | None = Field(description="on_track, off_track or uncertain (GET /progress for the year)")
    months_measured: int | None


class ProgressPathOut(BaseModel):
    """The path of an energy target across years: the required straight line and the reductions reached, each
    year's as GET /progress gives it."""

    target: dict[str, Any]
    baseline_year: int
    target_year: int
    target_pct: float
    years: list[PathYearOut]
    missing: list[int] = Field(description="years measured or forecast without a reduction (no coverage or no "
                                           "baseline consumption)")
