"""Consumption series for the API: whole local periods, from the rollups (never from raw readings), each saying
whether readings stored for it are not yet in the rollups (`pending`: its amount is then unknown, never 0)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.consumption import repository as repo
from services.consumption.coverage import (
    ActiveSpan,
    Sums,
    active_seconds_per_period,
    coverage,
    estimated_share,
    roll_up,
    step_rows,
)
from services.consumption.periods import Resolution, local_midnight, period_edges
from services.db import PgConn
from services.errors import ValidationFailed
from services.validation import FieldError, FieldErrors

MAX_BUCKETS = 10_000
# A window whose periods already over are measured at least this much (time-weighted) is complete: below it the
# dashboard says the data are partial.
COMPLETE_COVERAGE = 0.995

# The cost of a series grows with its periods times the meters it sums (each meter's rollup row per period is read
# and added up): the portfolio's hourly year is some 8,760 x 300 = 2.6 million and took 10-15 s. Checked from the
# count of periods and meters before any rollup is read. 500,000 keeps one building's hourly year allowed (up to 57
# meters) and a portfolio of some 1,300 meters by the day for a year; more asks for a coarser resolution, a shorter
# window or one building.
MAX_METER_PERIODS = 500_000
DEFAULT_SPAN: dict[str, timedelta] = {
    "hour": timedelta(days=1), "day": timedelta(days=31), "week": timedelta(weeks=12),
    "month": timedelta(days=365), "year": timedelta(days=5 * 366),
}


@dataclass(frozen=True)
class Point:
    start: datetime
    end: datetime
    amount: float | None  # None: pending, the rollups do not count readings stored for this period yet
    coverage: float
    estimated_share: float
    pending: bool = False


@dataclass(frozen=True)
class Series:
    points: list[Point]
    # The instant up to which every rollup the answer reads is current (None: nothing pending in the window): the
    # earliest pending span of the meters that reaches into it.
    computed_through: datetime | None


@dataclass(frozen=True)
class Quality:
    """The quality of a window: over its periods already over (the one in progress cannot be complete yet), each
    weighing by its length (a 31-day month more than a 28-day one)."""

    coverage: float  # time-weighted measured share (0 when no period is over yet)
    estimated_share: float  # time-weighted share interpolated or estimated
    complete: bool  # coverage >= COMPLETE_COVERAGE


def quality(points: Sequence[tuple[datetime, datetime, float, float, float | None]], now: datetime) -> Quality:
    """The window's quality from its periods (start, end, coverage, estimated_share, amount), over those with
    end <= now: coverage weighted by each period's length (the measured share of the window's time), estimated share
    by each period's amount (the interpolated or estimated share of the window's amount, as each period's own; a
    pending period, without an amount, weighs nothing there)."""
    over = [((b - a).total_seconds(), c, e, amount or 0.0) for a, b, c, e, amount in points if b <= now]
    total = sum(w for w, _, _, _ in over)
    if total <= 0:
        return Quality(0.0, 0.0, False)
    cov = round(sum(w * c for w, c, _, _ in over) / total, 6)
    amount = sum(abs(x) for _, _, _, x in over)
    est = round(sum(e * abs(x) for _, _, e, x in over) / amount, 6) if amount > 0 else 0.0
    return Quality(cov, est, cov >= COMPLETE_COVERAGE)


def series_quality(found: Series, now: datetime) -> Quality:
    return quality([(p.start, p.end, p.coverage, p.estimated_share, p.amount) for p in found.points], now)


def _reaches(sp: repo.PendingSpan, start: datetime, end: datetime) -> bool:
    """Does the span change anything in [start, end)? A span is the open stretch between two readings; a lone
    reading or exchange (start == end) is taken as the instant itself, to be safe."""
    return sp.start < end and (sp.end > start or sp.start == sp.end >= start)


def overlapping(spans: Sequence[repo.PendingSpan], start: datetime, end: datetime) -> list[repo.PendingSpan]:
    """The pending spans that reach into [start, end)."""
    return [sp for sp in spans if _reaches(sp, start, end)]


def computed_through(spans: Sequence[repo.PendingSpan]) -> datetime | None:
    return min((sp.start for sp in spans), default=None)


def pending_flags(edges: Sequence[datetime], spans: Sequence[repo.PendingSpan]) -> list[bool]:
    """Per period [edges[i], edges[i+1]): does a pending span reach into it?"""
    n = len(edges) - 1
    marks = [0] * (n + 1)
    for sp in spans:
        if not _reaches(sp, edges[0], edges[-1]):
            continue
        first = max(0, bisect_right(edges, sp.start) - 1)
        cut = bisect_left(edges, sp.end) if sp.end > sp.start else bisect_right(edges, sp.end)
        last = min(n - 1, cut - 1)
        marks[first] += 1
        marks[last + 1] -= 1
    out, depth = [], 0
    for i in range(n):
        depth += marks[i]
        out.append(depth > 0)
    return out


def series(conn: PgConn, keys: Sequence[int], *, start: datetime, end: datetime, resolution: Resolution,
           tz: ZoneInfo, partial: Mapping[int, Sequence[ActiveSpan]] | None = None) -> Series:
    """Amount per whole local period covering [start, end) for the meters `keys`; coverage is the measured share
    of the meters' active time in the period, estimated_share the part interpolated or estimated
    (services/consumption/coverage.py). A period that a pending span overlaps has no amount (None) and `pending`;
    its coverage and estimated share are those of what is computed so far.

    `partial`: meters of `keys` that count only in some spans (a meter that became a sub-meter, or stopped being
    one: repository.totals_membership). Each of their rollup rows counts when its start lies in one of the spans
    (as of the row's start: an hour, a day, a month — so a year is its months as of each month's start, as
    /progress counts them), and only that time of theirs counts toward coverage."""
    edges = period_edges(start, end, resolution, tz)
    if len(edges) - 1 > MAX_BUCKETS:
        raise ValidationFailed("resolution", f"{len(edges) - 1} periods; at most {MAX_BUCKETS} per request")
    if len(edges) < 2:
        return Series([], None)
    n = len(edges) - 1
    check_cost(n, len(keys), resolution)
    # Pending ranges are read before the rollups: the rollup process deletes a range in the transaction that
    # rewrites its rollups, so a commit between the two reads can only make this answer say "pending" needlessly,
    # never present stale rollups as current.
    spans = overlapping(repo.pending_spans(conn, keys), edges[0], edges[-1])
    pending = pending_flags(edges, spans)
    wanted = set(keys)
    partial = {k: v for k, v in (partial or {}).items() if k in wanted}
    full = [k for k in keys if k not in partial]
    rows_of: Resolution | None = "day" if resolution == "week" else "month" if resolution == "year" else None
    rows = _rows(conn, full, edges, resolution, tz) if full else []
    gaps = repo.gap_steps_within(conn, full, edges[0], edges[-1]) if rows_of and full else []
    active_spans: list[ActiveSpan] = list(repo.active_spans(conn, full).values()) if full else []
    # Weeks are summed from days and years from months: a gap step lying inside the week or year but crossing
    # the rows' edges was counted as estimated by the rows; inside this period it is measured.
    sums = roll_up(rows, edges, gaps, rows_of, tz) if full else [Sums() for _ in range(n)]
    if partial:
        # meters counted in some spans only: from their hours or days, each as of its start (a month in which a
        # meter becomes a sub-meter on the 15th counts its first 14 days), as /progress counts them
        fine: Resolution = "hour" if resolution == "hour" else "day"
        fine_of: Resolution | None = None if resolution in ("hour", "day") else "day"
        lifecycle = repo.active_spans(conn, list(partial))
        p_rows: list[tuple[datetime, float, float, float]] = []
        p_gaps = []
        for key, counting in partial.items():
            grid = [(_ceil(a, fine, tz), _ceil(b, fine, tz)) for a, b in counting]
            p_rows += [r for r in _rows(conn, [key], edges, fine, tz) if _within(r[0], grid)]
            if fine_of:
                p_gaps += [g for g in repo.gap_steps_within(conn, [key], edges[0], edges[-1])
                           if any(_within(g.start, [sp]) and (sp[1] is None or g.end <= sp[1]) for sp in grid)]
            active_spans += [sp for sp in (_intersect(lifecycle.get(key, (None, None)), g) for g in grid) if sp]
        for total, part in zip(sums, roll_up(p_rows, edges, p_gaps, fine_of, tz), strict=True):
            total.amount += part.amount
            total.measured_s += part.measured_s
            total.estimated += part.estimated
            total.rows += part.rows
    active = active_seconds_per_period(active_spans, edges) if keys else [0.0] * n
    out = []
    for i in range(n):
        out.append(Point(
            start=edges[i].astimezone(tz), end=edges[i + 1].astimezone(tz),
            amount=None if pending[i] else round(sums[i].amount, 6),
            coverage=round(coverage(sums[i].measured_s, active[i]), 6),
            estimated_share=round(estimated_share(sums[i].estimated, sums[i].amount), 6), pending=pending[i],
        ))
    return Series(out, computed_through(spans))


def check_cost(periods: int, meters: int, resolution: Resolution) -> None:
    """422 naming `resolution` and `start` when `periods` x `meters` is over MAX_METER_PERIODS."""
    if periods * meters <= MAX_METER_PERIODS:
        return
    asked = f"{periods} periods x {meters} meters = {periods * meters} meter-periods"
    raise FieldErrors([
        FieldError("resolution", f"{asked}; at most {MAX_METER_PERIODS} per request: choose a coarser resolution "
                                 f"than {resolution}, a shorter window, or one building (building_id)"),
        FieldError("start", f"{asked}; a later start (a shorter window) asks for fewer periods"),
    ])


def _rows(conn: PgConn, keys: Sequence[int], edges: Sequence[datetime], resolution: Resolution, tz: ZoneInfo
          ) -> list[tuple[datetime, float, float, float]]:
    """The rollup rows (start, amount, measured_s, estimated) summed over `keys` that the periods are built of."""
    if resolution == "hour":  # the hourly rollup, and the steps too long for it apportioned to the hours
        return [*repo.hourly_sums(conn, keys, edges[0], edges[-1]),
                *step_rows(repo.long_steps_reaching(conn, keys, edges[0], edges[-1]), edges)]
    d0, d1 = edges[0].astimezone(tz).date(), edges[-1].astimezone(tz).date()
    by_day = repo.monthly_sums if resolution in ("month", "year") else repo.daily_sums
    return [(local_midnight(d, tz), a, m, e) for d, a, m, e in by_day(conn, keys, d0, d1)]


def _ceil(at: datetime | None, resolution: Resolution, tz: ZoneInfo) -> datetime | None:
    """The first edge of a `resolution` period at or after `at` (a row counts as of its start)."""
    if at is None:
        return None
    first = period_edges(at, at + timedelta(microseconds=1), resolution, tz)
    return first[0] if first[0] == at else first[1]


def _within(at: datetime, spans: Sequence[ActiveSpan]) -> bool:
    return any((a is None or a <= at) and (b is None or at < b) for a, b in spans)


def _intersect(x: ActiveSpan, y: ActiveSpan) -> ActiveSpan | None:
    lo = y[0] if x[0] is None else x[0] if y[0] is None else max(x[0], y[0])
    hi = y[1] if x[1] is None else x[1] if y[1] is None else min(x[1], y[1])
    return None if lo is not None and hi is not None and hi <= lo else (lo, hi)


def totals_series(conn: PgConn, building_ids: Sequence[str] | None, carrier: str | None, *, start: datetime,
                  end: datetime, resolution: Resolution, tz: ZoneInfo) -> Series:
    """The consumption of the buildings (None: all) as their totals count it: the main meters of the carrier (None:
    every energy carrier) as of each period (the dated parent history), as /progress counts them."""
    members = repo.totals_membership(conn, building_ids, carrier)
    return series(conn, members.keys, start=start, end=end, resolution=resolution, tz=tz, partial=members.partial)
