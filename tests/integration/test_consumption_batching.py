"""Property, through the real database: for a monotonic register series delivered in any order and any batching
(with redeliveries), the incrementally maintained daily rollup sums to the register difference across the span and
equals a rebuild from the readings."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import psycopg
import pytest
from sqlalchemy import Engine

from services.consumption.service import process_dirty, rebuild
from services.db import libpq_dsn
from services.ingestion.schemas import RawMessage
from services.ingestion.service import IngestPipeline
from tests.integration.harness import add_building, add_meter
from tests.stack import Stack

CPH = ZoneInfo("Europe/Copenhagen")
TOPIC = "energiblik/v1/buildings/B1/meters/M1/readings"


def daily(conn: psycopg.Connection) -> list[tuple[object, float]]:
    return [(d, round(a, 6)) for d, a in conn.execute("SELECT day, amount FROM consumption_daily ORDER BY day")]


@pytest.mark.parametrize("seed", range(6))
def test_any_order_and_batching_give_the_register_difference(stack: Stack, db: Engine, seed: int) -> None:
    rng = random.Random(seed)
    add_building(db, "B1")
    add_meter(db, "M1", "B1")
    t = datetime(2026, 3, 27, 22, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 600))  # across the DST change
    value = 1000.0
    items = [{"ts": t.isoformat(), "value": value}]
    for _ in range(rng.randrange(20, 120)):
        t += timedelta(minutes=rng.choice((15, 15, 15, 30, 60, 240, 1500)))
        value += rng.uniform(0, 40)
        items.append({"ts": t.isoformat(), "value": round(value, 6)})
    arrivals = items + rng.sample(items, k=len(items) // 5)  # redeliveries
    rng.shuffle(arrivals)
    pipeline = IngestPipeline("energiblik/v1")
    with psycopg.connect(libpq_dsn(stack.db_url)) as conn:
        i = 0
        while i < len(arrivals):  # batches of random size, rollups recomputed after each, as the ingest path does
            n = rng.randrange(1, 12)
            msgs = [RawMessage(TOPIC, orjson.dumps(arrivals[j:j + 3]), datetime.now(UTC))
                    for j in range(i, min(i + n, len(arrivals)), 3)]
            with conn.transaction():
                stats = pipeline.handle_batch(conn, msgs)
                assert stats.dead_lettered == 0
                process_dirty(conn, CPH)
            i += n
        incremental = daily(conn)
        total = sum(a for _, a in incremental)
        assert total == pytest.approx(items[-1]["value"] - items[0]["value"], rel=1e-9)
        key = conn.execute("SELECT key FROM meters WHERE id = 'M1'").fetchone()
        with conn.transaction():
            rebuild(conn, CPH, [key[0]])  # type: ignore[index]
        assert daily(conn) == incremental
