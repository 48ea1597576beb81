"""What the consumption answers say: a series of whole local periods with its quality figures, counter decisions,
and a declared meter exchange."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

QUALITY_COVERAGE = ("the window's measured share (0-1) over its periods already over (end at or before now; the one "
                    "in progress cannot be complete yet), each weighing by its length (a 31-day month more than a "
                    "28-day one); 0 when no period is over yet")
QUALITY_ESTIMATED = ("the share of the window's amount interpolated or estimated (0-1), over the same periods: "
                     "each period's estimated_share weighted by its amount")
QUALITY_COMPLETE = "coverage is at least 0.995: below it the data of the window are partial"


class PointOut(BaseModel):
    start: datetime = Field(description="the local period's start (local time)")
    end: datetime = Field(description="the local period's end, exclusive (local time)")
    # exactly one of kwh and m3 is present in each period, by the answer's unit; present, it is null while pending
    kwh: float | None = Field(default=None, description="energy in kWh (unit kWh; absent for water): null while the "
                                                        "period is pending, never a 0 for readings not yet computed")
    m3: float | None = Field(default=None, description="water in m3 (unit m3; absent for energy): null while pending")
    coverage: float = Field(description="measured share of the meters' active time in the period (0-1): a step "
                                        "between readings lying inside the period is measured however long; a gap "
                                        "crossing its edge is estimated; a meter outside its active span counts "
                                        "neither way (docs/semantics.md); while pending, of what is computed so far")
    estimated_share: float = Field(description="share of the amount interpolated over gaps or estimated (0-1)")
    pending: bool = Field(default=False, description="readings are stored for this period that the rollups do not "
                                                     "count yet (the rollup process is behind): the amount is null "
                                                     "until they are computed")


class ConsumptionOut(BaseModel):
    unit: Literal["kWh", "m3"] = Field(description="kWh for energy, m3 for water: the series' amount field")
    resolution: str = Field(description="hour, day, week, month or year: whole local periods")
    timezone: str = Field(description="the IANA time zone of the periods (ENERGIBLIK_TIMEZONE)")
    requested_start: datetime = Field(
        description="the start the caller asked for, in local time (without `start`: `end` minus the resolution's "
                    "default span)")
    requested_end: datetime = Field(
        description="the end (exclusive) the caller asked for, in local time (without `end`: now)")
    start: datetime = Field(
        description="the start of the first whole local period answered: at or before requested_start")
    end: datetime = Field(
        description="the end (exclusive) of the last whole local period answered: at or after requested_end")
    widened: bool = Field(
        description="true when the whole periods reach beyond the requested window (start/end differ from "
                    "requested_start/requested_end); the first and last periods then hold consumption outside it")
    computed_through: datetime | None = Field(
        default=None, description="null: every figure is current. Otherwise the instant up to which the rollups "
                                  "this answer reads are current; later periods may be pending")
    coverage: float = Field(description=QUALITY_COVERAGE)
    estimated_share: float = Field(description=QUALITY_ESTIMATED)
    complete: bool = Field(description=QUALITY_COMPLETE)
    series: list[PointOut] = Field(description="one per whole local period from start to end, oldest first")


class DecisionOut(BaseModel):
    """A counter decision the consumption engine took on a meter's readings."""

    ts: datetime = Field(description="the reading the decision is about")
    kind: str = Field(description="glitch (a small decrease, or one reading below both its agreeing neighbours: "
                                  "ignored), reset (the register restarted), exchange (a declared meter exchange "
                                  "starts a new series) or spike (a step above the meter's max_power_kw, or one "
                                  "reading above both its agreeing neighbours)")
    value: float = Field(description="the register value read, in the meter's unit")
    reference: float = Field(description="the register value it was judged against (the reading before), in the "
                                         "meter's unit")
    detail: str = Field(description="the decision in words")


class ExchangeIn(BaseModel):
    model_config = {"extra": "forbid"}

    ts: AwareDatetime = Field(description="when the old meter was replaced (RFC 3339 with offset)")
    old_final: float | None = Field(default=None, ge=0, description="the old meter's last register value")
    new_initial: float | None = Field(default=None, ge=0, description="the new meter's first register value")
    note: str | None = Field(default=None, max_length=500, description="free text kept with the exchange; null: "
                                                                       "none")


class ExchangeOut(BaseModel):
    """The exchange as declared."""

    meter_id: str = Field(description="the meter's id")
    ts: datetime = Field(description="when the old meter was replaced")
    old_final: float | None = Field(description="the old meter's last register value")
    new_initial: float | None = Field(description="the new meter's first register value")
    note: str | None = Field(description="the note given; null: none")
