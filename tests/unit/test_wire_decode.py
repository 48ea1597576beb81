"""The wire contract v1 decoder, without broker or database."""

from datetime import UTC, datetime

import orjson
import pytest

from services.broker.service import building_password, mosquitto_hash, render_files
from services.ingestion.schemas import RawMessage
from services.ingestion.service import IngestPipeline, _Decoded

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


def decode(topic: str, payload: bytes, **kw: int) -> _Decoded | str:
    p = IngestPipeline("energiblik/v1", **kw)
    msg = RawMessage(topic, payload, NOW)
    route = p._route(msg)
    return route if isinstance(route, str) else p._decode(msg, *route)


@pytest.mark.parametrize(("topic", "expect"), [
    ("energiblik/v1/buildings/B1/meters/M1/readings", ("meter", "B1", "M1")),
    ("energiblik/v1/buildings/B-1.x/luminaires/L_1/telemetry", ("luminaire", "B-1.x", "L_1")),
    ("energiblik/v1/buildings/B1/meters/M1", "topic: unknown topic shape"),
    ("energiblik/v2/buildings/B1/meters/M1/readings", "topic: not under"),
    ("energiblik/v1/buildings/B 1/meters/M1/readings", "topic: building id"),
    ("energiblik/v1/buildings/B1/meters/" + "x" * 65 + "/readings", "topic: meter id"),
])
def test_topics(topic: str, expect: object) -> None:
    got = IngestPipeline("energiblik/v1")._parse_topic(topic)
    if isinstance(expect, tuple):
        assert got == expect
    else:
        assert isinstance(got, str) and got.startswith(str(expect))


def test_custom_prefix() -> None:
    p = IngestPipeline("muni/energy/v1")
    assert p._parse_topic("muni/energy/v1/buildings/B/wmbus/x") == ("wmbus", "B", "x")


def test_single_and_batched_readings() -> None:
    d = decode("energiblik/v1/buildings/B/meters/M/readings",
               b'[{"ts":"2026-03-29T02:30:00+02:00","value":5,"extra":"ignored"},'
               b'{"ts":"2026-03-29T00:30:00Z","value":6.5,"quality":"estimated"}]')
    assert isinstance(d, _Decoded)
    assert [i[1] for i in d.items] == [5.0, 6.5]
    assert d.items[0][0] == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert d.items[1][3] == "estimated"
    assert d.errors == []


def test_too_many_readings_and_oversize() -> None:
    payload = orjson.dumps([{"ts": "2026-01-01T00:00:00Z", "value": i} for i in range(11)])
    assert "exceed the limit of 10" in str(decode("energiblik/v1/buildings/B/meters/M/readings", payload,
                                                  max_readings_per_message=10))
    assert "exceeds the limit of 100" in str(decode("energiblik/v1/buildings/B/meters/M/readings", payload,
                                                    max_payload_bytes=100))


def test_partly_bad_batch_keeps_good_items() -> None:
    d = decode("energiblik/v1/buildings/B/meters/M/readings",
               b'[{"ts":"2026-01-01T00:00:00Z","value":1},{"ts":"2026-01-01T00:15:00","value":2},'
               b'{"ts":"2026-01-01T00:30:00Z","value":"3"}]')
    assert isinstance(d, _Decoded)
    assert [i[1] for i in d.items] == [1.0]
    assert d.errors == ["item 1: ts: '2026-01-01T00:15:00' is not an RFC 3339 timestamp with an offset, "
                        "e.g. 2026-11-26T10:15:00+01:00",
                        "item 2: value: must be a number (got a string)"]


def test_mosquitto_hash_format_is_pbkdf2_sha512() -> None:
    import base64
    import hashlib

    h = mosquitto_hash("secret", salt=b"0123456789ab")
    _, seven, iterations, salt, digest = h.split("$")
    assert (seven, iterations) == ("7", "101")
    assert base64.b64decode(salt) == b"0123456789ab"
    assert base64.b64decode(digest) == hashlib.pbkdf2_hmac("sha512", b"secret", b"0123456789ab", 101, 64)


def test_acl_restricts_each_building_to_its_subtree() -> None:
    passwd, acl = render_files(["B2", "B1"], "s3cret", "ingest", "pw", "energiblik/v1")
    assert [line.split(":")[0] for line in passwd.splitlines()] == ["ingest", "building-B1", "building-B2"]
    assert "user building-B1\ntopic write energiblik/v1/buildings/B1/#" in acl
    assert "user ingest\ntopic read energiblik/v1/#" in acl
    assert building_password("s3cret", "B1") != building_password("s3cret", "B2")
    assert building_password("s3cret", "B1") == building_password("s3cret", "B1")


def test_non_object_element_is_an_item_error_and_the_rest_is_kept() -> None:
    d = decode("energiblik/v1/buildings/B/meters/M/readings",
               b'[{"ts":"2026-01-01T00:00:00Z","value":1}, 5, {"ts":"2026-01-01T00:30:00Z","value":3}]')
    assert isinstance(d, _Decoded)
    assert [i[1] for i in d.items] == [1.0, 3.0]
    assert d.errors == ["item 1: must be an object (got a number)"]


def test_later_errors_name_the_item_by_its_position_in_the_message() -> None:
    from services.ingestion.service import MeterInfo, _Built
    from services.readings.units import Unit

    d = decode("energiblik/v1/buildings/B/meters/M/readings",
               b'[{"ts":"2026-01-01T00:00:00Z","value":1},{"ts":"2026-01-01T00:15:00Z","value":true},'
               b'{"ts":"2026-01-01T00:30:00Z","value":3,"unit":"l"}]')
    assert isinstance(d, _Decoded)
    out = _Built(errors=d.errors)
    IngestPipeline("energiblik/v1")._reading_rows(d, MeterInfo("M", 1, "B", Unit.KWH, None, 1.0), NOW, out)
    assert len(out.rows) == 1
    assert out.errors[0].startswith("item 1: value:")
    assert out.errors[1].startswith("item 2: unit:")


def test_wmbus_id_must_be_printable() -> None:
    reason = decode("energiblik/v1/buildings/B/wmbus/x",
                    b'{"id":"ab\\u0000c","total_m3":5,"timestamp":"2026-11-26T10:00:00Z"}')
    assert isinstance(reason, str) and reason.startswith("wmbus: id:")
