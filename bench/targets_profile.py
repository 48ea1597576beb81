"""cProfile of one target answer computed in process (the cache cleared first) against a database of bench/targets.sh:

    bash bench/on_stack.sh bench/targets_profile.py 2000 progress [lines]

answers: progress, targets, fossil, green, co2, labels, led. Prints the wall time of one computation, then the
profile of another, by cumulative time.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.db import libpq_dsn
from services.reports import service as reports
from services.targets import cache, service
from services.targets.status import target_statuses

TZ = ZoneInfo("Europe/Copenhagen")


def main() -> None:
    size, what = sys.argv[1], sys.argv[2]
    lines = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    url = make_url(os.environ["ENERGIBLIK_DB__URL"]).set(database=f"energiblik_targets_{size}")
    conn = psycopg.connect(libpq_dsn(url.render_as_string(hide_password=False)))
    today, now = datetime.now(TZ).date(), datetime.now(UTC)
    answers: dict[str, Callable[[], Any]] = {
        "progress": lambda: service.progress(conn, year=today.year, target_id="T1", building_ids=None, today=today,
                                             tz=TZ),
        "targets": lambda: target_statuses(conn, None, today, TZ, now),
        "fossil": lambda: reports.fossil(conn, None, years=list(range(2015, today.year)), baseline_year=2015, tz=TZ,
                                         now=now),
        "green": lambda: reports.green_accounts(conn, None, year=today.year - 1, baseline_year=2015, tz=TZ),
        "co2": lambda: reports.co2(conn, None, year=today.year - 1, baseline_year=2015, tz=TZ),
        "labels": lambda: reports.labels(conn, None, year=today.year - 1, tz=TZ),
        "led": lambda: reports.led(conn, None, [date(y, 1, 1) for y in range(2015, today.year + 1)] + [now], TZ,
                                   lighting_year=today.year - 1),
    }
    fn = answers[what]
    fn()  # warm the connection and the plans
    cache.answers.clear()
    t = time.perf_counter()
    fn()
    print(f"{what} at {size} buildings: {(time.perf_counter() - t) * 1000:.0f} ms (load {os.getloadavg()[0]:.2f})")
    cache.answers.clear()
    profile = cProfile.Profile()
    profile.enable()
    fn()
    profile.disable()
    pstats.Stats(profile).sort_stats("cumulative").print_stats(lines)


if __name__ == "__main__":
    main()
