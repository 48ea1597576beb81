"""Rollups maintained by the ingest path: MQTT -> readings -> hourly and local-daily consumption, recomputed for
late readings, equal to a rebuild from the readings."""

from __future__ import annotations

import subprocess
import sys
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
from tests.stack import REPO, Stack

CPH = ZoneInfo("Europe/Copenhagen")


def daily(db: Engine) -> dict[date, tuple[float, float]]:
    with db.connect() as c:
        rows = c.execute(text("SELECT day, amount, measured_s FROM consumption_daily ORDER BY day")).all()
    return {r[0]: (round(r[1], 9), round(r[2], 3)) for r in rows}


def snapshot(db: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every rollup row, rounded: hourly, daily and monthly, and the gap and long steps."""
    out = {}
    with db.connect() as c:
        for table, at in (("consumption_hourly", "hour"), ("consumption_daily", "day"),
                          ("consumption_monthly", "month")):
            rows = c.execute(text(f"SELECT meter_key, {at}, amount, measured_s, estimated FROM {table} "
                                  f"ORDER BY meter_key, {at}")).all()
            out[table] = [(r[0], r[1], round(r[2], 9), round(r[3], 3), round(r[4], 9)) for r in rows]
        gaps = c.execute(text("SELECT meter_key, step_start, step_end, amount FROM consumption_gap_steps "
                              "ORDER BY meter_key, step_start")).all()
        out["consumption_gap_steps"] = [(r[0], r[1], r[2], round(r[3], 9)) for r in gaps]
        long = c.execute(text("SELECT meter_key, step_start, step_end, amount, interpolated, estimated "
                              "FROM consumption_long_steps ORDER BY meter_key, step_start")).all()
        out["consumption_long_steps"] = [(r[0], r[1], r[2], round(r[3], 9), r[4], r[5]) for r in long]
    return out


def test_dst_days_late_readings_and_rebuild(stack: Stack, db: Engine, workers: Workers) -> None:
    add_building(db, "B1")
    add_meter(db, "M1", "B1", unit="Wh")  # Wh register: amounts in kWh
    with db.begin() as c:
        c.execute(text("UPDATE meters SET interval_minutes = 15 WHERE id = 'M1'"))
    sync_broker(stack)
    w = workers.start(ENERGIBLIK_INGEST__ROLLUPS="true")
    start = datetime(2026, 3, 28, tzinfo=CPH).astimezone(UTC)
    end = datetime(2026, 3, 31, tzinfo=CPH).astimezone(UTC)
    # 15-minute register readings of a steady 1 kW load, except the local midnight before 30 March, sent late
    late_ts = datetime(2026, 3, 30, tzinfo=CPH).astimezone(UTC)
    readings, late = [], []
    t = start
    while t <= end:
        item = {"ts": t.isoformat(), "value": (t - start).total_seconds() / 3600 * 1000.0}
        (late if t == late_ts else readings).append(item)
        t += timedelta(minutes=15)
    pub = building_publisher(stack, "B1")
    for i in range(0, len(readings), 50):
        pub.publish(reading_topic("B1", "M1"), orjson.dumps(readings[i:i + 50]))
    pub.flush()
    expect_days = {date(2026, 3, 28): 24.0, date(2026, 3, 29): 23.0, date(2026, 3, 30): 24.0}
    wait_for(lambda: {d: v[0] for d, v in daily(db).items()} == expect_days, timeout=60, what="daily rollups")
    # the missing midnight reading: the two half-hours around it are interpolated, so coverage is below 1
    assert daily(db)[date(2026, 3, 29)][1] == 23 * 3600 - 900
    assert daily(db)[date(2026, 3, 30)][1] == 24 * 3600 - 900
    pub.publish(reading_topic("B1", "M1"), orjson.dumps(late))  # arrives days late
    pub.close()
    wait_for(lambda: daily(db)[date(2026, 3, 30)][1] == 24 * 3600, timeout=60, what="late reading recomputed")
    assert daily(db)[date(2026, 3, 29)] == (23.0, 23 * 3600)
    with db.connect() as c:
        hourly_sum = c.execute(text("SELECT sum(amount) FROM consumption_hourly")).scalar()
        hours_29 = c.execute(text("SELECT count(*) FROM consumption_hourly WHERE hour >= :a AND hour < :b"),
                             {"a": datetime(2026, 3, 29, tzinfo=CPH), "b": datetime(2026, 3, 30, tzinfo=CPH)}).scalar()
    assert round(hourly_sum, 9) == 71.0
    assert hours_29 == 23
    with db.connect() as c:
        months = c.execute(text("SELECT month, amount, measured_s FROM consumption_monthly")).all()
    assert [(m, round(a, 9)) for m, a, _ in months] == [(date(2026, 3, 1), 71.0)]
    assert months[0][2] == 71 * 3600
    before = snapshot(db)
    w.stop()
    with db.begin() as c:  # damage the derived data: the rebuild must restore it from the readings alone
        c.execute(text("DELETE FROM consumption_monthly"))
        c.execute(text("UPDATE consumption_daily SET amount = amount + 1"))
        c.execute(text("DELETE FROM consumption_hourly WHERE hour < :t"), {"t": late_ts})
    subprocess.run([sys.executable, "-m", "services.cli", "rollups", "rebuild", "--jobs", "2"], cwd=REPO,
                   env=stack.env, check=True, stdout=subprocess.DEVNULL)
    assert snapshot(db) == before


def test_reset_decision_is_recorded(stack: Stack, db: Engine, workers: Workers) -> None:
    add_building(db, "B1")
    add_meter(db, "M1", "B1")
    sync_broker(stack)
    w = workers.start(ENERGIBLIK_INGEST__ROLLUPS="true")
    t = datetime(2026, 2, 2, tzinfo=CPH).astimezone(UTC)
    values = [1000.0, 1001.0, 1002.0, 3.0, 4.0]
    pub = building_publisher(stack, "B1")
    pub.publish(reading_topic("B1", "M1"), orjson.dumps(
        [{"ts": (t + timedelta(hours=i)).isoformat(), "value": v} for i, v in enumerate(values)]))
    pub.close()
    wait_for(lambda: daily(db).get(date(2026, 2, 2), (0, 0))[0] == 3.0, timeout=60, what="rollup with reset")
    with db.connect() as c:
        kinds = c.execute(text("SELECT kind, value, reference FROM consumption_decisions")).all()
    assert [tuple(k) for k in kinds] == [("reset", 3.0, 1002.0)]
    w.stop()


def test_revision_and_duplicate_recompute_exactly(stack: Stack, db: Engine, workers: Workers) -> None:
    add_building(db, "B1")
    add_meter(db, "M1", "B1")
    sync_broker(stack)
    w = workers.start(ENERGIBLIK_INGEST__ROLLUPS="true")
    t = datetime(2026, 2, 2, 22, tzinfo=CPH).astimezone(UTC)
    # hourly register readings across midnight: 22:00 100, 23:00 110, 00:00 120, 01:00 130
    items = [{"ts": (t + timedelta(hours=i)).isoformat(), "value": 100.0 + 10 * i} for i in range(4)]
    pub = building_publisher(stack, "B1")
    pub.publish(reading_topic("B1", "M1"), orjson.dumps(items))
    pub.flush()
    wait_for(lambda: {d: v[0] for d, v in daily(db).items()} == {date(2026, 2, 2): 20.0, date(2026, 2, 3): 10.0},
             timeout=60, what="initial rollups")
    # the midnight reading is corrected from 120 to 125, and the 01:00 reading is delivered again unchanged
    pub.publish(reading_topic("B1", "M1"), orjson.dumps([{"ts": items[2]["ts"], "value": 125.0}, items[3]]))
    pub.close()
    wait_for(lambda: {d: v[0] for d, v in daily(db).items()} == {date(2026, 2, 2): 25.0, date(2026, 2, 3): 5.0},
             timeout=60, what="rollups after the revision")
    with db.connect() as c:
        assert c.execute(text("SELECT old_value, new_value FROM reading_revisions")).all() == [(120.0, 125.0)]
        assert c.execute(text("SELECT count(*) FROM readings")).scalar() == 4
    w.stop()
