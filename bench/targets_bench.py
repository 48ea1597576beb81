"""Target answers at municipal scale: a synthetic estate of N buildings (bench/targets_estate.py), the target, report
and alert answers timed over real HTTP, and the dashboard's portfolio view timed to a complete paint in headless
Chromium.

Run with `bash bench/targets.sh --buildings 2000` (it brings up the private `bench` stack). Steps:

    (1) the estate goes into its own database, `energiblik_targets_<N>` (migrated to head), generated once set-based
        in SQL (monthly rollups written directly, no raw readings); a marker table records the parameters, so later
        runs reuse it (--regenerate to rebuild);
    (2) the API is served by uvicorn exactly as the stack runs it (`python -m api`) on that database, and every
        answer below is requested as the admin over HTTP, `--rounds` rounds of `--requests` requests each, after a
        warm-up; each round records the machine's load average (the machine is shared): p50/p95/max per answer;
    (3) headless Chromium (Debian's, driven by Playwright) opens the dashboard's portfolio view `--loads` times,
        each in a fresh browser context (no cache), signed in: the time from navigation start to the dashboard's
        "complete" marker (window.energiblik.completeAt: set two animation frames after every card of the view has
        rendered and the path chart is drawn, so a frame with everything in it has been painted), and the number
        and bytes of API requests the view made;
    (4) EXPLAIN (ANALYZE, BUFFERS) of the main queries behind the answers.

Figures: bench/results/targets_<N>.json and bench/results/targets_<N>_explain.txt; docs/benchmarks.md reports them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
import urllib.error
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from portfolio_bench import Api, admin_url, log, marker, set_marker, summary  # noqa: E402
from targets_estate import generate  # noqa: E402

from services.db import libpq_dsn  # noqa: E402

TZ = ZoneInfo("Europe/Copenhagen")
CHROMIUM = Path("/usr/bin/chromium")
GENERATOR_VERSION = 1


def ensure_database(base_url: str, name: str, fresh: bool) -> str:
    import subprocess

    from sqlalchemy.engine import make_url

    with psycopg.connect(admin_url(base_url, "postgres"), autocommit=True) as c:
        exists = c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None
        if exists and fresh:
            c.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = False
        if not exists:
            c.execute(f'CREATE DATABASE "{name}"')
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    subprocess.run([sys.executable, "-m", "alembic", "-c", str(REPO / "migrations/alembic.ini"), "upgrade", "head"],
                   cwd=REPO, env={**os.environ, "ENERGIBLIK_DB__URL": url}, check=True, stdout=subprocess.DEVNULL)
    return url


def answers(one_building: list[str], last_year: int) -> list[tuple[str, str, Any, Any]]:
    """(label, path, params or a function of the request number giving them, check of the body)."""
    def some(key: str) -> Any:
        return lambda b: bool(b[key])
    return [
        ("progress (portfolio)", "/api/v1/progress", {}, some("buildings")),
        ("progress (one building)", "/api/v1/progress", lambda i: {"building_id": one_building[i % len(one_building)]},
         lambda b: len(b["buildings"]) == 1),
        ("progress/path (portfolio)", "/api/v1/progress/path", {}, some("years")),
        ("targets", "/api/v1/targets", {}, lambda b: len(b) >= 6),
        ("green-accounts (json)", "/api/v1/green-accounts", {}, some("rows")),
        ("green-accounts (csv)", "/api/v1/green-accounts", {"format": "csv"}, lambda b: b.count("\n") > 100),
        ("co2", "/api/v1/co2", {}, some("by_carrier")),
        ("labels", "/api/v1/labels", {}, some("buildings")),
        ("fossil", "/api/v1/fossil", {}, some("trend")),
        ("led", "/api/v1/led", {}, some("buildings")),
        ("alerts?state=active", "/api/v1/alerts", {"state": "active"}, lambda b: len(b) > 0),
    ]


def get_raw(api: Api, path: str, params: dict[str, str]) -> tuple[Any, float, int]:
    import urllib.parse
    import urllib.request

    q = f"?{urllib.parse.urlencode(params)}" if params else ""
    req = urllib.request.Request(f"http://127.0.0.1:{api.port}{path}{q}",
                                 headers={"Authorization": f"Bearer {api.token}", "Accept-Encoding": "identity"})
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            raw = r.read()
            ctype = r.headers.get("Content-Type", "")
    except urllib.error.URLError as e:
        if api.proc.poll() is not None:
            raise RuntimeError(f"the API process ended with {api.proc.returncode}") from e
        raise
    ms = (time.perf_counter() - t) * 1000
    body = json.loads(raw) if "json" in ctype else raw.decode()
    return body, ms, len(raw)


def time_answers(api: Api, ids: list[str], rounds: int, requests: int, only: set[str] | None) -> dict[str, Any]:
    last_year = datetime.now(TZ).year - 1
    todo = [a for a in answers(ids[::97] or ids, last_year) if only is None or a[0] in only]
    samples: dict[str, list[float]] = {a[0]: [] for a in todo}
    size: dict[str, int] = {}
    loads = []
    for label, path, params, check in list(todo):  # warm-up (and the check that each answer is what it should be)
        try:
            body, ms, n = get_raw(api, path, params(0) if callable(params) else params)
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise
            log(f"  {label}: {path} is not served by this version (404); not timed")
            todo.remove((label, path, params, check))
            del samples[label]
            continue
        assert check(body), f"{label}: unexpected answer {str(body)[:300]}"
        size[label] = n
        log(f"  warm-up {label}: {ms:.0f} ms, {n:,} bytes")
    for r in range(rounds):
        load_before = os.getloadavg()[0]
        for i in range(requests):
            for label, path, params, _ in todo:
                _, ms, _ = get_raw(api, path, params(r * requests + i + 1) if callable(params) else params)
                samples[label].append(ms)
        loads.append({"round": r + 1, "load1_before": round(load_before, 2),
                      "load1_after": round(os.getloadavg()[0], 2)})
        log(f"  round {r + 1}/{rounds}: load {load_before:.2f} -> {os.getloadavg()[0]:.2f}; "
            + ", ".join(f"{k} {sorted(v)[len(v) // 2]:.0f}" for k, v in samples.items()))
    return {"answers": {k: {**summary(v), "bytes": size[k]} for k, v in samples.items()}, "load": loads}


# The kinds of change a cached answer sees: an undated one (registry, settings...: every answer computes again), a
# rollup of the running month, and the live state: such a rollup while readings of the last minutes of every 100th
# meter wait for the rollups (what ingest leaves between two rollup passes; progress reads the pending rollups anew on
# every request). Each but the last is a statement that changes no figure but moves the data version as such a write
# does (migrations 0014 and 0016); the live one also leaves pending ranges behind, removed by CLEANUP.
_THIS_MONTH = ("UPDATE consumption_monthly SET amount = amount WHERE (meter_key, month) = "
               "(SELECT meter_key, month FROM consumption_monthly "
               " WHERE month = date_trunc('month', now())::date LIMIT 1)")
CHANGES = {
    "undated": "DELETE FROM settings WHERE false",
    "this_month_rollup": _THIS_MONTH,
    "live": f"WITH r AS ({_THIS_MONTH} RETURNING 1) INSERT INTO rollup_dirty (meter_key, ts_from, ts_to) "
            "SELECT key, now() - interval '15 minutes', now() FROM meters WHERE key % 100 = 0",
}
CLEANUP = {"live": "DELETE FROM rollup_dirty"}  # the estate has no readings: nothing else is ever pending


def time_cold(api: Api, url: str, ids: list[str], rounds: int, change: str) -> dict[str, Any]:
    """Each answer right after a change (CHANGES): the request finds nothing cached for what changed."""
    last_year = datetime.now(TZ).year - 1
    todo = answers(ids[::97] or ids, last_year)
    samples: dict[str, list[float]] = {a[0]: [] for a in todo}
    for _label, path, params, _ in todo:  # every answer current first (the rounds before changed things)
        with contextlib.suppress(urllib.error.HTTPError):
            get_raw(api, path, params(0) if callable(params) else params)
    with psycopg.connect(libpq_dsn(url), autocommit=True) as c:
        for r in range(rounds):
            for label, path, params, _ in todo:
                c.execute(CHANGES[change])
                try:
                    _, ms, _ = get_raw(api, path, params(r) if callable(params) else params)
                except urllib.error.HTTPError:
                    samples.pop(label, None)
                    continue
                if label in samples:
                    samples[label].append(ms)
            log(f"  after a change ({change}) round {r + 1}/{rounds}: load {os.getloadavg()[0]:.2f}; "
                + ", ".join(f"{k} {v[-1]:.0f}" for k, v in samples.items() if v))
        if change in CLEANUP:
            c.execute(CLEANUP[change])
    return {k: summary(v) for k, v in samples.items() if v}


def time_browser(api: Api, loads: int, url: str | None = None, change: str | None = None) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    base = f"http://127.0.0.1:{api.port}"
    out: list[dict[str, Any]] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            for n in range(loads + 1):  # the first load warms the API up and is not counted
                ctx = browser.new_context(viewport={"width": 1440, "height": 900})
                ctx.add_init_script(f"sessionStorage.setItem('energiblik.token', {json.dumps(api.token)});")
                page = ctx.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e, errs=errors: errs.append(str(e)))
                calls: list[str] = []
                page.on("request", lambda r, c=calls: c.append(r.url) if "/api/v1/" in r.url else None)
                load1 = os.getloadavg()[0]
                if change is not None and url is not None:  # the view right after such a change
                    with psycopg.connect(libpq_dsn(url), autocommit=True) as c:
                        c.execute(CHANGES[change])
                page.goto(f"{base}/#portfolio")
                page.wait_for_function("() => window.energiblik && window.energiblik.completeAt !== undefined",
                                       timeout=120_000)
                ms = page.evaluate("window.energiblik.completeAt")
                cards = page.evaluate(
                    "['progress', 'path', 'ranking', 'led', 'fossil', 'co2', 'labels', 'exports']"
                    ".filter(id => !document.getElementById(id))")
                drawn = page.evaluate("typeof Chart !== 'undefined' && Chart.getChart('path-chart') !== undefined")
                rows = page.locator("#ranking tbody tr").count()
                api_bytes = page.evaluate(
                    "performance.getEntriesByType('resource').filter(e => e.name.includes('/api/v1/'))"
                    ".reduce((s, e) => s + e.encodedBodySize, 0)")
                ctx.close()
                assert not errors, errors
                assert not cards, f"cards missing: {cards}"
                assert drawn, "the path chart was not drawn"
                if n:
                    out.append({"complete_ms": round(ms, 1), "api_requests": len(calls), "api_bytes": api_bytes,
                                "ranking_rows_in_dom": rows, "load1": round(load1, 2)})
                log(f"  browser load {n}: complete at {ms:.0f} ms, {len(calls)} API requests, {api_bytes:,} bytes, "
                    f"{rows} ranking rows in the DOM, load {load1:.2f}")
        finally:
            browser.close()
            if change in CLEANUP and url is not None:
                with psycopg.connect(libpq_dsn(url), autocommit=True) as c:
                    c.execute(CLEANUP[change])
    return {"portfolio_complete": summary([o["complete_ms"] for o in out]), "loads": out}


EXPLAINS = [
    ("the data version, read before every cached answer (services/targets/cache.py)",
     "SELECT sum(v)::bigint, min(epoch) FROM targets_data_version"),
    ("monthly rollup rows of the counted meters for the years a progress answer compares (load_buildings)",
     "SELECT meter_key, month, amount, measured_s, estimated FROM consumption_monthly "
     "WHERE meter_key = ANY(%(keys)s) AND month >= %(a)s AND month < %(b)s AND month = ANY(%(months)s)"),
    ("the same before: every month from the baseline year to this year, every meter (rows of other years skipped "
     "in Python)",
     "SELECT meter_key, month, amount, measured_s, estimated FROM consumption_monthly "
     "WHERE meter_key = ANY(%(all_keys)s) AND month >= %(a)s AND month < %(b)s"),
    ("imported baseline, current version (baseline_current view)",
     "SELECT building_id, carrier, month, kwh FROM baseline_current WHERE building_id = ANY(%(ids)s) "
     "AND month >= %(a)s AND month < %(a1)s"),
    ("active alerts, newest first (GET /alerts?state=active)",
     "SELECT id FROM alerts WHERE state <> 'resolved' ORDER BY last_seen DESC LIMIT 5000"),
    ("luminaire technology history with buildings (LED shares)",
     "SELECT h.luminaire_id, l.building_id, h.valid_from, h.technology, h.rated_power_w FROM luminaire_history h "
     "JOIN luminaires l ON l.id = h.luminaire_id ORDER BY h.valid_from"),
]


def explain_all(url: str) -> str:
    out = []
    with psycopg.connect(libpq_dsn(url), autocommit=True) as c:
        ids = [r[0] for r in c.execute("SELECT id FROM buildings ORDER BY id")]
        # the meters a portfolio progress counts: mains (and heat-pump / EV sub-meters), never water or PV
        keys = [r[0] for r in c.execute(
            "SELECT key FROM meters WHERE carrier NOT IN ('water', 'pv_production') AND (parent_meter_id IS NULL "
            "OR carrier IN ('heat_pump', 'ev_charging'))")]
        all_keys = [r[0] for r in c.execute("SELECT key FROM meters")]
        this_year = datetime.now(TZ).year
        years = [2015, this_year - 1, this_year]
        params = {"ids": ids, "keys": keys, "all_keys": all_keys, "a": date(2015, 1, 1), "a1": date(2016, 1, 1),
                  "b": date(this_year + 1, 1, 1), "months": [date(y, m, 1) for y in years for m in range(1, 13)]}
        for label, sql in EXPLAINS:
            plan = "\n".join(r[0] for r in c.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params))
            out.append(f"-- {label}\n{sql}\n{plan}\n")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--buildings", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=4, help="requests of each answer per round")
    ap.add_argument("--loads", type=int, default=10, help="browser loads of the portfolio view")
    ap.add_argument("--cold", type=int, default=3, help="rounds of each answer right after a change")
    ap.add_argument("--only", action="append", help="time only these answers (labels), e.g. --only targets")
    ap.add_argument("--regenerate", action="store_true")
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--explain-only", action="store_true", help="only the EXPLAINs (of an estate generated before)")
    ap.add_argument("--tag", default="", help="suffix of the result files (e.g. before)")
    args = ap.parse_args()

    name = f"energiblik_targets_{args.buildings}"
    params = {"buildings": args.buildings, "generator": GENERATOR_VERSION}
    url = ensure_database(os.environ["ENERGIBLIK_DB__URL"], name, fresh=args.regenerate)
    figures: dict[str, Any] = {"buildings": args.buildings, "machine": {
        "cpus": os.cpu_count(), "python": platform.python_version(), "at": datetime.now(UTC).isoformat()}}
    with psycopg.connect(libpq_dsn(url), autocommit=True) as c:
        m = marker(c, params)
        if m is None:
            log(f"generating the estate of {args.buildings} buildings in {name}")
            t = time.perf_counter()
            with c.transaction():
                counts = generate(c, args.buildings, datetime.now(UTC))
            c.execute("VACUUM ANALYZE")
            gen_s = round(time.perf_counter() - t, 1)
            log(f"  generated in {gen_s} s: {counts}")
            set_marker(c, params, "generated", {"rows": counts, "generate_s": gen_s})
            m = marker(c, params)
        assert m is not None
        figures["estate"] = m["figures"]
        ids = [r[0] for r in c.execute("SELECT id FROM buildings ORDER BY id")]
    results = REPO / "bench" / "results"
    results.mkdir(exist_ok=True)
    tag = f"_{args.tag}" if args.tag else ""
    if args.explain_only:
        (results / f"targets_{args.buildings}{tag}_explain.txt").write_text(explain_all(url))
        return
    api = Api(url)
    try:
        log(f"timing the answers: {args.rounds} rounds x {args.requests} requests")
        figures.update(time_answers(api, ids, args.rounds, args.requests, set(args.only) if args.only else None))
        if args.cold:
            for change in CHANGES:
                log(f"timing the answers right after a change ({change}): {args.cold} rounds")
                figures.setdefault("after_change", {})[change] = time_cold(api, url, ids, args.cold, change)
            figures["cold"] = figures["after_change"]["undated"]
        if not args.no_browser:
            log(f"timing the portfolio view in Chromium: {args.loads} loads")
            figures["browser"] = time_browser(api, args.loads)
            if args.cold:
                log(f"the portfolio view right after a rollup of this month: {args.cold} loads")
                figures["browser_after_this_month_rollup"] = time_browser(api, args.cold, url, "this_month_rollup")
                log(f"the portfolio view in the live state: {args.cold} loads")
                figures["browser_live"] = time_browser(api, args.cold, url, "live")
    finally:
        api.close()
    (results / f"targets_{args.buildings}{tag}_explain.txt").write_text(explain_all(url))
    (results / f"targets_{args.buildings}{tag}.json").write_text(json.dumps(figures, indent=2, default=str) + "\n")
    shown = ("answers", "after_change", "browser", "browser_after_this_month_rollup", "browser_live", "load")
    print(json.dumps({k: v for k, v in figures.items() if k in shown}, indent=1,
                     default=str))


if __name__ == "__main__":
    main()
