"""DMI degree days and Energi Data Service hourly CO2: parsing, the partial-period rule, version changes, golden files,
and hourly CO2 of a few hours of consumption computed by hand."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.connectors import dmi_api, eds_api
from services.connectors.dmi import changed_months, degree_day_csv, source_text, split_complete
from services.connectors.energidataservice import chunks
from services.reports.service import FactorUsed, HourlySums, hourly_figure
from services.targets.reference import DEGREE_DAY_COLUMNS, _rows

TZ = ZoneInfo("Europe/Copenhagen")
GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def feature(**props: object) -> dict[str, object]:
    base: dict[str, object] = {
        "municipalityId": "0151", "municipalityName": "Ballerup", "parameterId": "acc_heating_degree_days_17",
        "timeResolution": "month", "from": "2026-01-01T00:00:00+01:00", "to": "2026-02-01T00:00:00+01:00",
        "value": 447.3, "calculatedAt": "2026-02-01T03:00:00+00:00"}
    base.update(props)
    return {"type": "Feature", "properties": base}


# ---- DMI -----------------------------------------------------------------------------------------------------------

def test_month_in_local_time_is_the_local_month() -> None:
    v = dmi_api.parse_feature(feature(), 0, TZ)
    assert (v.resolution, v.period, v.value) == ("month", date(2026, 1, 1), 447.3)


def test_month_on_utc_boundaries_is_read_as_that_month() -> None:
    v = dmi_api.parse_feature(feature(**{"from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"}), 0, TZ)
    assert v.period == date(2026, 3, 1)


def test_summer_time_month_ends_at_the_next_local_midnight() -> None:
    # March 2026 starts in winter time and ends in summer time
    v = dmi_api.parse_feature(feature(**{"from": "2026-03-01T00:00:00+01:00", "to": "2026-04-01T00:00:00+02:00"}),
                              0, TZ)
    assert v.period == date(2026, 3, 1)


@pytest.mark.parametrize(("props", "needle"), [
    ({"to": "2026-01-31T00:00:00+01:00"}, "properties.to"),
    ({"value": -1.0}, "properties.value"),
    ({"value": "447"}, "properties.value"),
    ({"value": float("nan")}, "properties.value"),
    ({"parameterId": "mean_temp"}, "properties.parameterId"),
    ({"timeResolution": "year"}, "properties.timeResolution"),
    ({"from": "2026-01-15T00:00:00+01:00", "to": "2026-02-15T00:00:00+01:00"}, "first day of a month"),
    ({"from": "2026-01-01T00:00:00"}, "has no offset"),
])
def test_a_bad_feature_names_its_index_and_field(props: dict[str, object], needle: str) -> None:
    with pytest.raises(dmi_api.DmiFormatError) as e:
        dmi_api.parse_feature(feature(**props), 7, TZ)
    assert "feature 7" in str(e.value)
    assert needle in str(e.value)


def test_page_count_must_match() -> None:
    with pytest.raises(dmi_api.DmiFormatError, match="numberReturned 2"):
        dmi_api.parse_page({"type": "FeatureCollection", "features": [feature()], "numberReturned": 2}, TZ)


def test_a_bad_feature_is_rejected_alone() -> None:
    page = dmi_api.parse_page({"type": "FeatureCollection", "numberReturned": 2,
                               "features": [feature(), feature(value=-4.0)]}, TZ, offset=1000)
    assert [v.value for v in page.values] == [447.3]
    assert len(page.rejected) == 1 and page.rejected[0][0] == 1001 and "feature 1001" in page.rejected[0][1]


def test_running_month_is_partial_a_month_calculated_after_its_end_is_complete() -> None:
    jan = dmi_api.parse_feature(feature(), 0, TZ)
    assert not jan.complete(datetime(2026, 1, 20, tzinfo=UTC))  # running: its end is ahead
    assert jan.complete(datetime(2026, 2, 2, tzinfo=UTC))
    # the month has ended but DMI's value was calculated before its end: still the partial sum
    stale = dmi_api.parse_feature(feature(calculatedAt="2026-01-31T20:00:00+00:00"), 0, TZ)
    assert not stale.complete(datetime(2026, 2, 2, tzinfo=UTC))


def test_only_new_or_changed_months_make_a_version() -> None:
    jan = dmi_api.parse_feature(feature(), 0, TZ)
    feb = dmi_api.parse_feature(feature(**{"from": "2026-02-01T00:00:00+01:00", "to": "2026-03-01T00:00:00+01:00",
                                           "value": 390.0, "calculatedAt": "2026-03-01T03:00:00Z"}), 1, TZ)
    assert changed_months({date(2026, 1, 1): 447.3, date(2026, 2, 1): 390.0}, [jan, feb]) == []
    assert changed_months({date(2026, 1, 1): 447.3001}, [jan]) == []  # within DMI's one decimal
    assert changed_months({date(2026, 1, 1): 440.0}, [jan, feb]) == [(jan, 440.0), (feb, None)]


def test_golden_dmi_month_page() -> None:
    doc = json.loads((GOLDEN / "dmi_municipality_month.json").read_text())
    want = json.loads((GOLDEN / "dmi_municipality_month.expected.json").read_text())
    now = datetime.fromisoformat(want["now"])
    page = dmi_api.parse_page(doc, TZ)
    assert (page.returned, page.has_next, page.rejected) == (3, False, [])
    complete, partial = split_complete(page.values, now)
    assert [v.period.isoformat()[:7] for v in partial] == want["partial_months"]
    source = source_text("0151", "Ballerup", now.astimezone(TZ).date())
    csv_text = degree_day_csv(changed_months({}, complete), source)
    assert csv_text == want["import_csv"]
    # the CSV is what the degree-day import reads: every row parses with the source intact
    rows = _rows(csv_text, DEGREE_DAY_COLUMNS)
    assert [r["source"] for _, r in rows] == [source, source]


def test_latest_calculation_of_a_period_wins() -> None:
    a = dmi_api.parse_feature(feature(value=400.0, calculatedAt="2026-02-01T03:00:00Z"), 0, TZ)
    b = dmi_api.parse_feature(feature(value=401.5, calculatedAt="2026-02-03T03:00:00Z"), 1, TZ)
    complete, _ = split_complete([b, a], datetime(2026, 3, 1, tzinfo=UTC))
    assert [v.value for v in complete] == [401.5]


# ---- Energi Data Service -------------------------------------------------------------------------------------------

def test_golden_eds_page() -> None:
    doc = json.loads((GOLDEN / "eds_declaration_grid_emission.json").read_text())
    want = json.loads((GOLDEN / "eds_declaration_grid_emission.expected.json").read_text())
    page = eds_api.parse_page(doc)
    got = [{"area": r.area, "ts": r.ts.isoformat(), "method": r.method, "g_per_kwh": r.g_per_kwh} for r in page.rows]
    assert got == want["rows"]
    assert page.undeclared == want["undeclared"]
    assert page.rejected == []
    assert page.total == 4


@pytest.mark.parametrize(("record", "needle"), [
    ({"HourUTC": "2025-03-30T00:30:00"}, "not the start of an hour"),
    ({"HourUTC": 5}, "HourUTC must be a string"),
    ({"PriceArea": "DK 2"}, "PriceArea"),
    ({"CO2PerkWh": -3}, "CO2PerkWh -3"),
    ({"CO2PerkWh": 12000}, "outside"),
    ({"FuelAllocationMethod": ""}, "FuelAllocationMethod"),
])
def test_a_bad_record_is_rejected_alone_with_its_index(record: dict[str, object], needle: str) -> None:
    good = {"HourUTC": "2025-03-30T00:00:00", "PriceArea": "DK2", "FuelAllocationMethod": "125%", "CO2PerkWh": 100.0}
    page = eds_api.parse_page({"total": 2, "records": [good, {**good, **record}]}, offset=10)
    assert len(page.rows) == 1
    assert len(page.rejected) == 1
    index, message = page.rejected[0]
    assert index == 11
    assert "record 11" in message and needle in message


def test_chunks_cover_the_span_without_overlap() -> None:
    start = datetime(2015, 1, 1, tzinfo=UTC)
    parts = chunks(start, start + timedelta(days=200), 92)
    assert parts[0][0] == start and parts[-1][1] == start + timedelta(days=200)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
    assert [round((b - a).days) for a, b in parts] == [92, 92, 16]


# ---- hourly CO2 by hand --------------------------------------------------------------------------------------------

def test_hourly_co2_of_a_few_hours_by_hand() -> None:
    """Three hours in the hourly rollup: 2 kWh at 100 g/kWh, 3 kWh at 50 g/kWh, 5 kWh in an hour without an
    intensity; the month's figure is 12 kWh (2 kWh are in a daily-read meter's long step, not hour by hour).
    Annual factor 0.2 kg/kWh.
        hour by hour: (2 x 100 + 3 x 50) g = 350 g = 0.35 kg over 5 kWh
        fallback:     12 - 5 = 7 kWh x 0.2 = 1.4 kg
        total 1.75 kg; coverage of the hourly method 5 / 12 = 0.4167"""
    sums = HourlySums()
    for kwh, g in ((2.0, 100.0), (3.0, 50.0)):
        sums.add(HourlySums(kwh, kwh * g))  # the 5 kWh hour has no intensity: not among the hourly sums
    f = FactorUsed(0.2, "2026: declaration; Energinet")
    h = hourly_figure(12.0, sums, f, "hourly_location_based (Energi Data Service DeclarationGridEmission, DK2, 125%)")
    assert h["kg_co2_hourly"] == pytest.approx(0.35)
    assert h["fallback_kwh"] == pytest.approx(7.0)
    assert h["fallback_kg_co2"] == pytest.approx(1.4)
    assert h["kg_co2"] == pytest.approx(1.75)
    assert h["coverage"] == pytest.approx(5 / 12)
    assert h["fallback_method"] == "annual_declaration_factor (2026: declaration; Energinet)"
    assert str(h["method"]).startswith("hourly_location_based (")


def test_hourly_co2_fully_covered_names_no_fallback() -> None:
    h = hourly_figure(4.0, HourlySums(4.0, 4.0 * 120.0), FactorUsed(0.3, "x"), "m")
    assert h["kg_co2"] == pytest.approx(0.48)
    assert h["coverage"] == pytest.approx(1.0)
    assert h["fallback_method"] is None
