"""The 'eloverblik' source against the fake Eloverblik third-party API over real HTTP (simulators/fake_eloverblik.py)
and the real test stack: a municipality with only a refresh token and registered meters gets complete
/api/v1/consumption; a re-run changes nothing; a correction becomes a revision; 429/503/expired tokens are waited
out or end the run with a clear message and lose nothing; unknown GSRNs are listed; meters that cannot take the data
are item errors; a backfill goes back until the data ends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from services.config import EloverblikSettings, Settings, get_settings
from services.connectors import service
from services.connectors.eloverblik import EloverblikSource
from services.connectors.schemas import RunOut
from services.connectors.service import SyncOptions
from services.db import libpq_dsn
from simulators.fake_eloverblik import FakeMeteringPoint, FakeServer, FakeState
from tests.integration.api_helpers import building_body, put_ok
from tests.integration.harness import scalar
from tests.integration.test_coverage_cadences import settle

pytest_plugins = ["tests.integration.api_fixtures"]
CPH = ZoneInfo("Europe/Copenhagen")
NOW = datetime(2026, 4, 2, 10, 0, tzinfo=CPH).astimezone(UTC)  # today 2 April; 29 March has 23 hours
REFRESH = "refresh-token-of-ballerup-kommune"
CVR = "29189870"
A, B, G, C = "571313180100000001", "571313180100000002", "571313180100000003", "571313180100000004"


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    state = FakeState(REFRESH, now=lambda: NOW)
    with FakeServer(state) as server:
        yield server


@pytest.fixture
def sleeps() -> Iterator[list[float]]:
    waited: list[float] = []
    service.SOURCES["eloverblik"] = lambda s: EloverblikSource(s, sleep=waited.append)
    yield waited
    service.SOURCES["eloverblik"] = EloverblikSource


def settings_for(fake: FakeServer, **kw: Any) -> Settings:
    base = get_settings()
    elo = EloverblikSettings(**{"enabled": True, "base_url": fake.base_url, "refresh_token": SecretStr(REFRESH),
                                "backoff_s": 0.5, "max_attempts": 3, "chunk_days": 10, "correction_days": 7,
                                "first_sync_days": 31, **kw})
    return base.model_copy(update={"sync": base.sync.model_copy(update={"eloverblik": elo})})


def sync(settings: Settings, now: datetime = NOW, **opts: Any) -> RunOut:
    return service.run_source("eloverblik", settings=settings, trigger="cli", actor="test",
                              options=SyncOptions(**opts), now=now)


def register(admin: httpx.Client, meters: list[tuple[str, str, int, str, str]]) -> None:
    """(meter id, GSRN, interval_minutes, unit, mode) in building B1."""
    put_ok(admin, "/api/v1/buildings/B1", building_body())
    for mid, gsrn, minutes, unit, mode in meters:
        carrier = "water" if unit == "m3" else "electricity"
        put_ok(admin, f"/api/v1/meters/{mid}", {"building_id": "B1", "carrier": carrier, "unit": unit,
                                                "mode": mode, "interval_minutes": minutes, "external_id": gsrn})


def readings_of(db: Engine, meter: str) -> list[tuple[datetime, float, str, str]]:
    with db.connect() as c:
        return [tuple(r) for r in c.exec_driver_sql(  # type: ignore[misc]
            "SELECT r.ts, r.value, r.quality::text, r.source::text FROM readings r JOIN meters m ON m.key = "
            "r.meter_key WHERE m.id = %(m)s ORDER BY r.ts", {"m": meter})]


def cursor_of(db: Engine, gsrn: str) -> datetime | None:
    return scalar(db, "SELECT cursor FROM sync_cursors WHERE source = 'eloverblik' AND key = :k", k=gsrn)


def rollups() -> None:
    with psycopg.connect(libpq_dsn(get_settings().db.url)) as conn:
        settle(conn)


def day_bounds(d: date) -> tuple[datetime, datetime]:
    n = d + timedelta(days=1)
    return (datetime(d.year, d.month, d.day, tzinfo=CPH).astimezone(UTC),
            datetime(n.year, n.month, n.day, tzinfo=CPH).astimezone(UTC))


def truth_kwh(state: FakeState, gsrns: list[str], d: date) -> float:
    """What the fake serves for local day d: the native intervals ending in (start, end], summed."""
    points = state.points()
    total = 0.0
    start, end = day_bounds(d)
    for g in gsrns:
        mp = points[g]
        t = start + state.native_step(mp, start)
        while t <= end:
            qty, _ = state.native(mp, t)
            total += qty or 0.0
            t += state.native_step(mp, t)
    return total


def municipality(state: FakeState) -> None:
    state.add_authorization(CVR, [
        FakeMeteringPoint(A, "PT1H"),
        FakeMeteringPoint(B, "PT15M"),
        FakeMeteringPoint(G, "PT15M"),  # quarters served, the meter registered hourly: DataHub sums the hours
        FakeMeteringPoint(C, "PT1H", street="Baltorpvej", number="18"),  # no meter: listed, not dropped
    ])
    state.add_authorization("11111111", [FakeMeteringPoint("571313189999999999")], name="another customer")


def test_refresh_token_and_meters_give_complete_consumption_idempotent_reruns_and_revisions(
    fake: FakeServer, sleeps: list[float], admin: httpx.Client, db: Engine
) -> None:
    state = fake.state
    municipality(state)
    register(admin, [("EL-A", A, 60, "kWh", "interval"), ("EL-B", B, 15, "kWh", "interval"),
                     ("EL-G", G, 60, "kWh", "interval")])
    settings = settings_for(fake, cvr=CVR)

    run = sync(settings)
    assert run.status == "ok", run
    # 2 March .. 1 April local: 31 days, one of them 23 hours long -> 743 hours
    assert run.stored == 743 + 743 * 4 + 743 and run.duplicate == 0 and run.revised == 0 and run.rejected == 0
    assert run.detail["metering_points"] == 4 and run.detail["mapped"] == 3 and run.detail["unmapped"] == 1
    # 2 bundles (hours, quarters) x 4 windows of at most 10 days; one token for the whole run
    assert run.detail["token_calls"] == 1
    series_calls = [r for r in state.requests if "gettimeseries" in r["path"]]
    assert len(series_calls) == 8
    assert all((date.fromisoformat(r["date_to"]) - date.fromisoformat(r["date_from"])).days <= 10
               for r in series_calls)
    assert sorted({r["aggregation"] for r in series_calls}) == ["Hour", "Quarter"]

    a = readings_of(db, "EL-A")
    assert a[0][0] == datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # 01:00+01:00: the hour 00-01 local
    assert a[-1][0] == datetime(2026, 4, 1, 22, 0, tzinfo=UTC) == cursor_of(db, A)
    assert {(q, s) for _, _, q, s in a} == {("measured", "datahub")}
    assert len(readings_of(db, "EL-B")) == 743 * 4

    rollups()
    r = admin.get("/api/v1/consumption", params={"building_id": "B1", "start": "2026-03-02", "end": "2026-04-02"})
    assert r.status_code == 200, r.text
    days = r.json()["series"]
    assert len(days) == 31
    assert all(d["coverage"] == 1.0 and d["estimated_share"] == 0.0 for d in days)
    for d in days:
        local = date.fromisoformat(d["start"][:10])
        assert d["kwh"] == pytest.approx(truth_kwh(state, [A, B, G], local), abs=0.01), local
    dst = next(d for d in days if d["start"].startswith("2026-03-29"))
    assert dst["end"] == "2026-03-30T00:00:00+02:00"

    unmapped = admin.get("/api/v1/sync/unmapped").json()
    assert [(u["external_id"], u["detail"]["address"]) for u in unmapped] == [(C, "Baltorpvej 18, 2750 Ballerup")]
    assert unmapped[0]["detail"]["customer_cvr"] == CVR

    # the next night: the trailing 7 days again, all of them already stored
    rows = scalar(db, "SELECT count(*) FROM readings")
    again = sync(settings, now=NOW + timedelta(minutes=5))
    assert (again.status, again.stored, again.revised, again.rejected) == ("ok", 0, 0, 0), again
    assert again.duplicate == (7 * 24 - 1) * (1 + 4 + 1)  # 26 March .. 1 April, 29 March has 23 hours
    assert scalar(db, "SELECT count(*) FROM readings") == rows
    assert scalar(db, "SELECT count(*) FROM reading_revisions") == 0

    # DataHub publishes a correction for 30 March 12:00-13:00 local, and one quarter of B
    hour_end = datetime(2026, 3, 30, 13, tzinfo=CPH).astimezone(UTC)
    old = next(v for ts, v, _, _ in readings_of(db, "EL-A") if ts == hour_end)
    state.publish_correction(A, hour_end, 99.125)
    state.publish_correction(B, hour_end, 7.5, "A03")
    fixed = sync(settings, now=NOW + timedelta(minutes=10))
    assert (fixed.status, fixed.stored, fixed.revised) == ("ok", 0, 2), fixed
    assert (hour_end, 99.125, "measured", "datahub") in readings_of(db, "EL-A")
    assert (hour_end, 7.5, "estimated", "datahub") in readings_of(db, "EL-B")
    with db.connect() as c:
        revs = c.exec_driver_sql("SELECT old_value, new_value, source::text FROM reading_revisions "
                                 "ORDER BY new_value DESC").fetchall()
    assert len(revs) == 2 and tuple(revs[0]) == (old, 99.125, "datahub")
    assert scalar(db, "SELECT count(*) FROM readings") == rows
    assert sleeps == []


def test_rate_limits_and_outages_are_waited_out_or_end_the_run_losing_nothing(
    fake: FakeServer, sleeps: list[float], admin: httpx.Client, db: Engine
) -> None:
    state = fake.state
    municipality(state)
    register(admin, [("EL-A", A, 60, "kWh", "interval")])
    settings = settings_for(fake)

    # 429 twice with Retry-After: waited as asked, then everything arrives
    state.fail_next(429, times=2, retry_after=3)
    run = sync(settings)
    assert run.status == "ok" and run.stored == 743 and run.detail["retries"] == 2, run
    assert sleeps == [3.0, 3.0]

    # a clean slate for the next part: the first two of four windows arrive, then DataHub stays unavailable (503)
    with db.begin() as c:
        c.exec_driver_sql("TRUNCATE readings, sync_cursors")
    sleeps.clear()
    state.fail_next(503, times=100, after=4)  # authorizations, 2 x metering points, window 1 go through; then 503
    failed = sync(settings)
    assert failed.status == "failed", failed
    assert failed.message is not None and "503" in failed.message and "DataHub" in failed.message
    assert REFRESH not in failed.message
    assert sleeps == [0.5, 1.0]  # max_attempts 3: back-off 0.5 s, 1 s without Retry-After, then it gives up
    stored = readings_of(db, "EL-A")
    assert len(stored) == 10 * 24 and stored[-1][0] == cursor_of(db, A)  # the cursor never runs ahead of the data

    state.faults.clear()
    resumed = sync(settings)
    assert resumed.status == "ok" and resumed.stored == 743 - 240, resumed
    assert len(readings_of(db, "EL-A")) == 743

    # the data access token runs out in the middle of a run: a new one is fetched and the run goes on
    tokens = state.token_calls
    state.fail_next(401, after=2)
    renewed = sync(settings, since=date(2026, 3, 2))
    assert renewed.status == "ok" and renewed.detail["token_calls"] == 2, renewed
    assert state.token_calls == tokens + 2 and renewed.duplicate == 743

    # a refresh token Eloverblik refuses ends the run with what to do, never the token
    wrong = settings_for(fake, refresh_token=SecretStr("not-the-token"))
    refused = sync(wrong)
    assert refused.status == "failed" and refused.message is not None
    assert "refresh token was refused" in refused.message and "REFRESH_TOKEN" in refused.message
    assert "not-the-token" not in refused.message


def test_meters_that_cannot_take_the_data_are_item_errors_and_missing_hours_are_gaps(
    fake: FakeServer, sleeps: list[float], admin: httpx.Client, db: Engine
) -> None:
    state = fake.state
    quarters_wanted_of_hours = FakeMeteringPoint(G, "PT1H")
    gap = datetime(2026, 3, 31, 8, tzinfo=UTC)
    state.add_authorization(CVR, [
        FakeMeteringPoint(A, "PT1H", missing={gap}, estimated={gap + timedelta(hours=1)}),
        FakeMeteringPoint(B, "PT1H"),
        quarters_wanted_of_hours,
        FakeMeteringPoint(C, "PT1H"),
    ])
    register(admin, [("EL-A", A, 60, "kWh", "interval"), ("EL-B", B, 60, "kWh", "register"),
                     ("EL-G", G, 15, "kWh", "interval"), ("W-C", C, 60, "m3", "interval")])
    run = sync(settings_for(fake, chunk_days=31))
    assert run.status == "partial" and run.errors == 3, run
    errors = {e["item"]: e["error"] for e in run.detail["item_errors"]}
    assert "mode 'register'" in errors[B] and "mode 'interval'" in errors[B]
    assert "unit 'm3'" in errors[C]
    assert "30008" in errors[G] and "RequestedAggregationUnavaliable" in errors[G]
    a = readings_of(db, "EL-A")
    assert len(a) == 742 and gap not in {ts for ts, *_ in a}  # A02: no value, the hour stays uncovered
    assert (gap + timedelta(hours=1), "estimated") in {(ts, q) for ts, _, q, _ in a}
    assert run.detail["not_available"] == 1
    assert readings_of(db, "EL-B") == [] and readings_of(db, "EL-G") == []


def test_backfill_goes_back_until_the_data_ends_or_the_api_history_limit(
    fake: FakeServer, sleeps: list[float], admin: httpx.Client, db: Engine
) -> None:
    state = fake.state
    state.add_authorization(CVR, [FakeMeteringPoint(A, "PT1H", data_from=date(2025, 11, 15)),
                                  FakeMeteringPoint(B, "PT1H")])  # B: data since 2015
    register(admin, [("EL-A", A, 60, "kWh", "interval")])
    run = sync(settings_for(fake, chunk_days=62, history_years=1), backfill=True)
    assert run.status == "ok", run
    a = readings_of(db, "EL-A")
    assert a[0][0] == datetime(2025, 11, 15, 0, tzinfo=UTC)  # 01:00+01:00 on its first day
    assert a[-1][0] == datetime(2026, 4, 1, 22, tzinfo=UTC) == cursor_of(db, A)
    assert len(a) == (date(2026, 4, 2) - date(2025, 11, 15)).days * 24 - 1  # one 23-hour day
    windows = [(r["date_from"], r["date_to"]) for r in state.requests if "gettimeseries" in r["path"]]
    # backwards in 62-day steps; the step that returned nothing ends it
    assert windows == [("2026-01-30", "2026-04-02"), ("2025-11-29", "2026-01-30"), ("2025-09-28", "2025-11-29"),
                       ("2025-07-28", "2025-09-28")]

    # B registered later: its backfill stops at 1 January of the oldest year served (history_years=1), not at 2015
    register(admin, [("EL-B", B, 60, "kWh", "interval")])
    state.requests.clear()
    second = sync(settings_for(fake, chunk_days=62, history_years=1), backfill=True, items=[B])
    assert second.status == "ok", second
    b = readings_of(db, "EL-B")
    assert b[0][0] == datetime(2025, 1, 1, 0, tzinfo=UTC)
    firsts = [r["date_from"] for r in state.requests if "gettimeseries" in r["path"]]
    assert firsts[-1] == "2025-01-01" and all(f >= "2025-01-01" for f in firsts)


def test_a_backfill_that_ended_early_is_finished_by_the_next_run(
    fake: FakeServer, sleeps: list[float], admin: httpx.Client, db: Engine
) -> None:
    # the backfill goes back from today; DataHub stops answering half-way: the recent history is stored, the older
    # is not, and the nightly run (which only looks back correction_days) must not leave that hole silently
    state = fake.state
    state.add_authorization(CVR, [FakeMeteringPoint(A, "PT1H", data_from=date(2025, 11, 15))])
    register(admin, [("EL-A", A, 60, "kWh", "interval")])
    settings = settings_for(fake, chunk_days=31, history_years=1)
    state.fail_next(503, times=100, after=5)  # token, authorizations, metering points, 2 windows; then 503
    failed = sync(settings, backfill=True)
    assert failed.status == "failed", failed
    first_stored = readings_of(db, "EL-A")[0][0]
    assert first_stored > datetime(2025, 12, 1, tzinfo=UTC)  # only the latest windows arrived: a hole before

    state.faults.clear()
    nightly = sync(settings)  # a plain incremental run
    assert nightly.status == "ok", nightly
    assert nightly.detail["backfill_resumed"] == [A]
    a = readings_of(db, "EL-A")
    assert a[0][0] == datetime(2025, 11, 15, 0, tzinfo=UTC)  # the whole history, from its first hour
    assert len(a) == len({r[0] for r in a}) == (date(2026, 4, 2) - date(2025, 11, 15)).days * 24 - 1
    assert scalar(db, "SELECT count(*) FROM sync_cursors WHERE key LIKE 'backfill-pending:%'") == 0
    assert "backfill_resumed" not in sync(settings).detail  # done: the next night is an ordinary one


def test_the_simulated_estate_arrives_through_datahub_as_the_model_counts_it(
    fake: FakeServer, sleeps: list[float], db: Engine
) -> None:
    from services.db import get_engine
    from simulators import model
    from simulators.fake_eloverblik import STREET_LIGHTING, estate_points, register_estate_twins
    from simulators.history import register as register_fleet

    buildings = model.fleet(2, 2015)
    register_fleet(get_engine(), buildings)
    twins = register_estate_twins(2)
    points = list(estate_points(2))
    assert twins == len(points) >= 2
    fake.state.add_authorization(CVR, [mp for _, _, mp in points] + [STREET_LIGHTING])
    run = sync(settings_for(fake, first_sync_days=3))
    assert run.status == "ok" and run.detail["unmapped"] == 1, run
    assert run.stored == twins * (3 * 24)  # 30 March .. 1 April
    building_id, meter_id, _ = points[0]
    b = next(x for x in buildings if x.id == building_id)
    day = date(2026, 3, 31)
    truth = sum(use.get("electricity", 0.0) for _, use in model.day_use(b, day, 2015))
    start, end = day_bounds(day)
    got = sum(v for ts, v, _, _ in readings_of(db, f"{meter_id}-dh") if start < ts <= end)
    assert got == pytest.approx(truth, abs=0.02)  # DataHub's 3 decimals per hour
    assert scalar(db, "SELECT parent_meter_id FROM meters WHERE id = :m", m=f"{meter_id}-dh") == meter_id


def test_a_metering_point_that_moved_from_hours_to_quarters(
    fake: FakeServer, sleeps: list[float], admin: httpx.Client, db: Engine
) -> None:
    state = fake.state
    switch = date(2026, 3, 20)
    state.add_authorization(CVR, [FakeMeteringPoint(A, "PT15M", quarters_from=switch),
                                  FakeMeteringPoint(B, "PT15M", quarters_from=switch)])
    register(admin, [("EL-A", A, 60, "kWh", "interval"), ("EL-B", B, 15, "kWh", "interval")])
    run = sync(settings_for(fake, chunk_days=31))
    # registered hourly: every hour of the 31 days, DataHub's quarters summed into hours after the switch
    a = readings_of(db, "EL-A")
    assert len(a) == 743
    hour = datetime(2026, 3, 25, 9, tzinfo=UTC)
    quarters = [state.native(state.points()[A], hour - timedelta(minutes=15 * k))[0] or 0.0 for k in range(4)]
    assert next(v for ts, v, _, _ in a if ts == hour) == pytest.approx(sum(quarters), abs=0.001)
    # registered with 15 minutes: the quarters since the switch are stored, the hourly days before are an item error
    assert run.status == "partial" and run.errors == 1, run
    assert "PT1H" in run.detail["item_errors"][0]["error"] and run.detail["item_errors"][0]["item"] == B
    b = readings_of(db, "EL-B")
    first_quarter = datetime(2026, 3, 20, 0, 15, tzinfo=CPH).astimezone(UTC)
    assert b[0][0] == first_quarter and len(b) == (date(2026, 4, 2) - switch).days * 96 - 4


def test_requests_stay_within_the_documented_limits_the_fake_enforces(
    fake: FakeServer, sleeps: list[float], admin: httpx.Client, db: Engine
) -> None:
    state = fake.state
    gsrns = [f"5713131801000001{i:02d}" for i in range(12)]
    state.add_authorization(CVR, [FakeMeteringPoint(g, "PT1H") for g in gsrns])
    register(admin, [(f"EL-{i}", g, 60, "kWh", "interval") for i, g in enumerate(gsrns)])
    run = sync(settings_for(fake, first_sync_days=5))
    assert run.status == "ok" and run.stored == 12 * (5 * 24 - 1), run  # 28 March .. 1 April, one 23-hour day
    calls = [r for r in state.requests if "gettimeseries" in r["path"]]
    assert sorted(len(r["gsrns"]) for r in calls) == [2, 10]  # at most 10 metering points per request

    # the fake refuses what the API's limits forbid, so a client that broke them would fail here
    token = httpx.get(f"{fake.base_url}/api/token", headers={"Authorization": f"Bearer {REFRESH}"}).json()["result"]
    auth = {"Authorization": f"Bearer {token}"}
    body = {"meteringPoints": {"meteringPoint": gsrns[:11]}}
    r = httpx.post(f"{fake.base_url}/api/meterdata/gettimeseries/2026-03-01/2026-03-02/Hour", json=body, headers=auth)
    assert r.status_code == 400 and "10 metering points" in r.json()["detail"]
    body = {"meteringPoints": {"meteringPoint": gsrns[:1]}}
    r = httpx.post(f"{fake.base_url}/api/meterdata/gettimeseries/2024-01-01/2026-01-02/Hour", json=body, headers=auth)
    assert r.status_code == 400 and "730 days" in r.json()["detail"]
    r = httpx.post(f"{fake.base_url}/api/meterdata/gettimeseries/2026-04-01/2026-04-03/Hour", json=body, headers=auth)
    assert r.status_code == 400 and "30003" in r.json()["detail"]  # dateTo after today
    r = httpx.get(f"{fake.base_url}/api/authorization/authorizations", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
