"""The rules of dated registry facts (services.registry.history), without a database."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from services.registry.history import (
    SINCE_ALWAYS,
    Row,
    periods,
    plan_change,
    shown_valid_from,
    value_as_of,
    values_during,
)

CPH = ZoneInfo("Europe/Copenhagen")
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def at(y: int, m: int = 1, d: int = 1) -> datetime:
    return datetime(y, m, d, tzinfo=CPH)


GAS_THEN_DH = [Row(SINCE_ALWAYS, ("natural_gas",)), Row(at(2021, 6), ("district_heating",))]


def test_value_as_of_a_date() -> None:
    assert value_as_of(GAS_THEN_DH, at(2021, 5, 31), extends_back=True) == ("natural_gas",)
    assert value_as_of(GAS_THEN_DH, at(2021, 6), extends_back=True) == ("district_heating",)  # from valid_from on
    # a building's first value holds before it; a luminaire does not exist before its first row
    first_2020 = [Row(at(2020), ("led", 20.0))]
    assert value_as_of(first_2020, at(2019), extends_back=True) == ("led", 20.0)
    assert value_as_of(first_2020, at(2019), extends_back=False) is None


def test_back_dated_change_records_one_row_and_supersedes_nothing_earlier() -> None:
    rows = [Row(SINCE_ALWAYS, ("natural_gas",))]
    plan = plan_change(rows, at(2021, 6), ("district_heating",), NOW, extends_back=True)
    assert plan is not None
    assert (plan.before, plan.superseded, plan.insert) == (("natural_gas",), [], True)


def test_same_value_as_of_valid_from_and_after_is_no_change() -> None:
    assert plan_change(GAS_THEN_DH, at(2022), ("district_heating",), NOW, extends_back=True) is None
    # a PUT without a date restating today's value: nothing changes, a scheduled change stays
    scheduled = [*GAS_THEN_DH, Row(datetime(2027, 1, 1, tzinfo=UTC), ("heat_pump",))]
    assert plan_change(scheduled, NOW, ("district_heating",), NOW, extends_back=True) is None


def test_earlier_date_supersedes_the_later_change_up_to_now_but_not_a_scheduled_one() -> None:
    scheduled = Row(datetime(2027, 1, 1, tzinfo=UTC), ("heat_pump",))
    rows = [*GAS_THEN_DH, scheduled]
    # "district heating since 2021-03-01": the 2021-06-01 row is superseded, the 2027 plan stays
    plan = plan_change(rows, at(2021, 3), ("district_heating",), NOW, extends_back=True)
    assert plan is not None
    assert plan.before == ("natural_gas",)
    assert plan.superseded == [GAS_THEN_DH[1]]
    assert plan.insert


def test_restating_the_earlier_value_removes_the_later_change_without_a_redundant_row() -> None:
    # "gas from 2020 on" when gas held since always and district heating came in 2021: the 2021 row goes, and no
    # row (2020, gas) is added since gas held just before 2020 anyway
    plan = plan_change(GAS_THEN_DH, at(2020), ("natural_gas",), NOW, extends_back=True)
    assert plan is not None
    assert (plan.superseded, plan.insert) == ([GAS_THEN_DH[1]], False)


def test_luminaire_registered_today_then_retrofit_back_dated() -> None:
    registered = [Row(NOW, ("fluorescent", 58.0))]
    plan = plan_change(registered, at(2020, 3), ("led", 20.0), NOW, extends_back=False)
    assert plan is not None
    # nothing was known before today's registration: the luminaire is LED from 2020-03-01 on
    assert (plan.before, plan.superseded, plan.insert) == (None, registered, True)


def test_values_during_a_year_and_periods() -> None:
    # 2021: gas until 1 June, then district heating -> both; 2022: district heating only
    assert values_during(GAS_THEN_DH, at(2021), at(2022), extends_back=True) == [("natural_gas",),
                                                                               ("district_heating",)]
    assert values_during(GAS_THEN_DH, at(2022), at(2023), extends_back=True) == [("district_heating",)]
    assert values_during(GAS_THEN_DH, at(2020), at(2021), extends_back=True) == [("natural_gas",)]
    assert periods(GAS_THEN_DH) == [(None, at(2021, 6), ("natural_gas",)), (at(2021, 6), None, ("district_heating",))]
    assert shown_valid_from(SINCE_ALWAYS) is None and shown_valid_from(at(2021)) == at(2021)
