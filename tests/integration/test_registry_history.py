"""Back-dated registry history over real HTTP and TimescaleDB: a dated change moves exactly the figures of the dates
it covers (LED shares, fossil trend, progress intensity, group membership), the current value only when its date
has come, and the audit log says who did it."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.integration.api_helpers import Api, building_body, luminaire_body, make_token, meter_body, put_ok
from tests.stack import REPO, Stack

pytest_plugins = ["tests.integration.api_fixtures"]


def named_client(api: Api, admin: httpx.Client, name: str, role: str = "energy_team",
                 building_ids: list[str] | None = None) -> httpx.Client:
    body: dict[str, Any] = {"name": name, "role": role}
    if building_ids is not None:
        body["building_ids"] = building_ids
    r = admin.post("/api/v1/tokens", json=body)
    assert r.status_code == 201, r.text
    return api.client(r.json()["token"])


def audit(admin: httpx.Client, subject: str) -> list[dict[str, Any]]:
    r = admin.get("/api/v1/audit", params={"subject": subject})
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()
    return out


def led_at(admin: httpx.Client) -> dict[str, tuple[int, int, float | None, float | None]]:
    led = admin.get("/api/v1/led", params={"from_year": 2019}).json()
    out = {}
    for p in led["series"][:-1]:  # 1 January of each year; the last point is "now"
        out[p["at"][:4]] = (p["luminaires"], p["led"], p["led_share_count"], p["led_share_watts"])
    out["now"] = tuple(led["series"][-1][k] for k in ("luminaires", "led", "led_share_count", "led_share_watts"))
    return out


def test_back_dated_retrofit_moves_the_led_share_of_exactly_the_years_after_it(api: Api, admin: httpx.Client) -> None:
    put_ok(admin, "/api/v1/buildings/B1", building_body())
    for lid, tech, w in (("L1", "fluorescent", 60.0), ("L2", "fluorescent", 60.0), ("L3", "led", 20.0)):
        put_ok(admin, f"/api/v1/luminaires/{lid}",
               luminaire_body("B1", technology=tech, rated_power_w=w, valid_from="2015-01-01"))
    # before: 1 LED of 3; 20 W of 140 W -> 0.1429, every year
    before = led_at(admin)
    assert before["2019"] == before["2020"] == before["2021"] == before["now"] == (3, 1, 0.3333, 0.1429)

    with named_client(api, admin, "anna (energiteam)") as anna:
        r = anna.put("/api/v1/luminaires/L1",
                     json=luminaire_body("B1", technology="led", rated_power_w=20.0, valid_from="2020-03-01"))
        assert r.status_code == 200, r.text
        assert (r.json()["technology"], r.json()["rated_power_w"]) == ("led", 20.0)  # 2020 is past: current

    after = led_at(admin)
    # 1 Jan 2019 and 1 Jan 2020 are before the retrofit: unchanged
    assert after["2019"] == after["2020"] == (3, 1, 0.3333, 0.1429)
    # 1 Jan 2021 on: 2 LED of 3 = 0.6667; 40 W of 20 + 60 + 20 = 100 W -> 0.4
    assert after["2021"] == after["2025"] == after["now"] == (3, 2, 0.6667, 0.4)

    hist = admin.get("/api/v1/luminaires/L1/history").json()["technology"]
    assert [(h["valid_from"], h["technology"], h["rated_power_w"]) for h in hist] == [
        ("2015-01-01T00:00:00+01:00", "fluorescent", 60.0), ("2020-03-01T00:00:00+01:00", "led", 20.0)]
    assert hist[1]["recorded_by"] == "anna (energiteam)" and hist[1]["recorded_at"].endswith(("+01:00", "+02:00"))

    entries = audit(admin, "luminaires/L1")
    assert [(e["action"], e["actor"]) for e in entries] == [("update", "anna (energiteam)"),
                                                            ("create", "admin (environment)")]
    upd = entries[0]["detail"]
    assert upd["valid_from"] == "2020-03-01T00:00:00+01:00" and upd["role"] == "energy_team"
    assert upd["changes"] == {"technology": {"before": "fluorescent", "after": "led"},
                              "rated_power_w": {"before": 60.0, "after": 20.0}}
    assert upd["history"]["technology"]["value_before_at_valid_from"] == {"technology": "fluorescent",
                                                                          "rated_power_w": 60.0}
    assert audit(admin, "luminaires/L2")[0]["action"] == "create"  # no update logged for an untouched luminaire
    # the same PUT again changes nothing and logs nothing
    put_ok(admin, "/api/v1/luminaires/L1",
           luminaire_body("B1", technology="led", rated_power_w=20.0, valid_from="2020-03-01"))
    assert len(audit(admin, "luminaires/L1")) == 2
    # a change dated exactly on the point reported counts there ("as of 1 January"), as in /fossil (outside review):
    # L2 retrofitted on 2022-01-01 -> 1 Jan 2022: 3 LED of 3, 60 W of 60 W
    put_ok(admin, "/api/v1/luminaires/L2",
           luminaire_body("B1", technology="led", rated_power_w=20.0, valid_from="2022-01-01"))
    boundary = led_at(admin)
    assert boundary["2021"] == (3, 2, 0.6667, 0.4)
    assert boundary["2022"] == boundary["now"] == (3, 3, 1.0, 1.0)
    assert before["2019"] == (3, 1, 0.3333, 0.1429)  # L1..L3 valid from 2015-01-01 count on 1 Jan 2019


def test_back_dated_boiler_replacement_is_a_fossil_lifecycle(api: Api, admin: httpx.Client, db: Engine) -> None:
    put_ok(admin, "/api/v1/buildings/G", building_body(heating="natural_gas"))
    put_ok(admin, "/api/v1/buildings/D", building_body(heating="district_heating"))
    put_ok(admin, "/api/v1/meters/G-gas", meter_body("G", carrier="natural_gas", unit="m3"))
    f = admin.get("/api/v1/fossil", params={"baseline_year": 2019}).json()
    last = datetime.now(UTC).year - 1
    assert [t["year"] for t in f["trend"]] == list(range(2019, last + 1))
    assert [t["buildings_heated_fossil"] for t in f["trend"]] == [1] * (last - 2018)
    assert [b["building_id"] for b in f["buildings_still_fossil"]] == ["G"]

    r = admin.put("/api/v1/buildings/G", json=building_body(heating="district_heating", valid_from="2021-06-01"))
    assert r.status_code == 200 and r.json()["heating"] == "district_heating"
    # the boiler's gas meter removed and replaced by the district-heating meter (meter lifecycle)
    put_ok(admin, "/api/v1/meters/G-fv", meter_body("G", carrier="district_heating", active_from="2021-06-01"))
    put_ok(admin, "/api/v1/meters/G-gas", meter_body("G", carrier="natural_gas", unit="m3", replaced_by="G-fv"))
    f = admin.get("/api/v1/fossil", params={"baseline_year": 2019}).json()
    # gas until 1 June 2021: fossil-heated in 2019, 2020 and 2021 (part of it), not from 2022
    assert {t["year"]: t["buildings_heated_fossil"] for t in f["trend"]} == {
        y: 1 if y <= 2021 else 0 for y in range(2019, last + 1)}
    assert all(t["buildings"] == 0 and t["kwh"] == 0 for t in f["trend"])  # no oil or gas metered
    assert f["buildings_still_fossil"] == []
    assert f["lifecycles"] == [{
        "building_id": "G",
        "heating": [{"heating": "natural_gas", "from": None, "to": "2021-06-01T00:00:00+02:00"},
                    {"heating": "district_heating", "from": "2021-06-01T00:00:00+02:00", "to": None}],
        "fossil_until": "2021-06-01T00:00:00+02:00", "converted_to": "district_heating",
        "meters": [{"meter_id": "G-gas", "carrier": "natural_gas", "active_from": None,
                    "active_to": "2021-06-01T00:00:00+02:00", "replaced_by": "G-fv"}]}]
    hist = admin.get("/api/v1/buildings/G/history").json()
    assert [(h["valid_from"], h["heating"]) for h in hist["heating"]] == [
        (None, "natural_gas"), ("2021-06-01T00:00:00+02:00", "district_heating")]
    assert [(h["valid_from"], h["heated_area_m2"]) for h in hist["heated_area_m2"]] == [(None, 5400.0)]
    assert hist["adjustments"] == []

    # future-dated: recorded, not current yet; a later PUT restating today's value keeps the plan
    nxt = datetime.now(UTC).year + 1
    r = admin.put("/api/v1/buildings/G", json=building_body(heating="heat_pump", valid_from=f"{nxt}-05-01"))
    assert r.status_code == 200 and r.json()["heating"] == "district_heating"
    put_ok(admin, "/api/v1/buildings/G", building_body(heating="district_heating", name="renamed"))
    # the same plan sent again: nothing changes, and the current value stays
    again = admin.put("/api/v1/buildings/G", json=building_body(heating="heat_pump", name="renamed",
                                                               valid_from=f"{nxt}-05-01"))
    assert again.status_code == 200 and again.json()["heating"] == "district_heating"
    logged = audit(admin, "buildings/G")
    assert [e["action"] for e in logged] == ["update", "update", "update", "create"]  # the repeat logged nothing
    assert logged[0]["detail"]["changes"] == {"name": {"before": "Skovvejens Skole", "after": "renamed"}}
    assert logged[1]["detail"]["valid_from"] == f"{nxt}-05-01T00:00:00+02:00"
    assert logged[1]["detail"]["changes"] == {"heating": {"before": "district_heating", "after": "heat_pump"}}
    assert logged[2]["detail"]["history"]["heating"]["value_before_at_valid_from"] == "natural_gas"
    hist = admin.get("/api/v1/buildings/G/history").json()["heating"]
    assert [h["heating"] for h in hist] == ["natural_gas", "district_heating", "heat_pump"]
    assert admin.get("/api/v1/buildings/G").json()["heating"] == "district_heating"
    # when its date comes (moved into the past here), the alert evaluator's step makes it current
    with db.begin() as c:
        c.execute(text("UPDATE building_heating_history SET valid_from = now() - interval '1 minute' "
                       "WHERE building_id = 'G' AND heating = 'heat_pump'"))
    subprocess.run([sys.executable, "-c", "from ingest.alerts import apply_due_registry_changes as f; f()"],
                   cwd=REPO, check=True)
    assert admin.get("/api/v1/buildings/G").json()["heating"] == "heat_pump"


def rebuild(stack: Stack) -> None:
    subprocess.run([sys.executable, "-m", "services.cli", "rollups", "rebuild"], cwd=REPO, env=stack.env, check=True,
                   stdout=subprocess.DEVNULL)


def post_csv(client: httpx.Client, path: str, body: str) -> httpx.Response:
    return client.post(path, content=body.encode(), headers={"Content-Type": "text/csv"})


def test_back_dated_area_change_moves_intensity_only_from_valid_from(admin: httpx.Client, db: Engine,
                                                                      stack: Stack) -> None:
    put_ok(admin, "/api/v1/buildings/A", building_body(heated_area_m2=1000.0))
    put_ok(admin, "/api/v1/meters/A-el", meter_body("A"))
    base = "\n".join(["building_id,carrier,month,kwh,source"]
                     + [f"A,electricity,2015-{m:02d},1000,invoice 2015" for m in range(1, 13)])
    assert post_csv(admin, "/api/v1/imports/baseline", base + "\n").status_code == 200
    # 1 kW through local 2025: 8,760 kWh
    with db.begin() as c:
        c.execute(text("INSERT INTO readings (meter_key, ts, value) SELECT m.key, g, "
                       "extract(epoch FROM g - CAST(:s AS timestamptz)) / 3600 FROM meters m, "
                       "generate_series(CAST(:s AS timestamptz), CAST(:e AS timestamptz), interval '1 hour') g "
                       "WHERE m.id = 'A-el'"), {"s": "2024-12-31T23:00Z", "e": "2025-12-31T23:00Z"})
    rebuild(stack)

    def intensity(year: int) -> tuple[float | None, float | None, dict[str, Any]]:
        p = admin.get("/api/v1/progress", params={"year": year}).json()
        i = p["intensity_kwh_per_m2"]
        return i["baseline"], i["year"], p["buildings"][0]["heated_area_m2"]

    # 12,000 kWh / 1,000 m2 = 12.0 in 2015; 8,760 / 1,000 = 8.76 in 2025
    assert intensity(2025) == (12.0, 8.76, {"baseline": 1000.0, "year": 1000.0})
    put_ok(admin, "/api/v1/buildings/A", building_body(heated_area_m2=2000.0, valid_from="2020-01-01"))
    # 2025 lies after valid_from: 8,760 / 2,000 = 4.38; the 2015 baseline keeps its 1,000 m2
    assert intensity(2025) == (12.0, 4.38, {"baseline": 1000.0, "year": 2000.0})
    # 2019 lies before it: its area is still 1,000 m2; 2020 is wholly after it
    assert intensity(2019)[2] == {"baseline": 1000.0, "year": 1000.0}
    assert intensity(2020)[2] == {"baseline": 1000.0, "year": 2000.0}
    # from 2025-07-02 on instead: 2025 is time-weighted, 182 days at 1,000 + 183 at 2,000 -> 1,501.4 m2
    put_ok(admin, "/api/v1/buildings/A", building_body(heated_area_m2=1000.0, valid_from="2020-01-01"))
    put_ok(admin, "/api/v1/buildings/A", building_body(heated_area_m2=2000.0, valid_from="2025-07-02"))
    assert intensity(2025)[2] == {"baseline": 1000.0, "year": pytest.approx(1501.4, abs=0.05)}
    assert intensity(2020)[2] == {"baseline": 1000.0, "year": 1000.0}
    areas = [(h["valid_from"], h["heated_area_m2"]) for h in admin.get("/api/v1/buildings/A/area-history").json()]
    assert areas == [(None, 1000.0), ("2025-07-02T00:00:00+02:00", 2000.0)]


def test_area_changes_of_the_history_are_progress_adjustments(api: Api, admin: httpx.Client) -> None:
    """Area changes are non-routine adjustments (PRODUCT.md, Progress): one made by a dated PUT of the building is
    listed in /progress `adjustments` with its reason and who recorded it, as one made through the adjustments
    endpoint is; the latter (written to both stores) once; the registration not at all."""
    put_ok(admin, "/api/v1/buildings/A", building_body(heated_area_m2=1000.0))
    base = "\n".join(["building_id,carrier,month,kwh,source"]
                     + [f"A,electricity,2015-{m:02d},1000,invoice 2015" for m in range(1, 13)])
    assert post_csv(admin, "/api/v1/imports/baseline", base + "\n").status_code == 200
    with named_client(api, admin, "anna (energiteam)") as anna:
        put_ok(anna, "/api/v1/buildings/A", building_body(heated_area_m2=1200.0, valid_from="2019-03-01"))
    with named_client(api, admin, "bo (energiteam)") as bo:
        r = bo.post("/api/v1/buildings/A/adjustments", json={"kind": "area_changed", "effective": "2021-01-01",
                                                            "heated_area_m2": 1500.0, "reason": "extension"})
        assert r.status_code == 201, r.text

    def listed(year: int) -> list[tuple[Any, ...]]:
        p = admin.get("/api/v1/progress", params={"year": year}).json()
        return [(a["effective"], a["heated_area_m2_before"], a["heated_area_m2"], a["reason"], a["actor"],
                 a["source"], a["id"] is None) for a in p["adjustments"]]

    put_change = ("2019-03-01", 1000.0, 1200.0, "updated via API", "anna (energiteam)", "area_history", True)
    endpoint_change = ("2021-01-01", 1200.0, 1500.0, "extension", "bo (energiteam)", "adjustment", False)
    assert listed(2025) == [put_change, endpoint_change]
    assert listed(2020) == [put_change]  # 2021 lies after the year
    assert listed(2016) == []  # nothing between 2015 and 2016

    # no readings in any year: A's year is unknown, not a 100 % reduction
    p = admin.get("/api/v1/progress", params={"year": 2024}).json()
    assert (p["baseline_kwh"], p["actual_kwh"], p["reduction_pct"]) == (12_000, 0, None)
    assert p["on_track"] is False and p["verdict"] == "uncertain"
    assert p["buildings_without_data"] == {"baseline": [], "year": ["A"]}
    assert any("no data for 1 building(s) of the portfolio in 2024 months 1-12 (A)" in r
               for r in p["uncertain_because"])


def steady_2025(db: Engine, meter_id: str) -> None:
    """1 kW through local 2025 on a register meter: 8,760 kWh."""
    with db.begin() as c:
        c.execute(text("INSERT INTO readings (meter_key, ts, value) SELECT m.key, g, "
                       "extract(epoch FROM g - CAST(:s AS timestamptz)) / 3600 FROM meters m, "
                       "generate_series(CAST(:s AS timestamptz), CAST(:e AS timestamptz), interval '1 hour') g "
                       "WHERE m.id = :id"), {"s": "2024-12-31T23:00Z", "e": "2025-12-31T23:00Z", "id": meter_id})


def two_main_meters(admin: httpx.Client, db: Engine, stack: Stack) -> None:
    """Building B with two main electricity meters E1 and E2, each 1 kW through local 2025, rolled up."""
    put_ok(admin, "/api/v1/buildings/B", building_body())
    put_ok(admin, "/api/v1/meters/E1", meter_body("B"))
    put_ok(admin, "/api/v1/meters/E2", meter_body("B"))
    steady_2025(db, "E1")
    steady_2025(db, "E2")
    rebuild(stack)


def test_back_dated_meter_parent_counts_from_its_month(admin: httpx.Client, db: Engine, stack: Stack) -> None:
    two_main_meters(admin, db, stack)

    def actual() -> float:
        return float(admin.get("/api/v1/progress", params={"year": 2025}).json()["actual_kwh"])

    assert actual() == pytest.approx(17_520, abs=0.01)  # two main meters
    # E2 re-wired behind E1 today: all of 2025 was before, both still count
    put_ok(admin, "/api/v1/meters/E2", meter_body("B", parent_meter_id="E1"))
    assert actual() == pytest.approx(17_520, abs=0.01)
    # ... behind E1 since 1 July 2025: E2 adds January to June only, 181 days less the spring-forward hour
    put_ok(admin, "/api/v1/meters/E2", meter_body("B", parent_meter_id="E1", valid_from="2025-07-01"))
    assert actual() == pytest.approx(8760 + 181 * 24 - 1, abs=0.01)

    # /consumption counts the same meters as of each period (outside review: it used today's parent, 8,760)
    def consumption(resolution: str) -> list[tuple[float, float]]:
        r = admin.get("/api/v1/consumption", params={"building_id": "B", "start": "2025-01-01",
                                                     "end": "2026-01-01", "resolution": resolution})
        assert r.status_code == 200, r.text
        return [(p["kwh"], p["coverage"]) for p in r.json()["series"]]

    assert consumption("year") == [(pytest.approx(8760 + 181 * 24 - 1, abs=0.01), 1.0)]
    months = consumption("month")
    # June: both main meters (2 x 720 h); July: E1 only (744 h); every month fully measured
    assert months[5] == (pytest.approx(2 * 720, abs=0.01), 1.0) and months[6] == (pytest.approx(744, abs=0.01), 1.0)
    assert sum(k for k, _ in months) == pytest.approx(8760 + 181 * 24 - 1, abs=0.01)
    days = consumption("day")
    assert days[180] == (pytest.approx(48, abs=0.01), 1.0) and days[181] == (pytest.approx(24, abs=0.01), 1.0)


def test_building_group_counts_as_of_each_year(admin: httpx.Client) -> None:
    put_ok(admin, "/api/v1/buildings/M1", building_body())
    put_ok(admin, "/api/v1/buildings/C1", building_body(building_group="citizens_businesses"))
    rows = [f"M1,electricity,2015-{m:02d},1000,invoice" for m in range(1, 13)]
    rows += [f"C1,natural_gas,2015-{m:02d},100,invoice" for m in range(1, 13)]
    assert post_csv(admin, "/api/v1/imports/baseline",
                    "building_id,carrier,month,kwh,source\n" + "\n".join(rows) + "\n").status_code == 200
    # M1 moves to the citizens' and businesses' group from 2020 on
    put_ok(admin, "/api/v1/buildings/M1", building_body(building_group="citizens_businesses", valid_from="2020-01-01"))
    t1 = admin.get("/api/v1/progress", params={"year": 2025}).json()
    t5 = admin.get("/api/v1/progress", params={"year": 2025, "target": "T5"}).json()
    # in 2015 M1 was municipal: T1's baseline keeps its 12,000 kWh, T5's has only C1's 1,200
    assert (t1["baseline_kwh"], t5["baseline_kwh"]) == (12_000, 1200)
    assert admin.get("/api/v1/buildings/M1").json()["building_group"] == "citizens_businesses"


def test_meter_parent_history_and_audit(admin: httpx.Client) -> None:
    put_ok(admin, "/api/v1/buildings/B", building_body())
    put_ok(admin, "/api/v1/meters/E1", meter_body("B"))
    put_ok(admin, "/api/v1/meters/E2", meter_body("B"))
    r = admin.put("/api/v1/meters/E2", json=meter_body("B", parent_meter_id="E1", valid_from="2022-01-01"))
    assert r.status_code == 200 and r.json()["parent_meter_id"] == "E1"
    hist = admin.get("/api/v1/meters/E2/history").json()["parent_meter_id"]
    assert [(h["valid_from"], h["parent_meter_id"]) for h in hist] == [(None, None),
                                                                       ("2022-01-01T00:00:00+01:00", "E1")]
    (upd, _) = audit(admin, "meters/E2")
    assert upd["detail"]["changes"] == {"parent_meter_id": {"before": None, "after": "E1"}}
    # fields outside the history are audited generically, e.g. the meter lifecycle; a PUT that leaves the lifecycle
    # out keeps it, and logs no change of it
    put_ok(admin, "/api/v1/meters/E2", meter_body("B", parent_meter_id="E1", active_to="2026-01-01"))
    assert audit(admin, "meters/E2")[0]["detail"]["changes"] == {
        "active_to": {"before": None, "after": "2026-01-01T00:00:00+01:00"}}
    put_ok(admin, "/api/v1/meters/E2", meter_body("B", parent_meter_id="E1", external_id="x-2"))
    assert audit(admin, "meters/E2")[0]["detail"]["changes"] == {"external_id": {"before": None, "after": "x-2"}}
    # "meters/E1" names E1 only, not every id that starts with it
    put_ok(admin, "/api/v1/meters/E10", meter_body("B"))
    assert [e["subject"] for e in audit(admin, "meters/E1")] == ["meters/E1"]


def test_csv_valid_from_and_bad_valid_from_name_the_field(api: Api, admin: httpx.Client) -> None:
    put_ok(admin, "/api/v1/buildings/B1", building_body())
    with named_client(api, admin, "import job") as job:
        r = post_csv(job, "/api/v1/imports/registry/luminaires",
                     "id,building_id,technology,rated_power_w,valid_from\n"
                     "L1,B1,fluorescent,58,2015-01-01\nL2,B1,led,20,2019-06-30T00:00:00+02:00\n")
        assert r.status_code == 200, r.text
        r = post_csv(job, "/api/v1/imports/registry/luminaires",
                     "id,building_id,technology,rated_power_w,valid_from\nL1,B1,led,20,2020-03-01\n")
        assert r.status_code == 200, r.text
        bad = post_csv(job, "/api/v1/imports/registry/luminaires",
                       "id,building_id,technology,rated_power_w,valid_from\nL2,B1,led,20,2020-02-30\n")
        assert bad.status_code == 422
        assert [(e["line"], e["field"]) for e in bad.json()["rejected"]] == [(2, "valid_from")]
    hist = admin.get("/api/v1/luminaires/L1/history").json()["technology"]
    assert [(h["valid_from"], h["technology"]) for h in hist] == [("2015-01-01T00:00:00+01:00", "fluorescent"),
                                                                  ("2020-03-01T00:00:00+01:00", "led")]
    entries = audit(admin, "luminaires/L1")
    assert [(e["action"], e["actor"], e["detail"]["via"]) for e in entries] == [
        ("update", "import job", "CSV import"), ("create", "import job", "CSV import")]
    assert led_at(admin)["2020"][:2] == (2, 1)  # L2 LED since mid-2019, L1 not yet on 1 January 2020

    for bad_value in ("2020-13-01", "yesterday", "2020-03-01T00:00:00", 20200301, "2020-03-01T00:00:00+0100"):
        r = admin.put("/api/v1/luminaires/L1", json=luminaire_body("B1", valid_from=bad_value))
        assert r.status_code == 422, (bad_value, r.text)
        assert [e["field"] for e in r.json()["errors"]] == ["valid_from"], bad_value
    assert admin.get("/api/v1/luminaires/L1").json()["technology"] == "led"  # nothing stored


def test_cli_import_is_audit_logged_with_the_user(admin: httpx.Client, stack: Stack, tmp_path: Any) -> None:
    import getpass

    put_ok(admin, "/api/v1/buildings/B1", building_body())
    f = tmp_path / "luminaires.csv"
    f.write_text("id,building_id,technology,rated_power_w,valid_from\nL1,B1,hid,250,2016-01-01\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "services.cli", "import", "luminaires", str(f)], check=False,
                         cwd=REPO, env=stack.env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    (entry,) = audit(admin, "luminaires/L1")
    assert (entry["actor"], entry["detail"]["via"]) == (f"cli:{getpass.getuser()}", "CSV import")
    assert entry["detail"]["valid_from"] == "2016-01-01T00:00:00+01:00"


def test_histories_are_scoped_and_the_audit_log_is_for_the_energy_team(api: Api, admin: httpx.Client) -> None:
    for b in ("mine", "theirs"):
        put_ok(admin, f"/api/v1/buildings/{b}", building_body())
        put_ok(admin, f"/api/v1/meters/{b}-el", meter_body(b))
        put_ok(admin, f"/api/v1/luminaires/{b}-l1", luminaire_body(b))
    with api.client(make_token(admin, "facility_manager", ["mine"])) as fm:
        for path in ("/api/v1/buildings/{}/history", "/api/v1/meters/{}-el/history",
                     "/api/v1/luminaires/{}-l1/history"):
            assert fm.get(path.format("mine")).status_code == 200
            assert fm.get(path.format("theirs")).status_code == 404
        assert fm.get("/api/v1/audit", params={"subject": "buildings/mine"}).status_code == 403
        assert fm.put("/api/v1/buildings/mine", json=building_body(valid_from="2020-01-01")).status_code == 403
    created = audit(admin, "buildings/mine")
    assert [e["action"] for e in created] == ["create"]
    assert created[0]["detail"]["values"]["heating"] == "district_heating"


def test_a_back_dated_put_dates_only_what_it_changes(admin: httpx.Client) -> None:
    put_ok(admin, "/api/v1/buildings/BD", building_body(heated_area_m2=1000.0, heating="natural_gas"))
    put_ok(admin, "/api/v1/buildings/BD", building_body(heated_area_m2=1500.0, heating="natural_gas",
                                                         valid_from="2025-07-01"))
    # a GET body sent back with only the heating changed, back-dated: the area keeps its own date (outside review 2:
    # it was re-dated to 2023-05-01 with the heating)
    body = {k: v for k, v in admin.get("/api/v1/buildings/BD").json().items() if k in building_body()}
    put_ok(admin, "/api/v1/buildings/BD", {**body, "heating": "heat_pump", "valid_from": "2023-05-01"})
    hist = admin.get("/api/v1/buildings/BD/history").json()
    assert [(h["valid_from"], h["heated_area_m2"]) for h in hist["heated_area_m2"]] == [
        (None, 1000.0), ("2025-07-01T00:00:00+02:00", 1500.0)]
    assert [(h["valid_from"], h["heating"]) for h in hist["heating"]] == [
        (None, "natural_gas"), ("2023-05-01T00:00:00+02:00", "heat_pump")]
    # a request that changes nothing of today re-dates what it states: the area of 1500 since 2024-01-01
    put_ok(admin, "/api/v1/buildings/BD", {**body, "heating": "heat_pump", "valid_from": "2024-01-01"})
    hist = admin.get("/api/v1/buildings/BD/history").json()
    assert [(h["valid_from"], h["heated_area_m2"]) for h in hist["heated_area_m2"]] == [
        (None, 1000.0), ("2024-01-01T00:00:00+01:00", 1500.0)]


def test_a_parent_change_mid_month_counts_day_by_day(admin: httpx.Client, db: Engine, stack: Stack) -> None:
    two_main_meters(admin, db, stack)
    # E2 behind E1 from 15 August 2025: E2 adds 1 Jan .. 14 Aug, 226 days less the spring-forward hour
    put_ok(admin, "/api/v1/meters/E2", meter_body("B", parent_meter_id="E1", valid_from="2025-08-15"))
    total = 8760 + 226 * 24 - 1
    p = admin.get("/api/v1/progress", params={"year": 2025, "building_id": "B"}).json()
    assert p["actual_kwh"] == pytest.approx(total, abs=0.01) and p["coverage_detail"]["year"] == 1.0

    def series(resolution: str, start: str = "2025-01-01", end: str = "2026-01-01") -> list[tuple[float, float]]:
        r = admin.get("/api/v1/consumption", params={"building_id": "B", "start": start, "end": end,
                                                     "resolution": resolution})
        assert r.status_code == 200, r.text
        return [(x["kwh"], x["coverage"]) for x in r.json()["series"]]

    # August: E1 744 h + E2 14 days = 1,080 kWh, the sum of its days (outside review 2: the month counted E2 whole)
    aug = series("month", "2025-08-01", "2025-09-01")
    days = series("day", "2025-08-01", "2025-09-01")
    assert aug == [(pytest.approx(744 + 14 * 24, abs=0.01), 1.0)]
    assert sum(k for k, _ in days) == pytest.approx(744 + 14 * 24, abs=0.01)
    assert series("year") == [(pytest.approx(total, abs=0.01), 1.0)]


def test_a_group_move_mid_year_splits_the_buildings_months_in_every_report(
        admin: httpx.Client, db: Engine, stack: Stack) -> None:
    put_ok(admin, "/api/v1/buildings/G", building_body())
    put_ok(admin, "/api/v1/meters/G-EL", meter_body("G"))
    steady_2025(db, "G-EL")
    rebuild(stack)
    put_ok(admin, "/api/v1/buildings/G", building_body(building_group="citizens_businesses", valid_from="2025-07-01"))
    first_half = 181 * 24 - 1  # 1 Jan .. 30 Jun at 1 kW, less the spring-forward hour
    q = {"year": 2025, "building_id": "G"}
    # the building's own answers equal its row in the municipal reports (outside review 3: they counted 12 months)
    co2 = admin.get("/api/v1/co2", params=q).json()
    assert sum(r["kwh"] for r in co2["rows"] if r["year"] == 2025) == pytest.approx(first_half, abs=0.1)
    portfolio = admin.get("/api/v1/co2", params={"year": 2025}).json()
    assert [r["kwh"] for r in portfolio["rows"] if r["year"] == 2025 and r["building_id"] == "G"] == [
        pytest.approx(first_half, abs=0.1)]
    ga = admin.get("/api/v1/green-accounts", params=q).json()
    assert ga["totals"]["kwh"] == pytest.approx(first_half, abs=0.1)
    # and the other group's report has the rest
    t5 = admin.get("/api/v1/green-accounts", params={**q, "group": "citizens_businesses"}).json()
    assert t5["totals"]["kwh"] == pytest.approx(8760 - first_half, abs=0.1)
