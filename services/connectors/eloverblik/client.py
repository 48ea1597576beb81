"""HTTP client of Eloverblik's third-party API: token exchange and caching, back-off, the three calls we need.

Endpoints and limits from Energinet's OpenAPI description of the API ("Eloverblik.Api.ThirdPartyApi" V1.0, kept in
github.com/slimcdk/go-eloverblik docs/swagger-eloverblik-thirdpartyapi.json) and its guide
(docs.eloverblik.dk/docs/guides/api/thirdparty, same repository docs/eloverblik-guides/api-thirdparty.md):
- `GET api/token` with the refresh token as bearer → `{"result": "<data access token>"}`, a JWT valid 24 hours.
  "The data access token is active for 24h and should not need to be refreshed more than once a day"; GetToken is
  limited to 2 calls a minute per IP address. So the token is cached for its lifetime (its `exp` claim, read without
  verifying: it is the server's to check) and renewed only when it runs out or a call answers 401.
- `GET api/authorization/authorizations` → `{"result": [AuthorizationDto]}`: active powers of attorney.
- `GET api/authorization/authorization/meteringpoints/authorizationId/{id}` → `{"result": [MeteringPointThirdPartyDto]}`.
- `POST api/meterdata/gettimeseries/{dateFrom}/{dateTo}/{aggregation}` with `{"meteringPoints": {"meteringPoint":
  [...]}}`; dates are local days `YYYY-MM-DD`, `dateTo` exclusive and not after today (error codes 30002, 30003).
- 429 when a rate limit is exceeded (120 calls a minute per IP), 503 when DataHub cannot keep up; "If you get an error
  429 or 503, wait 1min. before retrying." We honour `Retry-After` when sent, else wait `backoff_s · 2^(n-1)`, a
  bounded number of times, then stop the run with a clear message (what is stored stays stored; cursors never run
  ahead of it).

Why not a client library: pyeloverblik (0.4.4, PyPI) calls the Customer API (`/CustomerApi/`), not the third-party
API, uses requests with a 5 s timeout and no retry, reads only the first TimeSeries and ignores quality codes.
aioeloverblik (0.1.2) does cover the third-party API but is asyncio-only (our sync runs are synchronous), drops the
per-metering-point `success`/`errorCode` of the time-series answer (so one refused GSRN cannot be told from no
data), and raises on 429 without honouring `Retry-After`. Three endpoints over httpx are less than either's glue.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from services.connectors.eloverblik.parse import (
    MeteringPoint,
    ParseError,
    Series,
    parse_metering_points,
    parse_time_series,
)

log = logging.getLogger("energiblik.sync.eloverblik")

# Renew the data access token this long before its `exp`, and assume this lifetime when the token carries none
# (the documented lifetime is 24 hours).
TOKEN_MARGIN_S = 300.0
TOKEN_FALLBACK_S = 23 * 3600.0
RETRYABLE = {429: "Too Many Requests", 502: "Bad Gateway", 503: "DataHub unavailable", 504: "Gateway Timeout"}


class EloverblikError(RuntimeError):
    """A failure that ends the run. The message is for the energy team: it never holds a token."""


class EloverblikRequestError(EloverblikError):
    """One request was refused (4xx other than 401/429, or an answer we cannot read): the caller may skip its items
    and go on."""


@dataclass
class ClientStats:
    requests: int = 0
    token_calls: int = 0
    retries: int = 0
    waited_s: float = 0.0


def token_expiry(token: str) -> float | None:
    """The `exp` claim (Unix seconds) of a JWT, read without verifying the signature; None when there is none."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        exp = json.loads(payload).get("exp")
    except (ValueError, AttributeError):
        return None
    return float(exp) if isinstance(exp, int | float) else None


def retry_after_s(value: str | None) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class EloverblikClient:
    """The third-party API at `base_url` (e.g. https://api.eloverblik.dk/thirdpartyapi)."""

    def __init__(self, base_url: str, refresh_token: str, *, http: httpx.Client, attempts: int = 5,
                 backoff_s: float = 5.0, max_wait_s: float = 120.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time) -> None:
        self.base_url = base_url.rstrip("/")
        self._refresh_token = refresh_token
        self._http = http
        self._attempts = max(1, attempts)
        self._backoff_s = backoff_s
        self._max_wait_s = max_wait_s
        self._sleep = sleep
        self._clock = clock
        self._access: tuple[str, float] | None = None  # (token, renew after)
        self.stats = ClientStats()

    # -- plumbing ----------------------------------------------------------------------------------------------------

    def _wait(self, path: str, status: str, attempt: int, header: str | None) -> None:
        asked = retry_after_s(header)
        delay = min(self._max_wait_s, asked if asked is not None else self._backoff_s * 2 ** (attempt - 1))
        log.warning("eloverblik %s on %s: waiting %.0f s before attempt %d of %d", status, path, delay, attempt + 1,
                    self._attempts)
        self.stats.retries += 1
        self.stats.waited_s += delay
        self._sleep(delay)

    def _send(self, method: str, path: str, bearer: str, body: Any = None) -> httpx.Response:
        """One call with back-off on 429/502/503/504 and connection errors; raises EloverblikError when they last."""
        headers = {"Authorization": f"Bearer {bearer}", "Accept": "application/json", "api-version": "1.0"}
        for attempt in range(1, self._attempts + 1):
            self.stats.requests += 1
            try:
                r = self._http.request(method, f"{self.base_url}{path}", headers=headers, json=body)
            except httpx.TransportError as e:
                if attempt == self._attempts:
                    raise EloverblikError(
                        f"Eloverblik could not be reached ({type(e).__name__} on {path}) after {self._attempts} "
                        "attempts; the run stopped, what was stored is kept, the next run resumes") from None
                self._wait(path, type(e).__name__, attempt, None)
                continue
            if r.status_code not in RETRYABLE:
                return r
            status = f"{r.status_code} {RETRYABLE[r.status_code]}"
            if attempt == self._attempts:
                hint = ("the API allows 120 calls a minute per IP address and 2 token calls a minute"
                        if r.status_code == 429 else "DataHub cannot keep up with demand at the moment")
                raise EloverblikError(
                    f"Eloverblik answered {status} on {path} {self._attempts} times ({hint}); the run stopped, "
                    "what was stored is kept and the next run resumes from each metering point's cursor")
            self._wait(path, status, attempt, r.headers.get("Retry-After"))
        raise AssertionError("unreachable")

    def _token(self) -> str:
        now = self._clock()
        if self._access is not None and now < self._access[1]:
            return self._access[0]
        self.stats.token_calls += 1
        r = self._send("GET", "/api/token", self._refresh_token)
        if r.status_code in (401, 403):
            what = ("is not a refresh token (403)" if r.status_code == 403 else
                    "was refused (401): it has expired (a refresh token lasts one year), was deactivated, or is not "
                    "a third-party token")
            raise EloverblikError(
                f"the Eloverblik refresh token {what}. Create a new one in ElOverblik (log in with MitID Erhverv as "
                "the registered third party, 'API-adgang') and set ENERGIBLIK_SYNC__ELOVERBLIK__REFRESH_TOKEN or "
                "..._REFRESH_TOKEN_FILE")
        token = self._json(r, "/api/token").get("result")
        if r.status_code != 200 or not isinstance(token, str) or not token:
            raise EloverblikError(f"Eloverblik's token endpoint answered {r.status_code} without a token")
        exp = token_expiry(token)
        renew = (exp - TOKEN_MARGIN_S) if exp is not None else now + TOKEN_FALLBACK_S
        self._access = (token, max(renew, now + 60.0))
        return token

    @staticmethod
    def _json(r: httpx.Response, path: str) -> dict[str, Any]:
        try:
            body = r.json()
        except ValueError:
            raise EloverblikRequestError(f"Eloverblik answered {r.status_code} on {path} with a body that is not "
                                         "JSON") from None
        if not isinstance(body, dict):
            raise EloverblikRequestError(f"Eloverblik answered {r.status_code} on {path} with JSON that is not an "
                                         "object")
        return body

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """A data call with the cached access token; one renewal when it answers 401 (expired or revoked)."""
        for renewal in (False, True):
            r = self._send(method, path, self._token(), body)
            if r.status_code == 401:
                if renewal:
                    raise EloverblikError(f"Eloverblik refused a newly issued data access token (401 on {path}); "
                                          "check that the refresh token's third party is still approved")
                log.info("eloverblik: data access token refused (401 on %s); getting a new one", path)
                self._access = None
                continue
            if r.status_code != 200:
                detail = ""
                try:
                    problem = r.json()
                    if isinstance(problem, dict):
                        detail = str(problem.get("detail") or problem.get("title") or "")[:300]
                except ValueError:
                    pass
                raise EloverblikRequestError(f"Eloverblik answered {r.status_code} on {path}"
                                             + (f": {detail}" if detail else ""))
            return self._json(r, path)
        raise AssertionError("unreachable")

    # -- the API -----------------------------------------------------------------------------------------------------

    def authorizations(self) -> list[dict[str, Any]]:
        """Active authorizations (powers of attorney) granted to us."""
        body = self._call("GET", "/api/authorization/authorizations")
        result = body.get("result")
        if not isinstance(result, list) or not all(isinstance(a, dict) for a in result):
            raise EloverblikError("Eloverblik's authorizations answer has no 'result' list of objects")
        return result

    def metering_points(self, authorization: dict[str, Any]) -> list[MeteringPoint]:
        """The metering points (with their children) that one authorization grants."""
        path = f"/api/authorization/authorization/meteringpoints/authorizationId/{authorization.get('id')}"
        try:
            return parse_metering_points(self._call("GET", path), authorization)
        except ParseError as e:
            raise EloverblikRequestError(f"{path}: {e}") from None

    def time_series(self, gsrns: list[str], first: date, end: date, aggregation: str) -> dict[str, Series]:
        """Time series of up to 10 metering points for local days first..end (end exclusive)."""
        path = f"/api/meterdata/gettimeseries/{first.isoformat()}/{end.isoformat()}/{aggregation}"
        body = self._call("POST", path, {"meteringPoints": {"meteringPoint": gsrns}})
        try:
            return parse_time_series(body, gsrns)
        except ParseError as e:
            raise EloverblikRequestError(f"{path}: {e}") from None
