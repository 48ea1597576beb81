"""No loss, no double storage: worker crashes, database outages, shared subscriptions, backlogs, broker ACLs.

All against the real Mosquitto and TimescaleDB of the test stack.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine

from services.broker.service import building_identity
from simulators.publisher import PublishError, WindowedPublisher
from tests.integration.harness import (
    PREFIX,
    Workers,
    add_building,
    add_meter,
    building_publisher,
    reading_topic,
    scalar,
    sync_broker,
    wait_for,
)
from tests.stack import Stack

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def single_messages(meter: str, n: int, building: str = "B1") -> list[tuple[str, bytes]]:
    topic = reading_topic(building, meter)
    return [(topic, orjson.dumps({"ts": (T0 + timedelta(minutes=15 * i)).isoformat(), "value": float(i)}))
            for i in range(n)]


def setup_fleet(stack: Stack, db: Engine, meters: int = 1) -> list[str]:
    add_building(db, "B1")
    ids = [f"M{i}" for i in range(meters)]
    for m in ids:
        add_meter(db, m, "B1")
    sync_broker(stack)
    return ids


class PublisherThread(threading.Thread):
    def __init__(self, stack: Stack, messages: list[tuple[str, bytes]], rate_per_s: float | None = None) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.messages = messages
        self.rate = rate_per_s
        self.error: BaseException | None = None
        self.done = threading.Event()

    def run(self) -> None:
        try:
            pub = building_publisher(self.stack, "B1")
            start = time.monotonic()
            for i, (topic, payload) in enumerate(self.messages):
                if self.rate:
                    ahead = i / self.rate - (time.monotonic() - start)
                    while ahead > 0:
                        pub.client.loop(timeout=min(ahead, 0.05))
                        ahead = i / self.rate - (time.monotonic() - start)
                pub.publish(topic, payload)
            pub.close()
        except BaseException as exc:
            self.error = exc
        finally:
            self.done.set()

    def finish(self, timeout: float = 300) -> None:
        assert self.done.wait(timeout), "publisher did not finish"
        if self.error:
            raise self.error


def count(db: Engine) -> int:
    return int(scalar(db, "SELECT count(*) FROM readings"))


def assert_exact_series(db: Engine, n: int, meters: int = 1) -> None:
    assert count(db) == n * meters
    assert scalar(db, "SELECT count(*) FROM reading_revisions") == 0
    # every value stored is the one published for that timestamp
    assert scalar(db, "SELECT count(*) FROM readings WHERE value <> "
                      "extract(epoch FROM ts - '2025-01-01T00:00:00Z') / 900") == 0


@pytest.mark.slow
def test_sigkill_mid_stream_loses_nothing_and_stores_nothing_twice(stack: Stack, db: Engine,
                                                                   workers: Workers) -> None:
    setup_fleet(stack, db)
    w = workers.start("w1")
    pub = PublisherThread(stack, single_messages("M0", 20_000))
    pub.start()
    wait_for(lambda: count(db) >= 3000, timeout=120, interval=0.05, what="3000 stored")
    w.kill()
    stored_at_kill = count(db)
    assert stored_at_kill < 20_000, "the stream ended before the kill; the test proves nothing"
    restarted = workers.new("w1").start()  # same client id: resumes the persistent session
    pub.finish()
    wait_for(lambda: count(db) == 20_000, timeout=180, what="all 20000 stored after restart")
    time.sleep(1.0)  # let redeliveries of committed-but-unacked messages arrive; they must not add rows
    assert_exact_series(db, 20_000)
    assert restarted.stop() == 0


@pytest.mark.slow
def test_database_down_for_30s_loses_nothing(stack: Stack, db: Engine, workers: Workers) -> None:
    if stack.kind != "local":
        pytest.skip("stopping the database is implemented for the local stack only")
    setup_fleet(stack, db)
    w = workers.start("w1")
    n = 12_000
    pub = PublisherThread(stack, single_messages("M0", n), rate_per_s=250)  # a 48 s stream
    pub.start()
    wait_for(lambda: count(db) >= 1000, timeout=60, what="stream flowing")
    stack.stack_cmd("pg-stop")
    try:
        time.sleep(30)
        assert w.proc is not None and w.proc.poll() is None, "worker died while the database was down"
        assert w.metric("energiblik_ingest_db_errors") >= 1
    finally:
        stack.stack_cmd("pg-start")
    pub.finish()
    wait_for(lambda: count(db) == n, timeout=180, what=f"all {n} stored after the outage")
    assert_exact_series(db, n)
    assert w.stop() == 0


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_sigterm_flushes_and_acknowledges(stack: Stack, db: Engine, workers: Workers, protocol: str) -> None:
    setup_fleet(stack, db)
    # Long batch age: at SIGTERM the worker holds received, uncommitted messages it must flush.
    w = workers.start("w1", ENERGIBLIK_INGEST__BATCH_MAX_AGE_MS="60000", ENERGIBLIK_INGEST__BATCH_MAX_MESSAGES="5000",
                      ENERGIBLIK_MQTT__PROTOCOL=protocol)
    pub = building_publisher(stack, "B1")
    pub.publish_many(single_messages("M0", 3000))
    pub.close()
    wait_for(lambda: w.metric("energiblik_ingest_messages_received") >= 3000, what="3000 received")
    assert count(db) == 0  # held in the batch
    assert w.stop() == 0
    assert count(db) == 3000
    # Everything was acknowledged before exit: a new worker on the same session gets no redeliveries.
    again = workers.new("w1", ENERGIBLIK_MQTT__PROTOCOL=protocol).start()
    time.sleep(2)
    assert again.metric("energiblik_ingest_messages_received") == 0
    again.stop()


@pytest.mark.slow
def test_two_workers_on_a_shared_subscription_store_exactly_once(stack: Stack, db: Engine,
                                                                 workers: Workers) -> None:
    meters = setup_fleet(stack, db, meters=4)
    w1 = workers.start("w1")
    w2 = workers.start("w2")
    msgs = [m for mid in meters for m in single_messages(mid, 5000)]
    pub = building_publisher(stack, "B1")
    pub.publish_many(msgs)
    pub.close()
    wait_for(lambda: count(db) == 20_000, timeout=120, what="20000 stored")
    r1 = w1.metric("energiblik_ingest_messages_received")
    r2 = w2.metric("energiblik_ingest_messages_received")
    assert r1 > 0 and r2 > 0, f"load not shared: {r1} / {r2}"
    assert r1 + r2 == 20_000  # each message went to one worker only
    assert w1.metric("energiblik_ingest_readings_duplicate") + w2.metric("energiblik_ingest_readings_duplicate") == 0
    assert_exact_series(db, 5000, meters=4)
    assert w1.stop() == 0 and w2.stop() == 0


@pytest.mark.slow
def test_backlog_of_200k_queued_while_worker_down_is_delivered_completely(stack: Stack, db: Engine,
                                                                          workers: Workers) -> None:
    meters = setup_fleet(stack, db, meters=20)
    # The worker holds up to 20,000 messages unacknowledged: exactly the broker's max_inflight_messages.
    env = {"ENERGIBLIK_INGEST__BATCH_MAX_MESSAGES": "20000", "ENERGIBLIK_INGEST__BATCH_MAX_BYTES": str(64 << 20),
           "ENERGIBLIK_INGEST__BATCH_MAX_AGE_MS": "2000"}
    w = workers.start("w1", **env)  # creates the persistent session and its subscription
    assert w.stop() == 0
    pub = building_publisher(stack, "B1")
    pub.publish_many(m for mid in meters for m in single_messages(mid, 10_000))
    pub.close()
    assert count(db) == 0
    w = workers.new("w1", **env).start()
    wait_for(lambda: count(db) == 200_000, timeout=300, interval=1, what="200000 stored")
    assert w.metric("energiblik_ingest_messages_received") == 200_000
    assert_exact_series(db, 10_000, meters=20)
    assert w.stop() == 0


def test_unknown_meter_is_quarantined_and_replayed_when_registered(stack: Stack, db: Engine,
                                                                   workers: Workers) -> None:
    setup_fleet(stack, db)
    w = workers.start("w1")
    pub = building_publisher(stack, "B1")
    pub.publish_many(single_messages("NEW1", 10))
    pub.close()
    wait_for(lambda: scalar(db, "SELECT count(*) FROM quarantine") == 10, what="10 quarantined")
    assert count(db) == 0
    add_meter(db, "NEW1", "B1")  # registered behind the API's back: the worker's sweep replays it
    wait_for(lambda: count(db) == 10, timeout=30, what="quarantine replayed")
    assert scalar(db, "SELECT count(*) FROM quarantine WHERE replayed_at IS NULL") == 0
    assert w.stop() == 0


def test_meter_credentials_cannot_publish_under_another_building(stack: Stack, db: Engine,
                                                                 workers: Workers) -> None:
    add_building(db, "B1")
    add_building(db, "B2")
    add_meter(db, "M1", "B1")
    sync_broker(stack)
    w = workers.start("w1")

    # A reader with the ingest identity sees what reaches the broker's subscribers.
    seen: list[str] = []
    reader = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    reader.username_pw_set("energiblik-ingest", stack.env["ENERGIBLIK_MQTT__PASSWORD"])
    reader.on_message = lambda c, u, m: seen.append(m.topic)
    reader.connect(stack.mqtt_host, stack.mqtt_port)
    reader.subscribe(f"{PREFIX}/#", qos=1)
    for _ in range(10):
        reader.loop(timeout=0.1)

    intruder = building_publisher(stack, "B2")
    intruder.publish(reading_topic("B1", "M1"), orjson.dumps({"ts": "2026-01-01T00:00:00Z", "value": 1.0}))
    intruder.flush()  # the broker answers (PUBACK "not authorized" in MQTT 5) but does not forward it
    own = building_publisher(stack, "B1")
    own.publish(reading_topic("B1", "M1"), orjson.dumps({"ts": "2026-01-01T00:15:00Z", "value": 2.0}))
    own.close()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        reader.loop(timeout=0.1)
    reader.disconnect()
    assert seen == [reading_topic("B1", "M1")]
    wait_for(lambda: count(db) == 1, what="own building's reading stored")
    assert scalar(db, "SELECT value FROM readings") == 2.0

    # Wrong password and anonymous clients are refused at connect.
    ident = building_identity(stack.broker_secret, "B1")
    with pytest.raises(PublishError):
        WindowedPublisher(stack.mqtt_host, stack.mqtt_port, ident.username, "wrong-password")
    with pytest.raises(PublishError):
        WindowedPublisher(stack.mqtt_host, stack.mqtt_port, None, None)
    w.stop()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_retiring_worker_drains_its_share_and_leaves_the_group(stack: Stack, db: Engine, workers: Workers,
                                                              protocol: str) -> None:
    setup_fleet(stack, db)
    w1 = workers.start("w1")
    w2 = workers.start("w2", ENERGIBLIK_MQTT__PROTOCOL=protocol)
    assert w2.stop() == 0  # offline, but its session stays in the share group and keeps getting a share
    pub = building_publisher(stack, "B1")
    pub.publish_many(single_messages("M0", 2000))
    pub.flush()
    # The broker routed every message at publish time; wait until w1 has stored its whole share.
    wait_for(lambda: 0 < count(db) == w1.metric("energiblik_ingest_messages_received"), what="w1's share stored")
    time.sleep(1)
    assert count(db) == w1.metric("energiblik_ingest_messages_received")
    held_for_w2 = 2000 - count(db)
    assert held_for_w2 > 0, "Mosquitto gave the offline session no share; the scale-in problem is not reproduced"
    # Scale in: start w2 once more in retire mode and stop it; it drains its queue and ends its session.
    w2r = workers.new("w2", ENERGIBLIK_INGEST__RETIRE_ON_STOP="true", ENERGIBLIK_MQTT__PROTOCOL=protocol).start()
    wait_for(lambda: count(db) == 2000, timeout=60, what="w2's share drained")
    assert w2r.stop() == 0
    msgs = single_messages("M0", 3000)[2000:]
    pub.publish_many(msgs)
    pub.close()
    wait_for(lambda: count(db) == 3000, timeout=60, what="later traffic all to w1")
    assert w1.metric("energiblik_ingest_messages_received") == 3000 - held_for_w2
    assert_exact_series(db, 3000)
    assert w1.stop() == 0


def test_sigterm_while_the_database_is_down_exits_without_ack_and_loses_nothing(
    stack: Stack, db: Engine, workers: Workers
) -> None:
    if stack.kind != "local":
        pytest.skip("stopping the database is implemented for the local stack only")
    setup_fleet(stack, db)
    w = workers.start("w1", ENERGIBLIK_INGEST__STOP_GRACE_S="2")
    stack.stack_cmd("pg-stop")
    try:
        pub = building_publisher(stack, "B1")
        pub.publish_many(single_messages("M0", 500))
        pub.close()
        wait_for(lambda: w.metric("energiblik_ingest_db_errors") >= 1, what="worker meets the outage")
        started = time.monotonic()
        assert w.stop(timeout=30) == 3
        assert time.monotonic() - started < 15
    finally:
        stack.stack_cmd("pg-start")
    again = workers.new("w1").start()  # same session: the broker redelivers what was never acknowledged
    wait_for(lambda: count(db) == 500, timeout=60, what="all 500 stored after the restart")
    assert_exact_series(db, 500)
    assert again.stop() == 0
