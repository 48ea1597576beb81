"""Broker durability, measured: readings that Mosquitto acknowledged to the publisher and then lost in a `kill -9`,
and what its persistence settings trade for that (publish throughput, disk writes).

Run with `bash bench/broker_durability.sh` (the private `bench` stack: its PostgreSQL, and this script's own
Mosquitto on a free port with the stack's password/ACL files). For each persistence setting:

    steady  50 meters publish one reading per message at 500 msg/s (QoS 1, a WindowedPublisher that, like a
            gateway, resends whatever was not acknowledged when the connection dropped) while an ingest worker
            stores them; mid-stream the broker is killed with SIGKILL and restarted; publisher and worker reconnect.
            lost = acknowledged to the publisher (PUBACK) but never stored.
    backlog the worker is stopped; 20,000 messages are published as fast as the broker acknowledges them (they queue
            in the worker's persistent session): publish throughput and the broker's disk writes.

Disk writes are /proc/<pid>/io write_bytes of the broker process(es); saves are counted from the broker's log.
Before each run the broker is restarted cleanly once, so the worker's session is on disk as on a broker that has
been running for a while (a broker killed before its first save loses the sessions themselves).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg
from paho.mqtt.reasoncodes import ReasonCode

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from services.broker.service import building_identity  # noqa: E402
from services.db import libpq_dsn  # noqa: E402
from simulators.publisher import PublishError, WindowedPublisher  # noqa: E402

PREFIX = "energiblik/v1"
BUILDING = "DURAB"
T0 = datetime(2024, 6, 1, tzinfo=UTC)

# name -> the persistence lines of mosquitto.conf
CONFIGS = {
    "interval-30s": ["autosave_interval 30"],
    "interval-1s": ["autosave_interval 1"],
    "changes-100": ["autosave_on_changes true", "autosave_interval 100"],
    "changes-1": ["autosave_on_changes true", "autosave_interval 1"],
    # not a crash: SIGTERM (the broker saves everything, then exits), for comparison
    "clean-restart": ["autosave_interval 30"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def db() -> psycopg.Connection:
    return psycopg.connect(libpq_dsn(os.environ["ENERGIBLIK_DB__URL"]), autocommit=True)


def reset(meters: int) -> None:
    with db() as c:
        c.execute("TRUNCATE readings, reading_revisions, rollup_dirty, dead_letters, quarantine, meters, buildings "
                  "CASCADE")
        c.execute("INSERT INTO buildings (id, name, type, heated_area_m2, heating) "
                  "VALUES (%s, 'Durability', 'school', 1000, 'district_heating')", [BUILDING])
        c.execute("INSERT INTO meters (id, building_id, carrier, unit, mode) "
                  "SELECT 'M' || g, %s, 'electricity', 'kWh', 'register' FROM generate_series(0, %s - 1) g",
                  [BUILDING, meters])
    subprocess.run([sys.executable, "-m", "services.cli", "broker-sync", "--no-reload"], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL)


def stored_indices(meters: int) -> set[int]:
    with db() as c:
        rows = c.execute("SELECT substr(m.id, 2)::int, extract(epoch FROM r.ts - %s)::bigint FROM readings r "
                         "JOIN meters m ON m.key = r.meter_key", [T0]).fetchall()
    return {int(sec) * meters + int(meter) for meter, sec in rows}


def count_stored() -> int:
    with db() as c:
        return int(c.execute("SELECT count(*) FROM readings").fetchone()[0])


def message(i: int, meters: int) -> tuple[str, bytes]:
    step = i // meters
    topic = f"{PREFIX}/buildings/{BUILDING}/meters/M{i % meters}/readings"
    return topic, orjson.dumps({"ts": (T0 + timedelta(seconds=step)).isoformat(), "value": float(step)})


class Broker:
    """This benchmark's own Mosquitto: the stack's configuration with another port, data directory and autosave."""

    def __init__(self, persistence: list[str], workdir: Path) -> None:
        self.port = free_port()
        self.dir = workdir
        self.data = workdir / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.log = workdir / "mosquitto.log"
        base = Path(os.environ["ENERGIBLIK_STATE"], "mosquitto", "mosquitto.conf").read_text().splitlines()
        lines = []
        for line in base:
            key = line.split(" ", 1)[0]
            if key in ("listener", "persistence_location", "pid_file", "log_dest", "autosave_interval",
                       "autosave_on_changes"):
                continue
            lines.append(line)
        lines += [f"listener {self.port} 127.0.0.1", f"persistence_location {self.data}/", f"log_dest file {self.log}",
                  "log_type information", *persistence]
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None
        self.write_bytes_done = 0  # of broker processes that have ended

    def start(self) -> None:
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start; see {self.log}")

    def write_bytes(self) -> int:
        """Bytes this broker (all its processes so far) caused to be written to storage."""
        live = 0
        if self.proc is not None and self.proc.poll() is None:
            for line in Path(f"/proc/{self.proc.pid}/io").read_text().splitlines():
                if line.startswith("write_bytes:"):
                    live = int(line.split()[1])
        return self.write_bytes_done + live

    def _ended(self, before: int) -> None:
        # /proc/<pid>/io is gone once the process is reaped: keep what it had written (read just before it ends;
        # a SIGKILLed broker writes nothing more, a SIGTERMed one writes its final save, estimated by the file size).
        self.write_bytes_done = before

    def kill9(self) -> None:
        assert self.proc is not None
        before = self.write_bytes()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._ended(before)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        before = self.write_bytes()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        db_file = self.data / "mosquitto.db"
        self._ended(before + (db_file.stat().st_size if db_file.exists() else 0))

    def saves(self) -> int:
        return self.log.read_text(errors="replace").count("Saving in-memory database") if self.log.exists() else 0


class Worker:
    def __init__(self, port: int, client_id: str, workdir: Path) -> None:
        self.metrics_port = free_port()
        self.env = {**os.environ, "ENERGIBLIK_MQTT__PORT": str(port), "ENERGIBLIK_MQTT__CLIENT_ID": client_id,
                    "ENERGIBLIK_MQTT__SHARE_GROUP": "durability", "ENERGIBLIK_INGEST__METRICS_PORT":
                    str(self.metrics_port), "ENERGIBLIK_MEMBERS__WATCH_BROKER": "false", "ENERGIBLIK_LOG_JSON": "false"}
        self.log = workdir / f"{client_id}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "ingest"], cwd=REPO, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT)
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"worker not healthy; see {self.log}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=120)


class TrackingPublisher(WindowedPublisher):
    """Remembers which reading each packet id carries, and which readings the broker acknowledged."""

    def __init__(self, port: int, acked: set[int]) -> None:
        self.acked_idx = acked
        self.inflight: dict[int, int] = {}
        self.no_subscribers = 0
        ident = building_identity(os.environ["ENERGIBLIK_BROKER__SECRET"], BUILDING)
        super().__init__("127.0.0.1", port, ident.username, ident.password, window=200)

    def _on_publish(self, client: object, userdata: object, mid: int, reason: ReasonCode,
                    properties: object) -> None:
        super()._on_publish(client, userdata, mid, reason, properties)  # type: ignore[arg-type]
        i = self.inflight.pop(mid, None)
        if i is not None and not reason.is_failure:
            self.acked_idx.add(i)
            if reason.value == 0x10:  # "no matching subscribers": acknowledged, and dropped by the broker
                self.no_subscribers += 1

    def send(self, i: int, topic: str, payload: bytes) -> None:
        while len(self.unacked) >= self.window:
            self._pump()
        info = self.client.publish(topic, payload, qos=1)
        if info.rc != 0:
            raise PublishError(f"publish failed: {info.rc}")
        self.unacked.add(info.mid)
        self.inflight[info.mid] = i
        self.client.loop_write()


def connect_publisher(port: int, acked: set[int], timeout: float = 60) -> TrackingPublisher:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return TrackingPublisher(port, acked)
        except (OSError, PublishError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@dataclass
class Run:
    config: str
    persistence: list[str]
    published: int = 0
    acked: int = 0
    stored: int = 0
    lost: int = 0
    acked_without_subscriber: int = 0
    reconnects: int = 0
    broker_down_s: float = 0.0
    steady_write_bytes: int = 0
    steady_saves: int = 0
    backlog_messages: int = 0
    backlog_publish_msg_s: float = 0.0
    backlog_write_bytes: int = 0
    backlog_saves: int = 0
    lost_examples: list[int] = field(default_factory=list)


def wait_stable(seconds: float, timeout: float = 300) -> int:
    """Wait until the readings count has not changed for `seconds`."""
    last, since, deadline = -1, time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = count_stored()
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= seconds:
            return n
        time.sleep(0.5)
    return last


def steady_with_kill(broker: Broker, run: Run, meters: int, rate: float, seconds: float, kill_at: float,
                     down_s: float) -> None:
    total = int(rate * seconds)
    acked: set[int] = set()
    pub = connect_publisher(broker.port, acked)
    resend: list[int] = []
    nxt, killed = 0, False
    t_start = time.monotonic()
    w0, s0 = broker.write_bytes(), broker.saves()
    while nxt < total or resend:
        now = time.monotonic() - t_start
        if not killed and now >= kill_at:
            killed = True
            if run.config == "clean-restart":
                broker.stop()
            else:
                broker.kill9()
            t_down = time.monotonic()
            time.sleep(down_s)
            broker.start()
            run.broker_down_s = round(time.monotonic() - t_down, 2)
        if resend:
            i = resend.pop(0)
        else:
            ahead = nxt / rate - now
            if ahead > 0:
                # the socket of a killed broker fails in any way; send() below notices and reconnects
                with contextlib.suppress(Exception):
                    pub.client.loop(timeout=min(ahead, 0.02))
                if ahead > 0.02:
                    continue
            i, nxt = nxt, nxt + 1
        topic, payload = message(i, meters)
        try:
            pub.send(i, topic, payload)
        except (PublishError, OSError):
            # Like a gateway: keep what the broker did not acknowledge, reconnect, send it again.
            resend = sorted((set(pub.inflight.values()) | {i}) - acked) + resend
            run.acked_without_subscriber += pub.no_subscribers
            pub = connect_publisher(broker.port, acked)
            run.reconnects += 1
    pub.flush()
    run.acked_without_subscriber += pub.no_subscribers
    pub.close()
    run.published = total
    run.acked = len(acked)
    wait_stable(8)
    stored = stored_indices(meters)
    lost = sorted(acked - stored)
    run.stored = len(stored)
    run.lost = len(lost)
    run.lost_examples = lost[:5]
    run.steady_write_bytes = broker.write_bytes() - w0
    run.steady_saves = broker.saves() - s0


def backlog(broker: Broker, worker: Worker, run: Run, meters: int, n: int, first: int) -> None:
    worker.stop()
    acked: set[int] = set()
    pub = connect_publisher(broker.port, acked)
    w0, s0 = broker.write_bytes(), broker.saves()
    t0 = time.perf_counter()
    for i in range(first, first + n):
        pub.send(i, *message(i, meters))
    pub.flush(timeout=600)
    took = time.perf_counter() - t0
    run.backlog_write_bytes = broker.write_bytes() - w0
    run.backlog_saves = broker.saves() - s0
    pub.close()
    run.backlog_messages = n
    run.backlog_publish_msg_s = round(n / took)
    worker.start()
    deadline = time.monotonic() + 300
    while count_stored() < run.stored + n and time.monotonic() < deadline:
        time.sleep(0.5)


def measure(name: str, args: argparse.Namespace, workdir: Path) -> Run:
    run = Run(config=name, persistence=CONFIGS[name])
    reset(args.meters)
    broker = Broker(CONFIGS[name], workdir / name)
    broker.start()
    worker = Worker(broker.port, f"durability-{name}", workdir)
    try:
        worker.start()
        # A clean restart puts the worker's session on disk, as on a broker that has run for a while.
        broker.stop()
        broker.start()
        worker.wait_healthy()
        time.sleep(2.0)  # the worker resubscribed (health is ok only once the SUBACK arrived)
        steady_with_kill(broker, run, args.meters, args.rate, args.seconds, args.kill_at, args.down)
        backlog(broker, worker, run, args.meters, args.backlog, first=10_000_000)
    finally:
        worker.stop()
        broker.stop()
    return run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated, from {', '.join(CONFIGS)}")
    p.add_argument("--meters", type=int, default=50)
    p.add_argument("--rate", type=float, default=500.0, help="messages per second (one reading each)")
    p.add_argument("--seconds", type=float, default=40.0, help="length of the steady stream")
    p.add_argument("--kill-at", type=float, default=20.0, help="seconds into the stream")
    p.add_argument("--down", type=float, default=2.0, help="seconds between kill -9 and restart")
    p.add_argument("--backlog", type=int, default=20_000)
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "broker_durability.json"))
    args = p.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="energiblik-durability-"))
    runs = []
    try:
        for name in args.configs.split(","):
            run = measure(name, args, workdir)
            runs.append(run)
            print(json.dumps(asdict(run)), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    Path(args.out).write_text(json.dumps({"args": vars(args), "measured_at": datetime.now(UTC).isoformat(),
                                          "runs": [asdict(r) for r in runs]}, indent=2) + "\n")
    print(f"\n| setting | acked | lost | lost % | steady: disk MB / saves | backlog of {args.backlog:,}: "
          f"publish msg/s | disk MB / saves |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        print(f"| `{'; '.join(r.persistence)}` | {r.acked:,} | {r.lost:,} | {100 * r.lost / max(1, r.acked):.2f} | "
              f"{r.steady_write_bytes / 1e6:.1f} / {r.steady_saves} | {r.backlog_publish_msg_s:,.0f} | "
              f"{r.backlog_write_bytes / 1e6:.1f} / {r.backlog_saves} |")


if __name__ == "__main__":
    main()
