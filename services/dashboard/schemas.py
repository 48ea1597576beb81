"""The dashboard's answers beyond the core API: who the caller is (/me), monthly kWh beside weather-corrected kWh
(/weather-corrected), a consumption series weather-corrected period by period (/consumption/weather-corrected) and each
meter's last reading and completeness (/meter-status). Every instant is local time with its offset."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from services.auth.schemas import Role
from services.consumption.schemas import QUALITY_COMPLETE, QUALITY_COVERAGE, QUALITY_ESTIMATED
from services.registry.schemas import Carrier

CorrectedResolution = Literal["hour", "day", "month"]

_METHOD = "how the heat was corrected: the degree-day formula, what is left uncorrected and where the default `a` " \
          "comes from"
_PENDING = "readings are stored for this period that the rollups do not count yet: its kWh are null until they are"


class MeOut(BaseModel):
    """Who the caller is, what it may do, and what the dashboard needs to know of the installation so that it
    repeats no rule of its own: the time zone every figure is in, today there, the baseline year of the energy
    target, which carriers are energy used and which heating is fossil."""

    role: Role = Field(description="the caller's role: admin, energy_team, facility_manager or viewer")
    name: str = Field(description="the caller's token name (\"admin (environment)\" for ENERGIBLIK_ADMIN_TOKEN)")
    building_ids: list[str] | None = Field(description="the buildings a facility manager is bound to; null: every "
                                                       "building")
    can_handle_alerts: bool = Field(description="may acknowledge and resolve alerts (every role but viewer)")
    portfolio: bool = Field(description="may see the whole portfolio (every role but facility manager)")
    timezone: str = Field(description="the IANA time zone of every local date and instant (ENERGIBLIK_TIMEZONE)")
    today: date = Field(description="today's date in that time zone")
    baseline_year: int = Field(description="the baseline year of the energy target T1 (the municipality's 2015)")
    energy_carriers: list[Carrier] = Field(description="carriers whose kWh are energy used (not water, which is m3, "
                                                       "nor own PV production, shown beside consumption)")
    fossil_heating: list[str] = Field(description="the heating values (and carriers) that are fossil, as the fossil "
                                                  "phase-out (T3, /fossil) counts them")


class WeatherMonthOut(BaseModel):
    month: str = Field(description="the local calendar month, YYYY-MM")
    kwh: float | None = Field(description="kWh as delivered in the month (the imported baseline in the baseline year "
                                          "where there is one); null without data or while pending")
    normalised_kwh: float | None = Field(description="kWh weather-corrected to the normal year (heat only; "
                                                     "electricity counts as delivered); null when `kwh` is")
    factor: float | None = Field(description="normalised_kwh / kwh for the month (1: nothing corrected); null "
                                             "without data or without kWh")
    coverage: float = Field(description="measured share of the meters' active time in the month (0-1)")
    estimated_share: float = Field(description="share of the kWh interpolated over gaps or estimated (0-1)")
    pending: bool = Field(description=_PENDING)


class WeatherYearOut(BaseModel):
    year: int = Field(description="the (local) calendar year")
    months: list[WeatherMonthOut] = Field(description="January to December")
    pending: bool = Field(description="some month of the year is pending")
    kwh: float | None = Field(description="the year's kWh as delivered; null while a month is pending")
    normalised_kwh: float | None = Field(description="the year's weather-corrected kWh; null while a month is "
                                                     "pending")
    coverage: float = Field(description="the year's measured share (0-1) over its months already over, each weighing "
                                        "by its days; 0 when none is over yet")
    estimated_share: float = Field(description="the year's share interpolated or estimated (0-1) over the same "
                                               "months, weighted the same way")
    complete: bool = Field(description=QUALITY_COMPLETE)


class ShareOut(BaseModel):
    building_id: str = Field(description="the building's id")
    a: float = Field(description="the weather-independent share of the building's heat (hot water, 0-1)")
    a_method: str = Field(description="where `a` comes from: hot_water_share (registered), regression (on the "
                                      "baseline year's monthly heat against degree days) or default")


class WeatherNormalYearOut(BaseModel):
    """The normal year the weather-corrected series' heat is corrected to."""

    degree_days: float = Field(description="the normal year's degree days (base 17 °C), summed over its months")
    source: str = Field(description="where the normal year comes from")


class WeatherCorrectedOut(BaseModel):
    """Monthly kWh as delivered and weather-corrected, per year, with the rules of progress."""

    unit: Literal["kWh"] = Field(description="the unit of every amount: kWh")
    carrier: Carrier | None = Field(description="the one carrier asked for; null: every energy carrier")
    baseline_year: int = Field(description="the baseline year whose monthly heat `a` is estimated from")
    computed_through: datetime | None = Field(description="null: every figure is current; otherwise the instant up "
                                                          "to which the rollups read are current")
    years: list[WeatherYearOut] = Field(description="each year asked for, oldest first")
    buildings: list[ShareOut] = Field(description="`a` of every building the figures add up")
    normal_year: WeatherNormalYearOut = Field(description="the normal year heat is corrected to")
    method: str = Field(description=_METHOD)


class CorrectedPointOut(BaseModel):
    start: datetime = Field(description="the period's local start")
    end: datetime = Field(description="the period's local end (exclusive)")
    kwh: float | None = Field(description="kWh as delivered (as /consumption answers it); null while pending")
    normalised_kwh: float | None = Field(description="kWh weather-corrected: `kwh` times `factor`; null while "
                                                     "pending")
    factor: float = Field(description="the weather-correction factor of the local month the period lies in (the "
                                      "month's normalised kWh / kWh as /weather-corrected has them); 1 where nothing "
                                      "is corrected (electricity, a warm month, a month without data)")
    coverage: float = Field(description="measured share of the meters' active time in the period (0-1)")
    estimated_share: float = Field(description="share of the amount interpolated over gaps or estimated (0-1)")
    pending: bool = Field(description=_PENDING)


class CorrectedSeriesOut(BaseModel):
    """A consumption series with each period weather-corrected by the factor of its month."""

    unit: Literal["kWh"] = Field(description="the unit of every amount: kWh")
    resolution: CorrectedResolution = Field(description="the periods: hours, days or months (each lies in one month)")
    timezone: str = Field(description="the IANA time zone of the periods")
    carrier: Carrier | None = Field(description="the one carrier asked for; null: every energy carrier")
    requested_start: datetime = Field(description="the start the caller asked for, in local time")
    requested_end: datetime = Field(description="the end (exclusive) the caller asked for, in local time")
    start: datetime = Field(description="the start of the first whole local period answered")
    end: datetime = Field(description="the end (exclusive) of the last whole local period answered")
    widened: bool = Field(description="the whole periods reach beyond the requested window")
    computed_through: datetime | None = Field(description="null: every figure is current; otherwise the instant up "
                                                          "to which the rollups read are current")
    baseline_year: int = Field(description="the energy target's baseline year, whose monthly heat `a` is estimated "
                                           "from")
    buildings: list[ShareOut] = Field(description="`a` of every building the figures add up")
    method: str = Field(description=_METHOD)
    coverage: float = Field(description=QUALITY_COVERAGE)
    estimated_share: float = Field(description=QUALITY_ESTIMATED)
    complete: bool = Field(description=QUALITY_COMPLETE)
    series: list[CorrectedPointOut] = Field(description="one per whole local period from start to end, oldest "
                                                        "first")


class MeterStatusOut(BaseModel):
    meter_id: str = Field(description="the meter's id")
    building_id: str = Field(description="the building it is registered in")
    carrier: Carrier = Field(description="the meter's energy carrier (water: m3)")
    unit: str = Field(description="the unit the meter reports in (Wh, kWh, MWh, MJ, GJ, m3, l)")
    parent_meter_id: str | None = Field(description="the meter this one is a sub-meter of (null: a main meter)")
    last_reading: datetime | None = Field(description="the time of the meter's latest stored reading; null: none")
    completeness: float | None = Field(description="share of the last `completeness_days` whole local days backed "
                                                   "by measured data, counting only the time the meter was "
                                                   "installed (0-1); null: not installed at all in those days")
    completeness_days: int = Field(description="the days completeness is over (the last whole local days)")
    active_from: datetime | None = Field(description="installed at (null: since always)")
    active_to: datetime | None = Field(description="removed at, exclusive (null: still installed)")
    replaced_by: str | None = Field(description="the meter that replaced this one")
    installed: bool = Field(description="installed now (between active_from and active_to): only an installed meter "
                                        "is expected to report")
    silent: bool = Field(description="installed and no reading for more than 24 hours (or none at all): shown as a "
                                     "warning beside the last reading")
    incomplete: bool = Field(description="completeness below 0.95 over the last `completeness_days` days")
