"""Operator views of rejected and parked ingest messages and of the ingest share group. Callers check the role (admin,
energy team) first."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from services.db import PgConn
from services.operations import repository
from services.operations.schemas import (
    BrokerStats,
    DeadLetter,
    IngestMember,
    IngestOverview,
    MemberState,
    ProcessingError,
    QuarantinedMessage,
)


def _as_text(payload: bytes) -> str | None:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return None


def dead_letters(conn: PgConn, since: datetime | None, limit: int) -> list[DeadLetter]:
    """Rejected payloads, newest first, with the raw bytes as text (when UTF-8) and as base64."""
    out = []
    for r in repository.dead_letters(conn, since, limit):
        raw = bytes(r["payload"])
        out.append(
            DeadLetter(
                id=r["id"],
                topic=r["topic"],
                reason=r["reason"],
                received_at=r["received_at"].astimezone(UTC),
                payload=_as_text(raw),
                payload_base64=base64.b64encode(raw).decode("ascii"),
                building_id=r["building_id"],
                device_id=r["device_id"],
            )
        )
    return out


def processing_errors(conn: PgConn, since: datetime | None, process: str | None, limit: int
                      ) -> list[ProcessingError]:
    """Items the maintenance loops failed on and skipped, newest first."""
    return [ProcessingError.model_validate({**r, "occurred_at": r["occurred_at"].astimezone(UTC)})
            for r in repository.processing_errors(conn, since, process, limit)]


def pending_quarantine(conn: PgConn, limit: int) -> list[QuarantinedMessage]:
    """Quarantined messages not yet replayed, oldest first."""
    return [
        QuarantinedMessage.model_validate({**r, "received_at": r["received_at"].astimezone(UTC)})
        for r in repository.pending_quarantine(conn, limit)
    ]


def member_state(row: dict[str, Any], stale_after_s: float) -> MemberState:
    """Where a member stands; its session outlives the process by `session_expiry_s` after the last heartbeat."""
    if row["retired_at"] is not None:
        return MemberState.retired
    if row["seconds_since_seen"] <= stale_after_s:
        return MemberState.connected if row["mqtt_connected"] else MemberState.not_connected
    if row["session_expires_at"] <= row["db_now"]:
        return MemberState.expired
    return MemberState.stranded


def ingest_members(conn: PgConn, stale_after_s: float, share_group: str | None = None) -> list[IngestMember]:
    """Every ingest worker that ever joined (one share group when given), with its state."""
    return [_member(r, stale_after_s) for r in repository.members(conn, share_group)]


def _member(r: dict[str, Any], stale_after_s: float) -> IngestMember:
    return IngestMember(
        client_id=r["client_id"],
        share_group=r["share_group"],
        state=member_state(r, stale_after_s),
        host=r["host"],
        pid=r["pid"],
        started_at=r["started_at"].astimezone(UTC),
        last_seen_at=r["last_seen_at"].astimezone(UTC),
        seconds_since_seen=round(max(0.0, r["seconds_since_seen"]), 1),
        session_expiry_s=r["session_expiry_s"],
        session_expires_at=r["session_expires_at"].astimezone(UTC),
        stopped_at=_utc(r["stopped_at"]),
        retired_at=_utc(r["retired_at"]),
        retired_by=r["retired_by"],
        drained_messages=r["drained_messages"],
    )


def ingest_overview(conn: PgConn, stale_after_s: float) -> IngestOverview:
    """Members, the stranded ones, and the freshest broker statistics any member reported."""
    rows = repository.members(conn, None)
    members = [_member(r, stale_after_s) for r in rows]
    fresh = [r for r in rows if r["broker_stats"] is not None and r["broker_stats_at"] is not None]
    broker = None
    if fresh:
        newest = max(fresh, key=lambda r: r["broker_stats_at"])
        broker = BrokerStats(observed_at=newest["broker_stats_at"].astimezone(UTC), observed_by=newest["client_id"],
                             values={k: float(v) for k, v in newest["broker_stats"].items()})
    return IngestOverview(
        stale_after_s=stale_after_s,
        members=members,
        stranded=[m.client_id for m in members if m.state is MemberState.stranded],
        broker=broker,
    )


def _utc(ts: datetime | None) -> datetime | None:
    return None if ts is None else ts.astimezone(UTC)
