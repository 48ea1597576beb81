"""Dead letters and quarantined messages as operators see them."""

from __future__ import annotations

from datetime import datetime

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


class QuarantinedMessage(BaseModel):
    id: int
    topic: str
    kind: str
    building_id: str
    device_id: str
    received_at: datetime
