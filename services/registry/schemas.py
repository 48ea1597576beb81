"""Registry input and output shapes: buildings, meters, luminaires (API contract v1 PUT bodies).

A PUT replaces the whole entity: optional fields left out are stored as NULL — except a meter's lifecycle
(`active_from`, `active_to`, `replaced_by`), which a PUT that leaves them out keeps (explicit null clears it), so that
a script written before the lifecycle existed cannot un-remove a meter (docs/meter-lifecycle.md). Output shapes carry
the id, the timestamps and, for meters, the kWh factor actually used for the meter's unit.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    computed_field,
    field_validator,
    model_validator,
)

from services.config import get_settings
from services.errors import ValidationFailed
from services.localtime import parse_instant
from services.readings.units import Unit, is_energy, to_kwh

ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"


def not_only_dots(value: str) -> str:
    """An id of dots only (".", "..") would be a path segment, and a broker user "building-..": refused."""
    if value.strip(".") == "":
        raise ValueError("must contain a character other than '.'")
    return value


EntityId = Annotated[str, Field(pattern=ID_PATTERN, description="1-64 characters from A-Z a-z 0-9 . _ -, not only "
                                "dots"), AfterValidator(not_only_dots)]


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here rather than fail in the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


_NO_NUL = AfterValidator(_no_nul)

# Validation context of rows read from text (CSV), where every number arrives as a string.
FROM_TEXT = {"from_text": True}


def _number_input(value: Any, info: ValidationInfo) -> Any:
    # JSON has numbers: true or "12" for an area is a client bug, not a value to coerce. CSV cells are all text.
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    if isinstance(value, str) and not (info.context or {}).get("from_text"):
        raise ValueError("must be a JSON number, not a string")
    return value


STRICT_NUMBER = BeforeValidator(_number_input)
Number = Annotated[float, STRICT_NUMBER]
WholeNumber = Annotated[int, STRICT_NUMBER]
# Bounds on a strict number go before the validator, `Annotated[float, Field(ge=0), STRICT_NUMBER]`: put on top of
# `Number` inside a union or a list, pydantic writes them into the JSON Schema under its own names (ge, le), which
# no client reads.
# Trimmed, non-empty single text values.
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300), _NO_NUL]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), _NO_NUL]


class Heating(StrEnum):
    district_heating = "district_heating"
    natural_gas = "natural_gas"
    oil = "oil"
    heat_pump = "heat_pump"
    electric = "electric"
    other = "other"


class Carrier(StrEnum):
    electricity = "electricity"
    district_heating = "district_heating"
    natural_gas = "natural_gas"
    oil = "oil"
    water = "water"
    pv_production = "pv_production"
    ev_charging = "ev_charging"
    heat_pump = "heat_pump"


# The carriers whose kWh are energy used (what totals and targets add up): water is m3, never energy, and own PV
# production is shown beside consumption, never subtracted from it or added to it (docs/semantics.md).
USED_ENERGY_CARRIERS: tuple[Carrier, ...] = tuple(c for c in Carrier if c not in (Carrier.water,
                                                                                   Carrier.pv_production))


class MeterMode(StrEnum):
    register = "register"
    interval = "interval"


class Technology(StrEnum):
    led = "led"
    fluorescent = "fluorescent"
    halogen = "halogen"
    incandescent = "incandescent"
    hid = "hid"
    other = "other"


class EnergyLabel(StrEnum):
    """The Danish energy label scale in force since 2010 (energimærke)."""

    A2020 = "A2020"
    A2015 = "A2015"
    A2010 = "A2010"
    B = "B"
    C = "C"
    D = "D"
    E = "E"
    F = "F"
    G = "G"


class Weekday(StrEnum):
    mon = "mon"
    tue = "tue"
    wed = "wed"
    thu = "thu"
    fri = "fri"
    sat = "sat"
    sun = "sun"


VOLUME_UNITS = frozenset({Unit.M3, Unit.L})

# Default kWh per volume unit of fuel meters, used when a meter is registered without its own factor.
DEFAULT_KWH_PER_UNIT_SOURCE = (
    "shared/reference energy-facts: Danish natural gas ≈ 11 kWh per Nm³, fuel oil ≈ 10 kWh per litre"
)
DEFAULT_KWH_PER_UNIT: dict[tuple[Carrier, Unit], float] = {
    (Carrier.natural_gas, Unit.M3): 11.0,
    (Carrier.oil, Unit.L): 10.0,
}


def effective_kwh_per_unit(carrier: Carrier, unit: Unit, registered: float | None) -> tuple[float | None, str | None]:
    """The factor that turns the meter's unit into kWh, and where it comes from; (None, None) for water."""
    if carrier == Carrier.water:
        return None, None
    if is_energy(unit):
        return to_kwh(1.0, unit), "exact unit conversion"
    if registered is not None:
        return registered, "registered for this meter"
    default = DEFAULT_KWH_PER_UNIT.get((carrier, unit))
    if default is not None:
        return default, f"default: {DEFAULT_KWH_PER_UNIT_SOURCE}"
    return None, None


_TIME = r"(?:[01]\d|2[0-3]):[0-5]\d"
_RANGE_RE = re.compile(rf"^({_TIME})-({_TIME}|24:00)$")


def _check_time_range(value: str) -> str:
    m = _RANGE_RE.match(value)
    if m is None:
        raise ValueError(f"{value!r} is not a time range HH:MM-HH:MM (e.g. 07:00-16:30)")
    if m.group(1) >= m.group(2):
        raise ValueError(f"{value!r} ends before it starts")
    return value


TimeRange = Annotated[str, AfterValidator(_check_time_range)]
OpeningHours = dict[Weekday, list[TimeRange]]


def local_zone() -> ZoneInfo:
    """The zone of local dates and of instants shown to people (settings `timezone`, Europe/Copenhagen)."""
    return ZoneInfo(get_settings().timezone)


def _instant_input(value: Any, info: ValidationInfo) -> Any:
    # The same forms as /consumption's start and end: RFC 3339 with an offset, or a local date meaning local midnight.
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("has no UTC offset")
        return value
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 timestamp with an offset (2024-07-01T00:00:00+02:00) or a local date "
                         "(2024-07-01)")
    try:
        return parse_instant(value, info.field_name or "value", local_zone())
    except ValidationFailed as e:
        raise ValueError(e.message) from None


def _to_local(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(local_zone())


# An instant given as RFC 3339 or a local date; stored in UTC, shown in local time with its ±HH:MM offset.
LocalInstant = Annotated[datetime, BeforeValidator(_instant_input)]
LocalOut = Annotated[datetime | None, AfterValidator(_to_local)]

# A meter's lifecycle fields: a PUT or CSV row that leaves them out keeps what is stored.
LIFECYCLE_FIELDS = ("active_from", "active_to", "replaced_by")

# Fields a client may send back from a GET when it PUTs an entity; they are not input and are dropped.
_READ_ONLY = frozenset(
    {"created_at", "updated_at", "effective_kwh_per_unit", "kwh_per_unit_source", "replayed_quarantined"}
)


VALID_FROM_DOC = (
    "when the facts this request changes took (or take) effect: a local date (2020-03-01 = local midnight) or an "
    "RFC 3339 instant with offset; default now. History-kept facts (heated area, heating, building group, meter "
    "parent, luminaire technology and rated W) are recorded as of this date; a future date does not change the "
    "current value until it comes (docs/registry.md)"
)


# Descriptions shared by the PUT bodies and the answers (the same field in and out).
D_BUILDING_NAME = "the building's name, e.g. Rådhuset"
D_BUILDING_TYPE = "building type, e.g. school, daycare, town_hall, sports_hall, nursing_home"
D_HEATED_AREA = "heated floor area in m²"
D_HEATING = ("the building's heating source: district_heating, natural_gas, oil, heat_pump, electric or other "
             "(history kept: GET /buildings/{id}/history)")
D_ADDRESS = "street address; null: not given"
D_BBR = "the building's number in BBR (the Danish building register); null: not given"
D_LABEL = "the Danish energy label class held (energimærke, A2020 .. G); null: none registered"
D_OPENING = 'weekday (mon..sun) -> list of "HH:MM-HH:MM" local-time ranges; a missing or empty day is closed'
D_HOT_WATER = ("weather-independent share a of the building's heat use, 0-1; null: not set (estimated by regression "
               "on degree days, else the default)")
D_GROUP = "the group targets address: municipal (T1) by default; e.g. citizens_businesses (T5)"
D_BUILDING_ID = "the building's id"
D_METER_ID = "the meter's id"
D_CARRIER = ("energy carrier: electricity, district_heating, natural_gas, oil, water (m3, never energy), "
             "pv_production (own production), ev_charging or heat_pump")
D_UNIT = "the unit the meter reports values in: Wh, kWh, MWh, MJ, GJ, m3 or l"
D_MODE = ("register: a cumulative counter, consumption is the difference of readings; interval: each reading is the "
          "quantity used in the interval ending at its ts")
D_INTERVAL = ("minutes: an interval meter's interval; a register meter's expected time between readings (null: 60)")
D_EXTERNAL = "the meter's own id, e.g. the wM-Bus id that wmbusmeters reports or a GSRN; null: none"
D_PARENT = "the meter this sub-meter splits (same building); null: a main meter that counts in totals"
D_MAX_POWER = ("physical maximum in kW: a register step whose average power exceeds it is a spike, excluded; null: "
               "no such bound")
D_TECHNOLOGY = "lamp technology: led, fluorescent, halogen, incandescent, hid or other"
D_RATED_W = "rated (installed) power in W"
D_ZONE = "where in the building the luminaire hangs (free text, e.g. a room); null: not given"
D_CREATED = "when the entity was first registered (local time)"
D_UPDATED = "when the stored entity was last written (local time)"


class _PutBody(BaseModel):
    # Unknown fields are an error, so a misspelt optional field is not silently lost.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: EntityId | None = Field(default=None, description="optional; must equal the id in the path when given")
    valid_from: LocalInstant | None = Field(default=None, description=VALID_FROM_DOC,
                                         examples=["2020-03-01", "2021-06-01T00:00:00+02:00"])

    @model_validator(mode="before")
    @classmethod
    def _drop_read_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in _READ_ONLY}
        return data


class BuildingIn(_PutBody):
    name: Text = Field(description=D_BUILDING_NAME)
    type: ShortText = Field(description=D_BUILDING_TYPE)
    heated_area_m2: Number = Field(ge=0, le=10_000_000, description="heated floor area in m² (at most 10 km²)")
    heating: Heating = Field(description=D_HEATING)
    address: Text | None = Field(default=None, description=D_ADDRESS)
    bbr_building_no: ShortText | None = Field(default=None, description=D_BBR)
    energy_label: EnergyLabel | None = Field(default=None, description=D_LABEL)
    opening_hours: OpeningHours | None = Field(
        default=None,
        description=D_OPENING,
        examples=[{"mon": ["07:00-16:00"], "tue": ["07:00-16:00"], "sat": []}],
    )
    hot_water_share: Annotated[float, Field(ge=0, le=1), STRICT_NUMBER] | None = Field(
        default=None, description=D_HOT_WATER
    )
    building_group: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,40}$")] = Field(
        default="municipal",
        description=D_GROUP,
    )


MAX_INTERVAL_MINUTES = 366 * 24 * 60  # a yearly read; quarterly billing reads fit


class MeterIn(_PutBody):
    building_id: EntityId
    carrier: Carrier = Field(description=D_CARRIER)
    unit: Unit = Field(description=D_UNIT)
    mode: MeterMode = Field(description=D_MODE)
    # validate_default: the rules below must also run when the field is left out.
    interval_minutes: Annotated[int, Field(gt=0, le=MAX_INTERVAL_MINUTES), STRICT_NUMBER] | None = Field(
        default=None,
        validate_default=True,
        description="interval meters: length of the interval each reading covers (required); register meters: the "
        "expected time between readings (default 60), e.g. 1440 for daily reads, 131760 (91.5 days) for quarterly "
        "billing reads: a step longer than 1.5 x this is a gap, estimated where it crosses a period's edge; at "
        "most 366 days",
    )
    external_id: ShortText | None = Field(
        default=None, description="the meter's own id, e.g. the wM-Bus id that wmbusmeters reports"
    )
    kwh_per_unit: Annotated[float, Field(gt=0, le=1000), STRICT_NUMBER] | None = Field(
        default=None,
        validate_default=True,
        description=(
            "kWh per m3 or l for fuel meters; defaults: natural gas 11.0 kWh/m3, oil 10.0 kWh/l "
            f"({DEFAULT_KWH_PER_UNIT_SOURCE})"
        ),
    )
    parent_meter_id: EntityId | None = Field(
        default=None, description="the meter this sub-meter splits; same building; sub-meters never add to totals"
    )
    max_power_kw: Annotated[float, Field(gt=0, le=10_000_000), STRICT_NUMBER] | None = Field(
        default=None,
        description="physical maximum (kW): a register step whose average power exceeds it is a spike, flagged and "
        "excluded from consumption",
    )
    active_from: LocalInstant | None = Field(
        default=None,
        description="when the meter was installed (RFC 3339 with offset, or a local date = local midnight); null: "
        "since always. Left out of a PUT: the stored value is kept",
    )
    active_to: LocalInstant | None = Field(
        default=None,
        description="when the meter was removed, exclusive; null: still installed. Left out of a PUT: kept. With "
        "replaced_by and no active_to, the replacement's active_from is taken",
    )
    replaced_by: EntityId | None = Field(
        default=None,
        description="the meter that took over from this one (same building; same carrier, or heat supply replaced by "
        "heat supply). Left out of a PUT: kept",
    )

    @field_validator("active_to")
    @classmethod
    def _span_not_empty(cls, to: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("active_from")
        if to is not None and start is not None and to <= start:
            raise ValueError(
                f"must be after active_from ({start.astimezone(local_zone()).isoformat()}); the span is "
                "[active_from, active_to)")
        return to

    def lifecycle_given(self) -> frozenset[str]:
        """The lifecycle fields this body sets (explicit null included); the others keep what is stored."""
        return frozenset(self.model_fields_set & set(LIFECYCLE_FIELDS))

    @field_validator("unit")
    @classmethod
    def _water_in_volume(cls, unit: Unit, info: ValidationInfo) -> Unit:
        if info.data.get("carrier") == Carrier.water and unit not in VOLUME_UNITS:
            raise ValueError("a water meter counts m3 or l")
        return unit

    @field_validator("interval_minutes")
    @classmethod
    def _interval_matches_mode(cls, minutes: int | None, info: ValidationInfo) -> int | None:
        mode = info.data.get("mode")
        if mode == MeterMode.interval and minutes is None:
            raise ValueError("required when mode is 'interval'")
        return minutes

    @field_validator("kwh_per_unit")
    @classmethod
    def _factor_where_needed(cls, factor: float | None, info: ValidationInfo) -> float | None:
        carrier, unit = info.data.get("carrier"), info.data.get("unit")
        if carrier is None or unit is None:
            return factor  # already reported on those fields
        if carrier == Carrier.water:
            if factor is not None:
                raise ValueError("water never enters energy totals; leave kwh_per_unit out")
            return factor
        if is_energy(unit):
            if factor is not None:
                raise ValueError(f"only for m3 and l meters; {unit.value} converts to kWh exactly")
            return factor
        if factor is None and (carrier, unit) not in DEFAULT_KWH_PER_UNIT:
            raise ValueError(f"required: there is no default factor for {carrier.value} in {unit.value}")
        return factor


class LuminaireIn(_PutBody):
    building_id: EntityId
    technology: Technology = Field(description=D_TECHNOLOGY)
    rated_power_w: Number = Field(ge=0, le=1_000_000, description="rated (installed) power in W (at most 1 MW)")
    zone: Text | None = Field(default=None, description=D_ZONE)


class BuildingOut(BaseModel):
    id: str = Field(description=D_BUILDING_ID)
    name: str = Field(description=D_BUILDING_NAME)
    type: str = Field(description=D_BUILDING_TYPE)
    heated_area_m2: float = Field(description=f"{D_HEATED_AREA}, the value in force now (dated values: GET "
                                              "/buildings/{id}/history)")
    heating: Heating = Field(description=D_HEATING)
    address: str | None = Field(description=D_ADDRESS)
    bbr_building_no: str | None = Field(description=D_BBR)
    energy_label: str | None = Field(description=D_LABEL)
    opening_hours: dict[str, list[str]] | None = Field(description=f"{D_OPENING}; null: not given")
    hot_water_share: float | None = Field(description=D_HOT_WATER)
    building_group: str = Field(description=D_GROUP)
    created_at: datetime = Field(description=D_CREATED)
    updated_at: datetime = Field(description=D_UPDATED)



class BuildingListItem(BuildingOut):
    open_alerts: int = Field(description="alerts open or acknowledged (GET /api/v1/alerts?building_id=)")

class AreaHistoryEntry(BaseModel):
    valid_from: datetime | None = Field(description="null: since always (the area the building was registered with)")
    heated_area_m2: float = Field(description=f"{D_HEATED_AREA} from valid_from on")
    reason: str | None = Field(description="why the area changed; null: none given")


class MeterOut(BaseModel):
    id: str = Field(description=D_METER_ID)
    building_id: str = Field(description="the building the meter is registered in")
    carrier: Carrier = Field(description=D_CARRIER)
    unit: Unit = Field(description=D_UNIT)
    mode: MeterMode = Field(description=D_MODE)
    interval_minutes: int | None = Field(description=D_INTERVAL)
    external_id: str | None = Field(description=D_EXTERNAL)
    kwh_per_unit: float | None = Field(description="the factor registered for this meter, or null")
    parent_meter_id: str | None = Field(description=D_PARENT)
    max_power_kw: float | None = Field(default=None, description=D_MAX_POWER)
    active_from: LocalOut = Field(default=None, description="installed at (local time); null: since always")
    active_to: LocalOut = Field(default=None, description="removed at, exclusive (local time); null: still installed")
    replaced_by: str | None = Field(default=None, description="the meter that took over from this one")
    created_at: datetime = Field(description=D_CREATED)
    updated_at: datetime = Field(description=D_UPDATED)

    @computed_field(description="kWh per unit used in energy totals (null for water)")  # type: ignore[prop-decorator]
    @property
    def effective_kwh_per_unit(self) -> float | None:
        return effective_kwh_per_unit(self.carrier, self.unit, self.kwh_per_unit)[0]

    @computed_field(description="where the effective factor comes from")  # type: ignore[prop-decorator]
    @property
    def kwh_per_unit_source(self) -> str | None:
        return effective_kwh_per_unit(self.carrier, self.unit, self.kwh_per_unit)[1]


class LuminaireOut(BaseModel):
    id: str = Field(description="the luminaire's id")
    building_id: str = Field(description="the building the luminaire is registered in")
    technology: Technology = Field(description=D_TECHNOLOGY)
    rated_power_w: float = Field(description=D_RATED_W)
    zone: str | None = Field(description=D_ZONE)
    created_at: datetime = Field(description=D_CREATED)
    updated_at: datetime = Field(description=D_UPDATED)


class MeterPutOut(MeterOut):
    replayed_quarantined: int | None = Field(
        default=None, description="quarantined messages for this meter stored now that it is registered"
    )


class LuminairePutOut(LuminaireOut):
    replayed_quarantined: int | None = Field(
        default=None, description="quarantined messages for this luminaire stored now that it is registered"
    )


# -- dated history (GET /buildings/{id}/history, /meters/{id}/history, /luminaires/{id}/history) --------------------

class HistoryRow(BaseModel):
    valid_from: datetime | None = Field(description="from when the value holds (local time); null: since always, "
                                                    "the value the registry first learnt")
    recorded_at: datetime = Field(description="when the row was recorded")
    recorded_by: str | None = Field(description="who recorded it: a token's name, `cli:<user>` or a migration")


class AreaRow(HistoryRow):
    heated_area_m2: float = Field(description=D_HEATED_AREA)
    reason: str | None = Field(default=None, description="why the area changed (a reason given with the change)")


class HeatingRow(HistoryRow):
    heating: Heating = Field(description="the heating source from valid_from on")


class GroupRow(HistoryRow):
    building_group: str = Field(description="the group targets address (municipal, citizens_businesses, ...)")


class ParentRow(HistoryRow):
    parent_meter_id: str | None = Field(description="the meter it is a sub-meter of; null: a main meter that "
                                                    "counts in totals")


class LuminaireSpecRow(HistoryRow):
    technology: Technology = Field(description=D_TECHNOLOGY)
    rated_power_w: float = Field(description=D_RATED_W)


class AdjustmentOut(BaseModel):
    id: int = Field(description="the adjustment's id")
    building_id: str = Field(description=D_BUILDING_ID)
    kind: str = Field(description="added, sold, area_changed or other")
    effective: date = Field(description="the local date the change takes effect")
    heated_area_m2: float | None = Field(description="the area from that date on (area_changed only)")
    reason: str = Field(description="why; shown in progress reports")
    actor: str = Field(description="who declared it")
    created_at: datetime = Field(description="when it was recorded (local time)")


class BuildingHistoryOut(BaseModel):
    building_id: str = Field(description=D_BUILDING_ID)
    heated_area_m2: list[AreaRow] = Field(description="heated areas, oldest first")
    heating: list[HeatingRow] = Field(description="heating sources, oldest first")
    building_group: list[GroupRow] = Field(description="building groups (which target counts it), oldest first")
    adjustments: list[AdjustmentOut] = Field(description="non-routine adjustments: added, sold, area changed")


class MeterHistoryOut(BaseModel):
    meter_id: str = Field(description=D_METER_ID)
    parent_meter_id: list[ParentRow] = Field(description="the meter's parent over time, oldest first")


class LuminaireHistoryOut(BaseModel):
    luminaire_id: str = Field(description="the luminaire's id")
    technology: list[LuminaireSpecRow] = Field(description="technology and rated W over time, oldest first")
