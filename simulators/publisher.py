"""A QoS 1 publisher with a bounded send window, as a meter gateway behaves.

MQTT packet ids are 16-bit: a publisher with more than 65,535 unacknowledged QoS 1 messages hangs and loses messages
(shared/reference/ingest-measurements.md), so at most `window` messages are in flight; `publish` drives the network
loop itself until there is room. Single-threaded: the fastest paho publisher measured here. The window is small
because paho walks all in-flight messages on every PUBACK: 20,000 publishes ran at 17,300 msg/s with a window of
100, 15,200 with 500, 8,600 with 2,000 and 900 with 10,000.

With `reconnect=True` (the live simulator) it behaves like a gateway when the broker goes away: it connects again,
with a pause growing to 5 s, for as long as it takes, and paho re-sends every QoS 1 message the broker had not
acknowledged (with the DUP flag): nothing is dropped on the publisher's side. `on_ack` is called with a message's
tag when the broker acknowledges it (PUBACK with a success reason code): a record of what the broker took
responsibility for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from services.mqtt_speedups import install as install_paho_speedups

log = logging.getLogger("energiblik.simulator.publisher")
LOST = (mqtt.MQTT_ERR_NO_CONN, mqtt.MQTT_ERR_CONN_LOST, mqtt.MQTT_ERR_CONN_REFUSED)

class PublishError(RuntimeError):
    pass


class WindowedPublisher:
    def __init__(self, host: str, port: int, username: str | None, password: str | None, *,
                 client_id: str = "", window: int = 200, qos: int = 1, reconnect: bool = False,
                 on_ack: Callable[[object], None] | None = None) -> None:
        install_paho_speedups()
        self.window = window
        self.qos = qos
        self.reconnect = reconnect
        self.on_ack = on_ack
        self.unacked: set[int] = set()
        self.tags: dict[int, object] = {}
        self.acked = 0
        self.rejected = 0  # PUBACKs with a failure reason code (e.g. not authorised)
        self.reconnects = 0
        self.refused: str | None = None
        self.where = f"{host}:{port}"
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(window)
        self.client.max_queued_messages_set(0)
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_publish = self._on_publish
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self._connected = False
        try:
            self.client.connect(host, port, keepalive=60)
        except OSError as exc:
            if not reconnect:
                raise
            self._reconnect(str(exc))  # the broker is not up (yet): wait for it, as a gateway does
            return
        deadline = time.monotonic() + 10
        while not self._connected and self.refused is None and time.monotonic() < deadline:
            self.client.loop(timeout=0.05)
        if not self._connected:
            if not reconnect:
                raise PublishError(f"could not connect to {host}:{port}: {self.refused or 'timeout'}")
            self._reconnect(self.refused or "timeout")

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: ReasonCode,
                    properties: object) -> None:
        if reason.is_failure:
            self.refused = str(reason)
        else:
            self._connected = True

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object, reason: ReasonCode,
                       properties: object) -> None:
        self._connected = False
        if reason.is_failure:
            self.refused = str(reason)

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, reason: ReasonCode,
                    properties: object) -> None:
        self.unacked.discard(mid)
        self.acked += 1
        tag = self.tags.pop(mid, None)
        if reason.is_failure:
            self.rejected += 1
        elif tag is not None and self.on_ack is not None:
            self.on_ack(tag)

    def publish(self, topic: str, payload: bytes, tag: object = None) -> None:
        """Publish; with QoS 1, `tag` is handed to `on_ack` once the broker has acknowledged the message."""
        while len(self.unacked) >= self.window:
            self._pump()
        info = self.client.publish(topic, payload, qos=self.qos)
        # NO_CONN, CONN_LOST: the connection dropped; paho keeps a QoS 1 message and sends it after the reconnect
        if info.rc != mqtt.MQTT_ERR_SUCCESS and not (self.reconnect and info.rc in LOST):
            raise PublishError(f"publish failed: {mqtt.error_string(info.rc)}")
        if self.qos:
            self.unacked.add(info.mid)
            if tag is not None:
                self.tags[info.mid] = tag
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self._reconnect(mqtt.error_string(info.rc))
            return
        # Keep the socket moving without waiting.
        rc = self.client.loop_write()
        if rc != mqtt.MQTT_ERR_SUCCESS and self.reconnect:
            self._reconnect(mqtt.error_string(rc))

    def _reconnect(self, why: str) -> None:
        """Connect again until the broker takes us back; paho then re-sends the unacknowledged QoS 1 messages."""
        log.warning("connection to %s lost (%s); reconnecting", self.where, why)
        pause = 0.2
        while True:
            self._connected = False
            self.refused = None
            try:
                self.client.reconnect()
                deadline = time.monotonic() + 10
                while not self._connected and self.refused is None and time.monotonic() < deadline:
                    if self.client.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS:
                        break
                if self._connected:
                    self.reconnects += 1
                    log.info("reconnected to %s; %d unacknowledged messages re-sent", self.where, len(self.unacked))
                    return
            except OSError as exc:
                why = str(exc)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)

    def publish_many(self, messages: Iterable[tuple[str, bytes]]) -> None:
        for i, (topic, payload) in enumerate(messages):
            self.publish(topic, payload)
            if i % 200 == 0:
                self.client.loop(timeout=0)

    def _pump(self) -> None:
        rc = self.client.loop(timeout=0.05)
        # paho reads one packet per loop(), each behind a select(): read the PUBACKs that are already there
        # without one (the socket is non-blocking), or the window refills one message per select.
        for _ in range(self.window):
            if rc != mqtt.MQTT_ERR_SUCCESS:
                break
            before = self.acked
            rc = self.client.loop_read()
            if self.acked == before:
                break
        if rc != mqtt.MQTT_ERR_SUCCESS or self.refused:
            why = self.refused or mqtt.error_string(rc)
            if not self.reconnect:
                raise PublishError(f"connection lost: {why}")
            self._reconnect(why)

    def flush(self, timeout: float = 120.0) -> None:
        """Wait until the broker has acknowledged everything published."""
        deadline = time.monotonic() + timeout
        while self.unacked:
            if time.monotonic() > deadline:
                raise PublishError(f"{len(self.unacked)} messages not acknowledged within {timeout}s")
            self._pump()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.client.disconnect()
            self.client.loop(timeout=0.1)
