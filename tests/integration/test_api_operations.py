"""Operator endpoints and after-commit work: dead letters, quarantine and its replay, broker credentials, health."""

from __future__ import annotations

import base64
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import Engine, text

from services.broker.service import building_identity
from services.config import get_settings
from services.registry.service import sync_broker_credentials
from tests.integration.api_helpers import building_body, luminaire_body, meter_body, put_ok
from tests.stack import Stack

pytest_plugins = ["tests.integration.api_fixtures"]


def test_dead_letters_show_payload_as_text_and_base64(admin: httpx.Client, db: Engine) -> None:
    old = datetime.now(UTC) - timedelta(days=3)
    with db.begin() as conn:
        conn.execute(
            text("""
            INSERT INTO dead_letters (received_at, topic, payload, reason, building_id, device_id) VALUES
                (:old, 'energiblik/v1/buildings/b1/meters/m1/readings', :p1, 'value: not a number', 'b1', 'm1'),
                (now(), 'energiblik/v1/garbage', :p2, 'topic: not under the wire contract', NULL, NULL)
        """),
            {"old": old, "p1": b'{"ts": "x", "value": "y"}', "p2": b"\xff\xfe\x00binary"},
        )
    r = admin.get("/api/v1/dead-letters")
    assert r.status_code == 200, r.text
    newest, oldest = r.json()
    assert newest["topic"] == "energiblik/v1/garbage"
    assert newest["payload"] is None  # not UTF-8
    assert base64.b64decode(newest["payload_base64"]) == b"\xff\xfe\x00binary"
    assert oldest["payload"] == '{"ts": "x", "value": "y"}'
    assert (oldest["reason"], oldest["building_id"], oldest["device_id"]) == ("value: not a number", "b1", "m1")

    since = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    assert [d["topic"] for d in admin.get("/api/v1/dead-letters", params={"since": since}).json()] == [
        "energiblik/v1/garbage"
    ]
    assert len(admin.get("/api/v1/dead-letters", params={"limit": 1}).json()) == 1
    r = admin.get("/api/v1/dead-letters", params={"since": "last week"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "since"


def _quarantine(db: Engine, kind: str, building: str, device: str, payload: bytes, topic: str | None = None) -> None:
    path = {"meter": f"meters/{device}/readings", "luminaire": f"luminaires/{device}/telemetry"}[kind]
    with db.begin() as conn:
        conn.execute(
            text("""
                INSERT INTO quarantine (topic, kind, building_id, device_id, payload)
                VALUES (:topic, :kind, :b, :d, :p)
            """),
            {
                "topic": topic or f"energiblik/v1/buildings/{building}/{path}",
                "kind": kind,
                "b": building,
                "d": device,
                "p": payload,
            },
        )


def test_quarantine_lists_pending_messages(admin: httpx.Client, db: Engine) -> None:
    _quarantine(db, "meter", "b1", "m9", b'{"ts": "2026-01-01T00:00:00Z", "value": 1}')
    _quarantine(db, "luminaire", "b1", "l9", b'{"ts": "2026-01-01T00:00:00Z", "power_w": 5}')
    with db.begin() as conn:
        conn.execute(text("UPDATE quarantine SET replayed_at = now() WHERE device_id = 'l9'"))
    r = admin.get("/api/v1/quarantine")
    assert r.status_code == 200, r.text
    assert [(q["kind"], q["building_id"], q["device_id"]) for q in r.json()] == [("meter", "b1", "m9")]
    assert r.json()[0]["topic"] == "energiblik/v1/buildings/b1/meters/m9/readings"


def test_registering_a_device_replays_its_quarantined_messages(admin: httpx.Client, db: Engine) -> None:
    pytest.importorskip("services.ingestion.service", reason="the ingest pipeline offers the replay")
    put_ok(admin, "/api/v1/buildings/b1", building_body())
    _quarantine(
        db,
        "meter",
        "b1",
        "m9",
        b'[{"ts": "2026-01-01T00:00:00Z", "value": 1}, {"ts": "2026-01-01T01:00:00Z", "value": 2.5}]',
    )
    _quarantine(db, "luminaire", "b1", "l9", b'{"ts": "2026-01-01T00:00:00Z", "power_w": 5, "on": true}')

    r = admin.put("/api/v1/meters/m9", json=meter_body("b1"))
    assert r.status_code == 201, r.text
    assert r.json()["replayed_quarantined"] == 1
    page = admin.get("/api/v1/meters/m9/readings", params={"start": "2026-01-01", "end": "2026-01-02"}).json()
    assert [x["value"] for x in page["readings"]] == [1.0, 2.5]

    r = admin.put("/api/v1/luminaires/l9", json=luminaire_body("b1"))
    assert r.status_code == 201, r.text
    assert r.json()["replayed_quarantined"] == 1
    tel = admin.get("/api/v1/luminaires/l9/telemetry", params={"start": "2026-01-01", "end": "2026-01-02"}).json()
    assert [(p["power_w"], p["on"]) for p in tel["telemetry"]] == [(5.0, True)]
    assert admin.get("/api/v1/quarantine").json() == []
    # Registering again finds nothing left to replay.
    assert admin.put("/api/v1/meters/m9", json=meter_body("b1")).json()["replayed_quarantined"] == 0


def _broker_accepts(stack: Stack, username: str, password: str) -> bool:
    result: list[bool] = []
    done = threading.Event()

    def on_connect(
        client: mqtt.Client, userdata: object, flags: object, reason: mqtt.ReasonCode, props: object
    ) -> None:
        result.append(not reason.is_failure)
        done.set()

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.username_pw_set(username, password)
    c.on_connect = on_connect
    c.connect(stack.mqtt_host, stack.mqtt_port)
    c.loop_start()
    try:
        done.wait(5)
    finally:
        c.disconnect()
        c.loop_stop()
    return bool(result and result[0])


def test_new_building_gets_working_broker_credentials(admin: httpx.Client, stack: Stack, db: Engine) -> None:
    ident = building_identity(stack.broker_secret, "brk-1")
    # Files left by an earlier run may still know brk-1: write them from the empty registry first.
    assert sync_broker_credentials(db, get_settings()) == 0
    assert not _broker_accepts(stack, ident.username, ident.password)
    put_ok(admin, "/api/v1/buildings/brk-1", building_body())
    # The broker reloads its files on SIGHUP, asynchronously.
    deadline = time.monotonic() + 10
    while not _broker_accepts(stack, ident.username, ident.password):
        assert time.monotonic() < deadline, "the broker never accepted the new building's credentials"
        time.sleep(0.2)
    assert not _broker_accepts(stack, ident.username, "wrong password")


def test_processing_errors_are_listed_for_operators_only(admin: httpx.Client, api: object, db: Engine,
                                                          stack: Stack) -> None:
    import psycopg

    from services.boundary import one_item
    from services.db import libpq_dsn
    from tests.integration.api_helpers import make_token

    def bug() -> None:
        raise ArithmeticError("planted")

    with psycopg.connect(libpq_dsn(stack.db_url)) as conn, conn.transaction():
        assert one_item(conn, "rollups", "meter_key 7", bug) is False
        assert one_item(conn, "alerts", "night_baseload building b1", lambda: None) is True
    r = admin.get("/api/v1/processing-errors")
    assert r.status_code == 200, r.text
    assert [(e["process"], e["item"], e["error"]) for e in r.json()] == [
        ("rollups", "meter_key 7", "ArithmeticError: planted")]
    assert admin.get("/api/v1/processing-errors", params={"process": "alerts"}).json() == []
    viewer = api.client(make_token(admin, "viewer"))  # type: ignore[attr-defined]
    assert viewer.get("/api/v1/processing-errors").status_code == 403
