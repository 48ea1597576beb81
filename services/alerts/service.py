"""Evaluating the alert rules over the stored data: each rule fetches what it judges, fires findings (deduplicated
per period) and clears alerts whose condition is over. Run by `python -m ingest.alerts` every minute, so new data
is judged within a minute of its arrival; the last few complete days are judged again, so late data counts too."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from services.alerts import repository, rules
from services.alerts.repository import Key
from services.alerts.schemas import RuleIn
from services.auth.schemas import BuildingScope
from services.boundary import one_item
from services.consumption import repository as consumption_repo
from services.db import PgConn
from services.errors import NotFoundError, ValidationFailed
from services.operations import repository as operations_repo
from services.targets import service as targets
from services.targets.progress import share_for, year_figures
from services.targets.reference import audit

log = logging.getLogger(__name__)
ACTIVE_SCAN = 5000  # alerts read to find the active ones among (state "active" is open or acknowledged)


@dataclass(frozen=True)
class Building:
    id: str
    type: str
    opening_hours: dict[str, Any] | None


@dataclass
class Outcome:
    opened: int = 0
    repeated: int = 0
    resolved: int = 0

    def count(self, what: str) -> None:
        if what == "opened":
            self.opened += 1
        elif what == "repeated":
            self.repeated += 1


@dataclass(frozen=True)
class Ctx:
    conn: PgConn
    now: datetime
    days: list[date]  # the complete local days judged, oldest first
    tz: ZoneInfo
    out: Outcome
    memo: dict[Any, Any] = field(default_factory=dict)  # what every building shares within one evaluation


def _local_midnight(d: date, tz: ZoneInfo) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC)


def _buildings(conn: PgConn) -> list[Building]:
    return [Building(*r) for r in repository.buildings(conn)]


_REPORTED: set[str] = set()  # stored rule values this process already reported as not read


def _report_rule_problems(conn: PgConn, problems: list[str]) -> None:
    """A stored rule value out of its declared range is not read (the less specific value is used, RuleBook); say so
    once per evaluator process, not every minute: a log warning and a processing error
    (`GET /api/v1/processing-errors?process=alerts`)."""
    for p in problems:
        if p in _REPORTED:
            continue
        _REPORTED.add(p)
        log.warning("%s", p, extra={"loop": "alerts"})
        operations_repo.record_processing_error(conn, "alerts", "alert rule parameters", p)


def evaluate(conn: PgConn, now: datetime, tz: ZoneInfo, *, days_back: int = 3) -> Outcome:
    """Every rule for every building, in the caller's transaction."""
    book = repository.rule_book(conn)
    _report_rule_problems(conn, book.problems)
    out = Outcome()
    buildings = _buildings(conn)
    today = now.astimezone(tz).date()
    days = [today - timedelta(days=k) for k in range(days_back, 0, -1)]  # complete local days, oldest first
    ctx = Ctx(conn, now, days, tz, out)
    for b in buildings:
        for rule, fn in _RULES.items():
            cfg = book.for_building(rule, b.type, b.id)
            if not cfg.enabled:
                continue
            # one building's rule at a time: a failure is recorded and skipped, the other buildings are judged
            one_item(conn, "alerts", f"{rule} building {b.id}", partial(fn, ctx, b, cfg.params))
    return out


def _silent(c: Ctx, b: Building, p: dict[str, Any]) -> None:
    conn, now, out = c.conn, c.now, c.out
    meters = repository.building_meters(conn, b.id)
    # A building sold (and not added back since) is no longer the municipality's: its meters are judged up to the
    # sale as if removed then (a non-routine adjustment, docs/registry.md)
    sale = targets.sold_at(conn, [b.id], c.tz).get(b.id)
    for meter_id, key, interval, active_from, removed in meters:
        active_to = sale if sale is not None and (removed is None or sale < removed) else removed
        last = consumption_repo.last_reading_ts(conn, key, now)
        v = rules.meter_silent_verdict(last, now, interval, p, active_from=active_from, active_to=active_to,
                                       tz=c.tz)
        if v.finding is not None:
            out.count(repository.fire(conn, Key("meter_silent", b.id, meter_id), v.finding, now)[1])
        elif v.clear_why is not None and repository.clear(conn, Key("meter_silent", b.id, meter_id),
                                                          v.clear_why, now):
            out.resolved += 1


def _counter(c: Ctx, b: Building, p: dict[str, Any]) -> None:
    conn, now, out = c.conn, c.now, c.out
    rows = repository.recent_decisions(conn, b.id, list(p["kinds"]), now - timedelta(days=7))
    for meter_id, ts, kind, value, reference, detail in rows:
        f = rules.Finding(period=f"{ts.isoformat()} {kind}", title=f"counter {kind} on meter {meter_id}: {detail}",
                          detail={"ts": ts.isoformat(), "kind": kind, "value": value, "reference": reference},
                          severity="warning" if kind in ("glitch", "exchange") else "critical")
        out.count(repository.fire(conn, Key("counter_anomaly", b.id, meter_id), f, now)[1])


def _electricity_hours(conn: PgConn, building_id: str, start: datetime, end: datetime, tz: ZoneInfo
                       ) -> dict[datetime, float]:
    return {hour.astimezone(tz): kwh for hour, kwh in repository.electricity_hours(conn, building_id, start, end)}


def _baseload(c: Ctx, b: Building, p: dict[str, Any]) -> None:
    conn, now, days, tz, out = c.conn, c.now, c.days, c.tz, c.out
    if b.opening_hours is None or not days:
        return
    start = _local_midnight(days[0] - timedelta(days=p["window_days"]), tz)
    hourly = _electricity_hours(conn, b.id, start, _local_midnight(days[-1] + timedelta(days=1), tz), tz)
    if not hourly:
        return
    latest: rules.Finding | None = None
    judged = False
    for d in days:
        if not any(h.date() == d for h in hourly):
            continue
        judged = True
        latest = rules.night_baseload(hourly, d, b.opening_hours, p, school=bool(p.get("school_holidays")))
        if latest is not None:
            out.count(repository.fire(conn, Key("night_baseload", b.id, ""), latest, now)[1])
    if judged and latest is None and repository.clear(conn, Key("night_baseload", b.id, ""),
                                                      f"baseload normal on {days[-1]}", now):
        out.resolved += 1


def _lights(c: Ctx, b: Building, p: dict[str, Any]) -> None:
    conn, now, days, tz, out = c.conn, c.now, c.days, c.tz, c.out
    if b.opening_hours is None or not days:
        return
    rows = repository.luminaire_samples(conn, b.id, _local_midnight(days[0], tz),
                                        _local_midnight(days[-1] + timedelta(days=1), tz))
    if not rows:
        return
    samples: dict[str, list[rules.LightSample]] = {}
    rated: dict[str, float] = {}
    for lid, watts, ts, power, on in rows:
        samples.setdefault(lid, []).append(rules.LightSample(ts.astimezone(tz), power, on))
        rated[lid] = float(watts)
    latest = None
    for d in days:
        latest = rules.lights_out_of_hours(samples, rated, d, b.opening_hours, p,
                                           school=bool(p.get("school_holidays")))
        if latest is not None:
            out.count(repository.fire(conn, Key("lights_out_of_hours", b.id, ""), latest, now)[1])
    if latest is None and repository.clear(conn, Key("lights_out_of_hours", b.id, ""),
                                           f"no lights out of hours on {days[-1]}", now):
        out.resolved += 1


def _above(c: Ctx, b: Building, p: dict[str, Any]) -> None:
    conn, now, tz, out = c.conn, c.now, c.tz, c.out
    today = now.astimezone(tz).date()
    # last complete month against the same month of the baseline year, both weather-corrected
    month_end = today.replace(day=1)
    month = (month_end - timedelta(days=1)).replace(day=1)
    if "baseline_year" not in c.memo:
        found = repository.energy_baseline_year(conn)
        c.memo["baseline_year"] = found if found is not None else 2015
    baseline_year: int = c.memo["baseline_year"]
    data = targets.load_buildings(conn, [b.id], None, years=[month.year], baseline_year=baseline_year, tz=tz)
    if data and month.year > baseline_year:
        if ("weather", month.year) not in c.memo:
            c.memo[("weather", month.year)] = targets.weather(conn, [baseline_year, month.year])[0]
        w = c.memo[("weather", month.year)]
        share = share_for(data[0], baseline_year, w)
        now_f = year_figures(data[0], month.year, share, w, [month.month])
        base_f = year_figures(data[0], baseline_year, share, w, [month.month])
        f = rules.above(now_f.normalised_kwh, base_f.normalised_kwh, margin_pct=p["month_margin_pct"],
                        min_kwh=p["min_kwh"], period=month.isoformat()[:7],
                        what=f"{month:%B %Y} against {month:%B} {baseline_year} (weather-corrected)")
        if f is not None:
            out.count(repository.fire(conn, Key("above_baseline", b.id, "month"), f, now)[1])
        elif base_f.normalised_kwh > 0 and now_f.kwh > 0 and repository.clear(
                conn, Key("above_baseline", b.id, "month"), f"{month:%B %Y} within the margin", now):
            out.resolved += 1
    # last complete ISO week against the same ISO week last year
    monday = today - timedelta(days=today.weekday() + 7)
    iso = monday.isocalendar()
    try:
        last_year_monday = date.fromisocalendar(iso.year - 1, iso.week, 1)
    except ValueError:  # week 53
        return
    sums = [repository.main_energy_kwh(conn, b.id, first, first + timedelta(days=7))
            for first in (monday, last_year_monday)]
    f = rules.above(sums[0], sums[1], margin_pct=p["week_margin_pct"], min_kwh=p["min_kwh"],
                    period=f"{iso.year}-W{iso.week:02d}",
                    what=f"week {iso.week} {iso.year} against week {iso.week} {iso.year - 1}")
    if f is not None:
        out.count(repository.fire(conn, Key("above_baseline", b.id, "week"), f, now)[1])
    elif sums[1] > 0 and sums[0] > 0 and repository.clear(conn, Key("above_baseline", b.id, "week"),
                                                          f"week {iso.week} within the margin", now):
        out.resolved += 1


def _cooling(c: Ctx, b: Building, p: dict[str, Any]) -> None:
    conn, now, days, tz, out = c.conn, c.now, c.days, c.tz, c.out
    meters = repository.district_heating_meters(conn, b.id)
    for meter_id, key in meters:
        latest = None
        judged = False
        for d in days:
            rows = repository.heat_samples(conn, key, _local_midnight(d, tz),
                                           _local_midnight(d + timedelta(days=1), tz))
            if not rows:
                continue
            judged = True
            latest = rules.dh_cooling([rules.HeatSample(*r) for r in rows], d, p)
            if latest is not None:
                out.count(repository.fire(conn, Key("dh_cooling", b.id, meter_id), latest, now)[1])
        if judged and latest is None and repository.clear(conn, Key("dh_cooling", b.id, meter_id),
                                                          f"cooling normal on {days[-1]}", now):
            out.resolved += 1


_RULES: dict[str, Callable[[Ctx, Building, dict[str, Any]], None]] = {
    "meter_silent": _silent,
    "counter_anomaly": _counter,
    "night_baseload": _baseload,
    "lights_out_of_hours": _lights,
    "above_baseline": _above,
    "dh_cooling": _cooling,
}


def set_rule(conn: PgConn, body: RuleIn, actor: str) -> dict[str, Any]:
    """Set a rule's parameters for everyone, a building type or one building: only the rule's known parameters, of
    their type and within their declared range (rules.check_param, the table the OpenAPI document declares);
    audit-logged. A building type is the registry's free text: a type no building has yet is kept (it applies once
    one is registered)."""
    if body.building_type and body.building_id:
        raise ValidationFailed("building_id", "give building_type or building_id, not both")
    params: dict[str, Any] = {}
    for k, v in body.params.items():
        try:
            params[k] = rules.check_param(body.rule, k, v)
        except ValueError as exc:
            raise ValidationFailed(f"params.{k}", str(exc)) from None
    body = body.model_copy(update={"params": params})
    if body.building_id is not None and not repository.building_exists(conn, body.building_id):
        raise NotFoundError("building", body.building_id)
    row = repository.put_rule(conn, body.rule, building_type=body.building_type, building_id=body.building_id,
                         params=body.params, enabled=body.enabled)
    audit(conn, actor, "put", f"alert-rules/{body.rule}", body.model_dump())
    return row


def alert(conn: PgConn, alert_id: int, scope: BuildingScope, *, with_events: bool = False) -> dict[str, Any]:
    """One alert (with its history when asked); 404 when it is unknown or of a building outside the scope."""
    a = repository.get(conn, alert_id)
    if not scope.allows(a["building_id"]):
        raise NotFoundError("alert", str(alert_id))
    return {**a, "events": repository.events(conn, alert_id)} if with_events else a


def search(conn: PgConn, scope: BuildingScope, *, building_id: str | None, rule: str | None, state: str | None,
           since: datetime | None, until: datetime | None, limit: int) -> list[dict[str, Any]]:
    """Alerts in the scope, newest first; `state` "active" means open or acknowledged."""
    ids = None if scope.building_ids is None else sorted(scope.building_ids)
    if state == "active":
        found = repository.search(conn, building_ids=ids, building_id=building_id, rule=rule, state=None,
                                  since=since, until=until, limit=ACTIVE_SCAN)
        return [a for a in found if a["state"] != "resolved"][:limit]
    return repository.search(conn, building_ids=ids, building_id=building_id, rule=rule, state=state, since=since,
                             until=until, limit=limit)


def change_state(conn: PgConn, alert_id: int, to: str, scope: BuildingScope, *, actor: str, note: str | None,
                 now: datetime) -> dict[str, Any]:
    """Acknowledge or resolve an alert of a building in the scope by hand (404 outside it)."""
    alert(conn, alert_id, scope)
    return repository.change_state(conn, alert_id, to, actor=actor, note=note, now=now)


def rule_rows(conn: PgConn, scope: BuildingScope) -> list[dict[str, Any]]:
    """The rule rows a caller may see: the defaults, the building-type rows and its buildings' rows."""
    return [r for r in repository.rules(conn) if r["building_id"] is None or scope.allows(r["building_id"])]
