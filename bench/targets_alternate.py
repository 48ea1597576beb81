"""The uncached progress answer (portfolio) of two versions of the code, alternated in one run against a database of
bench/targets.sh: what a first `/progress` after a change costs, before and after a change to the code.

    bash bench/on_stack.sh bench/targets_alternate.py 2000 <old git revision> [rounds]

Each round runs the old code (`git archive` of the revision's services/) and then the working tree's, each in a fresh
process: one warm-up answer, then per year (this year, running; last year, finished) three answers with the cache
cleared, timed in process (wall, and the process's own CPU time, which the machine's other load disturbs less: the
database's time is not in it). Prints each run and the medians per version.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import datetime
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
TZ = ZoneInfo("Europe/Copenhagen")


def child(code: str, size: str) -> None:
    sys.path.insert(0, code)
    import psycopg
    from sqlalchemy.engine import make_url

    from services.db import libpq_dsn
    from services.targets import cache, service

    assert service.__file__ is not None and service.__file__.startswith(code), service.__file__
    url = make_url(os.environ["ENERGIBLIK_DB__URL"]).set(database=f"energiblik_targets_{size}")
    conn = psycopg.connect(libpq_dsn(url.render_as_string(hide_password=False)))
    today = datetime.now(TZ).date()
    service.progress(conn, year=today.year, target_id="T1", building_ids=None, today=today, tz=TZ)  # warm-up
    out = {}
    for year in (today.year, today.year - 1):
        runs = []
        for _ in range(3):
            cache.answers.clear()
            wall, cpu = time.perf_counter(), time.process_time()
            service.progress(conn, year=year, target_id="T1", building_ids=None, today=today, tz=TZ)
            runs.append((time.perf_counter() - wall, time.process_time() - cpu))
        out[year] = {"wall_ms": round(statistics.median(r[0] for r in runs) * 1000),
                     "cpu_ms": round(statistics.median(r[1] for r in runs) * 1000),
                     "load": round(os.getloadavg()[0], 1)}
    print(json.dumps(out))


def main() -> None:
    if sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
        return
    size, rev = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "archive", rev, "services"], cwd=REPO, check=True, capture_output=True)
        with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        versions = {f"old ({rev})": tmp, "new (working tree)": str(REPO)}
        results: dict[str, list[dict[str, dict[str, float]]]] = {label: [] for label in versions}
        for r in range(rounds):
            for label, code in versions.items():
                run = subprocess.run([sys.executable, __file__, "--child", code, size], check=True,
                                     capture_output=True, text=True, env=os.environ)
                results[label].append(json.loads(run.stdout))
                print(f"round {r + 1} {label}: {run.stdout.strip()}", flush=True)
    for label, runs in results.items():
        for year in runs[0]:
            print(f"{label} {year}: wall median {statistics.median(x[year]['wall_ms'] for x in runs):.0f} ms, "
                  f"CPU median {statistics.median(x[year]['cpu_ms'] for x in runs):.0f} ms")


if __name__ == "__main__":
    main()
