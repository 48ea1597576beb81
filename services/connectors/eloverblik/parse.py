"""Eloverblik third-party API answers turned into readings: the time-series document and the metering-point list.

Shapes (cited so they can be checked):
- `MyEnergyDataMarketDocumentResponseListApiResponse`, `TimeSeries`, `Period`, `Point`, `PeriodtimeInterval`:
  Energinet's OpenAPI description of the third-party API ("Eloverblik.Api.ThirdPartyApi" V1.0, as kept in
  github.com/slimcdk/go-eloverblik docs/swagger-eloverblik-thirdpartyapi.json). `result` is a list with one entry per
  requested metering point: `success`, `errorCode`, `errorText`, `id` (the requested GSRN) and
  `MyEnergyData_MarketDocument` → `TimeSeries[]` (`mRID`, `businessType`, `measurement_Unit.name`,
  `MarketEvaluationPoint.mRID.name`) → `Period[]` (`resolution`, `timeInterval.start/end` in UTC) → `Point[]`
  (`position` "1".."96", `out_Quantity.quantity` a decimal string with at most 3 decimals, `out_Quantity.quality`).
- One Period per local (Danish) day, e.g. `2018-12-31T23:00:00Z`-`2019-01-01T23:00:00Z` with 24 points: a real
  answer kept as a test fixture in github.com/project-origin/datahub-service (src/tests/measurements/
  imported_timeseries_data.py). A day when the clocks change has 23 or 25 hourly points (92 or 100 quarters).
- A point's position p covers [start + (p-1)·resolution, start + p·resolution) (curveType A01: "successive intervals
  of constant duration"). Energiblik's interval readings carry the quantity of the interval that ENDS at `ts`
  (docs/semantics.md), so a point becomes a reading at start + p·resolution.

Quality codes (`out_Quantity.quality`), from the same OpenAPI description: A01 adjusted (calculated by DataHub, not
used after February 2020), A02 not available (missing indicator, no quantity), A03 estimated, A04 measured ("as
provided"), A05 incomplete (an aggregate with at least one missing component). Older ebIX codes, as Energinet's own
DataHub code names them (github.com/Energinet-DataHub/ARCHIVED-geh-aggregations, Domain/Types/Quality.cs): E01 as
read, 56 estimated, 36 revised, D01 calculated. Our mapping is `QUALITY`; A02 is a gap: no reading is stored, so the
hour stays uncovered and coverage shows it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# DataHub quality code → Energiblik reading quality. None: not a value (a gap).
QUALITY: dict[str, str | None] = {
    "A04": "measured",
    "E01": "measured",
    "A03": "estimated",
    "56": "estimated",
    # Incomplete: an aggregate (an hour built from quarters) with at least one quarter missing. The quantity is the
    # sum of what is there, so it is a lower bound, not a measurement of the whole interval: estimated, so that
    # coverage does not count it as measured and estimated_share shows it.
    "A05": "estimated",
    "A01": "calculated",
    "D01": "calculated",
    "36": "revised",
    "A02": None,
}

RESOLUTIONS: dict[str, timedelta] = {"PT15M": timedelta(minutes=15), "PT1H": timedelta(hours=1)}
# measurement_Unit.name (UN/CEFACT codes, OpenAPI `energyTimeSeriesMeasureUnit`) → our unit names
UNITS: dict[str, str] = {"KWH": "kWh", "MWH": "MWh"}


class ParseError(ValueError):
    """An answer that does not have the documented shape; the message names where."""


@dataclass(frozen=True, slots=True)
class Point:
    ts: datetime  # end of the interval, UTC
    value: float
    quality: str  # ours
    code: str  # DataHub's
    resolution: str  # PT1H or PT15M


@dataclass
class Series:
    """Everything one metering point's answer held."""

    gsrn: str
    points: list[Point] = field(default_factory=list)
    unit: str = "kWh"
    resolutions: set[str] = field(default_factory=set)
    gaps: int = 0  # A02 points, and points without a quantity
    error: str | None = None  # success false, or a shape the parser refused

    def readings(self, resolution: str | None = None) -> list[dict[str, Any]]:
        """The points (of one resolution, when given) in the wire contract's shape, oldest first."""
        return [
            {"ts": p.ts.isoformat(), "value": p.value, "unit": self.unit, "quality": p.quality}
            for p in sorted(self.points, key=lambda p: p.ts) if resolution is None or p.resolution == resolution
        ]


def parse_instant_utc(text: Any, where: str) -> datetime:
    """`2019-01-01T23:00:00Z` (the API writes UTC, ISO 8601); an offset other than Z is accepted, naive is not."""
    if not isinstance(text, str):
        raise ParseError(f"{where}: expected an ISO 8601 UTC time, got {text!r}")
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ParseError(f"{where}: {text!r} is not an ISO 8601 time") from None
    if ts.tzinfo is None:
        raise ParseError(f"{where}: {text!r} has no UTC designator")
    return ts.astimezone(UTC)


def _quantity(text: Any, where: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ParseError(f"{where}: out_Quantity.quantity {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ParseError(f"{where}: out_Quantity.quantity {text!r} is not finite")
    return value


def _period(series: Series, period: Any, where: str) -> None:
    if not isinstance(period, dict):
        raise ParseError(f"{where}: not an object")
    resolution = period.get("resolution")
    if not isinstance(resolution, str) or resolution not in RESOLUTIONS:
        raise ParseError(f"{where}.resolution: {resolution!r} is not PT1H or PT15M")
    step = RESOLUTIONS[resolution]
    interval = period.get("timeInterval")
    if not isinstance(interval, dict):
        raise ParseError(f"{where}.timeInterval: missing")
    start = parse_instant_utc(interval.get("start"), f"{where}.timeInterval.start")
    end = parse_instant_utc(interval.get("end"), f"{where}.timeInterval.end")
    if end <= start or (end - start) % step:
        raise ParseError(f"{where}.timeInterval: {start.isoformat()}-{end.isoformat()} is not a whole number of "
                         f"{resolution} steps")
    slots = (end - start) // step
    series.resolutions.add(resolution)
    points = period.get("Point") or []
    if not isinstance(points, list):
        raise ParseError(f"{where}.Point: not a list")
    seen: set[int] = set()
    for j, point in enumerate(points):
        at = f"{where}.Point[{j}]"
        if not isinstance(point, dict):
            raise ParseError(f"{at}: not an object")
        try:
            position = int(point.get("position"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ParseError(f"{at}.position: {point.get('position')!r} is not a whole number") from None
        if not 1 <= position <= slots:
            raise ParseError(f"{at}.position: {position} outside 1..{slots} of its {resolution} period")
        if position in seen:
            raise ParseError(f"{at}.position: {position} appears twice")
        seen.add(position)
        code = point.get("out_Quantity.quality")
        if not isinstance(code, str) or code not in QUALITY:
            raise ParseError(f"{at}.out_Quantity.quality: unknown code {code!r}")
        quality = QUALITY[code]
        raw = point.get("out_Quantity.quantity")
        if quality is None or raw is None or raw == "":
            series.gaps += 1  # not available: the interval stays a gap
            continue
        series.points.append(Point(start + step * position, _quantity(raw, at), quality, code, resolution))


def _series(gsrn: str, item: dict[str, Any], where: str) -> Series:
    series = Series(gsrn)
    doc = item.get("MyEnergyData_MarketDocument")
    if doc is None:
        return series  # no document: no data for the period
    if not isinstance(doc, dict):
        raise ParseError(f"{where}.MyEnergyData_MarketDocument: not an object")
    units: set[str] = set()
    for k, ts in enumerate(doc.get("TimeSeries") or []):
        at = f"{where}.TimeSeries[{k}]"
        if not isinstance(ts, dict):
            raise ParseError(f"{at}: not an object")
        mp = ((ts.get("MarketEvaluationPoint") or {}).get("mRID") or {}).get("name") or ts.get("mRID")
        if mp is not None and gsrn and mp != gsrn:
            raise ParseError(f"{at}: series of metering point {mp!r} in the answer for {gsrn!r}")
        unit_code = ts.get("measurement_Unit.name")
        unit = UNITS.get(str(unit_code).upper()) if unit_code is not None else "kWh"
        if unit is None:
            raise ParseError(f"{at}.measurement_Unit.name: {unit_code!r} is not an energy unit (KWH, MWH)")
        units.add(unit)
        for m, period in enumerate(ts.get("Period") or []):
            _period(series, period, f"{at}.Period[{m}]")
    if len(units) > 1:
        raise ParseError(f"{where}: time series in several units {sorted(units)}")
    if units:
        series.unit = units.pop()
    times = [p.ts for p in series.points]
    if len(times) != len(set(times)):
        raise ParseError(f"{where}: the same interval appears in two periods")
    return series


def parse_time_series(body: Any, requested: list[str]) -> dict[str, Series]:
    """Parse a `gettimeseries` answer into one Series per requested GSRN.

    A GSRN whose entry says `success: false`, or whose entry has a shape we refuse, gets a Series with `error` set
    (the others are unaffected); a GSRN the answer does not mention gets an empty Series (no data). An answer whose
    envelope is not the documented one raises ParseError.
    """
    if not isinstance(body, dict) or not isinstance(body.get("result"), list):
        raise ParseError("answer: expected an object with a 'result' list")
    out = {g: Series(g) for g in requested}
    for i, item in enumerate(body["result"]):
        where = f"result[{i}]"
        if not isinstance(item, dict):
            raise ParseError(f"{where}: not an object")
        gsrn = item.get("id")
        if not isinstance(gsrn, str) or not gsrn:
            doc = item.get("MyEnergyData_MarketDocument") or {}
            first = (doc.get("TimeSeries") or [{}])[0] if isinstance(doc, dict) else {}
            gsrn = (((first.get("MarketEvaluationPoint") or {}).get("mRID") or {}).get("name")
                    or first.get("mRID") or "")
        if gsrn not in out:
            raise ParseError(f"{where}: answer for metering point {gsrn!r}, which was not requested")
        if item.get("success") is False:
            out[gsrn].error = f"DataHub error {item.get('errorCode')}: {item.get('errorText') or 'no text'}"
            continue
        try:
            out[gsrn] = _series(gsrn, item, where)
        except ParseError as e:
            out[gsrn] = Series(gsrn, error=str(e))
    return out


@dataclass(frozen=True)
class MeteringPoint:
    """One entry of `authorization/authorization/meteringpoints/{scope}/{identifier}` (MeteringPointThirdPartyDto),
    or one of its `childMeteringPoints`."""

    gsrn: str
    type_of_mp: str | None
    access_from: datetime | None
    access_to: datetime | None
    detail: dict[str, Any]


def _address(mp: dict[str, Any]) -> str | None:
    street = " ".join(str(mp[k]) for k in ("streetName", "buildingNumber") if mp.get(k))
    extra = ", ".join(str(mp[k]) for k in ("floorId", "roomId") if mp.get(k))
    town = " ".join(str(mp[k]) for k in ("postcode", "cityName") if mp.get(k))
    text = ", ".join(p for p in (street, extra, town) if p)
    return text or None


def _opt_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return parse_instant_utc(value, "access")
    except ParseError:
        return None


def parse_metering_points(body: Any, authorization: dict[str, Any]) -> list[MeteringPoint]:
    """The metering points (children included) an authorization grants, with what a person registering them needs
    to know: address, type, reading occurrence, consumer CVR."""
    if not isinstance(body, dict) or not isinstance(body.get("result"), list):
        raise ParseError("metering points answer: expected an object with a 'result' list")
    out: list[MeteringPoint] = []
    for i, mp in enumerate(body["result"]):
        if not isinstance(mp, dict) or not isinstance(mp.get("meteringPointId"), str):
            raise ParseError(f"result[{i}]: expected an object with a 'meteringPointId'")
        base = {
            "address": _address(mp),
            "type_of_mp": mp.get("typeOfMP"),
            "meter_reading_occurrence": mp.get("meterReadingOccurrence"),
            "consumer_cvr": mp.get("consumerCVR"),
            "consumer": mp.get("firstConsumerPartyName"),
            "meter_number": mp.get("meterNumber"),
            "authorization_id": authorization.get("id"),
            "customer_cvr": authorization.get("customerCVR"),
        }
        access_from, access_to = _opt_time(mp.get("accessFrom")), _opt_time(mp.get("accessTo"))
        out.append(MeteringPoint(mp["meteringPointId"], mp.get("typeOfMP"), access_from, access_to,
                                 {k: v for k, v in base.items() if v is not None}))
        for child in mp.get("childMeteringPoints") or []:
            if isinstance(child, dict) and isinstance(child.get("meteringPointId"), str):
                detail = {**base, "type_of_mp": child.get("typeOfMP"), "parent": mp["meteringPointId"],
                          "meter_reading_occurrence": child.get("meterReadingOccurrence"),
                          "meter_number": child.get("meterNumber")}
                out.append(MeteringPoint(child["meteringPointId"], child.get("typeOfMP"), access_from, access_to,
                                         {k: v for k, v in detail.items() if v is not None}))
    return out
