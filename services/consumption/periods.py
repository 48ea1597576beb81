"""Local calendar periods (Europe/Copenhagen by default) as UTC instants: a day can have 23 or 25 hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Resolution = Literal["hour", "day", "week", "month", "year"]


def local_midnight(d: date, tz: ZoneInfo) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC)


def _next_date(d: date, resolution: Resolution) -> date:
    if resolution == "day":
        return d + timedelta(days=1)
    if resolution == "week":
        return d + timedelta(days=7)
    if resolution == "month":
        return date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return date(d.year + 1, 1, 1)


def period_start(d: date, resolution: Resolution) -> date:
    """The first day of the period (ISO week: Monday) containing local date d."""
    if resolution == "week":
        return d - timedelta(days=d.weekday())
    if resolution == "month":
        return d.replace(day=1)
    if resolution == "year":
        return date(d.year, 1, 1)
    return d


def period_edges(start: datetime, end: datetime, resolution: Resolution, tz: ZoneInfo) -> list[datetime]:
    """Edges (UTC) of the whole local periods that cover [start, end): the first edge is the start of the period
    containing `start`, the last the end of the period containing the instant before `end`."""
    if end <= start:
        return []
    if resolution == "hour":
        # aligned in local time (zones with half-hour offsets), then stepped in real hours (DST days: 23 or 25)
        first = start.astimezone(tz).replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        edges = [first]
        while edges[-1] < end:
            edges.append(edges[-1] + timedelta(hours=1))
        return edges
    d = period_start(start.astimezone(tz).date(), resolution)
    edges = [local_midnight(d, tz)]
    while edges[-1] < end:
        d = _next_date(d, resolution)
        edges.append(local_midnight(d, tz))
    return edges
