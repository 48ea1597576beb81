"""Issue 12, honest shapes, over real HTTP: /progress of a running year keeps the measured months and the whole-year
forecast apart; /consumption says what was asked and which whole periods answer it; unknown query parameters are a
422 naming them; every instant the API returns is ISO 8601 with a ±HH:MM offset in Europe/Copenhagen time."""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Engine, text

from services.alerts import repository, rules
from services.ingestion.repository import insert_dead_letters
from tests.conftest import reset_database
from tests.integration.api_helpers import Api, building_body, luminaire_body, make_token, meter_body, put_ok
from tests.integration.test_api_targets import baseline_csv, post_csv, rebuild
from tests.stack import Stack

pytest_plugins = ["tests.integration.api_fixtures"]
CPH = ZoneInfo("Europe/Copenhagen")
MONTHLY_KWH = {2025: 900.0, 2026: 800.0}  # A's electricity per local month (2015 baseline: 1,000)


def _daily_register(db: Engine, meter_id: str, until: date) -> None:
    """A register read at every local midnight from 1 January 2025 up to `until`: each month uses MONTHLY_KWH of
    its year (2027 on: as 2026), spread evenly over its days."""
    rows, value, d = [], 0.0, date(2025, 1, 1)
    while d <= until:
        rows.append({"ts": datetime(d.year, d.month, d.day, tzinfo=CPH), "v": value})
        value += MONTHLY_KWH.get(d.year, 800.0) / calendar.monthrange(d.year, d.month)[1]
        d += timedelta(days=1)
    with db.begin() as c:
        c.execute(text("INSERT INTO readings (meter_key, ts, value) SELECT key, :ts, :v FROM meters WHERE id = :id"),
                  [{**r, "id": meter_id} for r in rows])


@pytest.fixture(scope="module")
def world(api: Api, stack: Stack, engine: Engine) -> Iterator[dict[str, Any]]:
    """Building A with a daily-read electricity meter since 2025, a 2015 baseline, a luminaire, a facility manager's
    token, a dead letter and a meter-silent alert (the rule's own finding, with its instant as text)."""
    reset_database(engine)
    today = datetime.now(CPH).date()
    with api.client(api.admin_token) as admin:
        put_ok(admin, "/api/v1/buildings/A", building_body(name="A", heated_area_m2=1000))
        put_ok(admin, "/api/v1/meters/A-EL", meter_body("A"))
        put_ok(admin, "/api/v1/luminaires/L1", luminaire_body("A"))
        _daily_register(engine, "A-EL", today)
        rebuild(stack)
        r = post_csv(admin, "/api/v1/imports/baseline",
                     baseline_csv([("A", "electricity", m, 1000) for m in range(1, 13)]))
        assert r.json()["accepted"] == 12
        assert admin.post("/api/v1/buildings/A/adjustments", json={
            "kind": "other", "effective": "2020-01-01", "reason": "boiler room insulated"}).status_code == 201
        fm = make_token(admin, "facility_manager", ["A"])
    now = datetime.now(UTC)
    with engine.begin() as c:
        conn = c.connection.driver_connection
        insert_dead_letters(conn, [("energiblik/v1/buildings/A/meters/A-EL/readings", b"{", "not valid JSON", "A",
                                    "A-EL", now)])  # type: ignore[arg-type]
        last = now - timedelta(hours=30)  # as the database gives it: UTC
        f = rules.meter_silent(last, now, 15, rules.DEFAULT_PARAMS["meter_silent"])
        assert f is not None
        alert_id, _ = repository.fire(conn, repository.Key("meter_silent", "A", "A-EL"), f, now, notify=False)  # type: ignore[arg-type]
    yield {"today": today, "fm": fm, "alert_id": alert_id}


@pytest.fixture
def team(api: Api, world: dict[str, Any]) -> Iterator[httpx.Client]:
    with api.client(api.admin_token) as c:
        yield c


def _local(y: int, m: int, d: int = 1) -> str:
    return datetime(y, m, d, tzinfo=CPH).isoformat()


# ---- /progress -----------------------------------------------------------------------------------------------------

def test_progress_of_a_running_year_keeps_measured_and_forecast_apart(team: httpx.Client,
                                                                       world: dict[str, Any]) -> None:
    today: date = world["today"]
    year, k = today.year, today.month - 1  # complete months so far (on 30 November 2026: 10)
    p = team.get("/api/v1/progress", params={"year": year}).json()
    assert (p["year"], p["year_complete"], p["months_measured"]) == (year, False, k)
    assert p["period_start"] == _local(year, 1) and p["period_end"] == _local(year, today.month)
    assert p["baseline_period_start"] == _local(2015, 1) and p["baseline_period_end"] == _local(2015, today.month)
    # measured: k months of 800 against the same k months of 2015 at 1,000 -> 1 - 800/1,000 = 20 %
    # (30 November 2026: 8,000 against 10,000)
    assert (p["baseline_kwh"], p["actual_kwh"]) == (1000 * k, 800 * k)
    assert (p["baseline_normalised_kwh"], p["actual_normalised_kwh"]) == (1000 * k, 800 * k)
    if k:
        assert p["reduction_pct"] == 20.0 and p["coverage"] == 1.0
        assert p["on_track"] is True and p["required_pct"] == 15  # 20 % >= 15 % (T1: -15 % by 2025)
        assert p["verdict"] == ("on_track" if k >= 3 else "uncertain")
    # the forecast: k months measured + (12 - k) months of 2025 at 900 against the whole of 2015, 12,000
    # (30 November 2026: 8,000 + 1,800 = 9,800 -> 1 - 9,800/12,000 = 18.33 %)
    f = p["forecast"]
    whole = 800 * k + 900 * (12 - k)
    expected = round((1 - whole / 12_000) * 100, 2)
    assert (f["months_measured"], f["months_from_last_year"]) == (k, 12 - k)
    assert (f["baseline_normalised_kwh"], f["normalised_kwh"], f["reduction_pct"]) == (12_000, whole, expected)
    assert f["on_track"] is (expected >= 15) and f["coverage"] == 1.0
    a = p["buildings"][0]
    assert a["actual_kwh"] == 800 * k and a["forecast"]["normalised_kwh"] == whole
    # /targets gives the forecast as the running year's status, the measured figure beside it
    t1 = next(t for t in team.get("/api/v1/targets").json() if t["id"] == "T1")["status"]
    assert (t1["basis"], t1["value_pct"], t1["measured_pct"]) == ("forecast", expected, p["reduction_pct"])
    # the OpenAPI says what the fields mean
    schema = team.get("/api/v1/openapi.json").json()["components"]["schemas"]["ProgressOut"]["properties"]
    assert "not a forecast" in schema["reduction_pct"]["description"]
    assert "forecast.on_track" in schema["on_track"]["description"]


def test_progress_of_a_finished_year_has_no_forecast(team: httpx.Client) -> None:
    p = team.get("/api/v1/progress", params={"year": 2025}).json()
    # the whole of 2025, 12 x 900 = 10,800, against the whole of 2015, 12,000: 10 % < 15 % required
    assert (p["year_complete"], p["months_measured"], p["forecast"]) == (True, 12, None)
    assert (p["baseline_kwh"], p["actual_kwh"], p["reduction_pct"]) == (12_000, 10_800, 10.0)
    assert p["period_start"] == _local(2025, 1) and p["period_end"] == _local(2026, 1)
    assert p["on_track"] is False and p["verdict"] == "off_track"


# ---- /consumption --------------------------------------------------------------------------------------------------

def test_consumption_says_what_was_asked_and_what_answers_it(team: httpx.Client, world: dict[str, Any]) -> None:
    def get(path: str = "/api/v1/consumption", **params: str) -> dict[str, Any]:
        r = team.get(path, params=params)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    # a window inside days, over the 23-hour day of 29 March 2026: widened to the whole local days
    c = get(building_id="A", start="2026-03-29T10:30:00+02:00", end="2026-03-31T06:00:00Z")
    assert (c["requested_start"], c["requested_end"]) == ("2026-03-29T10:30:00+02:00", "2026-03-31T08:00:00+02:00")
    assert (c["start"], c["end"], c["widened"]) == ("2026-03-29T00:00:00+01:00", "2026-04-01T00:00:00+02:00", True)
    assert [p["start"] for p in c["series"]] == ["2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00",
                                                 "2026-03-31T00:00:00+02:00"]
    assert (c["unit"], c["resolution"], c["timezone"]) == ("kWh", "day", "Europe/Copenhagen")
    # whole local days asked: nothing widened
    c = get(building_id="A", start="2026-03-29", end="2026-03-31")
    assert (c["requested_start"], c["requested_end"]) == ("2026-03-29T00:00:00+01:00", "2026-03-31T00:00:00+02:00")
    assert (c["start"], c["end"], c["widened"]) == (c["requested_start"], c["requested_end"], False)
    # months: 15 February .. 10 April 2025 is answered by February, March and April, 900 kWh each
    c = get(building_id="A", start="2025-02-15", end="2025-04-10", resolution="month")
    assert (c["start"], c["end"], c["widened"]) == ("2025-02-01T00:00:00+01:00", "2025-05-01T00:00:00+02:00", True)
    assert [p["kwh"] for p in c["series"]] == [900.0, 900.0, 900.0]
    # CSV: the rows are the whole periods, the headers say what was asked
    r = team.get("/api/v1/consumption", params={"building_id": "A", "start": "2025-02-15", "end": "2025-04-10",
                                                "resolution": "month", "format": "csv"})
    rows = r.text.splitlines()
    assert rows[1].startswith("2025-02-01T00:00:00+01:00,") and rows[-1].split(",")[1] == "2025-05-01T00:00:00+02:00"
    assert r.headers["X-Energiblik-Requested-Start"] == "2025-02-15T00:00:00+01:00"
    assert r.headers["X-Energiblik-Requested-End"] == "2025-04-10T00:00:00+02:00"
    # the same on one meter
    m = get("/api/v1/meters/A-EL/consumption", start="2025-02-15", end="2025-04-10", resolution="month")
    assert (m["requested_start"], m["start"], m["end"]) == ("2025-02-15T00:00:00+01:00", c["start"], c["end"])
    # no bounds: the default span (31 days for days) up to now, widened to whole days
    c = get(building_id="A")
    rs, re_ = datetime.fromisoformat(c["requested_start"]), datetime.fromisoformat(c["requested_end"])
    assert re_ - rs == timedelta(days=31) and abs(datetime.now(UTC) - re_) < timedelta(minutes=5)
    s, e = datetime.fromisoformat(c["start"]), datetime.fromisoformat(c["end"])
    assert s <= rs and e >= re_ and (s.hour, s.minute, e.hour, e.minute) == (0, 0, 0, 0)
    assert c["series"][0]["start"] == c["start"] and c["series"][-1]["end"] == c["end"]
    # a future window given with its end: answered, nothing measured yet
    first = world["today"] + timedelta(days=2)
    c = get(building_id="A", start=first.isoformat(), end=(first + timedelta(days=1)).isoformat())
    assert [(p["kwh"], p["coverage"]) for p in c["series"]] == [(0.0, 0.0)]
    # a start in the future without an end asks for nothing: 422 naming start and end
    r = team.get("/api/v1/consumption", params={"start": first.isoformat()})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["start", "end"]
    # a century by the hour is refused before its periods are listed
    r = team.get("/api/v1/consumption", params={"start": "1950-01-01", "end": "2050-01-01", "resolution": "hour"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "resolution"


# ---- unknown query parameters --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "params", "unknown"), [
    ("GET", "/api/v1/progress", {"year": "2025", "buildng_id": "A"}, ["buildng_id"]),
    ("GET", "/api/v1/consumption", {"buildng_id": "A", "resolution": "day"}, ["buildng_id"]),
    ("GET", "/api/v1/meters", {"building": "A"}, ["building"]),
    ("GET", "/api/v1/buildings/A", {"expand": "meters"}, ["expand"]),
    ("GET", "/api/v1/meters/A-EL/readings", {"from": "2026-01-01", "to": "2026-01-02"}, ["from", "to"]),
    ("GET", "/api/v1/alerts", {"status": "active", "_": "1701"}, ["status", "_"]),
    ("GET", "/api/v1/dead-letters", {"limit": "5", "offset": "5"}, ["offset"]),
    ("GET", "/api/v1/me", {"v": "2"}, ["v"]),
    ("PUT", "/api/v1/buildings/A", {"dry_run": "true"}, ["dry_run"]),
])
def test_unknown_query_parameters_are_422_naming_them(team: httpx.Client, method: str, path: str,
                                                      params: dict[str, str], unknown: list[str]) -> None:
    body = building_body(name="renamed") if method == "PUT" else None
    r = team.request(method, path, params=params, json=body)
    assert r.status_code == 422, r.text
    out = r.json()
    assert [e["field"] for e in out["errors"]] == unknown
    assert all("unknown query parameter" in e["message"] for e in out["errors"])
    assert out["detail"].startswith("invalid input: ")


def test_unknown_parameter_hints_and_what_stays_open(api: Api, team: httpx.Client) -> None:
    r = team.get("/api/v1/progress", params={"buildng_id": "A"})
    assert "did you mean building_id?" in r.json()["errors"][0]["message"]
    assert "building_id, target, year" in r.json()["errors"][0]["message"]
    assert team.get("/api/v1/buildings/A").json()["name"] == "A"  # the refused PUT changed nothing
    # declared parameters, aliases and repeated ones pass
    assert team.get("/api/v1/alerts-digest", params={"date": "2026-01-05"}).status_code == 200
    assert team.get("/api/v1/weather-corrected", params=[("year", "2025"), ("year", "2026")]).status_code == 200
    # documentation, health and the dashboard's files are not API routes: a cache buster does no harm there
    with httpx.Client(base_url=api.base_url) as anon:
        assert anon.get("/api/v1/progress", params={"buildng_id": "A"}).status_code == 401  # a token first
        for path in ("/api/v1/openapi.json", "/docs", "/health", "/dashboard/", "/dashboard/app.js"):
            assert anon.get(path, params={"v": "1"}).status_code == 200, path


def test_repeated_parameters_and_nul_characters_are_422_naming_them(api: Api, team: httpx.Client) -> None:
    # a parameter that takes one value, given twice, would silently answer for the last one (outside review)
    r = team.get("/api/v1/consumption", params=[("building_id", "A"), ("building_id", "B")])
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["building_id"], r.text
    assert "given 2 times" in r.json()["errors"][0]["message"]
    # a NUL character reaches no database text: refused naming the parameter, not a 500
    for path, name in (("/api/v1/audit", "subject"), ("/api/v1/processing-errors", "process"),
                       ("/api/v1/consumption", "building_id")):
        r = team.get(path, params={name: "a\x00b"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == name, (path, r.text)
    # and in a JSON body that no rule checks first: 422, nothing stored
    with api.client(api.admin_token) as admin:
        before = admin.get("/api/v1/targets").json()
        t1 = next(t for t in before if t["id"] == "T1")
        body = {k: t1[k] for k in ("name", "metric", "building_group", "baseline_year", "target_year",
                                   "reduction_pct", "description") if k in t1}
        r = admin.put("/api/v1/targets/T1", json={**body, "name": "a\u0000b"})
        assert r.status_code == 422 and "NUL" in r.text, r.text
        assert next(t for t in admin.get("/api/v1/targets").json() if t["id"] == "T1")["name"] == t1["name"]
        r = admin.post("/api/v1/buildings/A/adjustments",
                       json={"kind": "other", "effective": "2025-01-01", "reason": "abc\u0000"})
        assert r.status_code == 422 and "NUL" in r.text, r.text
        # reading the audit log is refused to a facility manager with a message about reading, not changing
        with api.client(make_token(admin, "facility_manager", ["A"])) as fm:
            r = fm.get("/api/v1/audit", params={"subject": "buildings/A"})
            assert r.status_code == 403 and "read the audit log" in r.text, r.text
    # a fossil trend from a baseline year after the last complete one: a 422 naming it, not an IndexError (500)
    for year in ("2026", "2100"):
        r = team.get("/api/v1/fossil", params={"baseline_year": year})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "baseline_year", r.text
    # water is never weather-corrected energy: a 422 naming carrier, not a series labelled kWh
    r = team.get("/api/v1/weather-corrected", params={"carrier": "water"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "carrier", r.text


# ---- instants ------------------------------------------------------------------------------------------------------

STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[Zz]|[+-]\d{2}(?::?\d{2}){0,2})?")
ISO_LOCAL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?\+0[12]:00")
RAW_FIELDS = {"payload", "payload_base64"}  # bytes as a meter sent them


def _stamps(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """(where, text) of every timestamp-looking text in a JSON value, inside longer texts too."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k not in RAW_FIELDS:
                yield from _stamps(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _stamps(v, f"{where}[{i}]")
    elif isinstance(value, str):
        for m in STAMP.finditer(value):
            yield where, m.group(0)


def test_every_instant_is_iso_with_a_local_offset(api: Api, team: httpx.Client, world: dict[str, Any]) -> None:
    year = world["today"].year
    paths = [
        "/buildings", "/buildings/A", "/buildings/A/area-history", "/buildings/A/adjustments", "/meters",
        "/meters/A-EL", "/meters/A-EL/readings?start=2025-03-01&end=2025-03-03", "/meters/A-EL/revisions",
        "/meters/A-EL/decisions", "/meters/A-EL/consumption?start=2025-03-01&end=2025-03-03",
        "/consumption?start=2025-01-01&end=2025-03-01&resolution=month", "/consumption?building_id=A&resolution=hour",
        "/luminaires", "/luminaires/L1", "/luminaires/L1/telemetry", f"/progress?year={year}", "/progress?year=2025",
        "/targets", "/baseline", "/baseline/imports", "/baseline/missing", "/audit", "/degree-days",
        "/settings/normal-year", "/dead-letters", "/quarantine", "/processing-errors", "/operations/ingest",
        "/tokens", "/alerts", f"/alerts/{world['alert_id']}", "/alerts-digest", "/alerts-digests", "/alert-rules",
        "/led", "/fossil", "/labels?year=2025", "/co2?year=2025", "/co2-factors", "/green-accounts?year=2025",
        "/weather-corrected?building_id=A", "/meter-status", "/me", "/buildings/A/history", "/meters/A-EL/history",
        "/luminaires/L1/history", "/settings/default-hot-water-share",
    ]
    found: dict[str, list[str]] = {}
    for path in paths:
        r = team.get(f"/api/v1{path}")
        assert r.status_code == 200, f"{path}: {r.text}"
        for where, stamp in _stamps(r.json()):
            found.setdefault(f"{path}{where}", []).append(stamp)
    bad = {k: v for k, v in found.items() if any(not ISO_LOCAL.fullmatch(s) for s in v)}
    assert bad == {}
    # not vacuous: the instants named in the issue are among them
    keys = " ".join(found)
    for name in ("/tokens[0].created_at", "/dead-letters[0].received_at", ".first_seen", ".last_seen",
                 ".detail.last_reading", f"/progress?year={year}.period_end", "/buildings[0].created_at",
                 "/meters/A-EL/readings?start=2025-03-01&end=2025-03-03.readings[0].ts", ".requested_start"):
        assert name in keys, name
    # a facility manager's view of the same kinds of answers
    with api.client(world["fm"]) as fm:
        for path in ("/alerts", "/buildings/A", "/me"):
            for _, stamp in _stamps(fm.get(f"/api/v1{path}").json()):
                assert ISO_LOCAL.fullmatch(stamp), (path, stamp)


def test_messages_about_instants_use_iso_offsets(team: httpx.Client) -> None:
    # before 1894 Copenhagen's offset was local mean time, +00:50:20: the message repeats the date instead
    r = team.get("/api/v1/consumption", params={"start": "1850-01-01", "end": "2026-01-01"})
    assert r.status_code == 422
    msg = r.json()["errors"][0]["message"]
    assert msg == "1850-01-01 is outside the years 1900-2200" and "+00:50" not in r.text
    # an instant given in UTC is said back in local time
    r = team.get("/api/v1/meters/A-EL/readings", params={"start": "2026-01-02T00:00:00Z", "end": "2026-01-01"})
    assert r.status_code == 422 and "2026-01-02T01:00:00+01:00" in r.json()["errors"][0]["message"]
