"""Ingest benchmark: database reference rates, backlog drain rates of the worker, and publish-to-queryable latency.

Run with `bash bench/run.sh` (it brings up the private `bench` stack). Everything is measured in one run on the same
machine, so the ratios between the figures mean more than any absolute number on a shared, noisy 2-core box.

    (0) database reference: binary COPY into the readings hypertable (the worker's fast path), and COPY into a
        staging table + INSERT ... ON CONFLICT (the dedupe path), fresh keys, batches of 10k rows;
    (a) worker drain of a backlog of single-reading messages queued for its persistent session;
    (b) the same with 100 readings per message;
    (c) latency from publish to queryable at a steady 1,000 messages/s;
    (d) where the worker's time goes: cProfile of a drain like (b).
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from services.broker.service import building_identity  # noqa: E402
from services.db import libpq_dsn  # noqa: E402
from simulators.publisher import WindowedPublisher  # noqa: E402

PREFIX = "energiblik/v1"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("ENERGIBLIK_")}


def conn() -> psycopg.Connection:
    return psycopg.connect(libpq_dsn(os.environ["ENERGIBLIK_DB__URL"]), autocommit=True)


def reset(meters: int) -> None:
    with conn() as c:
        c.execute("TRUNCATE readings, reading_revisions, dead_letters, quarantine, meters, buildings CASCADE")
        c.execute("INSERT INTO buildings (id, name, type, heated_area_m2, heating) "
                  "VALUES ('BENCH', 'Bench', 'school', 1000, 'district_heating')")
        c.execute("INSERT INTO meters (id, building_id, carrier, unit, mode) "
                  "SELECT 'M' || g, 'BENCH', 'electricity', 'kWh', 'register' FROM generate_series(0, %s - 1) g",
                  [meters])
    subprocess.run([sys.executable, "-m", "services.cli", "broker-sync"], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL)


def meter_keys() -> list[int]:
    with conn() as c:
        return [r[0] for r in c.execute("SELECT key FROM meters ORDER BY key")]


def count_readings() -> int:
    with conn() as c:
        return int(c.execute("SELECT count(*) FROM readings").fetchone()[0])


# -- (0) database reference ------------------------------------------------------------------------------------------

def db_reference(rows_total: int = 2_000_000, batch: int = 10_000, meters: int = 5000) -> dict[str, float]:
    reset(meters)
    keys = meter_keys()
    per_meter = rows_total // len(keys)
    rows = [(k, T0 + timedelta(minutes=15 * i), float(i), "measured", "mqtt") for i in range(per_meter) for k in keys]
    types = ["int4", "timestamptz", "float8", "text", "text"]
    out: dict[str, float] = {}
    with conn() as c:
        c.autocommit = False
        t = time.perf_counter()
        for i in range(0, len(rows), batch):
            with c.cursor() as cur, cur.copy("COPY readings (meter_key, ts, value, quality, source) "
                                              "FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(types)
                for r in rows[i:i + batch]:
                    cp.write_row(r)
            c.commit()
        out["copy_binary_rows_per_s"] = len(rows) / (time.perf_counter() - t)
        c.execute("TRUNCATE readings")
        c.commit()
        c.execute("CREATE TEMP TABLE st (meter_key int, ts timestamptz, value float8, quality reading_quality, "
                  "source reading_source)")
        t = time.perf_counter()
        for i in range(0, len(rows), batch):
            c.execute("TRUNCATE st")
            with c.cursor() as cur, cur.copy("COPY st FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(types)
                for r in rows[i:i + batch]:
                    cp.write_row(r)
            c.execute("INSERT INTO readings (meter_key, ts, value, quality, source) SELECT * FROM st "
                      "ON CONFLICT (meter_key, ts) DO NOTHING")
            c.commit()
        out["copy_staging_on_conflict_rows_per_s"] = len(rows) / (time.perf_counter() - t)
    return out


# -- worker drain ----------------------------------------------------------------------------------------------------

class Worker:
    def __init__(self, client_id: str, profile_to: Path | None = None, retire: bool = True,
                 protocol: str = "5", rollups: bool = False) -> None:
        self.client_id = client_id
        # A share group of its own, and the session ended at stop: an offline session left in a share group keeps
        # receiving its round-robin share of every later run's messages.
        self.metrics_port = _free_port()
        e = {**os.environ, "ENERGIBLIK_MQTT__CLIENT_ID": client_id, "ENERGIBLIK_MQTT__SHARE_GROUP": client_id,
             "ENERGIBLIK_INGEST__METRICS_PORT": str(self.metrics_port),
             "ENERGIBLIK_INGEST__RETIRE_ON_STOP": "true" if retire else "false",
             "ENERGIBLIK_MQTT__PROTOCOL": protocol,
             "ENERGIBLIK_INGEST__ROLLUPS": "true" if rollups else "false",
             "ENERGIBLIK_LOG_LEVEL": "WARNING"}
        cmd = [sys.executable, "-m", "ingest"]
        if profile_to:
            cmd = [sys.executable, "-m", "cProfile", "-o", str(profile_to), "-m", "ingest"]
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=e)

    def stored(self) -> int:
        """Readings stored so far, from the worker's metrics: polling count(*) would load the database under test."""
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2).read().decode()
        except OSError:
            return 0
        for line in body.splitlines():
            if line.startswith("energiblik_ingest_readings_stored_total "):
                return int(float(line.split()[1]))
        return 0

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)


def queue_backlog(messages_per_meter: int, readings_per_message: int, meters: int) -> int:
    ident = building_identity(os.environ["ENERGIBLIK_BROKER__SECRET"], "BENCH")
    pub = WindowedPublisher(os.environ["ENERGIBLIK_MQTT__HOST"], int(os.environ["ENERGIBLIK_MQTT__PORT"]),
                            ident.username, ident.password)
    n = 0
    for m in range(meters):
        topic = f"{PREFIX}/buildings/BENCH/meters/M{m}/readings"
        for j in range(messages_per_meter):
            base = j * readings_per_message
            if readings_per_message == 1:
                payload = orjson.dumps({"ts": (T0 + timedelta(minutes=15 * base)).isoformat(), "value": float(base)})
            else:
                payload = orjson.dumps([{"ts": (T0 + timedelta(minutes=15 * (base + k))).isoformat(),
                                         "value": float(base + k)} for k in range(readings_per_message)])
            pub.publish(topic, payload)
            n += readings_per_message
    pub.close()
    return n


def drain(label: str, messages_per_meter: int, readings_per_message: int, meters: int,
          profile_to: Path | None = None, protocol: str = "5", rollups: bool = False) -> dict[str, float]:
    reset(meters)
    cid = f"bench-{label}-{int(time.time())}"
    w = Worker(cid, retire=False, protocol=protocol, rollups=rollups)
    time.sleep(2.0)  # session + subscription exist; the backlog queues for them
    w.stop()
    t = time.perf_counter()
    expected = queue_backlog(messages_per_meter, readings_per_message, meters)
    publish_s = time.perf_counter() - t
    w = Worker(cid, profile_to, protocol=protocol, rollups=rollups)
    t_start = time.perf_counter()
    while w.stored() < expected:
        time.sleep(0.05)
    wall = time.perf_counter() - t_start
    w.stop()
    assert count_readings() == expected, "the worker's count and the database disagree"
    with conn() as c:
        span = c.execute("SELECT extract(epoch FROM max(received_at) - min(received_at)) FROM readings").fetchone()[0]
    return {
        "readings": expected,
        "messages": expected // readings_per_message,
        "publish_s": round(publish_s, 2),
        "drain_wall_s_incl_startup": round(wall, 2),
        "drain_readings_per_s_wall": round(expected / wall),
        "drain_readings_per_s_first_to_last_batch": round(expected / float(span)) if span else 0,
    }


def drain_with_rollup_process(messages_per_meter: int, readings_per_message: int, meters: int) -> dict[str, float]:
    """Drain (b) while `python -m ingest.rollups` keeps the rollups: ingest rate, and when the rollups caught up."""
    with conn() as c:
        c.execute("TRUNCATE consumption_hourly, consumption_daily, consumption_decisions, rollup_dirty")
    roll = subprocess.Popen([sys.executable, "-m", "ingest.rollups"], cwd=REPO,
                            env={**os.environ, "ENERGIBLIK_LOG_LEVEL": "WARNING"})
    try:
        t0 = time.perf_counter()
        r = drain("e", messages_per_meter, readings_per_message, meters)
        while True:
            with conn() as c:
                pending = c.execute("SELECT count(*) FROM rollup_dirty").fetchone()[0]
                rolled = c.execute("SELECT count(*) FROM consumption_daily").fetchone()[0]
            if pending == 0 and rolled:
                break
            time.sleep(0.2)
        total = time.perf_counter() - t0
    finally:
        roll.send_signal(signal.SIGTERM)
        roll.wait(timeout=60)
    with conn() as c:
        kwh = c.execute("SELECT sum(amount) FROM consumption_daily").fetchone()[0]
    # from the worker's start (after the 2 s session set-up and the publishing) until no dirty range is left
    caught_up = total - 2.0 - r["publish_s"]
    r["rollups_caught_up_s_after_worker_start"] = round(caught_up, 2)
    r["rollup_readings_per_s"] = round(r["readings"] / caught_up)
    r["daily_kwh_total"] = round(float(kwh), 3)
    return r


# -- latency ---------------------------------------------------------------------------------------------------------

def latency(seconds: int = 30, rate: int = 1000) -> dict[str, float]:
    reset(10)
    w = Worker(f"bench-latency-{int(time.time())}")
    time.sleep(2.0)
    ident = building_identity(os.environ["ENERGIBLIK_BROKER__SECRET"], "BENCH")
    sent: dict[int, float] = {}
    seen: dict[int, float] = {}
    stop = threading.Event()

    def poll() -> None:
        with conn() as c:
            last = 0
            while not stop.is_set():
                rows = c.execute("SELECT value FROM readings WHERE value > %s", [last]).fetchall()
                now = time.perf_counter()
                for (v,) in rows:
                    seen.setdefault(int(v), now)
                if rows:
                    last = max(int(r[0]) for r in rows)
                time.sleep(0.005)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    pub = WindowedPublisher(os.environ["ENERGIBLIK_MQTT__HOST"], int(os.environ["ENERGIBLIK_MQTT__PORT"]),
                            ident.username, ident.password)
    start = time.perf_counter()
    total = seconds * rate
    for i in range(1, total + 1):
        due = start + i / rate
        while (now := time.perf_counter()) < due:
            pub.client.loop(timeout=min(0.001, due - now))
        topic = f"{PREFIX}/buildings/BENCH/meters/M{i % 10}/readings"
        sent[i] = time.perf_counter()
        pub.publish(topic, orjson.dumps({"ts": (T0 + timedelta(seconds=i)).isoformat(), "value": float(i)}))
    pub.close()
    deadline = time.perf_counter() + 30
    while len(seen) < total and time.perf_counter() < deadline:
        time.sleep(0.05)
    stop.set()
    poller.join()
    w.stop()
    lat = sorted((seen[i] - sent[i]) * 1000 for i in sent if i in seen)
    q = statistics.quantiles(lat, n=100)
    return {"messages": total, "seen": len(lat), "p50_ms": round(q[49], 1), "p99_ms": round(q[98], 1),
            "max_ms": round(lat[-1], 1)}


def profile_summary(path: Path, top: int = 18) -> list[str]:
    st = pstats.Stats(str(path))
    st.sort_stats("tottime")
    rows = []
    total = sum(v[2] for v in st.stats.values())  # type: ignore[attr-defined]
    for (file, line, fn), (_cc, _nc, tt, _ct, _callers) in sorted(
            st.stats.items(), key=lambda kv: -kv[1][2])[:top]:  # type: ignore[attr-defined]
        rows.append(f"{tt / total * 100:5.1f}%  {tt:7.2f}s  {Path(file).name}:{line} {fn}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "ingest.json"))
    args = ap.parse_args()
    scale = 10 if args.quick else 1
    results: dict[str, object] = {"started": datetime.now(UTC).isoformat(), "machine": os.uname().nodename}
    print("(0) database reference ...", flush=True)
    results["db_reference"] = db_reference(rows_total=2_000_000 // scale)
    print(results["db_reference"], flush=True)
    for protocol in ("5", "3.1.1"):
        rollups = False  # the default: the separate rollup process maintains them (measured below)
        key = "" if protocol == "5" else "_mqtt311"
        print(f"(a) drain, 1 reading per message, MQTT {protocol}, rollups {rollups} ...", flush=True)
        results["drain_single" + key] = drain("a" + key, 10_000 // scale, 1, 20, protocol=protocol, rollups=rollups)
        print(results["drain_single" + key], flush=True)
        print(f"(b) drain, 100 readings per message, MQTT {protocol}, rollups {rollups} ...", flush=True)
        results["drain_batch100" + key] = drain("b" + key, 1_000 // scale, 100, 20, protocol=protocol,
                                                rollups=rollups)
        print(results["drain_batch100" + key], flush=True)
    print("(e) drain (b) with the rollup process running alongside ...", flush=True)
    results["drain_batch100_with_rollup_process"] = drain_with_rollup_process(1_000 // scale, 100, 20)
    print(results["drain_batch100_with_rollup_process"], flush=True)
    print("(c) latency at 1,000 msg/s ...", flush=True)
    results["latency_1000_per_s"] = latency(seconds=30 // scale if scale > 1 else 30)
    print(results["latency_1000_per_s"], flush=True)
    print("(d) profile of a (b) drain ...", flush=True)
    prof = Path("/tmp/energiblik-ingest.prof")
    results["drain_batch100_profiled"] = drain("d", 1_000 // scale, 100, 20, profile_to=prof)
    results["profile_top_tottime"] = profile_summary(prof)
    print("\n".join(results["profile_top_tottime"]), flush=True)  # type: ignore[arg-type]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
