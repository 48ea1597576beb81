"""Portfolio benchmark: consumption answers for a municipality-sized portfolio come from the rollups, fast.

Run with `bash bench/portfolio.sh` (it brings up the private `bench` stack). Steps, all measured in one run:

    (1) generate, in SQL, a portfolio of N buildings x 5 meters with 15-minute register readings over two years
        (200 buildings -> about 70 million readings) into its own database, `energiblik_portfolio`; kept between
        runs (a marker table records the parameters), so later runs skip to (3);
    (2) build the hourly and daily rollups with the product's own command, `energiblik rollups rebuild --jobs J`;
    (3) serve the API (uvicorn, real HTTP) on that database and time, as an energy-team admin:
          - one building's daily series for a year (a different building each request),
          - the portfolio's monthly series for a year,
          - the portfolio's yearly total for each carrier (one request per carrier);
        p50/p95 over the requests, after a warm-up;
    (4) EXPLAIN (ANALYZE, BUFFERS) of the SQL behind each answer, checked to touch no chunk of the raw `readings`
        hypertable; for contrast, the same monthly portfolio totals computed from the hourly rollup and from raw
        readings;
    (5) check the numbers: the API's 2025 total of sample meters equals the closed-form integral of the generated
        profile (the readings are samples of a known cumulative function).

Figures go to bench/results/portfolio.json and bench/results/portfolio_explain.txt; docs/benchmarks.md reports them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from services.consumption.repository import meters_for_totals  # noqa: E402
from services.db import libpq_dsn  # noqa: E402

TZ = ZoneInfo("Europe/Copenhagen")
FIRST_DAY, LAST_DAY = date(2024, 11, 1), date(2026, 11, 1)  # local days; readings in [first, last)
T0 = datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=TZ).astimezone(UTC)
T1 = datetime(LAST_DAY.year, LAST_DAY.month, LAST_DAY.day, tzinfo=TZ).astimezone(UTC)
YEAR_START, YEAR_END = "2025-01-01", "2026-01-01"
DB_NAME = "energiblik_portfolio"
CARRIERS = ["electricity", "district_heating", "natural_gas", "oil", "ev_charging", "pv_production"]

# Per meter: a cumulative register value that is a closed-form function of hours since T0, so the true consumption
# of any span is known exactly: value(h) = v0 + base*h + day*(h - 24/2pi sin(2pi(h-dph)/24))
#                                        + season*(h - P/2pi sin(2pi(h-sph)/P)), P = 8766 h,
# in kWh, divided by the meter's kWh per unit. Its derivative base + day(1-cos) + season(1-cos) is never negative.
PROFILE_SQL = """
CREATE TABLE IF NOT EXISTS bench_profile (
    meter_key integer PRIMARY KEY, v0 double precision, base double precision, day double precision,
    dph double precision, season double precision, sph double precision, per_unit double precision,
    gap boolean);
"""


def admin_url(url: str, dbname: str) -> str:
    return libpq_dsn(make_url(url).set(database=dbname).render_as_string(hide_password=False))


def log(msg: str) -> None:
    print(f"[portfolio {datetime.now(UTC):%H:%M:%S}] {msg}", flush=True)


def ensure_database(base_url: str) -> str:
    with psycopg.connect(admin_url(base_url, "postgres"), autocommit=True) as c:
        if c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone() is None:
            c.execute(f'CREATE DATABASE "{DB_NAME}"')
    url = make_url(base_url).set(database=DB_NAME).render_as_string(hide_password=False)
    subprocess.run([sys.executable, "-m", "alembic", "-c", str(REPO / "migrations/alembic.ini"), "upgrade", "head"],
                   cwd=REPO, env={**os.environ, "ENERGIBLIK_DB__URL": url}, check=True, stdout=subprocess.DEVNULL)
    return url


def marker(c: psycopg.Connection, params: dict[str, Any]) -> dict[str, Any] | None:
    c.execute("CREATE TABLE IF NOT EXISTS bench_marker (params jsonb, stage text, figures jsonb)")
    row = c.execute("SELECT params, stage, figures FROM bench_marker").fetchone()
    if row is None or row[0] != params:
        return None
    return {"stage": row[1], "figures": row[2] or {}}


def set_marker(c: psycopg.Connection, params: dict[str, Any], stage: str, figures: dict[str, Any]) -> None:
    c.execute("DELETE FROM bench_marker")
    c.execute("INSERT INTO bench_marker VALUES (%s, %s, %s)",
              [json.dumps(params), stage, json.dumps(figures)])


def generate_registry(c: psycopg.Connection, buildings: int) -> None:
    c.execute("TRUNCATE readings, reading_revisions, consumption_hourly, consumption_daily, consumption_monthly, "
              "consumption_decisions, "
              "rollup_dirty, dead_letters, quarantine, meter_exchanges, luminaires, meters, buildings CASCADE")
    c.execute("DROP TABLE IF EXISTS bench_profile")
    c.execute(PROFILE_SQL)
    types = ["school", "daycare", "office", "sports_hall", "care_home", "library", "culture"]
    c.execute(
        """
        INSERT INTO buildings (id, name, type, heated_area_m2, heating)
        SELECT format('PF-B%%s', lpad(b::text, 3, '0')), format('Portfolio building %%s', b),
               (%(types)s::text[])[1 + b %% 7], 800 + (b * 37) %% 5000,
               CASE WHEN b %% 20 < 16 THEN 'district_heating' WHEN b %% 20 < 19 THEN 'natural_gas' ELSE 'oil' END
        FROM generate_series(1, %(n)s) b
        """, {"n": buildings, "types": types})
    # Five meters a building: electricity main, a ventilation sub-meter under it, the heat meter, water, and PV
    # production or EV charging.
    c.execute(
        """
        INSERT INTO meters (id, building_id, carrier, unit, mode, interval_minutes, kwh_per_unit, parent_meter_id,
                            max_power_kw)
        SELECT b.id || s.suffix, b.id, s.carrier, s.unit, 'register', 15, s.per_unit,
               CASE WHEN s.suffix = '-EL-VENT' THEN b.id || '-EL' END, s.max_kw
        FROM buildings b
        CROSS JOIN LATERAL (VALUES
            (1, '-EL', 'electricity', 'kWh', NULL::float8, 400.0::float8),
            (2, '-EL-VENT', 'electricity', 'kWh', NULL, 100.0),
            (3, '-HEAT', b.heating, CASE b.heating WHEN 'district_heating' THEN 'MWh'
                                                    WHEN 'natural_gas' THEN 'm3' ELSE 'l' END,
                CASE b.heating WHEN 'natural_gas' THEN 11.0 WHEN 'oil' THEN 10.0 END, NULL),
            (4, '-W', 'water', 'm3', NULL, NULL),
            (5, CASE WHEN right(b.id, 1)::int % 3 = 0 THEN '-PV' ELSE '-EV' END,
                CASE WHEN right(b.id, 1)::int % 3 = 0 THEN 'pv_production' ELSE 'ev_charging' END, 'kWh', NULL, 150.0)
        ) s(ord, suffix, carrier, unit, per_unit, max_kw)
        ORDER BY b.id, s.ord
        """)
    # Sizes vary by building (scale 0.5-2.0); heat is seasonal, PV and EV are daytime.
    c.execute(
        """
        INSERT INTO bench_profile
        SELECT m.key, 1000 * sc, base * sc, day * sc, dph, season * sc, 0.0,
               CASE m.unit WHEN 'MWh' THEN 1000 WHEN 'm3' THEN coalesce(m.kwh_per_unit, 1) WHEN 'l' THEN 10
                           ELSE 1 END,
               m.key % 20 = 7
        FROM meters m
        CROSS JOIN LATERAL (SELECT 0.5 + ((m.key * 7919) % 151) / 100.0 AS sc) s
        CROSS JOIN LATERAL (SELECT
            CASE WHEN m.carrier = 'electricity' AND m.parent_meter_id IS NULL THEN 6.0
                 WHEN m.carrier = 'electricity' THEN 1.5 WHEN m.carrier = 'water' THEN 0.02
                 WHEN m.carrier IN ('pv_production', 'ev_charging') THEN 0.0 ELSE 8.0 END AS base,
            CASE WHEN m.carrier = 'electricity' AND m.parent_meter_id IS NULL THEN 10.0
                 WHEN m.carrier = 'electricity' THEN 2.0 WHEN m.carrier = 'water' THEN 0.05
                 WHEN m.carrier = 'pv_production' THEN 12.0 WHEN m.carrier = 'ev_charging' THEN 6.0
                 ELSE 6.0 END AS day,
            CASE WHEN m.carrier IN ('pv_production', 'ev_charging') THEN 23.0 ELSE 1.0 END AS dph,
            CASE WHEN m.carrier IN ('district_heating', 'natural_gas', 'oil') THEN 30.0 ELSE 0.0 END AS season
        ) p
        """)
    # sph, the season phase in hours since T0: heat demand peaks mid-January.
    jan15 = (datetime(2025, 1, 15, tzinfo=UTC) - T0).total_seconds() / 3600 - 8766 / 2
    c.execute("UPDATE bench_profile SET sph = %s", [jan15])


def value_expr(h: str) -> str:
    """The register value at `h` hours since T0 (in the meter's unit), as SQL over bench_profile p."""
    two_pi = "(2 * pi())"
    return (f"(p.v0 + p.base * {h} + p.day * ({h} - 24 / {two_pi} * sin({two_pi} * ({h} - p.dph) / 24))"
            f" + p.season * ({h} - 8766 / {two_pi} * sin({two_pi} * ({h} - p.sph) / 8766))) / p.per_unit")


def closed_form_kwh(p: dict[str, float], h0: float, h1: float) -> float:
    def v(h: float) -> float:
        tau = 2 * math.pi
        return (p["v0"] + p["base"] * h + p["day"] * (h - 24 / tau * math.sin(tau * (h - p["dph"]) / 24))
                + p["season"] * (h - 8766 / tau * math.sin(tau * (h - p["sph"]) / 8766)))
    return v(h1) - v(h0)


def generate_readings(url: str, months: list[tuple[datetime, datetime]], threads: int) -> tuple[int, float]:
    """INSERT ... SELECT one month of every meter per statement, `threads` statements at once."""
    sql = f"""
        INSERT INTO readings (meter_key, ts, value, quality, source, received_at)
        SELECT p.meter_key, g.ts, {value_expr("h.h")}, 'measured', 'import', g.ts
        FROM bench_profile p
        CROSS JOIN LATERAL generate_series(%(a)s::timestamptz, %(b)s::timestamptz - interval '15 minutes',
                                           interval '15 minutes') g(ts)
        CROSS JOIN LATERAL (SELECT extract(epoch FROM g.ts - %(t0)s::timestamptz) / 3600 AS h) h
        WHERE random() > 0.001  -- about one reading in a thousand never arrives
          AND NOT (p.gap AND g.ts >= %(gap_from)s AND g.ts < %(gap_to)s)  -- every 20th meter: a 3-day outage
        ORDER BY p.meter_key, g.ts
    """
    gap_from = datetime(2025, 3, 10, 9, tzinfo=UTC)

    def one(span: tuple[datetime, datetime]) -> int:
        with psycopg.connect(libpq_dsn(url), autocommit=True) as c:
            c.execute("SET synchronous_commit = off")
            cur = c.execute(sql, {"a": span[0], "b": span[1], "t0": T0, "gap_from": gap_from,
                                  "gap_to": gap_from + timedelta(days=3)})
            log(f"  readings {span[0]:%Y-%m}: {cur.rowcount:,}")
            return cur.rowcount

    t = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        n = sum(pool.map(one, months))
    return n, time.perf_counter() - t


def month_spans() -> list[tuple[datetime, datetime]]:
    out, d = [], FIRST_DAY
    while d < LAST_DAY:
        nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
        out.append((datetime(d.year, d.month, d.day, tzinfo=TZ).astimezone(UTC),
                    datetime(nxt.year, nxt.month, nxt.day, tzinfo=TZ).astimezone(UTC)))
        d = nxt
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Api:
    def __init__(self, url: str) -> None:
        self.port = free_port()
        env = {**os.environ, "ENERGIBLIK_DB__URL": url, "ENERGIBLIK_API_PORT": str(self.port),
               "ENERGIBLIK_LOG_LEVEL": "WARNING"}
        self.proc = subprocess.Popen([sys.executable, "-m", "api"], cwd=REPO, env=env)
        self.token = os.environ["ENERGIBLIK_ADMIN_TOKEN"]
        deadline = time.monotonic() + 30
        while True:
            try:
                self.get("/health")
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.close()
                    raise
                time.sleep(0.2)

    def get(self, path: str, **params: str) -> tuple[Any, float]:
        q = f"?{urllib.parse.urlencode(params)}" if params else ""
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}{q}",
                                     headers={"Authorization": f"Bearer {self.token}"})
        t = time.perf_counter()
        with urllib.request.urlopen(req, timeout=60) as r:
            body = json.loads(r.read())
        return body, (time.perf_counter() - t) * 1000

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def summary(xs: list[float]) -> dict[str, float]:
    return {"n": len(xs), "p50_ms": round(statistics.median(xs), 1), "p95_ms": round(pct(xs, 0.95), 1),
            "max_ms": round(max(xs), 1)}


def time_queries(api: Api, building_ids: list[str], repeat: int) -> dict[str, Any]:
    year = {"start": YEAR_START, "end": YEAR_END}
    for b in building_ids[:5]:  # warm-up: connection pool, plans, pages
        api.get("/api/v1/consumption", building_id=b, resolution="day", **year)
    api.get("/api/v1/consumption", resolution="month", **year)
    building, monthly, yearly, yearly_sets = [], [], [], []
    for i in range(repeat):
        body, ms = api.get("/api/v1/consumption", building_id=building_ids[(i * 37) % len(building_ids)],
                           resolution="day", **year)
        assert len(body["series"]) == 365, len(body["series"])
        building.append(ms)
        body, ms = api.get("/api/v1/consumption", resolution="month", **year)
        assert len(body["series"]) == 12
        monthly.append(ms)
        total = 0.0
        for carrier in CARRIERS:
            body, ms = api.get("/api/v1/consumption", resolution="year", carrier=carrier, **year)
            assert len(body["series"]) == 1
            yearly.append(ms)
            total += ms
        yearly_sets.append(total)
    return {"building_daily_year": summary(building), "portfolio_monthly_year": summary(monthly),
            "portfolio_yearly_per_carrier_request": summary(yearly),
            "portfolio_yearly_all_carriers_set": summary(yearly_sets)}


def readings_chunks(c: psycopg.Connection) -> set[str]:
    return {r[0].split(".")[-1] for r in c.execute("SELECT show_chunks('readings')::text")}


def explain(c: psycopg.Connection, label: str, sql: str, params: list[Any], raw: set[str]) -> tuple[str, float, bool]:
    plan = "\n".join(r[0] for r in c.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params))
    touches_raw = any(name in plan for name in raw) or " on readings" in plan
    ms = float(plan.rsplit("Execution Time:", 1)[1].split("ms")[0])
    return f"-- {label}\n{sql}\n{plan}\n", ms, touches_raw


def explain_all(url: str) -> tuple[str, dict[str, Any]]:
    figures: dict[str, Any] = {}
    out = []
    with psycopg.connect(libpq_dsn(url), autocommit=True) as c:
        raw = readings_chunks(c)
        totals = meters_for_totals(c, None, None)  # the product's own choice of meters
        one = meters_for_totals(c, ["PF-B042"], None)
        daily = ("SELECT day, sum(amount), sum(measured_s), sum(estimated) FROM consumption_daily "
                 "WHERE meter_key = ANY(%s) AND day >= %s AND day < %s GROUP BY day ORDER BY day")
        monthly = ("SELECT month, sum(amount), sum(measured_s), sum(estimated) FROM consumption_monthly "
                   "WHERE meter_key = ANY(%s) AND month >= %s AND month < %s GROUP BY month ORDER BY month")
        y0, y1 = date(2025, 1, 1), date(2026, 1, 1)
        for label, sql, keys in (
                ("one building, daily series for 2025 (the API's query)", daily, one),
                ("portfolio, monthly series / yearly totals for 2025 (the API's query)", monthly, totals),
                ("contrast: portfolio monthly totals for 2025 from the daily rollup", daily, totals)):
            text, ms, touches = explain(c, label, sql, [keys, y0, y1], raw)
            out.append(text)
            figures[label.split(" (")[0]] = {"execution_ms": ms, "touches_raw_readings": touches}
        s0 = datetime(2025, 1, 1, tzinfo=TZ)
        s1 = datetime(2026, 1, 1, tzinfo=TZ)
        hourly = ("SELECT date_trunc('month', hour, 'Europe/Copenhagen') m, sum(amount) FROM consumption_hourly "
                  "WHERE meter_key = ANY(%s) AND hour >= %s AND hour < %s GROUP BY m ORDER BY m")
        text, ms, touches = explain(c, "contrast: portfolio monthly totals for 2025 from the hourly rollup", hourly,
                                    [totals, s0, s1], raw)
        out.append(text)
        figures["contrast: from hourly rollup"] = {"execution_ms": ms, "touches_raw_readings": touches}
        # From raw readings: register difference per meter and month (what a system without rollups must do, and
        # still wrong at the month edges without interpolation).
        rawsql = ("SELECT m, sum(d) FROM (SELECT meter_key, date_trunc('month', ts, 'Europe/Copenhagen') m, "
                  "max(value) - min(value) d FROM readings WHERE meter_key = ANY(%s) AND ts >= %s AND ts < %s "
                  "GROUP BY 1, 2) x GROUP BY m ORDER BY m")
        text, ms, touches = explain(c, "contrast: portfolio monthly totals for 2025 from raw readings", rawsql,
                                    [totals, s0, s1], raw)
        out.append(text)
        figures["contrast: from raw readings"] = {"execution_ms": ms, "touches_raw_readings": touches}
    return "\n".join(out), figures


def check_numbers(url: str, api: Api) -> list[dict[str, Any]]:
    """The API's 2025 total for sample meters against the closed-form integral of their profile."""
    h0 = (datetime(2025, 1, 1, tzinfo=TZ) - T0).total_seconds() / 3600
    h1 = (datetime(2026, 1, 1, tzinfo=TZ) - T0).total_seconds() / 3600
    out = []
    with psycopg.connect(libpq_dsn(url), autocommit=True) as c:
        rows = c.execute("SELECT m.id, m.carrier, p.v0, p.base, p.day, p.dph, p.season, p.sph, p.per_unit, p.gap "
                         "FROM meters m JOIN bench_profile p ON p.meter_key = m.key "
                         "WHERE m.building_id IN ('PF-B007', 'PF-B016', 'PF-B019', 'PF-B027') ORDER BY m.id").fetchall()
    for r in rows:
        p = dict(zip(["v0", "base", "day", "dph", "season", "sph"], r[2:8], strict=True))
        expected = closed_form_kwh(p, h0, h1) / (r[8] if r[1] == "water" else 1)
        body, _ = api.get(f"/api/v1/meters/{r[0]}/consumption", resolution="year", start=YEAR_START, end=YEAR_END)
        got = body["series"][0].get("kwh") if r[1] != "water" else body["series"][0].get("m3")
        out.append({"meter": r[0], "carrier": r[1], "expected": round(expected, 3), "api": got,
                    "rel_error": abs(got - expected) / expected if expected else 0.0,
                    "coverage": body["series"][0]["coverage"], "gap_meter": r[9]})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--buildings", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=40, help="timed requests per query kind")
    ap.add_argument("--threads", type=int, default=2, help="parallel INSERT statements while generating")
    ap.add_argument("--jobs", type=int, default=2, help="parallel processes of `energiblik rollups rebuild`")
    ap.add_argument("--regenerate", action="store_true", help="generate the portfolio again even if present")
    ap.add_argument("--out", default=str(REPO / "bench/results/portfolio.json"))
    args = ap.parse_args()

    url = ensure_database(os.environ["ENERGIBLIK_DB__URL"])
    params = {"buildings": args.buildings, "first_day": FIRST_DAY.isoformat(), "last_day": LAST_DAY.isoformat(),
              "version": 1}
    with psycopg.connect(libpq_dsn(url), autocommit=True) as c:
        state = None if args.regenerate else marker(c, params)
        figures: dict[str, Any] = dict(state["figures"]) if state else {}
        if state is None:
            log(f"generating {args.buildings} buildings x 5 meters, 15-minute readings {FIRST_DAY} .. {LAST_DAY}")
            generate_registry(c, args.buildings)
            n, secs = generate_readings(url, month_spans(), args.threads)
            figures["generate"] = {"readings": n, "seconds": round(secs, 1), "rows_per_s": round(n / secs)}
            log(f"{n:,} readings in {secs:.0f} s")
            c.execute("VACUUM ANALYZE readings")
            set_marker(c, params, "readings", figures)
            state = {"stage": "readings"}
        if state["stage"] == "readings":
            log(f"building rollups: energiblik rollups rebuild --jobs {args.jobs}")
            t = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "services.cli", "rollups", "rebuild", "--jobs",
                                   str(args.jobs)], cwd=REPO, env={**os.environ, "ENERGIBLIK_DB__URL": url},
                                  check=True, capture_output=True, text=True)
            secs = time.perf_counter() - t
            log(done.stdout.strip())
            n = figures["generate"]["readings"]
            figures["rollup_rebuild"] = {"jobs": args.jobs, "seconds": round(secs, 1),
                                         "readings_per_s": round(n / secs), "output": done.stdout.strip()}
            c.execute("VACUUM ANALYZE consumption_hourly")
            c.execute("VACUUM ANALYZE consumption_daily")
            set_marker(c, params, "ready", figures)
        sizes = c.execute(
            "SELECT hypertable_size('readings'), hypertable_size('consumption_hourly'), "
            "pg_total_relation_size('consumption_daily'), (SELECT count(*) FROM consumption_daily), "
            "(SELECT count(*) FROM consumption_hourly), (SELECT count(*) FROM meters), "
            "0").fetchone()
        assert sizes is not None
        figures["sizes"] = {"readings_bytes": sizes[0], "hourly_bytes": sizes[1], "daily_bytes": sizes[2],
                            "daily_rows": sizes[3], "hourly_rows": sizes[4], "meters": sizes[5],
                            "meters_in_totals": len(meters_for_totals(c, None, None))}
        building_ids = [r[0] for r in c.execute("SELECT id FROM buildings ORDER BY id")]
    log(f"sizes: {figures['sizes']}")
    api = Api(url)
    try:
        log(f"timing API requests ({args.repeat} each)")
        figures["api"] = time_queries(api, building_ids, args.repeat)
        for k, v in figures["api"].items():
            log(f"  {k}: {v}")
        figures["check"] = check_numbers(url, api)
        worst = max(x["rel_error"] for x in figures["check"])
        log(f"numbers: API 2025 totals vs closed-form integral, worst relative error {worst:.2e}")
    finally:
        api.close()
    plans, figures["explain"] = explain_all(url)
    for k, v in figures["explain"].items():
        log(f"  EXPLAIN {k}: {v}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).with_name("portfolio_explain.txt").write_text(plans)
    figures["when"] = datetime.now(UTC).isoformat(timespec="seconds")
    Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")
    log(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
