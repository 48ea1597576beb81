"""A QoS 1 publisher with a bounded send window, as a meter gateway behaves.

MQTT packet ids are 16-bit: a publisher with more than 65,535 unacknowledged QoS 1 messages hangs and loses messages
(shared/reference/ingest-measurements.md), so at most `window` messages are in flight; `publish` drives the network
loop itself until there is room. Single-threaded: the fastest paho publisher measured here. The window is small
because paho walks all in-flight messages on every PUBACK: 20,000 publishes ran at 17,300 msg/s with a window of
100, 15,200 with 500, 8,600 with 2,000 and 900 with 10,000.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from services.mqtt_speedups import install as install_paho_speedups


class PublishError(RuntimeError):
    pass


class WindowedPublisher:
    def __init__(self, host: str, port: int, username: str | None, password: str | None, *,
                 client_id: str = "", window: int = 200, qos: int = 1) -> None:
        install_paho_speedups()
        self.window = window
        self.qos = qos
        self.unacked: set[int] = set()
        self.acked = 0
        self.refused: str | None = None
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(window)
        self.client.max_queued_messages_set(0)
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_publish = self._on_publish
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self._connected = False
        self.client.connect(host, port, keepalive=60)
        deadline = time.monotonic() + 10
        while not self._connected and self.refused is None and time.monotonic() < deadline:
            self.client.loop(timeout=0.05)
        if not self._connected:
            raise PublishError(f"could not connect to {host}:{port}: {self.refused or 'timeout'}")

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

    def publish(self, topic: str, payload: bytes) -> None:
        while len(self.unacked) >= self.window:
            self._pump()
        info = self.client.publish(topic, payload, qos=self.qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise PublishError(f"publish failed: {mqtt.error_string(info.rc)}")
        if self.qos:
            self.unacked.add(info.mid)
        # Keep the socket moving without waiting.
        self.client.loop_write()

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
            raise PublishError(f"connection lost: {self.refused or mqtt.error_string(rc)}")

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
