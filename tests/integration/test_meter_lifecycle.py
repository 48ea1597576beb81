"""Meter lifecycle over real HTTP: active span and replacement through PUT, GET and the registry CSV import; errors
naming the field; rollups marked dirty over exactly the time whose counting changes; meter-silent alerts only within
the active span."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
from sqlalchemy import Engine, text

from services.alerts.service import evaluate
from services.db import libpq_dsn
from tests.integration.api_helpers import building_body, meter_body, put_ok
from tests.stack import Stack

pytest_plugins = ["tests.integration.api_fixtures"]
CPH = ZoneInfo("Europe/Copenhagen")


def fields(r: httpx.Response) -> list[str]:
    assert r.status_code == 422, r.text
    return [e["field"] for e in r.json()["errors"]]


def post_csv(client: httpx.Client, body: str) -> httpx.Response:
    return client.post("/api/v1/imports/registry/meters", content=body.encode(), headers={"Content-Type": "text/csv"})


def dirty(db: Engine, meter_id: str) -> list[tuple[datetime, datetime]]:
    with db.connect() as c:
        rows = c.execute(text("SELECT d.ts_from, d.ts_to FROM rollup_dirty d JOIN meters m ON m.key = d.meter_key "
                              "WHERE m.id = :id ORDER BY d.id"), {"id": meter_id}).all()
    return [(r[0].astimezone(UTC), r[1].astimezone(UTC)) for r in rows]


def clear_dirty(db: Engine) -> None:
    with db.begin() as c:
        c.execute(text("DELETE FROM rollup_dirty"))


def readings(db: Engine, meter_id: str, stamps: list[datetime]) -> None:
    with db.begin() as c:
        for i, ts in enumerate(stamps):
            c.execute(text("INSERT INTO readings (meter_key, ts, value) "
                           "SELECT key, :ts, :v FROM meters WHERE id = :id"),
                      {"ts": ts, "v": 100.0 + i, "id": meter_id})


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)  # type: ignore[misc]


# --- PUT and GET -----------------------------------------------------------------------------------------------------


def test_lifecycle_put_shown_kept_and_cleared(admin: httpx.Client) -> None:
    put_ok(admin, "/api/v1/buildings/b1", building_body(heating="natural_gas"))
    gas = put_ok(admin, "/api/v1/meters/gas", meter_body("b1", carrier="natural_gas", unit="m3",
                                                         active_from="2015-01-01"))
    # a local date is local midnight, shown in local time with an ISO offset
    assert (gas["active_from"], gas["active_to"], gas["replaced_by"]) == ("2015-01-01T00:00:00+01:00", None, None)
    put_ok(admin, "/api/v1/meters/fv", meter_body("b1", carrier="district_heating", unit="MWh",
                                                  active_from="2024-07-01T08:30:00Z"))
    # replaced without an active_to: the replacement's active_from is taken
    gas = put_ok(admin, "/api/v1/meters/gas", meter_body("b1", carrier="natural_gas", unit="m3", replaced_by="fv"))
    assert (gas["active_from"], gas["active_to"], gas["replaced_by"]) == (
        "2015-01-01T00:00:00+01:00", "2024-07-01T10:30:00+02:00", "fv")

    listed = {m["id"]: m for m in admin.get("/api/v1/meters", params={"building_id": "b1"}).json()}
    assert listed["gas"]["active_to"] == "2024-07-01T10:30:00+02:00" and listed["gas"]["replaced_by"] == "fv"
    assert listed["fv"]["active_from"] == "2024-07-01T10:30:00+02:00" and listed["fv"]["active_to"] is None
    assert admin.get("/api/v1/meters/gas").json() == listed["gas"]

    # a script written before the lifecycle existed PUTs the meter without it: the lifecycle is kept
    again = put_ok(admin, "/api/v1/meters/gas", meter_body("b1", carrier="natural_gas", unit="m3", kwh_per_unit=10.9))
    assert (again["kwh_per_unit"], again["active_to"], again["replaced_by"]) == (10.9, gas["active_to"], "fv")
    # a GET's output PUT back changes nothing
    assert put_ok(admin, "/api/v1/meters/gas", again)["active_to"] == gas["active_to"]
    # explicit null clears
    cleared = put_ok(admin, "/api/v1/meters/gas", meter_body("b1", carrier="natural_gas", unit="m3",
                                                             active_from=None, active_to=None, replaced_by=None))
    assert (cleared["active_from"], cleared["active_to"], cleared["replaced_by"]) == (None, None, None)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"active_from": "2024-07-01", "active_to": "2024-06-01"}, "active_to"),
        ({"active_to": "2019-12-31"}, "active_to"),  # before the stored active_from (2020-01-01)
        ({"active_from": "2026-01-01"}, "active_from"),  # after the stored active_to (2025-01-01)
        ({"active_to": "2024-07-01T00:00:00"}, "active_to"),  # naive
        ({"active_from": "July 2024"}, "active_from"),
        ({"replaced_by": "nope"}, "replaced_by"),
        ({"replaced_by": "m1"}, "replaced_by"),  # itself
        ({"replaced_by": "m-other"}, "replaced_by"),  # another building
        ({"replaced_by": "m-water"}, "replaced_by"),  # another carrier
        ({"replaced_by": "m-gap"}, "replaced_by"),  # installed a month after m1 was removed
        ({"replaced_by": "m-overlap"}, "replaced_by"),  # the same carrier counted twice for a month
        ({"replaced_by": "m-gap", "active_to": "2025-01-01"}, "active_to"),
    ],
)
def test_lifecycle_validation_names_the_field(admin: httpx.Client, overrides: dict[str, Any], field: str) -> None:
    put_ok(admin, "/api/v1/buildings/b1", building_body())
    put_ok(admin, "/api/v1/buildings/b2", building_body())
    put_ok(admin, "/api/v1/meters/m-other", meter_body("b2", active_from="2025-01-01"))
    put_ok(admin, "/api/v1/meters/m-water", meter_body("b1", carrier="water", unit="m3", active_from="2025-01-01"))
    put_ok(admin, "/api/v1/meters/m-gap", meter_body("b1", active_from="2025-02-01"))
    put_ok(admin, "/api/v1/meters/m-overlap", meter_body("b1", active_from="2024-12-01"))
    before = put_ok(admin, "/api/v1/meters/m1", meter_body("b1", active_from="2020-01-01", active_to="2025-01-01"))
    r = admin.put("/api/v1/meters/m1", json={**meter_body("b1"), **overrides})
    assert fields(r) == [field], r.text
    before.pop("replayed_quarantined")
    assert admin.get("/api/v1/meters/m1").json() == before


def test_a_replacement_cannot_move_away_from_the_meter_it_replaced(admin: httpx.Client) -> None:
    put_ok(admin, "/api/v1/buildings/b1", building_body())
    put_ok(admin, "/api/v1/buildings/b2", building_body())
    put_ok(admin, "/api/v1/meters/new", meter_body("b1", active_from="2025-01-01"))
    put_ok(admin, "/api/v1/meters/old", meter_body("b1", replaced_by="new"))
    # the same carrier takes over exactly at the old meter's active_to: moving it alone would leave a gap
    r = admin.put("/api/v1/meters/new", json=meter_body("b1", active_from="2025-02-01"))
    assert fields(r) == ["active_from"] and "'old' is replaced by this meter" in r.json()["errors"][0]["message"]
    assert fields(admin.put("/api/v1/meters/new", json=meter_body("b2"))) == ["building_id"]
    assert fields(admin.put("/api/v1/meters/new", json=meter_body("b1", carrier="pv_production"))) == ["carrier"]


# --- CSV import ------------------------------------------------------------------------------------------------------


def test_csv_import_with_lifecycle_columns(admin: httpx.Client) -> None:
    put_ok(admin, "/api/v1/buildings/b1", building_body(heating="oil"))
    # the old meter comes before its replacement in the file; one is replaced by a heat pump's sub-meter
    r = post_csv(admin, "id,building_id,carrier,unit,mode,parent_meter_id,active_from,active_to,replaced_by\n"
                        "olie,b1,oil,l,register,,,,vp\n"
                        "el,b1,electricity,kWh,register,,,,\n"
                        "vp,b1,heat_pump,kWh,register,el,2023-10-01,,\n")
    assert r.status_code == 200 and r.json()["rejected"] == [], r.text
    olie = admin.get("/api/v1/meters/olie").json()
    assert (olie["active_to"], olie["replaced_by"]) == ("2023-10-01T00:00:00+02:00", "vp")
    assert admin.get("/api/v1/meters/vp").json()["active_from"] == "2023-10-01T00:00:00+02:00"

    # a file without the lifecycle columns keeps the lifecycle
    r = post_csv(admin, "id,building_id,carrier,unit,mode,kwh_per_unit\nolie,b1,oil,l,register,9.9\n")
    assert r.status_code == 200 and r.json()["rejected"] == [], r.text
    assert admin.get("/api/v1/meters/olie").json()["replaced_by"] == "vp"

    # errors by line and field; nothing stored
    r = post_csv(admin, "id,building_id,carrier,unit,mode,active_from,active_to,replaced_by\n"
                        "olie,b1,oil,l,register,2024-01-01,2023-01-01,\n"
                        "x1,b1,electricity,kWh,register,,2024-01-01,x1\n"
                        "x2,b1,electricity,kWh,register,,2024-01-01,ghost\n")
    assert r.status_code == 422, r.text
    assert [(e["line"], e["field"]) for e in r.json()["rejected"]] == [
        (2, "active_to"), (3, "replaced_by"), (4, "replaced_by")]
    assert admin.get("/api/v1/meters/x1").status_code == 404

    # an empty cell under a lifecycle column clears it
    r = post_csv(admin, "id,building_id,carrier,unit,mode,active_to,replaced_by\nolie,b1,oil,l,register,,\n")
    assert r.status_code == 200 and r.json()["rejected"] == [], r.text
    olie = admin.get("/api/v1/meters/olie").json()
    assert (olie["active_to"], olie["replaced_by"]) == (None, None)


# --- rollups marked dirty --------------------------------------------------------------------------------------------


def test_span_changes_mark_exactly_the_changed_time_dirty(admin: httpx.Client, db: Engine) -> None:
    put_ok(admin, "/api/v1/buildings/b1", building_body())
    put_ok(admin, "/api/v1/meters/m1", meter_body("b1"))
    # readings on the 1st of every month of 2024 at 00:00 UTC
    readings(db, "m1", [utc(2024, m, 1) for m in range(1, 13)])
    clear_dirty(db)

    # removed on 1 Sep 2024 (local midnight = 31 Aug 22:00 UTC): from then to the last reading (1 Dec)
    put_ok(admin, "/api/v1/meters/m1", meter_body("b1", active_to="2024-09-01"))
    assert dirty(db, "m1") == [(utc(2024, 8, 31, 22), utc(2024, 12, 1))]
    clear_dirty(db)

    # installed on 1 Mar 2024 (local midnight = 29 Feb 23:00 UTC): from the first reading (1 Jan) to then
    put_ok(admin, "/api/v1/meters/m1", meter_body("b1", active_from="2024-03-01"))
    assert dirty(db, "m1") == [(utc(2024, 1, 1), utc(2024, 2, 29, 23))]
    clear_dirty(db)

    # the same PUT again, and one without the lifecycle: nothing changes, nothing is marked
    put_ok(admin, "/api/v1/meters/m1", meter_body("b1", active_from="2024-03-01", active_to="2024-09-01"))
    put_ok(admin, "/api/v1/meters/m1", meter_body("b1"))
    assert dirty(db, "m1") == []

    # both ends move: active_from 1 Mar -> 1 Feb, active_to 1 Sep -> 1 Nov (local midnights): the two differences
    put_ok(admin, "/api/v1/meters/m1", meter_body("b1", active_from="2024-02-01", active_to="2024-11-01"))
    assert dirty(db, "m1") == [(utc(2024, 1, 31, 23), utc(2024, 2, 29, 23)),
                               (utc(2024, 8, 31, 22), utc(2024, 10, 31, 23))]
    clear_dirty(db)

    # the removal moved beyond the last reading: only up to the last reading (1 Dec)
    put_ok(admin, "/api/v1/meters/m1", meter_body("b1", active_to="2025-06-01"))
    assert dirty(db, "m1") == [(utc(2024, 10, 31, 23), utc(2024, 12, 1))]
    clear_dirty(db)

    # through the CSV import too, in the import's transaction
    r = post_csv(admin, "id,building_id,carrier,unit,mode,active_to\nm1,b1,electricity,kWh,register,\n")
    assert r.status_code == 200 and r.json()["rejected"] == [], r.text
    assert dirty(db, "m1") == []  # 1 Jun 2025 -> open: wholly after the last reading
    r = post_csv(admin, "id,building_id,carrier,unit,mode,active_from\nm1,b1,electricity,kWh,register,\n")
    assert r.status_code == 200, r.text
    assert dirty(db, "m1") == [(utc(2024, 1, 1), utc(2024, 1, 31, 23))]

    # a refused change marks nothing
    clear_dirty(db)
    assert admin.put("/api/v1/meters/m1", json=meter_body("b1", active_to="2024-05-01", replaced_by="m1")
                     ).status_code == 422
    assert dirty(db, "m1") == []


# --- meter-silent ----------------------------------------------------------------------------------------------------


def run_evaluation(stack: Stack, now: datetime) -> tuple[int, int, int]:
    with psycopg.connect(libpq_dsn(stack.db_url)) as conn, conn.transaction():
        out = evaluate(conn, now, CPH)
    return out.opened, out.repeated, out.resolved


def silent_alerts(admin: httpx.Client) -> dict[str, str]:
    return {a["subject"]: a["state"] for a in admin.get("/api/v1/alerts", params={"rule": "meter_silent"}).json()}


def test_a_change_of_what_rollups_count_from_marks_every_reading_dirty(admin: httpx.Client, db: Engine) -> None:
    put_ok(admin, "/api/v1/buildings/b1", building_body())
    put_ok(admin, "/api/v1/meters/g1", meter_body("b1", carrier="natural_gas", unit="m3"))
    readings(db, "g1", [utc(2024, m, 1) for m in range(1, 13)])
    clear_dirty(db)
    # nothing the rollups use changed: nothing marked
    put_ok(admin, "/api/v1/meters/g1", meter_body("b1", carrier="natural_gas", unit="m3", external_id="gas-7"))
    assert dirty(db, "g1") == []
    # a new conversion factor changes every kWh: all readings, from an hour before the first (outside review 2:
    # the stored kWh stayed at the old factor and were not even marked pending)
    put_ok(admin, "/api/v1/meters/g1", meter_body("b1", carrier="natural_gas", unit="m3", kwh_per_unit=10.5))
    assert dirty(db, "g1") == [(utc(2023, 12, 31, 23), utc(2024, 12, 1))]
    # and the reports built on those rollups say they are not current yet (outside review 3)
    for path in ("/api/v1/co2", "/api/v1/green-accounts", "/api/v1/labels"):
        r = admin.get(path, params={"year": 2024, "building_id": "b1"}).json()
        assert r["computed_through"] is not None and r["pending_buildings"] == ["b1"], (path, r)
    csv = admin.get("/api/v1/green-accounts", params={"year": 2024, "building_id": "b1", "format": "csv"})
    assert csv.headers["X-Energiblik-Computed-Through"].endswith(("+01:00", "+02:00"))
    clear_dirty(db)
    # a factor is not dated: sent with valid_from it is refused naming both, not applied to all readings while
    # the audit log states a date (outside review 3)
    r = admin.put("/api/v1/meters/g1", json=meter_body("b1", carrier="natural_gas", unit="m3", kwh_per_unit=12.0,
                                                       valid_from="2024-07-01"))
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["valid_from", "kwh_per_unit"], r.text
    assert admin.get("/api/v1/meters/g1").json()["kwh_per_unit"] == 10.5
    # a registered interval changes which steps are gaps (coverage): the same, led by the longer interval
    put_ok(admin, "/api/v1/meters/g1", meter_body("b1", carrier="natural_gas", unit="m3", kwh_per_unit=10.5,
                                                 interval_minutes=1440))
    assert dirty(db, "g1") == [(utc(2023, 12, 31), utc(2024, 12, 1))]


def test_meter_silent_only_within_the_active_span(admin: httpx.Client, stack: Stack, db: Engine) -> None:
    put_ok(admin, "/api/v1/buildings/B1", building_body())
    now = datetime.now(UTC).replace(microsecond=0)
    iso = lambda ts: ts.isoformat()  # noqa: E731
    body = meter_body("B1", mode="interval", interval_minutes=15)  # 3 x 15 min = 45 min allowed
    # removed ten minutes after its last reading (never overdue while installed), long silent since
    put_ok(admin, "/api/v1/meters/removed",
           {**body, "active_to": iso(now - timedelta(days=200) + timedelta(minutes=10))})
    readings(db, "removed", [now - timedelta(days=200)])
    # not installed until tomorrow, though an old test reading exists
    put_ok(admin, "/api/v1/meters/future", {**body, "active_from": iso(now + timedelta(days=1))})
    readings(db, "future", [now - timedelta(days=3)])
    # installed and silent for 5 hours: the one alert
    put_ok(admin, "/api/v1/meters/live", body)
    readings(db, "live", [now - timedelta(hours=5)])
    assert run_evaluation(stack, now) == (1, 0, 0)
    assert silent_alerts(admin) == {"live": "open"}

    # the silent meter turns out to have been removed 10 minutes after its last reading: resolves on the next run
    put_ok(admin, "/api/v1/meters/live", {**body, "active_to": iso(now - timedelta(hours=5) + timedelta(minutes=10))})
    assert run_evaluation(stack, now) == (0, 0, 1)
    got = admin.get("/api/v1/alerts", params={"rule": "meter_silent"}).json()[0]
    assert got["state"] == "resolved" and "removed" in got["resolution"]

    # silent for 2 hours while installed, then removed: the open alert stays (its readings are missing from its
    # active span), and is not repeated after the removal
    put_ok(admin, "/api/v1/meters/gone", body)
    readings(db, "gone", [now - timedelta(hours=3)])
    assert run_evaluation(stack, now)[0] == 1
    put_ok(admin, "/api/v1/meters/gone", {**body, "active_to": iso(now - timedelta(hours=1))})
    assert run_evaluation(stack, now + timedelta(hours=1)) == (0, 0, 0)
    assert silent_alerts(admin)["gone"] == "open"

    # a building sold 30 days ago (a non-routine adjustment): its meters, long silent since, raise nothing
    put_ok(admin, "/api/v1/buildings/B2", building_body())
    put_ok(admin, "/api/v1/meters/sold-el", meter_body("B2", mode="interval", interval_minutes=15))
    readings(db, "sold-el", [now - timedelta(days=31)])
    sale = (now - timedelta(days=30)).astimezone(CPH).date().isoformat()
    assert admin.post("/api/v1/buildings/B2/adjustments",
                      json={"kind": "sold", "valid_from": sale, "reason": "sold to the region"}).status_code == 201
    assert run_evaluation(stack, now + timedelta(hours=1)) == (0, 0, 0)
    assert "sold-el" not in silent_alerts(admin)
    # nor does it show as 0 % complete: no time of the last 30 days was the municipality's (outside review 3)
    status = admin.get("/api/v1/meter-status", params={"building_id": "B2"}).json()
    assert [(m["meter_id"], m["completeness"]) for m in status] == [("sold-el", None)]


# --- dashboard -------------------------------------------------------------------------------------------------------


def test_meter_status_shows_the_span_and_judges_completeness_within_it(admin: httpx.Client, db: Engine) -> None:
    put_ok(admin, "/api/v1/buildings/b1", building_body())
    today = datetime.now(CPH).date()
    installed = today - timedelta(days=10)
    put_ok(admin, "/api/v1/meters/new", meter_body("b1", active_from=installed.isoformat()))
    put_ok(admin, "/api/v1/meters/old", meter_body("b1", replaced_by="new"))  # removed when `new` was installed
    put_ok(admin, "/api/v1/meters/ancient", meter_body("b1", active_to=(today - timedelta(days=60)).isoformat()))
    # the new meter's 10 installed days fully measured (each local day's own length: 23, 24 or 25 hours)
    with db.begin() as c:
        for k in range(1, 11):
            d = today - timedelta(days=k)
            start = datetime(d.year, d.month, d.day, tzinfo=CPH)
            length = ((start + timedelta(days=1)).astimezone(UTC) - start.astimezone(UTC)).total_seconds()
            c.execute(text("INSERT INTO consumption_daily (meter_key, day, amount, measured_s, estimated) "
                           "SELECT key, :d, 1, :s, 0 FROM meters WHERE id = 'new'"), {"d": d, "s": length})
    status = {m["meter_id"]: m for m in admin.get("/api/v1/meter-status", params={"building_id": "b1"}).json()}
    # 10 of the last 30 days, all measured: 100 %, not 10/30
    assert status["new"]["completeness"] == 1.0
    assert status["new"]["active_from"] == datetime(installed.year, installed.month, installed.day,
                                                    tzinfo=CPH).isoformat()
    # installed for the first 20 of the 30 days, none of them measured
    assert status["old"]["completeness"] == 0.0 and status["old"]["replaced_by"] == "new"
    assert status["old"]["active_to"] == status["new"]["active_from"]
    # removed before the 30 days began: nothing to judge
    removed = today - timedelta(days=60)
    assert status["ancient"]["completeness"] is None
    assert status["ancient"]["active_to"] == datetime(removed.year, removed.month, removed.day, tzinfo=CPH).isoformat()
    # the server says what the table flags, so the browser repeats no rule: a removed meter is not expected to
    # report; an installed one without readings for a day is silent; under 95 % is incomplete
    assert (status["ancient"]["installed"], status["ancient"]["silent"], status["ancient"]["incomplete"]) == (
        False, False, False)
    assert (status["old"]["installed"], status["old"]["silent"], status["old"]["incomplete"]) == (False, False, True)
    assert (status["new"]["installed"], status["new"]["silent"], status["new"]["incomplete"]) == (True, True, False)
