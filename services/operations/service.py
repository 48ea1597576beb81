"""Operator views of rejected and parked ingest messages. Callers check the role (admin, energy team) first."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from sqlalchemy import Connection

from services.operations import repository
from services.operations.schemas import DeadLetter, QuarantinedMessage


def _as_text(payload: bytes) -> str | None:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return None


def dead_letters(conn: Connection, since: datetime | None, limit: int) -> list[DeadLetter]:
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


def pending_quarantine(conn: Connection, limit: int) -> list[QuarantinedMessage]:
    """Quarantined messages not yet replayed, oldest first."""
    return [
        QuarantinedMessage.model_validate({**r, "received_at": r["received_at"].astimezone(UTC)})
        for r in repository.pending_quarantine(conn, limit)
    ]
