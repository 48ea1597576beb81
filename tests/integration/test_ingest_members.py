"""No stranded share: a worker of the share group that dies and never returns is reported by the survivors, and
`energiblik ingest reclaim` stores what the broker kept for it, exactly once, and ends its session.

Real Mosquitto and TimescaleDB; the workers are processes killed with SIGKILL.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import orjson
from sqlalchemy import Engine, text

from tests.integration.api_helpers import make_token
from tests.integration.harness import (
    WorkerProcess,
    Workers,
    add_building,
    add_meter,
    building_publisher,
    reading_topic,
    scalar,
    sync_broker,
    wait_for,
)
from tests.stack import REPO, Stack

pytest_plugins = ["tests.integration.api_fixtures"]

T0 = datetime(2025, 3, 1, tzinfo=UTC)
# Heartbeats every half second and a member gone after 3 s, so that the test does not wait half a minute.
FAST = {"ENERGIBLIK_MEMBERS__HEARTBEAT_S": "0.5", "ENERGIBLIK_MEMBERS__STALE_AFTER_S": "3"}


def publish(stack: Stack, first: int, n: int) -> None:
    pub = building_publisher(stack, "B1")
    topic = reading_topic("B1", "M0")
    for i in range(first, first + n):
        pub.publish(topic, orjson.dumps({"ts": (T0 + timedelta(minutes=15 * i)).isoformat(), "value": float(i)}))
    pub.close()  # every message acknowledged by the broker


def stored(db: Engine) -> int:
    return int(scalar(db, "SELECT count(*) FROM readings"))


def member(db: Engine, client_id: str) -> dict[str, object]:
    with db.connect() as c:
        row = c.execute(text("SELECT * FROM ingest_members WHERE client_id = :c"), {"c": client_id}).mappings().one()
    return dict(row)


def reclaim(stack: Stack, client_id: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.cli", "ingest", "reclaim", client_id, *extra],
                          check=False, cwd=REPO, env={**stack.env, **FAST}, capture_output=True, text=True,
                          timeout=120)


def health(port: int) -> dict[str, object]:
    out: dict[str, object] = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
    return out


def test_dead_member_is_reported_stranded_and_reclaim_stores_its_share_exactly_once(
        stack: Stack, db: Engine, workers: Workers) -> None:
    add_building(db, "B1")
    add_meter(db, "M0", "B1")
    sync_broker(stack)
    alive = workers.start("w1", **FAST)
    dead = workers.start("w2", **FAST)
    wait_for(lambda: health(alive.metrics_port)["share_group_members"] == {"connected": 2}, timeout=20,
             what="both members connected")

    dead.kill()
    n = 2000
    publish(stack, 0, n)
    # The survivor stores its half; the other half waits in the dead member's session, and the survivor says so.
    wait_for(lambda: [m["client_id"] for m in health(alive.metrics_port)["stranded_members"]] == [dead.client_id],
             timeout=20, what="dead member reported as stranded")
    assert alive.metric(f'energiblik_ingest_stranded_member_seconds{{client_id="{dead.client_id}"}}') >= 3
    assert alive.metric('energiblik_ingest_share_members{state="stranded"}') == 1
    # Mosquitto's $SYS totals reach the survivor's health, metrics and member row (no per-session numbers exist).
    # Mosquitto republishes them every sys_interval (10 s by default).
    wait_for(lambda: (health(alive.metrics_port)["broker"] or {}).get("clients/disconnected", 0) >= 1, timeout=25,
             what="$SYS: a disconnected persistent session")
    # The totals arrive as separate $SYS messages: wait for this one too (a loaded machine delivers them apart).
    wait_for(lambda: _has_metric(alive, 'energiblik_broker_sys{topic="store/messages/count"}'), timeout=25,
             what="$SYS: the broker's stored-message count")
    assert alive.metric('energiblik_broker_sys{topic="store/messages/count"}') >= 0
    wait_for(lambda: stored(db) > 0, timeout=20, what="the survivor storing its share")

    # A running worker is not taken over without --force.
    refused = reclaim(stack, alive.client_id)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "is running" in refused.stdout

    done = reclaim(stack, dead.client_id)
    assert done.returncode == 0, done.stdout + done.stderr
    wait_for(lambda: stored(db) == n, timeout=30, what="all readings stored")
    # What the broker routed to the survivor, and (the rest) what it had kept for the dead member's session.
    survivor_share = int(alive.metric("energiblik_ingest_messages_received"))
    assert 0 < survivor_share < n, "the broker did not split the stream; the test proves nothing"
    assert f"{n - survivor_share} messages stored" in done.stdout, done.stdout
    assert scalar(db, "SELECT count(*) FROM readings WHERE value <> "
                      "extract(epoch FROM ts - '2025-03-01T00:00:00Z') / 900") == 0
    assert scalar(db, "SELECT count(*) FROM reading_revisions") == 0
    row = member(db, dead.client_id)
    assert row["retired_by"] == "energiblik ingest reclaim"
    assert row["retired_at"] is not None
    assert row["drained_messages"] == n - survivor_share
    wait_for(lambda: health(alive.metrics_port)["stranded_members"] == [], timeout=10, what="no stranded member")

    # The session is gone: the whole stream now reaches the survivor, nothing waits for the retired member.
    publish(stack, n, 500)
    wait_for(lambda: stored(db) == n + 500, timeout=30, what="the next 500 all stored by the survivor")
    assert alive.stop() == 0
    assert member(db, alive.client_id)["stopped_at"] is not None


def test_operations_view_lists_members_and_the_stranded_ones(admin: httpx.Client, db: Engine, api: object) -> None:
    now = "now()"
    with db.begin() as c:
        c.execute(text(f"""
            INSERT INTO ingest_members (client_id, share_group, host, last_seen_at, session_expiry_s, mqtt_connected,
                                        retired_at, retired_by, broker_stats, broker_stats_at) VALUES
              ('live', 'energiblik', 'h1', {now}, 604800, true, NULL, NULL,
               '{{"store/messages/count": 1234}}', {now}),
              ('dead', 'energiblik', 'h2', {now} - interval '2 hours', 604800, false, NULL, NULL, NULL, NULL),
              ('long-gone', 'energiblik', 'h3', {now} - interval '8 days', 604800, false, NULL, NULL, NULL, NULL),
              ('drained', 'energiblik', 'h4', {now} - interval '1 day', 604800, false, {now} - interval '1 day',
               'energiblik ingest reclaim', NULL, NULL)
        """))
    r = admin.get("/api/v1/operations/ingest")
    assert r.status_code == 200, r.text
    doc = r.json()
    states = {m["client_id"]: m["state"] for m in doc["members"]}
    assert states == {"live": "connected", "dead": "stranded", "long-gone": "expired", "drained": "retired"}
    assert doc["stranded"] == ["dead"]
    assert doc["broker"]["values"] == {"store/messages/count": 1234.0}
    assert doc["broker"]["observed_by"] == "live"
    viewer = make_token(admin, "viewer")
    assert admin.get("/api/v1/operations/ingest", headers={"Authorization": f"Bearer {viewer}"}).status_code == 403


def _has_metric(worker: WorkerProcess, name: str) -> bool:
    try:
        worker.metric(name)
    except KeyError:
        return False
    return True
