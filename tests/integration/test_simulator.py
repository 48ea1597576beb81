"""The simulator against the product: what it publishes over MQTT, ingested and rolled up, reproduces the true kWh it
simulated per building and day — exactly without faults, within a stated tolerance with every fault switched on."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Engine, text

from services.db import get_engine
from simulators.history import register
from simulators.live import FAULTS, Options, Simulation, connector
from simulators.model import fleet
from tests.integration.api_helpers import Api
from tests.integration.harness import Workers, sync_broker, wait_for
from tests.stack import Stack

pytest_plugins = ["tests.integration.api_fixtures"]
CPH = ZoneInfo("Europe/Copenhagen")
START = datetime(2026, 11, 10, tzinfo=CPH).astimezone(UTC)
END = datetime(2026, 11, 12, tzinfo=CPH).astimezone(UTC)
DAYS = [date(2026, 11, 10), date(2026, 11, 11)]


def simulate(api: Api, faults: frozenset[str], rate: float) -> tuple[dict[str, dict[str, float]], dict[str, int]]:
    buildings = fleet(3, seed=11)
    sim = Simulation(buildings, Options(faults=faults, fault_rate=rate, seed=11, until=END, api_url=api.base_url,
                                        admin_token=api.admin_token), {}, connector(), START)
    sim.run(lambda: False)
    return sim.truth.kwh, sim.stats


def api_days(admin: httpx.Client, building_id: str) -> dict[str, float]:
    r = admin.get("/api/v1/consumption", params={"building_id": building_id, "start": "2026-11-10",
                                                 "end": "2026-11-12", "resolution": "day"})
    assert r.status_code == 200, r.text
    return {p["start"][:10]: p["kwh"] for p in r.json()["series"]}


def mismatches(truth: dict[str, dict[str, float]], admin: httpx.Client, rel: float) -> list[str]:
    out = []
    for bid, days in truth.items():
        got = api_days(admin, bid)
        for d in DAYS:
            want = days[d.isoformat()]
            have = got.get(d.isoformat(), 0.0)
            if have is None or abs(have - want) > rel * want:  # None: still pending
                out.append(f"{bid} {d}: API {got.get(d.isoformat())} vs true {want:.3f}")
    return out


def worst(truth: dict[str, dict[str, float]], admin: httpx.Client) -> float:
    return max(abs(api_days(admin, b)[d.isoformat()] / days[d.isoformat()] - 1)
               for b, days in truth.items() for d in DAYS)


@pytest.mark.parametrize("faults", [frozenset(), frozenset(FAULTS)], ids=["clean", "every-fault"])
def test_ingested_simulation_reproduces_the_true_daily_kwh(api: Api, admin: httpx.Client, stack: Stack, db: Engine,
                                                          workers: Workers, faults: frozenset[str]) -> None:
    register(get_engine(), fleet(3, seed=11))
    sync_broker(stack)
    workers.start(ENERGIBLIK_INGEST__ROLLUPS="true")
    truth, stats = simulate(api, faults, rate=0.05)
    # without faults every day matches to rounding; with gaps, duplicates, late batches, resets, exchanges and
    # garbage: within 2 % per building and day (a reset loses the quarter-hour in which the register restarted, up
    # to about 1 % of a small building's day; a gap across midnight is split by interpolation)
    tolerance = 1e-6 if not faults else 0.02
    try:
        wait_for(lambda: not mismatches(truth, admin, tolerance), timeout=90, what="the API's daily kWh")
    finally:
        print(f"faults={sorted(faults)} stats={stats} off: {mismatches(truth, admin, tolerance)}", file=sys.stderr)
    print(f"worst relative error {worst(truth, admin):.2e}", file=sys.stderr)
    if faults:
        for f in ("gaps", "duplicates", "late", "resets", "exchanges", "garbage"):
            assert stats[f] > 0, f"fault {f} never happened: {stats}"
        with db.connect() as c:
            dead = c.execute(text("SELECT count(*) FROM dead_letters")).scalar()
            exchanges = c.execute(text("SELECT count(*) FROM meter_exchanges")).scalar()
        assert dead == stats["garbage"] and exchanges == stats["exchanges"]

