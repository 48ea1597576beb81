"""What the dashboard needs beyond the core API: monthly kWh beside weather-corrected kWh for one building or the
caller's buildings (the same rules as progress), and each meter's last reading time and data completeness."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.consumption.coverage import active_seconds, coverage
from services.consumption.query import computed_through, overlapping
from services.consumption.repository import PendingSpan
from services.db import PgConn
from services.targets.progress import (
    HEAT_PUMP_SUB,
    MONTHS,
    TOTAL_CARRIERS,
    BuildingData,
    YearFigures,
    share_for,
    year_figures,
)
from services.targets.service import load_buildings, pending_counted, sold_at, weather

COMPLETENESS_DAYS = 30


def _only(b: BuildingData, carrier: str | None) -> BuildingData:
    """The building with the monthly data of one carrier (a heat-pump sub-meter stays inside its electricity
    parent, where it is corrected like heat)."""
    if carrier is None:
        return b
    keep = {carrier, HEAT_PUMP_SUB} if carrier == "electricity" else {carrier}
    data = {y: {k: v for k, v in d.items() if k in keep} for y, d in b.data.items()}
    return dataclasses.replace(b, data=data)


def _has_month(b: BuildingData, year: int, month: int) -> bool:
    return any(month in ms for k, ms in b.data.get(year, {}).items() if k in TOTAL_CARRIERS)


def weather_corrected(conn: PgConn, building_ids: Sequence[str] | None, *, years: Sequence[int],
                      carrier: str | None, baseline_year: int, tz: ZoneInfo) -> dict[str, Any]:
    """Per year and month: kWh as delivered and weather-corrected (heat only, Danish degree-day method, `a` per
    building as in progress), the factor between them and the coverage. A month without data has `kwh` None, and
    so has a month whose stored readings are not yet in the rollups (`pending`). The baseline year uses the
    imported baseline where there is one, as progress does."""
    buildings = load_buildings(conn, building_ids, None, years=years, baseline_year=baseline_year, tz=tz)
    keep = None if carrier is None else ({carrier, HEAT_PUMP_SUB} if carrier == "electricity" else {carrier})
    _, spans = pending_counted(conn, [b.id for b in buildings], keep)  # before the rollups: see consumption.query
    w, normal, share_source = weather(conn, [baseline_year, *years])
    shares = {b.id: share_for(b, baseline_year, w) for b in buildings}
    parts = [_only(b, carrier) for b in buildings]
    out_years = []
    pending_spans: list[PendingSpan] = []
    for y in sorted(set(years)):
        months: list[dict[str, Any]] = []
        kwh = normalised = 0.0
        for m in MONTHS:
            f = YearFigures()
            present = False
            for b in parts:
                f.add(year_figures(b, y, shares[b.id], w, [m]))
                present = present or _has_month(b, y, m)
            kwh += f.kwh
            normalised += f.normalised_kwh
            pending = overlapping(spans, datetime(y, m, 1, tzinfo=tz),
                                  datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=tz))
            pending_spans += pending
            shown = present and not pending
            months.append({
                "month": f"{y}-{m:02d}",
                "kwh": round(f.kwh, 1) if shown else None,
                "normalised_kwh": round(f.normalised_kwh, 1) if shown else None,
                "factor": round(f.normalised_kwh / f.kwh, 4) if present and f.kwh > 0 else None,
                "coverage": round(f.coverage, 4) if present else 0.0,
                "estimated_share": round(f.estimated_share, 4) if present else 0.0,
                "pending": bool(pending),
            })
        year_pending = any(m["pending"] for m in months)
        out_years.append({"year": y, "months": months, "pending": year_pending,
                          "kwh": None if year_pending else round(kwh, 1),
                          "normalised_kwh": None if year_pending else round(normalised, 1)})
    through = computed_through(pending_spans)
    return {
        "unit": "kWh", "carrier": carrier, "baseline_year": baseline_year,
        "computed_through": through.astimezone(tz) if through else None,
        "years": out_years,
        "buildings": [{"building_id": b.id, "a": round(s.a, 4), "a_method": s.method} for b, s in
                      ((b, shares[b.id]) for b in buildings)],
        "normal_year": {"degree_days": sum(normal.degree_days), "source": normal.source},
        "method": "heat (district heating, gas, oil, heat pumps) weather-corrected month by month: E_norm = a*E + "
                  "(1-a)*E*GD_normal/GD_actual; months below 5 % of normal degree days or without degree days are "
                  "not corrected; electricity is not corrected"
                  + (f"; default a from {share_source}" if share_source else ""),
    }


def meter_status(conn: PgConn, building_ids: Sequence[str] | None, *, today: date, tz: ZoneInfo,
                 days: int = COMPLETENESS_DAYS) -> list[dict[str, Any]]:
    """Every meter with its last reading time, its lifecycle (active span in local time, replacement) and the share
    of the last `days` whole local days backed by measured data (from the daily rollup). Completeness counts only the
    time the meter was installed; it is null for a meter not installed at all in those days."""
    first = today - timedelta(days=days)
    w0 = datetime(first.year, first.month, first.day, tzinfo=tz).astimezone(UTC)
    w1 = datetime(today.year, today.month, today.day, tzinfo=tz).astimezone(UTC)
    rows = conn.execute(
        """
        SELECT m.id, m.building_id, m.carrier, m.unit, m.parent_meter_id, r.ts, m.active_from, m.active_to,
               m.replaced_by,
               (SELECT coalesce(sum(d.measured_s), 0) FROM consumption_daily d
                WHERE d.meter_key = m.key AND d.day >= %s AND d.day < %s
                  AND (m.active_from IS NULL OR d.day >= (m.active_from AT TIME ZONE %s)::date)
                  AND (m.active_to IS NULL
                       OR d.day <= ((m.active_to - interval '1 microsecond') AT TIME ZONE %s)::date))
        FROM meters m
        LEFT JOIN LATERAL (SELECT ts FROM readings WHERE meter_key = m.key ORDER BY ts DESC LIMIT 1) r ON TRUE
        WHERE (%s::text[] IS NULL OR m.building_id = ANY(%s))
        ORDER BY m.building_id, m.id
        """, [first, today, tz.key, tz.key, building_ids, building_ids]).fetchall()
    out = []
    sales = sold_at(conn, building_ids, tz)  # a sold building's meters count no time after the sale
    for mid, bid, carrier, unit, parent, last, active_from, active_to, replaced_by, measured_s in rows:
        sale = sales.get(bid)
        until = sale if sale is not None and (active_to is None or sale < active_to) else active_to
        active_s = active_seconds((active_from, until), w0, w1)
        out.append({
            "meter_id": mid, "building_id": bid, "carrier": carrier, "unit": unit, "parent_meter_id": parent,
            "last_reading": last,
            "completeness": round(coverage(float(measured_s), active_s), 4) if active_s > 0 else None,
            "completeness_days": days,
            "active_from": None if active_from is None else active_from.astimezone(tz),
            "active_to": None if active_to is None else active_to.astimezone(tz),
            "replaced_by": replaced_by,
        })
    return out
