"""Registry over real HTTP: create/replace, read, validation that names the field, histories."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.integration.api_helpers import Api, building_body, luminaire_body, meter_body, put_ok

# The real API in a subprocess, and an admin client on a clean database (fixtures `api`, `admin`).
pytest_plugins = ["tests.integration.api_fixtures"]


def fields(r: httpx.Response) -> list[str]:
    body = r.json()
    assert isinstance(body["detail"], str) and body["detail"]
    return [e["field"] for e in body["errors"]]


# --- buildings -------------------------------------------------------------------------------------------------------


def test_building_created_then_replaced(admin: httpx.Client) -> None:
    body = building_body(
        address="Skovvej 1, 2750 Ballerup",
        bbr_building_no="151-12345-1",
        energy_label="C",
        opening_hours={"mon": ["07:00-16:00"], "sat": []},
        hot_water_share=0.2,
    )
    r = admin.put("/api/v1/buildings/skole-1", json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["id"] == "skole-1"
    assert {k: created[k] for k in body} == body
    assert created["created_at"] and created["updated_at"]

    r = admin.put("/api/v1/buildings/skole-1", json=building_body(name="Skovvejens Skole (ny)"))
    assert r.status_code == 200, r.text
    replaced = r.json()
    assert replaced["name"] == "Skovvejens Skole (ny)"
    assert replaced["address"] is None  # PUT replaces: fields left out are cleared
    assert replaced["opening_hours"] is None

    got = admin.get("/api/v1/buildings/skole-1").json()
    assert got == replaced
    assert [b["id"] for b in admin.get("/api/v1/buildings").json()] == ["skole-1"]


def test_area_history_records_registration_and_changes(admin: httpx.Client, db: Engine) -> None:
    put_ok(admin, "/api/v1/buildings/b1", building_body(heated_area_m2=1000))
    put_ok(admin, "/api/v1/buildings/b1", building_body(heated_area_m2=1000, name="same area"))
    put_ok(admin, "/api/v1/buildings/b1", building_body(heated_area_m2=1250.5))
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT heated_area_m2, reason FROM building_area_history WHERE building_id = 'b1' ORDER BY valid_from"
            )
        ).all()
    assert [tuple(r) for r in rows] == [(1000.0, "registered"), (1250.5, "updated via API")]
    hist = admin.get("/api/v1/buildings/b1/area-history").json()
    assert [h["heated_area_m2"] for h in hist] == [1000.0, 1250.5]


def test_round_trip_of_get_output_is_accepted(admin: httpx.Client) -> None:
    got = put_ok(admin, "/api/v1/buildings/b1", building_body())
    r = admin.put("/api/v1/buildings/b1", json={**got, "heated_area_m2": 10})
    assert r.status_code == 200, r.text
    r = admin.put("/api/v1/buildings/b1", json={**got, "id": "other"})
    assert r.status_code == 422
    assert fields(r) == ["id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (building_body(heating="coal"), "heating"),
        (building_body(heated_area_m2=-5), "heated_area_m2"),
        (building_body(heated_area_m2="lots"), "heated_area_m2"),
        (building_body(heated_area_m2="12"), "heated_area_m2"),  # JSON has numbers; a string is a client bug
        (building_body(heated_area_m2=True), "heated_area_m2"),
        (building_body(name=123), "name"),
        (building_body(hot_water_share=1.5), "hot_water_share"),
        (building_body(energy_label="Z"), "energy_label"),
        (building_body(name=""), "name"),
        (building_body(name="nul\u0000byte"), "name"),
        (building_body(opening_hours={"mon": ["7-16"]}), "opening_hours.mon.0"),
        (building_body(opening_hours={"mon": ["16:00-07:00"]}), "opening_hours.mon.0"),
        (building_body(opening_hours={"monday": ["07:00-16:00"]}), "opening_hours.monday"),
        (building_body(opening_hours=["07:00-16:00"]), "opening_hours"),
        (building_body(heatng="oil"), "heatng"),
        ({k: v for k, v in building_body().items() if k != "heated_area_m2"}, "heated_area_m2"),
    ],
)
def test_building_validation_names_the_field(admin: httpx.Client, body: dict[str, Any], field: str) -> None:
    r = admin.put("/api/v1/buildings/b1", json=body)
    assert r.status_code == 422, r.text
    assert field in fields(r)
    assert admin.get("/api/v1/buildings/b1").status_code == 404


@pytest.mark.parametrize("bad_id", ["has space", "x" * 65, "æøå", "semi;colon", "%2E%2E", "..."])
def test_bad_id_in_path_is_422_naming_the_id(admin: httpx.Client, bad_id: str) -> None:
    r = admin.put(f"/api/v1/buildings/{bad_id}", json=building_body())
    assert r.status_code == 422, r.text
    assert fields(r) == ["building_id"]
    for path in (f"/api/v1/buildings/{bad_id}", f"/api/v1/meters/{bad_id}", f"/api/v1/meters/{bad_id}/readings"):
        r = admin.get(path)
        assert r.status_code == 422, (path, r.text)


def test_malformed_bodies_are_4xx_not_500(admin: httpx.Client) -> None:
    cases = [
        admin.put("/api/v1/buildings/b1", content=b"{not json", headers={"Content-Type": "application/json"}),
        admin.put("/api/v1/buildings/b1", content=b"", headers={"Content-Type": "application/json"}),
        admin.put("/api/v1/buildings/b1", json=[1, 2]),
        admin.put("/api/v1/buildings/b1", content=b"name=x", headers={"Content-Type": "text/plain"}),
        admin.put(
            "/api/v1/buildings/b1", content=b'{"heated_area_m2": NaN}', headers={"Content-Type": "application/json"}
        ),
    ]
    for r in cases:
        assert r.status_code == 422, r.text
        assert fields(r), r.text
    assert "body" in fields(cases[0])


def test_unknown_entities_are_404(admin: httpx.Client) -> None:
    for path, field in [
        ("/api/v1/buildings/nope", "building_id"),
        ("/api/v1/meters/nope", "meter_id"),
        ("/api/v1/luminaires/nope", "luminaire_id"),
        ("/api/v1/meters/nope/readings", "meter_id"),
        ("/api/v1/meters/nope/revisions", "meter_id"),
        ("/api/v1/luminaires/nope/telemetry", "luminaire_id"),
        ("/api/v1/meters?building_id=nope", "building_id"),
        ("/api/v1/luminaires?building_id=nope", "building_id"),
    ]:
        r = admin.get(path)
        assert r.status_code == 404, (path, r.text)
        assert fields(r) == [field]
    r = admin.get("/api/v1/no-such-route")
    assert r.status_code == 404
    assert fields(r) == ["path"]


# --- meters ----------------------------------------------------------------------------------------------------------


def test_meter_created_updated_and_listed(admin: httpx.Client, db: Engine) -> None:
    put_ok(admin, "/api/v1/buildings/b1", building_body())
    r = admin.put("/api/v1/meters/m-el", json=meter_body("b1", external_id="12345678"))
    assert r.status_code == 201, r.text
    m = r.json()
    assert m["id"] == "m-el" and m["building_id"] == "b1" and m["external_id"] == "12345678"
    assert m["effective_kwh_per_unit"] == 1.0
    assert "replayed_quarantined" in m

    r = admin.put("/api/v1/meters/m-el", json=meter_body("b1", mode="interval", interval_minutes=15))
    assert r.status_code == 200, r.text
    assert r.json()["interval_minutes"] == 15 and r.json()["external_id"] is None

    ev = put_ok(admin, "/api/v1/meters/m-ev", meter_body("b1", carrier="ev_charging", parent_meter_id="m-el"))
    assert ev["parent_meter_id"] == "m-el"
    listed = admin.get("/api/v1/meters", params={"building_id": "b1"}).json()
    assert [x["id"] for x in listed] == ["m-el", "m-ev"]
    assert listed[1]["parent_meter_id"] == "m-el"
    assert admin.get("/api/v1/meters/m-ev").json()["carrier"] == "ev_charging"
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM meters")).scalar() == 2


def test_fuel_meters_expose_the_effective_factor(admin: httpx.Client) -> None:
    put_ok(admin, "/api/v1/buildings/b1", building_body(heating="natural_gas"))
    gas = put_ok(admin, "/api/v1/meters/gas", meter_body("b1", carrier="natural_gas", unit="m3"))
    assert gas["kwh_per_unit"] is None
    assert gas["effective_kwh_per_unit"] == 11.0
    assert "energy-facts" in gas["kwh_per_unit_source"]
    oil = put_ok(admin, "/api/v1/meters/oil", meter_body("b1", carrier="oil", unit="l", kwh_per_unit=9.8))
    assert (oil["kwh_per_unit"], oil["effective_kwh_per_unit"]) == (9.8, 9.8)
    heat = put_ok(admin, "/api/v1/meters/heat", meter_body("b1", carrier="district_heating", unit="GJ"))
    assert heat["effective_kwh_per_unit"] == pytest.approx(277.78, abs=0.01)
    water = put_ok(admin, "/api/v1/meters/water", meter_body("b1", carrier="water", unit="m3"))
    assert water["effective_kwh_per_unit"] is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"carrier": "steam"}, "carrier"),
        ({"unit": "kW"}, "unit"),
        ({"mode": "cumulative"}, "mode"),
        ({"mode": "interval"}, "interval_minutes"),
        ({"mode": "interval", "interval_minutes": 0}, "interval_minutes"),
        ({"mode": "interval", "interval_minutes": 7.5}, "interval_minutes"),
        ({"mode": "interval", "interval_minutes": True}, "interval_minutes"),
        ({"interval_minutes": 366 * 24 * 60 + 1}, "interval_minutes"),  # register meters may say 15, not > a year
        ({"kwh_per_unit": -1, "carrier": "natural_gas", "unit": "m3"}, "kwh_per_unit"),
        ({"kwh_per_unit": 2.0}, "kwh_per_unit"),
        ({"carrier": "electricity", "unit": "m3"}, "kwh_per_unit"),
        ({"carrier": "water", "unit": "kWh"}, "unit"),
        ({"building_id": "bad id"}, "building_id"),
        ({"building_id": "nope"}, "building_id"),
        ({"parent_meter_id": "nope"}, "parent_meter_id"),
        ({"parent_meter_id": "m-other"}, "parent_meter_id"),
        ({"parent_meter_id": "m1"}, "parent_meter_id"),
        ({"external_id": "taken"}, "external_id"),
    ],
)
def test_meter_validation_names_the_field(admin: httpx.Client, overrides: dict[str, Any], field: str) -> None:
    put_ok(admin, "/api/v1/buildings/b1", building_body())
    put_ok(admin, "/api/v1/buildings/b2", building_body())
    put_ok(admin, "/api/v1/meters/m-other", meter_body("b2", external_id="taken"))
    r = admin.put("/api/v1/meters/m1", json={**meter_body("b1"), **overrides})
    assert r.status_code == 422, r.text
    assert fields(r) == [field], r.text
    assert admin.get("/api/v1/meters/m1").status_code == 404


def test_missing_meter_fields_are_each_named(admin: httpx.Client) -> None:
    r = admin.put("/api/v1/meters/m1", json={"carrier": "electricity"})
    assert r.status_code == 422
    assert set(fields(r)) == {"building_id", "unit", "mode"}


def test_parent_cycles_are_rejected(admin: httpx.Client) -> None:
    put_ok(admin, "/api/v1/buildings/b1", building_body())
    put_ok(admin, "/api/v1/meters/a", meter_body("b1"))
    put_ok(admin, "/api/v1/meters/b", meter_body("b1", parent_meter_id="a"))
    r = admin.put("/api/v1/meters/a", json=meter_body("b1", parent_meter_id="b"))
    assert r.status_code == 422
    assert fields(r) == ["parent_meter_id"]


def test_moving_a_parent_without_its_sub_meters_is_rejected(admin: httpx.Client) -> None:
    put_ok(admin, "/api/v1/buildings/b1", building_body())
    put_ok(admin, "/api/v1/buildings/b2", building_body())
    put_ok(admin, "/api/v1/meters/main", meter_body("b1"))
    put_ok(admin, "/api/v1/meters/sub", meter_body("b1", parent_meter_id="main"))
    r = admin.put("/api/v1/meters/main", json=meter_body("b2"))
    assert r.status_code == 422
    assert fields(r) == ["building_id"]
    assert "sub" in r.json()["errors"][0]["message"]


def test_unit_of_a_meter_with_readings_cannot_change(admin: httpx.Client, db: Engine) -> None:
    put_ok(admin, "/api/v1/buildings/b1", building_body())
    put_ok(admin, "/api/v1/meters/m1", meter_body("b1"))
    assert admin.put("/api/v1/meters/m1", json=meter_body("b1", unit="MWh")).status_code == 200  # no readings yet
    with db.begin() as conn:
        conn.execute(
            text("""
            INSERT INTO readings (meter_key, ts, value) SELECT key, '2026-01-01T00:00Z', 1 FROM meters WHERE id = 'm1'
        """)
        )
    r = admin.put("/api/v1/meters/m1", json=meter_body("b1", unit="kWh"))
    assert r.status_code == 422
    assert fields(r) == ["unit"]
    assert admin.get("/api/v1/meters/m1").json()["unit"] == "MWh"


# --- luminaires ------------------------------------------------------------------------------------------------------


def test_luminaire_created_updated_and_history(admin: httpx.Client, db: Engine) -> None:
    put_ok(admin, "/api/v1/buildings/b1", building_body())
    r = admin.put("/api/v1/luminaires/l1", json=luminaire_body("b1", zone="Gang A"))
    assert r.status_code == 201, r.text
    assert r.json()["zone"] == "Gang A" and "replayed_quarantined" in r.json()
    assert admin.put("/api/v1/luminaires/l1", json=luminaire_body("b1", zone="Gang B")).status_code == 200
    r = admin.put("/api/v1/luminaires/l1", json=luminaire_body("b1", technology="led", rated_power_w=22))
    assert r.status_code == 200
    assert r.json()["technology"] == "led"
    with db.connect() as conn:
        hist = conn.execute(
            text(
                "SELECT technology, rated_power_w FROM luminaire_history WHERE luminaire_id = 'l1' ORDER BY valid_from"
            )
        ).all()
    assert [tuple(h) for h in hist] == [("fluorescent", 58.0), ("led", 22.0)]
    assert [x["id"] for x in admin.get("/api/v1/luminaires", params={"building_id": "b1"}).json()] == ["l1"]
    assert admin.get("/api/v1/luminaires/l1").json()["rated_power_w"] == 22.0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"technology": "gaslight"}, "technology"),
        ({"rated_power_w": -1}, "rated_power_w"),
        ({"building_id": "nope"}, "building_id"),
    ],
)
def test_luminaire_validation_names_the_field(admin: httpx.Client, overrides: dict[str, Any], field: str) -> None:
    put_ok(admin, "/api/v1/buildings/b1", building_body())
    r = admin.put("/api/v1/luminaires/l1", json={**luminaire_body("b1"), **overrides})
    assert r.status_code == 422, r.text
    assert fields(r) == [field]


# --- documentation and health ----------------------------------------------------------------------------------------


def test_openapi_and_docs_are_served(api: Api) -> None:
    spec = httpx.get(f"{api.base_url}/api/v1/openapi.json").json()
    for path in (
        "/api/v1/buildings/{building_id}",
        "/api/v1/meters/{meter_id}/readings",
        "/api/v1/tokens",
        "/api/v1/imports/registry/{kind}",
        "/api/v1/dead-letters",
    ):
        assert path in spec["paths"], path
    assert httpx.get(f"{api.base_url}/docs").status_code == 200
    health = httpx.get(f"{api.base_url}/health").json()
    assert health["status"] == "ok" and set(health["rollups"]) == {"pending_ranges", "failed_ranges", "lag_s"}


def test_json_sent_as_a_form_gets_a_message_naming_the_content_type(admin: httpx.Client) -> None:
    import json

    # what `curl -d '{...}'` sends without -H 'Content-Type: application/json'
    r = admin.put("/api/v1/buildings/b1", content=json.dumps(building_body()),
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body"
    assert "Content-Type: application/json" in r.json()["errors"][0]["message"]


def test_meter_physical_maximum_is_stored_and_validated(admin: httpx.Client) -> None:
    put_ok(admin, "/api/v1/buildings/b1", building_body())
    r = admin.put("/api/v1/meters/m1", json=meter_body("b1", max_power_kw=50))
    assert r.status_code == 201 and r.json()["max_power_kw"] == 50.0
    r = admin.put("/api/v1/meters/m1", json=meter_body("b1", max_power_kw=-1))
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["max_power_kw"]
