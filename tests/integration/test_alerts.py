"""Alerts end to end: evaluation against stored data, no duplicates, automatic resolution, states and roles over
HTTP, building counts, digests, and webhook delivery retried against a real local HTTP receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
from sqlalchemy import Engine, text

from services.alerts import repository
from services.alerts.rules import Finding
from services.alerts.service import evaluate
from services.db import libpq_dsn
from tests.integration.api_helpers import Api, building_body, make_token, meter_body, put_ok
from tests.integration.harness import wait_for
from tests.stack import REPO, Stack

pytest_plugins = ["tests.integration.api_fixtures"]
CPH = ZoneInfo("Europe/Copenhagen")


def run_evaluation(stack: Stack, now: datetime) -> tuple[int, int, int]:
    with psycopg.connect(libpq_dsn(stack.db_url)) as conn, conn.transaction():
        out = evaluate(conn, now, CPH)
    return out.opened, out.repeated, out.resolved


def reading(db: Engine, meter_id: str, ts: datetime, value: float) -> None:
    with db.begin() as c:
        c.execute(text("INSERT INTO readings (meter_key, ts, value) SELECT key, :ts, :v FROM meters WHERE id = :id"),
                  {"ts": ts, "v": value, "id": meter_id})


def test_silent_meter_opens_once_resolves_itself_and_is_handled_over_http(
        api: Api, admin: httpx.Client, stack: Stack, db: Engine) -> None:
    put_ok(admin, "/api/v1/buildings/B1", building_body())
    put_ok(admin, "/api/v1/buildings/B2", building_body())
    put_ok(admin, "/api/v1/meters/M1", meter_body("B1", mode="interval", interval_minutes=15))
    now = datetime.now(UTC).replace(microsecond=0)
    reading(db, "M1", now - timedelta(hours=5), 100.0)
    assert run_evaluation(stack, now)[0] == 1
    assert run_evaluation(stack, now) == (0, 0, 0)  # no duplicate from a rule that keeps firing
    alerts = admin.get("/api/v1/alerts", params={"building_id": "B1"}).json()
    assert len(alerts) == 1
    a = alerts[0]
    assert (a["rule"], a["subject"], a["state"], a["occurrences"]) == ("meter_silent", "M1", "open", 1)
    listed = {b["id"]: b["open_alerts"] for b in admin.get("/api/v1/buildings").json()}
    assert listed == {"B1": 1, "B2": 0}
    # roles: a facility manager of B2 cannot see it; a viewer cannot handle it; B1's manager acknowledges
    with api.client(make_token(admin, "facility_manager", ["B2"])) as other:
        assert other.get(f"/api/v1/alerts/{a['id']}").status_code == 404
        assert other.get("/api/v1/alerts").json() == []
        assert other.get("/api/v1/alerts", params={"building_id": "B1"}).status_code == 404
        refused = other.get("/api/v1/alerts-digests")
        assert refused.status_code == 403 and "digest" in refused.json()["detail"]
        assert other.post(f"/api/v1/alerts/{a['id']}/acknowledge").status_code == 404
    with api.client(make_token(admin, "viewer")) as viewer:
        assert viewer.get(f"/api/v1/alerts/{a['id']}").status_code == 200
        assert viewer.post(f"/api/v1/alerts/{a['id']}/acknowledge").status_code == 403
    with api.client(make_token(admin, "facility_manager", ["B1"])) as fm:
        ack = fm.post(f"/api/v1/alerts/{a['id']}/acknowledge", json={"note": "calling the electrician"})
        assert ack.status_code == 200 and ack.json()["state"] == "acknowledged"
        again = fm.post(f"/api/v1/alerts/{a['id']}/acknowledge")
        assert again.status_code == 422 and again.json()["errors"][0]["field"] == "state"
        digest = fm.get("/api/v1/alerts-digest", params={"date": now.astimezone(CPH).date().isoformat()}).json()
        assert [x["id"] for x in digest["new"]] == [a["id"]] and digest["recipient"] == "test facility_manager"
        page = fm.get("/api/v1/alerts-digest", params={"format": "html",
                                                        "date": now.astimezone(CPH).date().isoformat()})
        assert page.headers["content-type"].startswith("text/html") and "Still active (1" in page.text
    digests = admin.get("/api/v1/alerts-digests").json()
    assert {d["recipient"] for d in digests} == {"test facility_manager"} and len(digests) == 2
    # the meter reports again: the alert resolves by itself, with its history
    reading(db, "M1", now - timedelta(minutes=5), 101.0)
    assert run_evaluation(stack, now)[2] == 1
    done = admin.get(f"/api/v1/alerts/{a['id']}").json()
    assert done["state"] == "resolved" and done["resolved_by"] == "energiblik"
    assert [e["kind"] for e in done["events"]] == ["opened", "acknowledged", "resolved"]
    assert admin.get("/api/v1/alerts", params={"state": "active"}).json() == []
    bad = admin.get("/api/v1/alerts", params={"state": "closed"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "state"
    for params, field in (({"since": "garbage"}, "since"), ({"until": "garbage"}, "until")):
        r = admin.get("/api/v1/alerts", params=params)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field
    for path in ("/api/v1/alerts-digest", "/api/v1/alerts-digests"):
        r = admin.get(path, params={"date": "0001-01-01"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "date"
    assert admin.get("/api/v1/alerts/999999").status_code == 404


def test_a_period_judged_again_after_its_alert_resolved_opens_nothing(admin: httpx.Client, stack: Stack) -> None:
    # each evaluation judges the last three days again: a day that fired while the last day is normal opened an
    # alert and resolved it in the same evaluation, and then again every minute (a new alert, two webhooks each time)
    put_ok(admin, "/api/v1/buildings/B1", building_body())
    now = datetime.now(UTC)
    key = repository.Key("lights_out_of_hours", "B1", "")
    friday = Finding(period="2026-11-27", title="lights on outside opening hours on 2026-11-27", wasted_kwh=1.5)
    with psycopg.connect(libpq_dsn(stack.db_url)) as conn, conn.transaction():
        assert repository.fire(conn, key, friday, now)[1] == "opened"
        assert repository.clear(conn, key, "no lights out of hours on 2026-11-29", now) is not None
        assert repository.fire(conn, key, friday, now)[1] == "unchanged"  # the next minute's evaluation
        assert repository.clear(conn, key, "no lights out of hours on 2026-11-29", now) is None
        # also after a resolution by hand; a new period opens a new alert
        monday = Finding(period="2026-11-30", title="lights on outside opening hours on 2026-11-30", wasted_kwh=2.0)
        opened = repository.fire(conn, key, monday, now)
        assert opened[1] == "opened"
        repository.change_state(conn, opened[0], "resolved", actor="test", note="switched off", now=now)
        assert repository.fire(conn, key, monday, now)[1] == "unchanged"
    alerts = admin.get("/api/v1/alerts", params={"building_id": "B1"}).json()
    assert sorted((a["state"], a["wasted_kwh"]) for a in alerts) == [("resolved", 1.5), ("resolved", 2.0)]


def test_counter_anomaly_and_rules_as_data(admin: httpx.Client, api: Api, stack: Stack, db: Engine) -> None:
    put_ok(admin, "/api/v1/buildings/B1", building_body())
    put_ok(admin, "/api/v1/meters/M1", meter_body("B1"))
    now = datetime.now(UTC)
    with db.begin() as c:
        c.execute(text("INSERT INTO consumption_decisions (meter_key, ts, kind, value, reference, detail) "
                       "SELECT key, :ts, 'reset', 3, 1002, 'register fell from 1002 to 3' FROM meters WHERE id='M1'"),
                  {"ts": now - timedelta(hours=2)})
    reading(db, "M1", now, 3.0)  # keeps meter_silent quiet
    assert run_evaluation(stack, now)[0] == 1
    a = admin.get("/api/v1/alerts", params={"rule": "counter_anomaly"}).json()[0]
    assert a["severity"] == "critical" and "reset" in a["title"]
    # switch the rule off for this building: a new decision opens nothing
    r = admin.put("/api/v1/alert-rules", json={"rule": "counter_anomaly", "building_id": "B1", "enabled": False})
    assert r.status_code == 200
    admin.post(f"/api/v1/alerts/{a['id']}/resolve", json={"note": "meter replaced"})
    assert run_evaluation(stack, now) == (0, 0, 0)
    bad = admin.put("/api/v1/alert-rules", json={"rule": "night_baseload", "params": {"margin": 5}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "params.margin"
    bad = admin.put("/api/v1/alert-rules", json={"rule": "night_baseload", "params": {"margin_pct": "x"}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "params.margin_pct"
    ok = admin.put("/api/v1/alert-rules", json={"rule": "night_baseload", "building_type": "school",
                                                "params": {"margin_pct": 50}})
    assert ok.json()["params"] == {"school_holidays": True, "margin_pct": 50}
    # what the OpenAPI document declares per rule is what is checked: 50.0 is the count 50, kinds are the rule's own
    ok = admin.put("/api/v1/alert-rules", json={"rule": "night_baseload", "building_type": "school",
                                                "params": {"margin_pct": 40.0}})
    assert ok.status_code == 200 and ok.json()["params"]["margin_pct"] == 40
    assert type(ok.json()["params"]["margin_pct"]) is int
    bad = admin.put("/api/v1/alert-rules", json={"rule": "counter_anomaly", "params": {"kinds": ["reset", "leak"]}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "params.kinds"
    ok = admin.put("/api/v1/alert-rules", json={"rule": "night_baseload", "building_type": "school",
                                                "params": {"margin_pct": 50}})
    rules = admin.get("/api/v1/alert-rules").json()
    assert any(x["rule"] == "counter_anomaly" and x["building_id"] == "B1" and not x["enabled"] for x in rules)
    # a facility manager of another building sees the defaults and type rows, not B1's own rows
    put_ok(admin, "/api/v1/buildings/B2", building_body())
    with api.client(make_token(admin, "facility_manager", ["B2"])) as fm:
        theirs = fm.get("/api/v1/alert-rules").json()
    assert {x["building_id"] for x in theirs} == {None}
    assert len(theirs) == len([x for x in rules if x["building_id"] is None])


def test_rule_parameters_within_their_ranges_and_a_bad_stored_row_is_survived(
        admin: httpx.Client, stack: Stack, db: Engine) -> None:
    """Issue 14: every parameter has a declared range, enabled is a JSON boolean, and a stored row with a value out
    of range (written before the ranges, or by hand) neither crashes the evaluator nor is read."""
    put_ok(admin, "/api/v1/buildings/B1", building_body())
    put_ok(admin, "/api/v1/meters/M1", meter_body("B1"))
    refused = [
        ({"rule": "night_baseload", "building_id": "B1", "params": {"window_days": 0, "min_days": 0}},
         "params.window_days"),
        ({"rule": "meter_silent", "building_id": "B1", "params": {"intervals": 0}}, "params.intervals"),
        ({"rule": "above_baseline", "params": {"month_margin_pct": 1e20}}, "params.month_margin_pct"),
        ({"rule": "dh_cooling", "params": {"max_return_c": 500}}, "params.max_return_c"),
        ({"rule": "night_baseload", "params": {"min_kwh": True}}, "params.min_kwh"),
        ({"rule": "counter_anomaly", "params": {"kinds": []}}, "params.kinds"),
        ({"rule": "meter_silent", "enabled": "yes"}, "enabled"),
        ({"rule": "meter_silent", "enabled": "off"}, "enabled"),
        ({"rule": "meter_silent", "enabled": 0}, "enabled"),
    ]
    for body, field in refused:
        r = admin.put("/api/v1/alert-rules", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["errors"][0]["field"] == field, (body, r.text)
    ok = admin.put("/api/v1/alert-rules", json={"rule": "night_baseload", "building_id": "B1",
                                                "params": {"window_days": 366, "min_days": 1, "margin_pct": 0}})
    assert ok.status_code == 200
    # a building type is the registry's free text: a type no building has yet is kept, for when one is registered
    assert admin.put("/api/v1/alert-rules", json={"rule": "night_baseload", "building_type": "castle",
                                                  "params": {"margin_pct": 60}}).status_code == 200
    with db.begin() as c:  # rows the API refuses today, stored earlier
        c.execute(text("UPDATE alert_rules SET params = '{\"window_days\": 0, \"min_days\": 0}' "
                       "WHERE rule = 'night_baseload' AND building_id = 'B1'"))
        c.execute(text("INSERT INTO alert_rules (rule, building_id, params) "
                       "VALUES ('meter_silent', 'B1', '{\"intervals\": 0}')"))
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    reading(db, "M1", now - timedelta(minutes=90), 1.0)  # 1.5 h silent: fires only with the intervals of 0
    for _ in range(2):
        run_evaluation(stack, now)
    with db.begin() as c:
        errors = c.execute(text("SELECT item, error FROM processing_errors WHERE process = 'alerts' ORDER BY id")
                           ).fetchall()
    # the rules ran (nothing failed for B1), and each bad value was reported once, not every evaluation
    assert [e.item for e in errors] == ["alert rule parameters"] * 3, errors
    assert any("window_days=0" in e.error and "B1" in e.error for e in errors)
    assert admin.get("/api/v1/alerts", params={"rule": "meter_silent"}).json() == []


class Receiver:
    """A real local HTTP endpoint that fails the first `fail` requests with 500."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.requests: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((dict(self.headers), body))
                code = 500 if len(outer.requests) <= outer.fail else 200
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail=2)
    yield r
    r.server.shutdown()


def test_webhook_is_signed_and_retried_until_delivered(admin: httpx.Client, stack: Stack, db: Engine,
                                                       receiver: Receiver) -> None:
    put_ok(admin, "/api/v1/buildings/B1", building_body())
    put_ok(admin, "/api/v1/meters/M1", meter_body("B1", mode="interval", interval_minutes=15))
    reading(db, "M1", datetime.now(UTC) - timedelta(hours=3), 1.0)
    env = {**os.environ, **stack.env, "ENERGIBLIK_ALERTS__WEBHOOK_URL": receiver.url,
           "ENERGIBLIK_ALERTS__WEBHOOK_SECRET": "s3cret", "ENERGIBLIK_ALERTS__INTERVAL_S": "0.5",
           "ENERGIBLIK_ALERTS__WEBHOOK_BACKOFF_S": "0.2", "ENERGIBLIK_LOG_JSON": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "ingest.alerts"], cwd=REPO, env=env)
    try:
        wait_for(lambda: any(b"alert.opened" in body for _, body in receiver.requests[2:]), timeout=30,
                 what="webhook delivered after two failures")
    finally:
        proc.terminate()
        assert proc.wait(15) == 0
    headers, body = receiver.requests[2]
    assert headers["X-Energiblik-Signature"] == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Energiblik-Event"] == "alert.opened"
    payload = json.loads(body)
    assert payload["alert"]["rule"] == "meter_silent" and payload["alert"]["building_id"] == "B1"
    assert [b for _, b in receiver.requests[:3]] == [body] * 3  # the same delivery, retried
    with db.connect() as c:
        row = c.execute(text("SELECT attempts, delivered_at IS NOT NULL, last_error FROM webhook_deliveries")).one()
    assert row[0] == 3 and row[1] is True and row[2] is None


def test_evaluator_on_stored_rollups_telemetry_and_heat(admin: httpx.Client, stack: Stack, db: Engine) -> None:
    """The rules judge what the product stores: hourly rollups (local hours), luminaire telemetry, heat meters."""
    put_ok(admin, "/api/v1/buildings/B1", building_body(
        type="office", opening_hours={d: ["07:00-16:00"] for d in ("mon", "tue", "wed", "thu", "fri")}))
    put_ok(admin, "/api/v1/meters/EL", meter_body("B1"))
    put_ok(admin, "/api/v1/meters/DH", meter_body("B1", carrier="district_heating", unit="MWh"))
    put_ok(admin, "/api/v1/luminaires/L1", {"building_id": "B1", "technology": "led", "rated_power_w": 20.0})
    day = datetime(2025, 11, 19, tzinfo=CPH)  # a Wednesday; the 14 days before it set the normal
    with db.begin() as c:
        # a register: 2 kWh in each closed hour, 10 in each open hour; 3 kWh in the closed hours of the 19th
        c.execute(text("""
            INSERT INTO readings (meter_key, ts, value)
            SELECT (SELECT key FROM meters WHERE id = 'EL'), t,
                   sum(CASE WHEN extract(isodow FROM (t - interval '1 hour') AT TIME ZONE 'Europe/Copenhagen') <= 5
                             AND extract(hour FROM (t - interval '1 hour') AT TIME ZONE 'Europe/Copenhagen')
                                 BETWEEN 7 AND 15 THEN 10
                            WHEN t > :day THEN 3 ELSE 2 END) OVER (ORDER BY t)
            FROM generate_series(CAST(:start AS timestamptz), CAST(:end AS timestamptz), interval '1 hour') t"""),
                  {"start": day - timedelta(days=14), "end": day + timedelta(days=1), "day": day})
        c.execute(text("INSERT INTO luminaire_telemetry (luminaire_key, ts, power_w, is_on) "
                       "SELECT (SELECT key FROM luminaires WHERE id = 'L1'), t, CASE WHEN h IN (18, 19) THEN 20 "
                       "ELSE 0 END, h IN (18, 19) FROM generate_series(0, 23) h, "
                       "LATERAL (SELECT CAST(:day AS timestamptz) + h * interval '1 hour' AS t) x"), {"day": day})
        c.execute(text("INSERT INTO heat_telemetry (meter_key, ts, flow_c, return_c) "
                       "SELECT (SELECT key FROM meters WHERE id = 'DH'), CAST(:day AS timestamptz) + "
                       "h * interval '1 hour', 70, 48 FROM generate_series(0, 23) h"), {"day": day})
    rebuild = [sys.executable, "-m", "services.cli", "rollups", "rebuild"]
    subprocess.run(rebuild, cwd=REPO, env=stack.env, check=True, stdout=subprocess.DEVNULL)
    now = (day + timedelta(days=1, hours=6)).astimezone(UTC)
    with psycopg.connect(libpq_dsn(stack.db_url)) as conn, conn.transaction():
        evaluate(conn, now, CPH, days_back=1)
    found = {a["rule"]: a for a in admin.get("/api/v1/alerts", params={"building_id": "B1"}).json()}
    # 15 closed hours at 3 kW against a normal of 2 kW: (3 - 2) x 15 = 15 kWh
    base = found["night_baseload"]
    assert base["wasted_kwh"] == pytest.approx(15.0) and base["detail"]["normal_kw"] == pytest.approx(2.0)
    # L1 at 20 W from 18:00 to 20:00: 0.04 kWh
    assert found["lights_out_of_hours"]["wasted_kwh"] == pytest.approx(0.04)
    assert found["dh_cooling"]["subject"] == "DH" and found["dh_cooling"]["detail"]["mean_return_c"] == 48.0
    assert "meter_silent" in found  # no live readings
