"""Registry input validation without a database: every rule names its field."""

from __future__ import annotations

import re
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import Connection

from services.auth.schemas import BuildingScope, Principal, Role, TokenIn
from services.auth.service import Unauthenticated, authenticate
from services.readings.units import Unit
from services.registry.schemas import (
    FROM_TEXT,
    BuildingIn,
    Carrier,
    LuminaireIn,
    MeterIn,
    MeterOut,
    effective_kwh_per_unit,
)
from services.validation import dotted_field, field_errors

BUILDING: dict[str, Any] = {"name": "Rådhuset", "type": "town_hall", "heated_area_m2": 9000, "heating": "oil"}
METER: dict[str, Any] = {"building_id": "b1", "carrier": "electricity", "unit": "kWh", "mode": "register"}


def error_fields(model: type[Any], data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as exc:
        model.model_validate(data)
    return [e.field for e in field_errors(exc.value.errors())]


def test_minimal_building_and_trimmed_text() -> None:
    b = BuildingIn.model_validate({**BUILDING, "name": "  Rådhuset  "})
    assert b.name == "Rådhuset"
    assert b.opening_hours is None and b.hot_water_share is None and b.energy_label is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"heating": "coal"}, "heating"),
        ({"heated_area_m2": -0.1}, "heated_area_m2"),
        ({"heated_area_m2": float("inf")}, "heated_area_m2"),
        ({"heated_area_m2": float("nan")}, "heated_area_m2"),
        ({"heated_area_m2": 1e308}, "heated_area_m2"),  # finite, but no building: it broke sums (outside review)
        ({"hot_water_share": -0.01}, "hot_water_share"),
        ({"hot_water_share": 1.01}, "hot_water_share"),
        ({"energy_label": "A"}, "energy_label"),
        ({"name": "   "}, "name"),
        ({"address": "a\x00b"}, "address"),
        ({"opening_hours": {"mon": ["24:00-25:00"]}}, "opening_hours.mon.0"),
        ({"opening_hours": {"mon": ["7:00-16:00"]}}, "opening_hours.mon.0"),
        ({"opening_hours": {"mon": ["16:00-16:00"]}}, "opening_hours.mon.0"),
        ({"opening_hours": {"mon": ["08:00-12:00", "x"]}}, "opening_hours.mon.1"),
        ({"opening_hours": {"holiday": []}}, "opening_hours.holiday"),
        ({"opening_hours": {"mon": "07:00-16:00"}}, "opening_hours.mon"),
        ({"id": "not valid!"}, "id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_building_rules_name_the_field(overrides: dict[str, Any], field: str) -> None:
    assert error_fields(BuildingIn, {**BUILDING, **overrides}) == [field]


def test_building_bounds_are_inclusive() -> None:
    b = BuildingIn.model_validate(
        {**BUILDING, "heated_area_m2": 0, "hot_water_share": 1, "opening_hours": {"sun": ["00:00-24:00"], "sat": []}}
    )
    assert b.heated_area_m2 == 0 and b.hot_water_share == 1
    assert BuildingIn.model_validate({**BUILDING, "hot_water_share": 0}).hot_water_share == 0


def test_read_only_fields_of_get_output_are_ignored() -> None:
    b = BuildingIn.model_validate({**BUILDING, "created_at": "2026-01-01T00:00:00Z", "updated_at": "x"})
    assert b.name == "Rådhuset"
    assert "created_at" not in b.model_dump()


@given(st.one_of(st.text(max_size=70), st.text(alphabet=".", min_size=1, max_size=3)))
def test_ids_are_exactly_1_to_64_safe_characters(ident: str) -> None:
    # not dots only: "." and ".." are path segments (and would make broker user "building-..")
    ok = re.fullmatch(r"[A-Za-z0-9._-]{1,64}", ident) is not None and ident.strip(".") != ""
    try:
        MeterIn.model_validate({**METER, "building_id": ident})
    except ValidationError as e:
        assert not ok, e
        assert [x.field for x in field_errors(e.errors())] == ["building_id"]
    else:
        assert ok


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"mode": "interval"}, "interval_minutes"),
        ({"mode": "register", "interval_minutes": 366 * 24 * 60 + 1}, "interval_minutes"),  # over a year
        ({"mode": "interval", "interval_minutes": -15}, "interval_minutes"),
        ({"carrier": "water", "unit": "kWh"}, "unit"),
        ({"carrier": "water", "unit": "m3", "kwh_per_unit": 1}, "kwh_per_unit"),
        ({"unit": "kWh", "kwh_per_unit": 1}, "kwh_per_unit"),
        ({"carrier": "natural_gas", "unit": "m3", "kwh_per_unit": 0}, "kwh_per_unit"),
        ({"carrier": "natural_gas", "unit": "m3", "kwh_per_unit": 1e308}, "kwh_per_unit"),
        ({"max_power_kw": 1e308}, "max_power_kw"),
        ({"carrier": "natural_gas", "unit": "l"}, "kwh_per_unit"),  # no default for gas in litres
        ({"carrier": "district_heating", "unit": "m3"}, "kwh_per_unit"),
        ({"unit": "kW"}, "unit"),
        ({"parent_meter_id": "a b"}, "parent_meter_id"),
        ({"external_id": ""}, "external_id"),
    ],
)
def test_meter_rules_name_the_field(overrides: dict[str, Any], field: str) -> None:
    assert error_fields(MeterIn, {**METER, **overrides}) == [field]


def test_valid_meters() -> None:
    assert MeterIn.model_validate({**METER, "mode": "interval", "interval_minutes": 15}).interval_minutes == 15
    # a register meter may state its expected time between readings (issue 12): daily, quarterly billing reads
    assert MeterIn.model_validate({**METER, "mode": "register", "interval_minutes": 1440}).interval_minutes == 1440
    quarterly = MeterIn.model_validate({**METER, "mode": "register", "interval_minutes": 131_760})
    assert quarterly.interval_minutes == 131_760
    assert MeterIn.model_validate({**METER, "carrier": "natural_gas", "unit": "m3"}).kwh_per_unit is None
    assert MeterIn.model_validate({**METER, "carrier": "oil", "unit": "l", "kwh_per_unit": 9.9}).kwh_per_unit == 9.9
    assert MeterIn.model_validate({**METER, "carrier": "water", "unit": "l"}).unit == Unit.L


def test_missing_required_meter_fields_are_each_named() -> None:
    assert sorted(error_fields(MeterIn, {})) == ["building_id", "carrier", "mode", "unit"]


@pytest.mark.parametrize(
    ("carrier", "unit", "registered", "factor", "source"),
    [
        (Carrier.electricity, Unit.WH, None, 0.001, "exact"),
        (Carrier.district_heating, Unit.GJ, None, 1000 / 3.6, "exact"),
        (Carrier.district_heating, Unit.MJ, None, 1 / 3.6, "exact"),
        (Carrier.district_heating, Unit.MWH, None, 1000.0, "exact"),
        (Carrier.natural_gas, Unit.M3, None, 11.0, "default"),
        (Carrier.oil, Unit.L, None, 10.0, "default"),
        (Carrier.natural_gas, Unit.M3, 10.5, 10.5, "registered"),
        (Carrier.water, Unit.M3, None, None, None),
    ],
)
def test_effective_kwh_factor_and_its_source(
    carrier: Carrier, unit: Unit, registered: float | None, factor: float | None, source: str | None
) -> None:
    got, why = effective_kwh_per_unit(carrier, unit, registered)
    if factor is None or source is None:
        assert (got, why) == (None, None)
    else:
        assert got == pytest.approx(factor)
        assert why is not None and why.startswith(source)


def test_meter_output_serialises_the_effective_factor() -> None:
    out = MeterOut.model_validate(
        {
            **METER,
            "id": "gas",
            "carrier": "natural_gas",
            "unit": "m3",
            "interval_minutes": None,
            "external_id": None,
            "kwh_per_unit": None,
            "parent_meter_id": None,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }
    ).model_dump(mode="json")
    assert out["effective_kwh_per_unit"] == 11.0
    assert "11 kWh per Nm³" in out["kwh_per_unit_source"]


def test_luminaire_rules() -> None:
    assert error_fields(LuminaireIn, {"building_id": "b1", "technology": "plasma", "rated_power_w": 1}) == [
        "technology"
    ]
    assert error_fields(LuminaireIn, {"building_id": "b1", "technology": "led", "rated_power_w": -1}) == [
        "rated_power_w"
    ]
    assert LuminaireIn.model_validate({"building_id": "b1", "technology": "led", "rated_power_w": 0}).zone is None
    # two 1e308 W luminaires made the portfolio's installed W overflow to null (outside review 2)
    assert error_fields(LuminaireIn, {"building_id": "b1", "technology": "led", "rated_power_w": 1e308}) == [
        "rated_power_w"
    ]


def test_field_names_from_error_locations() -> None:
    assert dotted_field(("body", "opening_hours", "mon", 0)) == "opening_hours.mon.0"
    assert dotted_field(("path", "building_id")) == "building_id"
    assert dotted_field(("body",)) == "body"
    assert dotted_field(("opening_hours", "xyz", "[key]")) == "opening_hours.xyz"
    errs = field_errors(
        [{"loc": ("body", 7), "msg": "JSON decode error", "type": "json_invalid", "ctx": {"error": "Expecting value"}}]
    )
    assert errs[0].field == "body" and "character 7" in errs[0].message
    assert field_errors([{"loc": ("x",), "msg": "Value error, bad", "type": "value_error"}])[0].message == "bad"


def test_roles_and_scopes() -> None:
    fm = Principal(role=Role.facility_manager, name="fm", token_id=1, building_ids=frozenset({"b1"}))
    assert fm.scope == BuildingScope(frozenset({"b1"}))
    assert fm.scope.allows("b1") and not fm.scope.allows("b2")
    assert not fm.can_write_registry and not fm.can_read_ingest_rejects and not fm.can_manage_tokens
    viewer = Principal(role=Role.viewer, name="v", token_id=2, building_ids=frozenset({"ignored"}))
    assert viewer.scope.building_ids is None and viewer.scope.allows("anything")
    assert not viewer.can_write_registry and not viewer.can_read_ingest_rejects
    team = Principal(role=Role.energy_team, name="t", token_id=3)
    assert team.can_write_registry and team.can_read_ingest_rejects and not team.can_manage_tokens
    assert Principal(role=Role.admin, name="a", token_id=None).can_manage_tokens


def test_environment_admin_token_needs_no_database() -> None:
    no_db = cast(Connection, object())  # any use of the connection would fail
    p = authenticate(no_db, "eb_admin_secret", "eb_admin_secret")
    assert p.role == Role.admin and p.token_id is None
    with pytest.raises(Unauthenticated):
        authenticate(no_db, None, "eb_admin_secret")
    with pytest.raises(Unauthenticated):
        authenticate(no_db, "", "eb_admin_secret")


def test_token_input() -> None:
    assert TokenIn.model_validate({"name": "x", "role": "viewer"}).building_ids == []
    assert error_fields(TokenIn, {"name": "x", "role": "root"}) == ["role"]
    assert error_fields(TokenIn, {"name": "x", "role": "viewer", "building_ids": ["a b"]}) == ["building_ids.0"]


def test_numbers_must_be_json_numbers_except_in_text_rows() -> None:
    assert error_fields(BuildingIn, {**BUILDING, "heated_area_m2": "9000"}) == ["heated_area_m2"]
    assert error_fields(BuildingIn, {**BUILDING, "heated_area_m2": False}) == ["heated_area_m2"]
    from_csv = BuildingIn.model_validate({**BUILDING, "heated_area_m2": "9000.5"}, context=FROM_TEXT)
    assert from_csv.heated_area_m2 == 9000.5
    with pytest.raises(ValidationError):
        MeterIn.model_validate({**METER, "mode": "interval", "interval_minutes": "15.5"}, context=FROM_TEXT)
    m = MeterIn.model_validate({**METER, "mode": "interval", "interval_minutes": "15"}, context=FROM_TEXT)
    assert m.interval_minutes == 15
