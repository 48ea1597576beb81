"""Chaos soak: the simulated estate live with every fault on, a stream of malformed payloads, and at random moments
(from a seed) a worker kill -9, a clean broker restart, a broker kill -9, a 30 s PostgreSQL outage and a rollup
process kill -9. At the end it compares the API's daily kWh per building with the simulator's truth and the stored
readings with the simulator's record of what the broker acknowledged. Prints a markdown table (and --json).

    ENERGIBLIK_PG_PORT=... ENERGIBLIK_MQTT_PORT=... ENERGIBLIK_API_PORT=... \\
      .venv/bin/python bench/chaos.py --duration 600 --seed 1

It brings up the stack of --profile (default bench) with deploy/stack.sh, EMPTIES ITS DATABASE (dropped and
migrated again), registers a small estate through the registry service (no history: the live simulator starts a few
days back and runs accelerated), and runs the ingest workers (2, shared subscription), rollups, alerts, API and the
live simulator under supervisord (deploy/supervise.py), which restarts what the soak kills. The broker is not under
supervisord (deploy/README.md); after a kill -9 the soak starts it again after --broker-down seconds, as an operator
or systemd's Restart= would. At the end supervisord is stopped; the stack stays up (deploy/stack.sh down stops it).

Malformed payloads go to three sub-meters and a luminaire registered for the purpose (sub-meters never add to a
building's total), so that a random payload that happens to be valid cannot change the figures compared.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "deploy"))
STACK = str(REPO / "deploy" / "stack.sh")
FAULT_KINDS = ("worker-kill", "broker-restart", "broker-kill", "pg-outage", "rollups-kill")
SHARE_GROUP = "chaos"
CLIENT_PREFIX = "chaos-ingest"
TOLERANCE = 0.02  # per building and day, as tests/integration/test_simulator.py with every simulator fault on


def stack(*args: str) -> None:
    subprocess.run(["bash", STACK, *args], check=True, env=os.environ, stdout=subprocess.DEVNULL)


def load_stack_env() -> None:
    out = subprocess.run(["bash", STACK, "env"], check=True, env=os.environ, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            os.environ[k] = v


@dataclass
class Fault:
    kind: str
    planned_s: float
    started_s: float = 0.0
    ended_s: float = 0.0  # when the fault was over (broker or database back; the kill itself for kills)
    back_s: float | None = None  # from ended_s until the affected processes were healthy again
    storing_s: float | None = None  # from ended_s until the first reading stored after it
    note: str = ""
    started_at: float = 0.0  # wall clock (Unix seconds)
    back_at: float = 0.0  # wall clock: processes healthy again (or the fault's end + 180 s)
    lost: int = 0  # acknowledged readings lost, acknowledged from the last autosave before it until back_at


@dataclass
class Result:
    command: str
    duration_s: float
    buildings: int
    speed: float
    faults: list[Fault] = field(default_factory=list)
    acked_readings: int = 0
    lost: int = 0
    lost_to_broker_kill: int = 0
    lost_examples: list[str] = field(default_factory=list)  # lost outside a broker kill: meter, ts, sent/acked
    lost_interval_kwh: float = 0.0
    building_days: int = 0
    days_over: list[str] = field(default_factory=list)  # API above truth beyond the tolerance: counted twice
    days_under: list[str] = field(default_factory=list)
    truth_kwh: float = 0.0
    api_kwh: float = 0.0
    worst_rel_error: float = 0.0
    internal_errors: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    malformed_sent: int = 0
    unexpected_exits: dict[str, int] = field(default_factory=dict)
    alive_at_end: dict[str, str] = field(default_factory=dict)
    worst_rollup_lag_s: float = 0.0
    quiescent_after_s: float = 0.0
    sim_stats: dict[str, Any] = field(default_factory=dict)


# --- malformed payloads ----------------------------------------------------------------------------------------

NASTY = [  # the payloads of issue 11, and their relatives
    b"[]", b"{}", b"null", b"", b"\xff\xfe", b"{not json", b'[{"ts": "2026-01-01T00:00:00+00:00", "value": NaN}]',
    b'[{"ts": "2026-01-01T00:00:00+00:00", "value": Infinity}]', b'{"ts": "2026-01-01T00:00:00+00:00", "value": 1e400}',
    b'{"ts": "2026-01-01T00:00:00+00:00", "value": ' + b"9" * 400 + b"}",
    b'{"ts": "2026-01-01T00:00:00+00:00", "value": 1e306, "unit": "MWh"}',
    b'{"ts": "2026-01-01T00:00:00+00:00", "value": 1e306, "unit": "GJ"}',
    b'{"ts": "2026-01-01T00:00:00+00:00", "value": 1e308}', b'{"ts": "2026-01-01T01:00:00+00:00", "value": -1e308}',
    b'{"ts": "0001-01-01T00:00:00+00:00", "value": 1}', b'{"ts": "9999-12-31T23:59:59+00:00", "value": 1}',
    b'{"ts": "1", "value": 1}', b'{"ts": 1700000000, "value": 1}', b'{"ts": "2026-01-01T00:00:00+0100", "value": 1}',
    b'{"ts": "2026-01-01T00:00:00", "value": 1}', b'{"ts": "2026-01-01T00:00:00+00:00", "value": 1, "value": 2}',
    b'{"ts": "2026-01-01T00:00:00+00:00", "value": "12"}', b'{"ts": "2026-01-01T00:00:00+00:00", "value": true}',
    b'{"ts": "2026-01-01T00:00:00+00:00", "value": 1, "unit": "furlongs"}', b'[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]',
    b'{"ts": "2026-01-01T00:00:00+00:00", "value": 1, "quality": "invented"}', b'"just a string"', b"42",
]
TELEMETRY_NASTY = [b'{"ts": "2026-01-01T00:00:00+00:00", "power_w": NaN}', b'[{"ts": "2026-01-01T00:00:00+00:00", '
                   b'"energy_wh": 1e400}]', b'{"ts": "2026-01-01T00:00:00+00:00", "dim_pct": "x", "on": 3}',
                   b'{"power_w": 5}', b'{"ts": "0001-01-01T00:00:00+00:00", "burn_hours": -1e308}']
WMBUS_NASTY = [b'{"_":"telegram","media":"heat","meter":"kamheat","id":"%s","total_energy_consumption_kwh":'
               + b"9" * 400 + b',"timestamp":"2026-01-01T00:00:00Z"}',
               b'{"_":"telegram","id":"%s","total_energy_consumption_gj":1e306,"timestamp":"2026-01-01T00:00:00Z"}',
               b'{"_":"telegram","id":"%s","total_energy_consumption_kwh":NaN,"timestamp":"2026-01-01T00:00:00Z"}',
               b'{"_":"telegram","id":"%s","timestamp":"0001-01-01T00:00:00Z","total_energy_consumption_kwh":1}',
               b'{"_":"telegram","id":"%s"}', b'{"id": null}']
POOL: list[object] = [None, "", "x", [], {}, True, -1, 0, 1e308, -1e308, 10**30, "2026-02-30T00:00:00+00:00",
                      "2026-01-01T00:00:00Z", "+01:00", {"a": [1, {"b": None}]}, "\u0000", "🙂" * 10]


def malformed(rng: random.Random, kind: str, wmbus_id: str) -> bytes:
    """A payload that is wrong in some way (most of the time: a mutation can happen to be valid)."""
    roll = rng.random()
    if roll < 0.3:
        pool = NASTY if kind == "readings" else TELEMETRY_NASTY if kind == "telemetry" else WMBUS_NASTY
        p = rng.choice(pool)
        return p.replace(b"%s", wmbus_id.encode()) if kind == "wmbus" else p
    if roll < 0.45:
        return rng.randbytes(rng.randint(0, 64))
    base: dict[str, object]
    now = datetime.now(UTC) - timedelta(hours=rng.randint(1, 48))
    if kind == "readings":
        base = {"ts": now.isoformat(), "value": rng.uniform(0, 1e5), "unit": "kWh", "quality": "measured"}
    elif kind == "telemetry":
        base = {"ts": now.isoformat(), "power_w": 10.0, "energy_wh": 5.0, "dim_pct": 50, "on": True}
    else:
        base = {"_": "telegram", "media": "electricity", "meter": "amiplus", "id": wmbus_id,
                "total_energy_consumption_kwh": 12.5, "timestamp": now.isoformat()}
    for _ in range(rng.randint(1, 3)):
        key = rng.choice(list(base))
        if rng.random() < 0.3:
            base.pop(key)
        else:
            base[key] = rng.choice(POOL)
    text = json.dumps([base] if rng.random() < 0.3 else base, ensure_ascii=rng.random() < 0.5)
    if rng.random() < 0.2:
        text = text[: rng.randint(0, len(text))]
    return text.encode("utf-8", "surrogatepass")


# --- the soak --------------------------------------------------------------------------------------------------


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.t0 = time.monotonic()
        self.run_dir = Path(os.environ["ENERGIBLIK_STATE"]) / "run"
        self.work = Path(os.environ["ENERGIBLIK_STATE"]) / "chaos"
        self.api = f"http://127.0.0.1:{os.environ['ENERGIBLIK_API_PORT']}"
        self.metrics_base = args.metrics_port_base or 20000 + int(os.environ["ENERGIBLIK_API_PORT"]) % 1000 * 10
        self.stop_flag = threading.Event()
        self.lags: list[float] = []
        self.malformed_sent = 0
        self.kills: Counter[str] = Counter()  # what the soak killed, per program (expected exits)
        # wall-clock windows in which acknowledged readings can be lost to a broker kill -9: from the last autosave
        # before the kill until the workers have subscribed again (a broker restarted from an old snapshot may not
        # know their sessions yet, and accepts messages for nobody)
        self.broker_kills: list[tuple[float, float]] = []
        self.result = Result(command=" ".join(sys.argv), duration_s=args.duration, buildings=args.buildings,
                             speed=args.speed)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def log(self, msg: str) -> None:
        print(f"[chaos {self.now():7.1f}s] {msg}", file=sys.stderr, flush=True)

    # -- database and processes
    def sql(self, query: str, *params: object) -> list[tuple[Any, ...]]:
        import psycopg

        from services.db import libpq_dsn

        with psycopg.connect(libpq_dsn(os.environ["ENERGIBLIK_DB__URL"]), connect_timeout=3) as conn:
            return conn.execute(query, params).fetchall()  # type: ignore[arg-type]

    def try_sql(self, query: str, *params: object) -> list[tuple[Any, ...]] | None:
        try:
            return self.sql(query, *params)
        except Exception:
            return None

    def worker_healthy(self, i: int) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_base + i}/health", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def api_healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api}/health", timeout=3) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def states(self) -> dict[str, tuple[str, int | None]]:
        import supervise

        return supervise.states(self.run_dir)

    def clear_sessions(self) -> None:
        """End the soak's worker sessions on the broker (and whatever they had queued): a clean start for the next
        run, and no stranded share group on a stack the test suite goes on using."""
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        for i in range(1, self.args.workers + 1):
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{CLIENT_PREFIX}-{i}", protocol=mqtt.MQTTv5)
            c.username_pw_set(os.environ["ENERGIBLIK_MQTT__USERNAME"], os.environ["ENERGIBLIK_MQTT__PASSWORD"])
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 0
            c.connect(os.environ["ENERGIBLIK_MQTT__HOST"], int(os.environ["ENERGIBLIK_MQTT__PORT"]), clean_start=True,
                      properties=props)
            c.loop_start()
            time.sleep(0.3)
            c.disconnect()
            c.loop_stop()

    # -- setup
    def setup(self) -> None:
        import supervise

        from services.config import get_settings

        stack("up")
        load_stack_env()
        get_settings.cache_clear()
        supervise.stop(self.run_dir)
        self.clear_sessions()
        self.log("emptying the database (dropped, migrated again)")
        pg = os.environ["ENERGIBLIK_PG_PORT"]
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", pg, "-U", "postgres", "-q", "-c",
                        "DROP DATABASE IF EXISTS energiblik WITH (FORCE)", "postgres"], check=True)
        stack("up")
        self.register()
        subprocess.run([sys.executable, "-m", "services.cli", "broker-sync"], check=True, cwd=REPO,
                       stdout=subprocess.DEVNULL)
        self.work.mkdir(parents=True, exist_ok=True)
        for f in ("published.csv", "truth.json"):
            (self.work / f).unlink(missing_ok=True)
        days = math.ceil(self.args.duration * 3 * self.args.speed / 86400) + 1  # room for faults' overrun
        from simulators.model import TZ

        start = datetime.combine(datetime.now(TZ).date() - timedelta(days=days), datetime.min.time(), TZ)
        self.sim_start = start
        log = self.run_dir / "supervisord.log"
        self.log_offset = log.stat().st_size if log.exists() else 0
        sim_args = ["--buildings", str(self.args.buildings), "--seed", str(self.args.seed), "--speed",
                    str(self.args.speed), "--start", start.isoformat(), "--faults",
                    "gaps,duplicates,late,reset,exchange,garbage", "--fault-rate", str(self.args.fault_rate),
                    "--truth", str(self.work / "truth.json"), "--published", str(self.work / "published.csv"),
                    "--api-url", self.api]
        progs = supervise.estate_programs(workers=self.args.workers, sim_args=sim_args, python=sys.executable,
                                          client_prefix=CLIENT_PREFIX, metrics_port_base=self.metrics_base,
                                          worker_env={"ENERGIBLIK_MQTT__SHARE_GROUP": SHARE_GROUP},
                                          rollups_metrics_port=self.metrics_base + 9)
        for p in progs:
            if p.name == "sim-1":
                p.stop_wait_s = 180  # it flushes what it holds and waits for the broker's acknowledgements
                p.autostart = False  # once the workers have subscribed: before, the broker drops what it accepts
        supervise.start(self.run_dir, progs)
        self.log(f"supervisord started: {', '.join(p.name for p in progs)}; simulating from {start.isoformat()}")
        deadline = time.monotonic() + 120
        while not (self.api_healthy() and all(self.worker_healthy(i) for i in range(1, self.args.workers + 1))):
            if time.monotonic() > deadline:
                raise SystemExit(f"the stack did not become healthy: {self.states()}")
            time.sleep(0.5)
        supervise.ctl(self.run_dir, "start", "sim-1", check=True)

    def register(self) -> None:
        from services.db import get_engine, pg
        from services.registry import service as registry
        from services.registry.schemas import LuminaireIn, MeterIn
        from simulators.history import register
        from simulators.model import fleet

        buildings = fleet(self.args.buildings, self.args.seed)
        engine = get_engine()
        register(engine, buildings)
        # the malformed stream's targets: sub-meters and a luminaire of the first three buildings
        self.junk: list[tuple[str, str, str, str]] = []  # building, meter, wmbus id, luminaire
        with pg(engine, write=True) as conn:
            for n, b in enumerate(buildings[:3]):
                parent = next(m.id for m in b.meters if m.carrier == "electricity" and m.parent is None)
                meter, wmbus_id = f"{b.id}-chaos", f"9{n:07d}"
                registry.put_meter(conn, meter, MeterIn.model_validate({
                    "building_id": b.id, "carrier": "electricity", "unit": "kWh", "mode": "register",
                    "parent_meter_id": parent, "external_id": wmbus_id}))
                registry.put_luminaire(conn, f"{b.id}-chaos-l", LuminaireIn.model_validate({
                    "building_id": b.id, "technology": "led", "rated_power_w": 10}))
                self.junk.append((b.id, meter, wmbus_id, f"{b.id}-chaos-l"))
        self.buildings = buildings

    # -- background: malformed payloads and rollup lag
    def malformed_stream(self) -> None:
        from services.broker.service import building_identity
        from services.config import get_settings
        from simulators.publisher import WindowedPublisher

        s = get_settings()
        secret = s.broker.secret.get_secret_value() if s.broker.secret else ""
        rng = random.Random(self.args.seed + 1)
        pubs = {}
        for bid, *_ in self.junk:
            ident = building_identity(secret, bid)
            pubs[bid] = WindowedPublisher(s.mqtt.host, s.mqtt.port, ident.username, ident.password,
                                          client_id=f"chaos-junk-{bid}", reconnect=True)
        prefix = s.mqtt.topic_prefix
        while not self.stop_flag.is_set():
            bid, meter, wmbus_id, lum = rng.choice(self.junk)
            kind = rng.choice(("readings", "telemetry", "wmbus"))
            topic = {"readings": f"{prefix}/buildings/{bid}/meters/{meter}/readings",
                     "telemetry": f"{prefix}/buildings/{bid}/luminaires/{lum}/telemetry",
                     "wmbus": f"{prefix}/buildings/{bid}/wmbus/chaos"}[kind]
            try:
                pubs[bid].publish(topic, malformed(rng, kind, wmbus_id))
            except Exception as exc:
                self.log(f"malformed stream: {exc}")
                continue
            self.malformed_sent += 1
            self.stop_flag.wait(1 / self.args.malformed_rate)
        for p in pubs.values():
            try:
                p.close()
            except Exception as exc:
                self.log(f"malformed publisher: {exc}")

    def lag_sampler(self) -> None:
        while not self.stop_flag.wait(2.0):
            rows = self.try_sql("SELECT extract(epoch FROM now() - min(created_at)) FROM rollup_dirty")
            if rows and rows[0][0] is not None:
                self.lags.append(float(rows[0][0]))

    # -- faults
    def schedule(self) -> list[Fault]:
        kinds = list(FAULT_KINDS) * max(1, round(self.args.duration / 300))
        self.rng.shuffle(kinds)
        warmup, window = 10.0, self.args.duration - 10.0
        slot = window / len(kinds)
        return [Fault(k, warmup + i * slot + self.rng.uniform(0, slot * 0.3)) for i, k in enumerate(kinds)]

    def last_received(self) -> datetime | None:
        rows = self.try_sql("SELECT max(received_at) FROM readings WHERE received_at > now() - interval '10 minutes'")
        return rows[0][0] if rows else None

    def fault_window(self, f: Fault) -> tuple[float, float]:
        """Wall-clock window in which an acknowledged reading can be lost to the fault: for a broker kill -9 from
        the broker's last possible autosave before it, for the others from just before it; until the affected
        processes were healthy again (+2 s)."""
        before = self.args.autosave + 5 if f.kind == "broker-kill" else 5.0
        return f.started_at - before, f.back_at + 2

    def wait_back(self, f: Fault, healthy: Any, timeout: float = 180.0) -> None:
        """Fill back_s and storing_s: time from the fault's end until `healthy()` and until a reading is stored."""
        end_wall = datetime.now(UTC)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (f.back_s is None or f.storing_s is None):
            if f.back_s is None and healthy():
                f.back_s = round(self.now() - f.ended_s, 1)
            if f.storing_s is None:
                last = self.last_received()
                if last is not None and last > end_wall:
                    f.storing_s = round(self.now() - f.ended_s, 1)
            time.sleep(0.25)

    def all_workers_healthy(self) -> bool:
        return all(self.worker_healthy(i) for i in range(1, self.args.workers + 1))

    def pid(self, name: str) -> int | None:
        import supervise

        out = supervise.ctl(self.run_dir, "pid", name).stdout.strip()
        return int(out) if out.isdigit() and int(out) > 0 else None

    def kill_program(self, name: str) -> int | None:
        pid = self.pid(name)
        if pid:
            os.kill(pid, signal.SIGKILL)
            self.kills[name] += 1
        return pid

    def apply(self, f: Fault) -> None:
        f.started_s, f.started_at = self.now(), time.time()
        if f.kind == "worker-kill":
            i = self.rng.randint(1, self.args.workers)
            old = self.kill_program(f"ingest-{i}")
            f.ended_s, f.note = self.now(), f"ingest-{i} (pid {old})"
            time.sleep(0.5)
            self.wait_back(f, lambda: self.worker_healthy(i) and self.pid(f"ingest-{i}") not in (None, old))
        elif f.kind == "rollups-kill":
            old = self.kill_program("rollups")
            f.ended_s, f.note = self.now(), f"pid {old}"
            self.wait_back(f, lambda: self.pid("rollups") not in (None, old))
        elif f.kind == "broker-restart":
            stack("mqtt-stop")
            stack("mqtt-start")
            f.ended_s = self.now()
            f.note = f"stopped and started in {f.ended_s - f.started_s:.1f} s"
            self.wait_back(f, self.all_workers_healthy)
        elif f.kind == "broker-kill":
            pid = int((Path(os.environ["ENERGIBLIK_STATE"]) / "mosquitto" / "mosquitto.pid").read_text())
            os.kill(pid, signal.SIGKILL)
            killed = time.time()
            time.sleep(self.args.broker_down)
            stack("mqtt-start")
            f.ended_s, f.note = self.now(), f"down {self.args.broker_down:g} s"
            self.wait_back(f, self.all_workers_healthy)
            back = time.time() if f.back_s is None else killed + (f.ended_s - f.started_s) + f.back_s
            self.broker_kills.append((killed - self.args.autosave - 5, back + 2))
        elif f.kind == "pg-outage":
            stack("pg-stop")
            time.sleep(self.args.pg_outage)
            stack("pg-start")
            f.ended_s, f.note = self.now(), f"down {self.args.pg_outage:g} s"
            self.wait_back(f, lambda: self.all_workers_healthy() and self.api_healthy())
        f.back_at = f.started_at + (f.ended_s - f.started_s) + (f.back_s if f.back_s is not None else 180.0)
        self.log(f"{f.kind}: {f.note}; back after {f.back_s} s, storing after {f.storing_s} s")

    # -- the run
    def run(self) -> Result:
        self.setup()
        self.t0 = time.monotonic()
        threads = [threading.Thread(target=self.malformed_stream, daemon=True),
                   threading.Thread(target=self.lag_sampler, daemon=True)]
        for t in threads:
            t.start()
        for f in self.schedule():
            while self.now() < f.planned_s:
                time.sleep(0.2)
            self.apply(f)
            self.result.faults.append(f)
        while self.now() < self.args.duration:
            time.sleep(0.2)
        self.log("duration over: stopping the simulator (it writes its truth) and the malformed stream")
        import supervise

        supervise.ctl(self.run_dir, "stop", "sim-1")
        self.stop_flag.set()
        threads[0].join(timeout=60)
        self.quiesce()
        threads[1].join(timeout=5)
        self.compare()
        self.result.alive_at_end = {k: v[0] for k, v in self.states().items()}
        self.result.unexpected_exits = self.unexpected_exits()
        self.result.worst_rollup_lag_s = round(max(self.lags, default=0.0), 1)
        self.result.malformed_sent = self.malformed_sent
        return self.result

    def quiesce(self, timeout: float = 600.0) -> None:
        """Until no reading has been stored for --settle seconds and no rollup range is waiting (or `timeout`)."""
        start = self.now()
        stable_since, last_count = self.now(), -1
        while self.now() - start < timeout:
            rows = self.try_sql("SELECT (SELECT count(*) FROM readings), (SELECT count(*) FROM rollup_dirty)")
            if rows:
                count, dirty = rows[0]
                if count != last_count:
                    stable_since, last_count = self.now(), count
                elif dirty == 0 and self.now() - stable_since >= self.args.settle:
                    break
            time.sleep(1)
        self.result.quiescent_after_s = round(self.now() - start, 1)
        self.log(f"quiescent after {self.result.quiescent_after_s} s")

    def unexpected_exits(self) -> dict[str, int]:
        exits: Counter[str] = Counter()
        with open(self.run_dir / "supervisord.log", encoding="utf-8") as fh:
            fh.seek(self.log_offset)
            text = fh.read()
        for line in text.splitlines():
            if " exited: " in line and "not expected" in line:
                exits[line.split(" exited: ")[1].split(" ")[0]] += 1
        return {k: v - self.kills[k] for k, v in exits.items() if v - self.kills[k] > 0}

    # -- the comparison
    def compare(self) -> None:
        import httpx

        from simulators.model import TZ

        r = self.result
        truth = json.loads((self.work / "truth.json").read_text())
        r.sim_stats = truth["stats"]
        interval_meters = {m.id for b in self.buildings for m in b.meters if m.carrier == "ev_charging"}
        building_of = {m.id: b.id for b in self.buildings for m in b.meters}
        # (meter, ts) -> value and, per acknowledged copy (a duplicate is published twice), when it was first
        # published and when its acknowledgement was read: the broker took that copy somewhere in between
        acked: dict[tuple[str, datetime], tuple[float, list[tuple[float, float]]]] = {}
        with open(self.work / "published.csv", encoding="utf-8") as fh:
            for line in fh:
                meter, ts, value, sent_at, acked_at = line.rstrip("\n").split(",")
                key = (meter, datetime.fromisoformat(ts))
                copies = acked.setdefault(key, (float(value), []))[1]
                copies.append((float(sent_at), float(acked_at)))
        r.acked_readings = len(acked)
        stored = {(m, ts) for m, ts in self.sql(
            "SELECT m.id, r.ts FROM readings r JOIN meters m ON m.key = r.meter_key WHERE m.id = ANY(%s)",
            list(building_of))}
        lost_interval: dict[tuple[str, str], float] = defaultdict(float)  # (building, day) -> kWh

        def overlaps(copy: tuple[float, float], window: tuple[float, float]) -> bool:
            return copy[0] <= window[1] and copy[1] >= window[0]

        for key, (value, copies) in acked.items():
            if key in stored:
                continue
            for f in r.faults:
                if any(overlaps(c, self.fault_window(f)) for c in copies):
                    f.lost += 1
            # a broker kill -9 loses what it acknowledged since its last save: a reading counts as lost to it when
            # every acknowledged copy of it was in the broker's hands during that window
            if all(any(overlaps(c, w) for w in self.broker_kills) for c in copies):
                r.lost_to_broker_kill += 1
                if key[0] in interval_meters:
                    day = (key[1] - timedelta(minutes=1)).astimezone(TZ).date().isoformat()
                    lost_interval[(building_of[key[0]], day)] += value
                    r.lost_interval_kwh += value
            else:
                r.lost += 1
                if len(r.lost_examples) < 20:
                    when = "; ".join(f"sent {datetime.fromtimestamp(c[0], UTC).time()} acked "
                                     f"{datetime.fromtimestamp(c[1], UTC).time()}" for c in copies)
                    r.lost_examples.append(f"{key[0]} {key[1].isoformat()}: {when}")
        for example in r.lost_examples:
            self.log(f"lost outside a broker kill: {example}")
        last_day = max(d for days in truth["truth_kwh"].values() for d in days)
        headers = {"Authorization": f"Bearer {os.environ['ENERGIBLIK_ADMIN_TOKEN']}"}
        worst = 0.0
        with httpx.Client(base_url=self.api, headers=headers, timeout=60) as api:
            for bid, days in truth["truth_kwh"].items():
                first = min(days)
                resp = api.get("/api/v1/consumption", params={"building_id": bid, "start": first, "end": last_day,
                                                              "resolution": "day"})
                resp.raise_for_status()
                got = {p["start"][:10]: p["kwh"] for p in resp.json()["series"]}
                for d, true_kwh in days.items():
                    if d == last_day:  # the day the simulation stopped in: its last readings may be gaps
                        continue
                    want = true_kwh - lost_interval.get((bid, d), 0.0)  # interval readings lost with a broker kill
                    have = got.get(d) or 0.0
                    r.building_days += 1
                    r.truth_kwh += want
                    r.api_kwh += have
                    rel = abs(have - want) / want if want else abs(have)
                    worst = max(worst, rel)
                    if rel > TOLERANCE:
                        (r.days_over if have > want else r.days_under).append(f"{bid} {d}: API {have} vs {want:.3f}")
        r.worst_rel_error = worst
        r.truth_kwh, r.api_kwh = round(r.truth_kwh, 1), round(r.api_kwh, 1)
        r.internal_errors = self.sql("SELECT count(*) FROM dead_letters WHERE reason LIKE 'internal error%%'")[0][0]
        r.dead_letters = dict(self.sql(  # type: ignore[arg-type]
            "SELECT left(split_part(reason, ':', 1), 60) AS r, count(*) FROM dead_letters GROUP BY r ORDER BY 2 DESC"))

    def teardown(self) -> None:
        import supervise

        self.stop_flag.set()
        supervise.stop(self.run_dir)
        try:
            self.clear_sessions()
        except OSError as exc:
            self.log(f"could not clear the soak's broker sessions: {exc}")


def table(r: Result) -> str:
    lines = [f"Command: `{r.command}`", "",
             f"{r.buildings} buildings, {r.duration_s:g} s at speed {r.speed:g} (simulator: "
             + ", ".join(f"{k} {v}" for k, v in r.sim_stats.items()) + f"); {r.malformed_sent} malformed payloads.",
             "", "| fault | at (s) | note | process healthy after (s) | storing again after (s) | acknowledged "
             "readings lost around it |", "|---|---:|---|---:|---:|---:|"]
    lines += [f"| {f.kind} | {f.started_s:.0f} | {f.note} | {f.back_s if f.back_s is not None else 'never'} | "
              f"{f.storing_s if f.storing_s is not None else 'never'} | {f.lost} |" for f in r.faults]
    lines += ["", "| measure | value |", "|---|---:|",
              f"| readings acknowledged by the broker to the simulator | {r.acked_readings:,} |",
              f"| lost (acknowledged, not stored), outside a broker kill -9 | {r.lost} |",
              "| lost to a broker kill -9 (acknowledged since the broker's last autosave) | "
              f"{r.lost_to_broker_kill} (interval meters: {r.lost_interval_kwh:.1f} kWh) |",
              f"| building-days compared (API vs truth, ±{TOLERANCE:.0%}) | {r.building_days} |",
              f"| building-days above the truth (counted twice) | {len(r.days_over)} |",
              f"| building-days below the truth | {len(r.days_under)} |",
              f"| kWh: truth / API (sum over those days) | {r.truth_kwh:,.1f} / {r.api_kwh:,.1f} |",
              f"| worst relative error of a building-day | {r.worst_rel_error:.2%} |",
              f"| internal errors (dead letters 'internal error') | {r.internal_errors} |",
              f"| unexpected process exits (not killed by the soak) | "
              f"{', '.join(f'{k} {v}' for k, v in r.unexpected_exits.items()) or 'none'} |",
              f"| processes at the end | {', '.join(f'{k} {v}' for k, v in r.alive_at_end.items())} |",
              f"| worst rollup lag (oldest rollup_dirty row, sampled every 2 s) | {r.worst_rollup_lag_s:.0f} s |",
              f"| quiescent after the end (s) | {r.quiescent_after_s:.0f} |",
              "", "| dead letters by reason | count |", "|---|---:|"]
    lines += [f"| {reason} | {n} |" for reason, n in r.dead_letters.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="bench", help="deploy/stack.sh profile (its database is emptied)")
    ap.add_argument("--duration", type=float, default=600.0, help="seconds of faults and traffic")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--buildings", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--speed", type=float, default=600.0, help="simulated seconds per second")
    ap.add_argument("--fault-rate", type=float, default=0.02, help="the simulator's fault rate")
    ap.add_argument("--malformed-rate", type=float, default=5.0, help="malformed payloads per second")
    ap.add_argument("--pg-outage", type=float, default=30.0, help="seconds PostgreSQL stays stopped")
    ap.add_argument("--broker-down", type=float, default=2.0, help="seconds the broker stays dead after kill -9")
    ap.add_argument("--autosave", type=float, default=30.0, help="the broker's autosave_interval (loss window)")
    ap.add_argument("--metrics-port-base", type=int, default=None,
                    help="workers' /health on BASE+1.., the rollups' metrics on BASE+9 (default: from the API port)")
    ap.add_argument("--settle", type=float, default=15.0,
                    help="at the end: seconds without a new stored reading (and no rollup waiting) before comparing")
    ap.add_argument("--json", default=None, help="write the result here too")
    args = ap.parse_args(argv)
    os.environ["ENERGIBLIK_PROFILE"] = args.profile
    load_stack_env()
    soak = Soak(args)
    try:
        result = soak.run()
    finally:
        soak.teardown()
    print(table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(result), indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
