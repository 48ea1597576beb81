"""The window of a consumption question: what the caller asked for, and the whole local periods that answer it.

A series is made of whole local periods (a day, a week from Monday, a month, a year in Europe/Copenhagen), so the
periods answering [start, end) can reach before `start` and past `end`: the answer says both, never silently widens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.consumption.periods import Resolution, period_edges
from services.consumption.query import DEFAULT_SPAN, MAX_BUCKETS
from services.errors import ValidationFailed
from services.localtime import MIN_YEAR, iso_local, to_local
from services.series.service import resolve_bounds
from services.validation import FieldError, FieldErrors

# The longest a period of each resolution can be (a DST day has 25 hours): the window's length over it is a lower
# bound of the number of periods, so that a century by the hour is refused before its periods are listed (the exact
# count is checked by `query.series`).
_LONGEST: dict[str, timedelta] = {
    "hour": timedelta(hours=1), "day": timedelta(hours=25), "week": timedelta(days=7, hours=1),
    "month": timedelta(days=31, hours=1), "year": timedelta(days=366, hours=1),
}


@dataclass(frozen=True)
class Window:
    requested_start: datetime  # what the caller gave (or the default), local time
    requested_end: datetime
    start: datetime  # the start of the first whole period answered, local time
    end: datetime  # the end of the last whole period answered (exclusive), local time

    @property
    def widened(self) -> bool:
        return (self.start, self.end) != (self.requested_start, self.requested_end)


def resolve(start: str | None, end: str | None, resolution: Resolution, now: datetime, tz: ZoneInfo) -> Window:
    """The window for `start`/`end` as a caller wrote them (RFC 3339 instants or local dates, `end` exclusive).

    Without `end` the window ends now; without `start` it begins the resolution's default span (DEFAULT_SPAN) before
    its end. A `start` at or after now with no `end` asks for nothing that has happened: 422 naming `start` and `end`
    (an explicit `end` may lie in the future: its periods are answered, with coverage 0 until they are measured)."""
    s, e = resolve_bounds(start, end, tz)
    if s is not None and e is None and s >= now:
        raise FieldErrors([
            FieldError("start", f"{iso_local(s, tz)} is not before now ({iso_local(now, tz, 'seconds')}), and without "
                                "end the window ends now"),
            FieldError("end", "required when start is not in the past: give the end of the window"),
        ])
    e = e or now
    if s is None and (e - DEFAULT_SPAN[resolution]).year < MIN_YEAR + 1:
        # the default span would reach before the years instants may have (and local mean time offsets)
        raise ValidationFailed("end", f"{iso_local(e, tz)} leaves no default span after {MIN_YEAR}: give start too")
    s = s or e - DEFAULT_SPAN[resolution]
    if (e - s) // _LONGEST[resolution] > MAX_BUCKETS:
        raise ValidationFailed("resolution", f"more than {MAX_BUCKETS} periods; at most {MAX_BUCKETS} per request")
    edges = period_edges(s, e, resolution, tz)
    return Window(requested_start=to_local(s, tz), requested_end=to_local(e, tz),
                  start=to_local(edges[0], tz), end=to_local(edges[-1], tz))
