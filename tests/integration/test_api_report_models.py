"""The reports' declared answer models over real HTTP (issue 14): every JSON answer of /led, /fossil, /labels,
/green-accounts, /co2 and /co2-factors validates against the model its route declares in the OpenAPI document, names
no field the model does not, and comes back unchanged through the model; every field of these models is described."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from sqlalchemy import Engine, text

from services.reports.schemas import (
    Co2Out,
    FactorOut,
    FossilOut,
    GreenAccountsOut,
    LabelsOut,
    LedOut,
)
from tests.conftest import reset_database
from tests.integration.api_helpers import Api, building_body, luminaire_body, meter_body, put_ok
from tests.integration.test_api_targets import baseline_csv, hourly_register, post_csv, rebuild
from tests.stack import Stack

pytest_plugins = ["tests.integration.api_fixtures"]


@pytest.fixture(scope="module")
def team(api: Api, stack: Stack, engine: Engine) -> Iterator[httpx.Client]:
    """A: electricity through 2025, a 2015 baseline, an LED and a fluorescent luminaire with a year of telemetry.
    G: gas-heated until a back-dated change to district heating in 2021, its gas meter replaced, a 2015 gas baseline.
    """
    reset_database(engine)
    with api.client(api.admin_token) as admin:
        put_ok(admin, "/api/v1/buildings/A", building_body(name="A", heated_area_m2=1000))
        put_ok(admin, "/api/v1/meters/A-EL", meter_body("A"))
        put_ok(admin, "/api/v1/luminaires/L1", luminaire_body("A", technology="led", rated_power_w=20.0))
        put_ok(admin, "/api/v1/luminaires/L2", luminaire_body("A"))
        put_ok(admin, "/api/v1/buildings/G", building_body(name="G", heating="natural_gas"))
        put_ok(admin, "/api/v1/meters/G-gas", meter_body("G", carrier="natural_gas", unit="m3"))
        put_ok(admin, "/api/v1/buildings/G", building_body(name="G", heating="district_heating",
                                                           valid_from="2021-06-01"))
        put_ok(admin, "/api/v1/meters/G-fv", meter_body("G", carrier="district_heating", active_from="2021-06-01"))
        put_ok(admin, "/api/v1/meters/G-gas", meter_body("G", carrier="natural_gas", unit="m3", replaced_by="G-fv"))
        hourly_register(engine, "A-EL", 1.0)
        with engine.begin() as c:
            c.execute(text("INSERT INTO luminaire_telemetry (luminaire_key, ts, energy_wh, burn_hours) "
                           "SELECT key, t, e, h FROM luminaires, (VALUES (CAST('2025-01-01T12:00Z' AS timestamptz), "
                           "0.0, 0.0), (CAST('2025-12-30T12:00Z' AS timestamptz), 10000.0, 1000.0)) v(t, e, h) "
                           "WHERE id = 'L1'"))
        rebuild(stack)
        r = post_csv(admin, "/api/v1/imports/baseline", baseline_csv(
            [("A", "electricity", m, 1000) for m in range(1, 13)] + [("G", "natural_gas", m, 500)
                                                                      for m in range(1, 13)]))
        assert r.json()["accepted"] == 24, r.text
        yield admin


def undeclared(value: Any, where: str = "") -> list[str]:
    """Where an answer has a field its model does not name (the models allow them, so that nothing is trimmed)."""
    if isinstance(value, BaseModel):
        out = [f"{where}.{k}" for k in (value.model_extra or {})]
        for name in type(value).model_fields:
            out += undeclared(getattr(value, name), f"{where}.{name}")
        return out
    if isinstance(value, list):
        return [w for i, v in enumerate(value) for w in undeclared(v, f"{where}[{i}]")]
    return []


def check(client: httpx.Client, path: str, params: dict[str, str], model: type[BaseModel]) -> dict[str, Any]:
    r = client.get(f"/api/v1{path}", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = r.json()
    m = model.model_validate(body)
    assert undeclared(m) == [], path
    assert m.model_dump(mode="json", by_alias=True) == body, path  # the same keys and values, through the model
    return body


def test_each_report_answer_is_its_declared_model(team: httpx.Client) -> None:
    led = check(team, "/led", {"year": "2025"}, LedOut)
    assert led["series"][-1]["luminaires"] == 2 and led["buildings"][0]["led"] == 1
    assert [b["building_id"] for b in led["lighting"]["buildings"]] == ["A"]
    assert isinstance(led["series"][0]["at"], str) and len(led["series"][0]["at"]) == 10  # a date, not an instant

    fossil = check(team, "/fossil", {"baseline_year": "2015"}, FossilOut)
    assert fossil["trend"][0] == {"year": 2015, "buildings": 1, "kwh": 6000.0, "kg_co2": fossil["rows"][0]["kg_co2"],
                                  "buildings_heated_fossil": 1, "buildings_fossil": 1}
    (g,) = fossil["lifecycles"]
    assert [h["heating"] for h in g["heating"]] == ["natural_gas", "district_heating"]
    assert g["heating"][1]["from"] == "2021-06-01T00:00:00+02:00" and g["meters"][0]["replaced_by"] == "G-fv"

    labels = check(team, "/labels", {"year": "2025"}, LabelsOut)
    a = next(b for b in labels["buildings"] if b["building_id"] == "A")
    assert a["kwh_per_m2"] == 8.8 and a["next_class"] is None

    green = check(team, "/green-accounts", {"year": "2025"}, GreenAccountsOut)
    assert {(r["building_id"], r["carrier"]) for r in green["rows"]} >= {("A", "electricity"), ("G", "natural_gas")}
    assert green["totals"]["kwh"] == 8760.0

    co2 = check(team, "/co2", {"year": "2025"}, Co2Out)
    assert any(r["hourly"] for r in co2["rows"])

    for params in ({}, {"history": "true"}):
        r = team.get("/api/v1/co2-factors", params=params)
        assert r.status_code == 200
        factors = [FactorOut.model_validate(f) for f in r.json()]
        assert factors and all(undeclared(f) == [] for f in factors)
        assert [f.model_dump(mode="json") for f in factors] == r.json()


def test_the_openapi_document_declares_and_describes_each_report(team: httpx.Client) -> None:
    doc = team.get("/api/v1/openapi.json").json()
    schemas = doc["components"]["schemas"]

    def answer(path: str) -> dict[str, Any]:
        out: dict[str, Any] = doc["paths"][f"/api/v1{path}"]["get"]["responses"]["200"]["content"]
        return out

    for path, model in (("/led", LedOut), ("/fossil", FossilOut), ("/labels", LabelsOut),
                        ("/green-accounts", GreenAccountsOut)):
        assert answer(path)["application/json"]["schema"] == {"$ref": f"#/components/schemas/{model.__name__}"}
    assert answer("/co2-factors")["application/json"]["schema"]["items"] == {"$ref": "#/components/schemas/FactorOut"}
    # the green accounts' CSV and printable page stay documented beside the JSON
    assert set(answer("/green-accounts")) == {"application/json", "text/csv", "text/html"}

    def described(name: str, seen: set[str]) -> list[str]:
        """Fields without a description in the schema `name` and every schema it refers to."""
        if name in seen:
            return []
        seen.add(name)
        out = []
        for field, prop in schemas[name].get("properties", {}).items():
            if not prop.get("description"):
                out.append(f"{name}.{field}")
            refs = [prop, prop.get("items", {}), *prop.get("anyOf", [])]
            for ref in refs + [r.get("items", {}) for r in refs]:
                if "$ref" in ref:
                    out += described(ref["$ref"].rsplit("/", 1)[1], seen)
        return out

    seen: set[str] = set()
    missing = [m for model in (LedOut, FossilOut, LabelsOut, GreenAccountsOut, FactorOut)
               for m in described(model.__name__, seen)]
    assert missing == []
    assert len(seen) >= 18  # not vacuous: the nested models were walked too
