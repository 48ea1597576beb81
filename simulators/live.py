"""Live simulation: the estate's meters and luminaires publish over MQTT (wire contract v1), each building with its own
broker credentials, from where the stored history ends, in real time or accelerated.

Register meters publish every 15 minutes (singly or batched per hour, by building), EV chargers hourly interval
values, heat meters of some buildings through a wmbusmeters gateway (kamheat telegrams with flow and return
temperatures), luminaires their power and on/off state. Faults can be switched on one by one: gaps, duplicates,
late (out-of-order) batches after a gateway outage, counter resets, declared meter exchanges, garbage payloads.

The simulator knows what it simulated: with --truth FILE it writes the true kWh per building and local day of the
energy meters that count in totals (what GET /api/v1/consumption should answer). With --published FILE it appends a
line `meter_id,ts,value,sent_at,acked_at` for every reading the broker acknowledged (PUBACK) to the publisher and
routed to a subscriber: what the pipeline must store. `sent_at` is when the building's gateway first published the
message, `acked_at` when it read the broker's acknowledgement (Unix seconds): the broker took the message somewhere in
between. Like a store-and-forward gateway, each building's publisher (simulators/publisher.py, gateway mode)
reconnects when the broker goes away, re-sends what the broker had not acknowledged, and publishes again what the
broker acknowledged with "no matching subscribers" (0x10: after a broker restart, before the ingest workers have
subscribed again). All buildings' connections are driven from one loop that never waits on one of them, so a
building waiting for the broker does not delay another's acknowledgements.

    python -m simulators.live --buildings 100 --speed 60 [--faults gaps,duplicates,late,reset,exchange,garbage]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import signal
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import FrameType

import orjson
import psycopg

from services.broker.service import building_identity
from services.config import get_settings
from services.db import libpq_dsn
from simulators.model import (
    TZ,
    BuildingSpec,
    MeterSpec,
    day_use,
    fleet,
    luminaire_states,
    meter_amount,
    silent_since,
    wmbus_telegram,
)
from simulators.publisher import WindowedPublisher, drive, flush_all
from simulators.scenarios import plant

log = logging.getLogger("energiblik.simulator.live")
STEP = timedelta(minutes=15)
FAULTS = ("gaps", "duplicates", "late", "reset", "exchange", "garbage")
TOTAL_CARRIERS = {"electricity", "district_heating", "natural_gas", "oil", "heat_pump", "ev_charging"}


@dataclass
class MeterState:
    spec: MeterSpec
    value: float
    last_ts: datetime


@dataclass
class Building:
    spec: BuildingSpec
    publisher: WindowedPublisher
    meters: dict[str, MeterState]
    batched: bool
    pending: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    ev_hour: dict[str, float] = field(default_factory=dict)
    held: list[tuple[str, bytes, object]] = field(default_factory=list)  # a gateway outage: published later
    held_until: datetime | None = None
    lights: list[object] = field(default_factory=list)  # each luminaire's last reported state


@dataclass
class Options:
    speed: float = 0.0
    faults: frozenset[str] = frozenset()
    fault_rate: float = 0.02
    seed: int = 2015
    until: datetime | None = None  # stop there (tests); None: run until stopped
    api_url: str | None = None  # for declared meter exchanges
    admin_token: str | None = None


class Truth:
    """True kWh per building and local day of the meters that count in totals (no sub-meters, water or PV)."""

    def __init__(self) -> None:
        self.kwh: dict[str, dict[str, float]] = {}

    def add(self, building_id: str, hour_start: datetime, kwh: float) -> None:
        day = hour_start.astimezone(TZ).date().isoformat()
        per = self.kwh.setdefault(building_id, {})
        per[day] = per.get(day, 0.0) + kwh


def _fuel_kwh(m: MeterSpec, amount: float) -> float:
    if m.unit == "MWh":
        return amount * 1000
    return amount * (m.kwh_per_unit or 1.0)


class Simulation:
    def __init__(self, buildings: list[BuildingSpec], opts: Options, start_values: dict[str, tuple[datetime, float]],
                 connect: Callable[[BuildingSpec], WindowedPublisher], now: datetime) -> None:
        self.opts = opts
        self.rng = random.Random(opts.seed)
        self.truth = Truth()
        self.prefix = get_settings().mqtt.topic_prefix
        self.buildings: list[Building] = []
        self.clock = now
        for i, b in enumerate(buildings):
            states = {}
            for m in b.meters:
                if m.active_until is not None and m.active_until <= now.astimezone(TZ).date():
                    continue
                ts, value = start_values.get(m.id, (now, m.v0))
                states[m.id] = MeterState(m, value, ts)
                silent = silent_since(b, m.id)
                if silent is None or ts < silent:  # a meter silent for good does not hold the others back
                    self.clock = min(self.clock, ts)
            self.buildings.append(Building(b, connect(b), states, batched=i % 2 == 0))
        self.clock = self.clock.replace(minute=self.clock.minute - self.clock.minute % 15, second=0, microsecond=0)
        self.stats = {"messages": 0, "readings": 0, "garbage": 0, "duplicates": 0, "late": 0, "gaps": 0,
                      "resets": 0, "exchanges": 0}

    def fault(self, name: str) -> bool:
        # resets and exchanges are rarer than lost or repeated messages
        rate = self.opts.fault_rate / 10 if name in ("reset", "exchange") else self.opts.fault_rate
        return name in self.opts.faults and self.rng.random() < rate

    def publish(self, b: Building, topic: str, payload: bytes, tag: object = None) -> None:
        """`tag`: the readings in the message, [(meter_id, ts, value)], for the record of acknowledged readings."""
        if b.held_until is not None:
            b.held.append((topic, payload, tag))
            return
        b.publisher.publish(topic, payload, tag)
        self.stats["messages"] += 1
        if self.fault("duplicates"):
            b.publisher.publish(topic, payload, tag)
            self.stats["duplicates"] += 1

    def step(self, t: datetime) -> None:
        """Advance every building to `t` (a quarter-hour) and publish what its devices report at `t`."""
        hour_start = t - STEP
        for b in self.buildings:
            if b.held_until is not None and t >= b.held_until:
                for topic, payload, tag in b.held:  # the gateway is back: everything it kept, late and in one go
                    b.publisher.publish(topic, payload, tag)
                    self.stats["messages"] += 1
                self.stats["late"] += len(b.held)
                b.held, b.held_until = [], None
            elif "late" in self.opts.faults and b.held_until is None and self.rng.random() < self.opts.fault_rate / 10:
                b.held_until = t + timedelta(hours=self.rng.choice((6, 12, 30)))
            use = self._quarter_use(b.spec, hour_start)
            for st in b.meters.values():
                if t <= st.last_ts or t.astimezone(TZ).date() < st.spec.active_from:
                    continue
                self._meter(b, st, t, use)
            self._luminaires(b, t)
            if t.minute == 0:
                self._flush(b)
        if "garbage" in self.opts.faults and self.rng.random() < self.opts.fault_rate:
            b = self.rng.choice(self.buildings)
            m = next(iter(b.meters))
            junk = self.rng.choice((b"{not json", b'{"ts": "yesterday", "value": 1}', b'{"value": "NaN"}',
                                    b'[{"ts": "2026-01-01T00:00:00", "value": 1}]', b"\xff\xfe"))
            b.publisher.publish(f"{self.prefix}/buildings/{b.spec.id}/meters/{m}/readings", junk)
            self.stats["garbage"] += 1

    def _quarter_use(self, b: BuildingSpec, quarter_start: datetime) -> dict[str, float]:
        hour = quarter_start.replace(minute=0)
        for start, use in day_use(b, hour.astimezone(TZ).date(), self.opts.seed):
            if start == hour:
                return {k: v / 4 for k, v in use.items()}
        return {}

    def _meter(self, b: Building, st: MeterState, t: datetime, use: dict[str, float]) -> None:
        m = st.spec
        amount = meter_amount(m, use)
        if m.carrier in TOTAL_CARRIERS and m.parent is None:
            self.truth.add(b.spec.id, t - STEP, _fuel_kwh(m, amount) if m.carrier != "electricity" else amount)
        if m.carrier == "ev_charging":  # interval meter: the hour's energy at the end of the hour
            b.ev_hour[m.id] = b.ev_hour.get(m.id, 0.0) + amount
            if t.minute == 0:
                self._queue(b, m, {"ts": t.isoformat(), "value": round(b.ev_hour.pop(m.id), 6)})
            st.last_ts = t
            return
        st.value += amount
        st.last_ts = t
        if b.spec.events:  # the demo's scenarios (simulators/scenarios.py)
            silent = silent_since(b.spec, m.id)
            if silent is not None and t > silent:
                return  # its gateway lost power: nothing is sent
            if any(e.kind == "reset" and e.meter == m.id and e.start == t for e in b.spec.events):
                st.value = amount  # the register restarted from zero during this quarter-hour
                self.stats["resets"] += 1
        if self.fault("gaps"):
            self.stats["gaps"] += 1
            return  # this reading never arrives; the next one covers the consumption
        if self.fault("reset") and m.carrier == "electricity":
            # the register restarts from zero just after the previous reading: the quarter's use is its value
            st.value = amount
            self.stats["resets"] += 1
        elif self.fault("exchange") and self.opts.api_url and m.carrier == "electricity":
            self._exchange(b, st, t, amount)
        if m.wmbus_id:
            self._wmbus(b, m, st, t, use)
            return
        self._queue(b, m, {"ts": t.isoformat(), "value": round(st.value, 6)})

    def _exchange(self, b: Building, st: MeterState, t: datetime, amount: float) -> None:
        """Declare a meter exchange at t (old register's final value, new one's start) through the API, then go on
        counting on the new register."""
        old_final = round(st.value - amount, 6)
        body = {"ts": (t - STEP / 2).isoformat(), "old_final": old_final, "new_initial": 0.0,
                "note": "simulated meter exchange"}
        req = urllib.request.Request(f"{self.opts.api_url}/api/v1/meters/{st.spec.id}/exchanges", method="POST",  # noqa: S310
                                     data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {self.opts.admin_token}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10):  # noqa: S310 - our own API
                pass
        except OSError as exc:
            log.warning("exchange not declared: %s", exc)
            return
        st.value = amount  # the new register, from 0, has counted this quarter
        self.stats["exchanges"] += 1

    def _wmbus(self, b: Building, m: MeterSpec, st: MeterState, t: datetime, use: dict[str, float]) -> None:
        telegram = wmbus_telegram(b.spec, m, st.value, t, use)
        self.publish(b, f"{self.prefix}/buildings/{b.spec.id}/wmbus/{m.id}", orjson.dumps(telegram),
                     [(m.id, telegram["timestamp"], round(st.value, 6))])

    def _queue(self, b: Building, m: MeterSpec, item: dict[str, object]) -> None:
        topic = f"{self.prefix}/buildings/{b.spec.id}/meters/{m.id}/readings"
        if not b.batched:
            self.publish(b, topic, orjson.dumps(item), [(m.id, item["ts"], item["value"])])
            self.stats["readings"] += 1
            return
        b.pending.setdefault(topic, []).append(item)

    def _flush(self, b: Building) -> None:
        for topic in list(b.pending):
            items = b.pending.pop(topic)
            meter_id = topic.rsplit("/", 2)[-2]
            self.publish(b, topic, orjson.dumps(items), [(meter_id, i["ts"], i["value"]) for i in items])
            self.stats["readings"] += len(items)

    def _luminaires(self, b: Building, t: datetime) -> None:
        """Each luminaire's state for the quarter-hour starting at `t`: sent when it changes, and every hour."""
        states = luminaire_states(b.spec, t)
        for i, state in enumerate(states):
            if t.minute != 0 and i < len(b.lights) and b.lights[i] == state:
                continue
            item = {"ts": t.isoformat(), **state}
            self.publish(b, f"{self.prefix}/buildings/{b.spec.id}/luminaires/{b.spec.id}-l{i + 1:03d}/telemetry",
                         orjson.dumps(item))
        b.lights = list(states)

    def run(self, stop: Callable[[], bool]) -> None:
        wall0, sim0 = time.monotonic(), self.clock
        for b in self.buildings:  # a meter without stored readings starts with a reading of its initial register
            for st in b.meters.values():
                if st.last_ts == self.clock and st.spec.carrier != "ev_charging" and \
                        st.spec.active_from <= self.clock.astimezone(TZ).date():
                    if st.spec.wmbus_id:
                        self._wmbus(b, st.spec, st, self.clock, {})
                    else:
                        self._queue(b, st.spec, {"ts": self.clock.isoformat(), "value": round(st.value, 6)})
            self._flush(b)
        t = self.clock + STEP
        while not stop():
            if self.opts.until is not None and t > self.opts.until:
                break
            now = datetime.now(UTC)
            # speed 0: as fast as possible; never ahead of the real clock (the API refuses readings from the future)
            target = now if self.opts.speed <= 0 else min(
                now, sim0 + (time.monotonic() - wall0) * self.opts.speed * timedelta(seconds=1))
            if self.opts.until is None and t > target:
                drive(self.publishers, min(1.0, (t - target).total_seconds() / max(self.opts.speed, 1e-9)))
                continue
            self.step(t)
            t += STEP
            drive(self.publishers, 0)  # read every building's acknowledgements as they come, not at its next publish
        for b in self.buildings:
            self._flush(b)
            for topic, payload, tag in b.held:
                b.publisher.publish(topic, payload, tag)
            b.held = []
        flush_all(self.publishers, timeout=170)

    @property
    def publishers(self) -> list[WindowedPublisher]:
        return [b.publisher for b in self.buildings]


def start_values(buildings: list[BuildingSpec]) -> dict[str, tuple[datetime, float]]:
    """Each meter's last stored reading: the live simulation continues the history's registers."""
    ids = [m.id for b in buildings for m in b.meters]
    with psycopg.connect(libpq_dsn(get_settings().db.url)) as conn:
        rows = conn.execute(
            "SELECT m.id, r.ts, r.value FROM meters m CROSS JOIN LATERAL (SELECT ts, value FROM readings "
            "WHERE meter_key = m.key ORDER BY ts DESC LIMIT 1) r WHERE m.id = ANY(%s)", [ids]).fetchall()
    return {r[0]: (r[1], float(r[2])) for r in rows}


def history_end() -> datetime | None:
    """Where simulators.history ended the estate's history (its marker), or None when it did not write one."""
    with psycopg.connect(libpq_dsn(get_settings().db.url)) as conn:
        row = conn.execute("SELECT value FROM settings WHERE key = 'simulator_history'").fetchone()
    until = row[0].get("until") if row is not None else None
    if not until:
        return None
    if len(until) == 10:  # written before the history ended on the hour: local midnight of that date
        d = datetime.fromisoformat(until)
        return d.replace(tzinfo=TZ).astimezone(UTC)
    return datetime.fromisoformat(until).astimezone(UTC)


class PublishedLog:
    """Appends `meter_id,ts,value,sent_at,acked_at` (Unix seconds) for each reading of each message the broker
    acknowledged and routed."""

    def __init__(self, path: str) -> None:
        self.file = open(path, "a", encoding="utf-8", buffering=1 << 20)  # noqa: SIM115 - closed in close()
        self.count = 0

    def ack(self, tag: object, sent_at: float) -> None:
        times = f"{sent_at:.3f},{time.time():.3f}"
        for meter_id, ts, value in tag:  # type: ignore[attr-defined]
            self.file.write(f"{meter_id},{ts},{value},{times}\n")
        self.count += 1

    def close(self) -> None:
        self.file.close()


def connector(on_ack: Callable[[object, float], None] | None = None) -> Callable[[BuildingSpec], WindowedPublisher]:
    s = get_settings()
    secret = s.broker.secret.get_secret_value() if s.broker.secret else ""

    def connect(b: BuildingSpec) -> WindowedPublisher:
        ident = building_identity(secret, b.id)
        return WindowedPublisher(s.mqtt.host, s.mqtt.port, ident.username, ident.password, client_id=f"sim-{b.id}",
                                 reconnect=True, on_ack=on_ack)

    return connect


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--buildings", type=int, default=100)
    ap.add_argument("--seed", type=int, default=2015)
    ap.add_argument("--speed", type=float, default=0.0,
                    help="simulated seconds per second (60: an hour a minute; 0: catch up at once), then real time")
    ap.add_argument("--faults", default="", help=f"comma-separated: {','.join(FAULTS)}")
    ap.add_argument("--fault-rate", type=float, default=0.02)
    ap.add_argument("--start", type=datetime.fromisoformat, default=None,
                    help="simulate from this instant (default: where each meter's stored readings end)")
    ap.add_argument("--until", type=datetime.fromisoformat, default=None, help="stop at this instant")
    ap.add_argument("--truth", default=None, help="write the true kWh per building and day here (JSON)")
    ap.add_argument("--published", default=None,
                    help="append meter_id,ts,value,sent_at,acked_at here for every reading the broker acknowledged")
    ap.add_argument("--api-url", default=None, help="for declared meter exchanges (with ENERGIBLIK_ADMIN_TOKEN)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    faults = frozenset(f for f in args.faults.split(",") if f)
    unknown = faults - set(FAULTS)
    if unknown:
        ap.error(f"unknown fault(s) {', '.join(sorted(unknown))}; choose from {', '.join(FAULTS)}")
    s = get_settings()
    opts = Options(speed=args.speed, faults=faults, fault_rate=args.fault_rate, seed=args.seed, until=args.until,
                   api_url=args.api_url, admin_token=s.admin_token.get_secret_value() if s.admin_token else None)
    buildings = fleet(args.buildings, args.seed)
    end = history_end()
    if end is not None:  # the demo's scenarios, planted relative to where the history ends
        for x in plant(buildings, end, args.seed):
            log.info("scenario %s: %s", x.rule, x.what)
    values = start_values(buildings)
    if args.start is not None:
        values = {k: v for k, v in values.items() if v[0] <= args.start}
    published = PublishedLog(args.published) if args.published else None
    sim = Simulation(buildings, opts, values, connector(published.ack if published else None),
                     args.start or datetime.now(UTC))
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("simulating %d buildings from %s at speed %g, faults: %s", len(buildings), sim.clock.isoformat(),
             args.speed, ", ".join(sorted(faults)) or "none")
    try:
        sim.run(lambda: stopping)
    finally:
        if published is not None:
            published.close()
    pubs = sim.publishers
    sim.stats.update(reconnects=sum(p.reconnects for p in pubs), unrouted=sum(p.unrouted for p in pubs),
                     resent=sum(p.resent for p in pubs))
    log.info("stopped: %s (unrouted: PUBACKs 'no matching subscribers'; resent: published again after one)", sim.stats)
    if args.truth:
        with open(args.truth, "w", encoding="utf-8") as f:
            json.dump({"truth_kwh": sim.truth.kwh, "stats": sim.stats}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())

