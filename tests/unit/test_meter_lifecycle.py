"""Meter lifecycle rules without a database: parsing the span, which time a span change touches, replacement rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.registry.lifecycle import Span, _Meter, _pair_problem, changed_time, within_readings
from services.registry.schemas import MeterIn, MeterOut
from services.validation import field_errors

METER: dict[str, Any] = {"building_id": "b1", "carrier": "electricity", "unit": "kWh", "mode": "register"}


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)  # type: ignore[misc]


def error_fields(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as exc:
        MeterIn.model_validate(data)
    return [e.field for e in field_errors(exc.value.errors())]


# --- input and output ------------------------------------------------------------------------------------------------


def test_a_local_date_is_local_midnight_and_an_instant_keeps_its_offset() -> None:
    m = MeterIn.model_validate({**METER, "active_from": "2024-07-01", "active_to": "2025-01-01T00:00:00Z"})
    # 2024-07-01 00:00 in Copenhagen is summer time (+02:00): 2024-06-30 22:00 UTC
    assert m.active_from == utc(2024, 6, 30, 22)
    assert m.active_to == utc(2025, 1, 1)
    assert m.lifecycle_given() == {"active_from", "active_to"}


def test_left_out_and_explicit_null_differ() -> None:
    assert MeterIn.model_validate(METER).lifecycle_given() == frozenset()
    m = MeterIn.model_validate({**METER, "active_to": None, "replaced_by": None})
    assert m.lifecycle_given() == {"active_to", "replaced_by"} and m.active_to is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"active_from": "2024-07-01T00:00:00"}, "active_from"),  # naive
        ({"active_from": "01-07-2024"}, "active_from"),
        ({"active_to": 1719792000}, "active_to"),  # a number is not an instant
        ({"active_to": "2024-02-30"}, "active_to"),
        ({"active_to": "0999-01-01"}, "active_to"),
        ({"active_from": "2024-07-01", "active_to": "2024-07-01"}, "active_to"),  # empty span
        ({"active_from": "2024-07-01T00:00:00+02:00", "active_to": "2024-06-30T23:00:00+01:00"}, "active_to"),
        ({"replaced_by": "bad id"}, "replaced_by"),
    ],
)
def test_lifecycle_validation_names_the_field(overrides: dict[str, Any], field: str) -> None:
    assert error_fields({**METER, **overrides}) == [field]


def test_output_is_local_time_with_an_iso_offset() -> None:
    out = MeterOut.model_validate({
        "id": "m", "building_id": "b1", "carrier": "electricity", "unit": "kWh", "mode": "register",
        "interval_minutes": None, "external_id": None, "kwh_per_unit": None, "parent_meter_id": None,
        "active_from": utc(2024, 6, 30, 22), "active_to": utc(2025, 1, 1), "replaced_by": "m2",
        "created_at": utc(2024, 1, 1), "updated_at": utc(2024, 1, 1),
    })
    dumped = out.model_dump(mode="json")
    assert dumped["active_from"] == "2024-07-01T00:00:00+02:00"
    assert dumped["active_to"] == "2025-01-01T01:00:00+01:00"
    assert dumped["replaced_by"] == "m2"


# --- the time a span change touches ----------------------------------------------------------------------------------

T = [utc(2024, m, 1) for m in range(1, 13)]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # removal declared: [since always, ∞) -> [since always, May): counting changes from May on
        ((None, None), (None, T[4]), [(T[4], None)]),
        # installation declared: (-∞, ∞) -> [March, ∞): everything before March
        ((None, None), (T[2], None), [(None, T[2])]),
        # both ends move: [Mar, Jun) -> [Feb, Aug): Feb..Mar and Jun..Aug
        ((T[2], T[5]), (T[1], T[7]), [(T[1], T[2]), (T[5], T[7])]),
        # the end moves earlier: [Mar, Aug) -> [Mar, Jun): Jun..Aug
        ((T[2], T[7]), (T[2], T[5]), [(T[5], T[7])]),
        # removal undone: [.., May) -> [.., ∞): from May on
        ((None, T[4]), (None, None), [(T[4], None)]),
        # nothing moves
        ((T[2], T[5]), (T[2], T[5]), []),
    ],
)
def test_changed_time_is_the_symmetric_difference(
        old: tuple[datetime | None, datetime | None], new: tuple[datetime | None, datetime | None],
        expected: list[tuple[datetime | None, datetime | None]]) -> None:
    assert changed_time(old, new) == expected


def test_changed_time_is_bounded_by_the_readings() -> None:
    readings = (T[1], T[9])  # first reading 1 Feb, last 1 Oct
    assert within_readings([(None, T[2])], readings, timedelta(0)) == [(T[1], T[2])]
    assert within_readings([(T[4], None)], readings, timedelta(0)) == [(T[4], T[9])]
    assert within_readings([(None, T[0])], readings, timedelta(0)) == []  # wholly before the first reading
    assert within_readings([(T[10], None)], readings, timedelta(0)) == []  # wholly after the last
    # an interval meter's first reading (1 Feb 00:00) covers the 15 minutes before it, which lie before 1 Feb
    lead = timedelta(minutes=15)
    assert within_readings([(None, T[1])], readings, lead) == [(T[1] - lead, T[1])]


# --- replacement rules -----------------------------------------------------------------------------------------------


def meter(mid: str, carrier: str, start: datetime | None, end: datetime | None, building: str = "b1") -> _Meter:
    return _Meter(mid, building, carrier, Span(start, end, None), frozenset())


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        # a gas meter swapped for a new gas meter at the same instant: fine
        (meter("g1", "natural_gas", None, T[6]), meter("g2", "natural_gas", T[6], None), None),
        # a gas boiler replaced by district heating with a month of both running: fine (both really consume)
        (meter("g1", "natural_gas", None, T[6]), meter("fv", "district_heating", T[5], None), None),
        # the same for a heat pump's electricity (the heat supply of the building)
        (meter("o1", "oil", T[0], T[6]), meter("vp", "heat_pump", T[6], None), None),
        # electricity is not replaced by water, nor gas by electricity
        (meter("e1", "electricity", None, T[6]), meter("w", "water", T[6], None), "carrier"),
        (meter("g1", "natural_gas", None, T[6]), meter("e2", "electricity", T[6], None), "carrier"),
        (meter("e1", "electricity", None, T[6]), meter("e2", "electricity", T[6], None, building="b2"), "building"),
        # a replaced meter must have been removed
        (meter("e1", "electricity", None, None), meter("e2", "electricity", T[6], None), "time"),
        # the replacement must say when it was installed
        (meter("e1", "electricity", None, T[6]), meter("e2", "electricity", None, None), "time"),
        # a gap would be counted by neither meter
        (meter("e1", "electricity", None, T[6]), meter("e2", "electricity", T[7], None), "time"),
        # the same carrier twice at once would count the supply twice
        (meter("e1", "electricity", None, T[6]), meter("e2", "electricity", T[5], None), "time"),
        # a replacement installed before the old meter is no replacement
        (meter("g1", "natural_gas", T[3], T[6]), meter("fv", "district_heating", T[2], None), "time"),
    ],
)
def test_replacement_rules(old: _Meter, new: _Meter, kind: str | None) -> None:
    problem = _pair_problem(old, new)
    assert (problem[0] if problem else None) == kind, problem
