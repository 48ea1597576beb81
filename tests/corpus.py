"""Nasty payloads: every one that ever stopped or corrupted ingest, and their relatives. Each must end as a dead
letter whose reason contains the expected text, while ingest and rollups go on. Add to it whenever one is found.

Topics are relative to a building `B1` with meter `M1` (register, kWh), luminaire `L1` and a wmbus heat meter with
external id `67676767`; the tests register those.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

TS = "2026-02-01T10:00:00+01:00"
METER = "meter"
LUM = "luminaire"
WMBUS = "wmbus"


def _reading(value: str, ts: str = TS, extra: str = "") -> bytes:
    return ('{"ts":"' + ts + '","value":' + value + extra + "}").encode()


def _wmbus(register: str, field: str = "total_energy_consumption_kwh") -> bytes:
    return ('{"_":"telegram","media":"heat","meter":"kamheat","id":"67676767","' + field + '":' + register
            + ',"timestamp":"' + TS + '"}').encode()


def corpus() -> list[tuple[str, str, bytes, str]]:
    """(name, topic kind, payload, text expected in the dead letter's reason)"""
    future = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    big = "9" * 400
    return [
        # issue 11, point 1: an empty array killed the worker (max() of an empty sequence), then a crash loop
        ("empty array", METER, b"[]", "empty batch"),
        ("empty array telemetry", LUM, b"[]", "empty batch"),
        # point 4: non-finite numbers that passed one parser and killed the worker in a second
        ("NaN in array", METER, b"[" + _reading("NaN") + b"]", "invalid JSON"),
        ("Infinity in array", METER, b"[" + _reading("Infinity") + b"]", "invalid JSON"),
        ("-Infinity", METER, _reading("-Infinity"), "invalid JSON"),
        ("1e400 in array", METER, b"[" + _reading("1e400") + b"]", "invalid JSON"),
        ("400-digit integer in array", METER, b"[" + _reading(big) + b"]", "invalid JSON"),
        ("telemetry NaN", LUM, b'{"ts":"%s","power_w":NaN}' % TS.encode(), "invalid JSON"),
        ("wmbus 400-digit register", WMBUS, _wmbus(big), "invalid JSON"),
        # overflow to infinity on unit conversion, then stored: the municipality's total became null / inf
        ("1e306 MWh", METER, _reading("1e306", extra=',"unit":"MWh"'), "plausible range"),
        ("1e306 GJ", METER, _reading("1e306", extra=',"unit":"GJ"'), "plausible range"),
        ("wmbus 1e306 GJ", WMBUS, _wmbus("1e306", "total_energy_consumption_gj"), "plausible range"),
        ("register 1e308", METER, _reading("1e308"), "plausible range"),
        ("register -1e308", METER, _reading("-1e308"), "plausible range"),
        ("register 1e12 kWh", METER, _reading("1e12"), "plausible range"),
        # a reading dated year 1 killed the rollup process (date value out of range) on every restart
        ("year 1", METER, _reading("5", ts="0001-01-01T00:00:00+00:00"), "earliest accepted"),
        ("year 1999", METER, _reading("5", ts="1999-12-31T23:59:59Z"), "earliest accepted"),
        ("wmbus year 1", WMBUS, _wmbus("5").replace(TS.encode(), b"0001-01-01T00:00:00Z"), "earliest accepted"),
        ("telemetry year 1", LUM, b'{"ts":"0001-01-01T00:00:00Z","power_w":5}', "earliest accepted"),
        ("future", METER, _reading("5", ts=future), "future"),
        # contrary to the wire contract, and accepted before
        ("ts as numeric string", METER, _reading("5", ts="1"), "RFC 3339"),
        ("ts as number", METER, b'{"ts":1700000000,"value":5}', "ts: must be"),
        ("offset without colon", METER, _reading("5", ts="2026-02-01T10:00:00+0100"), "RFC 3339"),
        ("offset-less", METER, _reading("5", ts="2026-02-01T10:00:00"), "RFC 3339"),
        ("date only", METER, _reading("5", ts="2026-02-01"), "RFC 3339"),
        ("ISO week date", METER, _reading("5", ts="2026-W05-7T10:00:00Z"), "RFC 3339"),
        ("basic format", METER, _reading("5", ts="20260201T100000Z"), "RFC 3339"),
        ("leap second", METER, _reading("5", ts="2026-02-01T10:00:60Z"), "not a valid time"),
        ("month 13", METER, _reading("5", ts="2026-13-01T10:00:00Z"), "not a valid time"),
        ("offset +25:00", METER, _reading("5", ts="2026-02-01T10:00:00+25:00"), "offset outside"),
        ("duplicate key", METER, b'{"ts":"%s","value":5,"value":6}' % TS.encode(), "duplicate key"),
        ("duplicate ts key", METER, b'{"ts":"%s","ts":"2026-02-01T11:00:00Z","value":5}' % TS.encode(),
         "duplicate key"),
        ("escaped duplicate key", METER, b'{"\\u0074s":"2026-02-01T11:00:00Z","ts":"%s","value":5}' % TS.encode(),
         "duplicate key"),
        ("duplicate key nested in an unknown field", METER,
         _reading("5", extra=',"meta":{"a":1,"a":2}'), "duplicate key"),
        ("duplicate key in telemetry", LUM, b'{"ts":"%s","on":true,"on":false}' % TS.encode(), "duplicate key"),
        ("duplicate id in wmbus", WMBUS, _wmbus("5").replace(b'"id":"67676767"', b'"id":"1","id":"67676767"'),
         "duplicate key"),
        # shapes
        ("not JSON", METER, b"garbage {", "invalid JSON"),
        ("empty payload", METER, b"", "invalid JSON"),
        ("BOM", METER, b"\xef\xbb\xbf" + _reading("5"), "invalid JSON"),
        ("invalid UTF-8", METER, b'{"ts":"' + b"\xff\xfe" + b'","value":5}', "invalid JSON"),
        ("NUL after document", METER, _reading("5") + b"\x00", "invalid JSON"),
        ("trailing garbage", METER, _reading("5") + b"x", "invalid JSON"),
        ("deep nesting", METER, b"[" * 300 + b"]" * 300, "invalid JSON"),
        ("very deep nesting", METER, b"[" * 5000 + b"]" * 5000, "invalid JSON"),
        ("null", METER, b"null", "must be an object"),
        ("number", METER, b"5", "must be an object"),
        ("string", METER, b'"hello"', "must be an object"),
        ("array of numbers", METER, b"[1,2]", "must be an object"),
        ("array of nulls", LUM, b"[null]", "must be an object"),
        ("missing value", METER, b'{"ts":"%s"}' % TS.encode(), "value: field required"),
        ("missing ts", METER, b'{"value":5}', "ts: field required"),
        ("value null", METER, _reading("null"), "value: field required"),
        ("value string", METER, _reading('"5"'), "value: must be a number"),
        ("value bool", METER, _reading("true"), "value: must be a number"),
        ("value object", METER, _reading("{}"), "value: must be a number"),
        ("unit number", METER, _reading("5", extra=',"unit":5'), "unit: must be a string"),
        ("unit unknown", METER, _reading("5", extra=',"unit":"furlong"'), "unknown unit"),
        ("unit volume", METER, _reading("5", extra=',"unit":"m3"'), "cannot be converted"),
        ("quality unknown", METER, _reading("5", extra=',"quality":"guessed"'), "quality"),
        ("quality null", METER, _reading("5", extra=',"quality":null'), "quality"),
        ("quality array", METER, _reading("5", extra=',"quality":["measured"]'), "quality"),
        ("telemetry negative power", LUM, b'{"ts":"%s","power_w":-1}' % TS.encode(), "power_w"),
        ("telemetry dim 150", LUM, b'{"ts":"%s","dim_pct":150}' % TS.encode(), "dim_pct"),
        ("telemetry on as string", LUM, b'{"ts":"%s","on":"yes"}' % TS.encode(), "on: must be true or false"),
        ("telemetry 1e300 W", LUM, b'{"ts":"%s","power_w":1e300}' % TS.encode(), "power_w"),
        ("wmbus no id", WMBUS, _wmbus("5").replace(b'"id":"67676767",', b""), "id: field required"),
        ("wmbus id with NUL", WMBUS, _wmbus("5").replace(b'"id":"67676767"', b'"id":"6767\\u00006767"'), "id:"),
        ("wmbus id number", WMBUS, _wmbus("5").replace(b'"id":"67676767"', b'"id":67676767'), "id:"),
        ("wmbus no register", WMBUS, b'{"id":"67676767","timestamp":"%s"}' % TS.encode(), "no register field"),
        ("wmbus register string", WMBUS, _wmbus('"5"'), "must be a number"),
        ("wmbus array", WMBUS, b"[" + _wmbus("5") + b"]", "must be an object"),
        ("wmbus timestamp offset-less", WMBUS, _wmbus("5").replace(TS.encode(), b"2026-02-01 10:00:00"),
         "RFC 3339"),
        # edge forms the property tests (tests/integration/test_ingest_properties.py) generate; none broke ingest
        ("lone surrogate escape", METER, _reading("5", extra=',"note":"\\ud800"'), "invalid JSON"),
        ("non-ASCII digits in ts", METER, _reading("5", ts="\uff12\uff10\uff12\uff16-02-01T10:00:00Z"),
         "RFC 3339"),
        ("ts with 12 fraction digits", METER, _reading("5", ts="2026-02-01T10:00:00.123456789012Z"), "RFC 3339"),
        ("ts with a space", METER, _reading("5", ts="2026-02-01 10:00:00Z"), "RFC 3339"),
        ("offset +24:00", METER, _reading("5", ts="2026-02-01T10:00:00+24:00"), "offset outside"),
        ("year 1 at +23:59", METER, _reading("5", ts="0001-01-01T00:00:00+23:59"), "earliest accepted"),
        ("year 9999 at -23:59", METER, _reading("5", ts="9999-12-31T23:59:59-23:59"), "future"),
        ("10,001 readings", METER, b"[" + b",".join([b"{}"] * 10_001) + b"]", "exceed the limit"),
        ("2**64 + 1 as a register", METER, _reading(str(2**64 + 1)), "plausible range"),
        ("escaped key duplicating unit", METER, _reading("5", extra=',"unit":"kWh","\\u0075nit":"MWh"'),
         "duplicate key"),
    ]
