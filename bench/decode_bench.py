"""CPU cost of turning messages into rows (route, parse, validate, build; no broker, no database), per reading.

    .venv/bin/python bench/decode_bench.py                 # this checkout
    .venv/bin/python bench/decode_bench.py --rev c30e593   # another revision, in a temporary git worktree, for A/B

Runs each case 7 times and reports the best; compare revisions in one sitting (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import inspect
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def measure() -> dict[str, float]:
    import orjson

    from services.ingestion.schemas import RawMessage
    from services.ingestion.service import IngestPipeline, MeterInfo
    from services.readings.units import Unit

    p = IngestPipeline("energiblik/v1")
    n_fields = len(inspect.signature(MeterInfo).parameters)
    meter = MeterInfo("M1", 1, "B1", Unit.KWH, None, *([1.0] if n_fields > 5 else []))
    p.registry.meters = {"M1": meter}
    now = datetime(2026, 2, 1, 12, tzinfo=UTC)
    topic = "energiblik/v1/buildings/B1/meters/M1/readings"
    single = [RawMessage(topic, orjson.dumps({"ts": f"2026-02-01T10:{i % 60:02d}:00+01:00", "value": 1000.5 + i}),
                         now) for i in range(5000)]
    batch = [RawMessage(topic, orjson.dumps([{"ts": f"2026-02-01T10:{j % 60:02d}:00+01:00", "value": 1000.5 + j}
                                             for j in range(100)]), now) for _ in range(50)]

    def run(msgs: list[RawMessage]) -> int:
        rows: list[object] = []
        for m in msgs:
            route = p._route(m)
            d = p._decode(m, *route)  # type: ignore[misc]
            if hasattr(p, "_build"):
                rows.extend(p._build(d).rows)  # type: ignore[arg-type, union-attr]
            else:  # revisions before the failure boundary (c30e593 and older)
                p._reading_rows(d, meter, now, rows)  # type: ignore[arg-type, call-arg]
        return len(rows)

    out = {}
    for name, msgs in (("single_us_per_reading", single), ("batch100_us_per_reading", batch)):
        best = float("inf")
        for _ in range(7):
            t = time.perf_counter()
            n = run(msgs)
            best = min(best, time.perf_counter() - t)
        out[name] = round(best / n * 1e6, 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rev", help="measure this git revision instead of the checkout")
    args = ap.parse_args()
    if not args.rev:
        print(measure())
        return
    with tempfile.TemporaryDirectory() as tmp:
        wt = Path(tmp) / "rev"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(wt), args.rev], check=True)
        try:
            code = f"import sys; sys.path.insert(0, {str(wt)!r}); sys.path.insert(1, {str(REPO)!r}); " \
                   "from bench.decode_bench import measure; print(measure())"
            subprocess.run([sys.executable, "-c", code], check=True, cwd=wt,
                           env={**os.environ, "PYTHONPATH": str(wt)})
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(wt)], check=True)


if __name__ == "__main__":
    main()
