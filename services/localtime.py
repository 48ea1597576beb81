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


def _date_pattern(years: str, leap_years: str) -> str:
    """A calendar date as a regular expression: each month's own last day, 29 February in leap years only."""
    long_months = r"(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    short_months = r"(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    february = r"02-(?:0[1-9]|1[0-9]|2[0-8])"
    return rf"(?:(?:{years})-(?:{long_months}|{short_months}|{february})|(?:{leap_years})-02-29)"


# What the API accepts as a local date and as an instant, written into the OpenAPI document as patterns so that a
# client (or a schema-driven tester) knows in advance which text is valid: every calendar date of the years
# MIN_YEAR-MAX_YEAR (1900 and 2100 are no leap years, 2000 is), and RFC 3339 with an offset; in a query string an
# unencoded "+" arrives as a space, so a space stands for "+". ASCII digits only: `\d` means any Unicode digit to
# some regex engines (pydantic's among them).
DATE_PATTERN = _date_pattern(r"19[0-9][0-9]|2[01][0-9][0-9]|2200",
                             r"(?:19|20|21)(?:0[48]|[2468][048]|[13579][26])|2000")
# The dates a daily report may be asked for (the alert digests): 1990-2100, no leap day in 2100.
REPORT_DATE_PATTERN = "^" + _date_pattern(r"199[0-9]|20[0-9][0-9]|2100",
                                          r"199[26]|20(?:0[48]|[2468][048]|[13579][26])|2000") + "$"
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
_OFFSET = r"(?:[Zz]|[+ -](?:[01][0-9]|2[0-3]):[0-5][0-9])"
INSTANT_OR_DATE_PATTERN = rf"^{DATE_PATTERN}(?:[Tt]{_TIME}{_OFFSET})?$"

# In a query string an unencoded "+" arrives as a space: "2026-03-29T00:00:00 01:00" meant "+01:00".
_SPACE_OFFSET_RE = re.compile(r"^(.*[Tt]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


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
