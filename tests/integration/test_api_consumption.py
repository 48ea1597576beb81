"""GET /api/v1/consumption over real HTTP, on rollups the ingest path built from MQTT readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import orjson
from sqlalchemy import Engine, text

from tests.integration.api_helpers import Api, make_token
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

pytest_plugins = ["tests.integration.api_fixtures"]
CPH = ZoneInfo("Europe/Copenhagen")


def _steady(start: datetime, end: datetime, kw: float) -> list[dict[str, object]]:
    out, t = [], start
    while t <= end:
        out.append({"ts": t.isoformat(), "value": (t - start).total_seconds() / 3600 * kw})
        t += timedelta(minutes=15)
    return out


def test_consumption_days_hours_months_scope_and_what_adds_up(
    api: Api, admin: httpx.Client, stack: Stack, db: Engine, workers: Workers
) -> None:
    add_building(db, "B1")
    add_building(db, "B2")
    add_meter(db, "EL", "B1")
    add_meter(db, "HP", "B1", carrier="heat_pump")
    add_meter(db, "W", "B1", carrier="water", unit="m3")
    add_meter(db, "EL2", "B2")
    with db.begin() as c:
        c.execute(text("UPDATE meters SET parent_meter_id = 'EL' WHERE id = 'HP'"))  # a sub-meter splits EL
    sync_broker(stack)
    w = workers.start(ENERGIBLIK_INGEST__ROLLUPS="true")
    start = datetime(2026, 3, 28, tzinfo=CPH).astimezone(UTC)
    end = datetime(2026, 3, 31, tzinfo=CPH).astimezone(UTC)
    pub = building_publisher(stack, "B1")
    for meter, kw in (("EL", 2.0), ("HP", 0.5), ("W", 0.1)):
        items = _steady(start, end, kw)
        for i in range(0, len(items), 100):
            pub.publish(reading_topic("B1", meter), orjson.dumps(items[i:i + 100]))
    pub.close()
    pub2 = building_publisher(stack, "B2")
    pub2.publish(reading_topic("B2", "EL2"), orjson.dumps(_steady(start, end, 1.0)))
    pub2.close()

    def days(**params: str) -> list[dict[str, object]]:
        r = admin.get("/api/v1/consumption", params={"start": "2026-03-28", "end": "2026-03-31", **params})
        assert r.status_code == 200, r.text
        return r.json()["series"]

    wait_for(lambda: [p["kwh"] for p in days(building_id="B1")] == [48.0, 46.0, 48.0], timeout=60,
             what="B1 daily consumption")
    b1 = admin.get("/api/v1/consumption", params={"building_id": "B1", "start": "2026-03-28", "end": "2026-03-31"})
    body = b1.json()
    assert body["unit"] == "kWh" and body["resolution"] == "day" and body["timezone"] == "Europe/Copenhagen"
    first = body["series"][1]
    assert first["start"] == "2026-03-29T00:00:00+01:00" and first["end"] == "2026-03-30T00:00:00+02:00"
    assert first["coverage"] == 1.0 and first["estimated_share"] == 0.0
    # all buildings in scope: B1's electricity (the heat-pump sub-meter is inside it) plus B2's
    wait_for(lambda: [p["kwh"] for p in days()] == [72.0, 69.0, 72.0], timeout=60, what="portfolio")
    assert [p["m3"] for p in days(building_id="B1", carrier="water")] == [2.4, 2.3, 2.4]
    assert [p["kwh"] for p in days(building_id="B1", carrier="heat_pump")] == [0.0, 0.0, 0.0]  # sub-meter only
    hp = admin.get("/api/v1/meters/HP/consumption", params={"start": "2026-03-29", "end": "2026-03-30"}).json()
    assert [p["kwh"] for p in hp["series"]] == [11.5]
    hours = admin.get("/api/v1/consumption", params={"building_id": "B1", "start": "2026-03-29", "end": "2026-03-30",
                                                     "resolution": "hour"}).json()["series"]
    assert len(hours) == 23 and {p["kwh"] for p in hours} == {2.0}
    month = admin.get("/api/v1/consumption", params={"building_id": "B1", "start": "2026-03-01",
                                                     "end": "2026-04-01", "resolution": "month"}).json()["series"]
    assert len(month) == 1 and month[0]["kwh"] == 142.0
    assert month[0]["coverage"] < 0.1  # three days of data in March
    weeks = days(building_id="B1", resolution="week")  # ISO weeks: Monday 23 March .. and Monday 30 March ..
    assert [(p["start"], p["kwh"]) for p in weeks] == [("2026-03-23T00:00:00+01:00", 94.0),
                                                       ("2026-03-30T00:00:00+02:00", 48.0)]
    year = days(building_id="B1", resolution="year")
    assert [(p["start"], p["end"], p["kwh"]) for p in year] == [
        ("2026-01-01T00:00:00+01:00", "2027-01-01T00:00:00+01:00", 142.0)]
    per_carrier = {c: days(carrier=c, resolution="year")[0]["kwh"] for c in ("electricity", "heat_pump")}
    assert per_carrier == {"electricity": 213.0, "heat_pump": 0.0}  # B1 142 + B2 71; the sub-meter adds nothing
    # a facility manager of B2 sees B2 only
    with api.client(make_token(admin, "facility_manager", ["B2"])) as fm:
        assert fm.get("/api/v1/consumption", params={"building_id": "B1"}).status_code == 404
        assert fm.get("/api/v1/meters/EL/consumption").status_code == 404
        mine = fm.get("/api/v1/consumption", params={"start": "2026-03-28", "end": "2026-03-31"}).json()["series"]
        assert [p["kwh"] for p in mine] == [24.0, 23.0, 24.0]
    bad = admin.get("/api/v1/consumption", params={"resolution": "fortnight"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "resolution"
    # instants are RFC 3339, as on the wire: no +0100, no basic or week forms; naive ones say what is missing
    for start in ("2026-03-28T00:00:00+0100", "20260328T000000Z", "2026-W13-6T00:00:00Z", "2026-03-28T00:00+01:00"):
        r = admin.get("/api/v1/consumption", params={"start": start, "end": "2026-03-31"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "start", (start, r.text)
    r = admin.get("/api/v1/consumption", params={"start": "2026-03-28T00:00:00", "end": "2026-03-31"})
    assert r.status_code == 422 and "no UTC offset" in r.text
    assert admin.get("/api/v1/consumption", params={"start": "2026-03-28t00:00:00z", "end": "2026-03-31"}
                     ).status_code == 200
    assert admin.get("/api/v1/meters/EL/decisions").json() == []
    w.stop()


def test_csv_export_and_declared_meter_exchange(api: Api, admin: httpx.Client, stack: Stack, db: Engine,
                                                workers: Workers) -> None:
    add_building(db, "B1")
    add_meter(db, "EL", "B1")
    sync_broker(stack)
    w = workers.start(ENERGIBLIK_INGEST__ROLLUPS="true")
    t = datetime(2026, 2, 2, tzinfo=CPH).astimezone(UTC)
    values = [990.0, 1000.0, 5.0, 9.0]  # the meter was exchanged between the 2nd and 3rd reading
    pub = building_publisher(stack, "B1")
    pub.publish(reading_topic("B1", "EL"), orjson.dumps(
        [{"ts": (t + timedelta(hours=i)).isoformat(), "value": v} for i, v in enumerate(values)]))
    pub.close()
    params = {"building_id": "B1", "start": "2026-02-02", "end": "2026-02-03"}
    wait_for(lambda: admin.get("/api/v1/consumption", params=params).json()["series"][0]["kwh"] == 14.0,
             timeout=60, what="consumption with an undeclared reset")
    assert [d["kind"] for d in admin.get("/api/v1/meters/EL/decisions").json()] == ["reset"]
    r = admin.post("/api/v1/meters/EL/exchanges", json={"ts": (t + timedelta(minutes=90)).isoformat(),
                                                        "old_final": 1010.0, "new_initial": 0.0})
    assert r.status_code == 201, r.text
    assert r.json()["ts"] == (t + timedelta(minutes=90)).astimezone(ZoneInfo("Europe/Copenhagen")).isoformat()
    audit = admin.get("/api/v1/audit", params={"subject": "meters/EL"}).json()
    assert any(e["action"] == "exchange" and e["detail"]["exchange"]["old_final"] == 1010.0 for e in audit), audit
    # 10 + (1010 - 1000) + (5 - 0) + 4
    wait_for(lambda: admin.get("/api/v1/consumption", params=params).json()["series"][0]["kwh"] == 29.0,
             timeout=60, what="recomputed after the declared exchange")
    assert [d["kind"] for d in admin.get("/api/v1/meters/EL/decisions").json()] == ["exchange"]
    csv_text = admin.get("/api/v1/consumption", params={**params, "format": "csv"})
    assert csv_text.headers["content-type"].startswith("text/csv")
    assert csv_text.text.splitlines() == ["start,end,kwh,coverage,estimated_share,pending",
                                          "2026-02-02T00:00:00+01:00,2026-02-03T00:00:00+01:00,29.0,0.125,0.0,false"]
    # 3 of 24 hours measured: with both register values the hour across the exchange counts as measured
    bad = admin.post("/api/v1/meters/EL/exchanges", json={"ts": "2026-02-02T01:30:00"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "ts"
    # an instant no reading can have (the rollups could not even load year 10000 back: outside review) is refused
    for ts in ("9999-12-31T23:59:59-23:59", "1800-01-01T00:00:00Z", "2999-01-01T00:00:00+01:00"):
        bad = admin.post("/api/v1/meters/EL/exchanges", json={"ts": ts, "old_final": 1, "new_initial": 0})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "ts", (ts, bad.text)
    with api.client(make_token(admin, "viewer")) as viewer:
        assert viewer.post("/api/v1/meters/EL/exchanges", json={"ts": t.isoformat()}).status_code == 403
    w.stop()


def test_roles_on_the_consumption_endpoints(api: Api, admin: httpx.Client, db: Engine) -> None:
    for b in ("B1", "B2"):
        add_building(db, b)
        add_meter(db, f"EL{b[1]}", b)
    reads_b1 = ["/api/v1/consumption?building_id=B1", "/api/v1/meters/EL1/consumption",
                "/api/v1/meters/EL1/decisions", "/api/v1/consumption?building_id=B1&format=csv"]
    reads_b2 = [p.replace("B1", "B2").replace("EL1", "EL2") for p in reads_b1]
    exchange = {"ts": "2026-02-02T01:30:00+01:00"}
    for path in reads_b1:
        assert httpx.get(api.base_url + path).status_code == 401, path
    with api.client(make_token(admin, "viewer")) as viewer:
        for path in reads_b1 + reads_b2:
            assert viewer.get(path).status_code == 200, path
        assert viewer.post("/api/v1/meters/EL1/exchanges", json=exchange).status_code == 403
    with api.client(make_token(admin, "facility_manager", ["B1"])) as fm:
        for path in reads_b1:
            assert fm.get(path).status_code == 200, path
        for path in reads_b2:
            assert fm.get(path).status_code == 404, path
        assert fm.post("/api/v1/meters/EL1/exchanges", json=exchange).status_code == 403
    with api.client(make_token(admin, "energy_team")) as team:
        for path in reads_b1 + reads_b2:
            assert team.get(path).status_code == 200, path
        assert team.post("/api/v1/meters/EL2/exchanges", json=exchange).status_code == 201
    assert admin.post("/api/v1/meters/NOPE/exchanges", json=exchange).status_code == 404
