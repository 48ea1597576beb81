"""When a building is open: its weekly opening hours, Danish public holidays and school holidays.

Public holidays come from the `holidays` package (Denmark, public and optional categories: Christmas Eve, New Year's
Eve, Constitution Day are closing days for most municipal buildings). Danish school holidays are set by each
municipality; the default here follows the common pattern (and Ballerup's recent calendars): winter holiday in ISO
week 7, Easter from the Saturday before Palm Sunday to Easter Monday, autumn holiday in ISO week 42, summer from the
last Saturday of June to the Sunday before the second Monday of August, Christmas from 21 December to 2 January.
Which building types follow school holidays is a rule parameter (schools by default).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import holidays

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@lru_cache(maxsize=64)
def _dk(year: int) -> dict[date, str]:
    dk = holidays.country_holidays("DK", years=year, categories=("public", "optional"))
    out: dict[date, str] = dict(dk.items())
    return out


def public_holiday(d: date) -> str | None:
    """The Danish public (or customary closing) holiday on `d`, or None."""
    return _dk(d.year).get(d)


def _easter(year: int) -> date:
    return next(d for d, name in _dk(year).items() if name == "Easter Sunday")


@lru_cache(maxsize=64)
def school_holidays(year: int) -> tuple[tuple[date, date, str], ...]:
    """(first day, last day, name) of the default Danish school holidays touching `year`."""
    easter = _easter(year)
    june_end = date(year, 6, 30)
    summer_start = june_end - timedelta(days=(june_end.weekday() - 5) % 7)  # last Saturday of June
    aug1 = date(year, 8, 1)
    first_monday = aug1 + timedelta(days=(7 - aug1.weekday()) % 7)
    summer_end = first_monday + timedelta(days=6)  # the Sunday before the second Monday of August
    return (
        (date(year - 1, 12, 21), date(year, 1, 2), "Christmas holiday"),
        (date.fromisocalendar(year, 7, 1) - timedelta(days=2), date.fromisocalendar(year, 7, 7), "Winter holiday"),
        (easter - timedelta(days=8), easter + timedelta(days=1), "Easter holiday"),
        (summer_start, summer_end, "Summer holiday"),
        (date.fromisocalendar(year, 42, 1) - timedelta(days=2), date.fromisocalendar(year, 42, 7), "Autumn holiday"),
        (date(year, 12, 21), date(year + 1, 1, 2), "Christmas holiday"),
    )


def school_holiday(d: date) -> str | None:
    for first, last, name in school_holidays(d.year):
        if first <= d <= last:
            return name
    return None


def closed_reason(d: date, *, school: bool, public: bool = True) -> str | None:
    """Why the building is closed all day on `d` regardless of its opening hours, or None. `public`: closed on
    public holidays; `school`: closed in school holidays."""
    name = public_holiday(d) if public else None
    if name:
        return f"public holiday: {name}"
    if school:
        name = school_holiday(d)
        if name:
            return f"school holiday: {name}"
    return None


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def open_at(opening_hours: dict[str, Any] | None, local: datetime, *, school: bool = False,
            holidays_closed: bool = True) -> bool:
    """Is the building open at local time `local`? (`holidays_closed`: closed on public holidays.) No opening
    hours registered means always open (no out-of-hours
    judgement is possible)."""
    if opening_hours is None:
        return True
    d = local.date()
    if closed_reason(d, school=school, public=holidays_closed):
        return False
    minute = local.hour * 60 + local.minute
    for rng in opening_hours.get(WEEKDAYS[d.weekday()], []) or []:
        a, b = rng.split("-")
        if _minutes(a) <= minute < _minutes(b):
            return True
    return False


def hour_open(opening_hours: dict[str, Any] | None, local_hour_start: datetime, *, school: bool = False,
              holidays_closed: bool = True) -> bool:
    """Is the building open at any moment of the local clock hour starting at `local_hour_start`?"""
    if opening_hours is None:
        return True
    d = local_hour_start.date()
    if closed_reason(d, school=school, public=holidays_closed):
        return False
    h0 = local_hour_start.hour * 60
    for rng in opening_hours.get(WEEKDAYS[d.weekday()], []) or []:
        a, b = rng.split("-")
        if _minutes(a) < h0 + 60 and h0 < _minutes(b):
            return True
    return False

