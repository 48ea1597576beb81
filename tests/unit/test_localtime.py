"""Instants and local dates in query parameters."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from services.errors import ValidationFailed
from services.localtime import parse_instant
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
