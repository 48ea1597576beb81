"""Consumption series for the API: whole local periods, from the rollups (never from raw readings)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.consumption import repository as repo
from services.consumption.periods import Resolution, period_edges
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
    amount: float
    coverage: float
    estimated_share: float


def series(conn: PgConn, keys: Sequence[int], *, start: datetime, end: datetime, resolution: Resolution,
           tz: ZoneInfo) -> list[Point]:
    """Amount per whole local period covering [start, end) for the meters `keys`; coverage is the share of the
    period the meters' data measured (averaged over the meters), estimated_share the part interpolated or
    estimated."""
    edges = period_edges(start, end, resolution, tz)
    if len(edges) - 1 > MAX_BUCKETS:
        raise ValidationFailed("resolution", f"{len(edges) - 1} periods; at most {MAX_BUCKETS} per request")
    if len(edges) < 2:
        return []
    n = len(edges) - 1
    amount, measured, estimated = [0.0] * n, [0.0] * n, [0.0] * n
    if keys:
        rows: Sequence[tuple[object, float, float, float]]
        starts: list[object]
        if resolution == "hour":
            rows = repo.hourly_sums(conn, keys, edges[0], edges[-1])
            starts = list(edges)
        elif resolution in ("month", "year"):  # whole local months: the monthly rollup
            d0, d1 = edges[0].astimezone(tz).date(), edges[-1].astimezone(tz).date()
            rows = repo.monthly_sums(conn, keys, d0, d1)
            starts = [e.astimezone(tz).date() for e in edges]
        else:
            d0, d1 = edges[0].astimezone(tz).date(), edges[-1].astimezone(tz).date()
            rows = repo.daily_sums(conn, keys, d0, d1)
            starts = [e.astimezone(tz).date() for e in edges]
        for at, a, m, e in rows:
            i = bisect_right(starts, at) - 1  # type: ignore[type-var]
            if 0 <= i < n:
                amount[i] += a
                measured[i] += m
                estimated[i] += e
    out = []
    for i in range(n):
        seconds = (edges[i + 1] - edges[i]).total_seconds() * max(len(keys), 1)
        out.append(Point(
            start=edges[i].astimezone(tz), end=edges[i + 1].astimezone(tz), amount=round(amount[i], 6),
            coverage=round(min(1.0, measured[i] / seconds), 6) if keys else 0.0,
            estimated_share=round(estimated[i] / amount[i], 6) if amount[i] > 0 else 0.0,
        ))
    return out
