"""Dead letters, quarantined messages and the ingest share group's members as operators see them; the API's health."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field


class DeadLetter(BaseModel):
    id: int
    topic: str
    reason: str
    received_at: datetime
    payload: str | None = Field(description="the raw payload as UTF-8 text; null when it is not valid UTF-8")
    payload_base64: str = Field(description="the raw payload bytes, base64")
    building_id: str | None
    device_id: str | None


class ProcessingError(BaseModel):
    """An item a maintenance loop failed on and skipped (the loop went on with the others)."""

    id: int
    occurred_at: datetime
    process: str = Field(description="rollups, alerts, rollups rebuild, …")
    item: str = Field(description="what failed, e.g. the meter key and reading range, or the rule and building")
    error: str = Field(description="exception type and message; the traceback is in that process's log")


class QuarantinedMessage(BaseModel):
    id: int
    topic: str
    kind: str
    building_id: str
    device_id: str
    received_at: datetime


class MemberState(StrEnum):
    connected = "connected"
    # the process beats but is not connected to the broker (it reconnects by itself)
    not_connected = "not_connected"
    # no heartbeat, session alive: the broker still routes this member's share of the readings to it and keeps them
    stranded = "stranded"
    # no heartbeat for longer than the session expiry: the broker has discarded the session and what it held
    expired = "expired"
    retired = "retired"


class IngestMember(BaseModel):
    client_id: str
    share_group: str
    state: MemberState
    host: str
    pid: int | None
    started_at: datetime
    last_seen_at: datetime
    seconds_since_seen: float
    session_expiry_s: int
    session_expires_at: datetime = Field(description="about when the broker drops the session if it never returns")
    stopped_at: datetime | None = Field(description="set when the worker stopped gracefully (not retired)")
    retired_at: datetime | None
    retired_by: str | None
    drained_messages: int | None = Field(description="messages the broker still held, stored while retiring")


class BrokerStats(BaseModel):
    """What Mosquitto's $SYS topics said, as last seen by a running worker. Totals for the whole broker: Mosquitto
    2.0 publishes no per-session queue length."""

    observed_at: datetime
    observed_by: str
    values: dict[str, float]


class IngestOverview(BaseModel):
    stale_after_s: float
    members: list[IngestMember]
    stranded: list[str] = Field(description="client ids whose share of the readings waits in the broker: reclaim "
                                            "each with `energiblik ingest reclaim CLIENT_ID`")
    broker: BrokerStats | None


class RollupBacklog(BaseModel):
    pending_ranges: int = Field(description="reading ranges whose rollups are not recomputed yet")
    failed_ranges: int = Field(description="of them, ranges waiting for a retry after a failed attempt")
    lag_s: float = Field(description="age in seconds of the oldest pending range (0: none); a lag does not make "
                                     "the API unhealthy")


class Health(BaseModel):
    """The API answers and its database does."""

    status: Literal["ok"]
    rollups: RollupBacklog


class HealthUnavailable(BaseModel):
    """The database does not answer (HTTP 503)."""

    status: Literal["unavailable"]
    detail: str
