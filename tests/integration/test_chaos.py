"""The chaos soak (bench/chaos.py), 60 s: the estate live with every simulator fault, malformed payloads on all three
topic kinds, a worker kill -9, a clean broker restart, a broker kill -9, a PostgreSQL outage (10 s here, 30 s in the
10-minute soak) and a rollup kill -9. Nothing the broker acknowledged is lost except what a broker kill -9 loses
(measured apart), no building-day's kWh differs from the simulator's truth beyond the simulator's own tolerance (so
nothing is counted twice, and register meters are exact across the broker's loss), no internal error, no process
exits that the soak did not cause, and every supervised process runs at the end.

The soak stops PostgreSQL and kills Mosquitto, and empties its database: on the test stack that would cut the
session-scoped connections of the other tests (tests/conftest.py `engine`, the API of api_fixtures.py) and their
broker sessions. So it runs on a stack of its own: deploy/stack.sh with its own state directory (beside the test
stack's, where the postgres user can reach it) and free ports, created for the test and removed afterwards
(about 15 s)."""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack import REPO, Stack

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_block(n: int) -> int:
    """A base port with base+1 .. base+n free (the soak's workers' and rollups' metrics ports)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 30000)
        socks = []
        try:
            for p in range(base + 1, base + n + 1):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no block of free ports")


def test_chaos_soak_60s_loses_and_doubles_nothing(stack: Stack, tmp_path: Path) -> None:
    if stack.kind != "local":
        pytest.skip("the soak drives deploy/stack.sh (stops PostgreSQL, kills the broker)")
    state = Path(stack.env["ENERGIBLIK_STATE"]).parent / f"chaos-{os.getpid()}"
    env = {**stack.env, "ENERGIBLIK_STATE": str(state), "ENERGIBLIK_PG_PORT": str(free_port()),
           "ENERGIBLIK_MQTT_PORT": str(free_port()), "ENERGIBLIK_API_PORT": str(free_port())}
    for k in ("ENERGIBLIK_DB__URL", "ENERGIBLIK_MQTT__PORT", "ENERGIBLIK_ADMIN_TOKEN", "ENERGIBLIK_BROKER__SECRET",
              "ENERGIBLIK_MQTT__PASSWORD"):  # the soak's stack writes its own
        env.pop(k, None)
    out = tmp_path / "chaos.json"
    cmd = [sys.executable, str(REPO / "bench" / "chaos.py"), "--profile", stack.env["ENERGIBLIK_PROFILE"],
           "--duration", "60", "--speed", "3600", "--buildings", "6", "--seed", "3", "--pg-outage", "10",
           "--settle", "5", "--metrics-port-base", str(free_block(14)), "--json", str(out)]
    try:
        proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=600)
    finally:
        subprocess.run(["bash", str(REPO / "deploy" / "stack.sh"), "down"], check=False, env=env,
                       stdout=subprocess.DEVNULL)
    print(proc.stdout, proc.stderr[-5000:], file=sys.stderr)
    sim_log = state / "run" / "sim-1.log"
    if proc.returncode != 0 and sim_log.exists():
        print(sim_log.read_text()[-3000:], file=sys.stderr)
    shutil.rmtree(state, ignore_errors=True)
    assert proc.returncode == 0
    r = json.loads(out.read_text())
    kinds = {f["kind"] for f in r["faults"]}
    assert kinds == {"worker-kill", "broker-restart", "broker-kill", "pg-outage", "rollups-kill"}
    assert all(f["back_s"] is not None for f in r["faults"]), r["faults"]
    assert r["acked_readings"] > 1000
    assert r["lost"] == 0, f"acknowledged readings lost outside a broker kill -9: {r['lost_examples']}"
    assert r["building_days"] >= 6
    assert r["days_over"] == [], "kWh counted twice"
    assert r["days_under"] == [], "kWh missing (beyond interval readings lost to the broker kill)"
    assert r["internal_errors"] == 0
    assert r["unexpected_exits"] == {}
    assert set(r["alive_at_end"]) == {"ingest-1", "ingest-2", "rollups", "alerts", "sync", "api", "sim-1"}
    assert all(st == "RUNNING" for name, st in r["alive_at_end"].items() if name != "sim-1"), r["alive_at_end"]
    assert r["malformed_sent"] > 100 and sum(r["dead_letters"].values()) > 0
