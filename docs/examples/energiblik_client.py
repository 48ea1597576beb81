"""An example client of the Energiblik API v1, written from its OpenAPI document (/api/v1/openapi.json): how an energy
team scripts against it (Python and httpx; the same calls work from R or Power BI).

    ENERGIBLIK_API=http://127.0.0.1:8000 ENERGIBLIK_TOKEN=<token> python docs/examples/energiblik_client.py 2025

It prints T1's progress for a year (reduction, verdict, coverage), the monthly consumption of that year (all energy
carriers; `carrier=district_heating` etc. for one) with each month's coverage, and every building's reduction.
Errors are the API's own: 401 (token), 403 (role), 404 (outside your buildings), 422 with `errors` naming each
field.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import httpx


def client() -> httpx.Client:
    base = os.environ.get("ENERGIBLIK_API", "http://127.0.0.1:8000").rstrip("/")
    token = os.environ.get("ENERGIBLIK_TOKEN")
    if not token:
        sys.exit("set ENERGIBLIK_TOKEN (energiblik token create --name me --role energy_team)")
    return httpx.Client(base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=60)


def get(c: httpx.Client, path: str, **params: Any) -> Any:
    r = c.get(path, params=params)
    if r.status_code >= 400:
        body = r.json()
        fields = "; ".join(f"{e['field']}: {e['message']}" for e in body.get("errors", []))
        sys.exit(f"{path}: {r.status_code} {body.get('detail')} {fields}")
    return r.json()


def pct(x: float | None) -> str:
    return "unknown" if x is None else f"{x:.1f} %"


def main(year: int) -> None:
    with client() as c:
        p = get(c, "/progress", year=year)  # ProgressOut in the OpenAPI document
        print(f"T1 {p['year']} against {p['baseline_year']}: reduction {pct(p['reduction_pct'])} "
              f"(required on a straight path {pct(p['required_pct'])}), verdict {p['verdict']}, "
              f"coverage {p['coverage']:.0%}, estimated {p['estimated_share']:.0%}")
        if p.get("forecast"):
            f = p["forecast"]
            print(f"  forecast for the whole year: {pct(f['reduction_pct'])}, verdict {f['verdict']}")

        cons = get(c, "/consumption", start=f"{year}-01-01", end=f"{year + 1}-01-01", resolution="month")
        print(f"\nconsumption {cons['start'][:10]} .. {cons['end'][:10]} ({cons['unit']}), per month:")
        for row in cons["series"]:
            kwh = "pending" if row["kwh"] is None else f"{row['kwh']:,.0f}"
            print(f"  {row['start'][:7]} {kwh:>14}  coverage {row['coverage']:.0%}")

        print("\nbuildings, largest saving first:")
        for b in p["buildings"]:  # ProgressBuildingOut: coverage per side of the comparison (baseline, year)
            cov = b["coverage"]
            print(f"  {b['building_id']:<24} {pct(b['reduction_pct']):>10}  "
                  f"coverage baseline {cov['baseline']:.0%}, year {cov['year']:.0%}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2025)
