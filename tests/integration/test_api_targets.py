"""Targets over real HTTP: baseline and degree-day imports, normal year, progress with sold/added buildings,
adjustments, targets list, CO2 with a new factor version, LED, fossil, labels, green accounts, roles."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.integration.api_helpers import Api, building_body, luminaire_body, make_token, meter_body, put_ok
from tests.stack import REPO, Stack

pytest_plugins = ["tests.integration.api_fixtures"]

Y2025 = (datetime(2024, 12, 31, 23, tzinfo=UTC), datetime(2025, 12, 31, 23, tzinfo=UTC))  # local 2025, inclusive


def hourly_register(db: Engine, meter_id: str, kw: float) -> None:
    """A register meter counting a steady load through local 2025 (8,760 hours)."""
    with db.begin() as c:
        c.execute(text("INSERT INTO readings (meter_key, ts, value) SELECT m.key, g, "
                       "extract(epoch FROM g - CAST(:s AS timestamptz)) / 3600 * :kw FROM meters m, "
                       "generate_series(CAST(:s AS timestamptz), CAST(:e AS timestamptz), interval '1 hour') g "
                       "WHERE m.id = :id"), {"s": Y2025[0], "e": Y2025[1], "kw": kw, "id": meter_id})


def rebuild(stack: Stack) -> None:
    subprocess.run([sys.executable, "-m", "services.cli", "rollups", "rebuild"], cwd=REPO, env=stack.env, check=True,
                   stdout=subprocess.DEVNULL)


def baseline_csv(rows: list[tuple[str, str, int, float]]) -> str:
    lines = ["building_id,carrier,month,kwh,source"]
    lines += [f"{b},{c},2015-{m:02d},{k},invoice 2015" for b, c, m, k in rows]
    return "\n".join(lines) + "\n"


def post_csv(client: httpx.Client, path: str, body: str) -> httpx.Response:
    return client.post(path, content=body.encode(), headers={"Content-Type": "text/csv"})


def test_baseline_import_rejections_versions_and_audit(api: Api, admin: httpx.Client, db: Engine) -> None:
    put_ok(admin, "/api/v1/buildings/B1", building_body())
    body = baseline_csv([("B1", "electricity", m, 1000) for m in range(1, 13)]) + (
        "NOPE,electricity,2015-01,1,x\n"
        "B1,steam,2015-01,1,x\n"
        "B1,electricity,2015-13,1,x\n"
        "B1,district_heating,2015-01,-5,x\n"
        "B1,water,2015-01,5,x\n"
        "B1,district_heating,2015-02,5,\n"
        "B1,electricity,2015-01,7,again\n")
    r = post_csv(admin, "/api/v1/imports/baseline", body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["accepted"] == 12
    assert [(x["line"], x["field"]) for x in out["rejected"]] == [
        (14, "building_id"), (15, "carrier"), (16, "month"), (17, "kwh"), (18, "carrier"), (19, "source"),
        (20, "month")]
    assert "appears twice" in out["rejected"][-1]["message"]
    # a re-import replaces March; the first version stays in the history
    r = post_csv(admin, "/api/v1/imports/baseline", baseline_csv([("B1", "electricity", 3, 1500)]))
    assert r.status_code == 200 and r.json()["accepted"] == 1
    rows = admin.get("/api/v1/baseline", params={"building_id": "B1"}).json()
    assert {x["month"]: x["kwh"] for x in rows}["2015-03"] == 1500
    assert sum(x["kwh"] for x in rows) == 12_500
    imports = admin.get("/api/v1/baseline/imports").json()
    assert [(i["accepted"], i["rejected"]) for i in imports] == [(1, 0), (12, 7)]
    audit = admin.get("/api/v1/audit", params={"subject": "baseline"}).json()
    assert len(audit) == 2 and audit[0]["detail"]["accepted"] == 1
    # nothing acceptable: 422 naming the fields; a wrong header names the header
    bad = post_csv(admin, "/api/v1/imports/baseline", "building_id,carrier,month,kwh,source\nX,electricity,1,1,s\n")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "building_id"
    hdr = post_csv(admin, "/api/v1/imports/baseline", "building,kwh\nB1,1\n")
    assert hdr.status_code == 422 and hdr.json()["errors"][0]["field"] == "header"
    # roles: a facility manager or viewer may read but not import
    for role, ids in (("facility_manager", ["B1"]), ("viewer", None)):
        with api.client(make_token(admin, role, ids)) as c:
            assert post_csv(c, "/api/v1/imports/baseline", body).status_code == 403
            assert c.get("/api/v1/baseline", params={"building_id": "B1"}).status_code == 200
    put_ok(admin, "/api/v1/buildings/OTHER", building_body())
    with api.client(make_token(admin, "facility_manager", ["OTHER"])) as c:
        assert c.get("/api/v1/baseline", params={"building_id": "B1"}).status_code == 404


def test_degree_days_and_normal_year(admin: httpx.Client, db: Engine) -> None:
    r = post_csv(admin, "/api/v1/imports/degree-days",
                 "month,degree_days,source\n2025-01,450,DMI 06181\n2025-02,abc,DMI\n2025-03,2000,DMI\n"
                 "1800-01,5,x\n9999-12,5,x\n")
    assert r.status_code == 200
    assert r.json()["accepted"] == 1
    assert [x["field"] for x in r.json()["rejected"]] == ["degree_days"] * 2 + ["month"] * 2
    got = admin.get("/api/v1/degree-days", params={"year": 2025}).json()
    assert got == [{"month": "2025-01", "degree_days": 450.0, "normal": 519.0, "source": "DMI 06181",
                    "import_id": 1}]
    normal = admin.get("/api/v1/settings/normal-year").json()
    assert normal["total"] == 3112 and normal["default"] is True and "Hals Fjernvarme" in normal["source"]
    short = admin.put("/api/v1/settings/normal-year", json={"source": "x", "degree_days": [300] * 11})
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "degree_days"
    kredslob = [480, 450, 420, 300, 150, 55, 20, 17, 85, 200, 320, 432]
    ok = admin.put("/api/v1/settings/normal-year", json={"source": "Kredsløb 3009 (test)", "degree_days": kredslob})
    assert ok.status_code == 200 and ok.json()["total"] == sum(kredslob) and ok.json()["default"] is False
    assert admin.get("/api/v1/audit", params={"subject": "settings/normal_year"}).json()[0]["detail"]["new"][
        "source"] == "Kredsløb 3009 (test)"


def test_a_silent_meter_lowers_coverage_the_same_everywhere(admin: httpx.Client, stack: Stack, db: Engine) -> None:
    # A: electricity 1 kW through 2025; its district-heating meter (installed since always) never reported.
    put_ok(admin, "/api/v1/buildings/A", building_body(name="A", heated_area_m2=1000))
    put_ok(admin, "/api/v1/meters/A-EL", meter_body("A"))
    put_ok(admin, "/api/v1/meters/A-DH", meter_body("A", carrier="district_heating"))
    hourly_register(db, "A-EL", 1.0)
    rebuild(stack)
    assert post_csv(admin, "/api/v1/imports/baseline", baseline_csv(
        [("A", c, m, 1000) for m in range(1, 13) for c in ("electricity", "district_heating")])).status_code == 200
    # half of A's active meter time in 2025 is measured: 0.5 on every figure, as /consumption says
    year = admin.get("/api/v1/consumption", params={"building_id": "A", "start": "2025-01-01", "end": "2026-01-01",
                                                    "resolution": "year"}).json()["series"][0]
    assert year["coverage"] == 0.5
    p = admin.get("/api/v1/progress", params={"year": 2025, "building_id": "A"}).json()
    assert p["coverage"] == 0.5 and p["verdict"] == "uncertain"
    assert admin.get("/api/v1/co2", params={"year": 2025, "building_id": "A"}).json()["coverage"] == 0.5
    ga = admin.get("/api/v1/green-accounts", params={"year": 2025, "building_id": "A"}).json()
    assert ga["totals"]["coverage"] == 0.5
    dh = next(r for r in ga["rows"] if r["carrier"] == "district_heating")
    # installed but silent: its kWh are unknown, not a 100 % saving
    assert (dh["kwh"], dh["coverage"], dh["change_normalised_pct"]) == (0.0, 0.0, None)


def test_adjustments_dated_by_valid_from_through_the_api_and_csv(admin: httpx.Client) -> None:
    for bid, area in (("A", 1000), ("S", 500)):
        put_ok(admin, f"/api/v1/buildings/{bid}", building_body(name=bid, heated_area_m2=area))
    # a file with a wrong row stores nothing, and says which line and field
    bad = post_csv(admin, "/api/v1/imports/adjustments",
                   "building_id,kind,valid_from,reason,heated_area_m2\n"
                   "S,sold,2019-06-30,sold to a housing association,\n"
                   "X,added,2020-01-01,new daycare,\n"
                   "A,area_changed,2021-13-01,extension,1200\n"
                   "A,area_changed,2021-06-01,extension,\n")
    assert bad.status_code == 422, bad.text
    assert [(r["line"], r["field"]) for r in bad.json()["rejected"]] == [
        (3, "building_id"), (4, "valid_from"), (5, "heated_area_m2")]
    assert admin.get("/api/v1/buildings/S/adjustments").json() == []
    good = post_csv(admin, "/api/v1/imports/adjustments",
                    "building_id,kind,valid_from,reason,heated_area_m2\n"
                    "S,sold,2019-06-30,sold to a housing association,\n"
                    "A,area_changed,2021-06-01,extension of the west wing,1200\n")
    assert good.status_code == 200 and good.json()["accepted"] == 2, good.text
    # as a Danish spreadsheet saves it: semicolons, a byte order mark, a quoted reason over two lines
    dk = post_csv(admin, "/api/v1/imports/adjustments",
                  "\ufeffbuilding_id;kind;valid_from;reason\n"
                  "S;other;2018-03-01;\"lejer flyttet ud;\nkælder tom\"\n"
                  "S;bogus;2018-03-01;no such kind\n")
    assert dk.status_code == 422 and [(r["line"], r["field"]) for r in dk.json()["rejected"]] == [(4, "kind")], \
        dk.text  # the second record starts on line 4: the quoted reason spans lines 2-3
    sold = admin.get("/api/v1/buildings/S/adjustments").json()
    assert [(a["kind"], a["effective"], a["actor"]) for a in sold] == [("sold", "2019-06-30", "admin (environment)")]
    # the area change enters the dated area history (kWh/m2 from 1 June 2021 on) and the current area
    hist = admin.get("/api/v1/buildings/A/area-history").json()
    assert [h["heated_area_m2"] for h in hist][-1] == 1200 and admin.get("/api/v1/buildings/A").json()[
        "heated_area_m2"] == 1200
    # the API takes valid_from as well as effective; both given and different is a 422 naming valid_from
    r = admin.post("/api/v1/buildings/A/adjustments", json={"kind": "other", "valid_from": "2022-01-01",
                                                            "reason": "tenant moved out"})
    assert r.status_code == 201 and r.json()["effective"] == "2022-01-01", r.text
    for body in ({"kind": "other", "reason": "undated"},
                 {"kind": "other", "valid_from": "2022-01-01", "effective": "2022-02-01", "reason": "two dates"}):
        r = admin.post("/api/v1/buildings/A/adjustments", json=body)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "valid_from", r.text
    audit = admin.get("/api/v1/audit", params={"subject": "buildings/S"}).json()
    assert any(e["action"] == "add" and e["detail"]["kind"] == "sold" and e["detail"]["via"] == "CSV import"
               for e in audit), audit


def test_progress_with_a_sold_and_an_added_building(api: Api, admin: httpx.Client, stack: Stack, db: Engine) -> None:
    for bid, area in (("A", 1000), ("S", 500), ("N", 400)):
        put_ok(admin, f"/api/v1/buildings/{bid}", building_body(name=bid, heated_area_m2=area))
    put_ok(admin, "/api/v1/meters/A-EL", meter_body("A"))
    put_ok(admin, "/api/v1/meters/N-EL", meter_body("N"))
    hourly_register(db, "A-EL", 1.0)  # 8,760 kWh in 2025
    hourly_register(db, "N-EL", 0.25)  # 2,190 kWh
    rebuild(stack)
    r = post_csv(admin, "/api/v1/imports/baseline", baseline_csv(
        [("A", "electricity", m, 1000) for m in range(1, 13)] + [("S", "electricity", m, 500) for m in range(1, 13)]))
    assert r.json()["accepted"] == 24
    sold = admin.post("/api/v1/buildings/S/adjustments",
                      json={"kind": "sold", "effective": "2019-06-30", "reason": "sold to a housing association"})
    assert sold.status_code == 201, sold.text
    assert admin.post("/api/v1/buildings/N/adjustments", json={"kind": "added", "effective": "2020-01-01",
                                                               "reason": "new daycare"}).status_code == 201
    no_reason = admin.post("/api/v1/buildings/N/adjustments", json={"kind": "other", "effective": "2020-01-01"})
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    area = admin.post("/api/v1/buildings/N/adjustments", json={"kind": "area_changed", "effective": "2020-01-01",
                                                               "reason": "extension"})
    assert area.status_code == 422 and area.json()["errors"][0]["field"] == "heated_area_m2"

    p = admin.get("/api/v1/progress", params={"year": 2025}).json()
    # total: 12,000 + 6,000 = 18,000 in 2015; 8,760 + 2,190 = 10,950 in 2025 -> 1 - 10,950/18,000 = 39.17 %
    assert (p["baseline_year"], p["year"], p["baseline_kwh"], p["actual_kwh"]) == (2015, 2025, 18_000, 10_950)
    assert p["reduction_pct"] == 39.17 and p["target_pct"] == 15
    # like-for-like (A only): 1 - 8,760/12,000 = 27.0 %
    assert p["like_for_like"]["reduction_pct"] == 27.0 and p["like_for_like"]["buildings"] == 1
    # intensity: 18,000/1,500 = 12.0 kWh/m2; 10,950/1,400 = 7.82 -> 34.82 %
    assert p["intensity_kwh_per_m2"]["baseline"] == 12.0 and p["intensity_kwh_per_m2"]["year"] == 7.82
    assert p["coverage"] == 1.0 and p["verdict"] == "on_track" and p["on_track"] is True
    assert [a["kind"] for a in p["adjustments"]] == ["sold", "added"]
    assert p["adjustments"][0]["reason"] == "sold to a housing association"
    assert p["buildings"][0]["building_id"] == "A" and p["buildings"][0]["baseline_source"] == {
        "electricity": "import"}
    assert "weather-corrected" in p["method"]
    # scope: a facility manager of A gets A's progress only; S is hidden (404)
    with api.client(make_token(admin, "facility_manager", ["A"])) as fm:
        mine = fm.get("/api/v1/progress", params={"year": 2025}).json()
        assert (mine["baseline_kwh"], mine["actual_kwh"]) == (12_000, 8760)
        assert fm.get("/api/v1/progress", params={"year": 2025, "building_id": "S"}).status_code == 404
        assert fm.post("/api/v1/buildings/A/adjustments", json={"kind": "other", "effective": "2020-01-01",
                                                                "reason": "mine"}).status_code == 403
    assert admin.get("/api/v1/progress", params={"year": 2015}).json()["errors"][0]["field"] == "year"
    assert admin.get("/api/v1/progress", params={"year": 2025, "target": "T2"}).status_code == 422
    assert admin.get("/api/v1/progress", params={"year": 2025, "target": "T99"}).status_code == 404
    missing = admin.get("/api/v1/baseline/missing").json()
    assert missing["missing"] == [{"building_id": "N", "carrier": "electricity"}]

    # targets as data: every target with a status; a new one is audit-logged
    targets = {t["id"]: t for t in admin.get("/api/v1/targets").json()}
    assert sorted(targets) == ["T1", "T2", "T3", "T4", "T5", "T6"]
    assert targets["T1"]["status"]["verdict"] in ("on_track", "off_track", "uncertain")
    assert targets["T6"]["status"]["kg_co2"] is not None
    t9 = admin.put("/api/v1/targets/T9", json={"name": "Schools -20 %", "metric": "energy_kwh",
                                               "baseline_year": 2015, "target_year": 2030, "reduction_pct": 20})
    assert t9.status_code == 200 and t9.json()["reduction_pct"] == 20
    backwards = admin.put("/api/v1/targets/T9", json={"name": "x", "metric": "energy_kwh", "baseline_year": 2030,
                                                      "target_year": 2015})
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "target_year"

    # CO2: 2025 electricity factor 0.135 (BR18) -> (8,760 + 2,190) * 0.135 = 1,478.25 kg
    assert admin.get("/api/v1/co2", params={"year": 2099}).json()["errors"][0]["field"] == "year"
    assert admin.get("/api/v1/green-accounts", params={"year": 2099}).status_code == 422
    co2 = admin.get("/api/v1/co2", params={"year": 2025}).json()
    assert co2["kg_co2"] == pytest.approx(1478.25, abs=0.06)
    # 2015: 18,000 kWh * 0.192 = 3,456 kg
    assert co2["baseline_kg_co2"] == 3456.0
    new = admin.post("/api/v1/co2-factors", json={"carrier": "electricity", "year": 2025, "kg_per_kwh": 0.1,
                                                  "method": "declared", "source": "Energinet 2025 (test)"})
    assert new.status_code == 201
    assert admin.get("/api/v1/co2", params={"year": 2025}).json()["kg_co2"] == 1095.0  # 10,950 * 0.1
    history = [f for f in admin.get("/api/v1/co2-factors", params={"history": "true"}).json()
               if f["carrier"] == "electricity" and f["year"] == 2025]
    assert [f["kg_per_kwh"] for f in history] == [0.135, 0.1]

    # green accounts: CSV and printable HTML
    csv_text = admin.get("/api/v1/green-accounts", params={"year": 2025, "format": "csv"}).text
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("building_id,name,carrier,kwh,normalised_kwh")
    assert lines[-1].startswith("TOTAL,,,10950.0,10950.0")
    # a name a spreadsheet would run as a formula is exported as text
    put_ok(admin, "/api/v1/buildings/A", building_body(name="=HYPERLINK(\"http://x\")", heated_area_m2=1000))
    csv_text = admin.get("/api/v1/green-accounts", params={"year": 2025, "format": "csv"}).text
    assert any(line.startswith("A,\"'=HYPERLINK(") for line in csv_text.splitlines()), csv_text
    page = admin.get("/api/v1/green-accounts", params={"year": 2025, "format": "html"})
    assert page.headers["content-type"].startswith("text/html") and "Green accounts 2025" in page.text
    labels = admin.get("/api/v1/labels", params={"year": 2025}).json()
    a = next(b for b in labels["buildings"] if b["building_id"] == "A")
    assert a["kwh_per_m2"] == 8.8 and a["measured_class"] == "A2020"  # 8,760 kWh / 1,000 m2
    assert "A" in labels["without_label"]
    fossil = admin.get("/api/v1/fossil").json()
    assert fossil["buildings_still_fossil"] == [] and fossil["trend"][0]["buildings"] == 0


def test_led_share_lighting_and_dimming(admin: httpx.Client, db: Engine) -> None:
    put_ok(admin, "/api/v1/buildings/B1", building_body())
    for lid, tech, w in (("L1", "led", 20.0), ("L2", "led", 20.0), ("L3", "fluorescent", 60.0)):
        put_ok(admin, f"/api/v1/luminaires/{lid}", luminaire_body("B1", technology=tech, rated_power_w=w))
    with db.begin() as c:  # a year of telemetry for L1: 10 kWh used over 1,000 burning hours at 20 W rated
        c.execute(text("INSERT INTO luminaire_telemetry (luminaire_key, ts, energy_wh, burn_hours) "
                       "SELECT key, t, e, h FROM luminaires, (VALUES (CAST('2025-01-01T12:00Z' AS timestamptz), "
                       "0.0, 0.0), (CAST('2025-12-30T12:00Z' AS timestamptz), 10000.0, 1000.0)) v(t, e, h) "
                       "WHERE id = 'L1'"))
    led = admin.get("/api/v1/led", params={"year": 2025}).json()
    now = led["series"][-1]
    assert (now["luminaires"], now["led"], now["led_share_count"]) == (3, 2, 0.6667)
    assert now["led_share_watts"] == 0.4  # 40 of 100 W
    assert led["buildings"][0]["building_id"] == "B1"
    light = led["lighting"]
    # 10 kWh used; at full power 20 W x 1,000 h = 20 kWh -> 10 kWh saved by dimming
    assert (light["kwh"], light["dimming_saving_kwh"]) == (10.0, 10.0)
    assert led["series"][0]["luminaires"] == 0  # none registered on 1 January 2015
    t2 = next(t for t in admin.get("/api/v1/targets").json() if t["id"] == "T2")
    assert t2["status"]["value_pct"] == 66.7 and t2["status"]["verdict"] in ("in_progress", "off_track")


def test_t5_uses_the_same_machinery_on_another_building_group(admin: httpx.Client, db: Engine) -> None:
    put_ok(admin, "/api/v1/buildings/M1", building_body())
    c1 = put_ok(admin, "/api/v1/buildings/C1", building_body(building_group="citizens_businesses"))
    assert c1["building_group"] == "citizens_businesses"
    bad = admin.put("/api/v1/buildings/C2", json=building_body(building_group="Citizens & co"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "building_group"
    post_csv(admin, "/api/v1/imports/baseline", baseline_csv(
        [("M1", "electricity", m, 1000) for m in range(1, 13)] + [("C1", "natural_gas", m, 100) for m in range(1, 13)]))
    t1 = admin.get("/api/v1/progress", params={"year": 2025}).json()
    t5 = admin.get("/api/v1/progress", params={"year": 2025, "target": "T5"}).json()
    assert (t1["baseline_kwh"], t5["baseline_kwh"]) == (12_000, 1200)
    assert t5["target"]["building_group"] == "citizens_businesses"
    assert t5["verdict"] == "uncertain"  # no 2025 data at all
