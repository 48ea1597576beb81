"""Alert rules on constructed data with hand-checked verdicts and wasted-kWh estimates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.alerts.repository import RuleBook
from services.alerts.rules import (
    DEFAULT_PARAMS,
    PARAM_BOUNDS,
    HeatSample,
    LightSample,
    SilentVerdict,
    above,
    check_param,
    dh_cooling,
    lights_out_of_hours,
    meter_silent,
    meter_silent_verdict,
    night_baseload,
)
from services.alerts.schemas import RuleIn
from services.calendar import public_holiday, school_holiday

CPH = ZoneInfo("Europe/Copenhagen")
WEEKDAYS_7_16 = {d: ["07:00-16:00"] for d in ("mon", "tue", "wed", "thu", "fri")}


def test_meter_silent_after_three_intervals_and_not_before() -> None:
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    p = DEFAULT_PARAMS["meter_silent"]
    assert meter_silent(now - timedelta(minutes=40), now, 15, p) is None  # 40 < 3 x 15
    f = meter_silent(now - timedelta(minutes=50), now, 15, p)
    assert f is not None and f.detail["allowed_hours"] == 0.75
    assert meter_silent(None, now, 15, p) is None  # never reported: nothing to judge
    assert meter_silent(now - timedelta(hours=2), now, None, p) is None  # default hourly: 3 h allowed
    # no more 90-day guess that a long-silent meter was taken out of use: only its declared removal says so
    assert meter_silent(now - timedelta(days=91), now, 15, p) is not None


def test_meter_silent_is_judged_only_within_the_active_span() -> None:
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    p = DEFAULT_PARAMS["meter_silent"]  # 15-minute meter: 3 x 15 = 45 minutes allowed
    last = now - timedelta(hours=5)
    assert meter_silent_verdict(last, now, 15, p).finding is not None  # installed, silent 5 h
    # not yet installed: nothing raised, an active alert resolves
    v = meter_silent_verdict(last, now, 15, p, active_from=now + timedelta(days=1))
    assert v.finding is None and v.clear_why is not None and "not installed" in v.clear_why
    # removed 10 minutes after its last reading (10 min <= 45 min: never overdue while installed): resolves
    v = meter_silent_verdict(last, now, 15, p, active_to=last + timedelta(minutes=10))
    assert v.finding is None and v.clear_why is not None and "removed" in v.clear_why
    # removed exactly at the last reading (a replaced meter's final reading): resolves
    assert meter_silent_verdict(last, now, 15, p, active_to=last).clear_why is not None
    # silent 2 h while installed (2 h > 45 min), removed since: nothing raised after active_to, an open alert stays
    v = meter_silent_verdict(last, now, 15, p, active_to=last + timedelta(hours=2))
    assert v == SilentVerdict(finding=None, clear_why=None)
    # removal declared for later: judged as today (silent 5 h)
    assert meter_silent_verdict(last, now, 15, p, active_to=now + timedelta(days=3)).finding is not None
    # readings back: resolves as before
    assert meter_silent_verdict(now - timedelta(minutes=5), now, 15, p).clear_why == "readings again from " \
        f"{now - timedelta(minutes=5):%Y-%m-%d %H:%M}+00:00"
    # said in the installation's local time, with its offset, as every instant the API gives
    cph = ZoneInfo("Europe/Copenhagen")
    f = meter_silent(datetime(2026, 11, 30, 13, 0, tzinfo=UTC), datetime(2026, 11, 30, 18, 0, tzinfo=UTC), 15, p,
                     tz=cph)
    assert f is not None and f.title == "meter silent since 2026-11-30 14:00+01:00"


def _hours(days: list[date], closed_kwh: float, open_kwh: float) -> dict[datetime, float]:
    out = {}
    for d in days:
        for h in range(24):
            t = datetime(d.year, d.month, d.day, h, tzinfo=CPH)
            is_open = d.weekday() < 5 and 7 <= h < 16 and public_holiday(d) is None
            out[t] = open_kwh if is_open else closed_kwh
    return out


def test_night_baseload_by_hand() -> None:
    day = date(2025, 11, 19)  # a Wednesday
    history = _hours([day - timedelta(days=k) for k in range(1, 15)], closed_kwh=2.0, open_kwh=10.0)
    p = DEFAULT_PARAMS["night_baseload"]
    # 15 closed hours at 3 kWh against a normal of 2 kW: 50 % above (> 30 %), wasted (3 - 2) x 15 = 15 kWh
    f = night_baseload({**history, **_hours([day], 3.0, 10.0)}, day, WEEKDAYS_7_16, p, school=False)
    assert f is not None and f.wasted_kwh == 15.0 and f.detail["closed_hours"] == 15
    assert f.detail["normal_kw"] == 2.0 and f.period == "2025-11-19"
    # 2.5 kWh is 25 % above: inside the margin
    assert night_baseload({**history, **_hours([day], 2.5, 10.0)}, day, WEEKDAYS_7_16, p, school=False) is None
    # too little history: no judgement
    short = {t: v for t, v in history.items() if t.date() >= day - timedelta(days=5)}
    assert night_baseload({**short, **_hours([day], 9.0, 10.0)}, day, WEEKDAYS_7_16, p, school=False) is None


def test_a_public_holiday_is_a_closed_day_for_the_baseload() -> None:
    day = date(2025, 12, 25)  # Christmas Day, a Thursday: the building runs as on a workday
    assert public_holiday(day) == "Christmas Day"
    history = _hours([day - timedelta(days=k) for k in range(1, 15)], closed_kwh=2.0, open_kwh=10.0)
    hours = {datetime(2025, 12, 25, h, tzinfo=CPH): (10.0 if 7 <= h < 16 else 2.0) for h in range(24)}
    p = DEFAULT_PARAMS["night_baseload"]
    # all 24 hours closed: mean (15 x 2 + 9 x 10) / 24 = 5 kW against 2: wasted (5 - 2) x 24 = 72 kWh
    f = night_baseload({**history, **hours}, day, WEEKDAYS_7_16, p, school=False)
    assert f is not None and f.wasted_kwh == 72.0 and "Christmas Day" in f.detail["closed_day"]
    # a building open on public holidays (rule parameter): the same day is an ordinary Thursday
    open_p = {**p, "open_on_public_holidays": True}
    assert night_baseload({**history, **hours}, day, WEEKDAYS_7_16, open_p, school=False) is None


def _on(day: date, hours: list[int], watts: float = 20.0) -> list[LightSample]:
    out = []
    for h in range(24):
        t = datetime(day.year, day.month, day.day, h, tzinfo=CPH)
        out.append(LightSample(t, watts if h in hours else 0.0, h in hours))
    return out


def test_lights_on_in_the_evening_by_hand() -> None:
    day = date(2025, 11, 17)  # a Monday
    p = DEFAULT_PARAMS["lights_out_of_hours"]
    f = lights_out_of_hours({"L1": _on(day, [10, 18, 19])}, {"L1": 20.0}, day, WEEKDAYS_7_16, p, school=False)
    # 18:00 and 19:00 samples hold an hour each: 120 min at 20 W = 0.04 kWh; 10:00 is inside opening hours
    assert f is not None and f.detail["luminaires"] == {"L1": 120.0} and f.wasted_kwh == 0.04
    assert lights_out_of_hours({"L1": _on(day, [8, 9, 10])}, {"L1": 20.0}, day, WEEKDAYS_7_16, p,
                               school=False) is None


def test_lights_on_at_the_end_of_the_day_count_only_until_midnight() -> None:
    # the last sample of the judged day, with no later sample fetched (the evaluation reads the judged days only):
    # it holds until midnight at most, not max_gap_minutes into the next day (which that day counts itself)
    day = date(2025, 11, 17)  # a Monday, open 07-16
    p = DEFAULT_PARAMS["lights_out_of_hours"]
    t = datetime(2025, 11, 17, 23, 15, tzinfo=CPH)
    samples = {"L1": [LightSample(t - timedelta(hours=1), 0.0, False), LightSample(t, 100.0, True)]}
    f = lights_out_of_hours(samples, {"L1": 100.0}, day, WEEKDAYS_7_16, p, school=False)
    # 23:15-24:00: 45 min at 100 W = 0.075 kWh (not 60 min, 0.1 kWh)
    assert f is not None and f.detail["luminaires"] == {"L1": 45.0} and f.wasted_kwh == 0.075


def test_holidays_and_lights() -> None:
    p = DEFAULT_PARAMS["lights_out_of_hours"]
    easter_monday = date(2025, 4, 21)
    assert public_holiday(easter_monday) == "Easter Monday"
    lit = {"L1": _on(easter_monday, [10, 11])}
    # a school is closed on Easter Monday: lights at 10-12 are out of hours
    f = lights_out_of_hours(lit, {"L1": 20.0}, easter_monday, WEEKDAYS_7_16, p, school=True)
    assert f is not None and "Easter Monday" in f.title
    # (Easter Monday is in the school Easter holiday too)
    assert "school holiday" in (lights_out_of_hours(lit, {"L1": 20.0}, easter_monday, WEEKDAYS_7_16,
                                                    {**p, "open_on_public_holidays": True}, school=True)
                                or pytest.fail("school holiday")).detail["closed_day"]
    # a sports hall open on public holidays: the holiday is not "lights on out of hours"
    assert lights_out_of_hours(lit, {"L1": 20.0}, easter_monday, WEEKDAYS_7_16,
                               {**p, "open_on_public_holidays": True}, school=False) is None
    # school summer holiday: closed for a school, an ordinary Monday for an office
    summer = date(2025, 7, 7)
    assert school_holiday(summer) == "Summer holiday"
    lit = {"L1": _on(summer, [10, 11])}
    assert lights_out_of_hours(lit, {"L1": 20.0}, summer, WEEKDAYS_7_16, p, school=True) is not None
    assert lights_out_of_hours(lit, {"L1": 20.0}, summer, WEEKDAYS_7_16, p, school=False) is None


def test_above_reference() -> None:
    f = above(130.0, 100.0, margin_pct=25, min_kwh=10, period="2025-11", what="November")
    assert f is not None and f.wasted_kwh == 30.0 and f.detail["above_pct"] == 30.0
    assert above(120.0, 100.0, margin_pct=25, min_kwh=10, period="2025-11", what="November") is None
    assert above(13.0, 10.0, margin_pct=25, min_kwh=10, period="2025-11", what="tiny") is None  # 3 kWh only


def test_district_heating_cooling() -> None:
    p = DEFAULT_PARAMS["dh_cooling"]
    hot = [HeatSample(70.0, 45.0, 1.0)] * 6
    f = dh_cooling(hot, date(2025, 11, 17), p)
    assert f is not None and f.detail["mean_return_c"] == 45.0 and f.detail["mean_cooling_k"] == 25.0
    assert dh_cooling([HeatSample(70.0, 35.0, 1.0)] * 6, date(2025, 11, 17), p) is None
    # volume-weighted: 1 m3/h at 50 °C and 3 m3/h at 30 °C -> 35 °C, under 40
    mixed = [HeatSample(70.0, 50.0, 1.0), HeatSample(70.0, 30.0, 3.0)] * 3
    assert dh_cooling(mixed, date(2025, 11, 17), p) is None
    assert dh_cooling(hot[:3], date(2025, 11, 17), p) is None  # too few samples
    assert pytest.approx(35.0) == (50 * 1 + 30 * 3) / 4


# -- parameters: one table of ranges for the API, its OpenAPI document and the evaluator (issue 14) -----------------


def test_every_number_parameter_has_a_range_its_default_lies_in() -> None:
    for rule, params in DEFAULT_PARAMS.items():
        numbers = {k for k, v in params.items() if type(v) in (int, float)}
        assert set(PARAM_BOUNDS[rule]) == numbers, rule
        for k, v in params.items():
            assert check_param(rule, k, v) == v, (rule, k)


@pytest.mark.parametrize(("rule", "key", "value"), [
    ("night_baseload", "window_days", 0), ("night_baseload", "min_days", 0), ("meter_silent", "intervals", 0),
    ("meter_silent", "default_interval_minutes", 0), ("dh_cooling", "min_samples", 0),
    ("lights_out_of_hours", "min_minutes", 0), ("lights_out_of_hours", "max_gap_minutes", 0),
    ("above_baseline", "month_margin_pct", 1e20), ("above_baseline", "week_margin_pct", 1001),
    ("night_baseload", "window_days", 367), ("night_baseload", "margin_pct", -1), ("dh_cooling", "max_return_c", 150),
    ("night_baseload", "min_kwh", float("nan")), ("night_baseload", "min_kwh", float("inf")),
    ("night_baseload", "min_kwh", True), ("night_baseload", "window_days", True),
    ("night_baseload", "window_days", 7.5),
    ("night_baseload", "margin_pct", "30"), ("night_baseload", "school_holidays", "yes"),
    ("night_baseload", "school_holidays", 0), ("counter_anomaly", "kinds", []),
    ("counter_anomaly", "kinds", ["reset", "reset"]), ("counter_anomaly", "kinds", ["leak"]),
    ("counter_anomaly", "kinds", "reset"), ("meter_silent", "ignore_after_days", 90),
])
def test_a_parameter_outside_its_type_or_range_is_refused(rule: str, key: str, value: object) -> None:
    with pytest.raises(ValueError):
        check_param(rule, key, value)


def test_edges_of_the_ranges_are_accepted_and_whole_numbers_are_counts() -> None:
    assert check_param("night_baseload", "window_days", 366) == 366
    assert check_param("night_baseload", "window_days", 30.0) == 30
    assert type(check_param("night_baseload", "window_days", 30.0)) is int
    assert check_param("night_baseload", "margin_pct", 0) == 0  # any excess over the normal
    assert check_param("above_baseline", "month_margin_pct", 1000) == 1000
    assert check_param("night_baseload", "min_kwh", 2) == 2  # a number parameter takes a whole number
    assert check_param("counter_anomaly", "kinds", ["reset"]) == ["reset"]


def test_the_openapi_schema_declares_the_same_ranges() -> None:
    schema = RuleIn.model_json_schema()
    per_rule = {branch["if"]["properties"]["rule"]["const"]: branch["then"]["properties"]["params"]["properties"]
                for branch in schema["allOf"]}
    for rule, bounds in PARAM_BOUNDS.items():
        for key, (lo, hi) in bounds.items():
            assert (per_rule[rule][key]["minimum"], per_rule[rule][key]["maximum"]) == (lo, hi)
    assert per_rule["night_baseload"]["window_days"]["type"] == "integer"
    assert per_rule["counter_anomaly"]["kinds"]["minItems"] == 1
    assert schema["properties"]["enabled"]["type"] == "boolean"


@pytest.mark.parametrize("enabled", ["yes", "off", "true", 0, 1])
def test_enabled_is_a_json_boolean_only(enabled: object) -> None:
    with pytest.raises(ValidationError):
        RuleIn.model_validate({"rule": "meter_silent", "enabled": enabled})
    assert RuleIn.model_validate({"rule": "meter_silent", "enabled": False}).enabled is False


def test_a_stored_value_out_of_range_is_not_read_and_is_reported() -> None:
    book = RuleBook([
        ("night_baseload", None, None, {**DEFAULT_PARAMS["night_baseload"], "window_days": 28}, True),
        ("night_baseload", "school", None, {"school_holidays": True, "margin_pct": 1e20}, True),
        ("night_baseload", None, "school-004", {"window_days": 0, "min_days": 0, "min_kwh": 2.5}, True),
        ("meter_silent", None, "school-004", {"intervals": 0, "ignore_after_days": 90}, True),
        ("dh_cooling", None, "school-004", "not an object", True),
    ])
    p = book.for_building("night_baseload", "school", "school-004").params
    # the building row's bad values fall back to the defaults row (window_days 28) and the shipped default; its good
    # value is read; the type row's bad margin falls back to the default's
    assert (p["window_days"], p["min_days"], p["min_kwh"]) == (28, 7, 2.5)
    assert (p["margin_pct"], p["school_holidays"]) == (30, True)
    assert book.for_building("meter_silent", "school", "school-004").params == DEFAULT_PARAMS["meter_silent"]
    assert book.for_building("dh_cooling", "school", "school-004").params == DEFAULT_PARAMS["dh_cooling"]
    assert len(book.problems) == 5  # window_days, min_days, margin_pct, intervals, the non-object; not the old key
    assert any("school-004" in x and "window_days=0" in x for x in book.problems)
    assert not any("ignore_after_days" in x for x in book.problems)
    # what the evaluator then judges with runs: no "no median for empty data"
    hourly = {datetime(2026, 11, 1, tzinfo=CPH) + timedelta(hours=h): 1.0 for h in range(24 * 31)}
    assert night_baseload(hourly, date(2026, 11, 30), WEEKDAYS_7_16, p, school=True) is None
