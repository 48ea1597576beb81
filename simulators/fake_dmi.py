"""A fake of DMI's Climate Data API (municipalityValue, acc_heating_degree_days_17), a real HTTP server serving the
documented shape (services/connectors/dmi_api.py cites it): GeoJSON FeatureCollection pages with `numberReturned`
and `links` (self, next), `limit`/`offset` paging, `datetime` intervals, periods in Danish local time, the running
day and month published as they accumulate (`to` in the future, `calculatedAt` = now), errors and corrections on
demand (simulators/fake_http.py: POST /_control; `override` keys "month:2026-01" / "day:2026-01-05" → a value, or
null to withhold the period).

    python -m simulators.fake_dmi --port 8741 [--now 2026-11-30T06:00:00+00:00] [--require-key KEY]
"""

from __future__ import annotations

import argparse
import hashlib
import math
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from simulators.fake_http import Answer, FakeState, serve

TZ = ZoneInfo("Europe/Copenhagen")
PARAMETER = "acc_heating_degree_days_17"
MUNICIPALITIES = {"0151": "Ballerup", "0101": "København", "0751": "Aarhus"}
FIRST_DAY = date(2011, 1, 1)


def daily_degree_days(municipality: str, d: date) -> float:
    """A deterministic Danish-looking year: mean temperature about 1 °C in January and 17 °C in July, with a
    day-to-day wobble; degree days max(0, 17 - T), one decimal as DMI gives them."""
    doy = d.timetuple().tm_yday
    wobble = int(hashlib.sha256(f"{municipality}{d}".encode()).hexdigest()[:4], 16) / 65535 * 6 - 3
    temp = 9.0 - 8.0 * math.cos(2 * math.pi * (doy - 20) / 365.25) + wobble
    return round(max(0.0, 17.0 - temp), 1)


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=TZ)


def _month_after(d: date) -> date:
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1)


class FakeDmi:
    def __init__(self, require_key: str | None = None) -> None:
        self.state = FakeState()
        self.require_key = require_key

    def feature(self, municipality: str, resolution: str, period: date, now: datetime) -> dict[str, Any] | None:
        start = _midnight(period)
        end_day = period + timedelta(days=1) if resolution == "day" else _month_after(period)
        end = _midnight(end_day)
        if start > now:
            return None  # not begun: not published
        override = self.state.overrides.get(f"{resolution}:{period.isoformat()[:10 if resolution == 'day' else 7]}",
                                            "none")
        if override is None:
            return None
        today = now.astimezone(TZ).date()
        last = min(end_day, today + timedelta(days=1))  # a running period holds its days so far (today's so far)
        days = [period + timedelta(days=i) for i in range((last - period).days)]
        value = round(sum(daily_degree_days(municipality, d) for d in days), 1)
        if isinstance(override, int | float):
            value = float(override)
        calculated = now if end > now else min(end + timedelta(hours=2), now)
        return {
            "type": "Feature",
            "id": hashlib.md5(f"{municipality}{resolution}{period}".encode()).hexdigest(),  # noqa: S324 - an id
            "geometry": None,
            "properties": {
                "municipalityId": municipality, "municipalityName": MUNICIPALITIES[municipality],
                "parameterId": PARAMETER, "timeResolution": resolution, "qcStatus": "none",
                "from": start.isoformat(), "to": end.isoformat(), "value": value,
                "calculatedAt": calculated.astimezone(UTC).isoformat(),
                "created": calculated.astimezone(UTC).isoformat(),
            },
        }

    def route(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Answer:
        if not path.endswith("/collections/municipalityValue/items"):
            return 404, {}, {"message": f"no collection at {path}"}
        if self.require_key is not None:
            given = {k.lower(): v for k, v in headers.items()}.get("x-gravitee-api-key")
            if given != self.require_key:
                return 401, {}, {"message": "No API key found in request"}
        q = {k: v[0] for k, v in query.items()}
        try:
            limit = int(q.get("limit", "1000"))
            offset = int(q.get("offset", "0"))
            lo_s, hi_s = q.get("datetime", "2011-01-01T00:00:00Z/2100-01-01T00:00:00Z").split("/")
            lo = datetime.fromisoformat(lo_s.replace("Z", "+00:00"))
            hi = datetime.fromisoformat(hi_s.replace("Z", "+00:00"))
        except ValueError as e:
            return 400, {}, {"message": f"bad query: {e}"}
        if not 1 <= limit <= 300000 or offset < 0:
            return 400, {}, {"message": "limit must be 1..300000 and offset >= 0"}
        municipality = q.get("municipalityId", "")
        resolution = q.get("timeResolution", "")
        features: list[dict[str, Any]] = []
        if municipality in MUNICIPALITIES and q.get("parameterId") == PARAMETER and resolution in ("day", "month"):
            now = self.state.now()
            d = max(FIRST_DAY, lo.astimezone(TZ).date().replace(day=1) if resolution == "month"
                    else lo.astimezone(TZ).date())
            stop = min(hi.astimezone(TZ).date(), now.astimezone(TZ).date()) + timedelta(days=1)
            while d < stop:
                if lo <= _midnight(d) < hi:
                    f = self.feature(municipality, resolution, d, now)
                    if f is not None:
                        features.append(f)
                d = d + timedelta(days=1) if resolution == "day" else _month_after(d)
        page = features[offset:offset + limit]
        base = f"http://fake-dmi{path}"
        links = [{"href": f"{base}?limit={limit}&offset={offset}", "rel": "self", "type": "application/geo+json",
                  "title": "This document"}]
        if offset + limit < len(features):
            links.append({"href": f"{base}?limit={limit}&offset={offset + limit}", "rel": "next",
                          "type": "application/geo+json", "title": "Next set of results"})
        return 200, {"Content-Type": "application/geo+json"}, {
            "type": "FeatureCollection", "features": page, "timeStamp": datetime.now(UTC).isoformat(),
            "numberReturned": len(page), "links": links}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8741)
    ap.add_argument("--now", help="the server's clock (RFC 3339); default: real time")
    ap.add_argument("--require-key", help="answer 401 unless X-Gravitee-Api-Key carries this key")
    a = ap.parse_args(argv)
    fake = FakeDmi(a.require_key)
    if a.now:
        fake.state.fixed_now = datetime.fromisoformat(a.now)
    server = serve(fake.state, fake.route, a.host, a.port)
    print(f"fake DMI climateData on http://{a.host}:{server.server_port}/v2/climateData", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
