"""The dashboard's API additions over real HTTP: /me, /weather-corrected (agrees with progress), /meter-status, the
redirect and the static page with its chart library; roles and scope."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.integration.api_helpers import Api, building_body, make_token, meter_body, put_ok
from tests.stack import REPO, Stack

pytest_plugins = ["tests.integration.api_fixtures"]

HEAT_2015 = [30000, 26000, 22000, 14000, 8000, 4000, 3000, 3000, 7000, 13000, 20000, 27000]


def test_me_weather_corrected_and_meter_status(api: Api, admin: httpx.Client, db: Engine, stack: Stack) -> None:
    put_ok(admin, "/api/v1/buildings/A", building_body(name="A", hot_water_share=0.2))
    put_ok(admin, "/api/v1/buildings/B", building_body(name="B"))
    put_ok(admin, "/api/v1/meters/A-DH", meter_body("A", carrier="district_heating"))
    put_ok(admin, "/api/v1/meters/A-EL", meter_body("A"))
    with db.begin() as c:  # A-DH: 1 kW through local 2025; A-EL never reported
        c.execute(text("INSERT INTO readings (meter_key, ts, value) SELECT m.key, g, extract(epoch FROM g - "
                       "'2024-12-31T23:00:00Z'::timestamptz) / 3600 FROM meters m, generate_series("
                       "'2024-12-31T23:00:00Z'::timestamptz, '2025-12-31T23:00:00Z', interval '1 hour') g "
                       "WHERE m.id = 'A-DH'"))
    subprocess.run([sys.executable, "-m", "services.cli", "rollups", "rebuild"], cwd=REPO, env=stack.env, check=True,
                   stdout=subprocess.DEVNULL)
    rows = "\n".join(f"A,district_heating,2015-{m:02d},{k},invoice" for m, k in enumerate(HEAT_2015, 1))
    assert admin.post("/api/v1/imports/baseline", content=f"building_id,carrier,month,kwh,source\n{rows}\n",
                      headers={"Content-Type": "text/csv"}).json()["accepted"] == 12
    gd = "\n".join(f"{y}-{m:02d},{400 - 30 * abs(m - 1) if m < 7 else 40 * (m - 6)},DMI" for y in (2015, 2025)
                   for m in range(1, 13))
    admin.post("/api/v1/imports/degree-days", content=f"month,degree_days,source\n{gd}\n",
               headers={"Content-Type": "text/csv"})

    wc = admin.get("/api/v1/weather-corrected", params={"building_id": "A", "year": [2015, 2025]}).json()
    y2015, y2025 = wc["years"]
    assert y2015["kwh"] == sum(HEAT_2015) and y2025["kwh"] == 8760.0
    assert y2015["months"][0]["normalised_kwh"] != y2015["months"][0]["kwh"]  # heat is corrected
    # A-EL is installed (since always) but never reported: half of the building's active meter time is missing,
    # as /consumption says for the same month (one definition of coverage; it used to leave A-EL out)
    assert y2025["months"][0]["coverage"] == 0.5 and y2025["months"][0]["factor"] is not None
    jan = admin.get("/api/v1/consumption", params={"building_id": "A", "start": "2025-01-01", "end": "2025-02-01",
                                                   "resolution": "month"}).json()["series"][0]
    assert jan["coverage"] == 0.5
    # the same rules as progress: the yearly sums equal progress' normalised figures
    p = admin.get("/api/v1/progress", params={"year": 2025, "building_id": "A"}).json()
    assert y2015["normalised_kwh"] == p["baseline_normalised_kwh"]
    assert y2025["normalised_kwh"] == p["actual_normalised_kwh"]
    assert wc["buildings"] == [{"building_id": "A", "a": 0.2, "a_method": "hot_water_share"}]
    # one carrier: electricity has no data at all, so every month is None, not 0
    el = admin.get("/api/v1/weather-corrected", params={"building_id": "A", "year": 2025,
                                                        "carrier": "electricity"}).json()
    assert {m["kwh"] for m in el["years"][0]["months"]} == {None}
    # the series of /consumption, each period weather-corrected by its month's factor (the server applies it, the
    # dashboard only draws it): two January days and a February day of heat
    window = {"building_id": "A", "carrier": "district_heating", "start": "2025-01-30", "end": "2025-02-02",
              "resolution": "day"}
    dh = admin.get("/api/v1/weather-corrected", params={"building_id": "A", "year": 2025,
                                                        "carrier": "district_heating"}).json()
    factor = {m["month"]: m["factor"] for m in dh["years"][0]["months"]}
    assert factor["2025-01"] != factor["2025-02"]
    plain = admin.get("/api/v1/consumption", params=window).json()["series"]
    corrected = admin.get("/api/v1/consumption/weather-corrected", params=window).json()
    assert [p["start"] for p in corrected["series"]] == [p["start"] for p in plain]
    assert [p["kwh"] for p in corrected["series"]] == [p["kwh"] for p in plain] == [24.0, 24.0, 24.0]
    for p in corrected["series"]:
        assert p["factor"] == factor[p["start"][:7]]
        assert p["normalised_kwh"] == pytest.approx(p["kwh"] * factor[p["start"][:7]], rel=1e-4)
    assert corrected["buildings"] == wc["buildings"] and corrected["baseline_year"] == 2015
    # electricity is never corrected; water is not energy; weeks and years cross months (asked by month instead)
    none = admin.get("/api/v1/consumption/weather-corrected", params={**window, "carrier": "electricity"}).json()
    assert {p["factor"] for p in none["series"]} == {1.0}
    assert admin.get("/api/v1/consumption/weather-corrected", params={**window, "carrier": "water"}).status_code == 422
    assert admin.get("/api/v1/consumption/weather-corrected", params={**window, "resolution": "week"}
                     ).status_code == 422
    hours = admin.get("/api/v1/consumption/weather-corrected", params={
        "building_id": "A", "start": "2025-03-30", "end": "2025-03-31", "resolution": "hour"}).json()["series"]
    assert len(hours) == 23  # the local day the clocks go forward

    status = {m["meter_id"]: m for m in admin.get("/api/v1/meter-status", params={"building_id": "A"}).json()}
    assert datetime.fromisoformat(status["A-DH"]["last_reading"]) == datetime(2025, 12, 31, 23, tzinfo=UTC)
    assert status["A-DH"]["completeness"] == 0.0  # nothing in the last 30 days (the clock is past January 2026)
    assert status["A-EL"]["last_reading"] is None and status["A-EL"]["completeness"] == 0.0

    me = admin.get("/api/v1/me").json()
    assert me["role"] == "admin" and me["building_ids"] is None and me["portfolio"] is True
    with api.client(make_token(admin, "facility_manager", ["A"])) as fm:
        today = datetime.now(ZoneInfo("Europe/Copenhagen")).date().isoformat()
        # the dashboard asks the server for the time zone, today, T1's baseline year, the energy carriers and the
        # heating that is fossil (as /fossil counts it)
        assert fm.get("/api/v1/me").json() in [{
            "role": "facility_manager", "name": "test facility_manager", "building_ids": ["A"],
            "can_handle_alerts": True, "portfolio": False, "timezone": "Europe/Copenhagen", "today": day,
            "baseline_year": 2015, "energy_carriers": ["electricity", "district_heating", "natural_gas", "oil",
                                                       "ev_charging", "heat_pump"],
            "fossil_heating": ["natural_gas", "oil"]}
            for day in (today, (date.fromisoformat(today) + timedelta(days=1)).isoformat())]  # midnight
        assert fm.get("/api/v1/weather-corrected", params={"building_id": "B"}).status_code == 404
        assert fm.get("/api/v1/meter-status", params={"building_id": "B"}).status_code == 404
        assert {m["building_id"] for m in fm.get("/api/v1/meter-status").json()} == {"A"}
        assert [b["building_id"] for b in fm.get("/api/v1/weather-corrected").json()["buildings"]] == ["A"]
    with api.client(make_token(admin, "viewer")) as viewer:
        assert viewer.get("/api/v1/me").json()["can_handle_alerts"] is False
    with api.client(None) as anonymous:
        assert anonymous.get("/api/v1/me").status_code == 401
        assert admin.get("/api/v1/weather-corrected", params={"year": 1800}).status_code == 422
        page = anonymous.get("/", follow_redirects=True)
        assert page.status_code == 200 and '<html lang="da">' in page.text
        lib = anonymous.get("/dashboard/vendor/chart.js/chart.umd.min.js")
        assert lib.status_code == 200 and "Chart" in lib.text[:2000]


def test_the_window_carries_its_own_quality_time_weighted(api: Api, admin: httpx.Client, db: Engine,
                                                          stack: Stack) -> None:
    """The consumption answers carry the window's coverage, estimated share and completeness over its periods
    already over, each weighing by its length: the dashboard only shows them."""
    put_ok(admin, "/api/v1/buildings/Q", building_body(name="Q"))
    put_ok(admin, "/api/v1/meters/Q-EL", meter_body("Q"))  # installed since always
    with db.begin() as c:  # 1 kW hourly from local 1 January 2025 to local 15 February 2025, then silent
        c.execute(text("INSERT INTO readings (meter_key, ts, value) SELECT m.key, g, extract(epoch FROM g - "
                       "'2024-12-31T23:00:00Z'::timestamptz) / 3600 FROM meters m, generate_series("
                       "'2024-12-31T23:00:00Z'::timestamptz, '2025-02-14T23:00:00Z', interval '1 hour') g "
                       "WHERE m.id = 'Q-EL'"))
    subprocess.run([sys.executable, "-m", "services.cli", "rollups", "rebuild"], cwd=REPO, env=stack.env, check=True,
                   stdout=subprocess.DEVNULL)
    window = {"building_id": "Q", "start": "2025-01-01", "end": "2025-03-01", "resolution": "month"}
    for path in ("/api/v1/consumption", "/api/v1/consumption/weather-corrected"):
        body = admin.get(path, params=window).json()
        assert [p["coverage"] for p in body["series"]] == [1.0, 0.5]  # January whole, half of February
        # 31 days at 1.0 and 28 days at 0.5: (31 + 14) / 59, not the plain average 0.75
        assert body["coverage"] == round(45 / 59, 6) == 0.762712, path
        assert body["estimated_share"] == 0.0 and body["complete"] is False
        january = admin.get(path, params={**window, "end": "2025-02-01"}).json()
        assert january["coverage"] == 1.0 and january["complete"] is True
    # the current period is not over yet: it does not count, however little of it is measured
    now = admin.get("/api/v1/consumption", params={"building_id": "Q", "resolution": "year", "start": "2025-01-01",
                                                   "end": f"{datetime.now(UTC).year + 1}-01-01"}).json()
    assert now["series"][-1]["coverage"] == 0.0
    assert now["coverage"] == now["series"][0]["coverage"] == round(45 / 365, 6)
    # /weather-corrected: each year over its months already over, weighed by their days (2025 is over)
    y2025 = admin.get("/api/v1/weather-corrected", params={"building_id": "Q", "year": 2025}).json()["years"][0]
    assert [m["coverage"] for m in y2025["months"][:3]] == [1.0, 0.5, 0.0]
    assert y2025["coverage"] == round(45 / 365, 4) and y2025["complete"] is False
