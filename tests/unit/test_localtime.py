"""Instants and local dates in query parameters."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from services.consumption import window as consumption_window
from services.errors import ValidationFailed
from services.localtime import parse_instant
from services.registry.service import resolve_valid_from
from services.series.service import resolve_bounds, resolve_window

CPH = ZoneInfo("Europe/Copenhagen")


@pytest.mark.parametrize(
    ("value", "utc"),
    [
        ("2026-03-29", datetime(2026, 3, 28, 23, tzinfo=UTC)),  # CET midnight
        ("2026-03-30", datetime(2026, 3, 29, 22, tzinfo=UTC)),  # CEST midnight, after the 23-hour day
        ("2026-10-25", datetime(2026, 10, 24, 22, tzinfo=UTC)),  # CEST midnight before the 25-hour day
        ("2026-10-26", datetime(2026, 10, 25, 23, tzinfo=UTC)),
        ("2026-03-29T02:30:00+02:00", datetime(2026, 3, 29, 0, 30, tzinfo=UTC)),
        ("2026-03-29T00:30:00Z", datetime(2026, 3, 29, 0, 30, tzinfo=UTC)),
        ("2026-03-29T01:30:00 01:00", datetime(2026, 3, 29, 0, 30, tzinfo=UTC)),  # "+" decoded as a space
    ],
)
def test_instants_and_local_dates(value: str, utc: datetime) -> None:
    assert parse_instant(value, "start", CPH) == utc


@pytest.mark.parametrize(
    "value", ["", "today", "2026-02-30", "2026-3-1", "2026-03-29T00:00:00", "29/03/2026", "0001-01-01", "9999-12-31"]
)
def test_rejected_values_name_the_field(value: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_instant(value, "end", CPH)
    assert exc.value.field == "end"


def test_windows() -> None:
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    w = resolve_window(None, None, now, CPH)
    assert (w.end - w.start).days == 7 and w.end == now
    w = resolve_window(None, "2026-05-01", now, CPH)
    assert w.start == datetime(2026, 4, 23, 22, tzinfo=UTC)
    with pytest.raises(ValidationFailed) as exc:
        resolve_window("2026-06-01", None, now, CPH)  # a start in the future with end defaulting to now
    assert exc.value.field == "end"
    assert resolve_bounds(None, None, CPH) == (None, None)
    with pytest.raises(ValidationFailed):
        resolve_bounds("2026-05-02", "2026-05-01", CPH)


def test_instants_leave_in_local_time_with_an_iso_offset() -> None:
    from services.localtime import iso_local, to_local

    # 01:00 UTC on the 23-hour day is 03:00 CEST (+02:00); an hour before it is 01:00 CET (+01:00)
    assert iso_local(datetime(2026, 3, 29, 1, tzinfo=UTC), CPH) == "2026-03-29T03:00:00+02:00"
    assert iso_local(datetime(2026, 3, 29, 0, tzinfo=UTC), CPH) == "2026-03-29T01:00:00+01:00"
    assert to_local(datetime(2026, 3, 29, 1, tzinfo=UTC), CPH) == datetime(2026, 3, 29, 1, tzinfo=UTC)  # same instant
    # before 1894 Copenhagen's offset was local mean time (+00:50:20): no ISO offset writes it, so UTC is given
    assert iso_local(datetime(1850, 1, 1, tzinfo=CPH), CPH) == "1849-12-31T23:09:40+00:00"
    assert iso_local(datetime(2026, 7, 1, 12, 0, 0, 123456, tzinfo=UTC), CPH, "seconds") == "2026-07-01T14:00:00+02:00"


def test_a_date_out_of_range_is_said_as_given() -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_instant("1850-01-01", "start", CPH)
    assert exc.value.message == "1850-01-01 is outside the years 1900-2200"  # not 1850-01-01T00:00:00+00:50:20


def test_a_default_span_reaching_before_1900_is_refused_naming_end() -> None:
    # end 1900-01-01 and no start: the day resolution's 31-day default span would begin in 1899 (local mean time
    # offsets, outside the years instants may have): a 422 naming end, not an answer with +00:09:40 edges
    now = datetime(2026, 11, 30, tzinfo=UTC)
    with pytest.raises(ValidationFailed) as exc:
        consumption_window.resolve(None, "1900-01-01", "day", now, CPH)
    assert exc.value.field == "end"
    w = consumption_window.resolve(None, "1901-06-01", "day", now, CPH)
    assert w.requested_start.isoformat() == "1901-05-01T00:00:00+01:00"


def test_valid_from_must_lie_after_since_always() -> None:
    # 1900-01-01 local midnight is 1899-12-31T23:00Z, before the history's "since always" (1900-01-01T00:00Z)
    with pytest.raises(ValidationFailed) as exc:
        resolve_valid_from("1900-01-01", CPH)
    assert exc.value.field == "valid_from"
    assert resolve_valid_from("1900-01-02", CPH) == datetime(1900, 1, 1, 23, tzinfo=UTC)
    assert resolve_valid_from(None, CPH) is None
