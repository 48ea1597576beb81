"""Consumption series for the API: whole local periods, from the rollups (never from raw readings), each saying
whether readings stored for it are not yet in the rollups (`pending`: its amount is then unknown, never 0)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.consumption import repository as repo
from services.consumption.coverage import (
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

MAX_BUCKETS = 10_000
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
           tz: ZoneInfo) -> Series:
    """Amount per whole local period covering [start, end) for the meters `keys`; coverage is the measured share
    of the meters' active time in the period, estimated_share the part interpolated or estimated
    (services/consumption/coverage.py). A period that a pending span overlaps has no amount (None) and `pending`;
    its coverage and estimated share are those of what is computed so far."""
    edges = period_edges(start, end, resolution, tz)
    if len(edges) - 1 > MAX_BUCKETS:
        raise ValidationFailed("resolution", f"{len(edges) - 1} periods; at most {MAX_BUCKETS} per request")
    if len(edges) < 2:
        return Series([], None)
    n = len(edges) - 1
    # Pending ranges are read before the rollups: the rollup process deletes a range in the transaction that
    # rewrites its rollups, so a commit between the two reads can only make this answer say "pending" needlessly,
    # never present stale rollups as current.
    spans = overlapping(repo.pending_spans(conn, keys), edges[0], edges[-1])
    pending = pending_flags(edges, spans)
    sums = [Sums() for _ in range(n)]
    if keys:
        rows: Sequence[tuple[datetime, float, float, float]]
        if resolution == "hour":  # the hourly rollup, and the steps too long for it apportioned to the hours
            rows = [*repo.hourly_sums(conn, keys, edges[0], edges[-1]),
                    *step_rows(repo.long_steps_reaching(conn, keys, edges[0], edges[-1]), edges)]
        else:
            d0, d1 = edges[0].astimezone(tz).date(), edges[-1].astimezone(tz).date()
            by_day = repo.monthly_sums if resolution in ("month", "year") else repo.daily_sums
            rows = [(local_midnight(d, tz), a, m, e) for d, a, m, e in by_day(conn, keys, d0, d1)]
        # Weeks are summed from days and years from months: a gap step lying inside the week or year but crossing
        # the rows' edges was counted as estimated by the rows; inside this period it is measured.
        rows_of: Resolution | None = "day" if resolution == "week" else "month" if resolution == "year" else None
        gaps = repo.gap_steps_within(conn, keys, edges[0], edges[-1]) if rows_of else []
        sums = roll_up(rows, edges, gaps, rows_of, tz)
    active = active_seconds_per_period(repo.active_spans(conn, keys).values(), edges) if keys else [0.0] * n
    out = []
    for i in range(n):
        out.append(Point(
            start=edges[i].astimezone(tz), end=edges[i + 1].astimezone(tz),
            amount=None if pending[i] else round(sums[i].amount, 6),
            coverage=round(coverage(sums[i].measured_s, active[i]), 6),
            estimated_share=round(estimated_share(sums[i].estimated, sums[i].amount), 6), pending=pending[i],
        ))
    return Series(out, computed_through(spans))
