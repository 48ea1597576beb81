"""HTTP client of Eloverblik's third-party API: token exchange and caching, back-off, the three calls we need.

Endpoints and limits from Energinet's OpenAPI description of the API ("Eloverblik.Api.ThirdPartyApi" V1.0, kept in
github.com/slimcdk/go-eloverblik docs/swagger-eloverblik-thirdpartyapi.json) and its guide
(docs.eloverblik.dk/docs/guides/api/thirdparty, same repository docs/eloverblik-guides/api-thirdparty.md):
- `GET api/token` with the refresh token as bearer → `{"result": "<data access token>"}`, a JWT valid 24 hours.
  "The data access token is active for 24h and should not need to be refreshed more than once a day"; GetToken is
  limited to 2 calls a minute per IP address. So the token is cached for its lifetime (its `exp` claim, read without
  verifying: it is the server's to check) and renewed only when it runs out or a call answers 401.
- `GET api/authorization/authorizations` → `{"result": [AuthorizationDto]}`: active powers of attorney.
- `GET api/authorization/authorization/meteringpoints/authorizationId/{id}` →
  `{"result": [MeteringPointThirdPartyDto]}`.
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
from datetime import date
from typing import Any

from services.connectors.eloverblik.parse import (
    MeteringPoint,
    ParseError,
    Series,
    parse_metering_points,
    parse_time_series,
)
from services.connectors.http import HttpClient, HttpError
from services.connectors.service import SourceError

log = logging.getLogger("energiblik.sync.eloverblik")

# Renew the data access token this long before its `exp`, and assume this lifetime when the token carries none
# (the documented lifetime is 24 hours).
TOKEN_MARGIN_S = 300.0
TOKEN_FALLBACK_S = 23 * 3600.0
_HINTS = {
    429: "the API allows 120 calls a minute per IP address, and 2 token calls a minute",
    503: "DataHub cannot keep up with demand at the moment",
}


class EloverblikError(SourceError):
    """A failure that ends the run. The message is for the energy team: it never holds a token."""


class EloverblikRequestError(EloverblikError):
    """One request was refused (a 4xx other than 401 and 429, or an answer we cannot read): the caller may record
    its metering points as failed and go on."""


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
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


class EloverblikClient:
    """The third-party API behind `http` (an HttpClient whose base URL is e.g. https://api.eloverblik.dk/thirdpartyapi;
    it retries 429/502/503/504 and connection errors with back-off that honours Retry-After)."""

    def __init__(self, http: HttpClient, refresh_token: str, *, clock: Callable[[], float] = time.time) -> None:
        self._http = http
        self._refresh_token = refresh_token
        self._clock = clock
        self._access: tuple[str, float] | None = None  # (token, renew after)
        self.requests = 0
        self.token_calls = 0

    @property
    def retries(self) -> int:
        return self._http.retries

    # -- plumbing ----------------------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, bearer: str, body: Any = None) -> Any:
        """One call (the HttpClient retries what is worth retrying); 401 comes back as None for the caller to handle,
        429/503 that outlast the retries end the run with a message that says what to expect."""
        self.requests += 1
        try:
            resp = self._http.request(method, path, json=body, headers={
                "Authorization": f"Bearer {bearer}", "Accept": "application/json", "api-version": "1.0"})
        except HttpError as e:
            if e.status == 401:
                return None
            if e.status in _HINTS:
                raise EloverblikError(f"{e} ({_HINTS[e.status]})") from None
            if e.status is not None and 400 <= e.status < 500:
                raise EloverblikRequestError(str(e)) from None
            raise
        try:
            return resp.json()
        except ValueError:
            raise EloverblikRequestError(f"eloverblik: {method} {path} answered {resp.status_code} with a body "
                                         "that is not JSON") from None

    def _token(self) -> str:
        now = self._clock()
        if self._access is not None and now < self._access[1]:
            return self._access[0]
        self.token_calls += 1
        try:
            body = self._request("GET", "/api/token", self._refresh_token)
        except EloverblikRequestError as e:
            if "answered 403" not in str(e):
                raise
            body = None
        if body is None:  # 401, or 403 for a token that is not a refresh token
            raise EloverblikError(
                "eloverblik: the refresh token was refused: it has expired (a refresh token lasts one year), was "
                "deactivated, or is not a third-party refresh token. Create a new one in ElOverblik (MitID Erhverv "
                "as the registered third party, 'API-adgang') and set ENERGIBLIK_SYNC__ELOVERBLIK__REFRESH_TOKEN or "
                "ENERGIBLIK_SYNC__ELOVERBLIK__REFRESH_TOKEN_FILE")
        token = body.get("result") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise EloverblikError("eloverblik: GET /api/token answered without a token ('result')")
        exp = token_expiry(token)
        renew = (exp - TOKEN_MARGIN_S) if exp is not None else now + TOKEN_FALLBACK_S
        self._access = (token, max(renew, now + 60.0))
        return token

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """A data call with the cached access token, renewed once when the call answers 401 (expired or revoked)."""
        for renewed in (False, True):
            answer = self._request(method, path, self._token(), body)
            if answer is None:
                if renewed:
                    raise EloverblikError(f"eloverblik: {method} {path} refused a newly issued data access token "
                                          "(401); is the third party still approved and the authorization active?")
                log.info("eloverblik: data access token refused; getting a new one", extra={"path": path})
                self._access = None
                continue
            if not isinstance(answer, dict):
                raise EloverblikRequestError(f"eloverblik: {method} {path} answered JSON that is not an object")
            return answer
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
