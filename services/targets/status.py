"""Every target with its status, coverage and method: one line per target for the energy team's overview."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.db import PgConn
from services.reports import service as reports
from services.targets import repository as repo
from services.targets.service import progress


def target_statuses(conn: PgConn, ids: Sequence[str] | None, today: date, tz: ZoneInfo,
                    now: datetime | None = None) -> list[dict[str, Any]]:
    """Every target with its status for the buildings `ids` (None: all), as of `today` (and `now`)."""
    out = []
    for t in repo.targets(conn):
        t["status"] = _status(conn, t, ids, today, tz, now=now or datetime.now(UTC))
        out.append(t)
    return out


def _status(conn: PgConn, t: dict[str, Any], ids: Sequence[str] | None, today: date, tz: ZoneInfo, *,
            now: datetime) -> dict[str, Any]:
    metric, group, base = t["metric"], t["building_group"], int(t["baseline_year"])
    last_year = today.year - 1
    if metric == "energy_kwh":
        p = progress(conn, year=today.year, target_id=t["id"], building_ids=ids, today=today, tz=tz)
        # This year is running: its status is the whole-year forecast; what is measured so far is given beside it.
        judged = p["forecast"] or p
        return {"year": today.year, "value_pct": judged["reduction_pct"], "target_pct": p["target_pct"],
                "required_pct": p["required_pct"], "verdict": judged["verdict"], "coverage": judged["coverage"],
                "basis": "forecast" if p["forecast"] else "measured",
                "measured_pct": p["reduction_pct"], "months_measured": p["months_measured"],
                "measured_verdict": p["verdict"],
                "method": "reduction of weather-corrected kWh against the baseline year; value_pct and verdict: the "
                          "whole-year forecast of the running year; measured_pct: its complete months so far "
                          "against the same months of the baseline year; GET /progress for detail"}
    if metric == "led_share":
        led = reports.led(conn, ids, [now], tz)
        s = led["series"][-1]
        share = s["led_share_count"]
        return {"at": s["at"], "value_pct": round(share * 100, 1) if share is not None else None,
                "by_watts_pct": round(s["led_share_watts"] * 100, 1) if s["led_share_watts"] is not None else None,
                "target_pct": t["reduction_pct"], "luminaires": s["luminaires"],
                "verdict": "no luminaires registered" if not s["luminaires"] else
                ("reached" if share == 1 else ("off_track" if today.year >= t["target_year"] else "in_progress")),
                "coverage": 1.0 if s["luminaires"] else 0.0, "method": led["method"]}
    if metric == "fossil_heating":
        f = reports.fossil(conn, ids, years=[base, last_year], baseline_year=base, tz=tz, group=group, now=now)
        # like the buildings still fossil: by consumption or by registered heating (as of that year)
        n_base, n_now = f["trend"][0]["buildings_fossil"], len(f["buildings_still_fossil"])
        return {"year": last_year, "buildings_still_fossil": n_now, "baseline_buildings": n_base,
                "kwh": f["trend"][-1]["kwh"], "kg_co2": f["trend"][-1]["kg_co2"],
                "verdict": "reached" if n_now == 0 else "in_progress", "coverage": None, "method": f["method"]}
    if metric == "energy_labels":
        lab = reports.labels(conn, ids, year=last_year, tz=tz, baseline_year=base, group=group)
        required = [b for b in lab["buildings"] if b["label_required"]]
        labelled = [b for b in required if b["registered_label"]]
        return {"year": last_year, "buildings_requiring_label": len(required), "with_label": len(labelled),
                "value_pct": round(len(labelled) / len(required) * 100, 1) if required else None,
                "verdict": "reached" if len(labelled) == len(required) else "in_progress",
                "coverage": None, "method": "public buildings over 250 m2 must hold a valid label; " + lab["method"]}
    if metric == "co2_kg":
        c = reports.co2(conn, ids, year=last_year, baseline_year=base, tz=tz, group=group)
        return {"year": last_year, "kg_co2": c["kg_co2"], "baseline_kg_co2": c["baseline_kg_co2"],
                "change_pct": c["change_pct"], "target_pct": t["reduction_pct"],
                "verdict": "reporting", "coverage": None, "method": c["method"]}
    return {"verdict": "unknown metric"}
