"""The paho speed-up keeps MQTT 5 property decoding intact."""

import struct

from paho.mqtt import _packet
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from services.mqtt_speedups import SharedTableProperties, install


def _publish_packet(props: bytes) -> bytes:
    topic = b"energiblik/v1/buildings/B/meters/M/readings"
    return struct.pack("!H", len(topic)) + topic + struct.pack("!H", 7) + props + b'{"ts":1}'


def test_installed_into_paho_decoder() -> None:
    assert install() is True
    assert _packet.Properties is SharedTableProperties


def test_publish_without_properties() -> None:
    install()
    p = _packet.decode_publish(0x32, _publish_packet(b"\x00"), MQTTProtocolVersion.MQTTv5)
    assert p.mid == 7
    assert p.payload == b'{"ts":1}'
    assert p.properties is not None and p.properties.isEmpty()


def test_publish_with_properties_decodes_like_paho() -> None:
    install()
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = ("site", "ballerup")
    props.ContentType = "application/json"
    packed = props.pack()
    p = _packet.decode_publish(0x32, _publish_packet(packed), MQTTProtocolVersion.MQTTv5)
    assert p.properties.UserProperty == [("site", "ballerup")]
    assert p.properties.ContentType == "application/json"
    assert p.payload == b'{"ts":1}'
    # a fresh object does not inherit the previous one's properties
    q = _packet.decode_publish(0x32, _publish_packet(b"\x00"), MQTTProtocolVersion.MQTTv5)
    assert not hasattr(q.properties, "UserProperty")
