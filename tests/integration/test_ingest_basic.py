"""MQTT -> worker -> TimescaleDB with the real broker and database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import Engine

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

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def _readings(n: int, start: datetime = T0, step_min: int = 15, base: float = 1000.0) -> list[dict[str, object]]:
    return [{"ts": (start + timedelta(minutes=step_min * i)).isoformat(), "value": base + i} for i in range(n)]


def test_same_1000_readings_twice_are_stored_once(stack: Stack, db: Engine, workers: Workers) -> None:
    add_building(db, "B1")
    add_meter(db, "M1", "B1")
    sync_broker(stack)
    w = workers.start()
    pub = building_publisher(stack, "B1")
    items = _readings(1000)
    for _ in range(2):
        for it in items:
            pub.publish(reading_topic("B1", "M1"), orjson.dumps(it))
    pub.close()
    wait_for(lambda: w.metric("energiblik_ingest_messages_received") >= 2000, what="2000 messages received")
    wait_for(lambda: w.metric("energiblik_ingest_readings_stored") + w.metric("energiblik_ingest_readings_duplicate")
             >= 2000, what="all readings processed")
    assert scalar(db, "SELECT count(*) FROM readings") == 1000
    assert scalar(db, "SELECT count(DISTINCT ts) FROM readings") == 1000
    assert scalar(db, "SELECT count(*) FROM reading_revisions") == 0
    assert w.metric("energiblik_ingest_readings_duplicate") == 1000
    assert scalar(db, "SELECT min(value) FROM readings") == 1000.0
    assert scalar(db, "SELECT max(value) FROM readings") == 1999.0
    assert w.stop() == 0


def test_batch_message_unit_conversion_and_revision(stack: Stack, db: Engine, workers: Workers) -> None:
    add_building(db, "B1")
    add_meter(db, "M1", "B1", unit="kWh")
    sync_broker(stack)
    w = workers.start()
    pub = building_publisher(stack, "B1")
    batch = [
        {"ts": "2026-03-29T01:00:00+01:00", "value": 1500.0, "unit": "Wh"},
        {"ts": "2026-03-29T03:00:00+02:00", "value": 2.0, "unit": "MWh", "quality": "estimated"},
        {"ts": "2026-03-29T04:00:00+02:00", "value": 36.0, "unit": "GJ"},
    ]
    pub.publish(reading_topic("B1", "M1"), orjson.dumps(batch))
    pub.publish(reading_topic("B1", "M1"), orjson.dumps({"ts": "2026-03-29T00:00:00Z", "value": 1.75}))
    pub.flush()
    wait_for(lambda: scalar(db, "SELECT count(*) FROM readings") == 3, what="3 readings")
    with db.connect() as c:
        from sqlalchemy import text

        rows = c.execute(text("SELECT ts, value, quality::text FROM readings ORDER BY ts")).all()
    assert [r[1] for r in rows] == [1.75, 2000.0, 10000.0]
    assert rows[0][0] == datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    assert rows[1][2] == "estimated"
    revision = scalar(db, "SELECT old_value || '->' || new_value FROM reading_revisions")
    assert revision == "1.5->1.75"
    pub.close()
    w.stop()


def test_luminaire_telemetry_and_wmbus(stack: Stack, db: Engine, workers: Workers) -> None:
    add_building(db, "B1")
    add_meter(db, "H1", "B1", unit="MWh", carrier="district_heating", external_id="67676767")
    from sqlalchemy import text

    with db.begin() as c:
        c.execute(text("INSERT INTO luminaires (id, building_id, technology, rated_power_w) "
                       "VALUES ('L1', 'B1', 'led', 18)"))
    sync_broker(stack)
    w = workers.start()
    pub = building_publisher(stack, "B1")
    pub.publish(f"{PREFIX}/buildings/B1/luminaires/L1/telemetry", orjson.dumps(
        [{"ts": "2026-11-26T10:15:00+01:00", "power_w": 18.5, "energy_wh": 123456.0, "dim_pct": 80, "on": True,
          "burn_hours": 1234.5, "failure": False},
         {"ts": "2026-11-26T10:30:00+01:00", "on": False}]))
    telegram = {"_": "telegram", "media": "heat", "meter": "kamheat", "name": "heat1", "id": "67676767",
                "total_energy_consumption_kwh": 44000, "total_volume_m3": 3.5, "t1_temperature_c": 70.1,
                "t2_temperature_c": 40.2, "timestamp": "2026-11-26T09:00:00Z"}
    pub.publish(f"{PREFIX}/buildings/B1/wmbus/heat1", orjson.dumps(telegram))
    pub.close()
    wait_for(lambda: scalar(db, "SELECT count(*) FROM luminaire_telemetry") == 2, what="telemetry")
    wait_for(lambda: scalar(db, "SELECT count(*) FROM readings") == 1, what="wmbus reading")
    assert scalar(db, "SELECT value FROM readings") == 44.0  # 44000 kWh on a MWh register
    assert scalar(db, "SELECT source::text FROM readings") == "wmbus"
    # flow and return temperatures kept for the district-heating cooling alert (same transaction as the reading)
    assert scalar(db, "SELECT flow_c || '/' || return_c FROM heat_telemetry") == "70.1/40.2"
    assert scalar(db, "SELECT dim_pct FROM luminaire_telemetry WHERE is_on") == 80.0
    w.stop()
