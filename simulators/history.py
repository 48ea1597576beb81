"""Write the simulated estate's history from 2015 until the last full hour but one, quickly, through the product's
own code paths: the registry service (as the API's PUTs), the ingest pipeline (the same decoding, validation and COPY
as MQTT messages get, fed wire-contract topics and JSON payloads directly instead of through the broker), the baseline
and degree-day imports (as the API's CSV imports) and the rollup rebuild command.

Readings: one register reading a day (local midnight) from 2015, hourly ones for the last two months — as municipal
meters are read daily by their utilities and hourly only recently. Daily reads give exact days, months and years
(coverage 1); hours exist where readings are hourly. For the last three days (what the alert process judges) the
devices' telemetry too: luminaires (on each change and every hour) and the heat meters read through wmbusmeters
(kamheat telegrams every quarter-hour, with flow and return temperatures). The 2015 baseline is imported
as monthly kWh per building and carrier, with the monthly degree days of the simulated weather.

The history ends at the last full hour but one (`--until`), so the live simulation has only an hour or two to catch
up and no meter looks silent when the alert process starts; the demo's scenarios (simulators/scenarios.py) are
planted relative to that end.

    python -m simulators.history --buildings 100 --seed 2015
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import psycopg
from sqlalchemy import Engine
from tqdm import tqdm

from services.config import get_settings
from services.db import PgConn, get_engine, libpq_dsn, pg
from services.ingestion.schemas import RawMessage
from services.ingestion.service import IngestPipeline
from services.registry import service as registry
from services.registry.schemas import BuildingIn, LuminaireIn, MeterIn
from services.targets import reference as ref
from simulators.model import (
    FLUORESCENT_W,
    HISTORY_START,
    LED_W,
    TZ,
    BuildingSpec,
    MeterSpec,
    day_use,
    fleet,
    luminaire_states,
    meter_amount,
    month_degree_days,
    silent_since,
    wmbus_telegram,
)
from simulators.scenarios import TELEMETRY_DAYS, default_end, plant, today_of

log = logging.getLogger("energiblik.simulator")
REPO = Path(__file__).resolve().parent.parent
MARKER = "simulator_history"
HOURLY_DAYS = 62  # hourly readings for the last two months (alerts judge against 30 days of hours)
PER_MESSAGE = 2000  # readings per MQTT-style message (wire contract: at most 10,000)
SOURCE = "Energiblik simulator"
HOUR = timedelta(hours=1)
SIMULATOR = registry.Actor("simulator", via="simulator")


def register(engine: Engine, buildings: list[BuildingSpec]) -> None:
    """Buildings, meters and luminaires through the registry service (the API's code), with the luminaires' LED
    retrofits dated in their technology history."""
    with pg(engine, write=True) as conn:
        for b in buildings:
            fields = {
                "name": b.name, "type": b.archetype.type, "heated_area_m2": b.area_m2, "heating": b.heating_2015,
                "opening_hours": b.archetype.hours, "energy_label": b.energy_label,
                "hot_water_share": b.archetype.hot_water_share if b.id.endswith(("1", "2")) else None}
            registry.put_building(conn, b.id, BuildingIn.model_validate(fields), actor=SIMULATOR)
            if b.conversion_year is not None and b.heating_now != b.heating_2015:
                # the boiler's replacement, dated in the heating history (the fossil tracker's lifecycle)
                registry.put_building(conn, b.id, BuildingIn.model_validate({
                    **fields, "heating": b.heating_now, "valid_from": f"{b.conversion_year}-07-01"}), actor=SIMULATOR)
        for b in buildings:
            # parents before their sub-meters, replacements before the meters they replace
            for m in sorted(b.meters, key=lambda m: (m.active_until is not None, m.parent is not None)):
                registry.put_meter(conn, m.id, _meter_in(b, m), actor=SIMULATOR)
            for i in range(1, b.luminaires + 1):
                tech = "led" if b.led_year else "fluorescent"
                registry.put_luminaire(conn, f"{b.id}-l{i:03d}", LuminaireIn.model_validate({
                    "building_id": b.id, "technology": tech,
                    "rated_power_w": LED_W if b.led_year else FLUORESCENT_W,
                    "zone": f"zone {1 + (i - 1) // 10}"}), actor=SIMULATOR)
        ids = [f"{b.id}-l{i:03d}" for b in buildings for i in range(1, b.luminaires + 1)]
        conn.execute("DELETE FROM luminaire_history WHERE luminaire_id = ANY(%s)", (ids,))
        for b in buildings:
            rows = [(f"{b.id}-l{i:03d}", datetime(2014, 1, 1, tzinfo=UTC), "fluorescent", FLUORESCENT_W)
                    for i in range(1, b.luminaires + 1)]
            if b.led_year:
                rows += [(f"{b.id}-l{i:03d}", datetime(b.led_year, 7, 1, tzinfo=TZ), "led", LED_W)
                         for i in range(1, b.luminaires + 1)]
            for r in rows:
                conn.execute("INSERT INTO luminaire_history (luminaire_id, valid_from, technology, "
                             "rated_power_w) VALUES (%s, %s, %s, %s)", r)


def _meter_in(b: BuildingSpec, m: MeterSpec) -> MeterIn:
    interval = m.carrier == "ev_charging"  # EV chargers report energy per hour (interval meters)
    # The lifecycle as the fleet model has it: meters there since the history began are "since always"; a boiler's
    # meter is removed at the conversion and replaced by the heat meter installed then.
    replaced_by = None if m.active_until is None else next(
        (o.id for o in b.meters if o.active_from == m.active_until and o.carrier in ("district_heating", "heat_pump")),
        None)
    return MeterIn.model_validate({
        "building_id": b.id, "carrier": m.carrier, "unit": m.unit, "mode": "interval" if interval else "register",
        "interval_minutes": 60 if interval else None, "external_id": m.wmbus_id, "kwh_per_unit": m.kwh_per_unit,
        "parent_meter_id": m.parent,
        "active_from": m.active_from.isoformat() if m.active_from > HISTORY_START else None,
        "active_to": m.active_until.isoformat() if m.active_until else None, "replaced_by": replaced_by})


def readings(b: BuildingSpec, end: datetime, seed: int) -> Iterator[tuple[str, object]]:
    """Per device, what it sent from its start until `end` (UTC, on an hour): (topic below the building, payload)
    — wire-contract reading arrays, wmbusmeters telegrams, luminaire telemetry arrays."""
    end_day = end.astimezone(TZ).date()
    hourly_from = end_day - timedelta(days=HOURLY_DAYS)
    telemetry_from = _midnight(today_of(end) - timedelta(days=TELEMETRY_DAYS))
    values = {m.id: m.v0 for m in b.meters}
    items: dict[str, list[dict[str, object]]] = {m.id: [] for m in b.meters}
    silent = {m.id: s for m in b.meters if (s := silent_since(b, m.id)) is not None}
    d = HISTORY_START
    for m in b.meters:
        if m.active_from <= d and m.carrier != "ev_charging":
            items[m.id].append({"ts": _iso(_midnight(d)), "value": round(m.v0, 6)})
    while d < end_day or (d == end_day and _midnight(d) < end):
        hourly = d >= hourly_from
        last_day = d == end_day
        nxt = d + timedelta(days=1)
        for start, use in day_use(b, d, seed):
            hour_end = start + HOUR
            if last_day and hour_end > end:
                break
            for m in b.meters:
                if d < m.active_from or (m.active_until is not None and d >= m.active_until):
                    continue
                amount = meter_amount(m, use)
                if m.carrier == "ev_charging":
                    if amount > 0 or hourly:
                        items[m.id].append({"ts": _iso(hour_end), "value": round(amount, 6)})
                    continue
                if m.wmbus_id and start >= telemetry_from:  # the gateway's telegrams, every quarter-hour
                    for k in range(1, 5):
                        t = start + timedelta(minutes=15 * k)
                        q_use = {c: v / 4 for c, v in use.items()}
                        yield f"wmbus/{m.id}", wmbus_telegram(b, m, values[m.id] + amount * k / 4, t, q_use)
                    values[m.id] += amount
                    continue
                values[m.id] += amount
                if hourly and (m.id not in silent or hour_end <= silent[m.id]):
                    items[m.id].append({"ts": _iso(hour_end), "value": round(values[m.id], 6)})
        if not hourly:
            for m in b.meters:
                if m.active_from <= nxt and (m.active_until is None or nxt <= m.active_until) \
                        and m.carrier != "ev_charging":
                    items[m.id].append({"ts": _iso(_midnight(nxt)), "value": round(values[m.id], 6)})
        for m in b.meters:
            if len(items[m.id]) >= PER_MESSAGE:
                yield f"meters/{m.id}/readings", items[m.id]
                items[m.id] = []
        d = nxt
    for m in b.meters:
        if items[m.id]:
            yield f"meters/{m.id}/readings", items[m.id]
    yield from telemetry(b, telemetry_from, end)


def telemetry(b: BuildingSpec, start: datetime, end: datetime) -> Iterator[tuple[str, object]]:
    """The luminaires' telemetry from `start` to `end` inclusive: each quarter-hour's state when it changed, and
    every state on the hour (as simulators.live sends it)."""
    per: list[list[dict[str, object]]] = [[] for _ in range(b.luminaires)]
    last: list[object] = [None] * b.luminaires
    t = start
    while t <= end:
        for i, state in enumerate(luminaire_states(b, t)):
            if t.minute == 0 or state != last[i]:
                per[i].append({"ts": _iso(t), **state})
                last[i] = state
        t += timedelta(minutes=15)
    for i, rows in enumerate(per, start=1):
        if rows:
            yield f"luminaires/{b.id}-l{i:03d}/telemetry", rows


def _end(until: str | None) -> datetime:
    if until is None:
        return default_end()
    if len(until) == 10:
        return _midnight(date.fromisoformat(until))
    t = datetime.fromisoformat(until)
    if t.tzinfo is None or t.minute or t.second or t.microsecond:
        raise SystemExit(f"--until {until}: an instant with its offset, on the hour, or a date")
    return t.astimezone(UTC)


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=TZ).astimezone(UTC)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


_WORKER: dict[str, object] = {}  # an ingesting process's fleet, pipeline and connection (_worker_open)


def _worker_open(n: int, seed: int, end: datetime) -> None:
    """Set up an ingesting process: the same fleet and scenarios as the parent (from the seed), the ingest pipeline
    and one connection for all the buildings it is given."""
    buildings = fleet(n, seed)
    plant(buildings, end, seed)
    s = get_settings()
    _WORKER.update(buildings=buildings, end=end, seed=seed, topic_prefix=s.mqtt.topic_prefix,
                   pipeline=IngestPipeline(s.mqtt.topic_prefix, track_rollups=False),
                   conn=psycopg.connect(libpq_dsn(s.db.url)))


def _ingest_building(i: int) -> int:
    w = _WORKER
    buildings, conn, pipeline, end, seed = w["buildings"], w["conn"], w["pipeline"], w["end"], w["seed"]
    assert isinstance(buildings, list) and isinstance(conn, psycopg.Connection)
    assert isinstance(pipeline, IngestPipeline) and isinstance(end, datetime) and isinstance(seed, int)
    return _ingest_one(conn, pipeline, str(w["topic_prefix"]), buildings[i], end=end, seed=seed)


def ingest_parallel(n: int, seed: int, end: datetime, jobs: int, progress: bool | None = None) -> tuple[int, float]:
    """`ingest` with the buildings spread over `jobs` processes (each rebuilds the same fleet and scenarios), a
    building at a time, with a progress bar (tqdm, on stderr: drawn on a terminal; `progress` False: never)."""
    t0 = time.perf_counter()
    stored = 0
    with tqdm(total=n, desc="history", unit="building", file=sys.stderr,
              disable=True if progress is False else None) as bar, \
            ProcessPoolExecutor(max(1, jobs), initializer=_worker_open, initargs=(n, seed, end)) as pool:
        for f in as_completed([pool.submit(_ingest_building, i) for i in range(n)]):
            stored += f.result()
            bar.update(1)
    return stored, time.perf_counter() - t0


def ingest(buildings: list[BuildingSpec], end: datetime, seed: int) -> tuple[int, float]:
    """Feed the readings to the ingest pipeline in batches, one transaction per batch, as the worker does."""
    s = get_settings()
    pipeline = IngestPipeline(s.mqtt.topic_prefix, track_rollups=False)
    stored, t0 = 0, time.perf_counter()
    with psycopg.connect(libpq_dsn(s.db.url)) as conn:
        for b in buildings:
            stored += _ingest_one(conn, pipeline, s.mqtt.topic_prefix, b, end=end, seed=seed)
    return stored, time.perf_counter() - t0


def _ingest_one(conn: PgConn, pipeline: IngestPipeline, prefix: str, b: BuildingSpec, *, end: datetime,
                seed: int) -> int:
    """One building's readings, in batches of 25 messages, one transaction per batch."""
    stored = 0
    batch: list[RawMessage] = []
    for path, payload in readings(b, end, seed):
        batch.append(RawMessage(f"{prefix}/buildings/{b.id}/{path}", orjson.dumps(payload), datetime.now(UTC)))
        if len(batch) >= 25:
            stored += _flush(conn, pipeline, batch)
            batch = []
    if batch:
        stored += _flush(conn, pipeline, batch)
    return stored


def _flush(conn: PgConn, pipeline: IngestPipeline, batch: list[RawMessage]) -> int:
    with conn.transaction():
        stats = pipeline.handle_batch(conn, batch)
    if stats.dead_lettered:
        raise RuntimeError(f"the simulator produced {stats.dead_lettered} invalid message(s): {stats.reasons}")
    return stats.readings_stored


def baseline_and_degree_days(buildings: list[BuildingSpec], until: date, seed: int) -> None:
    """(`until`: the months before its month are complete.)"""
    """The 2015 baseline (monthly kWh per building and carrier, from the simulated 2015) and the actual degree
    days of every complete month, through the same import code as the API's CSV imports."""
    rows = ["building_id,carrier,month,kwh,source"]
    for b in buildings:
        totals: dict[tuple[str, int], float] = {}
        d = date(2015, 1, 1)
        while d.year == 2015:
            for _, use in day_use(b, d, seed):
                for carrier, kwh in use.items():
                    if carrier in ("water", "pv_production", "ev_charging"):
                        continue
                    if carrier == "heat_pump":
                        continue  # sub-metered inside electricity
                    totals[(carrier, d.month)] = totals.get((carrier, d.month), 0.0) + kwh
            d += timedelta(days=1)
        rows += [f"{b.id},{c},2015-{m:02d},{k:.1f},{SOURCE} (seed {seed}): meter readings 2015"
                 for (c, m), k in sorted(totals.items())]
    gd = ["month,degree_days,source"]
    m = date(2015, 1, 1)
    last = until.replace(day=1)
    while m < last:
        gd.append(f"{m:%Y-%m},{month_degree_days(m.year, m.month, seed):.1f},{SOURCE} weather (seed {seed})")
        m = date(m.year + (m.month == 12), m.month % 12 + 1, 1)
    s = get_settings()
    with psycopg.connect(libpq_dsn(s.db.url)) as conn, conn.transaction():
        out = ref.import_baseline(conn, "\n".join(rows) + "\n", "simulator")
        if out.rejected:
            raise RuntimeError(f"baseline rows rejected: {out.rejected[:3]}")
        out = ref.import_degree_days(conn, "\n".join(gd) + "\n", "simulator")
        if out.rejected:
            raise RuntimeError(f"degree days rejected: {out.rejected[:3]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--buildings", type=int, default=100)
    ap.add_argument("--seed", type=int, default=2015)
    ap.add_argument("--until", default=None,
                    help="where the history ends: an RFC 3339 instant (on the hour) or a local date (its midnight); "
                         "default the last full hour but one")
    ap.add_argument("--jobs", type=int, default=2, help="processes generating readings and rebuilding rollups")
    ap.add_argument("--force", action="store_true", help="write the history even if it is there")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    end = _end(args.until)
    params = {"buildings": args.buildings, "seed": args.seed}
    engine = get_engine()
    with psycopg.connect(libpq_dsn(get_settings().db.url)) as conn:
        row = conn.execute("SELECT value FROM settings WHERE key = %s", [MARKER]).fetchone()
    if row is not None and not args.force and {k: row[0].get(k) for k in params} == params:
        print(f"simulated history already loaded ({row[0]}); --force writes it again")
        return 0
    t0 = time.perf_counter()
    buildings = fleet(args.buildings, args.seed)
    scenarios = plant(buildings, end, args.seed)
    register(engine, buildings)
    print(f"registered {len(buildings)} buildings, {sum(len(b.meters) for b in buildings)} meters, "
          f"{sum(b.luminaires for b in buildings)} luminaires")
    n, secs = ingest_parallel(args.buildings, args.seed, end, args.jobs)
    print(f"stored {n:,} readings through the ingest pipeline in {secs:.0f} s ({n / max(secs, 1e-9):,.0f}/s)")
    baseline_and_degree_days(buildings, end.astimezone(TZ).date(), args.seed)
    print("imported the 2015 baseline and monthly degree days")
    subprocess.run([sys.executable, "-m", "services.cli", "rollups", "rebuild", "--jobs", str(args.jobs),
                    "--chunk-days", "366"], cwd=REPO, check=True)
    with psycopg.connect(libpq_dsn(get_settings().db.url)) as conn, conn.transaction():
        ref.set_setting(conn, MARKER, {**params, "until": end.isoformat(),
                                       "scenarios": [{"rule": x.rule, "building_id": x.building_id, "what": x.what}
                                                     for x in scenarios]}, SOURCE, "simulator")
    print(f"history written in {time.perf_counter() - t0:.0f} s; the demo's scenarios (simulators/scenarios.py):")
    for x in scenarios:
        print(f"  {x.rule}: {x.what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

