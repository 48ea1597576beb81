"""Shapes of stored series as the API returns them. Timestamps are instants (the API gives them in local time)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from services.readings.units import Unit

DEFAULT_LIMIT = 10_000
MAX_LIMIT = 100_000


_LIMIT = f"the most rows answered (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})"
_NEXT = "the ts of the first row not answered: ask again with start = next_start; null: nothing more"


class Reading(BaseModel):
    ts: datetime = Field(description="the reading's instant (local time); an interval meter's reading covers the "
                                     "interval ending here")
    value: float = Field(description="in the meter's registered unit")
    unit: Unit = Field(description="the meter's registered unit (Wh, kWh, MWh, MJ, GJ, m3, l)")
    quality: str = Field(description="measured, estimated, revised, calculated or missing")
    source: str = Field(description="how it arrived: mqtt, wmbus, import, api, datahub or utility")
    revised: bool = Field(description="the stored value replaced an earlier one (see /revisions)")


class Window(BaseModel):
    start: datetime = Field(description="inclusive")
    end: datetime = Field(description="exclusive")


class ReadingsPage(Window):
    meter_id: str = Field(description="the meter's id")
    unit: Unit = Field(description="the meter's registered unit, the unit of every value")
    limit: int = Field(description=_LIMIT)
    truncated: bool = Field(description="more rows lie in the window; ask again from next_start")
    next_start: datetime | None = Field(description=_NEXT)
    readings: list[Reading] = Field(description="the stored readings in the window, oldest first")


class Revision(BaseModel):
    id: int = Field(description="the revision's id")
    ts: datetime = Field(description="the instant of the reading revised (local time)")
    old_value: float = Field(description="the value replaced, in the meter's unit")
    new_value: float = Field(description="the value stored instead, in the meter's unit")
    old_quality: str = Field(description="the quality of the value replaced")
    new_quality: str = Field(description="the quality of the value stored instead")
    source: str = Field(description="how the new value arrived: mqtt, wmbus, import, api, datahub or utility")
    revised_at: datetime = Field(description="when the value was replaced (local time)")


class RevisionsPage(BaseModel):
    meter_id: str = Field(description="the meter's id")
    unit: Unit = Field(description="the meter's registered unit, the unit of every value")
    limit: int = Field(description=_LIMIT)
    truncated: bool = Field(description="more revisions lie in the window than answered")
    revisions: list[Revision] = Field(description="by the reading's ts, then when revised")


class TelemetryPoint(BaseModel):
    ts: datetime = Field(description="the telemetry's instant (local time)")
    power_w: float | None = Field(description="power drawn, W; null: not reported")
    energy_wh: float | None = Field(description="the luminaire's energy register, Wh (cumulative); null: not reported")
    dim_pct: float | None = Field(description="dimming level, % of full light (100: not dimmed); null: not reported")
    on: bool | None = Field(description="the light is on; null: not reported")
    burn_hours: float | None = Field(description="the luminaire's burning-hours counter, hours (cumulative); null: "
                                                 "not reported")
    failure: bool | None = Field(description="the luminaire reports a failure; null: not reported")


class TelemetryPage(Window):
    luminaire_id: str = Field(description="the luminaire's id")
    limit: int = Field(description=_LIMIT)
    truncated: bool = Field(description="more rows lie in the window; ask again from next_start")
    next_start: datetime | None = Field(description=_NEXT)
    telemetry: list[TelemetryPoint] = Field(description="the stored telemetry in the window, oldest first")
