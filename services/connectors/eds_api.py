"""Energi Data Service (Energinet) as Energiblik reads it: hourly CO2 intensity of consumed electricity per price area.

Which dataset (docs/connectors.md, "Energi Data Service hourly CO₂"):
- `DeclarationGridEmission` — Energinet's declaration of the emissions of the electricity *consumed* from the grid
  in a price area, hour by hour, settled after the fact (imports and exchanges included), for each fuel allocation
  method of combined heat and power (`FuelAllocationMethod`, e.g. '125%', the Danish method Energinet's
  environmental declaration uses). That is the location-based figure of an hour's consumption: the one we use.
- `CO2Emis` / `CO2EmisProg` — 5-minute near-real-time *estimates* and *prognoses* of the emission intensity,
  meant for shifting consumption, replaced later by the declaration; not for accounts. Not used.

Shape (the API's documented answer, as public clients read it, e.g. Energinet's own energy-origin
`doc/api/emissions.md` and scripts querying `api.energidataservice.dk/dataset/DeclarationGridEmission` with
`start`, `end`, `filter={"PriceArea":["DK2"],"FuelAllocationMethod":["125%"]}`, `sort=HourUTC asc`,
`timezone=UTC`, `limit`, `offset`): `{"total": N, "limit": L, "dataset": "DeclarationGridEmission",
"records": [{"HourUTC": "2024-01-01T00:00:00", "HourDK": "2024-01-01T01:00:00", "PriceArea": "DK2",
"FuelAllocationMethod": "125%", "Edition": "...", "CO2PerkWh": 123.4, ...}]}`. HourUTC is a UTC wall time without
offset; CO2PerkWh is g/kWh. No key is needed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DEFAULT_BASE_URL = "https://api.energidataservice.dk"
DATASET = "DeclarationGridEmission"
DEFAULT_METHOD = "125%"
PAGE_LIMIT = 10_000
# the dirtiest hour of a coal-fired grid is below 1,500 g/kWh; above 2,000 is a unit or decoding error
MAX_G_PER_KWH = 2000.0


class EdsFormatError(ValueError):
    """An answer that is not the documented shape; the message names the record and the field."""


class Undeclared(EdsFormatError):
    """An hour published without a value yet (CO2PerkWh null): read again by a later run, not an error."""


@dataclass(frozen=True)
class Page:
    rows: list[Intensity]
    rejected: list[tuple[int, str]]  # (record index in the whole answer, reason)
    undeclared: int
    total: int


@dataclass(frozen=True)
class Intensity:
    area: str
    ts: datetime  # the UTC hour's start
    method: str
    g_per_kwh: float


def parse_record(r: Any, index: int) -> Intensity:
    where = f"record {index}"
    if not isinstance(r, dict):
        raise EdsFormatError(f"{where}: not an object")
    raw = r.get("HourUTC")
    if not isinstance(raw, str):
        raise EdsFormatError(f"{where}: HourUTC must be a string, got {raw!r}")
    try:
        ts = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise EdsFormatError(f"{where}: HourUTC {raw!r} is not a timestamp") from None
    ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    if ts.minute or ts.second or ts.microsecond:
        raise EdsFormatError(f"{where}: HourUTC {raw!r} is not the start of an hour")
    area = r.get("PriceArea")
    if not isinstance(area, str) or not area.isalnum() or not 2 <= len(area) <= 8:
        raise EdsFormatError(f"{where}: PriceArea {area!r} is not a price area (DK1, DK2)")
    method = r.get("FuelAllocationMethod")
    if not isinstance(method, str) or not method or len(method) > 40:
        raise EdsFormatError(f"{where}: FuelAllocationMethod {method!r} is missing")
    g = r.get("CO2PerkWh")
    if g is None:
        raise Undeclared(f"{where}: CO2PerkWh is null (hour {raw} not declared yet)")
    if isinstance(g, bool) or not isinstance(g, int | float) or not math.isfinite(g):
        raise EdsFormatError(f"{where}: CO2PerkWh {g!r} is not a finite number")
    if not 0 <= g <= MAX_G_PER_KWH:
        raise EdsFormatError(f"{where}: CO2PerkWh {g} is outside 0..{MAX_G_PER_KWH:g} g/kWh")
    return Intensity(area, ts, method, float(g))


def parse_page(doc: Any, offset: int = 0) -> Page:
    """One answer: a record with a null CO2PerkWh (an hour not declared yet) is counted, any other bad record is
    rejected by itself with its reason, never the page. `offset`: the index of the page's first record."""
    if not isinstance(doc, dict) or not isinstance(doc.get("records"), list):
        raise EdsFormatError("answer has no records list")
    total = doc.get("total")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise EdsFormatError(f"total {total!r} is not a count")
    good: list[Intensity] = []
    bad: list[tuple[int, str]] = []
    undeclared = 0
    for i, r in enumerate(doc["records"], start=offset):
        try:
            good.append(parse_record(r, i))
        except Undeclared:
            undeclared += 1
        except EdsFormatError as e:
            bad.append((i, str(e)))
    return Page(good, bad, undeclared, total)


def eds_time(ts: datetime) -> str:
    """The API's `start`/`end` form (minutes), in UTC (`timezone=UTC`)."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def fetch(get: Callable[[str, dict[str, str]], Any], *, dataset: str, areas: Sequence[str], method: str,
          start: datetime, end: datetime, page_limit: int = PAGE_LIMIT) -> Iterator[Page]:
    """Every record in [start, end) for the areas and the allocation method, page by page (limit/offset, until
    `total` is read). `get(path, params)` does the request against the base URL with retries and returns the
    decoded JSON (services/connectors/http.py)."""
    url = f"/dataset/{dataset}"
    offset = 0
    while True:
        params = {"start": eds_time(start), "end": eds_time(end), "timezone": "UTC", "sort": "HourUTC asc",
                  "filter": json.dumps({"PriceArea": list(areas), "FuelAllocationMethod": [method]},
                                       separators=(",", ":")),
                  "limit": str(page_limit), "offset": str(offset)}
        doc = get(url, params)
        page = parse_page(doc, offset)
        yield page
        n = len(doc["records"])
        offset += n
        if n == 0 or offset >= page.total:
            return
