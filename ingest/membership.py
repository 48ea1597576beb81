"""The worker's membership of its MQTT share group, so that a member that dies and never returns is seen.

Mosquitto keeps routing a share of `$share/<group>/...` to a member whose process is gone for as long as its
persistent session lives (7 days by default). The broker does not tell other clients which sessions exist, so every
worker records itself in `ingest_members` (at start, every `members.heartbeat_s`, at a graceful stop) and reads the
other members of its group with the same query: a member with a stale heartbeat whose session has not expired is
*stranded*, reported in /health and /metrics until someone runs `energiblik ingest reclaim CLIENT_ID`.

What the broker itself can say comes from its $SYS topics, read by a small second MQTT client on its own thread
(a few messages every `sys_interval`, default 10 s): Mosquitto 2.0 publishes broker-wide totals only (messages in
its store, disconnected persistent sessions, dropped publishes), never a queue length per session.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from datetime import UTC
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from ingest.metrics import Metrics
from services.clock import Clock
from services.config import Settings
from services.db import PgConn
from services.operations import repository, service
from services.operations.schemas import IngestMember, MemberState

log = logging.getLogger("energiblik.ingest.membership")

# Mosquitto 2.0.11's $SYS topics that say something about sessions and what the broker holds for them.
SYS_TOPICS = (
    "$SYS/broker/store/messages/count",  # messages held (queued for sessions, in flight, retained), each once
    "$SYS/broker/store/messages/bytes",
    "$SYS/broker/clients/connected",
    "$SYS/broker/clients/disconnected",  # persistent sessions whose client is away
    "$SYS/broker/clients/expired",  # sessions dropped at their expiry, with what was queued for them
    "$SYS/broker/publish/messages/dropped",  # publishes discarded because a session's queue was full
)


class BrokerWatch:
    """Subscribes to the broker's $SYS totals with a clean, short-lived session of its own (`<client id>-sys`)."""

    def __init__(self, settings: Settings) -> None:
        m = settings.mqtt
        self.values: dict[str, float] = {}
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{m.client_id}-sys", protocol=mqtt.MQTTv5)
        if m.username:
            self.client.username_pw_set(m.username, m.password.get_secret_value() if m.password else None)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._host, self._port, self._keepalive = m.host, m.port, m.keepalive_s

    def start(self) -> None:
        # connect_async + loop_start: an unreachable broker never blocks or fails the worker; paho retries.
        self.client.connect_async(self._host, self._port, keepalive=self._keepalive, clean_start=True)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def snapshot(self) -> dict[str, float] | None:
        return dict(self.values) or None

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: ReasonCode,
                    properties: object) -> None:
        if not reason.is_failure:
            client.subscribe([(t, 0) for t in SYS_TOPICS])

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with contextlib.suppress(ValueError):
            self.values[msg.topic.removeprefix("$SYS/broker/")] = float(msg.payload)


class Membership:
    """This worker's row in ingest_members, and what it sees of the other members of its share group."""

    def __init__(self, settings: Settings, metrics: Metrics, clock: Clock, *, watch_broker: bool = True) -> None:
        self.s = settings
        self.metrics = metrics
        self.clock = clock
        self.members: list[IngestMember] = []
        self._joined = False
        self._next_beat = 0.0
        self._failing = False
        self.watch = BrokerWatch(settings) if watch_broker and settings.members.watch_broker else None

    def start(self) -> None:
        if self.watch is not None:
            self.watch.start()

    def stop(self) -> None:
        if self.watch is not None:
            self.watch.stop()

    def due(self) -> bool:
        return self.clock.monotonic() >= self._next_beat

    def beat(self, conn: PgConn, mqtt_connected: bool) -> None:
        """Write the heartbeat and read the group, inside the caller's transaction."""
        # Set before the database work: while the database is down we try again one interval later, not per step.
        self._next_beat = self.clock.monotonic() + self.s.members.heartbeat_s
        m = self.s.mqtt
        stats = self.watch.snapshot() if self.watch is not None else None
        if not self._joined or not repository.beat(conn, m.client_id, mqtt_connected, stats):
            repository.join_member(conn, m.client_id, m.share_group, host=socket.gethostname(), pid=os.getpid(),
                                   session_expiry_s=m.session_expiry_s)
            repository.beat(conn, m.client_id, mqtt_connected, stats)
            self._joined = True
        self.members = service.ingest_members(conn, self.s.members.stale_after_s, m.share_group)
        self._export(stats)

    def failed(self, exc: BaseException) -> None:
        """The heartbeat could not be written: logged once per outage, never fatal for the worker."""
        if not self._failing:
            log.warning("share-group heartbeat not written", extra={"error": str(exc).strip()[:200]})
        self._failing = True
        self._joined = False

    def succeeded(self) -> None:
        self._failing = False

    def leave(self, conn: PgConn, *, retired_by: str | None, drained_messages: int | None = None) -> None:
        repository.leave(conn, self.s.mqtt.client_id, retired_by=retired_by, drained_messages=drained_messages)

    def stranded(self) -> list[IngestMember]:
        return [m for m in self.members if m.state is MemberState.stranded]

    def health(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for m in self.members:
            counts[m.state.value] = counts.get(m.state.value, 0) + 1
        return {
            "share_group": self.s.mqtt.share_group,
            "share_group_members": counts,
            "stranded_members": [
                {"client_id": m.client_id, "seconds_since_seen": m.seconds_since_seen,
                 "session_expires_at": m.session_expires_at.astimezone(UTC).isoformat(),
                 "stopped_gracefully": m.stopped_at is not None}
                for m in self.stranded()
            ],
            "broker": self.watch.snapshot() if self.watch is not None else None,
        }

    def _export(self, stats: dict[str, float] | None) -> None:
        counts = dict.fromkeys(MemberState, 0)
        for m in self.members:
            counts[m.state] += 1
        for state, n in counts.items():
            self.metrics.share_members.labels(state.value).set(n)
        self.metrics.stranded_seconds.clear()
        for m in self.stranded():
            self.metrics.stranded_seconds.labels(m.client_id).set(m.seconds_since_seen)
        for topic, value in (stats or {}).items():
            self.metrics.broker.labels(topic).set(value)
