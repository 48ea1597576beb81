"""The chaos soak (bench/chaos.py), 60 s, on the test stack: the estate live with every simulator fault, malformed
payloads on all three topic kinds, a worker kill -9, a clean broker restart, a broker kill -9, a 30 s PostgreSQL
outage and a rollup kill -9. Nothing the broker acknowledged is lost except what a broker kill -9 loses (measured
apart), no building-day's kWh differs from the simulator's truth beyond the simulator's own tolerance (so nothing
is counted twice, and register meters are exact across the broker's loss), no internal error, no process exits that
the soak did not cause, and every supervised process runs at the end.

It empties the test stack's database (dropped and migrated again) and ends its broker sessions afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack import REPO, Stack

pytestmark = pytest.mark.slow


def test_chaos_soak_60s_loses_and_doubles_nothing(stack: Stack, tmp_path: Path) -> None:
    if stack.kind != "local":
        pytest.skip("the soak drives deploy/stack.sh (stops PostgreSQL, kills the broker)")
    out = tmp_path / "chaos.json"
    cmd = [sys.executable, str(REPO / "bench" / "chaos.py"), "--profile", stack.env["ENERGIBLIK_PROFILE"],
           "--duration", "60", "--speed", "3600", "--buildings", "6", "--seed", "3", "--json", str(out)]
    proc = subprocess.run(cmd, check=False, env=stack.env, capture_output=True, text=True, timeout=1200)
    print(proc.stdout, proc.stderr[-5000:], file=sys.stderr)
    assert proc.returncode == 0
    r = json.loads(out.read_text())
    kinds = {f["kind"] for f in r["faults"]}
    assert kinds == {"worker-kill", "broker-restart", "broker-kill", "pg-outage", "rollups-kill"}
    assert all(f["back_s"] is not None for f in r["faults"]), r["faults"]
    assert r["acked_readings"] > 1000
    assert r["lost"] == 0, "acknowledged readings lost outside a broker kill -9"
    assert r["building_days"] >= 6
    assert r["days_over"] == [], "kWh counted twice"
    assert r["days_under"] == [], "kWh missing (beyond interval readings lost to the broker kill)"
    assert r["internal_errors"] == 0
    assert r["unexpected_exits"] == {}
    assert set(r["alive_at_end"]) == {"ingest-1", "ingest-2", "rollups", "alerts", "api", "sim-1"}
    assert all(state == "RUNNING" for name, state in r["alive_at_end"].items() if name != "sim-1"), r["alive_at_end"]
    assert r["malformed_sent"] > 100 and sum(r["dead_letters"].values()) > 0
