"""The ingest worker: MQTT (QoS 1, persistent session, manual ack) into TimescaleDB, acknowledging after commit.

One thread does everything, because on two cores a network thread plus a writer thread lost 20-50 % to the GIL
(shared/reference/ingest-measurements.md):

    loop:  client.loop()        read packets; on_message only appends to the pending batch (no I/O)
           if batch is full or old enough:
               process + COMMIT  (no packets are read meanwhile: backpressure)
               PUBACK each message of the batch, in arrival order

The broker never has more unacknowledged messages out to us than our MQTT v5 Receive Maximum (twice the batch's
message bound), so what we hold is bounded and nothing is ever dropped here. A database error is transient:
no ack, retry with backoff while keeping the MQTT session alive. If the connection to the broker drops, every message
not yet acknowledged is forgotten locally; the broker redelivers it to the persistent session and the unique key
(meter, ts) stores it once.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import cast
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest.metrics import Metrics
from services.clock import Clock, SystemClock
from services.config import Settings
from services.consumption.service import process_dirty
from services.db import PgConn, libpq_dsn
from services.ingestion.schemas import RawMessage
from services.ingestion.service import (
    BatchStats,
    IngestPipeline,
    InternalErrorGuard,
    InternalErrorLimit,
    sweep_quarantine,
)
from services.mqtt_speedups import install as install_paho_speedups

log = logging.getLogger("energiblik.ingest")


@dataclass
class _Pending:
    messages: list[RawMessage] = field(default_factory=list)
    nbytes: int = 0
    first_at: float = 0.0

    def clear(self) -> None:
        self.messages = []
        self.nbytes = 0
        self.first_at = 0.0


class IngestWorker:
    def __init__(self, settings: Settings, clock: Clock | None = None, metrics: Metrics | None = None) -> None:
        self.s = settings
        self.clock = clock or SystemClock()
        self.metrics = metrics or Metrics()
        self.pipeline = IngestPipeline.from_settings(settings)
        self.guard = InternalErrorGuard(settings.ingest.guard_window, settings.ingest.guard_share,
                                        settings.ingest.guard_min_errors)
        self.tz = ZoneInfo(settings.timezone)
        self._last_rollup = 0.0
        self.pending = _Pending()
        self.stopping = False
        self.connected = False
        self.subscribed = False
        self._conn: PgConn | None = None
        self._last_sweep = 0.0
        self.received_count = 0
        self.exit_code = 0
        self._stop_requested_at = 0.0
        self._received_reported = 0
        self._loop_now = self.clock.now()
        self._session_epoch = 0  # bumps on every (re)connect: acks never cross connections
        self.client = self._make_client()

    # -- MQTT ---------------------------------------------------------------------------------------------------------

    def subscription(self) -> str:
        topic = f"{self.s.mqtt.topic_prefix.strip('/')}/buildings/#"
        group = self.s.mqtt.share_group
        return f"$share/{group}/{topic}" if group else topic

    def _make_client(self) -> mqtt.Client:
        install_paho_speedups()
        m = self.s.mqtt
        if m.protocol == "5":
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=m.client_id, protocol=mqtt.MQTTv5,
                            manual_ack=True)
        else:
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=m.client_id, protocol=mqtt.MQTTv311,
                            manual_ack=True, clean_session=False)
        if m.username:
            c.username_pw_set(m.username, m.password.get_secret_value() if m.password else None)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_subscribe = self._on_subscribe
        c.on_message = self._on_message
        c.reconnect_delay_set(min_delay=1, max_delay=10)
        return c

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.s.mqtt.session_expiry_s
        # The broker may have at most this many QoS 1 messages unacknowledged at us. Twice the batch bound: the
        # broker keeps sending (into the socket buffer) while we commit, instead of idling until our acks arrive.
        props.ReceiveMaximum = min(65535, 2 * self.s.ingest.batch_max_messages)
        return props

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags,
                    reason: ReasonCode, properties: Properties | None) -> None:
        if reason.is_failure:
            log.error("mqtt connect refused", extra={"reason": str(reason)})
            return
        self.connected = True
        self.subscribed = False
        self._session_epoch += 1
        client.subscribe(self.subscription(), qos=1)
        log.info("mqtt connected", extra={"session_present": flags.session_present,
                                          "subscription": self.subscription()})

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int, reason_codes: list[ReasonCode],
                      properties: Properties | None) -> None:
        failed = [str(rc) for rc in reason_codes if rc.is_failure]
        if failed:
            log.error("subscription refused by the broker", extra={"reasons": failed,
                                                                   "subscription": self.subscription()})
            return
        # Only from here on does the broker route (and, while we are away, queue) messages for this session.
        self.subscribed = True

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: mqtt.DisconnectFlags,
                       reason: ReasonCode, properties: Properties | None) -> None:
        self.connected = False
        self.subscribed = False
        if self.pending.messages:
            # Not committed and can no longer be acknowledged on this connection: the broker redelivers them.
            log.warning("mqtt disconnected; dropping uncommitted batch for redelivery",
                        extra={"messages": len(self.pending.messages)})
            self.pending.clear()
        log.info("mqtt disconnected", extra={"reason": str(reason)})

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        # Runs once per message: no I/O, no clock reads, no metric updates (those happen once per loop step).
        p = self.pending
        if not p.messages:
            p.first_at = self.clock.monotonic()
        payload = cast(bytes, msg.payload)
        try:
            topic = msg.topic
        except UnicodeDecodeError:  # a broker that let an invalid UTF-8 topic through: dead-lettered, not a crash
            topic = msg._topic.decode("utf-8", "replace")
        p.messages.append(RawMessage(topic, payload, self._loop_now, msg.mid))
        p.nbytes += len(payload)
        self.received_count += 1

    # -- database -----------------------------------------------------------------------------------------------------

    def _db(self) -> PgConn:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(libpq_dsn(self.s.db.url), autocommit=False, connect_timeout=5)
            self.pipeline.registry.load_all(self._conn)
            self._conn.commit()
        return self._conn

    def _drop_db(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail in any way
                self._conn.close()
        self._conn = None

    # -- batching -----------------------------------------------------------------------------------------------------

    def _due(self) -> bool:
        p = self.pending
        if not p.messages:
            return False
        ing = self.s.ingest
        return (
            len(p.messages) >= ing.batch_max_messages
            or p.nbytes >= ing.batch_max_bytes
            or (self.clock.monotonic() - p.first_at) * 1000 >= ing.batch_max_age_ms
        )

    def flush(self) -> None:
        """Commit the pending batch, then acknowledge it. Retries database errors until it succeeds or we stop."""
        delay = self.s.ingest.retry_initial_s
        while self.pending.messages:
            batch = self.pending.messages
            epoch = self._session_epoch
            t0 = time.perf_counter()
            try:
                conn = self._db()
                with conn.transaction():
                    stats = self.pipeline.handle_batch(conn, batch)
                    # raises before the commit: a batch that trips the guard is neither stored nor acknowledged
                    self.guard.check(stats)
            except InternalErrorLimit as exc:
                self.metrics.internal_errors.inc(stats.internal_errors)
                log.critical("too many internal errors: stopping without committing or acknowledging the batch "
                             "(a bad deploy? the messages stay with the broker for a fixed version)",
                             extra={"detail": str(exc), "messages": len(batch)})
                self.pending.clear()
                self.exit_code = 4
                self.stopping = True
                return
            except psycopg.OperationalError as exc:
                self.metrics.db_errors.inc()
                log.warning("database unavailable; batch kept unacknowledged, retrying",
                            extra={"error": str(exc).strip()[:200], "retry_in_s": delay,
                                   "messages": len(batch)})
                self._drop_db()
                if self.stopping and time.monotonic() - self._stop_requested_at > self.s.ingest.stop_grace_s:
                    # Nothing was acknowledged: the broker redelivers all of it to this session later.
                    log.error("stopping with the database still unavailable; batch left unacknowledged",
                              extra={"messages": len(self.pending.messages)})
                    self.pending.clear()
                    self.exit_code = 3
                    return
                self._wait(delay)
                delay = min(delay * 2, self.s.ingest.retry_max_s)
                continue
            elapsed = time.perf_counter() - t0
            # Only what was in the batch is acknowledged; messages that arrived while retrying stay pending.
            if epoch == self._session_epoch and self.connected:
                for m in batch:
                    self.client.ack(m.ref, 1)
            if self.pending.messages is batch:
                self.pending.clear()
            else:
                self.pending.messages = self.pending.messages[len(batch):]
                self.pending.nbytes = sum(len(m.payload) for m in self.pending.messages)
                self.pending.first_at = self.clock.monotonic()
            self._record(stats, elapsed)

    def _wait(self, seconds: float) -> None:
        """Keep the MQTT session alive while waiting (pings, acks); new messages join the pending batch."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self.stopping:
            self._loop_now = self.clock.now()
            self.client.loop(timeout=min(0.2, max(0.0, end - time.monotonic())))
        if self.stopping and seconds > 0:
            # Still retrying at shutdown: give the database a last chance within the grace period.
            time.sleep(min(seconds, 1.0))

    def _record(self, stats: BatchStats, elapsed_s: float) -> None:
        m = self.metrics
        m.batch_seconds.observe(elapsed_s)
        m.readings_received.inc(stats.readings_received)
        m.stored.inc(stats.readings_stored)
        m.duplicates.inc(stats.duplicates)
        m.revisions.inc(stats.revisions)
        m.telemetry_stored.inc(stats.telemetry_stored)
        m.dead_lettered.inc(stats.dead_lettered)
        m.quarantined.inc(stats.quarantined)
        m.internal_errors.inc(stats.internal_errors)
        m.batches.inc()
        if stats.dead_lettered:
            log.info("dead-lettered", extra={"count": stats.dead_lettered, "reasons": stats.reasons})

    def _rollups(self) -> None:
        """Recompute the consumption rollups that committed batches (ours or others') marked dirty."""
        if not self.s.ingest.rollups:
            return
        self._last_rollup = self.clock.monotonic()
        try:
            conn = self._db()
            with conn.transaction():
                n = process_dirty(conn, self.tz, self.s.ingest.rollup_batch)
            if n:
                self.metrics.rollup_meters.inc(n)
        except psycopg.OperationalError:
            self._drop_db()  # the dirty ranges stay in the table; the next call takes them
        except Exception:  # not one meter's failure (those are recorded and skipped): logged, retried next time
            log.exception("rollup step failed; retrying later")

    def _maybe_sweep(self) -> None:
        now = self.clock.monotonic()
        if now - self._last_sweep < self.s.ingest.quarantine_sweep_s:
            return
        self._last_sweep = now
        try:
            conn = self._db()
            with conn.transaction():
                stats = sweep_quarantine(conn, self.pipeline)
            if stats.messages:
                log.info("replayed quarantined messages", extra={"messages": stats.messages})
                self._record(stats, 0.0)
        except psycopg.OperationalError:
            self._drop_db()
        except Exception:  # messages fail one by one inside handle_batch; this is anything around it
            log.exception("quarantine sweep failed; retrying later")

    # -- lifecycle ----------------------------------------------------------------------------------------------------

    def health(self) -> dict[str, object]:
        return {"mqtt_connected": self.connected and self.subscribed, "subscribed": self.subscribed,
                "pending_messages": len(self.pending.messages),
                "client_id": self.s.mqtt.client_id}

    def request_stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        if not self.stopping:
            self._stop_requested_at = time.monotonic()
        self.stopping = True

    def _connect(self) -> None:
        m = self.s.mqtt
        delay = self.s.ingest.retry_initial_s
        while not self.stopping:
            try:
                if m.protocol == "5":
                    self.client.connect(m.host, m.port, keepalive=m.keepalive_s, clean_start=False,
                                        properties=self._connect_properties())
                else:
                    self.client.connect(m.host, m.port, keepalive=m.keepalive_s)
                return
            except OSError as exc:
                log.warning("broker unreachable; retrying", extra={"error": str(exc), "retry_in_s": delay})
                time.sleep(delay)
                delay = min(delay * 2, self.s.ingest.retry_max_s)

    def _step(self) -> None:
        self._loop_now = self.clock.now()
        rc = self.client.loop(timeout=0.05)
        # paho reads one packet per loop(), each behind a select(): while packets keep coming, read on without the
        # select (the socket is non-blocking; an empty read just returns). Halves the per-message cost of a backlog.
        room = self.s.ingest.batch_max_messages - len(self.pending.messages)
        while rc == mqtt.MQTT_ERR_SUCCESS and room > 0:
            before = self.received_count
            rc = self.client.loop_read()
            if self.received_count == before:
                break
            room -= 1
        if rc != mqtt.MQTT_ERR_SUCCESS and not self.connected:
            self.pending.clear()
            self._reconnect()
        self.metrics.received.inc(self.received_count - self._received_reported)
        self._received_reported = self.received_count
        self.metrics.queue_depth.set(len(self.pending.messages))
        self.metrics.heartbeat()
        if self._due():
            self.flush()

    def run(self) -> int:
        m = self.s.mqtt
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        self._connect()
        log.info("ingest worker started", extra={"client_id": m.client_id, "broker": f"{m.host}:{m.port}"})
        while not self.stopping:
            self._step()
            self._maybe_sweep()
            # Once a second, not after every batch: during a backlog consecutive batches touch the same days, and
            # merging their ranges computes each day once.
            if self.clock.monotonic() - self._last_rollup >= self.s.ingest.rollup_interval_s:
                self._rollups()
        if self.s.ingest.retire_on_stop and self.connected:
            self._retire()
        # Graceful stop: take no more messages, commit what we hold, acknowledge it, leave.
        self.flush()
        if self.s.ingest.retire_on_stop and m.protocol == "5":
            props = Properties(PacketTypes.DISCONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 0
            self.client.disconnect(properties=props)
        else:
            self.client.disconnect()
            if self.s.ingest.retire_on_stop:
                self._end_v311_session()
        self._drop_db()
        log.info("ingest worker stopped", extra={"retired": self.s.ingest.retire_on_stop, "exit_code": self.exit_code})
        return self.exit_code

    def _end_v311_session(self) -> None:
        """MQTT 3.1.1 has no session expiry: connecting once with a clean session discards the stored one."""
        m = self.s.mqtt
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=m.client_id, protocol=mqtt.MQTTv311,
                        clean_session=True)
        if m.username:
            c.username_pw_set(m.username, m.password.get_secret_value() if m.password else None)
        c.connect(m.host, m.port, keepalive=m.keepalive_s)
        c.loop(timeout=1.0)
        c.disconnect()

    def _retire(self) -> None:
        """Unsubscribe, then keep storing until the broker has nothing more queued for this session."""
        self.client.unsubscribe(self.subscription())
        received = self.received_count
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < self.s.ingest.retire_idle_s and self.connected:
            self._step()
            now_received = self.received_count
            if now_received != received:
                received, idle_since = now_received, time.monotonic()
        log.info("left the shared subscription", extra={"client_id": self.s.mqtt.client_id})

    def _reconnect(self) -> None:
        try:
            self.client.reconnect()
        except OSError as exc:
            log.warning("mqtt reconnect failed", extra={"error": str(exc)})
            time.sleep(1.0)
