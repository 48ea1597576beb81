"""Instants and local dates as callers write them: RFC 3339 with an offset, or a date meaning local midnight."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from services.errors import ValidationFailed

MIN_YEAR, MAX_YEAR = 1900, 2200
# RFC 3339 date-time with an offset (the wire contract's `ts` and the API's instants): `T`/`t`, `Z`/`z` or ±HH:MM.
RFC3339_RE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# In a query string an unencoded "+" arrives as a space: "2026-03-29T00:00:00 01:00" meant "+01:00".
_SPACE_OFFSET_RE = re.compile(r"^(.*T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


def parse_instant(value: str, field: str, tz: ZoneInfo) -> datetime:
    """An RFC 3339 instant with an offset, or `YYYY-MM-DD` meaning midnight at the start of that local day.

    Raises ValidationFailed naming `field` for anything else, naive timestamps included.
    """
    value = value.strip()
    if _DATE_RE.match(value):
        try:
            day = date.fromisoformat(value)
        except ValueError as e:
            raise ValidationFailed(field, f"{value!r} is not a date: {e}") from None
        # Midnight exists on every Copenhagen day (DST switches at 02:00/03:00), so it is never ambiguous.
        return _in_range(datetime(day.year, day.month, day.day, tzinfo=tz), field, value)
    m = _SPACE_OFFSET_RE.match(value)
    if m:
        value = f"{m.group(1)}+{m.group(2)}"
    try:
        if RFC3339_RE.fullmatch(value) is None:
            if RFC3339_RE.fullmatch(value + "Z") is not None:
                raise ValidationFailed(
                    field, f"{value!r} has no UTC offset; write e.g. 2026-03-29T00:00:00+01:00 or ...Z")
            raise ValueError(value)
        ts = datetime.fromisoformat(value.replace("t", "T").replace("z", "Z"))
    except ValueError:
        raise ValidationFailed(
            field, f"{value!r} is neither an RFC 3339 timestamp (2026-03-29T00:00:00+01:00) nor a date (2026-03-29)"
        ) from None
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValidationFailed(field, f"{value!r} has no UTC offset; write e.g. 2026-03-29T00:00:00+01:00 or ...Z")
    return _in_range(ts, field, value)


def _in_range(ts: datetime, field: str, given: str) -> datetime:
    # Far-off years are typos, and near year 1 or 9999 window arithmetic would overflow Python's datetime.
    # The message repeats what the caller wrote: a local date before 1894 would otherwise print Copenhagen's local
    # mean time offset (+00:50:20), which is no ISO 8601 offset.
    if not MIN_YEAR <= ts.year <= MAX_YEAR:
        raise ValidationFailed(field, f"{given} is outside the years {MIN_YEAR}-{MAX_YEAR}")
    return ts


def to_local(ts: datetime, tz: ZoneInfo) -> datetime:
    """An aware instant in local time (`tz`), the form every instant leaves the API in (ISO 8601 with ±HH:MM).

    Before a zone's standard time (Copenhagen: 1894) its offset is local mean time (+00:50:20), which ISO 8601's
    ±HH:MM cannot write: such instants are given in UTC instead. Naive datetimes are returned unchanged."""
    if ts.tzinfo is None:
        return ts
    local = ts.astimezone(tz)
    offset = local.utcoffset()
    if offset is None or offset.seconds % 60 or offset.microseconds:
        return ts.astimezone(UTC)
    return local


def iso_local(ts: datetime, tz: ZoneInfo, timespec: str = "auto") -> str:
    """`to_local` as text: `2026-03-29T03:00:00+02:00` (UTC, before standard time, as `+00:00`, never `Z`)."""
    return to_local(ts, tz).isoformat(timespec=timespec)
