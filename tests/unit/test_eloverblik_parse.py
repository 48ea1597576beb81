"""The Eloverblik time-series parser: positions to interval ends across DST days, PT15M, quality codes, item errors.

Expectations are computed by hand from the documented rule: a Period starts at the local day's midnight in UTC and
position p covers [start + (p-1)·step, start + p·step); the reading's ts is the interval's end.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.connectors.eloverblik.parse import (
    QUALITY,
    ParseError,
    parse_metering_points,
    parse_time_series,
)

GSRN = "571313180100000001"
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "eloverblik"


def _answer(periods: list[dict[str, Any]], gsrn: str = GSRN, unit: str = "KWH") -> dict[str, Any]:
    return {"result": [{
        "success": True, "errorCode": 10000, "errorText": "NoError", "id": gsrn, "stackTrace": None,
        "MyEnergyData_MarketDocument": {"TimeSeries": [{
            "mRID": gsrn, "businessType": "A04", "curveType": "A01", "measurement_Unit.name": unit,
            "MarketEvaluationPoint": {"mRID": {"codingScheme": "A10", "name": gsrn}}, "Period": periods}]},
    }]}


def _period(start: str, end: str, n: int, resolution: str = "PT1H", quality: str = "A04",
            value: str = "1.000") -> dict[str, Any]:
    return {"resolution": resolution, "timeInterval": {"start": start, "end": end},
            "Point": [{"position": str(p), "out_Quantity.quantity": value, "out_Quantity.quality": quality}
                      for p in range(1, n + 1)]}


def test_spring_forward_day_has_23_hours_ending_at_the_right_instants() -> None:
    # 29 March 2026: local midnight is 23:00Z the day before, the next local midnight (CEST) 22:00Z
    s = parse_time_series(_answer([_period("2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z", 23)]), [GSRN])[GSRN]
    assert s.error is None and len(s.points) == 23
    assert s.points[0].ts == datetime(2026, 3, 29, 0, 0, tzinfo=UTC)  # 01:00+01:00: the hour 00-01 local
    assert s.points[1].ts == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00+02:00: the hour 02-03 does not exist
    assert s.points[-1].ts == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    readings = s.readings()
    assert readings[0] == {"ts": "2026-03-29T00:00:00+00:00", "value": 1.0, "unit": "kWh", "quality": "measured"}


def test_a_24th_position_on_the_23_hour_day_is_refused_naming_the_point() -> None:
    period = _period("2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z", 24)
    s = parse_time_series(_answer([period]), [GSRN])[GSRN]
    assert s.points == [] and s.error is not None
    assert "Point[23].position: 24 outside 1..23" in s.error


def test_fall_back_day_has_25_hours_and_the_repeated_hour_twice() -> None:
    # 25 October 2026: 22:00Z (00:00+02:00) to 23:00Z (00:00+01:00)
    period = _period("2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z", 25)
    for p, v in zip(period["Point"], range(1, 26), strict=True):
        p["out_Quantity.quantity"] = f"{v}.5"
    s = parse_time_series(_answer([period]), [GSRN])[GSRN]
    assert len(s.points) == 25
    # positions 3 and 4 are the two local hours called 02:00-03:00: CEST (00-01Z) then CET (01-02Z)
    assert (s.points[2].ts, s.points[2].value) == (datetime(2026, 10, 25, 1, tzinfo=UTC), 3.5)
    assert (s.points[3].ts, s.points[3].value) == (datetime(2026, 10, 25, 2, tzinfo=UTC), 4.5)
    assert sum(p.value for p in s.points) == sum(v + 0.5 for v in range(1, 26))  # 337.5


def test_pt15m_quarters_on_the_23_hour_day() -> None:
    s = parse_time_series(_answer([_period("2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z", 92, "PT15M",
                                           value="0.250")]), [GSRN])[GSRN]
    assert len(s.points) == 92 and s.resolutions == {"PT15M"}
    assert s.points[0].ts == datetime(2026, 3, 28, 23, 15, tzinfo=UTC)
    assert s.points[-1].ts == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    assert sum(p.value for p in s.points) == 23.0


@pytest.mark.parametrize(("code", "ours"), [
    ("A04", "measured"), ("E01", "measured"), ("A03", "estimated"), ("56", "estimated"), ("A05", "estimated"),
    ("A01", "calculated"), ("D01", "calculated"), ("36", "revised"),
])
def test_quality_codes(code: str, ours: str) -> None:
    s = parse_time_series(_answer([_period("2026-11-01T23:00:00Z", "2026-11-02T00:00:00Z", 1, quality=code)]),
                          [GSRN])[GSRN]
    assert [(p.quality, p.code) for p in s.points] == [(ours, code)]
    assert QUALITY[code] == ours


def test_not_available_is_a_gap_not_a_value() -> None:
    period = _period("2026-11-01T23:00:00Z", "2026-11-02T03:00:00Z", 4)
    period["Point"][1]["out_Quantity.quality"] = "A02"  # with a quantity: still not a value
    del period["Point"][2]["out_Quantity.quantity"]  # without a quantity ("no quantity returned")
    period["Point"][2]["out_Quantity.quality"] = "A02"
    s = parse_time_series(_answer([period]), [GSRN])[GSRN]
    assert [p.ts.hour for p in s.points] == [0, 3]
    assert s.gaps == 2


def test_unknown_quality_code_is_an_item_error() -> None:
    s = parse_time_series(_answer([_period("2026-11-01T23:00:00Z", "2026-11-02T00:00:00Z", 1, quality="Z9")]),
                          [GSRN])[GSRN]
    assert s.error is not None and "unknown code 'Z9'" in s.error and s.points == []


def test_mwh_series_keep_their_unit_and_other_units_are_refused() -> None:
    one = _period("2026-11-01T23:00:00Z", "2026-11-02T00:00:00Z", 1, value="0.002")
    assert parse_time_series(_answer([one], unit="MWH"), [GSRN])[GSRN].readings()[0]["unit"] == "MWh"
    s = parse_time_series(_answer([one], unit="K3"), [GSRN])[GSRN]
    assert s.error is not None and "'K3' is not an energy unit" in s.error


def test_item_errors_do_not_spoil_the_other_metering_points() -> None:
    other = "571313180100000002"
    body = _answer([_period("2026-11-01T23:00:00Z", "2026-11-02T00:00:00Z", 1)])
    body["result"].append({"success": False, "errorCode": 20012, "errorText": "Unauthorized", "id": other,
                           "MyEnergyData_MarketDocument": None})
    out = parse_time_series(body, [GSRN, other, "571313180100000003"])
    assert len(out[GSRN].points) == 1
    assert out[other].error == "DataHub error 20012: Unauthorized"
    assert out["571313180100000003"].points == [] and out["571313180100000003"].error is None


def test_envelope_errors_raise() -> None:
    with pytest.raises(ParseError, match="'result' list"):
        parse_time_series({"results": []}, [GSRN])
    with pytest.raises(ParseError, match="not requested"):
        parse_time_series(_answer([], gsrn="571313180100000009"), [GSRN])


def test_a_non_numeric_quantity_names_the_point() -> None:
    period = _period("2026-11-01T23:00:00Z", "2026-11-02T01:00:00Z", 2)
    period["Point"][1]["out_Quantity.quantity"] = "1,5"
    s = parse_time_series(_answer([period]), [GSRN])[GSRN]
    assert s.error is not None
    assert "TimeSeries[0].Period[0].Point[1]: out_Quantity.quantity '1,5' is not a number" in s.error


def test_metering_points_with_children_and_addresses() -> None:
    body = {"result": [{
        "meteringPointId": GSRN, "typeOfMP": "E17", "accessFrom": "2021-01-01T00:00:00Z", "accessTo": None,
        "streetName": "Hold-an Vej", "buildingNumber": "7", "postcode": "2750", "cityName": "Ballerup",
        "meterReadingOccurrence": "PT15M",
        "childMeteringPoints": [{"meteringPointId": "571313180100000099", "typeOfMP": "D14",
                                 "meterReadingOccurrence": "PT1H", "parentMeteringPointId": GSRN}],
    }]}
    mps = parse_metering_points(body, {"id": "auth-1", "customerCVR": "29189870"})
    assert [m.gsrn for m in mps] == [GSRN, "571313180100000099"]
    assert mps[0].detail["address"] == "Hold-an Vej 7, 2750 Ballerup"
    assert mps[0].access_from == datetime(2021, 1, 1, tzinfo=UTC) and mps[0].access_to is None
    assert mps[1].detail["parent"] == GSRN and mps[1].detail["type_of_mp"] == "D14"
    assert mps[1].detail["customer_cvr"] == "29189870"


def test_golden_answer_parses_to_the_golden_readings() -> None:
    """A documented-shape answer (tests/golden/eloverblik/timeseries.json) and the readings it must give."""
    body = json.loads((GOLDEN / "timeseries.json").read_text())
    expected = json.loads((GOLDEN / "timeseries.readings.json").read_text())
    out = parse_time_series(body, list(expected))
    got = {g: {"readings": s.readings(), "gaps": s.gaps, "error": s.error} for g, s in out.items()}
    assert got == expected
