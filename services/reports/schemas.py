"""The documented shapes of the reports (GET /api/v1/led, /fossil, /labels, /green-accounts, /co2, /co2-factors) and
of a new CO2 factor (POST /co2-factors). Every field says its unit and meaning. The answer models allow fields they
do not name (as services.targets.schemas does): they describe, never trim; the tests check that none is unnamed."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from services.registry.schemas import Carrier, Number, WholeNumber

__all__ = [
    "CarrierYearOut", "Co2Out", "FactorIn", "FactorOut", "FossilMeterOut", "FossilOut", "FossilYearOut",
    "GreenAccountsNormalYearOut", "GreenAccountsOut", "GreenRowOut", "GreenTotalsOut", "HeatingPeriodOut",
    "LabelBuildingOut", "LabelsOut", "LedBuildingOut", "LedOut", "LedPointOut", "LifecycleOut", "LightingBuildingOut",
    "LightingOut", "StillFossilOut",
]

_OUT = ConfigDict(extra="allow", populate_by_name=True)
_COVERAGE = ("share of the active meter time backed by measured data, 0..1 (a carrier whose meter was installed for a "
             "month weighs a month, not a year)")
_ESTIMATED = "share of the kWh interpolated over gaps or from estimated readings, 0..1"
_COMPUTED_THROUGH = ("null: every figure is current; otherwise the instant up to which the rollups read are current "
                     "(stored readings after it are not counted yet)")
_PENDING = "buildings whose stored readings the rollups do not count yet (their figures will change)"


# ---- CO2 factors (GET and POST /co2-factors) -----------------------------------------------------------------------

class FactorIn(BaseModel):
    """A new version of a CO2 factor: it becomes current for its carrier, year and area; older versions stay."""

    model_config = {"extra": "forbid"}

    carrier: Carrier = Field(description="the energy carrier it applies to (heat pumps and EV charging take "
                                         "electricity's)")
    year: WholeNumber = Field(ge=1990, le=2100, description="the year it applies to")
    area: str = Field(default="DK2", pattern=r"^[A-Z0-9]{2,8}$", description="price area, DK1 or DK2")
    kg_per_kwh: Number = Field(ge=0, le=2, description="kg CO2 (or CO2e) per kWh delivered")
    method: str = Field(min_length=1, max_length=300, description="how the factor was derived")
    source: str = Field(min_length=1, max_length=500, description="where the value comes from")


class FactorOut(BaseModel):
    """One version of a CO2 factor."""

    model_config = _OUT

    id: int = Field(description="the version's id (newer versions have higher ids)")
    carrier: str = Field(description="the energy carrier it applies to (heat pumps and EV charging take "
                                     "electricity's)")
    year: int = Field(description="the year it applies to; years between listed years are interpolated")
    area: str = Field(description="price area (DK1, DK2)")
    kg_per_kwh: float = Field(description="kg CO2 (or CO2e) per kWh delivered")
    method: str = Field(description="how the factor was derived (e.g. the declaration's allocation method)")
    source: str = Field(description="where the value comes from")
    created_at: datetime = Field(description="when this version was added")
    actor: str = Field(description="who added it ('default data file' for the shipped table)")


# ---- LED rollout (GET /led) ----------------------------------------------------------------------------------------

class LedPointOut(BaseModel):
    """The portfolio's luminaires at one point in time, from each luminaire's technology history."""

    model_config = _OUT

    at: date | datetime = Field(description="1 January of a year (a local date: its local midnight), or the last "
                                            "point, now (an instant)")
    luminaires: int = Field(description="luminaires installed at that point")
    led: int = Field(description="of them LED")
    led_share_count: float | None = Field(description="led / luminaires, 0..1 (null: no luminaires)")
    led_share_watts: float | None = Field(description="LED rated W over all rated W, 0..1 (null: no rated W)")
    installed_w: float = Field(description="rated W of every luminaire installed, W")


class LedBuildingOut(BaseModel):
    """One building's luminaires at the last point (now)."""

    model_config = _OUT

    building_id: str = Field(description="the building's id")
    luminaires: int = Field(description="luminaires installed")
    led: int = Field(description="of them LED")
    watts: float = Field(description="rated W of every luminaire installed, W")
    led_watts: float = Field(description="rated W of the LED luminaires, W")
    led_share_count: float = Field(description="led / luminaires, 0..1")
    led_share_watts: float | None = Field(description="led_watts / watts, 0..1 (null: no rated W)")


class LightingBuildingOut(BaseModel):
    """One building's lighting telemetry over the year."""

    model_config = _OUT

    building_id: str = Field(description="the building's id")
    luminaires_reporting: int = Field(description="luminaires with two or more telemetry readings in the year")
    kwh: float = Field(description="kWh used: the difference of each luminaire's energy register over the year")
    full_power_kwh: float | None = Field(description="kWh at rated power over the burning hours (rated W x burn "
                                                     "hours difference / 1000)")
    dimming_saving_kwh: float | None = Field(description="full_power_kwh - kwh: kWh saved by dimming")


class LightingOut(BaseModel):
    """Lighting kWh and the saving from dimming, from the luminaires' telemetry, for one year."""

    model_config = _OUT

    year: int = Field(description="the (local) calendar year the telemetry covers")
    kwh: float = Field(description="kWh used by the luminaires reporting, all buildings")
    dimming_saving_kwh: float = Field(description="kWh saved by dimming, all buildings")
    buildings: list[LightingBuildingOut] = Field(description="per building with telemetry")
    method: str = Field(description="how kWh and the saving are computed")


class LedOut(BaseModel):
    """LED rollout (T2): the LED share by count and by installed W at each 1 January and now, per building now, and
    the lighting telemetry of a year."""

    model_config = _OUT

    series: list[LedPointOut] = Field(description="the portfolio at each 1 January from from_year, and now (last)")
    buildings: list[LedBuildingOut] = Field(description="per building with luminaires installed now, by id")
    method: str = Field(description="how the shares are counted")
    lighting: LightingOut = Field(description="lighting kWh and dimming savings of `year` (default: last year)")


# ---- Fossil phase-out (GET /fossil) --------------------------------------------------------------------------------

class CarrierYearOut(BaseModel):
    """kWh and CO2 of one building, carrier and year (meters that count in totals)."""

    model_config = _OUT

    building_id: str = Field(description="the building's id")
    carrier: str = Field(description="natural_gas or oil")
    year: int = Field(description="the (local) calendar year")
    kwh: float = Field(description="kWh delivered in the year (not weather-corrected)")
    kg_co2: float | None = Field(description="kWh x kg_per_kwh, kg CO2 (null: no factor for the carrier)")
    kg_per_kwh: float | None = Field(description="the factor used, kg CO2 per kWh (null: none)")
    method: str = Field(description="where the factor comes from (its year, method and source, or interpolated)")
    months: int = Field(description="months of the year with figures")
    coverage: float = Field(description=_COVERAGE)
    estimated_share: float = Field(description=_ESTIMATED)


class FossilYearOut(BaseModel):
    """One year of the fossil trend."""

    model_config = _OUT

    year: int = Field(description="the (local) calendar year")
    buildings: int = Field(description="buildings with natural gas or oil consumption in the year (meters or "
                                       "imported baseline)")
    kwh: float = Field(description="their natural gas and oil kWh in the year")
    kg_co2: float = Field(description="their CO2 from natural gas and oil, kg")
    buildings_heated_fossil: int = Field(description="buildings whose registered heating was oil or gas at some "
                                                     "time in the year (heating history)")
    buildings_fossil: int = Field(description="buildings fossil by either: consumption or registered heating")


class StillFossilOut(BaseModel):
    """A building still fossil: consumption in the last year or registered oil or gas heating as of heating_as_of."""

    model_config = _OUT

    building_id: str = Field(description="the building's id")
    registered_heating: str | None = Field(description="its heating in the registry's history as of heating_as_of")
    heating_now: str | None = Field(description="its heating as the registry holds it now")
    kwh: float = Field(description="natural gas and oil kWh in the last year of the trend")


class HeatingPeriodOut(BaseModel):
    """A span in which a building's registered heating was one value."""

    model_config = _OUT

    heating: str | None = Field(description="the heating (oil, natural_gas, district_heating, heat_pump, ...)")
    from_: datetime | None = Field(alias="from", description="start of the span (null: since always)")
    to: datetime | None = Field(description="end (exclusive) of the span (null: still so)")


class FossilMeterOut(BaseModel):
    """An oil or natural gas meter of the building, with its active span (meter lifecycle)."""

    model_config = _OUT

    meter_id: str = Field(description="the meter's id")
    carrier: str = Field(description="natural_gas or oil")
    active_from: datetime | None = Field(description="when the meter became active (null: not recorded)")
    active_to: datetime | None = Field(description="when it stopped counting, e.g. removed at a replacement (null: "
                                                   "still active)")
    replaced_by: str | None = Field(description="the meter that replaced it (null: none)")


class LifecycleOut(BaseModel):
    """A building with fossil heating at some time or an oil/gas meter: its heating periods and fossil meters."""

    model_config = _OUT

    building_id: str = Field(description="the building's id")
    heating: list[HeatingPeriodOut] = Field(description="its heating periods, oldest first (a replaced boiler ends "
                                                        "its fossil period)")
    fossil_until: datetime | None = Field(description="end of its last oil or gas period (null: still fossil, or "
                                                      "never registered so)")
    converted_to: str | None = Field(description="its heating now, when that is no longer oil or gas")
    meters: list[FossilMeterOut] = Field(description="its oil and natural gas meters")


class FossilOut(BaseModel):
    """Fossil phase-out (T3): buildings still heated with oil or natural gas, counted per year since the baseline
    year, by consumption and by the registry's heating history; each fossil-heated building's heating lifecycle."""

    model_config = _OUT

    years: list[int] = Field(description="the baseline year to the last complete year")
    trend: list[FossilYearOut] = Field(description="one per year of `years`")
    buildings_still_fossil: list[StillFossilOut] = Field(description="by building id")
    heating_as_of: datetime = Field(description="the instant the registered heating is read at: the end of the last "
                                                "year, or now while it runs")
    lifecycles: list[LifecycleOut] = Field(description="each building with fossil heating at some time or an oil or "
                                                     "gas meter")
    rows: list[CarrierYearOut] = Field(description="natural gas and oil kWh and CO2 per building, carrier and year "
                                                   "(only rows with kWh)")
    target_year: int = Field(description="the year fossil heating is to be phased out by")
    method: str = Field(description="how each count is made")


# ---- Energy labels (GET /labels) -----------------------------------------------------------------------------------

class LabelBuildingOut(BaseModel):
    """One building: its registered label and its measured intensity against the label limits."""

    model_config = _OUT

    building_id: str = Field(description="the building's id")
    name: str = Field(description="the building's name")
    registered_label: str | None = Field(description="the energy label registered (null: none)")
    heated_area_m2: float = Field(description="heated area in the year, m²")
    label_required: bool = Field(description="heated area over 250 m²: a public building must hold a valid label")
    coverage: float = Field(description=_COVERAGE)
    estimated_share: float = Field(description=_ESTIMATED)
    kwh_per_m2: float | None = Field(description="delivered kWh (heat weather-corrected) per heated m² in the year, "
                                                 "kWh/m² (null: no consumption)")
    measured_class: str | None = Field(description="the label class kwh_per_m2 falls in (A2020 .. G)")
    next_class: str | None = Field(description="the next better class (null: already the best)")
    next_class_limit_kwh_per_m2: float | None = Field(description="that class's limit for the building's area, "
                                                                  "kWh/m²")
    saving_potential_kwh: float | None = Field(description="kWh a year above the next better class's limit: (kwh_per_"
                                                           "m2 - limit) x area")


class LabelsOut(BaseModel):
    """Energy labels (T4): registered labels, measured kWh/m² against the label limits, buildings ranked by saving
    potential (largest first)."""

    model_config = _OUT

    year: int = Field(description="the (local) calendar year measured")
    buildings: list[LabelBuildingOut] = Field(description="by saving potential, largest first")
    computed_through: datetime | None = Field(description=_COMPUTED_THROUGH)
    pending_buildings: list[str] = Field(description=_PENDING)
    without_label: list[str] = Field(description="buildings that must hold a label and have none registered")
    limits_source: str = Field(description="where the label limits come from")
    method: str = Field(description="what is compared (an indicator only: a real label rates calculated primary "
                                    "energy)")


# ---- Green accounts (GET /green-accounts) --------------------------------------------------------------------------

class GreenRowOut(BaseModel):
    """One building and carrier: the year against the baseline year."""

    model_config = _OUT

    building_id: str = Field(description="the building's id")
    name: str = Field(description="the building's name")
    carrier: str = Field(description="the energy carrier (electricity, district_heating, natural_gas, oil, ...)")
    kwh: float | None = Field(description="kWh delivered in the year (null: not in the portfolio that year)")
    normalised_kwh: float | None = Field(description="kwh with heat weather-corrected to the normal year")
    coverage: float | None = Field(description=_COVERAGE)
    estimated_share: float | None = Field(description=_ESTIMATED)
    kg_co2: float | None = Field(description="kwh x the carrier's factor for the year, kg CO2 (null: no factor)")
    baseline_kwh: float | None = Field(description="kWh delivered in the baseline year")
    baseline_normalised_kwh: float | None = Field(description="baseline_kwh weather-corrected")
    baseline_kg_co2: float | None = Field(description="kg CO2 in the baseline year")
    change_normalised_pct: float | None = Field(description="(normalised_kwh / baseline_normalised_kwh - 1) x 100, "
                                                            "in %: negative for a reduction (less energy than the "
                                                            "baseline), positive for an increase (the opposite sign "
                                                            "of GET /progress reduction_pct); null: unknown, e.g. "
                                                            "meters installed that measured nothing")
    a: float = Field(description="the weather-independent share of heat (hot water) used, 0..1")
    a_method: str = Field(description="where `a` comes from: hot_water_share, regression or default")


class GreenTotalsOut(BaseModel):
    """The rows summed."""

    model_config = _OUT

    kwh: float = Field(description="kWh delivered in the year")
    normalised_kwh: float = Field(description="kWh weather-corrected")
    kg_co2: float = Field(description="kg CO2 in the year")
    baseline_kwh: float = Field(description="kWh delivered in the baseline year")
    baseline_normalised_kwh: float = Field(description="baseline kWh weather-corrected")
    baseline_kg_co2: float = Field(description="kg CO2 in the baseline year")
    change_normalised_pct: float | None = Field(description="(normalised_kwh / baseline_normalised_kwh - 1) x 100, "
                                                            "in %: negative for a reduction, positive for an increase "
                                                            "(the opposite sign of GET /progress reduction_pct); "
                                                            "null: a side is 0")
    change_co2_pct: float | None = Field(description="(kg_co2 / baseline_kg_co2 - 1) x 100, in %: negative for a "
                                                     "reduction, positive for an increase; null: a side is 0")
    coverage: float = Field(description=f"{_COVERAGE}, over all rows")
    estimated_share: float = Field(description=f"{_ESTIMATED}, over all rows")


class GreenAccountsNormalYearOut(BaseModel):
    """The normal year the green accounts' heat is corrected to."""

    model_config = _OUT

    degree_days: float = Field(description="its heating degree days over the year (base 17 °C)")
    source: str = Field(description="where it comes from")


class GreenAccountsOut(BaseModel):
    """The yearly green accounts (grønt regnskab): energy by carrier, weather corrected, CO2, change against the
    baseline year, coverage, per building and carrier, and the totals."""

    model_config = _OUT

    year: int = Field(description="the (local) calendar year reported")
    baseline_year: int = Field(description="the year compared against")
    totals: GreenTotalsOut = Field(description="the rows summed")
    rows: list[GreenRowOut] = Field(description="per building and carrier (water and PV production are not counted)")
    computed_through: datetime | None = Field(description=_COMPUTED_THROUGH)
    pending_buildings: list[str] = Field(description=_PENDING)
    normal_year: GreenAccountsNormalYearOut = Field(description="the normal year heat is weather-corrected to")
    method: str = Field(description="how energy, weather correction and CO2 are counted")


_CO2_COVERAGE = ("share of the active meter time backed by measured data, 0-1 (a carrier whose meter was installed "
                 "for a month weighs a month, not a year)")
_CO2_ESTIMATED = "share of the kWh interpolated over gaps or from estimated readings, 0-1"


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
    fallback_kg_co2: float | None = Field(description="fallback_kwh x the annual factor, kg CO2 (null: no annual "
                                                      "factor)")
    fallback_method: str | None = Field(description="the annual factor used for fallback_kwh (null: none needed)")


class Co2RowOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    building_id: str = Field(description="the building's id")
    carrier: str = Field(description="the energy carrier (heat pumps and EV charging take electricity's factor)")
    year: int = Field(description="the (local) calendar year")
    kwh: float = Field(description="kWh delivered in the year (not weather-corrected), meters that count in totals")
    kg_co2: float | None = Field(description="kWh x the annual factor (the method named in `method`)")
    kg_per_kwh: float | None = Field(description="the annual factor used, kg CO2 per kWh (null: none for the "
                                                 "carrier)")
    method: str = Field(description="'annual_declaration_factor (<the factor's year, method and source>)', or why "
                                    "there is none")
    months: int = Field(description="months of the year with figures")
    coverage: float = Field(description=_CO2_COVERAGE)
    estimated_share: float = Field(description=_CO2_ESTIMATED)
    hourly: HourlyCo2Out | None = Field(default=None, description="electric carriers: the same kWh hour by hour")


class Co2CarrierOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    carrier: str = Field(description="the energy carrier")
    kg_co2: float = Field(description="kg CO2 of the carrier in the year (annual factors)")
    baseline_kg_co2: float = Field(description="kg CO2 of the carrier in the baseline year (annual factors)")


class HourlyCo2TotalOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    kwh: float = Field(description="kWh of the electric rows (electricity, heat pumps, EV charging) in the year")
    kg_co2_annual_factor: float | None = Field(description="their kg CO2 by the annual factor (null: a row has no "
                                                           "factor)")
    kg_co2_hourly: float | None = Field(description="hour by hour where an intensity is stored, the annual factor "
                                                    "for the rest")
    hourly_coverage: float | None = Field(description="share of the kWh computed hour by hour")
    fallback_kwh: float = Field(description="kWh without an hourly intensity, counted by the annual factor")


class ElectricityHourlyOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    method: str = Field(description="the hourly method's name, with dataset, price area and fuel allocation")
    description: str = Field(description="how the hourly figures are computed, in words")
    area: str = Field(description="the price area of the hourly intensities (DK1, DK2)")
    dataset: str = Field(description="the Energi Data Service dataset the intensities come from")
    fuel_allocation: str = Field(description="the declaration's fuel allocation method (e.g. 125%)")
    intensity_stored_from: datetime | None = Field(description="start of the oldest stored hour (local time); null: "
                                                               "none stored")
    intensity_stored_to: datetime | None = Field(description="end (exclusive) of the newest stored hour")
    intensity_hours: int = Field(description="hours with a stored intensity")
    year: HourlyCo2TotalOut = Field(description="the year's electric rows together")
    baseline: HourlyCo2TotalOut = Field(description="the baseline year's electric rows together")


class Co2Out(BaseModel):
    """kg CO2 per building, carrier and year by the annual declaration factors (top-level figures, as before), and
    electricity hour by hour beside them (`electricity_hourly`, each row's `hourly`); every figure names its method."""

    model_config = ConfigDict(extra="allow")

    year: int = Field(description="the (local) calendar year reported")
    baseline_year: int = Field(description="the year compared against")
    computed_through: datetime | None = Field(description=_COMPUTED_THROUGH)
    pending_buildings: list[str] = Field(description="buildings whose stored readings the rollups do not count yet "
                                                     "(their figures will change)")
    kg_co2: float = Field(description="kg CO2 of the year, all buildings and carriers (annual factors)")
    baseline_kg_co2: float = Field(description="kg CO2 of the baseline year (annual factors)")
    change_pct: float | None = Field(description="(kg_co2 / baseline_kg_co2 - 1) x 100, in %: negative for a "
                                                 "reduction (less CO2 than the baseline), positive for an increase "
                                                 "(the opposite sign of GET /progress reduction_pct); null: a "
                                                 "side is 0")
    coverage: float = Field(description=f"{_CO2_COVERAGE}, over the year's rows")
    estimated_share: float = Field(description=f"{_CO2_ESTIMATED}, over the year's rows")
    by_carrier: list[Co2CarrierOut] = Field(description="the totals per carrier")
    method: str = Field(description="how kg CO2 is computed (annual declaration factors)")
    electricity_hourly: ElectricityHourlyOut = Field(description="electricity hour by hour, beside the annual figures")
    rows: list[Co2RowOut] = Field(description="per building, carrier and year (the year and the baseline year)")
