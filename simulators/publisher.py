"""A QoS 1 publisher with a bounded send window, as a meter gateway behaves.

MQTT packet ids are 16-bit: a publisher with more than 65,535 unacknowledged QoS 1 messages hangs and loses messages
(shared/reference/ingest-measurements.md), so at most `window` messages are in flight. Single-threaded: the fastest
paho publisher measured here. The window is small because paho walks all in-flight messages on every PUBACK: 20,000
publishes ran at 17,300 msg/s with a window of 100, 15,200 with 500, 8,600 with 2,000 and 900 with 10,000.

Two modes:

- **Plain** (`reconnect=False`; tests and benchmarks): `publish` drives the network loop itself until there is room
  in the window; a lost connection raises `PublishError`.
- **Gateway** (`reconnect=True`; the live simulator, one publisher per building, all driven from one thread):
  nothing blocks on the broker. `publish` hands the message to the window when there is room and keeps it in the
  gateway's buffer otherwise (while the broker is away, or the window is full); `poll()` (called by `publish`, and
  by the caller's loop for every publisher, see `drive`) reads the PUBACKs that have arrived, sends what the window
  allows and, while the broker is away, tries to connect again when it is time (the pause grows from 0.2 s to 5 s).
  So one building waiting for the broker never holds up another's acknowledgements. On a reconnect paho re-sends
  every QoS 1 message the broker had not acknowledged (with the DUP flag): nothing is dropped on our side.
  A PUBACK with MQTT 5 reason code 0x10 "No matching subscribers" is a success code, but the broker has dropped the
  message: Mosquitto 2.0 does not restore `$share` subscriptions after a restart, so until the ingest workers have
  subscribed again it answers every publish that way (docs/reliability.md, "Broker durability"). In this estate a
  meter topic always has a subscriber, so 0x10 means "the ingest side is not back yet": the gateway keeps the message
  and publishes it again after a pause (0.25 s, doubling per attempt up to 5 s), counted in `resent`, as a
  store-and-forward gateway should (`resend_unrouted`, on by default in this mode).

`on_ack(tag, sent_at)` is called once per message with its tag when the broker has acknowledged it with a success
reason code other than 0x10: the record of what the broker took responsibility for. `sent_at` is the wall-clock
time (Unix seconds) at which `publish` was first called for it.
"""

from __future__ import annotations

import logging
import select
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from services.mqtt_speedups import install as install_paho_speedups

log = logging.getLogger("energiblik.simulator.publisher")
LOST = (mqtt.MQTT_ERR_NO_CONN, mqtt.MQTT_ERR_CONN_LOST, mqtt.MQTT_ERR_CONN_REFUSED)
NO_MATCHING_SUBSCRIBERS = 0x10  # MQTT 5 PUBACK reason code: accepted, and delivered to nobody
RESEND_PAUSE = (0.25, 5.0)  # first and longest pause before a 0x10 message is published again
RECONNECT_PAUSE = (0.2, 5.0)
CONNACK_TIMEOUT = 10.0


class PublishError(RuntimeError):
    pass


@dataclass(slots=True)
class _Message:
    topic: str
    payload: bytes
    tag: object
    sent_at: float  # wall clock of the first publish() call
    attempts: int = 0  # PUBACKs with 0x10 so far
    not_before: float = 0.0  # monotonic: a 0x10 message waits until then


class WindowedPublisher:
    def __init__(self, host: str, port: int, username: str | None, password: str | None, *,
                 client_id: str = "", window: int = 200, qos: int = 1, reconnect: bool = False,
                 on_ack: Callable[[object, float], None] | None = None, resend_unrouted: bool | None = None,
                 buffer: int = 100_000) -> None:
        install_paho_speedups()
        self.window = window
        self.qos = qos
        self.reconnect = reconnect
        self.resend_unrouted = reconnect if resend_unrouted is None else resend_unrouted
        if self.resend_unrouted and not reconnect:
            raise ValueError("resend_unrouted needs the gateway mode (reconnect=True)")
        self.buffer = buffer  # gateway mode: publish() waits when this many messages are buffered
        self.on_ack = on_ack
        self.unacked: set[int] = set()
        self.tags: dict[int, tuple[object, float]] = {}  # plain mode: mid -> (tag, sent_at)
        self.acked = 0  # PUBACKs received, whatever their reason code
        self.rejected = 0  # PUBACKs with a failure reason code (e.g. not authorised)
        self.unrouted = 0  # PUBACKs with 0x10 "no matching subscribers"
        self.resent = 0  # messages published again after a 0x10
        self.reconnects = 0
        self.refused: str | None = None
        self.where = f"{host}:{port}"
        self.client_id = client_id
        # gateway mode
        self._out: dict[int, _Message] = {}  # handed to paho, not yet acknowledged
        self._waiting: deque[_Message] = deque()  # not yet handed to paho (no room, or no connection)
        self._resend: deque[_Message] = deque()  # answered 0x10: published again from not_before on
        self._next_attempt: float | None = None  # monotonic: while disconnected, when to connect again
        self._connecting_since: float | None = None  # CONNECT sent, no CONNACK yet
        self._pause = RECONNECT_PAUSE[0]
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
            self._lost(str(exc))  # the broker is not up (yet): connect later, as a gateway does
            return
        deadline = time.monotonic() + CONNACK_TIMEOUT
        while not self._connected and self.refused is None and time.monotonic() < deadline:
            self.client.loop(timeout=0.05)
        if not self._connected:
            if not reconnect:
                raise PublishError(f"could not connect to {host}:{port}: {self.refused or 'timeout'}")
            self._lost(self.refused or "timeout")

    @property
    def connected(self) -> bool:
        return self._connected

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
        if self.reconnect:
            msg = self._out.pop(mid, None)
            tag, sent_at = (msg.tag, msg.sent_at) if msg is not None else (None, 0.0)
        else:
            msg = None
            tag, sent_at = self.tags.pop(mid, (None, 0.0))
        if reason.is_failure:
            self.rejected += 1
            return
        if reason.value == NO_MATCHING_SUBSCRIBERS:
            self.unrouted += 1
            if self.resend_unrouted and msg is not None:
                msg.attempts += 1
                msg.not_before = time.monotonic() + min(RESEND_PAUSE[0] * 2 ** (msg.attempts - 1), RESEND_PAUSE[1])
                self._resend.append(msg)
                return
        if tag is not None and self.on_ack is not None:
            self.on_ack(tag, sent_at)

    def publish(self, topic: str, payload: bytes, tag: object = None) -> None:
        """Publish; with QoS 1, `tag` is handed to `on_ack` once the broker has acknowledged the message."""
        if self.reconnect:
            self._waiting.append(_Message(topic, payload, tag, time.time()))
            self.poll()
            # backpressure: a connected broker takes the window's worth quickly; a gateway's store is finite
            while self._waiting and (len(self._waiting) > self.buffer or
                                     (self._connected and len(self._waiting) >= self.window)):
                self._wait(0.05)
                self.poll()
            return
        while len(self.unacked) >= self.window:
            self._pump()
        info = self.client.publish(topic, payload, qos=self.qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise PublishError(f"publish failed: {mqtt.error_string(info.rc)}")
        if self.qos:
            self.unacked.add(info.mid)
            if tag is not None:
                self.tags[info.mid] = (tag, time.time())
        self.client.loop_write()  # keep the socket moving without waiting

    # -- gateway mode ---------------------------------------------------------------------------------------------

    def poll(self) -> None:
        """Gateway mode: do whatever can be done now without waiting: connect again if it is time, read the
        PUBACKs that have arrived, hand buffered messages to the window, write."""
        now = time.monotonic()
        if not self._connected:
            if self._connecting_since is None:
                if self._next_attempt is not None and now < self._next_attempt:
                    return
                self._try_connect(now)
                if self._connecting_since is None:
                    return
            rc = self.client.loop_read()
            if self._connected:
                self._connecting_since = None
                self._next_attempt = None
                self._pause = RECONNECT_PAUSE[0]
                self.reconnects += 1
                log.info("reconnected to %s; %d unacknowledged messages re-sent, %d buffered", self.where,
                         len(self.unacked), len(self._waiting) + len(self._resend))
            elif rc != mqtt.MQTT_ERR_SUCCESS or self.refused or now - self._connecting_since > CONNACK_TIMEOUT:
                self._connecting_since = None
                why = self.refused or (mqtt.error_string(rc) if rc != mqtt.MQTT_ERR_SUCCESS else "no CONNACK")
                self._lost(why, quiet=True)
                return
            else:
                return
        self._feed(now)
        rc = self.client.loop_read()
        if rc == mqtt.MQTT_ERR_SUCCESS and self._connected:
            self._feed(time.monotonic())  # PUBACKs made room
            rc = self.client.loop_write() if self.client.want_write() else mqtt.MQTT_ERR_SUCCESS
        if rc == mqtt.MQTT_ERR_SUCCESS and self._connected:
            rc = self.client.loop_misc()  # keepalive
        if rc != mqtt.MQTT_ERR_SUCCESS or not self._connected:
            self._lost(self.refused or mqtt.error_string(rc))

    def _feed(self, now: float) -> None:
        """Hand messages to paho while the window has room: 0x10 re-sends that are due first, then the buffer."""
        while len(self.unacked) < self.window and self._connected:
            if self._resend and self._resend[0].not_before <= now:
                msg = self._resend.popleft()
                self.resent += 1
            elif self._waiting:
                msg = self._waiting.popleft()
            else:
                return
            info = self.client.publish(msg.topic, msg.payload, qos=self.qos)
            if info.rc != mqtt.MQTT_ERR_SUCCESS and info.rc not in LOST:
                raise PublishError(f"publish failed: {mqtt.error_string(info.rc)}")
            # NO_CONN, CONN_LOST: paho keeps the QoS 1 message and sends it after the reconnect
            self.unacked.add(info.mid)
            self._out[info.mid] = msg
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                self._lost(mqtt.error_string(info.rc))
                return

    def _try_connect(self, now: float) -> None:
        self.refused = None
        try:
            self.client.reconnect()  # a new socket and CONNECT; the CONNACK is read by poll()
        except OSError as exc:
            self._lost(str(exc), quiet=True)
            return
        self._connecting_since = now

    def _lost(self, why: str, quiet: bool = False) -> None:
        """Gateway mode: the connection is gone (or could not be made): connect again after a pause."""
        if self._connected or not quiet:
            log.warning("connection to %s lost (%s); reconnecting, %d unacknowledged", self.where, why,
                        len(self.unacked))
        if not self.reconnect:
            raise PublishError(f"connection lost: {why}")
        self._connected = False
        self._next_attempt = time.monotonic() + self._pause
        self._pause = min(self._pause * 2, RECONNECT_PAUSE[1])

    def socket(self) -> object | None:
        """The connection's socket while connected or connecting (to wait on with select), else None."""
        return self.client.socket() if (self._connected or self._connecting_since is not None) else None

    def _wait(self, timeout: float) -> None:
        sock = self.socket()
        if sock is None:
            time.sleep(timeout)
        else:
            select.select([sock], [], [], timeout)

    def pending(self) -> int:
        """Messages not yet acknowledged (and delivered): in flight, buffered, or waiting to be re-sent."""
        return len(self.unacked) + len(self._waiting) + len(self._resend)

    def idle(self) -> bool:
        return self.pending() == 0

    def next_due(self) -> float | None:
        """Gateway mode: the monotonic time of the next reconnect attempt or 0x10 re-send, if any."""
        due = [t for t in (self._next_attempt if not self._connected and self._connecting_since is None else None,
                           self._resend[0].not_before if self._resend else None) if t is not None]
        return min(due, default=None)

    # -- plain mode -----------------------------------------------------------------------------------------------

    def publish_many(self, messages: Iterable[tuple[str, bytes]]) -> None:
        for i, (topic, payload) in enumerate(messages):
            self.publish(topic, payload)
            if i % 200 == 0 and not self.reconnect:
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
        """Wait until the broker has acknowledged everything published (gateway mode: and delivered it)."""
        if self.reconnect:
            flush_all([self], timeout)
            return
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


def drive(publishers: Sequence[WindowedPublisher], timeout: float) -> None:
    """Gateway mode, one thread: wait up to `timeout` for a packet on any publisher's connection (or a reconnect or
    re-send falling due), then poll every publisher."""
    now = time.monotonic()
    socks = []
    for p in publishers:
        s = p.socket()
        if s is not None:
            socks.append(s)
        due = p.next_due()
        if due is not None:
            timeout = min(timeout, max(0.0, due - now))
    if timeout > 0:
        if socks:
            select.select(socks, [], [], timeout)
        else:
            time.sleep(timeout)
    for p in publishers:
        p.poll()


def flush_all(publishers: Sequence[WindowedPublisher], timeout: float = 120.0) -> None:
    """Gateway mode: drive every publisher until all have been acknowledged everything (reconnecting as needed)."""
    deadline = time.monotonic() + timeout
    for p in publishers:
        p.poll()
    while not all(p.idle() for p in publishers):
        left = deadline - time.monotonic()
        if left <= 0:
            busy = {p.client_id or p.where: p.pending() for p in publishers if not p.idle()}
            raise PublishError(f"messages not delivered within {timeout}s: {busy}")
        drive(publishers, min(0.05, left))
