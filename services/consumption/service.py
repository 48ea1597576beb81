"""Keeping the hourly and local-daily rollups equal to what the rules compute from the stored readings.

The ingest path records, in the transaction that stores readings, the time range each batch touched per meter
(`rollup_dirty`). `process_dirty` then recomputes exactly the affected local days: from the day of the reading before
the range to the day of the reading after it, because a new, late or revised reading changes the segments to both of
its neighbours. `rebuild` recomputes everything from the readings; both run the same code, so they agree.

With the rows go the steps larger periods need (services/consumption/coverage.py): the gap steps crossing a local
midnight (measured in a week, month or year they lie inside) and the steps too long for the hourly rows. Months are
built from the days with those gap steps; a meter counts only inside its active span.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from services.boundary import one_item
from services.consumption import repository as repo
from services.consumption.coverage import GapStep, clip_to_active, gap_steps, roll_up
from services.consumption.engine import (
    Decision,
    Exchange,
    Reading,
    Segment,
    apportion,
    interval_segments,
    register_segments,
)
from services.consumption.periods import local_midnight, period_edges
from services.db import PgConn
from services.errors import ValidationFailed
from services.readings.units import Unit
from services.registry.schemas import Carrier, effective_kwh_per_unit

DEFAULT_REGISTER_INTERVAL = timedelta(minutes=60)
HOURLY_MAX_SEGMENT = timedelta(hours=6)


def amount_factor(facts: repo.MeterFacts) -> float:
    """Meter unit -> rollup amount: kWh for energy carriers, m3 for water."""
    if facts.carrier == "water":
        return 0.001 if facts.unit == "l" else 1.0
    factor, _ = effective_kwh_per_unit(Carrier(facts.carrier), Unit(facts.unit), facts.kwh_per_unit)
    if factor is None:
        raise ValueError(f"meter {facts.key} has no kWh factor for unit {facts.unit}")
    return factor


HourRow = tuple[datetime, float, float, float]  # (hour, amount, measured_s, estimated)
DayRow = tuple[date, float, float, float]  # (local day, amount, measured_s, estimated)


def meter_segments(facts: repo.MeterFacts, readings: Sequence[Reading], exchanges: Sequence[Exchange] = (),
                   tz: ZoneInfo | None = None) -> tuple[list[Segment], list[Decision]]:
    """The meter's consumption segments from its readings (sorted by ts), clipped to its active span (outside it a
    meter counts neither way: services/consumption/coverage.py), and the counter decisions."""
    factor = amount_factor(facts)
    decisions: list[Decision] = []
    if facts.mode == "interval":
        interval = timedelta(minutes=facts.interval_minutes or 60)
        segments = interval_segments(readings, kwh_per_unit=factor, interval=interval, tz=tz)
    else:
        interval = timedelta(minutes=facts.interval_minutes) if facts.interval_minutes else DEFAULT_REGISTER_INTERVAL
        result = register_segments(readings, kwh_per_unit=factor, expected_interval=interval,
                                   max_power_kw=facts.max_power_kw, exchanges=exchanges)
        segments, decisions = result.segments, result.decisions
    return clip_to_active(segments, (facts.active_from, facts.active_to)), decisions


@dataclass(frozen=True)
class Rows:
    """What a recompute of [start, end) stores for a meter."""

    hourly: list[HourRow]
    daily: list[DayRow]
    gaps: list[GapStep]  # gap steps crossing a local midnight, starting in the window (coverage.py)
    long: list[Segment]  # segments too long for the hourly rows, starting in the window


def rollup_rows(key: int, segments: Sequence[Segment], start: datetime, end: datetime, tz: ZoneInfo) -> Rows:
    """The hourly and daily rows of [start, end) (local midnights), and the gap and long steps starting in it."""
    # Hourly rows only from segments of at most HOURLY_MAX_SEGMENT: a step of a day or a month between readings (old
    # meters read daily, a long outage) would make years of stored hours; such steps are kept whole instead and
    # apportioned to the hours an answer asks for (query.series).
    short = [sg for sg in segments if sg.end - sg.start <= HOURLY_MAX_SEGMENT]
    hourly = [(b.start, b.kwh, b.measured_s, b.estimated_kwh)
              for lo, hi in _clusters(short, start, end)
              for b in apportion(short, period_edges(lo, hi, "hour", tz)) if b.covered_s > 0]
    days = apportion(segments, period_edges(start, end, "day", tz))
    daily = [(b.start.astimezone(tz).date(), b.kwh, b.measured_s, b.estimated_kwh) for b in days
             if b.covered_s > 0]
    # A window owns the gap steps that start in it (readings_around holds each such step whole): a rebuild in chunks
    # and an incremental recompute store the same rows.
    gaps = [g for g in gap_steps(key, segments, tz) if start <= g.start < end]
    long = [sg for sg in segments if sg.end - sg.start > HOURLY_MAX_SEGMENT and start <= sg.start < end]
    return Rows(hourly, daily, gaps, long)


def _recompute_days(conn: PgConn, facts: repo.MeterFacts, first: date, last: date, tz: ZoneInfo) -> int:
    """Recompute the days [first, last]; returns the number of readings in them."""
    start, end = local_midnight(first, tz), local_midnight(last + timedelta(days=1), tz)
    readings = repo.readings_around(conn, facts.key, start, end)
    exchanges = repo.exchanges(conn, facts.key) if facts.mode != "interval" else []
    segments, decisions = meter_segments(facts, readings, exchanges, tz)
    rows = rollup_rows(facts.key, segments, start, end, tz)
    repo.replace_rollups(conn, facts.key, start=start, end=end, day_from=first, day_to=last, hourly=rows.hourly,
                        daily=rows.daily, gaps=rows.gaps, long=rows.long)
    _refresh_months(conn, facts.key, first, last, tz)
    repo.replace_decisions(conn, facts.key, start, end, [d for d in decisions if start <= d.ts < end])
    return sum(1 for r in readings if start <= r.ts < end)


def _refresh_months(conn: PgConn, key: int, first: date, last: date, tz: ZoneInfo) -> None:
    """Build the months of the days [first, last] again from the meter's daily rows, the gap steps lying wholly
    inside a month counted as measured there (coverage.roll_up)."""
    m0 = first.replace(day=1)
    m1 = date(last.year + (last.month == 12), last.month % 12 + 1, 1)  # the month after last's
    edges = period_edges(local_midnight(m0, tz), local_midnight(m1, tz), "month", tz)
    gaps = repo.gap_steps_within(conn, [key], edges[0], edges[-1])
    if not gaps:  # the usual case (meters read more often than daily): the months are the sums of their days
        repo.sum_months(conn, key, m0, m1)
        return
    days = [(local_midnight(d, tz), a, m, e) for d, a, m, e in repo.daily_rows(conn, key, m0, m1)]
    months = roll_up(days, edges, gaps, "day", tz)
    repo.replace_months(conn, key, m0, m1, [(edges[i].astimezone(tz).date(), o.amount, o.measured_s, o.estimated)
                                            for i, o in enumerate(months) if o.rows])


def _clusters(segments: list[Segment], start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The spans of [start, end) that short segments cover, merged when less than an hour apart: the hours worth
    computing. (A reading after years of silence must not make a recompute walk every hour in between.)"""
    spans: list[tuple[datetime, datetime]] = []
    for sg in sorted(segments, key=lambda x: x.start):
        lo, hi = max(sg.start, start), min(sg.end, end)
        if hi <= lo:
            continue
        if spans and lo < spans[-1][1] + timedelta(hours=1):
            spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
        else:
            spans.append((lo, hi))
    return spans


def _recompute_range(conn: PgConn, f: repo.MeterFacts, a: datetime, b: datetime, tz: ZoneInfo) -> None:
    prev_ts, next_ts = repo.neighbours(conn, f.key, a, b)
    first = (prev_ts or a).astimezone(tz).date()
    last = (next_ts or b).astimezone(tz).date()
    if f.mode == "interval":  # a reading covers the interval before it, possibly the previous day
        first = min(first, (a - timedelta(minutes=f.interval_minutes or 60)).astimezone(tz).date())
    _recompute_days(conn, f, first, last, tz)


def retry_delay(attempts: int) -> timedelta:
    """Wait before the n-th retry of a range that failed: 30 s doubling, at most an hour."""
    return min(RETRY_FIRST * (1 << min(max(attempts - 1, 0), 20)), RETRY_MAX)


RETRY_FIRST = timedelta(seconds=30)
RETRY_MAX = timedelta(hours=1)


def recompute(conn: PgConn, ranges: Iterable[tuple[int, datetime, datetime] | tuple[int, datetime, datetime, int]],
              tz: ZoneInfo) -> int:
    """Recompute the rollups around the given (meter_key, ts_from, ts_to[, attempts]) reading ranges, one meter at a
    time: a meter whose recomputation fails is rolled back, recorded and put back to be retried later, and the others
    go on (services/boundary.py). Returns the meters recomputed."""
    merged: dict[int, tuple[datetime, datetime, int]] = {}
    for key, a, b, *rest in ranges:
        lo, hi, n = merged.get(key, (a, b, 0))
        merged[key] = (min(lo, a), max(hi, b), max(n, rest[0] if rest else 0))
    facts = repo.meter_facts(conn, list(merged))
    # Workers sharing the stream may recompute the same meter at once: one at a time per meter, in key order.
    repo.lock_meters(conn, sorted(merged))
    done = 0
    for key, (a, b, attempts) in merged.items():
        f = facts.get(key)
        if f is None:  # meter deleted meanwhile
            continue

        done += one_item(conn, "rollups", f"meter_key {key} {a.isoformat()}..{b.isoformat()}",
                         partial(_recompute_range, conn, f, a, b, tz),
                         partial(_requeue, conn, key, (a, b), attempts + 1))
    return done


def _requeue(conn: PgConn, key: int, span: tuple[datetime, datetime], attempts: int, error: str) -> None:
    repo.requeue_dirty(conn, key, *span, attempts=attempts, retry_in=retry_delay(attempts), error=error)


def process_dirty(conn: PgConn, tz: ZoneInfo, limit: int = 1000) -> int:
    """Take pending dirty ranges that are due and recompute them, in the caller's transaction. Returns the number of
    meters taken (recomputed or put back after a failure)."""
    ranges = repo.claim_dirty(conn, limit)
    if not ranges:
        return 0
    recompute(conn, ranges, tz)
    return len({r[0] for r in ranges})


def rebuild(conn: PgConn, tz: ZoneInfo, meter_keys: Iterable[int], chunk_days: int = 31,
            spans: dict[int, tuple[datetime, datetime]] | None = None) -> int:
    """Recompute every rollup of the given meters from their readings, a month at a time. `spans`: each meter's
    (first, last) reading time when the caller has them already (repo.spans, one statement for many meters; a
    meter missing there is looked up once locked). Returns the number of readings the recompute windows held."""
    n = 0
    for key in meter_keys:
        repo.lock_meters(conn, [key])
        s = (spans or {}).get(key) or repo.span(conn, key)
        facts = repo.meter_facts(conn, [key]).get(key)
        if s is None or facts is None:
            repo.delete_rollups(conn, key)
            continue
        day = s[0].astimezone(tz).date() - timedelta(days=1)
        last = s[1].astimezone(tz).date() + timedelta(days=1)
        while day <= last:
            until = min(last, day + timedelta(days=chunk_days - 1))
            n += _recompute_days(conn, facts, day, until, tz)
            day = until + timedelta(days=1)
    return n


def dirty_ranges(rows: Iterable[tuple[int, datetime]]) -> list[tuple[int, datetime, datetime]]:
    """(meter_key, min ts, max ts) per meter of stored reading rows."""
    bounds: dict[int, tuple[datetime, datetime]] = {}
    for key, ts in rows:
        b = bounds.get(key)
        if b is None:
            bounds[key] = (ts, ts)
        elif ts < b[0]:
            bounds[key] = (ts, b[1])
        elif ts > b[1]:
            bounds[key] = (b[0], ts)
    return [(k, lo, hi) for k, (lo, hi) in bounds.items()]


def check_exchange_time(ts: datetime, *, earliest: datetime, latest: datetime) -> None:
    """An exchange can only happen where readings can: not before the earliest reading time, not in the future."""
    if not earliest <= ts <= latest:
        raise ValidationFailed("ts", f"{ts.isoformat()} lies outside the time readings may have "
                                     f"({earliest.date().isoformat()} to a day from now)")
