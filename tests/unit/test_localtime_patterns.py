"""The date and instant patterns the OpenAPI document declares accept exactly what the API's parser accepts."""

from __future__ import annotations

import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.errors import ValidationFailed
from services.localtime import (
    DATE_PATTERN,
    INSTANT_OR_DATE_PATTERN,
    MAX_YEAR,
    MIN_YEAR,
    REPORT_DATE_PATTERN,
    parse_instant,
)

TZ = ZoneInfo("Europe/Copenhagen")
DATE_RE = re.compile(rf"^{DATE_PATTERN}$")
INSTANT_RE = re.compile(INSTANT_OR_DATE_PATTERN)


def test_every_calendar_date_of_the_years_and_nothing_else() -> None:
    # all days from 1900-01-01 to 2200-12-31 match (301 years of 365 days and 73 leap days: 1904-2196 in fours,
    # without 2100), and no impossible day of those years does
    d, valid = date(MIN_YEAR, 1, 1), set()
    while d.year <= MAX_YEAR:
        valid.add(d.isoformat())
        d += timedelta(days=1)
    assert len(valid) == 301 * 365 + 73
    for year in range(MIN_YEAR, MAX_YEAR + 1):
        for month in range(1, 13):
            for day in range(1, 32):
                text = f"{year:04d}-{month:02d}-{day:02d}"
                assert bool(DATE_RE.match(text)) == (text in valid), text
    for text in ("1899-12-31", "2201-01-01", "2026-00-10", "2026-13-01", "2026-01-00", "٢٠٢٦-01-01", "2026-1-01"):
        assert not DATE_RE.match(text), text


@pytest.mark.parametrize("text", [
    "2026-03-29", "2024-02-29", "2000-02-29", "2026-03-29T00:00:00+01:00", "2026-03-29t00:00:00z",
    "2026-03-29T00:00:00.123456789Z", "2026-03-29T23:59:59-23:59", "2026-03-29T00:00:00 01:00",
    "1900-01-01", "2200-12-31T23:59:59+00:00",
])
def test_what_the_pattern_admits_the_parser_accepts(text: str) -> None:
    assert INSTANT_RE.match(text)
    parse_instant(text, "start", TZ)


@pytest.mark.parametrize("text", [
    "2026-03-29T00:00:00", "2026-03-29T00:00Z", "2026-03-29T24:00:00Z", "2026-03-29T00:00:60Z",
    "2026-03-29T00:00:00+0100", "2100-02-29", "1900-02-29", "2026-02-30", "2201-01-01", "1899-12-31T23:00:00Z",
    "2026-03-29T00:00:00.1234567890Z", "2026-03-29 00:00:00Z",
])
def test_what_the_pattern_refuses_the_parser_refuses(text: str) -> None:
    assert not INSTANT_RE.match(text)
    with pytest.raises(ValidationFailed):
        parse_instant(text, "start", TZ)


def test_report_dates_are_the_calendar_dates_of_1990_to_2100() -> None:
    pattern = re.compile(REPORT_DATE_PATTERN)
    for text in ("1990-01-01", "1992-02-29", "2000-02-29", "2096-02-29", "2100-12-31", "2026-04-30"):
        assert pattern.match(text), text
    for text in ("1989-12-31", "2101-01-01", "2100-02-29", "1990-02-29", "2026-04-31", "2026-02-29"):
        assert not pattern.match(text), text
