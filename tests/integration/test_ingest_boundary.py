"""The failure boundaries, with real bugs planted (monkeypatched) in a real pipeline on the real database: an
unexpected exception is one message's, one meter's or one building's failure — recorded and skipped — never the
batch's or the process's. And a worker whose every message fails stops without acknowledging anything."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import psycopg
import pytest
from sqlalchemy import Engine

from services.config import get_settings
from services.consumption import service as consumption
from services.db import libpq_dsn
from services.ingestion import service as ingestion
from services.ingestion.schemas import RawMessage
from services.ingestion.service import IngestPipeline, sweep_quarantine
from tests.integration.harness import (
    add_building,
    add_meter,
    building_publisher,
    reading_topic,
    scalar,
    sync_broker,
    wait_for,
)
from tests.stack import Stack

CPH = ZoneInfo("Europe/Copenhagen")
T0 = datetime(2026, 2, 1, tzinfo=UTC)


def _msg(meter: str, i: int, value: float, building: str = "B1") -> RawMessage:
    ts = (T0 + timedelta(minutes=15 * i)).isoformat()
    return RawMessage(reading_topic(building, meter), orjson.dumps({"ts": ts, "value": value}), datetime.now(UTC))


def _estate(db: Engine) -> None:
    add_building(db, "B1")
    add_meter(db, "M1", "B1")
    add_meter(db, "M2", "B1")


def test_an_exception_building_one_message_dead_letters_only_that_message(
    stack: Stack, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _estate(db)
    real = IngestPipeline._build

    def planted(self: IngestPipeline, d: ingestion._Decoded) -> object:
        if d.items[0][1] == 13.0:
            raise KeyError("planted bug")
        return real(self, d)

    monkeypatch.setattr(IngestPipeline, "_build", planted)
    msgs = [_msg("M1", i, 10.0 + i) for i in range(6)]  # the fourth has value 13
    with psycopg.connect(libpq_dsn(stack.db_url)) as conn, conn.transaction():
        stats = IngestPipeline("energiblik/v1").handle_batch(conn, msgs)
    assert stats.internal_errors == 1
    assert stats.outcomes == {"stored": 5, "dead_lettered": 1}
    assert scalar(db, "SELECT count(*) FROM readings") == 5
    assert scalar(db, "SELECT reason FROM dead_letters") == "internal error: KeyError: 'planted bug'"
    assert bytes(scalar(db, "SELECT payload FROM dead_letters")) == msgs[3].payload


def test_an_exception_while_storing_falls_back_to_one_message_at_a_time(
    stack: Stack, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in the database phase (after all rows were built) fails the batch; each message is then tried alone, and
    only the one that still fails is dead-lettered."""
    _estate(db)
    real = ingestion.consumption_repo.mark_dirty
    keys = dict(psycopg.connect(libpq_dsn(stack.db_url)).execute("SELECT id, key FROM meters").fetchall())

    def planted(conn: psycopg.Connection, ranges: list) -> None:  # type: ignore[type-arg]
        if any(k == keys["M2"] for k, _, _ in ranges):
            raise ValueError("planted bug for M2")
        real(conn, ranges)

    monkeypatch.setattr(ingestion.consumption_repo, "mark_dirty", planted)
    msgs = [_msg("M1", 0, 1.0), _msg("M2", 0, 2.0), _msg("M1", 1, 3.0)]
    with psycopg.connect(libpq_dsn(stack.db_url)) as conn, conn.transaction():
        stats = IngestPipeline("energiblik/v1").handle_batch(conn, msgs)
    assert stats.outcomes == {"stored": 2, "dead_lettered": 1}
    assert stats.internal_errors == 1
    assert scalar(db, "SELECT count(*) FROM readings") == 2
    assert scalar(db, "SELECT reason FROM dead_letters") == "internal error: ValueError: planted bug for M2"


def test_the_quarantine_sweep_goes_through_the_same_boundary(
    stack: Stack, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_building(db, "B1")
    p = IngestPipeline("energiblik/v1")
    with psycopg.connect(libpq_dsn(stack.db_url)) as conn, conn.transaction():
        stats = p.handle_batch(conn, [_msg("M9", 0, 1.0), _msg("M9", 1, 13.0)])
    assert stats.outcomes == {"quarantined": 2}
    add_meter(db, "M9", "B1")
    real = IngestPipeline._build
    monkeypatch.setattr(IngestPipeline, "_build", lambda self, d: 1 / 0 if d.items[0][1] == 13.0 else real(self, d))
    with psycopg.connect(libpq_dsn(stack.db_url)) as conn, conn.transaction():
        swept = sweep_quarantine(conn, p)
    assert swept.outcomes == {"stored": 1, "dead_lettered": 1}
    assert scalar(db, "SELECT count(*) FROM quarantine WHERE replayed_at IS NULL") == 0
    assert scalar(db, "SELECT reason FROM dead_letters").startswith("internal error: ZeroDivisionError")


def test_a_meter_whose_rollups_fail_is_recorded_retried_later_and_the_others_go_on(
    stack: Stack, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _estate(db)
    msgs = [_msg(m, i, 100.0 + i) for m in ("M1", "M2") for i in range(8)]
    with psycopg.connect(libpq_dsn(stack.db_url)) as conn:
        with conn.transaction():
            IngestPipeline("energiblik/v1").handle_batch(conn, msgs)
        keys = dict(conn.execute("SELECT id, key FROM meters").fetchall())
        real = consumption._recompute_range

        def planted(conn: psycopg.Connection, f: object, *args: object) -> None:  # type: ignore[type-arg]
            if f.key == keys["M2"]:  # type: ignore[attr-defined]
                raise OverflowError("date value out of range")
            real(conn, f, *args)  # type: ignore[arg-type]

        monkeypatch.setattr(consumption, "_recompute_range", planted)
        with conn.transaction():
            assert consumption.process_dirty(conn, CPH) == 2
        daily = dict(conn.execute("SELECT meter_key, sum(amount) FROM consumption_daily GROUP BY 1").fetchall())
        assert daily == {keys["M1"]: pytest.approx(7.0)}  # M1 computed, M2 not (and not a 0 either)
        error = conn.execute("SELECT process, item, error FROM processing_errors").fetchone()
        assert error is not None and error[0] == "rollups" and f"meter_key {keys['M2']}" in error[1]
        assert error[2] == "OverflowError: date value out of range"
        waiting = conn.execute(
            "SELECT meter_key, attempts, not_before > now(), last_error FROM rollup_dirty").fetchall()
        assert waiting == [(keys["M2"], 1, True, "OverflowError: date value out of range")]
        with conn.transaction():  # not due yet: nothing taken, nothing lost
            assert consumption.process_dirty(conn, CPH) == 0
        monkeypatch.setattr(consumption, "_recompute_range", real)  # the bug is fixed
        conn.execute("UPDATE rollup_dirty SET not_before = now()")
        conn.commit()
        with conn.transaction():
            assert consumption.process_dirty(conn, CPH) == 1
        daily = dict(conn.execute("SELECT meter_key, sum(amount) FROM consumption_daily GROUP BY 1").fetchall())
        assert daily == {keys["M1"]: pytest.approx(7.0), keys["M2"]: pytest.approx(7.0)}


def test_an_alert_rule_failing_for_one_building_does_not_stop_the_others(
    stack: Stack, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.alerts import service as alerts

    add_building(db, "B1")
    add_building(db, "B2")
    judged: list[str] = []

    def planted(c: object, b: alerts.Building, p: object) -> None:
        if b.id == "B1":
            raise RuntimeError("planted bug")
        judged.append(b.id)

    monkeypatch.setitem(alerts._RULES, "meter_silent", planted)
    with psycopg.connect(libpq_dsn(stack.db_url)) as conn, conn.transaction():
        alerts.evaluate(conn, datetime.now(UTC), CPH)
    assert judged == ["B2"]
    assert scalar(db, "SELECT item FROM processing_errors WHERE process = 'alerts'") == "meter_silent building B1"


def test_a_worker_whose_every_message_fails_stops_without_acknowledging(
    stack: Stack, db: Engine, monkeypatch: pytest.MonkeyPatch, workers: object
) -> None:
    """A bad deploy: the guard stops the worker (exit 4) before it commits or acknowledges; a fixed worker then gets
    every message again from the broker and stores it."""
    from ingest.worker import IngestWorker

    _estate(db)
    sync_broker(stack)
    get_settings.cache_clear()
    s = get_settings().model_copy(deep=True)
    s.mqtt.client_id = f"{workers.group}-guard"  # type: ignore[attr-defined]
    s.mqtt.share_group = workers.group  # type: ignore[attr-defined]
    s.ingest.guard_min_errors = 1  # trips on the first batch, whatever its size
    worker = IngestWorker(s)
    monkeypatch.setattr(IngestPipeline, "_build", lambda self, d: {}["planted bug"])
    # the session exists (and queues) before anything is published
    worker._connect()
    wait_for(lambda: (worker.client.loop(0.1), worker.subscribed)[1], timeout=30, what="subscribed")
    pub = building_publisher(stack, "B1")
    for i in range(100):
        pub.publish(reading_topic("B1", "M1"), orjson.dumps({"ts": (T0 + timedelta(minutes=i)).isoformat(),
                                                             "value": float(i)}))
    pub.close()
    watchdog = threading.Timer(60, worker.request_stop)
    watchdog.start()
    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        code = worker.run()
    finally:
        watchdog.cancel()
        signal.signal(signal.SIGTERM, handlers[0])
        signal.signal(signal.SIGINT, handlers[1])
    assert code == 4
    assert scalar(db, "SELECT count(*) FROM readings") == 0
    assert scalar(db, "SELECT count(*) FROM dead_letters") == 0
    monkeypatch.undo()
    fixed = workers.start("guard")  # type: ignore[attr-defined]  # the same session
    wait_for(lambda: scalar(db, "SELECT count(*) FROM readings") == 100, what="all 100 redelivered and stored")
    assert fixed.metric("energiblik_ingest_internal_errors") == 0
    assert fixed.stop() == 0


def test_a_plausible_reading_in_the_wrong_unit_cannot_put_the_whole_register_into_a_day(
    stack: Stack, db: Engine
) -> None:
    """Found from outside: a wmbus telegram saying 5 kWh for a meter registered in MWh replaced a reading of 12,884 MWh
    (a revision) and the rollups made a reset of it, so the next reading counted the whole register: the estate's
    day went from 155,703 to 13,029,239 kWh. Incrementally, whichever order the readings come in, and rebuilt."""
    from services.consumption.service import process_dirty, rebuild

    add_building(db, "B1")
    add_meter(db, "H1", "B1", unit="MWh", carrier="district_heating", external_id="37851662")
    topic = "energiblik/v1/buildings/B1/wmbus/kamheat"

    def telegram(i: int, kwh: float) -> RawMessage:
        ts = (T0 + timedelta(minutes=15 * i)).isoformat()
        return RawMessage(topic, orjson.dumps({"id": "37851662", "timestamp": ts,
                                               "total_energy_consumption_kwh": kwh}), datetime.now(UTC))

    p = IngestPipeline("energiblik/v1")
    register = [12_884_000.0 + 25.0 * i for i in range(12)]  # kWh: 25 kWh a quarter, 275 kWh in all
    with psycopg.connect(libpq_dsn(stack.db_url)) as conn:
        for i in (0, 1, 2, 3, 4, 5):
            with conn.transaction():
                p.handle_batch(conn, [telegram(i, register[i])])
                process_dirty(conn, CPH)
        with conn.transaction():  # the bad telegram, as a revision of reading 5, then the rest
            assert p.handle_batch(conn, [telegram(5, 5.0)]).outcomes == {"revised": 1}
            process_dirty(conn, CPH)
        for i in range(6, 12):
            with conn.transaction():
                p.handle_batch(conn, [telegram(i, register[i])])
                process_dirty(conn, CPH)
        daily = conn.execute("SELECT day, amount FROM consumption_daily ORDER BY day").fetchall()
        assert sum(a for _, a in daily) == pytest.approx(register[-1] - register[0] - 0.0)
        kinds = [r[0] for r in conn.execute("SELECT kind FROM consumption_decisions").fetchall()]
        assert kinds == ["glitch"]
        key = conn.execute("SELECT key FROM meters WHERE id = 'H1'").fetchone()[0]  # type: ignore[index]
        with conn.transaction():
            rebuild(conn, CPH, [key])
        assert conn.execute("SELECT day, amount FROM consumption_daily ORDER BY day").fetchall() == daily
