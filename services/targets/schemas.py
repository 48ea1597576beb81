"""The in and out models of the targets slice: what the targets routes take and answer, each field with its unit and
meaning. The progress answer (GET /api/v1/progress) documents the API contract v1 fields for a finished and for a
running year; every further detail of `services.targets.progress.compute` passes through (extra fields allowed), so
those models describe, never trim."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.registry.schemas import STRICT_NUMBER, Number, WholeNumber

_REDUCTION = ("1 - actual_normalised_kwh / baseline_normalised_kwh, in % (null without baseline consumption, and "
              "null while a building of the portfolio has no data on a side: buildings_without_data)")
_UNCERTAIN = "why the verdict is uncertain, in words (empty unless verdict is uncertain)"
_COMPUTED_THROUGH = ("null: every figure is current; otherwise the instant up to which the rollups read are current "
                     "(local time)")
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
    uncertain_because: list[str] = Field(description=_UNCERTAIN)
    coverage: float = Field(description="share of the forecast's months (measured and last year's) backed by "
                                        "measured data, the lower of the baseline's and the year's")
    estimated_share: float = Field(description="share of the kWh interpolated over gaps or from estimated readings, "
                                               "the larger of the baseline's and the forecast year's")
    buildings_without_data: dict[str, list[str]] = Field(
        description=f"{_WITHOUT_DATA}. Sides: baseline (the whole baseline year), year (the measured months), "
                    "last_year (last year's months the rest of the year is taken from)")
    method: str = Field(description="which months are measured and which taken from last year, all weather-corrected")


class ProgressOut(BaseModel):
    """Progress of an energy target for a year. The top-level figures are what was measured: a finished year whole;
    a running year's complete months so far against the same months of the baseline year. A running year's
    whole-year forecast is in `forecast` (null for a finished year)."""

    model_config = ConfigDict(extra="allow")

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
    target_pct: float = Field(description="the target's reduction by its target year")
    required_pct: float = Field(description="the reduction a straight path from the baseline year to the target "
                                            "year asks for by this year")
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
    estimated_share_detail: dict[str, float] = Field(description="the estimated share of each side: baseline, year")
    method: str = Field(description="how kWh are counted and heat weather-corrected (the degree-day formula and `a`)")
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

    target: dict[str, Any] = Field(description="the target: id, name, building_group")
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
    change_pct: float | None = Field(default=None, description="co2_kg: change of kg CO2 against the baseline "
                                                               "year, in % (negative: less)")
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


class NormalYearOut(BaseModel):
    """The normal year heat is weather-corrected to."""

    source: str = Field(description="where the 12 values come from")
    degree_days: list[float] = Field(description="heating degree days (base 17 °C) of January .. December")
    total: float = Field(description="the year's degree days, rounded to 0.1")
    default: bool = Field(description="true: the shipped default (no setting stored)")


class ShareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    a: Number = Field(ge=0, le=1, description="weather-independent share used when neither the building's "
                                             "hot_water_share nor a regression with R² >= 0.75 gives one")
    source: str = Field(min_length=1, max_length=500, description="where the value comes from")


class ShareOut(BaseModel):
    a: float = Field(description="the default weather-independent share (hot water) of heat, 0-1")
    source: str = Field(description="where the value comes from")


class AuditEntryOut(BaseModel):
    at: datetime = Field(description="when (local time)")
    actor: str = Field(description="who: a token's name (and role), `cli:<user>`, `sync:<source>`, a migration")
    action: str = Field(description="put, import, adjust, exchange, ...")
    subject: str = Field(description="what: baseline, settings/<key>, targets/T1, buildings/<id>, meters/<id>, ...")
    detail: Any = Field(description="what changed: before/after of each field, valid_from, counts of an import")
