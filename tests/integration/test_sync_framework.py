"""The connector framework against the real test stack: what a source delivers goes through the ingest pipeline
(stored with its source, duplicates, revisions, dead letters), cursors move only with stored data, unmapped ids are
listed until a meter claims them, one bad item makes a run 'partial', a run-ending failure 'failed' with its message,
one run per source at a time, a dry run stores nothing, and the status is served over HTTP to portfolio roles only.

The source here is a small in-process one whose items the test hands it; the real sources (Eloverblik, utility
exports, DMI, Energi Data Service) are tested against their fake servers in their own modules."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
from sqlalchemy import Engine

from services.config import get_settings
from services.connectors import service
from services.connectors.service import AlreadyRunning, SourceError, SyncContext, SyncOptions, daily_at, every
from services.db import libpq_dsn
from tests.integration.api_helpers import make_token
from tests.integration.harness import add_building, scalar

pytest_plugins = ["tests.integration.api_fixtures"]
CPH = ZoneInfo("Europe/Copenhagen")
T0 = datetime(2026, 10, 1, tzinfo=UTC)


@dataclass
class ListSource:
    """Delivers `points` (external id -> [(ts, kWh, quality)]) as interval readings; `fail` makes the run end."""

    points: dict[str, list[tuple[datetime, float, str]]] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)
    fail: Exception | None = None
    missing: str | None = None
    name: str = "testsource"

    def problem(self, settings: Any) -> str | None:
        return self.missing

    def next_run(self, last_started: datetime | None, now: datetime, tz: ZoneInfo) -> datetime:
        return every(last_started, 3600, now)

    def run(self, ctx: SyncContext) -> None:
        meters = ctx.meters_by_external_id()
        ctx.progress(total=len(self.points))
        for ext, rows in self.points.items():
            ctx.progress(advance=1)
            if ext in self.broken:
                ctx.item_error(ext, "the source answered nonsense for this metering point")
                continue
            meter = meters.get(ext)
            if meter is None:
                ctx.unmapped(ext, {"address": "Testvej 1"})
                continue
            readings = [{"ts": ts.isoformat(), "value": v, "unit": "kWh", "quality": q} for ts, v, q in rows]
            last = max(ts for ts, _, _ in rows)
            ctx.store_readings(meter, readings, source="datahub", cursor=(ext, last))
        if self.fail is not None:
            raise self.fail


@pytest.fixture
def source(db: Engine) -> Iterator[ListSource]:
    src = ListSource()
    service.SOURCES["testsource"] = lambda settings: src
    add_building(db, "b1")
    with db.begin() as c:
        c.exec_driver_sql("INSERT INTO meters (id, building_id, carrier, unit, mode, interval_minutes, external_id) "
                          "VALUES ('el1', 'b1', 'electricity', 'kWh', 'interval', 60, '571313100000000001')")
    yield src
    service.SOURCES.pop("testsource", None)


def hours(n: int, kwh: float = 2.0, start: datetime = T0) -> list[tuple[datetime, float, str]]:
    return [(start + timedelta(hours=i + 1), kwh, "measured") for i in range(n)]


def run(**kw: Any) -> service.RunOut:
    return service.run_source("testsource", settings=get_settings(), trigger="cli", actor="test", **kw)


def test_readings_go_through_the_pipeline_idempotently_with_revisions(source: ListSource, db: Engine) -> None:
    source.points = {"571313100000000001": hours(24)}
    first = run()
    assert (first.status, first.stored, first.duplicate, first.revised, first.rejected) == ("ok", 24, 0, 0, 0)
    assert scalar(db, "SELECT count(*) FROM readings WHERE source = 'datahub'") == 24
    assert scalar(db, "SELECT cursor FROM sync_cursors WHERE source = 'testsource'") == T0 + timedelta(hours=24)
    assert scalar(db, "SELECT count(*) FROM rollup_dirty") > 0  # the rollups learn of it like MQTT readings

    again = run()  # a re-run changes nothing
    assert (again.status, again.stored, again.duplicate, again.revised) == ("ok", 0, 24, 0)
    assert scalar(db, "SELECT count(*) FROM readings") == 24

    corrected = hours(24)
    corrected[5] = (corrected[5][0], 3.5, "estimated")  # a correction published later
    source.points = {"571313100000000001": corrected}
    third = run()
    assert (third.stored, third.duplicate, third.revised) == (0, 23, 1)
    assert scalar(db, "SELECT new_value FROM reading_revisions") == 3.5
    assert scalar(db, "SELECT quality::text FROM readings WHERE ts = :ts", ts=corrected[5][0]) == "estimated"

    confirmed = list(corrected)
    confirmed[5] = (corrected[5][0], 3.5, "measured")  # the estimate confirmed: same value, now measured
    source.points = {"571313100000000001": confirmed}
    fourth = run()
    assert (fourth.stored, fourth.duplicate, fourth.revised) == (0, 23, 1)
    assert scalar(db, "SELECT quality::text FROM readings WHERE ts = :ts", ts=corrected[5][0]) == "measured"
    assert scalar(db, "SELECT count(*) FROM reading_revisions WHERE old_quality = 'estimated' "
                      "AND new_quality = 'measured'") == 1


def test_large_deliveries_are_cut_into_messages_that_fit_the_pipeline(source: ListSource, db: Engine) -> None:
    # 12,000 quarter-hours: more readings than one message may hold (10,000) and far more bytes (256 KiB)
    start = T0 - timedelta(days=200)
    source.points = {"571313100000000001": [(start + timedelta(minutes=15 * (i + 1)), 0.5, "measured")
                                            for i in range(12_000)]}
    out = run()
    assert (out.status, out.stored, out.rejected) == ("ok", 12_000, 0)
    assert scalar(db, "SELECT count(*) FROM dead_letters") == 0


def test_refused_rows_are_dead_lettered_and_the_run_is_partial(source: ListSource, db: Engine) -> None:
    rows = hours(4)
    rows[2] = (rows[2][0], -1.0, "measured")  # an interval meter cannot use a negative quantity
    source.points = {"571313100000000001": rows}
    out = run()
    assert (out.status, out.stored, out.rejected) == ("partial", 3, 1)
    reason = scalar(db, "SELECT reason FROM dead_letters")
    assert "negative" in reason


def test_unmapped_ids_are_listed_until_a_meter_claims_them(source: ListSource, db: Engine, admin: httpx.Client
                                                          ) -> None:
    source.points = {"571313100000000099": hours(2)}
    out = run()
    assert out.status == "ok" and out.stored == 0
    listed = admin.get("/api/v1/sync/unmapped").json()
    assert [(u["source"], u["external_id"], u["detail"]) for u in listed] == [
        ("testsource", "571313100000000099", {"address": "Testvej 1"})]
    with db.begin() as c:
        c.exec_driver_sql("INSERT INTO meters (id, building_id, carrier, unit, mode, interval_minutes, external_id) "
                          "VALUES ('el2', 'b1', 'electricity', 'kWh', 'interval', 60, '571313100000000099')")
    assert admin.get("/api/v1/sync/unmapped").json() == []
    assert run().stored == 2  # the next run stores its data


def test_item_errors_failures_and_problems_are_recorded(source: ListSource, db: Engine) -> None:
    source.points = {"571313100000000001": hours(2), "bad": hours(1)}
    source.broken = {"bad"}
    out = run()
    assert (out.status, out.errors, out.stored) == ("partial", 1, 2)
    assert out.detail["item_errors"] == [{"item": "bad", "error": "the source answered nonsense for this "
                                                                  "metering point"}]

    source.broken, source.fail = set(), SourceError("Eloverblik refused the refresh token (401): renew it")
    out = run()
    assert (out.status, out.message) == ("failed", "Eloverblik refused the refresh token (401): renew it")

    source.fail = KeyError("positions")  # a bug: the run ends failed, the process does not
    out = run()
    assert out.status == "failed" and out.message == "internal error: KeyError: 'positions'"

    source.fail, source.missing = None, "no refresh token: set ENERGIBLIK_SYNC__X__REFRESH_TOKEN"
    out = run()
    assert (out.status, out.message, out.stored) == ("failed", source.missing, 0)


def test_one_run_per_source_and_interrupted_runs_are_closed(source: ListSource, db: Engine) -> None:
    with psycopg.connect(libpq_dsn(get_settings().db.url), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtext('energiblik.sync.testsource'))")
        with pytest.raises(AlreadyRunning, match="already running"):
            run()
    with db.begin() as c:  # a run whose process died
        c.exec_driver_sql("INSERT INTO sync_runs (source, trigger, actor) VALUES ('testsource', 'schedule', 'x')")
    run()
    assert scalar(db, "SELECT message FROM sync_runs WHERE actor = 'x'").startswith("interrupted")


def test_dry_run_stores_nothing_but_counts(source: ListSource, db: Engine) -> None:
    rows = hours(3)
    rows[1] = (rows[1][0], -2.0, "measured")
    source.points = {"571313100000000001": rows, "571313100000000077": hours(1)}
    out = run(options=SyncOptions(dry_run=True))
    assert (out.stored, out.rejected, out.detail["dry_run"], out.detail["unmapped"]) == (
        2, 1, True, ["571313100000000077"])
    assert scalar(db, "SELECT count(*) FROM readings") == 0
    assert scalar(db, "SELECT count(*) FROM dead_letters") == 0
    assert scalar(db, "SELECT count(*) FROM sync_cursors") == 0
    assert scalar(db, "SELECT count(*) FROM sync_unmapped") == 0


def test_status_and_runs_over_http_for_portfolio_roles_only(source: ListSource, admin: httpx.Client,
                                                           api: Any) -> None:
    source.points = {"571313100000000001": hours(2)}
    run()
    with psycopg.connect(libpq_dsn(get_settings().db.url)) as conn:
        st = service.status(conn, get_settings())
    mine = next(s for s in st.sources if s.source == "testsource")
    assert mine.last_run is not None and mine.last_run.stored == 2 and mine.enabled is False and mine.next_run is None

    assert st.scheduler_running is False and st.scheduler_seen_at is None

    # the scheduler reports its own view (its settings and secrets, which the API process may not have): the
    # status shows that view while the scheduler keeps reporting
    base = get_settings()
    theirs = base.model_copy(update={"sync": base.sync.model_copy(update={
        "dmi": base.sync.dmi.model_copy(update={"enabled": True})})})
    with psycopg.connect(libpq_dsn(base.db.url)) as conn:
        service.report_schedule(conn, theirs, "host:1")
        conn.commit()
    r = admin.get("/api/v1/sync")
    assert r.status_code == 200 and r.json()["scheduler_running"] is True
    dmi = next(x for x in r.json()["sources"] if x["source"] == "dmi")
    assert dmi["enabled"] is True and dmi["next_run"] is not None and dmi["problem"] is None
    with psycopg.connect(libpq_dsn(base.db.url)) as conn:  # a scheduler gone quiet for 11 minutes
        later = service.status(conn, base, now=datetime.now(UTC) + timedelta(minutes=11))
    assert later.scheduler_running is False
    assert next(x for x in later.sources if x.source == "dmi").next_run is None
    assert admin.get("/api/v1/sync/eloverblik/runs").json() == []
    assert admin.get("/api/v1/sync/nosuch/runs").status_code == 422
    fm = make_token(admin, "facility_manager", ["b1"])
    with api.client(fm) as c:
        assert c.get("/api/v1/sync").status_code == 403
    viewer = make_token(admin, "viewer")
    with api.client(viewer) as c:
        assert c.get("/api/v1/sync/unmapped").status_code == 200


def test_schedules() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert every(None, 3600, now) == now
    assert every(now - timedelta(minutes=30), 3600, now) == now + timedelta(minutes=30)
    # nightly at 03:30 local: a run at 02:00 local is followed the same night, one at 12:00 the next night
    at = time(3, 30)
    assert daily_at(datetime(2026, 11, 30, 1, 0, tzinfo=UTC), at, now, CPH) == datetime(2026, 11, 30, 2, 30,
                                                                                          tzinfo=UTC)
    assert daily_at(datetime(2026, 11, 30, 11, 0, tzinfo=UTC), at, now, CPH) == datetime(2026, 12, 1, 2, 30,
                                                                                          tzinfo=UTC)
    # across the end of summer time: 03:30 local on 25 October 2026 is 02:30 UTC (CET again)
    assert daily_at(datetime(2026, 10, 24, 12, 0, tzinfo=UTC), at, now, CPH) == datetime(2026, 10, 25, 2, 30,
                                                                                          tzinfo=UTC)
