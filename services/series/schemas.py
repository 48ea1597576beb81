"""Shapes of stored series as the API returns them. Timestamps are instants (the API gives them in local time)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from services.readings.units import Unit

DEFAULT_LIMIT = 10_000
MAX_LIMIT = 100_000


class Reading(BaseModel):
    ts: datetime
    value: float = Field(description="in the meter's registered unit")
    unit: Unit
    quality: str
    source: str
    revised: bool = Field(description="the stored value replaced an earlier one (see /revisions)")


class Window(BaseModel):
    start: datetime = Field(description="inclusive")
    end: datetime = Field(description="exclusive")


class ReadingsPage(Window):
    meter_id: str
    unit: Unit
    limit: int
    truncated: bool = Field(description="more rows lie in the window; ask again from next_start")
    next_start: datetime | None
    readings: list[Reading]


class Revision(BaseModel):
    id: int
    ts: datetime
    old_value: float
    new_value: float
    old_quality: str
    new_quality: str
    source: str
    revised_at: datetime


class RevisionsPage(BaseModel):
    meter_id: str
    unit: Unit
    limit: int
    truncated: bool
    revisions: list[Revision]


class TelemetryPoint(BaseModel):
    ts: datetime
    power_w: float | None
    energy_wh: float | None
    dim_pct: float | None
    on: bool | None
    burn_hours: float | None
    failure: bool | None


class TelemetryPage(Window):
    luminaire_id: str
    limit: int
    truncated: bool
    next_start: datetime | None
    telemetry: list[TelemetryPoint]
