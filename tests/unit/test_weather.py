"""Degree-day weather correction with hand-computed expectations."""

from __future__ import annotations

import pytest

from services.targets.reference import default_normal_year
from services.targets.weather import choose_share, correct_month, correct_year, fit


def test_rodovre_worked_example_annual_form() -> None:
    # Rødovre Fjernvarme: 3808.4 MWh, a = 25 %, 2571 actual and 3112 normal degree days -> 4409.43 MWh
    assert round(correct_year(3808.4, 0.25, 3112, 2571), 2) == 4409.43


def test_monthly_form_equals_annual_form_for_one_month() -> None:
    c = correct_month(3808.4, 0.25, 3112, 2571)
    assert c.corrected and round(c.kwh, 2) == 4409.43


def test_a_january_by_hand() -> None:
    # 10,000 kWh, a = 0.25, normal 519, actual 450: 2,500 + 7,500 * 519 / 450 = 2,500 + 8,650 = 11,150
    c = correct_month(10_000, 0.25, 519, 450)
    assert c.kwh == pytest.approx(11_150)
    assert c.factor == pytest.approx(1.115)


def test_five_percent_guard() -> None:
    # July: normal 22 degree days; 1.0 actual is below 5 % (1.1): not corrected
    c = correct_month(1000, 0.25, 22, 1.0)
    assert (c.kwh, c.corrected, c.factor) == (1000, False, 1.0)
    assert "5 %" in c.reason
    # 1.2 is above the guard and shows why it exists: 250 + 750 * 22 / 1.2 = 14,000
    assert correct_month(1000, 0.25, 22, 1.2).kwh == pytest.approx(14_000)


def test_missing_degree_days_leave_the_month_alone() -> None:
    c = correct_month(500, 0.25, 519, None)
    assert (c.kwh, c.corrected) == (500, False)


def test_regression_recovers_a_known_share() -> None:
    gd = list(default_normal_year().degree_days)
    assert sum(gd) == 3112
    heat = [2000 + 30 * d for d in gd]  # 2,000 kWh a month of hot water + 30 kWh per degree day
    # sum = 24,000 + 30 * 3,112 = 117,360; a = 12 * 2,000 / 117,360
    s = choose_share(None, heat, gd, 0.25)
    assert s.method == "regression"
    assert s.a == pytest.approx(24_000 / 117_360)
    assert s.r2 == pytest.approx(1.0)
    f = fit(heat, gd)
    assert f is not None and f.alpha == pytest.approx(2000) and f.beta == pytest.approx(30)


def test_poor_fit_and_missing_months_fall_back_to_the_default() -> None:
    gd = list(default_normal_year().degree_days)
    noisy = [5000, 100, 4000, 200, 6000, 300, 5000, 100, 4000, 200, 6000, 300]  # unrelated to degree days
    s = choose_share(None, noisy, gd, 0.25)
    assert s.method == "default" and s.a == 0.25 and s.r2 is not None and s.r2 < 0.75
    eleven = [*gd[:11], None]
    s = choose_share(None, [2000 + 30 * d for d in gd], eleven, 0.3)
    assert (s.method, s.a) == ("default", 0.3)
    assert "11 available" in s.detail


def test_registered_share_wins() -> None:
    s = choose_share(0.4, [None] * 12, [None] * 12, 0.25)
    assert (s.method, s.a) == ("hot_water_share", 0.4)
