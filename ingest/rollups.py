"""`python -m ingest.rollups`: keep the consumption rollups up to date, beside the ingest workers.

Ingest workers record, in the transaction that stores readings, which reading ranges changed (`rollup_dirty`); this
process recomputes the affected days once a second. It runs apart from the workers so that recomputing cannot slow
down draining a backlog (docs/benchmarks.md); several may run (advisory locks per meter). A worker can also do it
inline (ENERGIBLIK_INGEST__ROLLUPS=true), which suits small installations.
"""

from __future__ import annotations

import logging
import sys
from zoneinfo import ZoneInfo

from ingest.loop import Conn, run_forever
from services.config import get_settings
from services.consumption.service import process_dirty
from services.logs import setup_logging

log = logging.getLogger("energiblik.rollups")


def main() -> int:
    s = get_settings()
    setup_logging(s.log_level, s.log_json)
    tz = ZoneInfo(s.timezone)

    def step(conn: Conn) -> bool:
        with conn.transaction():
            return process_dirty(conn, tz, s.ingest.rollup_batch) > 0  # more may be waiting

    return run_forever(log, "rollup maintenance", step, s.ingest.rollup_interval_s)


if __name__ == "__main__":
    sys.exit(main())
