"""Coverage and estimated share for every reading cadence, hand computed (issue 12's matrix; docs/semantics.md).

Each case runs the rollups' own code without I/O: service.meter_segments (counter rules, active span),
service.rollup_rows (hourly and daily rows, gap steps) and coverage.roll_up (months from days, weeks from days,
years from months, as the monthly rollup and the consumption series build them), then coverage.coverage and
coverage.estimated_share over the meters' active time. Every figure is also checked against the definition applied
directly (engine.apportion over the period's own edges). Europe/Copenhagen; 2026: summer time from 29 March
(a 23-hour day) to 25 October (a 25-hour day). A "1 kW" meter uses 1 kWh per real hour.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.consumption.coverage import (
    ALWAYS,
    ActiveSpan,
    active_seconds_per_period,
    coverage,
    crosses_edge,
    estimated_share,
    roll_up,
    step_rows,
)
from services.consumption.engine import Reading, apportion
from services.consumption.periods import Resolution, local_midnight, period_edges
from services.consumption.repository import MeterFacts
from services.consumption.service import meter_segments, rollup_rows
from services.targets.progress import BuildingData, Cell, Weather, carrier_year_coverage, year_figures
from services.targets.weather import Share

CPH = ZoneInfo("Europe/Copenhagen")
Figure = tuple[float, float, float]  # (kWh, coverage, estimated share), rounded to 6 decimals


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CPH).astimezone(UTC)


def meter(mode: str = "register", interval_minutes: int | None = None, span: ActiveSpan = ALWAYS) -> MeterFacts:
    return MeterFacts(1, "electricity", "kWh", mode, interval_minutes, None, None, span[0], span[1])


def steady(times: Sequence[datetime], kw: float = 1.0, quality: dict[datetime, str] | None = None) -> list[Reading]:
    """Register readings of a constant load at the given instants (real elapsed time: DST days get 23 or 25 h)."""
    q = quality or {}
    return [Reading(t, kw * (t - times[0]).total_seconds() / 3600, q.get(t, "measured")) for t in times]


def every(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    out, t = [], start
    while t <= end:
        out.append(t)
        t += step
    return out


def local_days(first: date, last: date, hh: int = 0) -> list[datetime]:
    """Local hh:00 of every day from first to last (inclusive): a daily read at a fixed local time."""
    return [at(d.year, d.month, d.day, hh) for d in (first + timedelta(days=i) for i in range((last - first).days + 1))]


def figures(facts: MeterFacts | Sequence[tuple[MeterFacts, Sequence[Reading]]], readings: Sequence[Reading] = (),
            *, start: datetime, end: datetime, resolution: Resolution) -> list[Figure]:
    """Per whole local period covering [start, end): what the rollups and the series answer for these meters."""
    meters = [(facts, readings)] if isinstance(facts, MeterFacts) else list(facts)
    edges = period_edges(start, end, resolution, CPH)
    sums = None
    for f, rs in meters:
        segments, _ = meter_segments(f, sorted(rs, key=lambda r: r.ts))
        # the rollup window: whole local days around every reading, as a rebuild covers them
        lo = min(*(r.ts for r in rs), start).astimezone(CPH).date() - timedelta(days=1)
        hi = max(*(r.ts for r in rs), end).astimezone(CPH).date() + timedelta(days=1)
        w0, w1 = local_midnight(lo, CPH), local_midnight(hi, CPH)
        rows = rollup_rows(f.key, segments, w0, w1, CPH)
        gaps = rows.gaps
        days = [(local_midnight(d, CPH), a, m, e) for d, a, m, e in rows.daily]
        month_edges = period_edges(w0, w1, "month", CPH)
        months = [(month_edges[i], o.amount, o.measured_s, o.estimated)
                  for i, o in enumerate(roll_up(days, month_edges, gaps, "day", CPH)) if o.rows]
        if resolution == "hour":  # the hourly rollup, and the long steps apportioned to the hours (the series)
            got = roll_up([*rows.hourly, *step_rows(rows.long, edges)], edges)
        elif resolution == "day":  # the daily rollup
            got = roll_up(days, edges)
        elif resolution == "week":  # the series: days, with the gap steps inside the week
            got = roll_up(days, edges, gaps, "day", CPH)
        elif resolution == "month":  # the monthly rollup
            got = roll_up(months, edges)
        else:  # the series: months, with the gap steps inside the year
            got = roll_up(months, edges, gaps, "month", CPH)
        if sums is None:
            sums = got
        else:
            for s, g in zip(sums, got, strict=True):
                s.amount += g.amount
                s.measured_s += g.measured_s
                s.estimated += g.estimated
        for s, b in zip(got, apportion(segments, edges), strict=True):
            # the definition applied directly gives the same
            assert (s.amount, s.measured_s, s.estimated) == pytest.approx(
                (b.kwh, b.measured_s, b.estimated_kwh), rel=1e-9, abs=1e-6)
    assert sums is not None
    active = active_seconds_per_period([(f.active_from, f.active_to) for f, _ in meters], edges)
    return [(round(s.amount, 6), round(coverage(s.measured_s, a), 6), round(estimated_share(s.estimated, s.amount), 6))
            for s, a in zip(sums, active, strict=True)]


def one(facts: MeterFacts | Sequence[tuple[MeterFacts, Sequence[Reading]]], readings: Sequence[Reading] = (), *,
        day: datetime, resolution: Resolution) -> Figure:
    """The figure of the single period containing the instant `day`."""
    [fig] = figures(facts, readings, start=day, end=day + timedelta(seconds=1), resolution=resolution)
    return fig


# --- 15-minute register readings: DST spring day, a gap inside a day ------------------------------------------------

def test_15_minute_register_with_a_gap_on_the_23_hour_day() -> None:
    times = [t for t in every(at(2026, 3, 28), at(2026, 3, 31), timedelta(minutes=15))
             if not at(2026, 3, 29, 10) < t < at(2026, 3, 29, 12)]  # 10:15 .. 11:45 missing: a 2 h step, a gap
    rs, m = steady(times), meter()
    # days: 24, 23 (29 March), 24 kWh; the 2 h gap lies inside 29 March: measured there (coverage 1)
    assert figures(m, rs, start=at(2026, 3, 28), end=at(2026, 3, 31), resolution="day") == [
        (24.0, 1.0, 0.0), (23.0, 1.0, 0.0), (24.0, 1.0, 0.0)]
    # hours of 29 March: 23 of them; 09:00 measured; 10:00 and 11:00 are parts of the gap crossing 11:00: estimated
    hours = figures(m, rs, start=at(2026, 3, 29), end=at(2026, 3, 30), resolution="hour")
    assert len(hours) == 23
    assert hours[8:11] == [(1.0, 1.0, 0.0), (1.0, 0.0, 1.0), (1.0, 0.0, 1.0)]  # 09, 10, 11 local (02:00 is skipped)
    # week Mon 23 - Mon 30 March: 7 x 24 - 1 = 167 h, of which 28-29 March hold data: 24 + 23 = 47 h measured
    assert one(m, rs, day=at(2026, 3, 25), resolution="week") == (47.0, round(47 / 167, 6), 0.0)
    # month March: 71 kWh, 71 of 743 h (31 x 24 - 1)
    assert one(m, rs, day=at(2026, 3, 10), resolution="month") == (71.0, round(71 / 743, 6), 0.0)


def test_hourly_register_with_duplicate_and_counter_reset() -> None:
    # 22:00 100, 23:00 110, 00:00 120 (delivered twice), 01:00 130, 02:00 3 (reset: new series), 03:00 4
    vals = [(at(2026, 2, 2, 22), 100.0), (at(2026, 2, 2, 23), 110.0), (at(2026, 2, 3, 0), 120.0),
            (at(2026, 2, 3, 0), 120.0), (at(2026, 2, 3, 1), 130.0), (at(2026, 2, 3, 2), 3.0), (at(2026, 2, 3, 3), 4.0)]
    rs, m = [Reading(t, v) for t, v in vals], meter()
    # 2 Feb: 22-23 10 kWh, 23-24 10 kWh: 20 kWh, 2 of 24 h measured; 3 Feb: 00-01 10, 01-02 lost to the reset, 02-03
    # 1 kWh: 11 kWh, 2 of 24 h measured
    days = figures(m, rs, start=at(2026, 2, 2), end=at(2026, 2, 4), resolution="day")
    assert days == [(20.0, round(2 / 24, 6), 0.0), (11.0, round(2 / 24, 6), 0.0)]
    assert figures(m, rs[:3] + rs[4:], start=at(2026, 2, 2), end=at(2026, 2, 4), resolution="day") == days
    hours = figures(m, rs, start=at(2026, 2, 3), end=at(2026, 2, 3, 3), resolution="hour")
    assert hours == [(10.0, 1.0, 0.0), (0.0, 0.0, 0.0), (1.0, 1.0, 0.0)]


# --- daily reads ------------------------------------------------------------------------------------------------

def test_daily_at_local_midnight_with_a_missing_read_and_the_25_hour_day() -> None:
    # 10 kWh a day, read at local midnight 1 October .. 1 November 2026; the 11 October read is missing
    times = [t for t in local_days(date(2026, 10, 1), date(2026, 11, 1)) if t != at(2026, 10, 11)]
    rs = [Reading(t, 10.0 * (t.astimezone(CPH).date() - date(2026, 10, 1)).days) for t in times]
    m = meter()  # no interval registered: expected 60 min, so every 24 h step is longer than 1.5 x that
    # 25 October (25 h): its step lies inside the day: measured. 10 and 11 October: the 48 h step 10 -> 12 October
    # crosses 11 October's midnight: 20 kWh spread, 10 kWh to each day, estimated
    assert one(m, rs, day=at(2026, 10, 25, 12), resolution="day") == (10.0, 1.0, 0.0)
    assert figures(m, rs, start=at(2026, 10, 10), end=at(2026, 10, 12), resolution="day") == [
        (10.0, 0.0, 1.0), (10.0, 0.0, 1.0)]
    # an hour is a part of a 24 h gap crossing its edges: 10 / 24 kWh, estimated; on 25 October 10 / 25
    assert one(m, rs, day=at(2026, 10, 5, 12), resolution="hour") == (round(10 / 24, 6), 0.0, 1.0)
    assert one(m, rs, day=at(2026, 10, 25, 12), resolution="hour") == (round(10 / 25, 6), 0.0, 1.0)
    # week Mon 5 - Mon 12 October: the 48 h step lies inside it: 70 kWh, measured
    assert one(m, rs, day=at(2026, 10, 7), resolution="week") == (70.0, 1.0, 0.0)
    # October: 310 kWh, every step inside the month: coverage 1 (745 of 745 h)
    assert one(m, rs, day=at(2026, 10, 7), resolution="month") == (310.0, 1.0, 0.0)
    # year 2026: 745 of 8,760 h measured
    assert one(m, rs, day=at(2026, 10, 7), resolution="year") == (310.0, round(745 / 8760, 6), 0.0)


def test_daily_at_06_with_and_without_a_registered_interval() -> None:
    rs = steady(local_days(date(2026, 10, 31), date(2026, 12, 1), hh=6))  # 1 kW, read 06:00 31 Oct .. 1 Dec
    with_interval, without = meter(interval_minutes=1440), meter()
    # interval 1440 registered: 24 h steps are the meter's normal cadence (gap only above 36 h): every part measured
    assert one(with_interval, rs, day=at(2026, 11, 10, 12), resolution="day") == (24.0, 1.0, 0.0)
    assert one(with_interval, rs, day=at(2026, 11, 10, 12), resolution="hour") == (1.0, 1.0, 0.0)  # a normal step
    assert one(with_interval, rs, day=at(2026, 11, 10), resolution="month") == (720.0, 1.0, 0.0)
    assert one(with_interval, rs, day=at(2026, 11, 10), resolution="week") == (168.0, 1.0, 0.0)
    # without: each 24 h step is a gap (> 1.5 x 60 min) crossing midnight, so each day is two estimated parts
    # (00-06 from the step before, 06-24 from its own step)
    assert one(without, rs, day=at(2026, 11, 10, 12), resolution="day") == (24.0, 0.0, 1.0)
    assert one(without, rs, day=at(2026, 11, 10, 12), resolution="hour") == (1.0, 0.0, 1.0)  # a part of a gap
    # November: the 29 steps 1 Nov 06:00 .. 30 Nov 06:00 lie inside it (696 h measured); 31 Oct 06 -> 1 Nov 06 puts
    # 6 h, 30 Nov 06 -> 1 Dec 06 puts 18 h into November, estimated: coverage 696/720, estimated 24/720
    assert one(without, rs, day=at(2026, 11, 10), resolution="month") == (720.0, round(696 / 720, 6),
                                                                          round(24 / 720, 6))
    # week Mon 9 - Mon 16 November: 6 steps inside (144 h), 6 h + 18 h of the steps across its edges estimated
    assert one(without, rs, day=at(2026, 11, 10), resolution="week") == (168.0, round(144 / 168, 6),
                                                                         round(24 / 168, 6))
    # year 2026: every step lies inside it: 18 h (31 Oct) + 720 h + 6 h (1 Dec) = 744 h measured of 8,760
    assert one(without, rs, day=at(2026, 11, 10), resolution="year") == (744.0, round(744 / 8760, 6), 0.0)


# --- weekly, monthly, quarterly reads -----------------------------------------------------------------------------

def test_weekly_reads_on_mondays() -> None:
    # 1 kW, read at local midnight on Mondays 23 Feb .. 6 Apr 2026
    rs = steady([at(d.year, d.month, d.day) for d in (date(2026, 2, 23) + timedelta(days=7 * i) for i in range(7))])
    m = meter()
    # March (743 h): steps 2-9, 9-16, 16-23 (168 h each) and 23-30 (167 h, the DST day) lie inside: 671 h measured;
    # 1 March (24 h, step 23 Feb - 2 Mar) and 30-31 March (48 h, step 30 Mar - 6 Apr) estimated: 72 kWh of 743
    assert one(m, rs, day=at(2026, 3, 10), resolution="month") == (743.0, round(671 / 743, 6), round(72 / 743, 6))
    assert one(m, rs, day=at(2026, 3, 25), resolution="week") == (167.0, 1.0, 0.0)  # the step is the week
    assert one(m, rs, day=at(2026, 3, 10, 12), resolution="day") == (24.0, 0.0, 1.0)  # a part of a 7-day gap
    assert one(m, rs, day=at(2026, 3, 10, 12), resolution="hour") == (1.0, 0.0, 1.0)
    weekly = meter(interval_minutes=7 * 24 * 60)  # registered weekly cadence: no gaps, every part measured
    assert one(weekly, rs, day=at(2026, 3, 10), resolution="month") == (743.0, 1.0, 0.0)
    assert one(weekly, rs, day=at(2026, 3, 10, 12), resolution="day") == (24.0, 1.0, 0.0)


def monthly_on_boundaries(quality: dict[datetime, str] | None = None) -> list[Reading]:
    """Read at local midnight on the 1st, 1 Jan 2026 .. 1 Jan 2027; month m uses 100 x m kWh."""
    times = [at(2026 + (m == 13), (m - 1) % 12 + 1, 1) for m in range(1, 14)]
    q = quality or {}
    return [Reading(t, 100.0 * i * (i + 1) / 2, q.get(t, "measured")) for i, t in enumerate(times)]


def test_monthly_reads_on_month_boundaries_measure_months_and_the_year() -> None:
    rs, m = monthly_on_boundaries(), meter()
    months = figures(m, rs, start=at(2026, 1, 1), end=at(2027, 1, 1), resolution="month")
    assert months == [(100.0 * k, 1.0, 0.0) for k in range(1, 13)]  # each month's step is the month: measured
    assert one(m, rs, day=at(2026, 6, 1), resolution="year") == (7800.0, 1.0, 0.0)  # 100 x (1 + ... + 12)
    # a day or a week is a part of a month-long gap: estimated. 10 Jan: 100 x 24/744; 29 March (23 h): 300 x 23/743
    assert one(m, rs, day=at(2026, 1, 10, 12), resolution="day") == (round(100 * 24 / 744, 6), 0.0, 1.0)
    assert one(m, rs, day=at(2026, 3, 29, 12), resolution="day") == (round(300 * 23 / 743, 6), 0.0, 1.0)
    assert one(m, rs, day=at(2026, 1, 7), resolution="week") == (round(100 * 168 / 744, 6), 0.0, 1.0)
    assert one(m, rs, day=at(2026, 1, 7, 12), resolution="hour") == (round(100 / 744, 6), 0.0, 1.0)


def test_an_estimated_monthly_read_stays_estimated() -> None:
    rs, m = monthly_on_boundaries({at(2026, 7, 1): "estimated"}), meter()
    # the steps into and out of the estimated 1 July read (June, July) are estimated at every resolution
    assert figures(m, rs, start=at(2026, 6, 1), end=at(2026, 8, 1), resolution="month") == [
        (600.0, 0.0, 1.0), (700.0, 0.0, 1.0)]
    # year: 8,760 h less June (720) and July (744): 7,296 h measured; 1,300 of 7,800 kWh estimated
    assert one(m, rs, day=at(2026, 6, 1), resolution="year") == (7800.0, round(7296 / 8760, 6), round(1300 / 7800, 6))


def test_monthly_reads_mid_month() -> None:
    # 1 kW, read at local midnight on the 15th, 15 Dec 2025 .. 15 Jan 2027
    rs = steady([at(2025 + (k > 0) + (k == 13), (11 + k) % 12 + 1, 15) for k in range(14)])
    m = meter()
    # every month holds parts of two month-long gaps crossing its edges: estimated, coverage 0
    months = figures(m, rs, start=at(2026, 1, 1), end=at(2027, 1, 1), resolution="month")
    assert [c for _, c, _ in months] == [0.0] * 12 and [e for *_, e in months] == [1.0] * 12
    assert months[2][0] == 743.0  # March: 31 x 24 - 1 h at 1 kW
    # year 2026: the 11 steps 15 Jan .. 15 Dec lie inside it; 1-15 Jan (14 x 24 h) and 15-31 Dec (17 x 24 h) are
    # parts of steps crossing the year's edges: 8,760 - 744 = 8,016 h measured, 744 kWh estimated
    assert one(m, rs, day=at(2026, 6, 1), resolution="year") == (8760.0, round(8016 / 8760, 6), round(744 / 8760, 6))


def test_quarterly_billing_reads() -> None:
    # read 1 Jan, 1 Apr, 1 Jul, 1 Oct 2026 and 1 Jan 2027; quarter q uses 1000 x q kWh
    times = [at(2026, 1, 1), at(2026, 4, 1), at(2026, 7, 1), at(2026, 10, 1), at(2027, 1, 1)]
    rs = [Reading(t, 1000.0 * q * (q + 1) / 2) for q, t in enumerate(times)]
    without, quarterly = meter(), meter(interval_minutes=131_760)  # 91.5 days
    # without: a month is a part of a quarter-long gap: estimated. February: 1000 x 672 h / 2159 h (Q1: 90 x 24 - 1)
    assert one(without, rs, day=at(2026, 2, 10), resolution="month") == (round(1000 * 672 / 2159, 6), 0.0, 1.0)
    assert one(without, rs, day=at(2026, 2, 10), resolution="year") == (10_000.0, 1.0, 0.0)  # all steps inside
    # with the quarterly interval registered the steps are the meter's normal cadence: every part measured
    assert one(quarterly, rs, day=at(2026, 2, 10), resolution="month") == (round(1000 * 672 / 2159, 6), 1.0, 0.0)
    assert one(quarterly, rs, day=at(2026, 2, 10, 12), resolution="day") == (round(1000 * 24 / 2159, 6), 1.0, 0.0)
    assert one(quarterly, rs, day=at(2026, 2, 10, 12), resolution="hour") == (round(1000 / 2159, 6), 1.0, 0.0)
    assert one(without, rs, day=at(2026, 2, 10, 12), resolution="hour") == (round(1000 / 2159, 6), 0.0, 1.0)
    assert one(quarterly, rs, day=at(2026, 2, 10), resolution="year") == (10_000.0, 1.0, 0.0)


# --- interval meters ------------------------------------------------------------------------------------------------

def test_hourly_interval_meter_with_a_missing_and_an_estimated_hour() -> None:
    # 1 kWh per hour on 10 Feb 2026; a value covers the hour ending at its ts: 01:00 .. 24:00. The hour ending 05:00
    # is missing; the one ending 13:00 is estimated
    ends = [t for t in every(at(2026, 2, 10, 1), at(2026, 2, 11), timedelta(hours=1)) if t != at(2026, 2, 10, 5)]
    rs = [Reading(t, 1.0, "estimated" if t == at(2026, 2, 10, 13) else "measured") for t in ends]
    m = meter("interval", 60)
    # 23 kWh; 22 of 24 h measured; 1 of 23 kWh estimated
    assert one(m, rs, day=at(2026, 2, 10, 12), resolution="day") == (23.0, round(22 / 24, 6), round(1 / 23, 6))
    assert figures(m, rs, start=at(2026, 2, 10, 4), end=at(2026, 2, 10, 5), resolution="hour") == [(0.0, 0.0, 0.0)]
    assert figures(m, rs, start=at(2026, 2, 10, 12), end=at(2026, 2, 10, 13), resolution="hour") == [
        (1.0, 0.0, 1.0)]
    # February: 22 h measured of 28 x 24 = 672
    assert one(m, rs, day=at(2026, 2, 10), resolution="month") == (23.0, round(22 / 672, 6), round(1 / 23, 6))


# --- meter lifecycle --------------------------------------------------------------------------------------------

def test_replaced_meter_counts_only_in_its_active_span() -> None:
    cut = at(2026, 6, 15)  # G1 removed and G2 installed at local midnight 15 June
    g1 = meter(span=(None, cut))
    g2 = MeterFacts(2, "natural_gas", "m3", "register", None, 10.0, None, cut, None)
    # both read daily at midnight, 10 kWh a day (G2: 1 m3 at 10 kWh/m3); G1 is still read after its removal
    g1_reads = [Reading(t, 10.0 * i) for i, t in enumerate(local_days(date(2026, 5, 1), date(2026, 7, 1)))]
    g2_reads = [Reading(t, 1.0 * i) for i, t in enumerate(local_days(date(2026, 6, 15), date(2026, 7, 1)))]
    both = [(g1, g1_reads), (g2, g2_reads)]
    # June: G1 14 days, G2 16 days, 300 kWh; measured 30 days of active time 14 + 16 days: coverage 1
    assert one(both, day=at(2026, 6, 10), resolution="month") == (300.0, 1.0, 0.0)
    assert one(both, day=at(2026, 6, 10, 12), resolution="day") == (10.0, 1.0, 0.0)
    assert one(both, day=at(2026, 6, 20, 12), resolution="day") == (10.0, 1.0, 0.0)
    # an hour of 20 June: G1's (still read) step is outside its span; G2's 24 h step crosses the hour: a gap
    # part (no interval registered), so estimated; G1 counts neither way: active time is G2's hour alone
    assert one(both, day=at(2026, 6, 20, 12), resolution="hour") == (round(10 / 24, 6), 0.0, 1.0)
    assert one(both, day=at(2026, 5, 10), resolution="month") == (310.0, 1.0, 0.0)  # G2 not active in May
    # year 2026: G1 active 1 Jan .. 15 Jun (165 days less March's summer-time hour), 45 days of it with data; G2
    # active 15 Jun .. 1 Jan (200 days plus October's hour), 16 with data: (45 + 16) x 24 h measured of 8,760 h
    year = one(both, day=at(2026, 6, 10), resolution="year")
    assert year == (610.0, round(61 * 24 / 8760, 6), 0.0)


def test_a_gap_cut_by_the_active_span_is_estimated() -> None:
    # read 1 June and 1 July (1 kW); removed at 15 June: half the step counts, and the readings do not bracket it
    m = meter(span=(None, at(2026, 6, 15)))
    rs = steady([at(2026, 6, 1), at(2026, 7, 1)])
    assert one(m, rs, day=at(2026, 6, 10), resolution="month") == (336.0, 0.0, 1.0)  # 14 x 24 h of 14 x 24 active
    assert one(m, rs, day=at(2026, 7, 10), resolution="month") == (0.0, 0.0, 0.0)  # inactive: neither way


def test_crosses_edge() -> None:
    assert not crosses_edge(at(2026, 3, 1), at(2026, 4, 1), "month", CPH)  # exactly the month
    assert crosses_edge(at(2026, 3, 1), at(2026, 4, 1, 1), "month", CPH)
    assert crosses_edge(at(2026, 3, 28, 23), at(2026, 3, 29, 1), "day", CPH)
    assert not crosses_edge(at(2026, 3, 29), at(2026, 3, 30), "day", CPH)  # the 23-hour day


# --- progress: the year's coverage counts steps inside the year ----------------------------------------------------

def test_progress_year_coverage_counts_gap_steps_inside_the_months_judged() -> None:
    # January and February half measured each; a gap step covering the other halves crosses 1 February
    data = {m: Cell(100.0, 0.5 if m in (1, 2) else 1.0) for m in range(1, 13)}
    b = BuildingData("B", "B", None, {2026: 1000.0}, data={2026: {"electricity": data}},
                     year_credit={2026: {"electricity": [{1: 0.5, 2: 0.5}]}})
    w = Weather([0.0] * 12, {}, 0.25)
    share = Share(0.25, "default", None, "")
    assert year_figures(b, 2026, share, w).coverage == 1.0  # (10 + 0.5 + 0.5 + 0.5 + 0.5) / 12
    assert year_figures(b, 2026, share, w, [1]).coverage == 0.5  # one month alone: the step crosses its edge
    assert year_figures(b, 2026, share, w, [1, 2]).coverage == 1.0
    assert year_figures(b, 2026, share, w, [2, 3]).coverage == 0.75  # (0.5 + 1) / 2: the step reaches into January
    assert carrier_year_coverage(b, 2026, "electricity") == 1.0
