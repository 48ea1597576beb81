"""Freshness over real HTTP: readings stored but not yet in the rollups are answered as pending (never as 0 kWh), with
the instant the figures are computed through; the rollup process's lag metric sees them; once it has run, the
numbers are right and nothing is pending."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import orjson
import psycopg
import pytest
from sqlalchemy import Engine, text

from services.consumption import repository as repo
from services.consumption.service import process_dirty
from services.db import libpq_dsn
from tests.integration.api_helpers import Api
from tests.integration.harness import (
    Workers,
    add_building,
    add_meter,
    building_publisher,
    free_port,
    reading_topic,
    scalar,
    sync_broker,
    wait_for,
)
from tests.stack import REPO, Stack

pytest_plugins = ["tests.integration.api_fixtures"]
CPH = ZoneInfo("Europe/Copenhagen")
LOCK_CLASS = 20261127  # services.consumption.repository.lock_meters


class RollupProcess:
    """`python -m ingest.rollups` with its metrics endpoint on a free port."""

    def __init__(self, stack: Stack, tmp: Path) -> None:
        self.port = free_port()
        self.log_path = tmp / "rollups.log"
        self.logf = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ingest.rollups"], cwd=REPO, stdout=self.logf, stderr=self.logf,
            env={**stack.env, "ENERGIBLIK_ROLLUPS__METRICS_PORT": str(self.port), "ENERGIBLIK_LOG_JSON": "false"})

    def get(self, path: str) -> httpx.Response | None:
        if self.proc.poll() is not None:
            raise AssertionError(f"rollup process exited: {self.log_path.read_text()[-3000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=5)
        except httpx.TransportError:
            return None

    def metrics(self) -> dict[str, float]:
        r = self.get("/metrics")
        if r is None:
            return {}
        return {line.split()[0]: float(line.split()[1]) for line in r.text.splitlines()
                if line.startswith("energiblik_rollup") and " " in line}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(timeout=30) == 0
        self.logf.close()


@pytest.fixture
def rollups(stack: Stack, tmp_path: Path) -> Iterator[list[RollupProcess]]:
    started: list[RollupProcess] = []
    yield started
    for p in started:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait()
        p.logf.close()


def _register(start: datetime, end: datetime, kw: float, step: timedelta = timedelta(minutes=15)
              ) -> list[dict[str, object]]:
    out, t = [], start
    while t <= end:
        out.append({"ts": t.isoformat(), "value": round((t - start).total_seconds() / 3600 * kw, 6)})
        t += step
    return out


def test_consumption_says_pending_until_the_rollups_are_computed(
    api: Api, admin: httpx.Client, stack: Stack, db: Engine, workers: Workers, rollups: list[RollupProcess],
    tmp_path: Path,
) -> None:
    add_building(db, "B1")
    add_meter(db, "EL", "B1")
    sync_broker(stack)
    workers.start()  # rollups are the separate process's job: ranges stay pending until it runs
    day0 = datetime(2026, 3, 28, tzinfo=CPH)
    pub = building_publisher(stack, "B1")
    pub.publish(reading_topic("B1", "EL"), orjson.dumps(_register(day0, day0 + timedelta(days=1), 2.0)))
    wait_for(lambda: scalar(db, "SELECT count(*) FROM readings") == 97, what="readings stored")
    params = {"building_id": "B1", "start": "2026-03-27", "end": "2026-03-30"}

    # stored, not computed: the day is pending with no amount, never 0 kWh; the days around are current
    body = admin.get("/api/v1/consumption", params=params).json()
    assert [(p["kwh"], p["pending"]) for p in body["series"]] == [(0.0, False), (None, True), (0.0, False)]
    assert "kwh" in body["series"][1] and "m3" not in body["series"][1]
    assert datetime.fromisoformat(body["computed_through"]) == day0  # the meter's first reading: nothing before
    meter = admin.get("/api/v1/meters/EL/consumption", params={"start": "2026-03-28", "end": "2026-03-29"}).json()
    assert meter["series"][0]["kwh"] is None and meter["series"][0]["pending"] is True
    assert meter["computed_through"] is not None
    csv_r = admin.get("/api/v1/consumption", params={**params, "format": "csv"})
    assert csv_r.text.splitlines()[:3] == [
        "start,end,kwh,coverage,estimated_share,pending",
        "2026-03-27T00:00:00+01:00,2026-03-28T00:00:00+01:00,0.0,0.0,0.0,false",
        "2026-03-28T00:00:00+01:00,2026-03-29T00:00:00+01:00,,0.0,0.0,true"]
    assert datetime.fromisoformat(csv_r.headers["x-energiblik-computed-through"]) == day0
    # a window the pending readings do not reach is current
    before = admin.get("/api/v1/consumption", params={**params, "end": "2026-03-28"}).json()
    assert before["computed_through"] is None and before["series"][0]["pending"] is False
    health = httpx.get(f"{api.base_url}/health").json()
    assert health["rollups"]["pending_ranges"] >= 1 and health["rollups"]["lag_s"] >= 0

    # the rollup process, held back by the meter's lock: its metrics show the backlog and its age
    key = scalar(db, "SELECT key FROM meters WHERE id = 'EL'")
    with psycopg.connect(libpq_dsn(stack.env["ENERGIBLIK_DB__URL"])) as blocker:
        blocker.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_CLASS, key])
        rp = RollupProcess(stack, tmp_path)
        rollups.append(rp)
        m = wait_for(lambda: rp.metrics().get("energiblik_rollup_lag_seconds", 0) > 0 and rp.metrics(),
                     timeout=30, what="a rollup lag above 0")
        assert m["energiblik_rollup_pending_ranges"] >= 1
        h = rp.get("/health")
        assert h is not None and h.status_code == 200 and h.json()["pending_ranges"] >= 1
        # still pending for the API while the recomputation waits for the lock
        assert admin.get("/api/v1/consumption", params=params).json()["series"][1]["pending"] is True
        blocker.rollback()  # releases the lock
    wait_for(lambda: rp.metrics().get("energiblik_rollup_pending_ranges") == 0, timeout=30, what="backlog drained")
    assert rp.metrics()["energiblik_rollup_lag_seconds"] == 0
    body = admin.get("/api/v1/consumption", params=params).json()
    assert body["computed_through"] is None
    assert [(p["kwh"], p["pending"]) for p in body["series"]] == [(0.0, False), (48.0, False), (0.0, False)]
    assert body["series"][1]["coverage"] == 1.0

    # a late, revised reading in the middle: only the hours between its neighbours are pending again
    rp.stop()
    revised = {"ts": (day0 + timedelta(hours=10, minutes=30)).isoformat(), "value": 21.5}  # was 21.0
    pub.publish(reading_topic("B1", "EL"), orjson.dumps([revised]))
    wait_for(lambda: scalar(db, "SELECT count(*) FROM reading_revisions") == 1, what="revision stored")
    hours = admin.get("/api/v1/consumption", params={"building_id": "B1", "start": "2026-03-28T09:00:00+01:00",
                                                     "end": "2026-03-28T12:00:00+01:00", "resolution": "hour"}).json()
    assert [(p["kwh"], p["pending"]) for p in hours["series"]] == [(2.0, False), (None, True), (2.0, False)]
    # the neighbour effect: the affected time starts at the reading before the revised one (10:15)
    assert datetime.fromisoformat(hours["computed_through"]) == day0 + timedelta(hours=10, minutes=15)
    pub.close()
    rp2 = RollupProcess(stack, tmp_path)
    rollups.append(rp2)
    wait_for(lambda: scalar(db, "SELECT count(*) FROM rollup_dirty") == 0, what="recomputed")
    hours = admin.get("/api/v1/consumption", params={"building_id": "B1", "start": "2026-03-28T09:00:00+01:00",
                                                     "end": "2026-03-28T12:00:00+01:00", "resolution": "hour"}).json()
    assert hours["computed_through"] is None
    assert [(p["kwh"], p["pending"]) for p in hours["series"]] == [(2.0, False), (2.0, False), (2.0, False)]
    assert [p["kwh"] for p in admin.get("/api/v1/consumption", params=params).json()["series"]] == [0.0, 48.0, 0.0]
    rp2.stop()


def test_progress_and_weather_corrected_say_pending(api: Api, admin: httpx.Client, stack: Stack, db: Engine) -> None:
    add_building(db, "B1")
    add_meter(db, "EL", "B1")
    start, end = datetime(2024, 12, 31, 23, tzinfo=UTC), datetime(2025, 12, 31, 23, tzinfo=UTC)
    with db.begin() as c:  # a year of hourly reads, stored the way ingest stores them: readings + their dirty range
        c.execute(text("INSERT INTO readings (meter_key, ts, value) SELECT m.key, g, "
                       "extract(epoch FROM g - CAST(:s AS timestamptz)) / 3600 FROM meters m, "
                       "generate_series(CAST(:s AS timestamptz), CAST(:e AS timestamptz), interval '1 hour') g "
                       "WHERE m.id = 'EL'"), {"s": start, "e": end})
        key = c.execute(text("SELECT key FROM meters WHERE id = 'EL'")).scalar_one()
        repo.mark_dirty(c.connection.driver_connection, [(key, start, end)])

    p = admin.get("/api/v1/progress", params={"year": 2025}).json()
    assert p["verdict"] == "uncertain"
    assert any("not yet computed" in r for r in p["uncertain_because"])
    assert datetime.fromisoformat(p["computed_through"]) == start
    assert p["pending_buildings"] == ["B1"] and p["buildings"][0]["pending"] is True
    wc = admin.get("/api/v1/weather-corrected", params={"building_id": "B1", "year": 2025}).json()
    assert wc["computed_through"] is not None and wc["years"][0]["pending"] is True
    assert all(m["pending"] and m["kwh"] is None for m in wc["years"][0]["months"])
    # another year's figures are not touched by these readings
    assert admin.get("/api/v1/weather-corrected", params={"building_id": "B1", "year": 2023}).json()[
        "computed_through"] is None

    with psycopg.connect(libpq_dsn(stack.env["ENERGIBLIK_DB__URL"])) as conn, conn.transaction():
        assert process_dirty(conn, CPH) == 1
    p = admin.get("/api/v1/progress", params={"year": 2025}).json()
    assert p["computed_through"] is None and p["pending_buildings"] == [] and p["buildings"][0]["pending"] is False
    assert not any("not yet computed" in r for r in p["uncertain_because"])
    assert p["actual_kwh"] == 8760.0
    wc = admin.get("/api/v1/weather-corrected", params={"building_id": "B1", "year": 2025}).json()
    assert wc["computed_through"] is None and wc["years"][0]["kwh"] == 8760.0
    assert wc["years"][0]["months"][0] == {**wc["years"][0]["months"][0], "kwh": 744.0, "pending": False}
