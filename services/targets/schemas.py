"""The in and out models of the targets slice: what the targets routes take and answer, each field with its unit and
meaning. The progress answer (GET /api/v1/progress) documents the API contract v1 fields for a finished and for a
running year and every further detail of `services.targets.progress.compute`, each field declared."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.registry.schemas import STRICT_NUMBER, Number, WholeNumber

_REDUCTION = ("1 - actual_normalised_kwh / baseline_normalised_kwh, in %: positive for a reduction (less energy than "
              "the baseline), negative for an increase (null without baseline consumption, and null while a building "
              "of the portfolio has no data on a side: buildings_without_data)")
_UNCERTAIN = "why the verdict is uncertain, in words (empty unless verdict is uncertain)"
_COMPUTED_THROUGH = ("null: every figure is current; otherwise the instant up to which the rollups read are current "
                     "(local time)")
_WITHOUT_DATA = ("buildings of the portfolio without any data in the months compared, per side: their consumption "
                 "there is unknown, not 0, so the total's reduction is null, on_track false and the verdict uncertain; "
                 "like_for_like compares the buildings with data on both sides")
_POSITIVE = "positive for a reduction, negative for an increase"


class SidesOut(BaseModel):
    """One figure on each side of a comparison: the baseline year's period and the year's."""

    baseline: float = Field(description="the baseline year's period (the same months as the year's)")
    year: float = Field(description="the year's period")


class AreaSidesOut(BaseModel):
    """A building's heated area on each side of a comparison."""

    baseline: float | None = Field(description="heated m2 time-weighted over the baseline year's months compared, "
                                               "0 m2 in a month it was outside the portfolio or the target's group; "
                                               "null: in none of them")
    year: float | None = Field(description="heated m2 time-weighted over the year's months compared, likewise; null: "
                                           "in none of them")


class WithoutDataOut(BaseModel):
    """Buildings of the portfolio without any data in the months compared, per side."""

    baseline: list[str] = Field(description="building ids without data in the baseline year's months compared")
    year: list[str] = Field(description="building ids without data in the year's months compared")


class ForecastWithoutDataOut(BaseModel):
    """Buildings of the portfolio without any data in the months a forecast adds up, per side."""

    baseline: list[str] = Field(description="building ids without data in the whole baseline year")
    year: list[str] = Field(description="building ids without data in the year's measured months")
    last_year: list[str] = Field(description="building ids without data in last year's months the rest of the year "
                                             "is taken from")


class LikeForLikeOut(BaseModel):
    """The measured figures of the buildings with data on both sides (like-for-like), the same months as the top
    level."""

    baseline_kwh: float = Field(description="kWh of the baseline year's period, as delivered")
    actual_kwh: float = Field(description="kWh of the year's period, as delivered")
    baseline_normalised_kwh: float = Field(description="baseline_kwh with heat weather-corrected to the normal year")
    actual_normalised_kwh: float = Field(description="actual_kwh with heat weather-corrected to the normal year")
    reduction_pct: float | None = Field(description="1 - actual_normalised_kwh / baseline_normalised_kwh, in %, "
                                                    f"{_POSITIVE}; null without baseline consumption")
    reduction_pct_unnormalised: float | None = Field(description="1 - actual_kwh / baseline_kwh, in % (not "
                                                                 f"weather-corrected), {_POSITIVE}; null without "
                                                                 "baseline consumption")
    coverage: SidesOut = Field(description="share of each side's period backed by measured data, 0-1")
    estimated_share: SidesOut = Field(description="share of each side's kWh interpolated over gaps or from estimated "
                                                  "readings, 0-1")
    buildings: int = Field(description="how many buildings are compared (with data on both sides)")


class ForecastLikeForLikeOut(BaseModel):
    """The forecast's figures for the buildings with data on every side of the forecast (like-for-like)."""

    baseline_normalised_kwh: float = Field(description="the whole baseline year, weather-corrected kWh")
    actual_normalised_kwh: float = Field(description="the forecast year (measured months plus last year's rest), "
                                                     "weather-corrected kWh")
    reduction_pct: float | None = Field(description="1 - actual_normalised_kwh / baseline_normalised_kwh, in %, "
                                                    f"{_POSITIVE}; null without baseline consumption")
    buildings: int = Field(description="how many buildings are compared")


class IntensityOut(BaseModel):
    """Energy intensity: weather-corrected kWh (normalised kWh, heat corrected to the normal year) divided by the
    heated m2 time-weighted over the same months."""

    baseline: float | None = Field(description="the baseline side's weather-corrected kWh per heated m2; null: no "
                                               "heated area, or a building of the portfolio without data on that side")
    year: float | None = Field(description="the year's side's weather-corrected kWh per heated m2; null likewise")
    reduction_pct: float | None = Field(description=f"1 - year / baseline, in %, {_POSITIVE}; null when a side is "
                                                    "null")
    like_for_like_reduction_pct: float | None = Field(
        description="the same for the like-for-like buildings only, in %, "
                    f"{_POSITIVE}; null without heated area on a side")
    heated_area_m2: SidesOut = Field(description="the heated m2 of each side, time-weighted over its months (0 m2 "
                                                 "in a month a building was outside the portfolio or the group)")


class ElectrificationOut(BaseModel):
    """Heat pumps and EV charging, reported beside the total so that they neither mask nor fake the target."""

    heat_pump_kwh: SidesOut = Field(description="kWh of heat pumps (as delivered) on each side")
    ev_charging_kwh: SidesOut = Field(description="kWh of EV charging on each side")
    reduction_pct_without_ev_charging: float | None = Field(
        description="the weather-corrected reduction with EV charging left out of both sides, in %, "
                    f"{_POSITIVE}; null without baseline consumption or while a building lacks data")
    note: str = Field(description="why electrification is shown, in words")


class ForecastOut(BaseModel):
    """The whole-year forecast of a running year."""

    months_measured: int = Field(description="complete months of the year measured (January on)")
    months_from_last_year: int = Field(description="the rest of the year, taken from last year's same months")
    baseline_normalised_kwh: float = Field(description="the whole baseline year, weather-corrected")
    normalised_kwh: float = Field(description="the measured months plus the rest of the year from last year, all "
                                              "weather-corrected to the normal year")
    reduction_pct: float | None = Field(description="1 - normalised_kwh / baseline_normalised_kwh, in %: the "
                                                    f"reduction the whole year is heading for, {_POSITIVE}; null "
                                                    "without baseline consumption or while buildings_without_data "
                                                    "lists a building")
    required_pct: float = Field(description="the reduction a straight path to the target year asks for this year, "
                                            "in % (positive: less energy)")
    on_track: bool = Field(description="reduction_pct >= required_pct: the year is forecast to be on track")
    verdict: str = Field(description="on_track, off_track, or uncertain (reasons in uncertain_because)")
    uncertain_because: list[str] = Field(description=_UNCERTAIN)
    coverage: float = Field(description="share of the forecast's months (measured and last year's) backed by "
                                        "measured data, the lower of the baseline's and the year's")
    estimated_share: float = Field(description="share of the kWh interpolated over gaps or from estimated readings, "
                                               "the larger of the baseline's and the forecast year's")
    buildings_without_data: ForecastWithoutDataOut = Field(
        description=f"{_WITHOUT_DATA}. Sides: baseline (the whole baseline year), year (the measured months), "
                    "last_year (last year's months the rest of the year is taken from)")
    method: str = Field(description="which months are measured and which taken from last year, all weather-corrected")
    coverage_detail: SidesOut = Field(description="the coverage of each side, 0-1: baseline (the whole baseline "
                                                  "year), year (the measured months plus last year's rest)")
    like_for_like: ForecastLikeForLikeOut = Field(description="the forecast for the buildings with data on every "
                                                              "side only")
    intensity_kwh_per_m2: IntensityOut = Field(description="weather-corrected (normalised) kWh per heated m2 of the "
                                                           "whole baseline year and the forecast year")
    electrification: ElectrificationOut = Field(description="heat pumps and EV charging of the whole baseline year "
                                                            "and the forecast year")


class BuildingForecastOut(BaseModel):
    """A building's whole-year forecast (a running year)."""

    baseline_normalised_kwh: float = Field(description="the building's whole baseline year, weather-corrected kWh")
    normalised_kwh: float = Field(description="its measured months plus the rest of the year from last year, "
                                              "weather-corrected kWh")
    reduction_pct: float | None = Field(description=f"1 - normalised_kwh / baseline_normalised_kwh, in %, {_POSITIVE}; "
                                                    "null without baseline consumption or without data on a side")
    saving_kwh: float | None = Field(description="baseline_normalised_kwh - normalised_kwh: positive for a saving; "
                                                 "null unless like_for_like")
    gap_kwh: float | None = Field(description="normalised_kwh - what the target's path leaves of the baseline "
                                              "(baseline x (1 - target_pct/100)): positive: above the path; null "
                                              "unless like_for_like")
    like_for_like: bool = Field(description="in the portfolio with data on every side of the forecast")
    without_data: list[str] = Field(description="the sides (baseline, year, last_year) on which it belongs to the "
                                                "portfolio but has no data")


class BuildingWeatherOut(BaseModel):
    """How a building's heat is weather-corrected."""

    a: float = Field(description="the weather-independent share of its heat (hot water), 0-1, rounded to 4 places")
    method: str = Field(description="where `a` comes from: hot_water_share (registered), regression (on the baseline "
                                    "year's monthly heat against degree days) or default")
    r2: float | None = Field(description="R² of the regression (null: no regression made)")
    detail: str = Field(description="more on how `a` was chosen, in words (may be empty)")


class ProgressBuildingOut(BaseModel):
    """One building's figures for the same months as the top level."""

    building_id: str = Field(description="the building's id")
    name: str = Field(description="the building's name")
    in_baseline: bool = Field(description="in the portfolio in the baseline year, with data in the months compared")
    in_year: bool = Field(description="in the portfolio in the year, with data in the months compared")
    like_for_like: bool = Field(description="in_baseline and in_year: counted in like_for_like")
    without_data: list[str] = Field(description="the sides (baseline, year) on which it belongs to the portfolio but "
                                                "has no data: its consumption there is unknown")
    baseline_kwh: float = Field(description="kWh of the baseline year's period, as delivered")
    actual_kwh: float = Field(description="kWh of the year's period, as delivered")
    baseline_normalised_kwh: float = Field(description="baseline_kwh with heat weather-corrected")
    actual_normalised_kwh: float = Field(description="actual_kwh with heat weather-corrected")
    reduction_pct: float | None = Field(description="1 - actual_normalised_kwh / baseline_normalised_kwh, in %, "
                                                    f"{_POSITIVE}; null without baseline consumption or without data "
                                                    "on a side")
    reduction_pct_unnormalised: float | None = Field(description="1 - actual_kwh / baseline_kwh, in % (not "
                                                                 f"weather-corrected), {_POSITIVE}; null likewise")
    coverage: SidesOut = Field(description="share of each side's period backed by measured data, 0-1")
    estimated_share: SidesOut = Field(description="share of each side's kWh interpolated over gaps or from estimated "
                                                  "readings, 0-1")
    coverage_lower: float = Field(description="the lower of the two sides' coverage, 0-1: how much of the comparison "
                                              "is measured (the portfolio's `coverage` is the same rule)")
    saving_kwh: float | None = Field(description="baseline_normalised_kwh - actual_normalised_kwh: positive for a "
                                                 "saving; null unless like_for_like")
    gap_kwh: float | None = Field(description="actual_normalised_kwh - what the target's path leaves of the baseline "
                                              "(baseline x (1 - target_pct/100)): positive: above the path; null "
                                              "unless like_for_like")
    forecast: BuildingForecastOut | None = Field(description="a running year's whole-year forecast of the building; "
                                                             "null for a finished year")
    baseline_source: dict[str, str] = Field(description="per carrier, where the baseline year's months come from: "
                                                        "import (the imported baseline) or readings")
    weather: BuildingWeatherOut = Field(description="how its heat is weather-corrected")
    heated_area_m2: AreaSidesOut = Field(description="its heated area on each side")
    pending: bool = Field(description="its figures rest on rollups that do not yet count stored readings "
                                      "(pending_buildings)")


class ProgressWeatherOut(BaseModel):
    """How many building-months of heat were weather-corrected, on both sides together."""

    corrected_building_months: int = Field(description="building-months of heat weather-corrected")
    uncorrected_building_months: dict[str, int] = Field(description="per reason (in words), building-months of heat "
                                                                    "left as delivered")


class YearToDateOut(BaseModel):
    """A running year's measured months (the same figures as the top level, kept for scripts that read them here)."""

    months: int = Field(description="complete months measured (= months_measured)")
    baseline_normalised_kwh: float = Field(description="the baseline year's same months, weather-corrected kWh")
    actual_normalised_kwh: float = Field(description="the measured months, weather-corrected kWh")
    reduction_pct: float | None = Field(description=f"= the top-level reduction_pct, in %, {_POSITIVE}")


class PortfolioChangesOut(BaseModel):
    """Buildings that left or joined the portfolio (or the target's group) between the baseline year and the year."""

    left: list[str] = Field(description="ids of buildings in the portfolio in the baseline year, not in the year "
                                        "(sold or moved to another group)")
    joined: list[str] = Field(description="ids of buildings in the portfolio in the year, not in the baseline year")


class RankingOut(BaseModel):
    """The ten largest savings and gaps among the like-for-like buildings."""

    largest_savings: list[str] = Field(description="building ids with a positive saving_kwh, largest first (at "
                                                   "most 10)")
    largest_gaps: list[str] = Field(description="building ids with a positive gap_kwh (above the target's path), "
                                                "largest first (at most 10)")


class TargetRefOut(BaseModel):
    """The target a progress answer is about."""

    id: str = Field(description="the target's id, e.g. T1")
    name: str = Field(description="the target's name")
    building_group: str = Field(description="the buildings it addresses (a building's building_group)")


class ProgressNormalYearOut(BaseModel):
    """The normal year heat is weather-corrected to."""

    degree_days: float = Field(description="its heating degree days (base 17 °C), summed over the 12 months")
    source: str = Field(description="where the 12 values come from")
    default: bool = Field(description="true: the shipped default (no setting stored)")


class ProgressAdjustmentOut(BaseModel):
    """A non-routine adjustment effective between 1 January of the baseline year and 31 December of the year."""

    id: int | None = Field(description="the adjustment's id; null for an area change of the area history "
                                       "(source area_history)")
    building_id: str = Field(description="the building's id")
    kind: str = Field(description="added, sold, area_changed or other")
    effective: date = Field(description="the local date the change takes effect")
    heated_area_m2: float | None = Field(description="the area from that date on (area_changed only; else null)")
    reason: str = Field(description="why, in words")
    actor: str = Field(description="who recorded it")
    created_at: datetime = Field(description="when it was recorded (local time)")
    source: Literal["adjustment", "area_history"] = Field(
        description="adjustment: recorded through POST /buildings/{id}/adjustments; area_history: a dated change of "
                    "the building's heated area (a PUT of the building with valid_from)")
    heated_area_m2_before: float | None = Field(
        default=None, exclude_if=lambda v: v is None,
        description="an area change's area before it (absent when the area history does not give one)")


class ProgressOut(BaseModel):
    """Progress of an energy target for a year. The top-level figures are what was measured: a finished year whole;
    a running year's complete months so far against the same months of the baseline year. A running year's
    whole-year forecast is in `forecast` (null for a finished year). Every reduction in % is positive for a
    reduction (less energy than the baseline) and negative for an increase."""

    baseline_year: int = Field(description="the target's baseline year compared against (e.g. 2015)")
    year: int = Field(description="the (local) calendar year reported")
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
    target_pct: float = Field(description="the target's reduction by its target year, in % (positive: less energy)")
    required_pct: float = Field(description="the reduction a straight path from the baseline year to the target "
                                            "year asks for by this year, in % (positive: less energy)")
    on_track: bool = Field(description="reduction_pct >= required_pct: measured on track (for a running year, so "
                                       "far); false when nothing can be judged (then verdict is uncertain). Whether "
                                       "the running year as a whole is on track: forecast.on_track")
    verdict: str = Field(description="on_track, off_track, or uncertain (reasons in uncertain_because), about the "
                                     "measured figures")
    uncertain_because: list[str] = Field(description=_UNCERTAIN)
    coverage: float = Field(description="share of the period backed by measured data, the lower of the baseline's "
                                        "and the year's (docs/semantics.md)")
    estimated_share: float = Field(description="share of the kWh interpolated over gaps or from estimated readings, "
                                               "the larger of the baseline's and the year's (docs/semantics.md)")
    estimated_share_detail: SidesOut = Field(description="the estimated share of each side, 0-1")
    method: str = Field(description="how kWh are counted and heat weather-corrected (the degree-day formula and `a`)")
    buildings_without_data: WithoutDataOut = Field(
        description=f"{_WITHOUT_DATA}. Sides: baseline, year (the same months in each)")
    like_for_like: LikeForLikeOut = Field(description="the same figures for the buildings with data in both years "
                                                      "(`buildings`: how many)")
    intensity_kwh_per_m2: IntensityOut = Field(description="weather-corrected kWh (normalised, heat corrected to the "
                                                           "normal year) per heated m2 over the period (a running "
                                                           "year: its months so far, the area time-weighted over them "
                                                           "and over the baseline's same months); a side with a "
                                                           "building without data: null")
    adjustments: list[ProgressAdjustmentOut] = Field(
        description="non-routine adjustments effective from 1 January of the baseline year to 31 December of the "
                    "year: added, sold, other, and area changes (source `adjustment`: recorded through POST "
                    "/buildings/{id}/adjustments; `area_history`: a dated change of the building's heated area), each "
                    "with its reason and actor, in date order")
    forecast: ForecastOut | None = Field(description="a running year's whole-year forecast; null for a finished "
                                                     "year")
    computed_through: datetime | None = Field(description=_COMPUTED_THROUGH)
    buildings: list[ProgressBuildingOut] = Field(description="per building, the same period as the top level, largest "
                                                             "saving first; a running year's per-building forecast in "
                                                             "each `forecast`")
    reduction_pct_unnormalised: float | None = Field(
        description="1 - actual_kwh / baseline_kwh, in % (not weather-corrected), positive for a reduction; null "
                    "as reduction_pct")
    target_year: int = Field(description="the year by which the target's reduction is due")
    coverage_detail: SidesOut = Field(description="the coverage of each side, 0-1 (coverage is the lower)")
    weather: ProgressWeatherOut = Field(description="how many building-months of heat were weather-corrected")
    year_to_date: YearToDateOut | None = Field(description="a running year's measured months (as the top level); "
                                                           "null for a finished year")
    electrification: ElectrificationOut = Field(description="heat pumps and EV charging on each side")
    portfolio_changes: PortfolioChangesOut = Field(description="buildings that left or joined the portfolio between "
                                                               "the baseline year and the year")
    buildings_without_baseline: list[str] = Field(description="ids of buildings in the portfolio with data in the "
                                                              "year but none in the baseline year's months while in "
                                                              "the portfolio then")
    ranking: RankingOut = Field(description="the largest savings and gaps, building ids")
    target: TargetRefOut = Field(description="the target reported on")
    normal_year: ProgressNormalYearOut = Field(description="the normal year heat is weather-corrected to")
    pending_buildings: list[str] = Field(description="ids of buildings whose stored readings the rollups do not "
                                                     "count yet (then computed_through is set, the verdict "
                                                     "uncertain)")


class PathYearOut(BaseModel):
    """One year of a target's path."""

    year: int = Field(description="the (local) calendar year")
    required_pct: float = Field(description="the reduction a straight path from the baseline year to the target "
                                            "year asks for by this year (the target's from the target year on)")
    reduction_pct: float | None = Field(description="the reduction reached: measured (a finished year), the whole-"
                                                    "year forecast (the running year), 0 (the baseline year); null "
                                                    "for a year not started, without coverage or without a reduction")
    basis: Literal["baseline", "measured", "forecast", "not_started"] = Field(
        description="what reduction_pct is: the baseline year, a finished year measured, the running year's "
                    "forecast, or a year not started")
    coverage: float | None = Field(description="the coverage of the figure (GET /progress for the year)")
    verdict: str | None = Field(description="on_track, off_track or uncertain (GET /progress for the year)")
    months_measured: int | None = Field(description="complete months measured in the year (null: baseline year or "
                                                    "not started)")


class ProgressPathOut(BaseModel):
    """The path of an energy target across years: the required straight line and the reductions reached, each
    year's as GET /progress gives it."""

    target: TargetRefOut = Field(description="the target")
    baseline_year: int = Field(description="the target's baseline year")
    target_year: int = Field(description="the year by which the reduction is due")
    target_pct: float = Field(description="the reduction due by the target year, in %")
    years: list[PathYearOut] = Field(description="one per year asked for (default: the baseline year to the later "
                                                 "of the target year and this year)")
    missing: list[int] = Field(description="years measured or forecast without a reduction (no coverage or no "
                                           "baseline consumption)")


# ---- targets (GET /api/v1/targets, PUT /api/v1/targets/{id}) ---------------------------------------------------------

Metric = Literal["energy_kwh", "led_share", "fossil_heating", "energy_labels", "co2_kg"]
_METRIC = ("what the target measures: energy_kwh (weather-corrected kWh), led_share (share of LED luminaires), "
           "fossil_heating (buildings heated by oil or gas), energy_labels (labels held), co2_kg (kg CO2)")


class TargetIn(BaseModel):
    """A target as data: what it measures, for which buildings, from which year to which."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="the target's name")
    metric: Metric = Field(description=_METRIC)
    building_group: str = Field(default="municipal", pattern=r"^[a-z0-9_]{1,40}$",
                                description="the buildings it addresses (a building's building_group)")
    baseline_year: WholeNumber = Field(ge=1990, le=2100, description="the year compared against")
    target_year: WholeNumber = Field(ge=1990, le=2100, description="the year by which the reduction is due")
    reduction_pct: Annotated[float, Field(ge=0, le=100), STRICT_NUMBER] | None = Field(
        default=None, description="the reduction (or share, for led_share) due by the target year, in %")
    description: str = Field(default="", max_length=2000, description="free text, e.g. the policy it comes from")


class TargetOut(BaseModel):
    """A target as stored."""

    id: str = Field(description="the target's id, e.g. T1")
    name: str = Field(description="the target's name")
    metric: Metric = Field(description=_METRIC)
    building_group: str = Field(description="the buildings it addresses (a building's building_group)")
    baseline_year: int = Field(description="the year compared against")
    target_year: int = Field(description="the year by which the reduction is due")
    reduction_pct: float | None = Field(description="the reduction (or share, for led_share) due by the target "
                                                    "year, in %")
    description: str = Field(description="free text, e.g. the policy it comes from")


class TargetStatusOut(BaseModel):
    """Where a target stands. Which fields are given depends on the metric: energy_kwh the running year's progress
    (as GET /progress), led_share the share now, fossil_heating, energy_labels and co2_kg last year's figures; a
    field a metric does not give is absent, not null."""

    year: int | None = Field(default=None, description="the year the status is about (energy_kwh: this year, "
                                                       "running; fossil_heating, energy_labels, co2_kg: last year)")
    at: datetime | None = Field(default=None, description="led_share: the instant the share is of (now)")
    value_pct: float | None = Field(default=None, description="the figure reached, in %: energy_kwh the "
                                                              "reduction the whole year is forecast to reach; "
                                                              "led_share the share of luminaires that are LED; "
                                                              "energy_labels the share of the buildings that must "
                                                              "hold a label that do")
    target_pct: float | None = Field(default=None, description="the target's reduction (or share) by its target "
                                                               "year, in %")
    required_pct: float | None = Field(default=None, description="energy_kwh: the reduction a straight path to the "
                                                                 "target year asks for this year, in %")
    verdict: str = Field(description="energy_kwh: on_track, off_track or uncertain; led_share: reached, "
                                     "in_progress, off_track or 'no luminaires registered'; fossil_heating and "
                                     "energy_labels: reached or in_progress; co2_kg: reporting")
    coverage: float | None = Field(default=None, description="share of the figure backed by measured data, 0-1 "
                                                             "(null: not measured data)")
    basis: Literal["forecast", "measured"] | None = Field(
        default=None, description="energy_kwh: value_pct and verdict are the running year's whole-year forecast, "
                                  "or (no forecast) what is measured")
    measured_pct: float | None = Field(default=None, description="energy_kwh: the reduction of the complete months "
                                                                 "so far against the same months of the baseline "
                                                                 "year, in %")
    months_measured: int | None = Field(default=None, description="energy_kwh: complete months measured this year")
    measured_verdict: str | None = Field(default=None, description="energy_kwh: the verdict on the measured months")
    by_watts_pct: float | None = Field(default=None, description="led_share: the LED share of the installed watts, "
                                                                 "in %")
    luminaires: int | None = Field(default=None, description="led_share: luminaires registered")
    buildings_still_fossil: int | None = Field(default=None, description="fossil_heating: buildings heated by oil "
                                                                         "or gas last year")
    baseline_buildings: int | None = Field(default=None, description="fossil_heating: such buildings in the "
                                                                     "baseline year")
    kwh: float | None = Field(default=None, description="fossil_heating: kWh of oil and gas last year")
    kg_co2: float | None = Field(default=None, description="fossil_heating: kg CO2 of that oil and gas; co2_kg: kg "
                                                           "CO2 of last year")
    baseline_kg_co2: float | None = Field(default=None, description="co2_kg: kg CO2 of the baseline year")
    change_pct: float | None = Field(default=None, description="co2_kg: (kg_co2 / baseline_kg_co2 - 1) x 100, in "
                                                               "%: negative for a reduction, positive for an "
                                                               "increase (as GET /co2 change_pct)")
    buildings_requiring_label: int | None = Field(default=None, description="energy_labels: public buildings over "
                                                                            "250 m2, which must hold a label")
    with_label: int | None = Field(default=None, description="energy_labels: those of them holding one")
    method: str | None = Field(default=None, description="how the figure is computed")


class TargetWithStatusOut(TargetOut):
    """A target with its status for the caller's buildings."""

    status: TargetStatusOut = Field(description="where the target stands now")


# ---- baseline (GET /api/v1/baseline, /baseline/imports, /baseline/missing) ------------------------------------------

class BaselineRowOut(BaseModel):
    """A current baseline row: the newest import's value for a building, carrier and month."""

    building_id: str = Field(description="the building's id")
    carrier: str = Field(description="the energy carrier: electricity, district_heating, natural_gas, oil, ...")
    month: str = Field(description="the local month, YYYY-MM")
    kwh: float = Field(description="kWh used in the month")
    source: str = Field(description="where the number comes from (e.g. 'invoice 2015')")
    import_id: int = Field(description="the import (version) the row comes from: GET /baseline/imports")


class BaselineImportOut(BaseModel):
    """One baseline import version."""

    import_id: int = Field(description="the import's id (its version)")
    imported_at: datetime = Field(description="when it was imported")
    actor: str = Field(description="who imported it (a token's name, `cli:<user>`, ...)")
    accepted: int = Field(description="rows stored")
    rejected: int = Field(description="rows reported and not stored")


class BaselineGapOut(BaseModel):
    building_id: str = Field(description="the building's id")
    carrier: str = Field(description="the energy carrier")


class BaselinePartOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    building_id: str = Field(description="the building's id")
    carrier: str = Field(description="the energy carrier")
    months: int = Field(description="months of the year the baseline has (1-11)")
    from_: Literal["import", "readings"] = Field(alias="from", description="where those months come from: the "
                                                                           "imported baseline or the readings")


class BaselineMissingOut(BaseModel):
    """Where the baseline of a year falls short."""

    year: int = Field(description="the baseline year asked about")
    missing: list[BaselineGapOut] = Field(description="buildings and carriers with a main meter but no baseline "
                                                      "for the year: neither imported nor from readings")
    incomplete: list[BaselinePartOut] = Field(description="buildings and carriers whose baseline lacks months")


# ---- CSV imports (POST /api/v1/imports/baseline, /degree-days, /adjustments) ----------------------------------------

class RowRejectedOut(BaseModel):
    line: int = Field(description="the file's line (1 is the header)")
    field: str = Field(description="the column the problem is in (or header, row, body)")
    message: str = Field(description="what is wrong")


class ImportOut(BaseModel):
    """A baseline or degree-day import: the valid rows are stored as a new import version, the others reported."""

    import_id: int | None = Field(description="the import (version) the rows were stored as; null: no row stored")
    accepted: int = Field(description="rows stored")
    rejected: list[RowRejectedOut] = Field(description="rows not stored, each with its reason")


class AdjustmentImportOut(BaseModel):
    """An adjustments import: every row stored (a file with any wrong row stores nothing: 422)."""

    accepted: int = Field(description="adjustments stored")
    rejected: list[RowRejectedOut] = Field(description="empty: a file with a wrong row is refused whole")


class ErrorItemOut(BaseModel):
    field: str = Field(description="the field (or column) the problem is in")
    message: str = Field(description="what is wrong")


class ImportRefusedOut(BaseModel):
    """Nothing imported: the API's error shape, with the rows refused (a wrong header or body gives `detail` and
    `errors` only)."""

    detail: str = Field(description="what went wrong, in one line")
    errors: list[ErrorItemOut] = Field(description="one per problem, its line in the message")
    accepted: int = Field(default=0, description="rows stored: 0")
    rejected: list[RowRejectedOut] = Field(default_factory=list, description="the rows refused, each with its reason")


# ---- non-routine adjustments (GET/POST /api/v1/buildings/{id}/adjustments) ------------------------------------------

class AdjustmentIn(BaseModel):
    # the date is required under one of its two names (declared, as the check in `day` and the API's)
    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [
        {"required": ["valid_from"], "properties": {"valid_from": {"type": "string"}}},
        {"required": ["effective"], "properties": {"effective": {"type": "string"}}}]})

    kind: Literal["added", "sold", "area_changed", "other"] = Field(
        description="added to / sold from the portfolio, heated area changed, or another non-routine change")
    valid_from: date | None = Field(default=None, description="the local date the change takes effect (as every "
                                                              "dated registry change); `effective` is the same")
    effective: date | None = Field(default=None, description="the local date the change takes effect (the name "
                                                             "before valid_from; give one of them)")
    reason: str = Field(min_length=3, max_length=1000, description="why; shown in progress reports")
    heated_area_m2: Annotated[float, Field(ge=0, le=10_000_000), STRICT_NUMBER] | None = Field(
        default=None, description="the area from the date on (area_changed only)")

    @property
    def day(self) -> date:
        d = self.valid_from or self.effective
        assert d is not None
        return d


# An adjustment as recorded is answered in the registry's shape: services.registry.schemas.AdjustmentOut (GET
# /buildings/{id}/history lists the same rows).


# ---- degree days, settings, audit -----------------------------------------------------------------------------------

class DegreeDayOut(BaseModel):
    month: str = Field(description="YYYY-MM (local)")
    degree_days: float = Field(description="actual heating degree days of the month, base 17 °C")
    normal: float = Field(description="the normal year's degree days of that calendar month")
    source: str = Field(description="where the value comes from")
    import_id: int = Field(description="the import (version) the value comes from")


class DailyDegreeDayOut(BaseModel):
    day: date = Field(description="the local (Europe/Copenhagen) day")
    degree_days: float = Field(description="heating degree days, base 17 °C (DMI acc_heating_degree_days_17)")
    source: str = Field(description="where the value comes from: DMI, the municipality and the retrieval date")
    fetched_at: datetime = Field(description="when the value was stored (a changed value: when it changed)")


class NormalYearIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=500, description="where the 12 values come from")
    degree_days: list[Annotated[float, Field(ge=0, le=1000), STRICT_NUMBER]] = Field(
        min_length=12, max_length=12, json_schema_extra={"contains": {"type": "number", "exclusiveMinimum": 0}},
        description="heating degree days (base 17 °C) of January .. December, each 0-1000; at least one above 0")


class NormalYearSettingOut(BaseModel):
    """The normal year heat is weather-corrected to (the setting: its 12 months)."""

    source: str = Field(description="where the 12 values come from")
    degree_days: list[float] = Field(description="heating degree days (base 17 °C) of January .. December")
    total: float = Field(description="the year's degree days, rounded to 0.1")
    default: bool = Field(description="true: the shipped default (no setting stored)")


class ShareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    a: Number = Field(ge=0, le=1, description="weather-independent share used when neither the building's "
                                             "hot_water_share nor a regression with R² >= 0.75 gives one")
    source: str = Field(min_length=1, max_length=500, description="where the value comes from")


class DefaultShareOut(BaseModel):
    a: float = Field(description="the default weather-independent share (hot water) of heat, 0-1")
    source: str = Field(description="where the value comes from")


class AuditEntryOut(BaseModel):
    at: datetime = Field(description="when (local time)")
    actor: str = Field(description="who: a token's name (and role), `cli:<user>`, `sync:<source>`, a migration")
    action: str = Field(description="put, import, adjust, exchange, ...")
    subject: str = Field(description="what: baseline, settings/<key>, targets/T1, buildings/<id>, meters/<id>, ...")
    detail: Any = Field(description="what changed: before/after of each field, valid_from, counts of an import")
