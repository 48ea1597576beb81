"""What the dashboard needs beyond the core API: monthly kWh beside weather-corrected kWh for one building or the
caller's buildings (the same rules as progress), a consumption series weather-corrected by the factor of each
period's month, and each meter's last reading time and data completeness."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.consumption.coverage import active_seconds, coverage
from services.consumption.query import computed_through, overlapping, quality, series_quality, totals_series
from services.consumption.repository import PendingSpan
from services.consumption.window import Window
from services.dashboard import repository
from services.dashboard.schemas import (
    CorrectedPointOut,
    CorrectedResolution,
    CorrectedSeriesOut,
    MeterStatusOut,
    ShareOut,
    WeatherCorrectedOut,
    WeatherMonthOut,
    WeatherNormalYearOut,
    WeatherYearOut,
)
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
from services.targets.weather import Share

COMPLETENESS_DAYS = 30
# the meter table's verdicts: a meter is flagged silent after a day without readings, incomplete under 95 %
SILENT_AFTER = timedelta(hours=24)
COMPLETE_SHARE = 0.95


def _only(b: BuildingData, carrier: str | None) -> BuildingData:
    """The building with the monthly data of one carrier (a heat-pump sub-meter stays inside its electricity
    parent, where it is corrected like heat)."""
    keep = _keep(carrier)
    if keep is None:
        return b
    data = {y: {k: v for k, v in d.items() if k in keep} for y, d in b.data.items()}
    return dataclasses.replace(b, data=data)


def _has_month(b: BuildingData, year: int, month: int) -> bool:
    return any(month in ms for k, ms in b.data.get(year, {}).items() if k in TOTAL_CARRIERS)




@dataclasses.dataclass(frozen=True)
class _Months:
    """The buildings' monthly figures with the rules of progress: per (year, month) the summed figures and whether
    any building has data in that month."""

    buildings: list[BuildingData]
    shares: dict[str, Share]
    figures: dict[tuple[int, int], tuple[YearFigures, bool]]
    normal: WeatherNormalYearOut
    share_source: str

    def factor(self, year: int, month: int) -> float | None:
        """normalised kWh / kWh of the month; None without data or without kWh."""
        f, present = self.figures[(year, month)]
        return f.normalised_kwh / f.kwh if present and f.kwh > 0 else None

    def share_out(self) -> list[ShareOut]:
        return [ShareOut(building_id=b.id, a=round(self.shares[b.id].a, 4), a_method=self.shares[b.id].method)
                for b in self.buildings]

    def method(self) -> str:
        return ("heat (district heating, gas, oil, heat pumps) weather-corrected month by month: E_norm = a*E + "
                "(1-a)*E*GD_normal/GD_actual; months below 5 % of normal degree days or without degree days are "
                "not corrected; electricity is not corrected"
                + (f"; default a from {self.share_source}" if self.share_source else ""))


def _keep(carrier: str | None) -> set[str] | None:
    return None if carrier is None else ({carrier, HEAT_PUMP_SUB} if carrier == "electricity" else {carrier})


def _months(conn: PgConn, buildings: list[BuildingData], *, years: Sequence[int], carrier: str | None,
            baseline_year: int) -> _Months:
    """The monthly figures of the loaded buildings (of one carrier, when given) for every month of `years`."""
    w, normal, share_source = weather(conn, [baseline_year, *years])
    shares = {b.id: share_for(b, baseline_year, w) for b in buildings}
    parts = [_only(b, carrier) for b in buildings]
    figures: dict[tuple[int, int], tuple[YearFigures, bool]] = {}
    for y in sorted(set(years)):
        for m in MONTHS:
            f = YearFigures()
            present = False
            for b in parts:
                f.add(year_figures(b, y, shares[b.id], w, [m]))
                present = present or _has_month(b, y, m)
            figures[(y, m)] = (f, present)
    return _Months(buildings, shares, figures,
                   WeatherNormalYearOut(degree_days=sum(normal.degree_days), source=normal.source), share_source)


def weather_corrected(conn: PgConn, building_ids: Sequence[str] | None, *, years: Sequence[int],
                      carrier: str | None, baseline_year: int, tz: ZoneInfo, now: datetime) -> WeatherCorrectedOut:
    """Per year and month: kWh as delivered and weather-corrected (heat only, Danish degree-day method, `a` per
    building as in progress), the factor between them and the coverage. A month without data has `kwh` None, and
    so has a month whose stored readings are not yet in the rollups (`pending`). The baseline year uses the
    imported baseline where there is one, as progress does."""
    buildings = load_buildings(conn, building_ids, None, years=years, baseline_year=baseline_year, tz=tz)
    # the pending spans before the rollups: see consumption.query
    _, spans = pending_counted(conn, [b.id for b in buildings], _keep(carrier))
    found = _months(conn, buildings, years=years, carrier=carrier, baseline_year=baseline_year)
    out_years = []
    pending_spans: list[PendingSpan] = []
    for y in sorted(set(years)):
        months: list[WeatherMonthOut] = []
        kwh = normalised = 0.0
        for m in MONTHS:
            f, present = found.figures[(y, m)]
            kwh += f.kwh
            normalised += f.normalised_kwh
            pending = overlapping(spans, datetime(y, m, 1, tzinfo=tz),
                                  datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=tz))
            pending_spans += pending
            shown = present and not pending
            factor = found.factor(y, m)
            months.append(WeatherMonthOut(
                month=f"{y}-{m:02d}",
                kwh=round(f.kwh, 1) if shown else None,
                normalised_kwh=round(f.normalised_kwh, 1) if shown else None,
                factor=None if factor is None else round(factor, 4),
                coverage=round(f.coverage, 4) if present else 0.0,
                estimated_share=round(f.estimated_share, 4) if present else 0.0,
                pending=bool(pending),
            ))
        year_pending = any(m.pending for m in months)
        q = quality([(datetime(y, m, 1, tzinfo=tz), datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=tz), mo.coverage,
                      mo.estimated_share, mo.kwh) for m, mo in zip(MONTHS, months, strict=True)], now)
        out_years.append(WeatherYearOut(year=y, months=months, pending=year_pending, coverage=round(q.coverage, 4),
                                        estimated_share=round(q.estimated_share, 4), complete=q.complete,
                                        kwh=None if year_pending else round(kwh, 1),
                                        normalised_kwh=None if year_pending else round(normalised, 1)))
    through = computed_through(pending_spans)
    return WeatherCorrectedOut(
        unit="kWh", carrier=carrier, baseline_year=baseline_year,
        computed_through=through.astimezone(tz) if through else None,
        years=out_years, buildings=found.share_out(), normal_year=found.normal, method=found.method())


def corrected_series(conn: PgConn, building_ids: Sequence[str] | None, *, carrier: str | None, window: Window,
                     resolution: CorrectedResolution, baseline_year: int, tz: ZoneInfo, now: datetime
                     ) -> CorrectedSeriesOut:
    """The consumption series /consumption answers for these buildings (None: every building) and carrier (None:
    every energy carrier), each period also weather-corrected: its kWh times the factor of the local month it lies
    in (normalised kWh / kWh of that month, the figures of /weather-corrected; 1 where the month has none). Hours,
    days and months each lie in one month, so one factor is exact for each."""
    found = totals_series(conn, building_ids, carrier, start=window.requested_start, end=window.requested_end,
                          resolution=resolution, tz=tz)
    local = [(p, p.start.astimezone(tz)) for p in found.points]
    years = sorted({s.year for _, s in local})
    buildings = load_buildings(conn, building_ids, None, years=years, baseline_year=baseline_year, tz=tz)
    months = _months(conn, buildings, years=years, carrier=carrier, baseline_year=baseline_year)
    points = []
    for p, s in local:
        month_factor = months.factor(s.year, s.month)
        factor = 1.0 if month_factor is None else month_factor
        points.append(CorrectedPointOut(
            start=s, end=p.end.astimezone(tz), kwh=p.amount,
            normalised_kwh=None if p.amount is None else round(p.amount * factor, 6), factor=round(factor, 4),
            coverage=p.coverage, estimated_share=p.estimated_share, pending=p.pending))
    through = found.computed_through
    q = series_quality(found, now)
    return CorrectedSeriesOut(
        unit="kWh", resolution=resolution, timezone=tz.key, carrier=carrier,
        requested_start=window.requested_start, requested_end=window.requested_end, start=window.start,
        end=window.end, widened=window.widened, computed_through=through.astimezone(tz) if through else None,
        baseline_year=baseline_year, buildings=months.share_out(), method=months.method(), coverage=q.coverage,
        estimated_share=q.estimated_share, complete=q.complete, series=points)


def meter_status(conn: PgConn, building_ids: Sequence[str] | None, *, now: datetime, tz: ZoneInfo,
                 days: int = COMPLETENESS_DAYS) -> list[MeterStatusOut]:
    """Every meter with its last reading time, its lifecycle (active span in local time, replacement) and the share
    of the last `days` whole local days backed by measured data (from the daily rollup). Completeness counts only the
    time the meter was installed; it is null for a meter not installed at all in those days."""
    today = now.astimezone(tz).date()
    first = today - timedelta(days=days)
    w0 = datetime(first.year, first.month, first.day, tzinfo=tz).astimezone(UTC)
    w1 = datetime(today.year, today.month, today.day, tzinfo=tz).astimezone(UTC)
    rows = repository.meters_with_last_reading(conn, building_ids, first=first, until=today, tz=tz.key)
    out = []
    sales = sold_at(conn, building_ids, tz)  # a sold building's meters count no time after the sale
    for r in rows:
        sale = sales.get(r.building_id)
        until = sale if sale is not None and (r.active_to is None or sale < r.active_to) else r.active_to
        active_s = active_seconds((r.active_from, until), w0, w1)
        completeness = round(coverage(r.measured_s, active_s), 4) if active_s > 0 else None
        installed = (r.active_from is None or r.active_from <= now) and (r.active_to is None or now < r.active_to)
        out.append(MeterStatusOut(
            meter_id=r.meter_id, building_id=r.building_id, carrier=r.carrier, unit=r.unit,
            parent_meter_id=r.parent_meter_id, last_reading=r.last_reading,
            completeness=completeness,
            completeness_days=days,
            active_from=None if r.active_from is None else r.active_from.astimezone(tz),
            active_to=None if r.active_to is None else r.active_to.astimezone(tz),
            replaced_by=r.replaced_by,
            installed=installed,
            silent=installed and (r.last_reading is None or now - r.last_reading > SILENT_AFTER),
            incomplete=completeness is not None and completeness < COMPLETE_SHARE,
        ))
    return out
