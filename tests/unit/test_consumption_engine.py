"""The consumption rules with hand-computed expectations (Europe/Copenhagen local periods)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.consumption.engine import (
    Exchange,
    Reading,
    apportion,
    interval_segments,
    register_segments,
)
from services.consumption.periods import local_midnight, period_edges
from services.readings.units import Unit, to_kwh

CPH = ZoneInfo("Europe/Copenhagen")
Q = timedelta(minutes=15)
H = timedelta(hours=1)


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CPH)


def steady(start: datetime, end: datetime, step: timedelta, kw: float, v0: float = 0.0) -> list[Reading]:
    """Register readings of a constant load: real elapsed time, so DST days get 23 or 25 hours."""
    out = []
    t = start.astimezone(UTC)
    while t <= end:
        out.append(Reading(t, v0 + kw * (t - start).total_seconds() / 3600))
        t += step
    return out


def daily(readings: list[Reading], first: date, days: int, **kw: object) -> list:
    res = register_segments(readings, kwh_per_unit=1.0, expected_interval=kw.pop("interval", Q), **kw)  # type: ignore[arg-type]
    edges = [local_midnight(first + timedelta(days=i), CPH) for i in range(days + 1)]
    return apportion(res.segments, edges)


def test_spring_dst_day_has_23_hours_of_15_minute_readings() -> None:
    days = daily(steady(local(2026, 3, 28), local(2026, 3, 31), Q, kw=1.0), date(2026, 3, 28), 3)
    assert [round(b.kwh, 9) for b in days] == [24.0, 23.0, 24.0]
    assert [b.coverage for b in days] == [1.0, 1.0, 1.0]
    assert (days[1].end - days[1].start) == timedelta(hours=23)


def test_autumn_dst_day_has_25_hours() -> None:
    days = daily(steady(local(2026, 10, 24), local(2026, 10, 27), Q, kw=2.0), date(2026, 10, 24), 3)
    assert [round(b.kwh, 9) for b in days] == [48.0, 50.0, 48.0]
    assert all(b.estimated_share == 0.0 for b in days)


def test_missing_midnight_reading_never_drops_a_day() -> None:
    rs = [r for r in steady(local(2026, 3, 1), local(2026, 3, 3), H, kw=1.0) if r.ts != local(2026, 3, 2)]
    days = daily(rs, date(2026, 3, 1), 2, interval=H)
    # 23:00 -> 01:00 (2 kWh over 2 h) is split 1 + 1 across midnight and marked interpolated
    assert [round(b.kwh, 9) for b in days] == [24.0, 24.0]
    assert [round(b.coverage, 9) for b in days] == [round(23 / 24, 9)] * 2
    assert [round(b.estimated_share, 9) for b in days] == [round(1 / 24, 9)] * 2


def test_three_day_gap_is_spread_and_marked_interpolated() -> None:
    rs = [Reading(local(2026, 1, 1).astimezone(UTC), 100.0), Reading(local(2026, 1, 4).astimezone(UTC), 172.0)]
    days = daily(rs, date(2026, 1, 1), 3)
    assert [b.kwh for b in days] == [24.0, 24.0, 24.0]
    assert [b.coverage for b in days] == [0.0, 0.0, 0.0]
    assert [b.estimated_share for b in days] == [1.0, 1.0, 1.0]


def test_reset_starts_a_new_series_and_is_never_negative() -> None:
    t = local(2026, 2, 1).astimezone(UTC)
    rs = [Reading(t, 1000.0), Reading(t + H, 1001.0), Reading(t + 2 * H, 5.0), Reading(t + 3 * H, 6.0)]
    res = register_segments(rs, kwh_per_unit=1.0, expected_interval=H)
    assert [s.kwh for s in res.segments] == [1.0, 1.0]
    assert [(d.kind, d.ts) for d in res.decisions] == [("reset", t + 2 * H)]
    day = apportion(res.segments, [t, t + 24 * H])[0]
    assert day.kwh == 2.0
    assert day.coverage == pytest.approx(2 / 24)  # the hour across the reset is not measured


def test_small_decrease_is_a_glitch_that_is_skipped() -> None:
    t = local(2026, 2, 1).astimezone(UTC)
    rs = [Reading(t, 100.0), Reading(t + Q, 101.0), Reading(t + 2 * Q, 100.5), Reading(t + 3 * Q, 102.0)]
    res = register_segments(rs, kwh_per_unit=1.0, expected_interval=Q)
    assert [(s.start, s.end, s.kwh) for s in res.segments] == [(t, t + Q, 1.0), (t + Q, t + 3 * Q, 1.0)]
    assert [d.kind for d in res.decisions] == ["glitch"]


def test_declared_meter_exchange_counts_both_meters() -> None:
    t = local(2026, 2, 1).astimezone(UTC)
    rs = [Reading(t, 990.0), Reading(t + H, 1000.0), Reading(t + 2 * H, 5.0), Reading(t + 3 * H, 9.0)]
    ex = Exchange(t + 90 * timedelta(minutes=1), old_final=1010.0, new_initial=0.0)
    res = register_segments(rs, kwh_per_unit=1.0, expected_interval=H, exchanges=[ex])
    # 10 before, (1010 - 1000) + (5 - 0) across the exchange, 4 after
    assert [s.kwh for s in res.segments] == [10.0, 15.0, 4.0]
    assert [d.kind for d in res.decisions] == ["exchange"]


def test_exchange_without_register_values_leaves_the_step_unmeasured() -> None:
    t = local(2026, 2, 1).astimezone(UTC)
    rs = [Reading(t, 990.0), Reading(t + H, 1000.0), Reading(t + 2 * H, 5.0), Reading(t + 3 * H, 9.0)]
    ex = Exchange(t + 90 * timedelta(minutes=1))
    res = register_segments(rs, kwh_per_unit=1.0, expected_interval=H, exchanges=[ex])
    assert [s.kwh for s in res.segments] == [10.0, 4.0]


def test_spike_above_physical_maximum_is_excluded() -> None:
    t = local(2026, 2, 1).astimezone(UTC)
    rs = [Reading(t, 0.0), Reading(t + H, 1.0), Reading(t + 2 * H, 1000.0), Reading(t + 3 * H, 2.0)]
    res = register_segments(rs, kwh_per_unit=1.0, expected_interval=H, max_power_kw=10.0)
    assert [(s.end - s.start, s.kwh) for s in res.segments] == [(H, 1.0), (2 * H, 1.0)]
    assert [d.kind for d in res.decisions] == ["spike"]


def test_hourly_interval_meter_value_covers_the_hour_ending_at_its_timestamp() -> None:
    t = local(2026, 3, 29).astimezone(UTC)
    rs = [Reading(t + H, 2.0), Reading(t + 2 * H, 3.0), Reading(t + 24 * H, 7.0, quality="estimated")]
    segs = interval_segments(rs, kwh_per_unit=1.0, interval=H)
    day1, day2 = apportion(segs, [t, t + 23 * H, t + 47 * H])  # 29 March has 23 hours
    assert day1.kwh == 5.0 and day2.kwh == 7.0  # 24 h after midnight of the 29th is 01:00 on the 30th
    assert day2.estimated_share == 1.0 and day2.coverage == 0.0


@pytest.mark.parametrize(("unit", "kwh_per_unit", "value", "expected_kwh"), [
    (Unit.GJ, None, 1.0, 277.7777777777778),
    (Unit.MWH, None, 2.5, 2500.0),
    (Unit.M3, 11.0, 100.0, 1100.0),
    (Unit.L, 10.0, 50.0, 500.0),
])
def test_unit_conversions_in_consumption(unit: Unit, kwh_per_unit: float | None, value: float,
                                         expected_kwh: float) -> None:
    factor = to_kwh(1.0, unit, kwh_per_unit)
    t = local(2026, 2, 1).astimezone(UTC)
    res = register_segments([Reading(t, 10.0), Reading(t + H, 10.0 + value)], kwh_per_unit=factor,
                            expected_interval=H)
    assert res.segments[0].kwh == pytest.approx(expected_kwh, rel=1e-12)


def test_period_edges_cover_whole_local_periods() -> None:
    edges = period_edges(local(2026, 3, 29, 5), local(2026, 3, 30, 2), "day", CPH)
    assert edges == [local(2026, 3, 29).astimezone(UTC), local(2026, 3, 30).astimezone(UTC),
                     local(2026, 3, 31).astimezone(UTC)]
    hours = period_edges(local(2026, 3, 29), local(2026, 3, 30), "hour", CPH)
    assert len(hours) == 24  # 23 hourly buckets
    months = period_edges(local(2026, 1, 15), local(2026, 3, 1), "month", CPH)
    assert [e.astimezone(CPH).date() for e in months] == [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    weeks = period_edges(local(2026, 11, 26), local(2026, 11, 27), "week", CPH)
    assert [e.astimezone(CPH).date() for e in weeks] == [date(2026, 11, 23), date(2026, 11, 30)]


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(st.tuples(st.integers(min_value=1, max_value=3 * 24 * 60), st.floats(min_value=0, max_value=50)),
                   min_size=1, max_size=60),
    start_minute=st.integers(min_value=0, max_value=60 * 24 * 300),
    shuffle_seed=st.randoms(use_true_random=False),
)
def test_daily_sums_equal_the_register_difference(steps: list[tuple[int, float]], start_minute: int,
                                                  shuffle_seed: object) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=start_minute)
    rs = [Reading(t0, 1000.0)]
    for minutes, used in steps:
        rs.append(Reading(rs[-1].ts + timedelta(minutes=minutes), rs[-1].value + used))
    arrived = list(rs)
    shuffle_seed.shuffle(arrived)  # type: ignore[attr-defined]
    res = register_segments(arrived, kwh_per_unit=1.0, expected_interval=Q)
    edges = period_edges(rs[0].ts, rs[-1].ts, "day", CPH)
    total = sum(b.kwh for b in apportion(res.segments, edges))
    assert total == pytest.approx(rs[-1].value - rs[0].value, rel=1e-9, abs=1e-9)
    assert res.decisions == []


def test_daily_reads_measure_days_exactly_but_not_hours() -> None:
    from services.consumption.engine import Segment, apportion
    from services.consumption.periods import period_edges

    cph = ZoneInfo("Europe/Copenhagen")
    day0 = datetime(2025, 3, 29, tzinfo=cph).astimezone(UTC)
    day1 = datetime(2025, 3, 30, tzinfo=cph).astimezone(UTC)  # 30 March has 23 hours
    day2 = datetime(2025, 3, 31, tzinfo=cph).astimezone(UTC)
    segs = [Segment(day0, day1, 24.0, interpolated=True), Segment(day1, day2, 23.0, interpolated=True)]
    days = apportion(segs, period_edges(day0, day2, "day", cph))
    assert [(b.kwh, b.measured_s, b.estimated_kwh) for b in days] == [(24.0, 86400, 0.0), (23.0, 82800, 0.0)]
    hours = apportion(segs, period_edges(day0, day2, "hour", cph))
    assert len(hours) == 47 and all(b.measured_s == 0 and b.estimated_kwh == pytest.approx(1.0) for b in hours)
    # a three-day gap crosses day edges: interpolated in each day it touches
    gap = apportion([Segment(day0, day0 + timedelta(days=3), 72.0, interpolated=True)],
                    period_edges(day0, day0 + timedelta(days=3), "day", cph))
    assert all(b.measured_s == 0 for b in gap) and sum(b.estimated_kwh for b in gap) == pytest.approx(72.0)


def test_hours_are_computed_only_where_short_steps_are() -> None:
    """A reading after years of silence: the hourly rollups walk the hours around the short steps, not the years."""
    from services.consumption.engine import Segment
    from services.consumption.service import _clusters

    t = datetime(2026, 2, 1, 10, tzinfo=UTC)
    segs = [Segment(t, t + timedelta(minutes=15), 1.0), Segment(t + timedelta(minutes=15), t + timedelta(minutes=30),
                                                                  1.0),
            Segment(t + timedelta(hours=2), t + timedelta(hours=2, minutes=15), 1.0),  # >= 1 h later: its own span
            Segment(t - timedelta(days=9000), t - timedelta(days=8999, hours=20), 1.0)]  # 4 h, 25 years earlier
    day0, day1 = t - timedelta(days=9001), t + timedelta(days=1)
    assert _clusters(segs, day0, day1) == [
        (t - timedelta(days=9000), t - timedelta(days=8999, hours=20)),
        (t, t + timedelta(minutes=30)),
        (t + timedelta(hours=2), t + timedelta(hours=2, minutes=15))]
    # clipped to the recomputed range
    assert _clusters(segs, t + timedelta(minutes=20), day1) == [
        (t + timedelta(minutes=20), t + timedelta(minutes=30)),
        (t + timedelta(hours=2), t + timedelta(hours=2, minutes=15))]


def test_a_single_reading_far_below_agreeing_neighbours_is_ignored_not_a_reset() -> None:
    """A telegram in kWh for a meter registered in MWh (found from outside): 12,884.47 -> 0.005 -> 12,884.5. As a reset
    it made the next reading's whole register one day's consumption; it is a glitch, and the step runs across it."""
    t = local(2026, 11, 29).astimezone(UTC)
    rs = [Reading(t, 12884.40), Reading(t + Q, 12884.47), Reading(t + 2 * Q, 0.005), Reading(t + 3 * Q, 12884.50)]
    res = register_segments(rs, kwh_per_unit=1000.0, expected_interval=Q)
    assert [(s.start, s.end) for s in res.segments] == [(t, t + Q), (t + Q, t + 3 * Q)]
    assert sum(s.kwh for s in res.segments) == pytest.approx((12884.50 - 12884.40) * 1000)
    assert [(d.kind, d.ts) for d in res.decisions] == [("glitch", t + 2 * Q)]


def test_a_single_spike_above_agreeing_neighbours_is_ignored() -> None:
    t = local(2026, 11, 29).astimezone(UTC)
    rs = [Reading(t, 1000.0), Reading(t + Q, 1001.0), Reading(t + 2 * Q, 1e9), Reading(t + 3 * Q, 1002.5),
          Reading(t + 4 * Q, 1003.0)]
    res = register_segments(rs, kwh_per_unit=1.0, expected_interval=Q)
    assert sum(s.kwh for s in res.segments) == pytest.approx(3.0)
    assert [(d.kind, d.ts) for d in res.decisions] == [("spike", t + 2 * Q)]


def test_a_real_reset_and_a_declared_exchange_are_still_what_they_were() -> None:
    t = local(2026, 11, 29).astimezone(UTC)
    # the register restarts and keeps counting from there: a reset, not an outlier (the next does not come back)
    reset = [Reading(t, 5000.0), Reading(t + Q, 5001.0), Reading(t + 2 * Q, 0.5), Reading(t + 3 * Q, 1.5)]
    res = register_segments(reset, kwh_per_unit=1.0, expected_interval=Q)
    assert [d.kind for d in res.decisions] == ["reset"]
    assert sum(s.kwh for s in res.segments) == pytest.approx(2.0)
    # a declared exchange between the neighbours: the low reading is the new meter's, not an outlier
    ex = [Exchange(t + Q + Q / 2, 5001.5, 0.0)]
    swap = [Reading(t, 5000.0), Reading(t + Q, 5001.0), Reading(t + 2 * Q, 0.5), Reading(t + 3 * Q, 5002.0)]
    res = register_segments(swap, kwh_per_unit=1.0, expected_interval=Q, exchanges=ex)
    assert "exchange" in [d.kind for d in res.decisions] and "glitch" not in [d.kind for d in res.decisions]


def test_a_daily_interval_value_covers_the_local_day_before_it_across_dst() -> None:
    # 24 kWh read at each local midnight for the day before: 28 March (24 h), 29 March (23 h, spring forward),
    # 26 October 2025 (25 h, fall back). Each local day gets its 24 kWh, fully measured.
    stamps = [date(2026, 3, 29), date(2026, 3, 30), date(2025, 10, 27)]
    readings = [Reading(local_midnight(d, CPH), 24.0) for d in stamps]
    segs = interval_segments(readings, kwh_per_unit=1.0, interval=timedelta(days=1), tz=CPH)
    assert [(s.end - s.start) for s in segs] == [timedelta(hours=24), timedelta(hours=23), timedelta(hours=25)]
    for d in (date(2026, 3, 28), date(2026, 3, 29), date(2025, 10, 26)):
        (b,) = apportion(segs, [local_midnight(d, CPH), local_midnight(d + timedelta(days=1), CPH)])
        assert (b.kwh, b.coverage, b.estimated_share) == (24.0, 1.0, 0.0)
    # without the zone the interval is 24 real hours: the 23-hour day would get an hour of the day before it
    plain = interval_segments(readings[1:2], kwh_per_unit=1.0, interval=timedelta(days=1))
    assert plain[0].end - plain[0].start == timedelta(hours=24)
