"""One HTTP client for every connector: timeouts, a User-Agent, bounded retries with exponential back-off that honour
`Retry-After` on 429 and 502/503/504 and on connection errors, and errors that say what failed without a secret in
them (the path without its query string; tokens travel in headers only)."""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from services.connectors.service import SourceError

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_WAIT_S = 300.0
USER_AGENT = "energiblik/0.1 (+https://github.com/energiblik; municipal energy monitoring)"


class HttpError(SourceError):
    """A request failed for good: `status` is the HTTP status (None for a connection that never answered)."""

    def __init__(self, message: str, status: int | None) -> None:
        super().__init__(message)
        self.status = status


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


class HttpClient:
    def __init__(self, base_url: str, *, what: str, timeout_s: float = 60.0, max_attempts: int = 6,
                 backoff_s: float = 2.0, headers: Mapping[str, str] | None = None,
                 sleep: Callable[[float], None] = time.sleep, transport: httpx.BaseTransport | None = None) -> None:
        self.what = what
        self.max_attempts = max(1, max_attempts)
        self.backoff_s = backoff_s
        self.sleep = sleep
        self.retries = 0  # how many requests were repeated (429/5xx/connection), for the run's detail
        self.client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport,
                                   headers={"User-Agent": USER_AGENT, **(headers or {})})

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json: Any = None, headers: Mapping[str, str] | None = None) -> httpx.Response:
        """The response of a 2xx answer. Retries 429/502/503/504 and connection errors with back-off (Retry-After
        when given, else backoff_s · 2^n, at most MAX_WAIT_S); any other status raises HttpError at once."""
        where = f"{self.what}: {method} {path.split('?', 1)[0]}"
        waited = 0.0
        for attempt in range(1, self.max_attempts + 1):
            try:
                resp = self.client.request(method, path, params=params, json=json, headers=headers)
            except httpx.TransportError as exc:
                problem, status, wait = f"no answer ({type(exc).__name__})", None, None
            else:
                if resp.is_success:
                    return resp
                status = resp.status_code
                problem = f"answered {status} {resp.reason_phrase}: {_short(resp.text)}"
                if status not in RETRY_STATUSES:
                    raise HttpError(f"{where} {problem}", status)
                wait = retry_after_s(resp.headers.get("Retry-After"))
            if attempt == self.max_attempts:
                raise HttpError(f"{where} {problem}, still after {attempt} attempts over {waited:.0f} s; "
                                "nothing after the last stored step was lost: the next run goes on from there",
                                status)
            pause = min(MAX_WAIT_S, wait if wait is not None else self.backoff_s * 2 ** (attempt - 1))
            log.warning("request failed; retrying", extra={"source": self.what, "request": where, "status": status,
                                                          "attempt": attempt, "wait_s": pause})
            self.retries += 1
            self.sleep(pause)
            waited += pause
        raise AssertionError("unreachable")

    def get_json(self, path: str, *, params: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None) -> Any:
        resp = self.request("GET", path, params=params, headers=headers)
        try:
            return resp.json()
        except ValueError:
            raise HttpError(f"{self.what}: GET {path.split('?', 1)[0]} answered {resp.status_code} with a body "
                            f"that is not JSON: {_short(resp.text)}", resp.status_code) from None
