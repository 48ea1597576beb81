"""Coverage for reading cadences end to end (issue 12): readings through the ingest pipeline (the same decoding,
validation and storage as MQTT messages), the incremental rollups (dirty ranges -> process_dirty), then
/api/v1/consumption and /api/v1/progress over HTTP; the rollups equal a rebuild from the readings.

Hand computation (docs/semantics.md, "Coverage"; the unit matrix in tests/unit/test_coverage_matrix.py):
- monthly reads on local month boundaries: every month and the year measured (coverage 1, estimated 0);
- monthly reads on the 15th: every month holds two parts of month-long gaps crossing its edges (coverage 0); the year
  2025 holds the 11 steps 15 Jan .. 15 Dec whole: 365 - 14 - 17 = 334 of 365 days measured;
- daily reads at 06:00 with interval_minutes 1440 registered: measured; without: days estimated, November 696/720 h;
- a meter replaced at local midnight 15 June: each counts only in its active span, so June's coverage is 1.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import psycopg
from sqlalchemy import Engine, text

from services.config import get_settings
from services.consumption.service import process_dirty
from services.db import libpq_dsn
from services.ingestion.schemas import RawMessage
from services.ingestion.service import IngestPipeline
from tests.integration.api_helpers import building_body, meter_body, put_ok
from tests.integration.harness import reading_topic
from tests.integration.test_consumption_rollups import snapshot
from tests.stack import REPO, Stack

pytest_plugins = ["tests.integration.api_fixtures"]
CPH = ZoneInfo("Europe/Copenhagen")


def local(y: int, m: int, d: int, hh: int = 0) -> datetime:
    return datetime(y, m, d, hh, tzinfo=CPH)


def reads(points: list[tuple[datetime, float]]) -> list[dict[str, Any]]:
    return [{"ts": t.isoformat(), "value": round(v, 6)} for t, v in points]


def steady(times: list[datetime], kw: float = 1.0) -> list[dict[str, Any]]:
    """A constant load: real elapsed time (UTC: datetimes sharing a tzinfo subtract as wall clocks)."""
    t0 = times[0].astimezone(UTC)
    return reads([(t, kw * (t.astimezone(UTC) - t0).total_seconds() / 3600) for t in times])


def days(first: date, last: date, hh: int = 0) -> list[datetime]:
    return [local(d.year, d.month, d.day, hh) for d in
            (first + timedelta(days=i) for i in range((last - first).days + 1))]


def ingest(stack: Stack, messages: list[tuple[str, str, list[dict[str, Any]]]]) -> None:
    """Store the messages through the ingest pipeline (recording dirty ranges), then run the rollup process's step
    until nothing is pending."""
    pipeline = IngestPipeline.from_settings(get_settings())
    with psycopg.connect(libpq_dsn(stack.db_url)) as conn:
        with conn.transaction():
            stats = pipeline.handle_batch(conn, [
                RawMessage(reading_topic(b, m), orjson.dumps(items), datetime.now(UTC)) for b, m, items in messages])
        assert stats.dead_lettered == 0 and stats.quarantined == 0, stats
        settle(conn)


def settle(conn: psycopg.Connection[Any]) -> None:
    while True:
        with conn.transaction():
            if process_dirty(conn, CPH) == 0:
                return


def series(admin: httpx.Client, building: str, start: str, end: str, resolution: str) -> list[tuple[float, ...]]:
    r = admin.get("/api/v1/consumption", params={"building_id": building, "start": start, "end": end,
                                                 "resolution": resolution})
    assert r.status_code == 200, r.text
    return [(p["kwh"], p["coverage"], p["estimated_share"]) for p in r.json()["series"]]


def baseline(admin: httpx.Client, building: str, carrier: str) -> None:
    body = "building_id,carrier,month,kwh,source\n" + "".join(
        f"{building},{carrier},2015-{m:02d},1000,invoice 2015\n" for m in range(1, 13))
    r = admin.post("/api/v1/imports/baseline", content=body.encode(), headers={"Content-Type": "text/csv"})
    assert r.status_code == 200 and r.json()["accepted"] == 12, r.text


def rebuild_equals_incremental(stack: Stack, db: Engine, *, gap_steps: bool) -> None:
    before = snapshot(db)
    assert bool(before["consumption_gap_steps"]) == gap_steps
    with db.begin() as c:  # damage the derived data: the rebuild restores it from the readings alone
        c.execute(text("DELETE FROM consumption_gap_steps"))
        c.execute(text("UPDATE consumption_monthly SET measured_s = 0"))
    subprocess.run([sys.executable, "-m", "services.cli", "rollups", "rebuild"], cwd=REPO, env=stack.env, check=True,
                   stdout=subprocess.DEVNULL)
    assert snapshot(db) == before


def test_monthly_daily_and_mid_month_cadences(admin: httpx.Client, stack: Stack, db: Engine) -> None:
    for bid in ("MB", "MM", "D6", "DX"):
        put_ok(admin, f"/api/v1/buildings/{bid}", building_body(name=bid))
    put_ok(admin, "/api/v1/meters/MB-EL", meter_body("MB"))
    put_ok(admin, "/api/v1/meters/MM-EL", meter_body("MM"))
    put_ok(admin, "/api/v1/meters/D6-EL", meter_body("D6", interval_minutes=1440))  # read daily: say so
    put_ok(admin, "/api/v1/meters/DX-EL", meter_body("DX"))  # read daily too, but nothing registered
    # MB: read at local midnight on the 1st, 1 Jan 2025 .. 1 Jan 2026; month m uses 100 x m kWh
    mb = [(local(2025 + (m == 13), (m - 1) % 12 + 1, 1), 100.0 * (m - 1) * m / 2) for m in range(1, 14)]
    # MM: 1 kW read at local midnight on the 15th, 15 Dec 2024 .. 15 Jan 2026; the 15 June read comes late
    mm = steady([local(2024 + (k > 0) + (k == 13), (11 + k) % 12 + 1, 15) for k in range(14)])
    late = [r for r in mm if r["ts"] == local(2025, 6, 15).isoformat()]
    # D6 and DX: 1 kW read at 06:00 from 31 Oct to 1 Dec 2025
    d6 = steady(days(date(2025, 10, 31), date(2025, 12, 1), hh=6))
    ingest(stack, [("MB", "MB-EL", reads(mb)), ("MM", "MM-EL", [r for r in mm if r not in late]),
                   ("D6", "D6-EL", d6), ("DX", "DX-EL", d6)])
    ingest(stack, [("MM", "MM-EL", late)])  # recomputes the steps around it: the rollups must not notice

    # monthly on boundaries: every month and the year measured; a day is a part of a month-long gap
    assert series(admin, "MB", "2025-01-01", "2026-01-01", "month") == [(100.0 * m, 1.0, 0.0) for m in range(1, 13)]
    assert series(admin, "MB", "2025-01-01", "2026-01-01", "year") == [(7800.0, 1.0, 0.0)]
    assert series(admin, "MB", "2025-01-10", "2025-01-11", "day") == [(round(100 * 24 / 744, 6), 0.0, 1.0)]
    # an hour too: the month-long step is kept whole and apportioned to the hours asked for
    assert series(admin, "MB", "2025-01-10T12:00:00+01:00", "2025-01-10T14:00:00+01:00", "hour") == [
        (round(100 / 744, 6), 0.0, 1.0)] * 2
    baseline(admin, "MB", "electricity")
    p = admin.get("/api/v1/progress", params={"year": 2025, "building_id": "MB"}).json()
    assert p["coverage"] == 1.0 and p["coverage_detail"] == {"baseline": 1.0, "year": 1.0}
    # 12,000 kWh in 2015, 7,800 in 2025: 35 % less, on track for 15 %, and nothing uncertain
    assert p["reduction_pct"] == 35.0 and p["verdict"] == "on_track" and p["uncertain_because"] == []
    assert p["estimated_share"] == 0.0  # every step lies inside its month: nothing estimated

    # monthly mid-month: months estimated; the year measured but for 1-15 January and 15-31 December
    months = series(admin, "MM", "2025-01-01", "2026-01-01", "month")
    assert [(c, e) for _, c, e in months] == [(0.0, 1.0)] * 12
    assert months[2][0] == 743.0  # March: 31 x 24 - 1 h at 1 kW
    assert series(admin, "MM", "2025-01-01", "2026-01-01", "year") == [
        (8760.0, round(8016 / 8760, 6), round(744 / 8760, 6))]  # (365 - 31) x 24 h measured
    baseline(admin, "MM", "electricity")
    p = admin.get("/api/v1/progress", params={"year": 2025, "building_id": "MM"}).json()
    assert p["coverage_detail"] == {"baseline": 1.0, "year": round(334 / 365, 4)}
    assert p["verdict"] == "uncertain" and p["uncertain_because"] == ["coverage 92% is below 95%"]
    # every other figure of the year says the same (it used to count months with any data: 12 of 12)
    q = {"year": 2025, "building_id": "MM"}
    assert admin.get("/api/v1/co2", params=q).json()["coverage"] == round(334 / 365, 4)
    assert admin.get("/api/v1/labels", params=q).json()["buildings"][0]["coverage"] == round(334 / 365, 4)
    assert admin.get("/api/v1/green-accounts", params=q).json()["totals"]["coverage"] == round(334 / 365, 4)
    # and the estimated share: 744 of 8,760 kWh (the parts of the two steps across the year's edges), everywhere
    est = round(744 / 8760, 4)
    assert p["estimated_share_detail"] == {"baseline": 0.0, "year": est} and p["estimated_share"] == est
    assert admin.get("/api/v1/co2", params=q).json()["estimated_share"] == est
    assert admin.get("/api/v1/labels", params=q).json()["buildings"][0]["estimated_share"] == est
    ga = admin.get("/api/v1/green-accounts", params=q).json()
    assert ga["totals"]["estimated_share"] == est and ga["rows"][0]["estimated_share"] == est
    # and a month alone is estimated on the dashboard's monthly view as on /consumption
    wc = admin.get("/api/v1/weather-corrected", params={"building_id": "MM", "year": 2025}).json()
    assert [m["coverage"] for m in wc["years"][0]["months"]] == [0.0] * 12

    # daily at 06:00: measured with the interval registered; without it each day is two estimated parts
    assert series(admin, "D6", "2025-11-10", "2025-11-12", "day") == [(24.0, 1.0, 0.0)] * 2
    assert series(admin, "D6", "2025-11-01", "2025-12-01", "month") == [(720.0, 1.0, 0.0)]
    assert series(admin, "D6", "2025-11-10T05:00:00+01:00", "2025-11-10T07:00:00+01:00", "hour") == [
        (1.0, 1.0, 0.0)] * 2  # 05-06 from the step ending 06:00, 06-07 from the one starting then: both normal
    assert series(admin, "DX", "2025-11-10T05:00:00+01:00", "2025-11-10T07:00:00+01:00", "hour") == [
        (1.0, 0.0, 1.0)] * 2
    assert series(admin, "DX", "2025-11-10", "2025-11-12", "day") == [(24.0, 0.0, 1.0)] * 2
    # November: the 29 steps 1 Nov 06:00 .. 30 Nov 06:00 inside it, 6 h + 18 h of the two steps across its edges not
    assert series(admin, "DX", "2025-11-01", "2025-12-01", "month") == [(720.0, round(696 / 720, 6),
                                                                        round(24 / 720, 6))]
    # week Mon 10 - Mon 17 November: 6 steps inside (144 h of 168)
    assert series(admin, "DX", "2025-11-10", "2025-11-17", "week") == [(168.0, round(144 / 168, 6),
                                                                       round(24 / 168, 6))]
    rebuild_equals_incremental(stack, db, gap_steps=True)


def test_replaced_meter_counts_in_its_active_span(admin: httpx.Client, stack: Stack, db: Engine) -> None:
    put_ok(admin, "/api/v1/buildings/RG", building_body(name="RG", heating="natural_gas"))
    put_ok(admin, "/api/v1/meters/G1", meter_body("RG", carrier="natural_gas"))  # kWh register
    put_ok(admin, "/api/v1/meters/G2", meter_body("RG", carrier="natural_gas"))
    # G1: 10 kWh a day, read at local midnight through 2025 (read on after its removal: that must not count);
    # G2: 1 kW read every 15 minutes from 15 June (installed) to 1 January
    g1 = reads([(t, 10.0 * i) for i, t in enumerate(days(date(2025, 1, 1), date(2026, 1, 1)))])
    g2_times, t = [], local(2025, 6, 15).astimezone(UTC)
    while t <= local(2026, 1, 1).astimezone(UTC):
        g2_times.append(t.astimezone(CPH))
        t += timedelta(minutes=15)
    g2 = steady(g2_times)
    ingest(stack, [("RG", "G1", g1)] + [("RG", "G2", g2[i:i + 2000]) for i in range(0, len(g2), 2000)])
    # without a lifecycle June counts G1 whole and G2 from the 15th against two meters' time: (30 + 16) / 60 days
    assert series(admin, "RG", "2025-06-01", "2025-07-01", "month") == [(300.0 + 16 * 24, round(46 / 60, 6), 0.0)]

    # the replacement through the registry API (docs/meter-lifecycle.md): G2 installed at local midnight 15 June,
    # G1 replaced by it (its active_to taken from G2's active_from); the registry marks the rollups dirty over the
    # time whose counting changed, and the rollup process recomputes them
    put_ok(admin, "/api/v1/meters/G2", meter_body("RG", carrier="natural_gas", active_from="2025-06-15"))
    g1_now = put_ok(admin, "/api/v1/meters/G1", meter_body("RG", carrier="natural_gas", replaced_by="G2"))
    assert g1_now["active_to"] == "2025-06-15T00:00:00+02:00"
    with psycopg.connect(libpq_dsn(stack.db_url)) as conn:
        settle(conn)
    # June: G1's 14 days (140 kWh) and G2's 16 (384 kWh), each measured over its own active time: coverage 1
    assert series(admin, "RG", "2025-06-01", "2025-07-01", "month") == [(140.0 + 16 * 24, 1.0, 0.0)]
    assert series(admin, "RG", "2025-06-14", "2025-06-16", "day") == [(10.0, 1.0, 0.0), (24.0, 1.0, 0.0)]
    year = series(admin, "RG", "2025-01-01", "2026-01-01", "year")
    assert year == [(10.0 * 165 + (200 * 24 + 1) * 1.0, 1.0, 0.0)]  # G2's half year has October's extra hour
    baseline(admin, "RG", "natural_gas")
    gd = "month,degree_days,source\n" + "".join(f"{y}-{m:02d},300,DMI test\n" for y in (2015, 2025)
                                                for m in range(1, 13))
    assert admin.post("/api/v1/imports/degree-days", content=gd.encode(),
                      headers={"Content-Type": "text/csv"}).json()["accepted"] == 24
    p = admin.get("/api/v1/progress", params={"year": 2025, "building_id": "RG"}).json()
    assert p["coverage"] == 1.0 and p["actual_kwh"] == 10.0 * 165 + 200 * 24 + 1
    assert not any("coverage" in r for r in p["uncertain_because"])
    rebuild_equals_incremental(stack, db, gap_steps=False)  # daily reads at midnight and 15-minute reads: no gaps
