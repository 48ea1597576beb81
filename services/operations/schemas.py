"""Dead letters, quarantined messages and the ingest share group's members as operators see them; the API's health."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field


class DeadLetter(BaseModel):
    id: int = Field(description="the dead letter's id")
    topic: str = Field(description="the MQTT topic it came on (imports and syncs use the same wire contract topics)")
    reason: str = Field(description="why it was rejected, e.g. `topic: ...`, `payload: ...`, `internal error: ...`")
    received_at: datetime = Field(description="when the ingest received it (local time)")
    payload: str | None = Field(description="the raw payload as UTF-8 text; null when it is not valid UTF-8")
    payload_base64: str = Field(description="the raw payload bytes, base64")
    building_id: str | None = Field(description="the building the topic names; null: not known (e.g. a topic that "
                                                "is not wire contract v1's)")
    device_id: str | None = Field(description="the meter or luminaire id the topic names; null: not known")


class ProcessingError(BaseModel):
    """An item a maintenance loop failed on and skipped (the loop went on with the others)."""

    id: int = Field(description="the error's id")
    occurred_at: datetime = Field(description="when the item failed (local time)")
    process: str = Field(description="rollups, alerts, rollups rebuild, …")
    item: str = Field(description="what failed, e.g. the meter key and reading range, or the rule and building")
    error: str = Field(description="exception type and message; the traceback is in that process's log")


class QuarantinedMessage(BaseModel):
    id: int = Field(description="the quarantined message's id")
    topic: str = Field(description="the MQTT topic it came on")
    kind: str = Field(description="meter, luminaire or wmbus: what the topic addresses")
    building_id: str = Field(description="the building the topic names")
    device_id: str = Field(description="the unregistered meter or luminaire id (wmbus: the telegram's meter id); "
                                       "replayed when it is registered")
    received_at: datetime = Field(description="when the ingest received it (local time)")


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
    client_id: str = Field(description="the worker's MQTT client id")
    share_group: str = Field(description="the MQTT shared subscription group ($share/<group>/...) it reads in")
    state: MemberState = Field(description="connected; not_connected (beats, broker away); stranded (no heartbeat, "
                                           "session alive: its share waits in the broker); expired (session "
                                           "dropped); retired")
    host: str = Field(description="the host name the worker runs on")
    pid: int | None = Field(description="its process id on that host; null: not recorded")
    started_at: datetime = Field(description="when the worker (last) joined (local time)")
    last_seen_at: datetime = Field(description="its last heartbeat (local time)")
    seconds_since_seen: float = Field(description="seconds since the last heartbeat, rounded to 0.1")
    session_expiry_s: int = Field(description="the MQTT session expiry interval it connects with, in seconds")
    session_expires_at: datetime = Field(description="about when the broker drops the session if it never returns")
    stopped_at: datetime | None = Field(description="set when the worker stopped gracefully (not retired)")
    retired_at: datetime | None = Field(description="when its session was ended for good (local time); null: not "
                                                    "retired")
    retired_by: str | None = Field(description="what retired it, e.g. `energiblik ingest reclaim` or "
                                               "`retire_on_stop`; null: not retired")
    drained_messages: int | None = Field(description="messages the broker still held, stored while retiring")


class BrokerStats(BaseModel):
    """What Mosquitto's $SYS topics said, as last seen by a running worker. Totals for the whole broker: Mosquitto
    2.0 publishes no per-session queue length."""

    observed_at: datetime = Field(description="when the worker last stored them (local time)")
    observed_by: str = Field(description="the client id of the worker that read them")
    values: dict[str, float] = Field(description="$SYS topic -> its last value, e.g. $SYS/broker/store/messages/count "
                                                 "(messages the broker holds)")


class IngestOverview(BaseModel):
    stale_after_s: float = Field(description="seconds without a heartbeat after which a member counts as gone "
                                             "(stranded or expired)")
    members: list[IngestMember] = Field(description="every ingest worker that ever joined")
    stranded: list[str] = Field(description="client ids whose share of the readings waits in the broker: reclaim "
                                            "each with `energiblik ingest reclaim CLIENT_ID`")
    broker: BrokerStats | None = Field(description="the freshest broker statistics a worker reported; null: none "
                                                   "reported")


class RollupBacklog(BaseModel):
    pending_ranges: int = Field(description="reading ranges whose rollups are not recomputed yet")
    failed_ranges: int = Field(description="of them, ranges waiting for a retry after a failed attempt")
    lag_s: float = Field(description="age in seconds of the oldest pending range (0: none); a lag does not make "
                                     "the API unhealthy")


class Health(BaseModel):
    """The API answers and its database does."""

    status: Literal["ok"] = Field(description="ok: the API and its database answer")
    rollups: RollupBacklog = Field(description="the rollup process's backlog")


class HealthUnavailable(BaseModel):
    """The database does not answer (HTTP 503)."""

    status: Literal["unavailable"] = Field(description="unavailable: the database does not answer")
    detail: str = Field(description="what failed")
