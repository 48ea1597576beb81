"""Watch a running demo (deploy/run.sh) until each of the six alert rules has an active alert, print when each one
appeared and, optionally, take a screenshot of the dashboard's portfolio alert list in headless Chromium.

    set -a; source <(bash deploy/stack.sh env); set +a
    .venv/bin/python deploy/demo_check.py --since "$(date +%s)" --screenshot docs/demo-alerts.png

`--since` (Unix seconds, e.g. taken just before `bash deploy/run.sh`) is what the times are counted from; the API is
polled (GET /api/v1/alerts?state=active with the admin token) every 2 s until it answers and all six rules are there,
or until --timeout. Exit 0 when all six were seen, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

RULES = ("meter_silent", "counter_anomaly", "night_baseload", "lights_out_of_hours", "above_baseline", "dh_cooling")
CHROMIUM = Path("/usr/bin/chromium")


def active(base: str, token: str) -> list[dict[str, object]] | None:
    req = urllib.request.Request(f"{base}/api/v1/alerts?state=active&limit=1000",  # noqa: S310
                                 headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - the local API
            out: list[dict[str, object]] = json.load(r)
            return out
    except (OSError, urllib.error.URLError, json.JSONDecodeError):
        return None


def screenshot(base: str, token: str, path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_context(viewport={"width": 1180, "height": 820}, base_url=base).new_page()
        page.set_default_timeout(60_000)
        page.goto("/")
        page.fill("#token", token)
        page.click("#signin-form button[type=submit]")
        page.wait_for_function("() => window.energiblik && window.energiblik.ready === true")
        page.wait_for_selector("#alerts tbody tr")
        page.locator("#alerts").screenshot(path=str(path))
        browser.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--since", type=float, default=None, help="Unix seconds the times count from (default: now)")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--screenshot", type=Path, default=None, help="PNG of the portfolio's alert list")
    args = ap.parse_args(argv)
    base = f"http://127.0.0.1:{os.environ.get('ENERGIBLIK_API_PORT', '8000')}"
    token = os.environ.get("ENERGIBLIK_ADMIN_TOKEN")
    if not token:
        sys.exit("ENERGIBLIK_ADMIN_TOKEN is not set: source <(bash deploy/stack.sh env) first")
    since = args.since if args.since is not None else time.time()
    seen: dict[str, float] = {}
    deadline = time.time() + args.timeout
    while time.time() < deadline and len(seen) < len(RULES):
        alerts = active(base, token) or []
        for a in alerts:
            rule = str(a["rule"])
            if rule not in seen:
                seen[rule] = time.time() - since
                print(f"{seen[rule]:7.1f} s  {rule:20} {a['building_id']}: {a['title']} "
                      f"(wasted_kwh {a['wasted_kwh']})", flush=True)
        if len(seen) < len(RULES):
            time.sleep(2)
    missing = [r for r in RULES if r not in seen]
    if missing:
        print(f"not active after {time.time() - since:.0f} s: {', '.join(missing)}")
        return 1
    print(f"all six rules active {max(seen.values()):.1f} s after --since")
    if args.screenshot is not None:
        screenshot(base, token, args.screenshot)
        print(f"screenshot: {args.screenshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
