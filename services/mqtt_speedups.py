"""A measured speed-up for paho-mqtt's MQTT 5 message path.

paho builds a `Properties` object for every PUBLISH and PUBACK it decodes, and each one rebuilds two 27-entry
tables and probes 27 attributes twice (constructor and `clear()`), whether the packet carries properties or not
(almost none do here). That was a third of the ingest worker's cost per single-reading message
(docs/benchmarks.md). This subclass shares the tables, which paho never mutates, and clears by dictionary; decoding
and validating actual properties is paho's own code, unchanged.

It is installed into paho's private packet decoder only when that decoder looks exactly as expected (paho-mqtt 2.x),
and otherwise left out: then everything works, only slower. tests/unit/test_mqtt_speedups.py checks both the
installation and that properties still decode.
"""

from __future__ import annotations

import logging
from typing import Any

from paho.mqtt import properties as paho_properties
from paho.mqtt.packettypes import PacketTypes

log = logging.getLogger(__name__)

_Base: Any = paho_properties.Properties
_TEMPLATE = _Base(PacketTypes.PUBLISH)
_NAMES = _TEMPLATE.names
_TYPES = _TEMPLATE.types
_TABLE = _TEMPLATE.properties
_COMPRESSED = tuple(name.replace(" ", "") for name in _NAMES)


class SharedTableProperties(_Base):  # type: ignore[misc]
    def __init__(self, packetType: int) -> None:
        d = self.__dict__
        d["packetType"] = packetType
        d["types"] = _TYPES
        d["names"] = _NAMES
        d["properties"] = _TABLE

    def clear(self) -> None:
        d = self.__dict__
        for name in _COMPRESSED:
            d.pop(name, None)


def install() -> bool:
    """Use SharedTableProperties in paho's packet decoder; False (and a log line) where paho differs."""
    try:
        from paho.mqtt import _packet
    except ImportError:
        log.info("paho speed-up not installed: no paho.mqtt._packet")
        return False
    current = getattr(_packet, "Properties", None)
    if current is SharedTableProperties:
        return True
    if current is not _Base or not hasattr(_packet, "decode_publish"):
        log.info("paho speed-up not installed: paho's decoder is not the expected one")
        return False
    _packet.Properties = SharedTableProperties  # type: ignore[attr-defined]
    return True
