"""A fake of Eloverblik's third-party API (DataHub), served over real HTTP, for tests and the demo.

It serves the documented shapes of the endpoints Energiblik uses (Energinet's OpenAPI description
"Eloverblik.Api.ThirdPartyApi" V1.0, kept in github.com/slimcdk/go-eloverblik
docs/swagger-eloverblik-thirdpartyapi.json):

- `GET  /thirdpartyapi/api/token` — refresh token in `Authorization: Bearer …` → `{"result": "<data access token>"}`
  (a JWT valid 24 hours; 401 for an unknown refresh token, 403 when a data access token is used instead).
- `GET  /thirdpartyapi/api/authorization/authorizations` → `{"result": [AuthorizationDto]}`.
- `GET  /thirdpartyapi/api/authorization/authorization/meteringpoints/{scope}/{identifier}` (scope authorizationId,
  customerCVR or customerKey) → `{"result": [MeteringPointThirdPartyDto]}`.
- `POST /thirdpartyapi/api/meterdata/gettimeseries/{dateFrom}/{dateTo}/{aggregation}` with
  `{"meteringPoints": {"meteringPoint": [GSRN, …]}}` → `{"result": [MyEnergyDataMarketDocumentResponse]}`: one Period
  per local day, PT1H or PT15M points, quality codes A04/A03/A02/A05.
- `GET  /thirdpartyapi/api/isalive` → `true`.

The API has no pagination: a caller splits its work by date span and by metering points per request. The limits are
enforced here as documented, so a client that breaks them fails its tests: at most 10 metering points per request
("Bundle requests for 10 metering points at a time"), at most 730 days per request (the limit go-eloverblik encodes as
MaximumDayRequestLeap), `dateTo` exclusive and not after today, data only for "the previous 5 years plus the current
year" (older days are answered without periods), error codes 30001-30004 as the description lists them. Where the
description says nothing (the status of a request over a limit), this fake answers 400 with a ProblemDetails body.

Test controls (also over HTTP under `/_fake/…`, for a fake run as a program): publish a correction, make the next
requests fail with 429 (with `Retry-After`) or 503, expire every data access token (the next call gets 401).

Optionally (`--estate`, or ENERGIBLIK_FAKE_ELOVERBLIK_ESTATE=1 for deploy/run.sh) it serves the electricity of the
simulated estate (simulators/model.py) for the GSRNs of the estate's electricity meters, so the demo can show the
same buildings arriving through DataHub as over MQTT.

Run: `python -m simulators.fake_eloverblik --port 8790 [--estate] [--buildings 12]`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

TZ = ZoneInfo("Europe/Copenhagen")
PREFIX = "/thirdpartyapi/api"
MAX_POINTS_PER_REQUEST = 10
MAX_DAYS_PER_REQUEST = 730
HISTORY_YEARS = 5
STEP = {"PT15M": timedelta(minutes=15), "PT1H": timedelta(hours=1)}
AGGREGATIONS = ("Actual", "Quarter", "Hour", "Day", "Month", "Year")
# Profile of a metering point: kWh of the native interval [start, start + step) (UTC), rounded by the server.
Profile = Callable[[datetime, timedelta], float]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}.{_b64(secrets.token_bytes(32))}"


def default_profile(gsrn: str) -> Profile:
    """A building's day: a base load from the GSRN's hash, more between 07 and 17 local time on weekdays."""
    base_kw = 2.0 + int(hashlib.sha256(gsrn.encode()).hexdigest()[:4], 16) % 800 / 100

    def kwh(start: datetime, step: timedelta) -> float:
        local = start.astimezone(TZ)
        day_kw = base_kw * (2.5 if local.weekday() < 5 and 7 <= local.hour < 17 else 1.0)
        return day_kw * step.total_seconds() / 3600

    return kwh


@dataclass
class FakeMeteringPoint:
    gsrn: str
    resolution: str = "PT1H"  # native: PT1H or PT15M
    # PT15M metering points that were hourly before the market moved to quarters: local days before this date are
    # PT1H (a Quarter request gets them as PT1H periods: hours cannot be split)
    quarters_from: date | None = None
    type_of_mp: str = "E17"  # E17 consumption, E18 production
    street: str = "Hold-an Vej"
    number: str = "7"
    postcode: str = "2750"
    city: str = "Ballerup"
    data_from: date = date(2015, 1, 1)  # first local day with data
    profile: Profile | None = None
    # native interval ends (UTC) sent as A02 (not available) or A03 (estimated)
    missing: set[datetime] = field(default_factory=set)
    estimated: set[datetime] = field(default_factory=set)
    children: list[FakeMeteringPoint] = field(default_factory=list)

    def dto(self, access_from: str, access_to: str) -> dict[str, Any]:
        """MeteringPointThirdPartyDto."""
        return {
            "meteringPointId": self.gsrn, "typeOfMP": self.type_of_mp, "accessFrom": access_from,
            "accessTo": access_to, "streetCode": "0420", "streetName": self.street, "buildingNumber": self.number,
            "floorId": None, "roomId": None, "postcode": self.postcode, "cityName": self.city,
            "citySubDivisionName": None, "municipalityCode": "151", "locationDescription": None,
            "settlementMethod": "D01", "meterReadingOccurrence": self.resolution,
            "firstConsumerPartyName": "Ballerup Kommune", "secondConsumerPartyName": None,
            "consumerCVR": "58271713", "dataAccessCVR": None, "meterNumber": self.gsrn[-8:],
            "consumerStartDate": "2010-01-01T00:00:00Z",
            "childMeteringPoints": [
                {"parentMeteringPointId": self.gsrn, "meteringPointId": c.gsrn, "typeOfMP": c.type_of_mp,
                 "meterReadingOccurrence": c.resolution, "meterNumber": c.gsrn[-8:]} for c in self.children],
        }


@dataclass
class Fault:
    status: int  # 429, 503, … ; 401 also expires every data access token (as if it ran out)
    times: int
    retry_after: float | None = None
    token_too: bool = False  # also on the token endpoint
    after: int = 0  # let this many matching requests through first


class FakeState:
    """What the fake knows; tests change it directly, a program run through /_fake/…."""

    def __init__(self, refresh_token: str = "fake-refresh-token",  # noqa: S107 - the fake's own
                 now: Callable[[], datetime] | None = None) -> None:
        self.lock = threading.Lock()
        self.refresh_tokens = {refresh_token}
        self.token_lifetime = timedelta(hours=24)
        self.access_tokens: dict[str, datetime] = {}
        self.now = now or (lambda: datetime.now(UTC))
        self.authorizations: list[dict[str, Any]] = []
        self.points_by_authorization: dict[str, list[FakeMeteringPoint]] = {}
        self.corrections: dict[tuple[str, datetime], tuple[float, str]] = {}
        self.faults: list[Fault] = []
        self.requests: list[dict[str, Any]] = []
        self.token_calls = 0

    # -- set-up ------------------------------------------------------------------------------------------------------

    def add_authorization(self, cvr: str, points: list[FakeMeteringPoint], name: str = "Ballerup Kommune",
                          valid_from: date = date(2015, 1, 1), valid_to: date = date(2029, 12, 31)) -> str:
        auth_id = str(uuid.uuid4())
        self.authorizations.append({
            "id": auth_id, "thirdPartyName": "Energiblik", "validFrom": f"{valid_from.isoformat()}T00:00:00",
            "validTo": f"{valid_to.isoformat()}T00:00:00", "customerName": name, "customerCVR": cvr,
            "customerKey": None, "includeFutureMeteringPoints": True,
            "timeStamp": self.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        })
        self.points_by_authorization[auth_id] = points
        return auth_id

    def publish_correction(self, gsrn: str, ts_end: datetime, quantity: float, quality: str = "A04") -> None:
        """DataHub publishes a changed quantity for the native interval ending at `ts_end`."""
        with self.lock:
            self.corrections[(gsrn, ts_end.astimezone(UTC))] = (quantity, quality)

    def fail_next(self, status: int, times: int = 1, retry_after: float | None = None, token_too: bool = False,
                  after: int = 0) -> None:
        """The next `times` requests (after `after` more have gone through) answer `status`."""
        with self.lock:
            self.faults.append(Fault(status, times, retry_after, token_too, after))

    def expire_tokens(self) -> None:
        with self.lock:
            self.access_tokens.clear()

    def points(self) -> dict[str, FakeMeteringPoint]:
        out: dict[str, FakeMeteringPoint] = {}
        for mps in self.points_by_authorization.values():
            for mp in mps:
                out[mp.gsrn] = mp
                for c in mp.children:
                    out[c.gsrn] = c
        return out

    # -- serving -----------------------------------------------------------------------------------------------------

    def take_fault(self, token: bool) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.times > 0 and (f.token_too or not token):
                    if f.after > 0:
                        f.after -= 1
                        return None
                    f.times -= 1
                    if f.status == 401:
                        self.access_tokens.clear()
                    return f
            return None

    def issue_token(self) -> str:
        now = self.now()
        token = _jwt({"tokenType": "ThirdPartyApi_DataAccess", "iat": int(now.timestamp()),
                      "exp": int((now + self.token_lifetime).timestamp()), "jti": str(uuid.uuid4())})
        with self.lock:
            self.access_tokens[token] = now + self.token_lifetime
            self.token_calls += 1
        return token

    def token_valid(self, token: str) -> bool:
        with self.lock:
            exp = self.access_tokens.get(token)
        return exp is not None and exp > self.now()

    def native(self, mp: FakeMeteringPoint, end: datetime) -> tuple[float | None, str]:
        """(quantity, code) of the native interval ending at `end` (UTC)."""
        fixed = self.corrections.get((mp.gsrn, end))
        if fixed is not None:
            return fixed
        if end in mp.missing:
            return None, "A02"
        step = self.native_step(mp, end - timedelta(seconds=1))
        profile = mp.profile or default_profile(mp.gsrn)
        qty = round(profile(end - step, step), 3)
        return qty, "A03" if end in mp.estimated else "A04"

    @staticmethod
    def native_step(mp: FakeMeteringPoint, at: datetime) -> timedelta:
        if mp.quarters_from is not None and at.astimezone(TZ).date() < mp.quarters_from:
            return STEP["PT1H"]
        return STEP[mp.resolution]

    def _point(self, mp: FakeMeteringPoint, end: datetime, step: timedelta) -> tuple[float | None, str]:
        native = self.native_step(mp, end - timedelta(seconds=1))
        if step == native:
            return self.native(mp, end)
        # an hour built from quarters: the sum of what is there; A05 when some quarter is missing, A03 if estimated
        parts = [self.native(mp, end - native * k) for k in range(int(step / native))]
        values = [q for q, _ in parts if q is not None]
        if not values:
            return None, "A02"
        codes = {c for _, c in parts}
        code = "A05" if "A02" in codes else "A03" if codes & {"A03", "A05"} else "A04"
        return round(sum(values), 3), code

    def document(self, mp: FakeMeteringPoint, first: date, last: date, asked: timedelta | None) -> dict[str, Any]:
        """MyEnergyData_MarketDocument for local days first..last (inclusive), in the asked step (None: native)."""
        today = self.now().astimezone(TZ).date()
        floor = max(mp.data_from, date(today.year - HISTORY_YEARS, 1, 1))
        periods = []
        day = max(first, floor)
        while day <= last:
            start = datetime(day.year, day.month, day.day, tzinfo=TZ).astimezone(UTC)
            nxt = day + timedelta(days=1)
            end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=TZ).astimezone(UTC)
            native = self.native_step(mp, start)
            step = native if asked is None or asked < native else asked
            points = []
            for position in range(1, int((end - start) / step) + 1):
                qty, code = self._point(mp, start + step * position, step)
                point: dict[str, Any] = {"position": str(position), "out_Quantity.quality": code}
                if qty is not None:
                    point["out_Quantity.quantity"] = f"{qty:.3f}"
                points.append(point)
            periods.append({"resolution": "PT15M" if step == STEP["PT15M"] else "PT1H",
                            "timeInterval": {"start": _z(start), "end": _z(end)}, "Point": points})
            day = nxt
        d0 = datetime(first.year, first.month, first.day, tzinfo=TZ).astimezone(UTC)
        d1 = last + timedelta(days=1)
        d1t = datetime(d1.year, d1.month, d1.day, tzinfo=TZ).astimezone(UTC)
        return {
            "mRID": uuid.uuid4().hex, "createdDateTime": _z(self.now()), "sender_MarketParticipant.name": "Energinet",
            "sender_MarketParticipant.mRID": {"codingScheme": "A10", "name": "5790001330583"},
            "period.timeInterval": {"start": _z(d0), "end": _z(d1t)},
            "TimeSeries": [{
                "mRID": mp.gsrn, "businessType": "A01" if mp.type_of_mp == "E18" else "A04", "curveType": "A01",
                "measurement_Unit.name": "KWH",
                "MarketEvaluationPoint": {"mRID": {"codingScheme": "A10", "name": mp.gsrn}},
                "Period": periods,
            }] if periods else [],
        }


def _z(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"type": None, "title": title, "status": status, "detail": detail, "instance": None},
                        status_code=status, headers=headers)


def _item(gsrn: str, code: int, text: str, doc: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"success": code == 10000, "errorCode": code, "errorText": text, "id": gsrn, "stackTrace": None,
            "MyEnergyData_MarketDocument": doc}


def make_app(state: FakeState) -> FastAPI:
    app = FastAPI(title="fake Eloverblik third-party API", docs_url=None, redoc_url=None, openapi_url=None)

    def bearer(request: Request) -> str:
        auth = request.headers.get("authorization", "")
        return auth[7:].strip() if auth[:7].lower() == "bearer " else ""

    def fault(token: bool) -> JSONResponse | None:
        f = state.take_fault(token)
        if f is None:
            return None
        headers = {"Retry-After": f"{f.retry_after:g}"} if f.retry_after is not None else None
        title = {429: "Too Many Requests", 503: "DataHub unavailable", 401: "Unauthorized"}.get(f.status, "Error")
        return _problem(f.status, title, "injected by the fake", headers)

    def authorised(request: Request) -> JSONResponse | None:
        state.requests.append({"method": request.method, "path": request.url.path})
        injected = fault(token=False)
        if injected is not None:
            return injected
        if not state.token_valid(bearer(request)):
            return _problem(401, "Unauthorized", "the data access token is missing, invalid or expired")
        return None

    @app.get(f"{PREFIX}/isalive")
    def isalive() -> bool:
        return True

    @app.get(f"{PREFIX}/token")
    def token(request: Request) -> JSONResponse:
        state.requests.append({"method": "GET", "path": request.url.path})
        injected = fault(token=True)
        if injected is not None:
            return injected
        presented = bearer(request)
        if presented in state.access_tokens:
            return _problem(403, "Forbidden", "a data access token cannot be used to get a token")
        if presented not in state.refresh_tokens:
            return _problem(401, "Unauthorized", "the refresh token is not valid")
        return JSONResponse({"result": state.issue_token()})

    @app.get(f"{PREFIX}/authorization/authorizations")
    def authorizations(request: Request) -> JSONResponse:
        refused = authorised(request)
        if refused is not None:
            return refused
        return JSONResponse({"result": state.authorizations})

    @app.get(f"{PREFIX}/authorization/authorization/meteringpoints/{{scope}}/{{identifier}}")
    def metering_points(scope: str, identifier: str, request: Request) -> JSONResponse:
        refused = authorised(request)
        if refused is not None:
            return refused
        if scope not in ("authorizationId", "customerCVR", "customerKey"):
            return _problem(400, "Bad Request", f"unknown scope {scope!r}")
        out = []
        for auth in state.authorizations:
            key = {"authorizationId": "id", "customerCVR": "customerCVR", "customerKey": "customerKey"}[scope]
            if auth.get(key) == identifier:
                out += [mp.dto(auth["validFrom"], auth["validTo"]) for mp in state.points_by_authorization[auth["id"]]]
        return JSONResponse({"result": out})

    @app.post(f"{PREFIX}/meterdata/gettimeseries/{{date_from}}/{{date_to}}/{{aggregation}}")
    async def time_series(date_from: str, date_to: str, aggregation: str, request: Request) -> JSONResponse:
        refused = authorised(request)
        if refused is not None:
            return refused
        try:
            body = await request.json()
            gsrns = body["meteringPoints"]["meteringPoint"]
            assert isinstance(gsrns, list) and all(isinstance(g, str) for g in gsrns)
        except Exception:
            return _problem(400, "Bad Request", 'body must be {"meteringPoints": {"meteringPoint": [GSRN, ...]}}')
        try:
            first, end = date.fromisoformat(date_from), date.fromisoformat(date_to)
        except ValueError:
            return _problem(400, "Bad Request", "30004 InvalidDateFormat: dates are YYYY-MM-DD")
        today = state.now().astimezone(TZ).date()
        errors = [(first > today, "30000 FromDateIsGreaterThanToday"),
                  (first > end, "30001 FromDateIsGreaterThanToDate"),
                  (first == end, "30002 ToDateCanNotBeEqualToFromDate"),
                  (end > today, "30003 ToDateIsGreaterThanToday"),
                  ((end - first).days > MAX_DAYS_PER_REQUEST, f"more than {MAX_DAYS_PER_REQUEST} days in one request"),
                  (len(gsrns) > MAX_POINTS_PER_REQUEST,
                   f"more than {MAX_POINTS_PER_REQUEST} metering points in one request"),
                  (aggregation not in AGGREGATIONS, f"aggregation must be one of {', '.join(AGGREGATIONS)}")]
        for bad, text in errors:
            if bad:
                return _problem(400, "Bad Request", text)
        state.requests[-1].update(gsrns=list(gsrns), date_from=date_from, date_to=date_to, aggregation=aggregation)
        known = state.points()
        result = []
        for gsrn in gsrns:
            mp = known.get(gsrn)
            if mp is None:
                result.append(_item(gsrn, 20012, "Unauthorized"))
                continue
            asked = {"Quarter": STEP["PT15M"], "Hour": STEP["PT1H"]}.get(aggregation)
            if aggregation not in ("Actual", "Quarter", "Hour") or (
                    asked is not None and asked < STEP[mp.resolution]):
                # a point that never had quarters cannot give them; Day/Month/Year are not served by this fake
                result.append(_item(gsrn, 30008, "RequestedAggregationUnavaliable"))
                continue
            result.append(_item(gsrn, 10000, "NoError", state.document(mp, first, end - timedelta(days=1), asked)))
        return JSONResponse({"result": result})

    # -- controls for a fake run as a program --------------------------------------------------------------------------

    @app.post("/_fake/corrections")
    async def correction(request: Request) -> dict[str, str]:
        b = await request.json()
        state.publish_correction(b["gsrn"], datetime.fromisoformat(b["ts"]), float(b["quantity"]),
                                 b.get("quality", "A04"))
        return {"status": "published"}

    @app.post("/_fake/faults")
    async def faults(request: Request) -> dict[str, str]:
        b = await request.json()
        state.fail_next(int(b["status"]), int(b.get("times", 1)), b.get("retry_after"), bool(b.get("token", False)),
                        int(b.get("after", 0)))
        return {"status": "armed"}

    @app.post("/_fake/expire-tokens")
    def expire() -> dict[str, str]:
        state.expire_tokens()
        return {"status": "expired"}

    @app.get("/_fake/requests")
    def requests_made() -> dict[str, Any]:
        return {"token_calls": state.token_calls, "requests": state.requests}

    return app


class FakeServer:
    """The fake on a uvicorn server in a thread (tests): `with FakeServer(state) as fake: fake.base_url`."""

    def __init__(self, state: FakeState, host: str = "127.0.0.1", port: int = 0) -> None:
        import socket

        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = int(s.getsockname()[1])
        self.state = state
        self.url = f"http://{host}:{port}"
        self.base_url = f"{self.url}/thirdpartyapi"
        self._server = uvicorn.Server(uvicorn.Config(make_app(state), host=host, port=port, log_level="warning",
                                                     access_log=False))
        self._thread = threading.Thread(target=self._server.run, name="fake-eloverblik", daemon=True)

    def __enter__(self) -> FakeServer:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake Eloverblik server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


# -- the simulated estate ----------------------------------------------------------------------------------------------


def estate_gsrn(meter_id: str) -> str:
    """A stable 18-digit GSRN (571313… like Danish metering points) for a simulated meter id."""
    digits = str(int(hashlib.sha256(meter_id.encode()).hexdigest(), 16))[:12]
    return f"571313{digits}"


def estate_points(n_buildings: int, seed: int = 2015) -> Iterator[tuple[str, str, FakeMeteringPoint]]:
    """(building id, meter id, metering point) for each main electricity meter of the simulated estate; its hourly
    consumption is the model's truth (simulators/model.py), the same the estate's MQTT meters count."""
    from simulators import model

    for b in model.fleet(n_buildings, seed):
        for m in b.meters:
            if m.carrier != "electricity" or m.parent is not None:
                continue
            cache: dict[date, dict[datetime, float]] = {}

            def kwh(start: datetime, step: timedelta, b: model.BuildingSpec = b,
                    cache: dict[date, dict[datetime, float]] = cache) -> float:
                day = start.astimezone(TZ).date()
                hours = cache.get(day)
                if hours is None:
                    hours = {ts.astimezone(UTC): use.get("electricity", 0.0) for ts, use in model.day_use(b, day, seed)}
                    if len(cache) > 64:
                        cache.clear()
                    cache[day] = hours
                hour = start.replace(minute=0, second=0, microsecond=0)
                return hours.get(hour, 0.0) * step.total_seconds() / 3600

            yield b.id, m.id, FakeMeteringPoint(estate_gsrn(m.id), "PT1H", street=b.name,
                                                data_from=model.HISTORY_START, profile=kwh)


# a metering point of the municipality that has no meter in the estate (street lighting): the demo's unmapped one
STREET_LIGHTING = FakeMeteringPoint("571313199999999990", "PT1H", street="Ballerup Byvej", number="1")


def register_estate_twins(n_buildings: int, seed: int = 2015) -> int:
    """Register, for each main electricity meter of the estate, its DataHub twin `<meter>-dh` (interval kWh per hour,
    external_id the GSRN) as a sub-meter of it, so the demo shows the DataHub route beside MQTT without counting the
    electricity twice (a sub-meter splits its parent's use and never adds to it). Uses ENERGIBLIK_DB__URL."""
    from services.db import get_engine, pg
    from services.registry import service as registry
    from services.registry.schemas import MeterIn

    actor = registry.Actor("simulator", via="simulator")
    n = 0
    with pg(get_engine(), write=True) as conn:
        for building_id, meter_id, mp in estate_points(n_buildings, seed):
            registry.put_meter(conn, f"{meter_id}-dh", MeterIn.model_validate({
                "building_id": building_id, "carrier": "electricity", "unit": "kWh", "mode": "interval",
                "interval_minutes": 60, "external_id": mp.gsrn, "parent_meter_id": meter_id}), actor=actor)
            n += 1
    return n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8790)
    p.add_argument("--cvr", default="29189870")
    p.add_argument("--points", type=int, default=3, help="demo metering points when --estate is not given")
    p.add_argument("--estate", action="store_true",
                   default=os.environ.get("ENERGIBLIK_FAKE_ELOVERBLIK_ESTATE", "") not in ("", "0", "false"),
                   help="serve the simulated estate's electricity meters (GSRN from the meter id)")
    p.add_argument("--buildings", type=int, default=int(os.environ.get("ENERGIBLIK_SIM_BUILDINGS", "12")))
    p.add_argument("--seed", type=int, default=2015)
    p.add_argument("--register", action="store_true",
                   help="register the estate's DataHub twin meters in the database (ENERGIBLIK_DB__URL) and exit")
    a = p.parse_args()
    if a.register:
        print(f"registered {register_estate_twins(a.buildings, a.seed)} DataHub twin meters", flush=True)
        return
    refresh = os.environ.get("ENERGIBLIK_FAKE_ELOVERBLIK_REFRESH_TOKEN", "fake-refresh-token")
    state = FakeState(refresh)
    if a.estate:
        points = [mp for _, _, mp in estate_points(a.buildings, a.seed)] + [STREET_LIGHTING]
    else:
        points = [FakeMeteringPoint(f"5713131800000000{i:02d}", "PT15M" if i % 2 else "PT1H") for i in range(a.points)]
    state.add_authorization(a.cvr, points)
    print(json.dumps({"base_url": f"http://{a.host}:{a.port}/thirdpartyapi", "cvr": a.cvr,
                      "metering_points": [mp.gsrn for mp in points]}), flush=True)
    uvicorn.run(make_app(state), host=a.host, port=a.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()


__all__ = ["FakeMeteringPoint", "FakeServer", "FakeState", "estate_gsrn", "estate_points", "main", "make_app"]
