"""The cost of GET /api/v1/consumption with the cap of periods x meters (services/consumption/query.py
MAX_METER_PERIODS) in force and lifted (the behaviour before the cap), alternated, in-process (TestClient: the whole
route: authentication, SQL, Python, JSON), against the database of ENERGIBLIK_DB__URL (an estate written by
`python -m simulators.history --buildings N`) with ENERGIBLIK_ADMIN_TOKEN set.

    python bench/consumption_cap.py [CAP]   # CAP: the cap to use instead of MAX_METER_PERIODS (a smaller estate
                                            # with the cap scaled by its number of buildings / 100); ROUNDS=2
"""

from __future__ import annotations

import os
import sys
import time

from fastapi.testclient import TestClient

from api.app import create_app
from services.consumption import query


def main() -> None:
    c = TestClient(create_app())
    headers = {"Authorization": f"Bearer {os.environ['ENERGIBLIK_ADMIN_TOKEN']}"}
    found = c.get("/api/v1/buildings", headers=headers).json()
    first = (found["items"] if isinstance(found, dict) else found)[0]["id"]
    year = {"start": "2025-01-01", "end": "2026-01-01"}
    cases = {
        "portfolio hour 2025": {**year, "resolution": "hour"},
        "one building hour 2025": {**year, "resolution": "hour", "building_id": first},
        "portfolio day 2025": {**year, "resolution": "day"},
    }
    cap = int(sys.argv[1]) if len(sys.argv) > 1 else query.MAX_METER_PERIODS
    for rnd in range(int(os.environ.get("ROUNDS", "2"))):
        for label, limit in (("no cap", 10**12), ("cap", cap)):
            query.MAX_METER_PERIODS = limit
            for name, params in cases.items():
                t0 = time.perf_counter()
                r = c.get("/api/v1/consumption", params=params, headers=headers)
                dt = time.perf_counter() - t0
                said = r.json()["errors"][0]["message"][:70] if r.status_code != 200 else len(r.json()["series"])
                print(f"round {rnd} {label:7} {name:24} {r.status_code} {dt:7.3f}s  {said}", flush=True)


if __name__ == "__main__":
    main()
