"""Wire contract v1: the payloads meters, luminaires and gateways publish (shared/PRODUCT.md).

Validation is strict and done from the raw JSON bytes by pydantic-core: `ts` must be an RFC 3339 string with an
offset, numbers must be JSON numbers (a quoted "5" or a boolean is not a value), NaN and infinities are rejected.
Unknown fields are ignored.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal, NamedTuple

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class Quality(StrEnum):
    MEASURED = "measured"
    ESTIMATED = "estimated"
    REVISED = "revised"
    CALCULATED = "calculated"
    MISSING = "missing"


# A Literal, not the Quality enum: reading an enum member's .value per reading cost ~1 µs on the ingest hot path.
QualityName = Literal["measured", "estimated", "revised", "calculated", "missing"]


class ReadingIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    ts: AwareDatetime
    value: FiniteFloat
    unit: str | None = None
    quality: QualityName = "measured"


class TelemetryIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    ts: AwareDatetime
    power_w: Annotated[float, Field(allow_inf_nan=False, ge=0)] | None = None
    energy_wh: Annotated[float, Field(allow_inf_nan=False, ge=0)] | None = None
    dim_pct: Annotated[float, Field(allow_inf_nan=False, ge=0, le=100)] | None = None
    on: bool | None = None
    burn_hours: Annotated[float, Field(allow_inf_nan=False, ge=0)] | None = None
    failure: bool | None = None


class WmbusTelegram(BaseModel):
    """The part of a wmbusmeters JSON telegram we rely on; every other field is read from the raw object."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]  # printable ASCII, no NUL
    timestamp: AwareDatetime
    meter: str | None = None
    media: str | None = None


READING_ITEM = TypeAdapter(ReadingIn)
READING_LIST = TypeAdapter(list[ReadingIn])
TELEMETRY_ITEM = TypeAdapter(TelemetryIn)
TELEMETRY_LIST = TypeAdapter(list[TelemetryIn])
WMBUS = TypeAdapter(WmbusTelegram)


class RawMessage(NamedTuple):
    """One MQTT message as received; `ref` is the packet id to acknowledge once its rows are committed.

    A NamedTuple: built once per message on the ingest hot path, where a frozen dataclass cost twice as much.
    """

    topic: str
    payload: bytes
    received_at: datetime
    ref: int = 0
