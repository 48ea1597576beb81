"""The window's quality (services/consumption/query.quality): its periods already over, each weighing by its length."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from services.consumption.query import COMPLETE_COVERAGE, quality

CPH = ZoneInfo("Europe/Copenhagen")
JAN, FEB, MAR, APR = (datetime(2025, m, 1, tzinfo=CPH) for m in (1, 2, 3, 4))


def test_time_weighted_over_the_periods_already_over() -> None:
    points = [(JAN, FEB, 1.0, 0.0, 100.0), (FEB, MAR, 0.5, 0.2, 50.0), (MAR, APR, 0.0, 0.0, 7.0)]
    q = quality(points, now=datetime(2025, 3, 15, tzinfo=CPH))  # March is in progress: left out
    # January's 31 days at 1.0 and February's 28 at 0.5: 45/59, not the plain average 0.75
    assert q.coverage == pytest.approx(45 / 59, abs=1e-6)
    # of the 150 kWh, February's 50 are 20 % estimated: 10 kWh, 1/15 of the amount (not weighted by days: 5.6/59)
    assert q.estimated_share == pytest.approx(1 / 15, abs=1e-6)
    assert q.complete is False


def test_complete_at_the_threshold_and_nothing_over() -> None:
    assert quality([(JAN, FEB, COMPLETE_COVERAGE, 0.0, 1.0)], now=FEB).complete is True
    assert quality([(JAN, FEB, 0.994, 0.0, 1.0)], now=FEB).complete is False
    nothing = quality([(JAN, FEB, 1.0, 0.0, 1.0)], now=datetime(2025, 1, 31, tzinfo=CPH))
    assert (nothing.coverage, nothing.estimated_share, nothing.complete) == (0.0, 0.0, False)
