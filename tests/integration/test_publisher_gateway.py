"""The simulator's gateway-mode publisher (simulators/publisher.py) against a real Mosquitto of its own (anonymous, on
a free port; the test stack's broker holds the ingest workers' sessions, which would take the messages): a message the
broker acknowledges with "no matching subscribers" (0x10) is kept and published again until a subscriber takes it,
and only then recorded as acknowledged; a building whose broker is unreachable does not hold up another's
acknowledgements (one thread drives them all)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulators.publisher import WindowedPublisher, drive, flush_all
from tests.integration.harness import free_port, wait_for

pytestmark = pytest.mark.skipif(shutil.which("mosquitto") is None, reason="needs the mosquitto binary")


def start_broker(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    conf = tmp / f"mosquitto-{port}.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_for(listening, timeout=10, what="mosquitto listening")
    return proc


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    proc = start_broker(tmp_path, port)
    yield port
    proc.kill()
    proc.wait()


def test_a_message_routed_to_nobody_is_published_again_until_delivered(broker: int) -> None:
    acks: list[tuple[object, float, float]] = []
    pub = WindowedPublisher("127.0.0.1", broker, None, None, client_id="gw-1", reconnect=True,
                            on_ack=lambda tag, sent_at: acks.append((tag, sent_at, time.time())))
    pub.publish("energiblik/v1/buildings/B1/meters/M1/readings", b'{"v": 1}', tag="r1")
    wait_for(lambda: drive([pub], 0.05) or pub.unrouted >= 2, timeout=10, what="two 0x10 acknowledgements")
    assert acks == [] and not pub.idle(), "a message the broker dropped is not acknowledged"

    got: list[bytes] = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="ingest", protocol=mqtt.MQTTv5)
    sub.on_message = lambda c, u, m: got.append(m.payload)
    sub.connect("127.0.0.1", broker)
    sub.subscribe("$share/g/energiblik/v1/buildings/#", qos=1)
    sub.loop_start()
    try:
        flush_all([pub], timeout=20)  # the next re-send finds the subscriber
        wait_for(lambda: got, timeout=5, what="the message delivered")
        time.sleep(0.3)
    finally:
        sub.loop_stop()
        sub.disconnect()
    assert got == [b'{"v": 1}']
    assert [a[0] for a in acks] == ["r1"]
    assert acks[0][1] <= acks[0][2]  # sent_at: the first publish, before the acknowledgement
    assert pub.unrouted >= 2 and pub.resent == pub.unrouted
    pub.close()


def test_a_gateway_waiting_for_its_broker_does_not_hold_up_another(broker: int, tmp_path: Path) -> None:
    away = free_port()  # nothing listens there yet
    acks: list[object] = []
    waiting = WindowedPublisher("127.0.0.1", away, None, None, client_id="gw-away", reconnect=True,
                                resend_unrouted=False, on_ack=lambda tag, sent_at: acks.append(tag))
    live = WindowedPublisher("127.0.0.1", broker, None, None, client_id="gw-live", reconnect=True,
                             resend_unrouted=False, on_ack=lambda tag, sent_at: acks.append(tag))
    assert not waiting.connected
    waiting.publish("t/away", b"a", tag="away")  # returns at once: kept in the gateway's buffer
    live.publish("t/live", b"b", tag="live")
    wait_for(lambda: drive([waiting, live], 0.05) or acks, timeout=10, what="the live gateway's acknowledgement")
    assert acks == ["live"] and waiting.pending() == 1
    proc = start_broker(tmp_path, away)  # the broker comes (back): the buffered message goes out
    try:
        flush_all([waiting, live], timeout=20)
        assert acks == ["live", "away"] and waiting.reconnects == 1
        waiting.close()
        live.close()
    finally:
        proc.kill()
        proc.wait()
