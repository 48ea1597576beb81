"""A fresh demo estate shows the waste the product exists to catch: the history writer (as run.sh runs it) and the live
simulation (catching up from the history's end to now, over MQTT through an ingest worker) publish a small estate
with the demo's planted scenarios (simulators/scenarios.py); the real alert evaluation then opens each of the six
rules on the scenario's building, and each alert carries what the model says happened — wasted kWh computed from the
model independently of the alert code."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
from sqlalchemy import Engine, text

from services.alerts.service import evaluate
from services.db import libpq_dsn
from simulators.live import Options, Simulation, connector, start_values
from simulators.model import fleet
from simulators.scenarios import default_end, expected, plant
from tests.integration.api_helpers import Api
from tests.integration.harness import Workers, sync_broker, wait_for
from tests.stack import REPO, Stack

pytest_plugins = ["tests.integration.api_fixtures"]
CPH = ZoneInfo("Europe/Copenhagen")
N, SEED = 12, 2015  # the smallest estate of seed 2015 with a building for every scenario, all six distinct


def test_a_fresh_demo_fires_all_six_rules_with_the_simulated_waste(
        api: Api, admin: httpx.Client, stack: Stack, db: Engine, workers: Workers) -> None:
    now = datetime.now(UTC)
    end = default_end(now)
    subprocess.run([sys.executable, "-m", "simulators.history", "--buildings", str(N), "--seed", str(SEED),
                    "--until", end.isoformat(), "--force"], cwd=REPO, env=stack.env, check=True,
                   stdout=subprocess.DEVNULL)
    sync_broker(stack)
    workers.start(ENERGIBLIK_INGEST__ROLLUPS="true")
    buildings = fleet(N, SEED)
    scenarios = plant(buildings, end, SEED)
    assert len({s.building_id for s in scenarios}) == 6
    until = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    sim = Simulation(buildings, Options(seed=SEED, until=until), start_values(buildings), connector(), now)
    sim.run(lambda: False)
    assert sim.stats["resets"] == 1

    def caught_up() -> bool:
        with db.connect() as c:
            decided = c.execute(text("SELECT count(*) FROM consumption_decisions WHERE kind = 'reset'")).scalar()
            newest = c.execute(text("SELECT max(ts) FROM readings")).scalar()
        return bool(decided) and newest is not None and newest >= until

    wait_for(caught_up, timeout=120, what="the live simulation's readings and the reset decision")
    with psycopg.connect(libpq_dsn(stack.db_url)) as conn, conn.transaction():
        evaluate(conn, datetime.now(UTC), CPH)
    r = admin.get("/api/v1/alerts", params={"state": "active", "limit": 500})
    assert r.status_code == 200, r.text
    active: dict[tuple[str, str, str], dict[str, Any]] = {(a["rule"], a["building_id"], a["subject"]): a
                                                          for a in r.json()}
    truth = expected(scenarios, buildings, end, SEED)
    print("\n".join(f"{k}: {a['title']} wasted {a['wasted_kwh']}" for k, a in sorted(active.items())),
          file=sys.stderr)
    for rule, want in truth.items():
        a = active.get((rule, str(want["building_id"]), str(want["subject"])))
        assert a is not None, f"{rule} did not fire on {want['building_id']}: {want['what']}"
        detail = a["detail"]
        waste = want["wasted_kwh"]
        if waste is None:  # these rules estimate no waste
            assert a["wasted_kwh"] is None, (rule, a)
        else:
            assert isinstance(waste, float)
            # the alert sums the days (periods) it fired on; tolerances: lights — telemetry power rounded to 0.01 W
            # per fitting and kWh to 3 decimals; night baseload — the building's closed-hour load is otherwise
            # constant, readings carry 6 decimals; month — the imported baseline has 0.1 kWh per carrier and
            # month, the alert 0.1 kWh
            tol = {"lights_out_of_hours": 0.05, "night_baseload": 0.05, "above_baseline": 1.0}[rule]
            assert abs(a["wasted_kwh"] - waste) <= tol, (rule, a["wasted_kwh"], waste, want)
        if rule == "dh_cooling":
            # the telegrams carry temperatures to 0.1 °C, as the model's truth is rounded; the detail to 0.01
            assert detail["day"] == want["day"]
            assert abs(detail["mean_return_c"] - float(str(want["mean_return_c"]))) <= 0.01, (detail, want)
            assert abs(detail["mean_cooling_k"] - float(str(want["mean_cooling_k"]))) <= 0.01, (detail, want)
        elif rule == "counter_anomaly":
            assert detail["kind"] == "reset"
            assert datetime.fromisoformat(detail["ts"]) == datetime.fromisoformat(str(want["ts"]))
        elif rule == "meter_silent":
            assert datetime.fromisoformat(detail["last_reading"]) == datetime.fromisoformat(str(want["last_reading"]))
        elif rule in ("lights_out_of_hours", "night_baseload"):
            assert sorted(want["per_day"]) == sorted(  # type: ignore[arg-type]
                e["detail"]["day"] for e in admin.get(f"/api/v1/alerts/{a['id']}").json()["events"]
                if e["kind"] in ("opened", "repeated"))
    # no meter looks silent but the one whose gateway died: the history ends on the hour and the live simulation
    # caught up from there
    silent = [k for k in active if k[0] == "meter_silent"]
    assert silent == [("meter_silent", str(truth["meter_silent"]["building_id"]),
                       str(truth["meter_silent"]["subject"]))]
    assert now - end <= timedelta(hours=2)
