"""DMI's Climate Data API as Energiblik reads it: heating degree days (base 17 °C) per municipality.

Shapes (cite, do not guess): DMI Open Data documentation, "Climate Data API" and its data-model page
(opendatadocs.dmi.govcloud.dk/APIs/Climate_Data_API; confluence.govcloud.dk/pages/viewpage.action?pageId=41717162):
`GET {base}/collections/municipalityValue/items?municipalityId=0151&parameterId=acc_heating_degree_days_17
&timeResolution=month|day&datetime=<RFC 3339>/<RFC 3339>&limit=&offset=` answers a GeoJSON FeatureCollection
`{"type": "FeatureCollection", "features": [{"properties": {"municipalityId", "municipalityName", "parameterId",
"timeResolution", "from", "to", "value", "calculatedAt", "created", ...}}], "timeStamp", "numberReturned",
"links": [{"rel": "self"|"next", "href"}]}`; `limit` (default 1000) and `offset` page through a result. The fair-use
limit answers 429 beyond it.

API key: the documentation of the `dmigw.govcloud.dk` gateway asks for a key per API (query `api-key` or header
`X-Gravitee-Api-Key`); since DMI's 2025 change the same API is served without a key at `opendataapi.dmi.dk`
(the default here). A configured key is sent in the header only, so it never appears in a URL, a log or an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

PARAMETER = "acc_heating_degree_days_17"
COLLECTION = "municipalityValue"
DEFAULT_BASE_URL = "https://opendataapi.dmi.dk/v2/climateData"
PAGE_LIMIT = 1000
# base 17 °C: a day cannot reach 60 degree days in Denmark (-43 °C mean); a month cannot reach 1000
MAX_PER_DAY = 60.0
MAX_PER_MONTH = 1000.0


class DmiFormatError(ValueError):
    """An answer that is not the documented shape; the message names the feature and the field."""


@dataclass(frozen=True)
class DmiValue:
    resolution: str  # 'day' | 'month'
    period: date  # the local day, or the first day of the local month
    start: datetime  # `from`, aware
    end: datetime  # `to`, aware
    value: float
    calculated_at: datetime | None
    municipality_id: str
    municipality_name: str | None

    def complete(self, now: datetime) -> bool:
        """DMI publishes the running day and month as they accumulate (`to` is the period's end, in the future, or
        the value was calculated before the period ended). Only a period that has ended and whose value was
        calculated at or after its end is complete; anything else is partial and never stored as the period's
        value (docs/connectors.md, "DMI degree days")."""
        if self.end > now:
            return False
        return self.calculated_at is None or self.calculated_at >= self.end


def _instant(props: Mapping[str, Any], key: str, where: str, required: bool = True) -> datetime | None:
    raw = props.get(key)
    if raw is None and not required:
        return None
    if not isinstance(raw, str):
        raise DmiFormatError(f"{where}: properties.{key} must be an RFC 3339 string, got {raw!r}")
    try:
        ts = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise DmiFormatError(f"{where}: properties.{key} {raw!r} is not an RFC 3339 instant") from None
    if ts.tzinfo is None:
        raise DmiFormatError(f"{where}: properties.{key} {raw!r} has no offset")
    return ts


def _is_midnight(ts: datetime) -> bool:
    return not (ts.hour or ts.minute or ts.second or ts.microsecond)


def parse_feature(feature: Any, index: int, tz: ZoneInfo) -> DmiValue:
    """One feature of a municipalityValue answer, strictly: the error names the feature and the field."""
    where = f"feature {index}"
    if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
        raise DmiFormatError(f"{where}: not a GeoJSON Feature with properties")
    p = feature["properties"]
    if p.get("parameterId") != PARAMETER:
        raise DmiFormatError(f"{where}: properties.parameterId is {p.get('parameterId')!r}, expected {PARAMETER}")
    resolution = p.get("timeResolution")
    if resolution not in ("day", "month"):
        raise DmiFormatError(f"{where}: properties.timeResolution {resolution!r} is not day or month")
    start = _instant(p, "from", where)
    end = _instant(p, "to", where)
    assert start is not None and end is not None
    calculated = _instant(p, "calculatedAt", where, required=False)
    value = p.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DmiFormatError(f"{where}: properties.value {value!r} is not a finite number")
    limit = MAX_PER_DAY if resolution == "day" else MAX_PER_MONTH
    if not 0 <= value <= limit:
        raise DmiFormatError(f"{where}: properties.value {value} is outside 0..{limit:g} degree days per {resolution}")
    # DMI states day and month periods in Danish local time ("2023-01-01T00:00:00+01:00"); a period written on UTC
    # boundaries is read as the UTC calendar's day/month, so either way the period is the one DMI means.
    frame = tz if _is_midnight(start.astimezone(tz)) else UTC
    local = start.astimezone(frame)
    if not _is_midnight(local):
        raise DmiFormatError(f"{where}: properties.from {p['from']} is not a midnight (local {tz.key} or UTC)")
    period = local.date()
    if resolution == "day":
        nxt = period + timedelta(days=1)
    else:
        if period.day != 1:
            raise DmiFormatError(f"{where}: properties.from {p['from']} is not the first day of a month")
        nxt = date(period.year + (period.month == 12), period.month % 12 + 1, 1)
    expected_end = datetime.combine(nxt, datetime.min.time(), frame)
    if end != expected_end:
        raise DmiFormatError(f"{where}: properties.to {p['to']} does not end the {resolution} that starts at "
                             f"{p['from']} (expected {expected_end.isoformat()})")
    mid = p.get("municipalityId")
    return DmiValue(resolution, period, start, end, float(value), calculated,
                    str(mid) if mid is not None else "", p.get("municipalityName"))


@dataclass(frozen=True)
class Page:
    values: list[DmiValue]
    rejected: list[tuple[int, str]]  # (feature index in the whole answer, reason): recorded and skipped
    returned: int  # numberReturned
    has_next: bool  # a `next` link


def parse_page(doc: Any, tz: ZoneInfo, offset: int = 0) -> Page:
    """One FeatureCollection page. A feature that is not the documented shape is rejected alone with its reason (the
    rest of the page stands); an answer that is not a FeatureCollection raises DmiFormatError."""
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"),
                                                                                             list):
        raise DmiFormatError("answer is not a GeoJSON FeatureCollection with a features list")
    features = doc["features"]
    returned = doc.get("numberReturned", len(features))
    if not isinstance(returned, int) or returned != len(features):
        raise DmiFormatError(f"numberReturned {returned!r} does not match the {len(features)} features")
    links = doc.get("links") or []
    has_next = any(isinstance(link, dict) and link.get("rel") == "next" for link in links)
    values: list[DmiValue] = []
    rejected: list[tuple[int, str]] = []
    for i, f in enumerate(features, start=offset):
        try:
            values.append(parse_feature(f, i, tz))
        except DmiFormatError as e:
            rejected.append((i, str(e)))
    return Page(values, rejected, returned, has_next)


def rfc3339(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fetch(get: Callable[[str, dict[str, str]], Any], *, municipality_id: str, resolution: str, start: datetime,
          end: datetime, tz: ZoneInfo, page_limit: int = PAGE_LIMIT) -> Iterator[Page]:
    """Every value of `resolution` whose period starts in [start, end), page by page (limit/offset). `get(path,
    params)` does the request against the base URL with retries and returns the decoded JSON
    (services/connectors/http.py)."""
    url = f"/collections/{COLLECTION}/items"
    offset = 0
    while True:
        params = {"municipalityId": municipality_id, "parameterId": PARAMETER, "timeResolution": resolution,
                  "datetime": f"{rfc3339(start)}/{rfc3339(end)}", "limit": str(page_limit),
                  "offset": str(offset)}
        page = parse_page(get(url, params), tz, offset)
        yield page
        offset += page.returned
        if page.returned < page_limit or not page.has_next or page.returned == 0:
            return
