"""1,000 malformed payloads of varied kinds: each lands in the dead-letter store with its raw bytes and a reason, the
worker keeps running, and valid traffic after them is stored."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import Engine, text

from tests.corpus import corpus
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

M1 = reading_topic("B1", "M1")
LUM = f"{PREFIX}/buildings/B1/luminaires/L1/telemetry"
WMBUS = f"{PREFIX}/buildings/B1/wmbus/heat"


def _ts(i: int) -> str:
    return (datetime(2026, 2, 1, tzinfo=UTC) + timedelta(seconds=i)).isoformat()


# (name, publishing building, topic, payload factory, text expected in the reason)
def malformed_kinds() -> list[tuple[str, str, str, object, str]]:
    future = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    return [
        ("not json", "B1", M1, lambda i: b"garbage {" + str(i).encode(), "invalid JSON"),
        ("empty", "B1", M1, lambda i: b"", "invalid JSON"),
        ("missing ts", "B1", M1, lambda i: orjson.dumps({"value": i}), "ts: field required"),
        ("naive ts", "B1", M1, lambda i: orjson.dumps({"ts": "2026-02-01T10:00:00", "value": i}), "RFC 3339"),
        ("ts number", "B1", M1, lambda i: orjson.dumps({"ts": 1700000000 + i, "value": i}), "ts:"),
        ("value string", "B1", M1, lambda i: orjson.dumps({"ts": _ts(i), "value": str(i)}), "value:"),
        ("value bool", "B1", M1, lambda i: orjson.dumps({"ts": _ts(i), "value": True}), "value:"),
        ("value NaN", "B1", M1, lambda i: b'{"ts":"%s","value":NaN}' % _ts(i).encode(), "invalid JSON"),
        ("value missing", "B1", M1, lambda i: orjson.dumps({"ts": _ts(i)}), "value: field required"),
        ("unit volume", "B1", M1, lambda i: orjson.dumps({"ts": _ts(i), "value": 1, "unit": "m3"}),
         "cannot be converted"),
        ("unit unknown", "B1", M1, lambda i: orjson.dumps({"ts": _ts(i), "value": 1, "unit": "furlong"}),
         "unknown unit"),
        ("bad quality", "B1", M1, lambda i: orjson.dumps({"ts": _ts(i), "value": 1, "quality": "guessed"}),
         "quality"),
        ("oversize", "B1", M1, lambda i: orjson.dumps({"ts": _ts(i), "value": 1, "pad": "x" * 300_000}),
         "exceeds the limit"),
        ("other building", "B2", reading_topic("B2", "M1"),
         lambda i: orjson.dumps({"ts": _ts(i), "value": 1}), "registered in building 'B1'"),
        ("topic shape", "B1", f"{PREFIX}/buildings/B1/meters/M1/values",
         lambda i: orjson.dumps({"ts": _ts(i), "value": 1}), "topic"),
        ("array of numbers", "B1", M1, lambda i: orjson.dumps([i, i + 1]), "item"),
        ("json null", "B1", M1, lambda i: b"null", "must be an object"),
        ("future ts", "B1", M1, lambda i: orjson.dumps({"ts": future, "value": i}), "future"),
        ("wmbus no id", "B1", WMBUS, lambda i: orjson.dumps({"_": "telegram", "timestamp": _ts(i),
                                                             "total_energy_consumption_kwh": i}), "id"),
        ("wmbus no register", "B1", WMBUS, lambda i: orjson.dumps({"id": "67676767", "timestamp": _ts(i),
                                                                   "status": "OK"}), "no register field"),
        ("telemetry dim", "B1", LUM, lambda i: orjson.dumps({"ts": _ts(i), "dim_pct": 150}), "dim_pct"),
        ("mixed batch", "B1", M1,
         lambda i: orjson.dumps([{"ts": _ts(10_000 + 2 * i), "value": 5.0}, {"ts": _ts(10_001 + 2 * i)}]),
         "item 1: value"),
        # and every payload of the nasty corpus (tests/corpus.py)
        *[(name, "B1", {"meter": M1, "luminaire": LUM, "wmbus": WMBUS}[kind], lambda i, p=payload: p, expect)
          for name, kind, payload, expect in corpus()],
    ]


def test_thousand_malformed_payloads_are_dead_lettered_and_valid_traffic_continues(
    stack: Stack, db: Engine, workers: Workers
) -> None:
    add_building(db, "B1")
    add_building(db, "B2")
    add_meter(db, "M1", "B1")
    add_meter(db, "H1", "B1", unit="kWh", carrier="district_heating", external_id="67676767")
    with db.begin() as c:
        c.execute(text("INSERT INTO luminaires (id, building_id, technology, rated_power_w) "
                       "VALUES ('L1', 'B1', 'led', 18)"))
    sync_broker(stack)
    w = workers.start()
    pubs = {b: building_publisher(stack, b) for b in ("B1", "B2")}
    kinds = malformed_kinds()
    sent: list[tuple[str, bytes, str, str]] = []
    for i in range(1000):
        name, building, topic, make, expect = kinds[i % len(kinds)]
        payload = make(i)  # type: ignore[operator]
        pubs[building].publish(topic, payload)
        sent.append((topic, payload, name, expect))
    mixed = sum(1 for s in sent if s[2] == "mixed batch")
    valid = [orjson.dumps({"ts": _ts(50_000 + i), "value": float(i)}) for i in range(500)]
    for p in valid:
        pubs["B1"].publish(M1, p)
    for p in pubs.values():
        p.close()

    wait_for(lambda: scalar(db, "SELECT count(*) FROM dead_letters") == 1000, timeout=60, what="1000 dead letters")
    wait_for(lambda: scalar(db, "SELECT count(*) FROM readings") == 500 + mixed, what="valid readings stored")
    assert w.proc is not None and w.proc.poll() is None
    with db.connect() as c:
        rows = c.execute(text("SELECT topic, payload, reason FROM dead_letters")).all()
    stored = Counter((r[0], bytes(r[1])) for r in rows)
    assert stored == Counter((t, p) for t, p, _, _ in sent), "raw payloads must be kept byte for byte"
    reasons = {(r[0], bytes(r[1])): r[2] for r in rows}
    for topic, payload, name, expect in sent:
        reason = reasons[(topic, payload)]
        assert expect in reason, f"{name}: reason {reason!r} lacks {expect!r}"
    # the good half of each mixed batch is kept
    assert scalar(db, "SELECT count(*) FROM readings WHERE value = 5.0 AND ts < :t", t=_ts(50_000)) == mixed
    assert w.metric("energiblik_ingest_dead_lettered") == 1000
    assert w.stop() == 0


def test_a_message_the_database_rejects_is_dead_lettered_and_the_stream_goes_on(
    stack: Stack, db: Engine, workers: Workers
) -> None:
    add_building(db, "B1")
    add_meter(db, "M1", "B1")
    sync_broker(stack)
    # A real database-side rejection that validation cannot foresee: a trigger refusing one value.
    with db.begin() as c:
        c.execute(text("""
            CREATE FUNCTION test_refuse_666() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.value = 666 THEN RAISE EXCEPTION 'refused by test trigger'; END IF; RETURN NEW; END $$;
            CREATE TRIGGER test_refuse_666 BEFORE INSERT ON readings FOR EACH ROW EXECUTE FUNCTION test_refuse_666();
        """))
    try:
        w = workers.start()
        pub = building_publisher(stack, "B1")
        for i in range(100):
            pub.publish(M1, orjson.dumps({"ts": _ts(i * 60), "value": 666.0 if i == 40 else float(i)}))
        pub.close()
        wait_for(lambda: scalar(db, "SELECT count(*) FROM readings") == 99, what="99 stored")
        wait_for(lambda: scalar(db, "SELECT count(*) FROM dead_letters") == 1, what="1 dead letter")
        assert "refused by test trigger" in scalar(db, "SELECT reason FROM dead_letters")
        assert w.proc is not None and w.proc.poll() is None
        assert w.stop() == 0
    finally:
        with db.begin() as c:
            c.execute(text("DROP TRIGGER IF EXISTS test_refuse_666 ON readings; "
                           "DROP FUNCTION IF EXISTS test_refuse_666()"))
