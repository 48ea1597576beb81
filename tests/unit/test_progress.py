"""Progress rules with hand-computed expectations: total vs like-for-like, intensity, weather, forecast, coverage,
CO2 interpolation."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic_core import to_jsonable_python

from services.reports.service import factor_for_carrier
from services.targets.progress import BuildingData, Cell, Weather, compute, required_pct, time_weighted_area
from services.targets.reference import Factor
from services.targets.schemas import ProgressOut

NORMAL = [519, 486, 444, 311, 154, 58, 22, 18, 91, 207, 341, 461]
NO_GD = Weather(NORMAL, {}, 0.25)


def monthly(kwh: float, months: range = range(1, 13)) -> dict[int, Cell]:
    return {m: Cell(kwh, 1.0) for m in months}


def portfolio() -> list[BuildingData]:
    a = BuildingData("A", "Kept school", None, {2015: 1000, 2025: 1000})
    a.data = {2015: {"electricity": monthly(1000)}, 2025: {"electricity": monthly(900)}}
    sold = BuildingData("S", "Sold 2019", None, {2015: 500, 2025: 500}, sold=date(2019, 6, 30))
    sold.data = {2015: {"electricity": monthly(500)}}
    new = BuildingData("N", "Added 2020", None, {2015: 400, 2025: 400}, added=date(2020, 1, 1))
    new.data = {2025: {"electricity": monthly(300)}}
    return [a, sold, new]


def test_sold_and_added_buildings_make_total_and_like_for_like_differ() -> None:
    p = compute(portfolio(), baseline_year=2015, year=2025, target_pct=15, target_year=2025, w=NO_GD,
                today=date(2026, 11, 27))
    # total: baseline A 12,000 + S 6,000 = 18,000; 2025: A 10,800 + N 3,600 = 14,400 -> 1 - 14,400/18,000 = 20 %
    assert (p["baseline_kwh"], p["actual_kwh"]) == (18_000, 14_400)
    assert p["reduction_pct"] == 20.0
    # like-for-like: A only, 1 - 10,800/12,000 = 10 %
    lfl = p["like_for_like"]
    assert (lfl["baseline_kwh"], lfl["actual_kwh"], lfl["reduction_pct"], lfl["buildings"]) == (12_000, 10_800, 10.0, 1)
    # intensity: 18,000 / 1,500 m2 = 12.0; 14,400 / 1,400 m2 = 10.2857; 1 - 10.2857/12 = 14.29 %
    i = p["intensity_kwh_per_m2"]
    assert (i["baseline"], i["year"], i["reduction_pct"]) == (12.0, 10.29, 14.29)
    assert p["required_pct"] == 15 and p["on_track"] is True and p["verdict"] == "on_track"
    assert p["coverage"] == 1.0
    assert p["ranking"]["largest_savings"] == ["A"]
    a = next(b for b in p["buildings"] if b["building_id"] == "A")
    # A's gap to -15 %: 10,800 - 12,000 * 0.85 = 600 kWh too much
    assert (a["saving_kwh"], a["gap_kwh"]) == (1200, 600)
    assert p["portfolio_changes"] == {"left": ["S"], "joined": ["N"]}


def test_a_sold_building_alone_says_it_left_the_portfolio() -> None:
    # S alone: its 2015 baseline counts, 2025 has no building in the portfolio; the reason says so, not "coverage 0 %"
    p = compute([portfolio()[1]], baseline_year=2015, year=2025, target_pct=15, target_year=2025, w=NO_GD,
                today=date(2026, 11, 27))
    assert p["portfolio_changes"] == {"left": ["S"], "joined": []}
    assert p["verdict"] == "uncertain" and len(p["uncertain_because"]) == 1
    assert "none of these buildings is in the portfolio in 2025 (S left it" in p["uncertain_because"][0]


def test_missing_months_lower_coverage_and_make_the_verdict_uncertain() -> None:
    b = portfolio()[0]
    b.data[2025]["electricity"] = monthly(900, range(1, 10))  # October-December missing
    p = compute([b], baseline_year=2015, year=2025, target_pct=15, target_year=2025, w=NO_GD, today=date(2026, 1, 5))
    assert p["coverage"] == 0.75
    assert p["verdict"] == "uncertain"
    assert any("coverage 75%" in r for r in p["uncertain_because"])


def test_heat_is_weather_corrected_month_by_month() -> None:
    h = BuildingData("H", "Heated", 0.25, {2015: 100, 2025: 100})
    h.data = {2015: {"district_heating": {1: Cell(10_000, 1.0)}}, 2025: {"district_heating": {1: Cell(9000, 1.0)}}}
    w = Weather(NORMAL, {(2015, 1): 450, (2025, 1): 519}, 0.25)
    p = compute([h], baseline_year=2015, year=2025, target_pct=15, target_year=2025, w=w, today=date(2026, 11, 27))
    # 2015: 2,500 + 7,500 * 519/450 = 11,150; 2025 at normal degree days: 9,000 -> 1 - 9,000/11,150 = 19.28 %
    assert p["baseline_normalised_kwh"] == 11_150 and p["actual_normalised_kwh"] == 9000
    assert p["reduction_pct"] == 19.28
    assert p["reduction_pct_unnormalised"] == 10.0
    assert p["buildings"][0]["weather"]["method"] == "hot_water_share"


def test_heat_pump_sub_meter_is_corrected_inside_its_parent() -> None:
    b = BuildingData("HP", "Heat pump", 0.25, {2015: 100, 2025: 100})
    b.data = {2015: {"electricity": {1: Cell(2000, 1.0)}, "heat_pump_sub": {1: Cell(1000, 1.0)}},
              2025: {"electricity": {1: Cell(2000, 1.0)}}}
    w = Weather(NORMAL, {(2015, 1): 450, (2025, 1): 519}, 0.25)
    p = compute([b], baseline_year=2015, year=2025, target_pct=15, target_year=2025, w=w, today=date(2026, 11, 27))
    # parent 2,000 - sub 1,000 + corrected sub (250 + 750 * 519/450 = 1,115) = 2,115; the sub never adds to kWh
    assert p["baseline_kwh"] == 2000 and p["baseline_normalised_kwh"] == 2115
    assert p["electrification"]["heat_pump_kwh"]["baseline"] == 1000


def test_running_year_measured_months_and_forecast_are_separate() -> None:
    """Issue 12: a running year's top-level figures compare the months measured so far with the same months of the
    baseline year; the whole-year forecast (and its verdict) is in `forecast`. (Until then `reduction_pct` was the
    forecast's while `actual_kwh` was the months so far.)"""
    b = portfolio()[0]
    b.area = {2015: 1000, 2025: 1000, 2026: 1000}
    b.data[2026] = {"electricity": monthly(800, range(1, 4))}
    b.data[2025] = {"electricity": monthly(900)}
    p = compute([b], baseline_year=2015, year=2026, target_pct=15, target_year=2025, w=NO_GD,
                today=date(2026, 4, 15))
    # measured: January-March, 3 x 800 = 2,400 against 2015's January-March 3 x 1,000 = 3,000 -> 1 - 0.8 = 20 %
    assert (p["year_complete"], p["months_measured"]) == (False, 3)
    assert (p["baseline_kwh"], p["actual_kwh"]) == (3000, 2400)
    assert (p["baseline_normalised_kwh"], p["actual_normalised_kwh"]) == (3000, 2400)
    assert p["reduction_pct"] == 20.0 and p["reduction_pct_unnormalised"] == 20.0
    # 20 % >= the 15 % required by 2025 (and after it): on track so far
    assert p["required_pct"] == 15 and p["on_track"] is True and p["verdict"] == "on_track"
    assert p["coverage"] == 1.0 and p["year_to_date"]["reduction_pct"] == 20.0
    # intensity over the same months: 3,000 / 1,000 m2 = 3.0; 2,400 / 1,000 m2 = 2.4
    assert (p["intensity_kwh_per_m2"]["baseline"], p["intensity_kwh_per_m2"]["year"]) == (3.0, 2.4)
    assert (p["like_for_like"]["baseline_kwh"], p["like_for_like"]["actual_kwh"]) == (3000, 2400)
    a = p["buildings"][0]
    # A: saving 3,000 - 2,400 = 600; gap to -15 %: 2,400 - 3,000 * 0.85 = -150 (ahead)
    assert (a["reduction_pct"], a["saving_kwh"], a["gap_kwh"]) == (20.0, 600, -150)
    # forecast: January-March measured 3 x 800, April-December from 2025 9 x 900: 2,400 + 8,100 = 10,500 against the
    # whole of 2015, 12,000 -> 1 - 10,500/12,000 = 12.5 % < 15 %: off track for the year
    f = p["forecast"]
    assert (f["months_measured"], f["months_from_last_year"]) == (3, 9)
    assert (f["baseline_normalised_kwh"], f["normalised_kwh"], f["reduction_pct"]) == (12_000, 10_500, 12.5)
    assert f["on_track"] is False and f["verdict"] == "off_track" and f["uncertain_because"] == []
    assert f["like_for_like"]["reduction_pct"] == 12.5 and f["coverage"] == 1.0
    # intensity: 12,000 / 1,000 = 12.0; 10,500 / 1,000 = 10.5
    assert (f["intensity_kwh_per_m2"]["baseline"], f["intensity_kwh_per_m2"]["year"]) == (12.0, 10.5)
    # A's forecast: saving 12,000 - 10,500 = 1,500; gap 10,500 - 12,000 * 0.85 = 300
    assert (a["forecast"]["reduction_pct"], a["forecast"]["saving_kwh"], a["forecast"]["gap_kwh"]) == (12.5, 1500, 300)
    assert "months 1-3 as measured, months 4-12 from 2025" in f["method"]


def test_running_year_before_its_first_month_is_complete() -> None:
    b = portfolio()[0]
    b.data[2026] = {"electricity": {1: Cell(250, 0.3)}}  # January under way
    b.data[2025] = {"electricity": monthly(900)}
    p = compute([b], baseline_year=2015, year=2026, target_pct=15, target_year=2025, w=NO_GD,
                today=date(2026, 1, 10))
    # nothing complete: nothing measured to compare, no reduction, not judged on track
    assert (p["months_measured"], p["baseline_kwh"], p["actual_kwh"], p["reduction_pct"]) == (0, 0, 0, None)
    assert p["on_track"] is False and p["verdict"] == "uncertain"
    assert any("no month of 2026 is complete yet" in r for r in p["uncertain_because"])
    # the forecast is the whole of 2025: 12 x 900 = 10,800 against 12,000 -> 10 %, resting on last year only
    f = p["forecast"]
    assert (f["normalised_kwh"], f["reduction_pct"], f["on_track"], f["verdict"]) == (10_800, 10.0, False, "uncertain")
    assert any("only 0 month(s) of 2026 measured" in r for r in f["uncertain_because"])
    assert f["method"] == "all months from 2025, normalised to the normal year, against the whole of 2015"


def test_finished_year_has_no_forecast() -> None:
    p = compute(portfolio()[:1], baseline_year=2015, year=2025, target_pct=15, target_year=2025, w=NO_GD,
                today=date(2026, 1, 2))
    # the whole of 2025, 12 x 900 = 10,800, against the whole of 2015, 12,000: 10 %
    assert (p["year_complete"], p["months_measured"], p["actual_kwh"], p["reduction_pct"]) == (True, 12, 10_800, 10.0)
    assert p["forecast"] is None and p["year_to_date"] is None and p["buildings"][0]["forecast"] is None


def test_a_year_without_data_is_unknown_not_a_saving() -> None:
    """Review of issue 12: a building with a baseline but no data in the year answered actual 0 kWh, a 100 %
    reduction and on_track true. Its consumption in the year is unknown: no reduction, not on track, uncertain."""
    a = portfolio()[0]
    del a.data[2025]
    p = compute([a], baseline_year=2015, year=2025, target_pct=15, target_year=2025, w=NO_GD,
                today=date(2026, 11, 30))
    # the baseline is known (12 x 1,000 = 12,000); nothing measured in 2025: 0 kWh measured, but no reduction
    assert (p["baseline_kwh"], p["actual_kwh"]) == (12_000, 0)
    assert p["reduction_pct"] is None and p["reduction_pct_unnormalised"] is None
    assert p["on_track"] is False and p["verdict"] == "uncertain"
    assert p["buildings_without_data"] == {"baseline": [], "year": ["A"]}
    assert any(r.startswith("no data for 1 building(s) of the portfolio in 2025 months 1-12 (A)")
               for r in p["uncertain_because"])
    assert "no baseline consumption" not in p["uncertain_because"]
    assert p["like_for_like"]["buildings"] == 0 and p["like_for_like"]["reduction_pct"] is None
    i = p["intensity_kwh_per_m2"]
    assert (i["baseline"], i["year"], i["reduction_pct"]) == (12.0, None, None)  # 12,000 / 1,000 m2
    assert p["electrification"]["reduction_pct_without_ev_charging"] is None
    row = p["buildings"][0]
    assert (row["reduction_pct"], row["without_data"], row["in_baseline"], row["in_year"]) == (None, ["year"], True,
                                                                                              False)


def test_a_building_without_data_leaves_the_total_unknown_and_like_for_like_known() -> None:
    a, sold, new = portfolio()
    w = BuildingData("W", "Meter not read", None, {2015: 600, 2025: 600})
    w.data = {2015: {"electricity": monthly(500)}}  # in the portfolio both years, no 2025 data
    p = compute([a, sold, new, w], baseline_year=2015, year=2025, target_pct=15, target_year=2025, w=NO_GD,
                today=date(2026, 11, 30))
    # the total: 12,000 + 6,000 + 6,000 (W) = 24,000 in 2015; 10,800 + 3,600 measured in 2025 without W's: unknown
    assert (p["baseline_kwh"], p["actual_kwh"], p["reduction_pct"]) == (24_000, 14_400, None)
    assert p["on_track"] is False and p["verdict"] == "uncertain"
    # like-for-like, buildings with data in both years: A only, 1 - 10,800/12,000 = 10 %
    assert (p["like_for_like"]["reduction_pct"], p["like_for_like"]["buildings"]) == (10.0, 1)
    assert p["intensity_kwh_per_m2"]["like_for_like_reduction_pct"] == 10.0  # both 1,000 m2
    assert p["buildings_without_data"] == {"baseline": [], "year": ["W"]}
    # the sold building is not missing in 2025 (not in the portfolio then); the added one not in 2015
    rows = {r["building_id"]: r for r in p["buildings"]}
    assert (rows["S"]["without_data"], rows["N"]["without_data"], rows["A"]["reduction_pct"]) == ([], [], 10.0)


def test_a_building_in_the_baseline_portfolio_without_baseline_data_leaves_the_total_unknown() -> None:
    """Before, its year was counted against no baseline (the total under-stated the reduction); now both ways of
    missing data are treated alike."""
    a = portfolio()[0]
    nb = BuildingData("NB", "No baseline", None, {2015: 100, 2025: 100})
    nb.data = {2025: {"electricity": monthly(100)}}
    p = compute([a, nb], baseline_year=2015, year=2025, target_pct=15, target_year=2025, w=NO_GD,
                today=date(2026, 11, 30))
    # 2015: 12,000 (NB unknown); 2025: 10,800 + 1,200 = 12,000; the total's reduction unknown, A's 10 % like-for-like
    assert (p["baseline_kwh"], p["actual_kwh"], p["reduction_pct"]) == (12_000, 12_000, None)
    assert p["buildings_without_data"] == {"baseline": ["NB"], "year": []}
    assert p["buildings_without_baseline"] == ["NB"] and p["like_for_like"]["reduction_pct"] == 10.0
    assert any("in 2015 months 1-12 (NB)" in r for r in p["uncertain_because"])
    i = p["intensity_kwh_per_m2"]
    assert (i["baseline"], i["reduction_pct"]) == (None, None)


def test_running_year_without_data_the_forecast_agrees_with_the_building_and_is_unknown() -> None:
    """Review of issue 12: the building's own forecast said 4,300 kWh (82 %) while the top-level forecast of that
    single building said 0 kWh and 100 %."""
    b = BuildingData("B", "Stopped meter", None, {2015: 1000, 2025: 1000, 2026: 1000})
    b.data = {2015: {"electricity": monthly(2000)}, 2025: {"electricity": monthly(2150, range(11, 13))}}
    p = compute([b], baseline_year=2015, year=2026, target_pct=15, target_year=2025, w=NO_GD,
                today=date(2026, 11, 30))
    # measured: January-October, 10 x 2,000 = 20,000 in 2015, nothing in 2026: unknown
    assert (p["months_measured"], p["baseline_kwh"], p["actual_kwh"], p["reduction_pct"]) == (10, 20_000, 0, None)
    assert p["on_track"] is False and p["verdict"] == "uncertain"
    assert any("in 2026 months 1-10 (B)" in r for r in p["uncertain_because"])
    # forecast: 0 measured + November and December of 2025, 2 x 2,150 = 4,300, against 12 x 2,000 = 24,000; the
    # top level and the building say the same, and neither claims 1 - 4,300/24,000 = 82.08 %
    f, fb = p["forecast"], p["buildings"][0]["forecast"]
    assert (f["baseline_normalised_kwh"], f["normalised_kwh"]) == (fb["baseline_normalised_kwh"],
                                                                   fb["normalised_kwh"]) == (24_000, 4300)
    assert f["reduction_pct"] is None and fb["reduction_pct"] is None
    assert f["on_track"] is False and f["verdict"] == "uncertain"
    assert f["buildings_without_data"] == {"baseline": [], "year": ["B"], "last_year": []}
    assert fb["without_data"] == ["year"] and fb["saving_kwh"] is None
    assert f["intensity_kwh_per_m2"]["year"] is None and f["like_for_like"]["buildings"] == 0


def test_forecast_unknown_without_last_years_months() -> None:
    b = portfolio()[0]
    b.area = {2015: 1000, 2025: 1000, 2026: 1000}
    b.data[2026] = {"electricity": monthly(800, range(1, 11))}
    b.data[2025] = {"electricity": monthly(900, range(1, 11))}  # November and December 2025 missing
    p = compute([b], baseline_year=2015, year=2026, target_pct=15, target_year=2025, w=NO_GD,
                today=date(2026, 11, 30))
    # measured: 10 x 800 = 8,000 against 10 x 1,000 = 10,000 -> 20 %, known
    assert (p["reduction_pct"], p["verdict"]) == (20.0, "on_track")
    # the forecast would take November-December from 2025, which has none: unknown
    f = p["forecast"]
    assert f["reduction_pct"] is None and f["verdict"] == "uncertain"
    assert f["buildings_without_data"]["last_year"] == ["A"]
    assert any("in 2025 months 11-12 (A), from which the forecast takes the rest of the year" in r
               for r in f["uncertain_because"])


def test_running_year_intensity_weights_the_area_over_the_measured_months() -> None:
    """docs/api-shapes.md: a running year's intensity is over its measured months, and so is the area."""
    history = [(date(1900, 1, 1), 1000.0), (date(2026, 6, 1), 2000.0)]
    b = BuildingData("A", "Extended", None, {2015: 1000.0, 2025: 1000.0,
                                             2026: time_weighted_area(history, date(2026, 1, 1), date(2027, 1, 1))},
                     area_history=history)
    b.data = {2015: {"electricity": monthly(1000)}, 2025: {"electricity": monthly(900)},
              2026: {"electricity": monthly(800, range(1, 11))}}
    p = compute([b], baseline_year=2015, year=2026, target_pct=15, target_year=2025, w=NO_GD,
                today=date(2026, 11, 15))
    # January-October 2026, 304 days: 151 (to 1 June) at 1,000 m2 + 153 at 2,000 = 457,000 / 304 = 1,503.29 m2;
    # 2015's same months all at 1,000 m2
    i = p["intensity_kwh_per_m2"]
    assert i["heated_area_m2"] == {"baseline": 1000.0, "year": 1503.3}
    # 10,000 / 1,000 = 10.0; 8,000 / 1,503.29 = 5.32; 1 - 5.3217/10 = 46.78 %
    assert (i["baseline"], i["year"], i["reduction_pct"]) == (10.0, 5.32, 46.78)
    assert p["buildings"][0]["heated_area_m2"]["year"] == 457_000 / 304
    # the forecast compares whole years: 2026 151 days at 1,000 + 214 at 2,000 = 579,000 / 365 = 1,586.30 m2;
    # (8,000 + 2 x 900) / 1,586.30 = 6.18 against 12,000 / 1,000 = 12.0 -> 48.52 %
    fi = p["forecast"]["intensity_kwh_per_m2"]
    assert fi["heated_area_m2"] == {"baseline": 1000.0, "year": 1586.3}
    assert (fi["baseline"], fi["year"], fi["reduction_pct"]) == (12.0, 6.18, 48.52)


def test_required_path() -> None:
    assert required_pct(15, 2015, 2025, 2020) == 7.5
    assert required_pct(15, 2015, 2025, 2026) == 15


def test_co2_interpolated_between_factor_years() -> None:
    table = {"electricity": [Factor("electricity", 2016, "DK2", 0.243, "m", "s16"),
                             Factor("electricity", 2023, "DK2", 0.187, "m", "s23")]}
    f = factor_for_carrier(table, "electricity", 2019)
    # 0.243 + (2019 - 2016) / (2023 - 2016) * (0.187 - 0.243) = 0.243 - 0.024 = 0.219
    assert f is not None and f.kg_per_kwh == pytest.approx(0.219)
    assert "interpolated between 2016" in f.method
    hp = factor_for_carrier(table, "heat_pump", 2016)
    assert hp is not None and hp.kg_per_kwh == 0.243  # heat pumps run on electricity
    assert factor_for_carrier(table, "electricity", 2030).kg_per_kwh == 0.187  # type: ignore[union-attr]
    assert factor_for_carrier(table, "pv_production", 2020) is None


def test_co2_coverage_weighs_each_carrier_by_its_active_meter_time() -> None:
    from services.reports.service import weighted_coverage

    # gas meter installed for one month and fully measured; district heating all year, half measured:
    # (1.0 x 1 + 0.5 x 12) / 13 = 0.5385 — not the plain average (1.0 + 0.5) / 2 = 0.75
    rows = [{"coverage": 1.0, "_active": 1.0}, {"coverage": 0.5, "_active": 12.0}]
    assert weighted_coverage(rows) == 0.5385
    assert weighted_coverage([]) == 0.0


def test_a_building_sold_or_added_during_a_year_counts_its_months_in_the_portfolio() -> None:
    from services.targets.progress import year_figures
    from services.targets.service import _clip_to_portfolio
    from services.targets.weather import Share

    share = Share(0.25, "default", None, "")
    sold = BuildingData("S", "Sold 1 July 2025", None, {2025: 500}, sold=date(2025, 7, 1))
    sold.data = {2025: {"electricity": monthly(100)}}
    _clip_to_portfolio(sold)
    # January-June: 600 kWh, fully measured (July-December neither counted nor missing)
    f = year_figures(sold, 2025, share, NO_GD)
    assert (f.kwh, f.coverage) == (600, 1.0)
    added = BuildingData("N", "Added 15 April 2025", None, {2025: 400}, added=date(2025, 4, 15))
    added.data = {2025: {"electricity": monthly(100)}}
    _clip_to_portfolio(added)
    # April (the month of the addition) to December: 9 months, 900 kWh
    f = year_figures(added, 2025, share, NO_GD)
    assert (f.kwh, f.coverage) == (900, 1.0)


def test_a_building_that_moved_group_mid_year_counts_its_months_in_each_group() -> None:
    from services.targets.service import _clip_to_portfolio

    # municipal until 1 July 2025, citizens_businesses from then: T1's figures get January-June, T5's July-December
    t1 = BuildingData("M", "Moved", None, {2025: 500},
                      outside_group_months=frozenset((2025, m) for m in range(7, 13)))
    t1.data = {2025: {"electricity": monthly(100)}}
    t5 = BuildingData("M", "Moved", None, {2025: 500},
                      outside_group_months=frozenset((2025, m) for m in range(1, 7)))
    t5.data = {2025: {"electricity": monthly(100)}}
    for b in (t1, t5):
        _clip_to_portfolio(b)
    assert sorted(t1.data[2025]["electricity"]) == [1, 2, 3, 4, 5, 6]
    assert sorted(t5.data[2025]["electricity"]) == [7, 8, 9, 10, 11, 12]


def test_a_building_sold_and_bought_back_is_in_the_portfolio_in_both_spans() -> None:
    from services.targets.service import _clip_to_portfolio, portfolio_spans

    # sold 1 Jan 2023, bought back 1 June 2024 (outside review 2: "sold" always won, so 2025 counted nothing)
    spans = portfolio_spans([(date(2023, 1, 1), "sold"), (date(2024, 6, 1), "added")])
    assert spans == [(None, date(2023, 1, 1)), (date(2024, 6, 1), None)]
    b = BuildingData("P", "Back again", None, {}, portfolio=spans)
    assert [y for y in (2015, 2022, 2023, 2024, 2025) if b.in_portfolio(y)] == [2015, 2022, 2024, 2025]
    b.data = {2024: {"electricity": monthly(100)}}
    _clip_to_portfolio(b)
    assert sorted(b.data[2024]["electricity"]) == [6, 7, 8, 9, 10, 11, 12]
    # a building added first, never sold: from the addition on
    assert portfolio_spans([(date(2020, 1, 1), "added")]) == [(date(2020, 1, 1), None)]
    assert portfolio_spans([]) == [(None, None)]


def test_kwh_per_m2_of_a_building_held_part_of_the_year_is_a_yearly_figure() -> None:
    from services.targets.service import _clip_to_portfolio, portfolio_spans

    # 500 m2, sold 1 May 2025 and bought back 1 September: held Jan-Apr and Sep-Dec, 120 + 122 = 242 of 365 days
    b = BuildingData("S", "Held 8 months", None, {2025: 500},
                     portfolio=portfolio_spans([(date(2025, 5, 1), "sold"), (date(2025, 9, 1), "added")]))
    b.data = {2025: {"electricity": monthly(1000)}}
    _clip_to_portfolio(b)
    assert b.area_over(2025) == pytest.approx(500 * 242 / 365)
    p = compute([b], baseline_year=2025, year=2025, target_pct=15, target_year=2025, w=NO_GD, today=date(2026, 1, 5))
    # 8,000 kWh / 331.5 m2 = 24.13 kWh/m2 a year (not 8,000 / 500 = 16)
    assert p["intensity_kwh_per_m2"]["year"] == round(8000 / (500 * 242 / 365), 2)


def test_text_cells_a_spreadsheet_would_run_are_neutralised() -> None:
    from services.reports.service import spreadsheet_safe

    for text in ("=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert spreadsheet_safe(text) == "'" + text
    assert spreadsheet_safe("Skovlunde Skole") == "Skovlunde Skole"
    assert spreadsheet_safe(-12.5) == -12.5  # numbers stay numbers


def _answer(p: dict[str, Any]) -> dict[str, Any]:
    """`compute`'s dict with what services.targets.service adds to it (periods, target, normal year, adjustments,
    freshness): a whole GET /progress answer."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    p.update(period_start=at, period_end=at, baseline_period_start=at, baseline_period_end=at,
             target={"id": "T1", "name": "T1", "building_group": "municipal"},
             normal_year={"degree_days": 3112.0, "source": "DMI", "default": True}, computed_through=None,
             pending_buildings=[], adjustments=[
                 {"id": 1, "building_id": "A", "kind": "sold", "effective": date(2019, 6, 30), "heated_area_m2": None,
                  "reason": "sold", "actor": "me", "created_at": at, "source": "adjustment"},
                 {"id": None, "building_id": "A", "kind": "area_changed", "effective": date(2020, 1, 1),
                  "heated_area_m2": 900.0, "heated_area_m2_before": 1000.0, "reason": "wing", "actor": "me",
                  "created_at": at, "source": "area_history"}])
    for row in p["buildings"]:
        row["pending"] = False
    return p


@pytest.mark.parametrize(("year", "today"), [(2025, date(2026, 1, 5)), (2026, date(2026, 4, 15))])
def test_the_progress_model_declares_every_key_and_keeps_every_value(year: int, today: date) -> None:
    """Issue 14: ProgressOut declares each key of the answer (none passes through undeclared, none is dropped) and
    its dump is the answer unchanged, numbers keeping their JSON type."""
    buildings = portfolio()
    for b in buildings:
        b.area = {y: float(v) for y, v in b.area.items()}  # areas are floats as loaded (services.targets.service)
    buildings[0].data[2026] = {"electricity": monthly(800, range(1, 4))}
    p = _answer(compute(buildings, baseline_year=2015, year=year, target_pct=15.0, target_year=2025, w=NO_GD,
                        today=today))  # target_pct a float, as services.targets.service passes it
    assert (p["forecast"] is None) == (year == 2025)
    dumped = ProgressOut.model_validate(p).model_dump(mode="json")
    assert json.dumps(dumped, sort_keys=True) == json.dumps(to_jsonable_python(p), sort_keys=True)


def test_the_months_a_progress_answer_reads() -> None:
    from services.targets.service import read_months

    def ym(months: list[date]) -> list[tuple[int, int]]:
        return [(m.year, m.month) for m in months]

    whole = [(y, m) for y in (2015, 2025) for m in range(1, 13)]
    # a running year after January: its complete months only, not the running month (a live system's every second)
    months, through = read_months(2015, 2026, date(2026, 11, 30))
    assert through == date(2026, 11, 1) and ym(months) == whole + [(2026, m) for m in range(1, 11)]
    months, through = read_months(2015, 2026, date(2026, 12, 1))
    assert through == date(2026, 12, 1) and ym(months) == whole + [(2026, m) for m in range(1, 12)]
    # in January no month is complete: the running year is judged on everything it has, the running month included
    months, through = read_months(2015, 2026, date(2026, 1, 15))
    assert through is None and ym(months) == whole + [(2026, m) for m in range(1, 13)]
    # a finished year: all of it; the year after the baseline reads the baseline year once
    months, through = read_months(2015, 2025, date(2026, 11, 30))
    assert through is None and ym(months) == [(y, m) for y in (2015, 2024, 2025) for m in range(1, 13)]
    assert ym(read_months(2015, 2016, date(2026, 3, 1))[0]) == [(y, m) for y in (2015, 2016) for m in range(1, 13)]
