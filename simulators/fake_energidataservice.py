"""A fake of Energi Data Service's `DeclarationGridEmission` dataset, a real HTTP server serving the documented shape
(services/connectors/eds_api.py cites it): `GET /dataset/DeclarationGridEmission?start=&end=&filter=&sort=&timezone=
&limit=&offset=` → `{"total", "limit", "dataset", "records": [{"HourUTC", "HourDK", "PriceArea",
"FuelAllocationMethod", "Edition", "CO2PerkWh", ...}]}`, hourly for DK1 and DK2 and the methods '125%' and '200%',
from `--first` up to `--lag-days` before the server's clock (the declaration is published after the fact).
Errors and corrections on demand (simulators/fake_http.py: POST /_control; `override` keys
"DK2|125%|2026-01-01T00:00" (HourUTC) → a value, or null to publish the hour without a value).

    python -m simulators.fake_energidataservice --port 8742 [--now ...] [--first 2021-01-01] [--lag-days 9]
"""

from __future__ import annotations

import argparse
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from simulators.fake_http import Answer, FakeState, serve

TZ = ZoneInfo("Europe/Copenhagen")
DATASET = "DeclarationGridEmission"
AREAS = ("DK1", "DK2")
METHODS = ("125%", "200%")


def intensity(area: str, method: str, hour: datetime) -> float:
    """A deterministic, plausible g/kWh: lower at night and in summer, DK2 a little cleaner, the 200 % method
    putting more of a CHP plant's fuel on heat (less on power)."""
    h = hour.astimezone(TZ)
    season = 1 + 0.35 * math.cos(2 * math.pi * (h.timetuple().tm_yday - 15) / 365.25)
    daily = 1 + 0.25 * math.sin(2 * math.pi * (h.hour - 11) / 24)
    years = max(0.4, 1 - 0.08 * (h.year - 2021))
    base = (135.0 if area == "DK1" else 120.0) * (0.85 if method == "200%" else 1.0)
    return round(base * season * daily * years, 2)


def _parse_time(raw: str) -> datetime:
    return datetime.fromisoformat(raw).replace(tzinfo=UTC)


class FakeEds:
    def __init__(self, first: datetime, lag: timedelta) -> None:
        self.state = FakeState()
        self.first = first
        self.lag = lag

    def route(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Answer:
        if path != f"/dataset/{DATASET}":
            return 400, {}, {"statusCode": 400, "error": "Bad Request", "message": f"unknown dataset at {path}"}
        q = {k: v[0] for k, v in query.items()}
        try:
            limit = int(q.get("limit", "100"))
            offset = int(q.get("offset", "0"))
            if q.get("timezone", "dk").lower() != "utc":
                raise ValueError("this fake answers timezone=UTC only")
            start = _parse_time(q["start"])
            end = _parse_time(q["end"]) if "end" in q else self.state.now()
            flt = json.loads(q.get("filter", "{}"))
        except (KeyError, ValueError) as e:
            return 400, {}, {"statusCode": 400, "error": "Bad Request", "message": f"bad query: {e}"}
        areas = [a for a in AREAS if a in flt.get("PriceArea", AREAS)]
        methods = [m for m in METHODS if m in flt.get("FuelAllocationMethod", METHODS)]
        published_until = (self.state.now() - self.lag).replace(minute=0, second=0, microsecond=0)
        hour = max(start, self.first)
        stop = min(end, published_until)
        hours: list[datetime] = []
        while hour < stop:
            hours.append(hour)
            hour += timedelta(hours=1)
        total = len(hours) * len(areas) * len(methods)
        records: list[dict[str, Any]] = []
        # only the page asked for is built: (hour, area, method) in that order, sorted by HourUTC ascending
        per_hour = len(areas) * len(methods)
        for i in range(offset, min(offset + limit, total)):
            h = hours[i // per_hour]
            area = areas[(i % per_hour) // len(methods)]
            method = methods[i % len(methods)]
            key = f"{area}|{method}|{h.strftime('%Y-%m-%dT%H:%M')}"
            value: float | None = intensity(area, method, h)
            if key in self.state.overrides:
                value = self.state.overrides[key]
            records.append({"HourUTC": h.strftime("%Y-%m-%dT%H:%M:%S"),
                            "HourDK": h.astimezone(TZ).strftime("%Y-%m-%dT%H:%M:%S"),
                            "PriceArea": area, "FuelAllocationMethod": method, "Edition": "Final",
                            "CO2PerkWh": value, "CO2OriginPerkWh": value, "SO2PerkWh": 0.01, "NOxPerkWh": 0.1})
        return 200, {}, {"total": total, "limit": limit, "dataset": DATASET, "records": records}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8742)
    ap.add_argument("--now", help="the server's clock (RFC 3339); default: real time")
    ap.add_argument("--first", default="2021-01-01T00:00", help="first HourUTC the dataset holds")
    ap.add_argument("--lag-days", type=float, default=9.0, help="how long after an hour its declaration appears")
    a = ap.parse_args(argv)
    fake = FakeEds(_parse_time(a.first), timedelta(days=a.lag_days))
    if a.now:
        fake.state.fixed_now = datetime.fromisoformat(a.now)
    server = serve(fake.state, fake.route, a.host, a.port)
    print(f"fake Energi Data Service on http://{a.host}:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
