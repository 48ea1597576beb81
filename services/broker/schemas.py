"""What the broker slice hands out: a building's broker credentials (derived, never stored)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BrokerIdentity:
    """The MQTT user and password a building's gateway publishes with: `building-<id>`, and an HMAC of the id under
    the installation's broker secret."""

    username: str
    password: str
