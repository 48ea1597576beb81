"""What a broker crash's lost readings do to consumption (docs/reliability.md, "Broker durability").

A `kill -9` of Mosquitto loses a few seconds of acknowledged readings (bench/broker_durability.py measures how many).
The readings are dropped here deterministically, not by killing the broker, because the claim is about the
consumption engine over a hole, and which readings a real kill loses depends on timing:

- a register meter's readings are cumulative: a lost reading only widens one step. A hole inside a day leaves the
  day's kWh exact (the step lies wholly inside it); the hours it crosses are apportioned and marked estimated.
  A hole across midnight apportions one step between the two days: their sum stays exact, both are marked.
- an interval meter (e.g. ev_charging) reports the energy of each interval: a lost reading is lost kWh.

Through the real pipeline: MQTT -> ingest worker -> TimescaleDB -> rollups.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Engine, text

from tests.integration.harness import (
    Workers,
    add_building,
    add_meter,
    building_publisher,
    reading_topic,
    sync_broker,
    wait_for,
)
from tests.stack import Stack

CPH = ZoneInfo("Europe/Copenhagen")
DAY1, DAY2 = date(2026, 5, 4), date(2026, 5, 5)
START = datetime(2026, 5, 4, tzinfo=CPH)
STEPS = 2 * 96  # two local days of 15-minute readings (no DST change), plus the closing midnight


def ts(k: int) -> datetime:
    return (START + timedelta(minutes=15 * k)).astimezone(UTC)


def use_kwh(k: int) -> float:
    """The energy of the 15 minutes ending at step k: a load that varies, in exact binary fractions."""
    return 1.0 + (k % 7) * 0.25


def register(k: int) -> float:
    return 1000.0 + sum(use_kwh(j) for j in range(1, k + 1))


def local_step(hour: int, minute: int, day: int = 0) -> int:
    return day * 96 + hour * 4 + minute // 15


# readings lost in the "crash": 10:00, 10:15, 10:30 on day 1 (inside the day), and 23:30 on day 1 to 00:15 on day 2
INSIDE = {local_step(10, 0), local_step(10, 15), local_step(10, 30)}
ACROSS = {local_step(23, 30), local_step(23, 45), local_step(0, 0, day=1), local_step(0, 15, day=1)}


def daily(db: Engine, meter: str) -> dict[date, tuple[float, float, float]]:
    with db.connect() as c:
        rows = c.execute(text("SELECT d.day, d.amount, d.measured_s, d.estimated FROM consumption_daily d "
                              "JOIN meters m ON m.key = d.meter_key WHERE m.id = :m ORDER BY d.day"), {"m": meter})
        return {r[0]: (round(r[1], 9), r[2], round(r[3], 9)) for r in rows}


def hourly(db: Engine, meter: str, day: date, hour: int) -> tuple[float, float]:
    at = datetime(day.year, day.month, day.day, hour, tzinfo=CPH)
    with db.connect() as c:
        r = c.execute(text("SELECT h.amount, h.measured_s FROM consumption_hourly h JOIN meters m "
                           "ON m.key = h.meter_key WHERE m.id = :m AND h.hour = :h"), {"m": meter, "h": at}).one()
    return round(r[0], 9), r[1]


def test_lost_readings_leave_register_days_exact_and_cost_interval_meters_their_kwh(
        stack: Stack, db: Engine, workers: Workers) -> None:
    add_building(db, "B1")
    add_meter(db, "R_INSIDE", "B1")
    add_meter(db, "R_ACROSS", "B1")
    with db.begin() as c:
        c.execute(text("UPDATE meters SET interval_minutes = 15 WHERE id IN ('R_INSIDE', 'R_ACROSS')"))
        c.execute(text("INSERT INTO meters (id, building_id, carrier, unit, mode, interval_minutes, parent_meter_id) "
                       "VALUES ('EV', 'B1', 'ev_charging', 'kWh', 'interval', 15, NULL)"))
    sync_broker(stack)
    workers.start(ENERGIBLIK_INGEST__ROLLUPS="true")

    pub = building_publisher(stack, "B1")
    sent: list[tuple[str, set[int], Callable[[int], float]]] = [
        ("R_INSIDE", INSIDE, register), ("R_ACROSS", ACROSS, register), ("EV", INSIDE, use_kwh)]
    for meter, lost, value in sent:
        rows = [{"ts": ts(k).isoformat(), "value": value(k)} for k in range(STEPS + 1) if k not in lost]
        for j in range(0, len(rows), 48):
            pub.publish(reading_topic("B1", meter), orjson.dumps(rows[j:j + 48]))
    pub.close()
    truth = {DAY1: register(96) - register(0), DAY2: register(192) - register(96)}
    day_s = 24 * 3600.0

    # Register meter, hole inside day 1: both days exact and fully measured (the widened step lies inside the day);
    # the hours the step crosses are apportioned, marked estimated, and still add up.
    wait_for(lambda: set(daily(db, "R_INSIDE")) >= {DAY1, DAY2}, timeout=60, what="R_INSIDE rollups")
    d = daily(db, "R_INSIDE")
    assert d[DAY1][0] == truth[DAY1] and d[DAY2][0] == truth[DAY2]
    assert d[DAY1][1] == day_s
    amount_10, measured_10 = hourly(db, "R_INSIDE", DAY1, 10)
    assert measured_10 < 3600, "an hour inside the hole is marked estimated"
    assert amount_10 != sum(use_kwh(local_step(10, m) + 1) for m in (0, 15, 30, 45)), \
        "apportioned linearly, not the true profile"

    # Register meter, hole across midnight: the step crossing midnight is split between the days, so each day is an
    # estimate marked in its coverage, and the two days together are exact.
    wait_for(lambda: set(daily(db, "R_ACROSS")) >= {DAY1, DAY2}, timeout=60, what="R_ACROSS rollups")
    d = daily(db, "R_ACROSS")
    assert round(d[DAY1][0] + d[DAY2][0], 9) == round(truth[DAY1] + truth[DAY2], 9)
    assert d[DAY1][1] < day_s and d[DAY2][1] < day_s
    assert d[DAY1][2] > 0 and d[DAY2][2] > 0

    # Interval meter: each reading is its interval's energy; the three lost readings are lost kWh.
    wait_for(lambda: set(daily(db, "EV")) >= {DAY1}, timeout=60, what="EV rollups")
    ev_truth = sum(use_kwh(k) for k in range(1, 97))
    ev_lost = sum(use_kwh(k) for k in INSIDE)
    assert daily(db, "EV")[DAY1][0] == round(ev_truth - ev_lost, 9)
