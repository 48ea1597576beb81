"""What migration 0014's data-version triggers cost a writer: 5,000 pending ranges inserted into `rollup_dirty` the way
the ingest worker did (`mark_dirty` before this change: executemany, one statement per range), in one transaction
(rolled back), with the triggers as shipped (one bump per transaction and year), with a bump per statement, and with
the triggers disabled; and the same ranges through `mark_dirty` as it is now (one statement). Median of --repeat
runs each. Run on a database of bench/targets.sh:

    bash bench/on_stack.sh bench/targets_trigger_cost.py --buildings 137
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from services.consumption.repository import mark_dirty  # noqa: E402
from services.db import libpq_dsn  # noqa: E402

PER_STATEMENT = """
CREATE OR REPLACE FUNCTION bump_targets_year_versions(first_year integer, last_year integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    y integer;
BEGIN
    FOR y IN SELECT generate_series(first_year, last_year) LOOP
        INSERT INTO targets_year_version (year, slot, v) VALUES (y, pg_backend_pid() % 256, 1)
            ON CONFLICT (year, slot) DO UPDATE SET v = targets_year_version.v + 1;
    END LOOP;
END $$;
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--buildings", type=int, default=137)
    ap.add_argument("--ranges", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    url = make_url(os.environ["ENERGIBLIK_DB__URL"]).set(database=f"energiblik_targets_{args.buildings}")
    dsn = libpq_dsn(url.render_as_string(hide_password=False))
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    ranges = [(k, t0 + timedelta(minutes=k), t0 + timedelta(minutes=k + 15)) for k in range(1, args.ranges + 1)]
    setups = {"triggers as shipped (one bump per transaction and year)": [],
              "a bump per statement": [PER_STATEMENT],
              "triggers disabled": ["ALTER TABLE rollup_dirty DISABLE TRIGGER USER"]}
    out: dict[str, list[float]] = {k: [] for k in setups}
    out["one statement for the batch (mark_dirty since this change), triggers as shipped"] = []
    for _ in range(args.repeat):
        with psycopg.connect(dsn) as c:
            t = time.perf_counter()
            mark_dirty(c, ranges)
            out["one statement for the batch (mark_dirty since this change), triggers as shipped"].append(
                (time.perf_counter() - t) * 1000)
            c.rollback()
        for label, before in setups.items():
            with psycopg.connect(dsn) as c:  # one transaction, rolled back: the setup goes with it
                for sql in before:
                    c.execute(sql)
                t = time.perf_counter()
                with c.cursor() as cur:
                    cur.executemany("INSERT INTO rollup_dirty (meter_key, ts_from, ts_to) VALUES (%s, %s, %s)",
                                    ranges)
                out[label].append((time.perf_counter() - t) * 1000)
                c.rollback()
    for label, xs in out.items():
        print(f"{label}: median {statistics.median(xs):.0f} ms for {args.ranges:,} ranges "
              f"(runs: {', '.join(f'{x:.0f}' for x in xs)}); load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
