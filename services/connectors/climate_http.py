"""GET-with-retries for the two open-data sources (DMI, Energi Data Service): bounded attempts with exponential
back-off, `Retry-After` honoured on 429/502/503/504 and on connection errors, then a SourceError whose message names
the status and the URL path (never the query: a key could be there) — nothing a run committed before is lost.

(Interim helper of the dmi branch until the framework's services/connectors/http.py is merged; then the sources use
that one through `get_json` below.)"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

RETRY_STATUS = frozenset({429, 502, 503, 504})
MAX_WAIT_S = 120.0


class HttpError(Exception):
    """The source refused or failed after the retries; `str()` is fit for a run's message."""


def _retry_after(resp: httpx.Response, fallback: float) -> float:
    raw = resp.headers.get("Retry-After")
    if raw is None:
        return fallback
    try:
        return min(max(float(raw), 0.0), MAX_WAIT_S)
    except ValueError:
        pass
    try:
        import datetime as _dt

        when = parsedate_to_datetime(raw)
        return min(max((when - _dt.datetime.now(_dt.UTC)).total_seconds(), 0.0), MAX_WAIT_S)
    except (TypeError, ValueError):
        return fallback


def get_json(client: httpx.Client, url: str, params: Mapping[str, str], *, what: str, max_attempts: int = 6,
             backoff_s: float = 2.0, sleep: Callable[[float], None] = time.sleep) -> Any:
    """The decoded JSON of GET url?params, retried on 429/5xx gateway errors and connection errors."""
    path = urlsplit(url).path
    last = ""
    for attempt in range(1, max_attempts + 1):
        wait = backoff_s * 2 ** (attempt - 1)
        try:
            resp = client.get(url, params=params)
        except httpx.TransportError as e:
            last = f"{what}: cannot reach {urlsplit(url).netloc}{path} ({type(e).__name__})"
        else:
            if resp.status_code == 200:
                try:
                    return resp.json()
                except ValueError:
                    raise HttpError(f"{what}: {path} answered 200 with a body that is not JSON") from None
            if resp.status_code not in RETRY_STATUS:
                hint = {401: " (the API key is missing or wrong)", 403: " (the API key is not allowed this API)",
                        404: " (check the base URL)"}.get(resp.status_code, "")
                raise HttpError(f"{what}: {path} answered HTTP {resp.status_code}{hint}: {resp.text[:200]}")
            last = f"{what}: {path} answered HTTP {resp.status_code} after {attempt} attempt(s)"
            wait = _retry_after(resp, wait)
        if attempt < max_attempts:
            sleep(min(wait, MAX_WAIT_S))
    raise HttpError(last + "; giving up for this run (what was stored before stays; the next run picks up here)")
