"""Alerts: list (filtered, scoped by role), one with its history, acknowledge and resolve, the rules as data, and
the daily digest per facility manager (JSON or HTML a mail relay can send)."""

from __future__ import annotations

import html
import json
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import Path, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from api.deps import BuildingFilter, Caller, ClockDep, EngineDep, RegistryWriter, TimezoneDep
from api.routing import v1_router
from api.targets import _driver
from services.alerts import store
from services.alerts.rules import DEFAULT_PARAMS
from services.auth.schemas import Principal, Role
from services.auth.service import require
from services.config import get_settings
from services.db import PgConn
from services.errors import NotFoundError, ValidationFailed
from services.localtime import RFC3339_RE, iso_local
from services.registry import service as registry
from services.series.service import resolve_bounds
from services.targets.reference import audit

router = v1_router(tags=["alerts"])

RuleName = Literal["meter_silent", "counter_anomaly", "night_baseload", "lights_out_of_hours", "above_baseline",
                   "dh_cooling"]
AlertId = Annotated[int, Path(ge=1, le=2**62)]


def _local_detail(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The instants the rules wrote into an alert's (and its events') `detail` as text, such as a silent meter's
    `last_reading` or a counter decision's `ts`, in local time like every other instant of the API (the stored text
    is left as it is: it is part of what dedupes a finding)."""
    tz = ZoneInfo(get_settings().timezone)

    def local(detail: Any) -> Any:
        if not isinstance(detail, dict):
            return detail
        return {k: iso_local(datetime.fromisoformat(v), tz)
                if isinstance(v, str) and RFC3339_RE.fullmatch(v) else v for k, v in detail.items()}

    return [{**a, "detail": local(a.get("detail")),
             **({"events": [{**e, "detail": local(e.get("detail"))} for e in a["events"]]} if "events" in a else {})}
            for a in alerts]


def _scoped(conn: PgConn, alert_id: int, caller: Principal) -> dict[str, Any]:
    a = store.get(conn, alert_id)
    if not caller.scope.allows(a["building_id"]):
        raise NotFoundError("alert", str(alert_id))
    return a


@router.get("/alerts")
def list_alerts(
    *, caller: Caller, engine: EngineDep, tz: TimezoneDep, building_id: BuildingFilter = None,
    rule: RuleName | None = None, state: Literal["open", "acknowledged", "resolved", "active"] | None = None,
    since: Annotated[str | None, Query(description="last seen at or after; RFC 3339 or local date")] = None,
    until: Annotated[str | None, Query(description="first seen before; RFC 3339 or local date")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """Alerts newest first; `state=active` means open or acknowledged. A facility manager sees their buildings'."""
    s, u = resolve_bounds(since, until, tz, names=("since", "until"))
    ids = caller.scope.building_ids
    with engine.connect() as sa:
        if building_id is not None:
            registry.get_building(sa, building_id, caller.scope)  # 404 for an unknown building or one outside scope
        conn = _driver(sa)
        if state == "active":
            found = [a for a in store.search(conn, building_ids=None if ids is None else sorted(ids),
                                             building_id=building_id, rule=rule, state=None, since=s, until=u,
                                             limit=5000) if a["state"] != "resolved"][:limit]
        else:
            found = store.search(conn, building_ids=None if ids is None else sorted(ids), building_id=building_id,
                                 rule=rule, state=state, since=s, until=u, limit=limit)
    return _local_detail(found)


@router.get("/alerts/{alert_id}")
def get_alert(alert_id: AlertId, caller: Caller, engine: EngineDep) -> dict[str, Any]:
    """One alert with its history (opened, repeated, acknowledged, resolved)."""
    with engine.connect() as sa:
        conn = _driver(sa)
        return _local_detail([{**_scoped(conn, alert_id, caller), "events": store.events(conn, alert_id)}])[0]


class NoteIn(BaseModel):
    model_config = {"extra": "forbid"}

    note: str | None = Field(default=None, max_length=1000)


def _handle(alert_id: int, to: str, caller: Principal, engine: Engine, *, now: datetime,
            body: NoteIn | None) -> dict[str, Any]:
    require(caller.role != Role.viewer, "handle alerts (admin, energy team and facility managers only)")
    with engine.begin() as sa:
        conn = _driver(sa)
        _scoped(conn, alert_id, caller)
        changed = store.change_state(conn, alert_id, to, actor=caller.name, note=body.note if body else None, now=now)
        return _local_detail([changed])[0]


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge(alert_id: AlertId, caller: Caller, engine: EngineDep, clock: ClockDep,
                body: NoteIn | None = None) -> dict[str, Any]:
    """Someone is on it: open -> acknowledged (it resolves by itself when the condition is over)."""
    return _handle(alert_id, "acknowledged", caller, engine, now=clock.now(), body=body)


@router.post("/alerts/{alert_id}/resolve")
def resolve(alert_id: AlertId, caller: Caller, engine: EngineDep, clock: ClockDep,
            body: NoteIn | None = None) -> dict[str, Any]:
    """Close the alert by hand, with a note; if the rule fires again for a new period, a new alert opens."""
    return _handle(alert_id, "resolved", caller, engine, now=clock.now(), body=body)


@router.get("/alert-rules")
def get_rules(caller: Caller, engine: EngineDep) -> list[dict[str, Any]]:
    """Rule rows: defaults (no building type or building), per building type, per building; params merge in that
    order. A facility manager sees the defaults, the type rows and their own buildings' rows only."""
    with engine.connect() as sa:
        rows = store.rules(_driver(sa))
    return [r for r in rows if r["building_id"] is None or caller.scope.allows(r["building_id"])]


class RuleIn(BaseModel):
    model_config = {"extra": "forbid"}

    rule: RuleName
    building_type: str | None = Field(default=None, min_length=1, max_length=100)
    building_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,64}$")
    params: dict[str, Any] = Field(default_factory=dict, description="only the keys to override")
    enabled: bool = True


@router.put("/alert-rules")
def put_rule(body: RuleIn, caller: RegistryWriter, engine: EngineDep) -> dict[str, Any]:
    """Set a rule's parameters for everyone, a building type or one building (admin and energy team)."""
    if body.building_type and body.building_id:
        raise ValidationFailed("building_id", "give building_type or building_id, not both")
    known = DEFAULT_PARAMS[body.rule]
    for k, v in body.params.items():
        if k not in known:
            raise ValidationFailed(f"params.{k}", f"unknown parameter; {body.rule} has {', '.join(sorted(known))}")
        if type(v) is not type(known[k]) and not (isinstance(known[k], float) and isinstance(v, int)):
            raise ValidationFailed(f"params.{k}", f"must be of type {type(known[k]).__name__}")
        if isinstance(v, int | float) and not isinstance(v, bool) and v < 0:
            raise ValidationFailed(f"params.{k}", "must not be negative")
    with engine.begin() as sa:
        conn = _driver(sa)
        if body.building_id is not None and conn.execute("SELECT 1 FROM buildings WHERE id = %s",
                                                         [body.building_id]).fetchone() is None:
            raise NotFoundError("building", body.building_id)
        row = conn.execute(
            "INSERT INTO alert_rules (rule, building_type, building_id, params, enabled) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (rule, building_type, building_id) DO UPDATE SET params = alert_rules.params || "
            "EXCLUDED.params, enabled = EXCLUDED.enabled, updated_at = now() RETURNING id, params",
            [body.rule, body.building_type, body.building_id, json.dumps(body.params), body.enabled]).fetchone()
        assert row is not None
        audit(conn, caller.name, "put", f"alert-rules/{body.rule}", body.model_dump())
    return {"id": row[0], "rule": body.rule, "building_type": body.building_type, "building_id": body.building_id,
            "params": row[1], "enabled": body.enabled}


def _digest_day(day: date | None, clock: ClockDep, tz: Any) -> date:
    d = day or clock.now().astimezone(tz).date() - timedelta(days=1)
    if not 1990 <= d.year <= 2100:
        raise ValidationFailed("date", f"{d.isoformat()} is outside the years 1990-2100")
    return d


def _digest(conn: PgConn, ids: list[str] | None, day: date, tz: Any) -> dict[str, Any]:
    start = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
    end = start + timedelta(days=1)
    new = [a for a in store.search(conn, building_ids=ids, building_id=None, rule=None, state=None, since=start,
                                   until=end, limit=1000) if a["first_seen"] >= start]
    active = [a for a in store.search(conn, building_ids=ids, building_id=None, rule=None, state=None, since=None,
                                      until=end, limit=1000) if a["state"] != "resolved"]
    return {"date": day.isoformat(), "new": _local_detail(new), "active": _local_detail(active),
            "wasted_kwh_active": round(sum(a["wasted_kwh"] or 0 for a in active), 1)}


@router.get("/alerts-digest", response_model=None)
def digest(*, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep,
           day: Annotated[date | None, Query(alias="date", description="local date; default yesterday")] = None,
           format: Annotated[Literal["json", "html"], Query()] = "json") -> dict[str, Any] | Response:
    """The caller's daily digest: alerts opened that day and every alert still active."""
    d = _digest_day(day, clock, tz)
    ids = caller.scope.building_ids
    with engine.connect() as sa:
        out = {"recipient": caller.name, **_digest(_driver(sa), None if ids is None else sorted(ids), d, tz)}
    return HTMLResponse(_digest_html(out)) if format == "html" else out


@router.get("/alerts-digests")
def digests(*, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep,
            day: Annotated[date | None, Query(alias="date", description="local date; default yesterday")] = None,
            ) -> list[dict[str, Any]]:
    """One digest per facility manager (active tokens), for a mail relay: recipient, buildings, alerts and HTML."""
    require(caller.can_write_registry, "read every facility manager's digest (admin and energy team only)")
    d = _digest_day(day, clock, tz)
    with engine.connect() as sa:
        conn = _driver(sa)
        tokens = conn.execute("SELECT id, name, building_ids FROM api_tokens WHERE role = 'facility_manager' "
                              "AND revoked_at IS NULL ORDER BY id").fetchall()
        out = []
        for token_id, name, buildings in tokens:
            one = {"recipient": name, "token_id": token_id, "buildings": list(buildings),
                   **_digest(conn, list(buildings), d, tz)}
            one["html"] = _digest_html(one)
            out.append(one)
    return out


def _digest_html(d: dict[str, Any]) -> str:
    def kwh(x: float | None) -> str:
        return "" if x is None else f"{x:.1f}"

    def rows(alerts: list[dict[str, Any]]) -> str:
        if not alerts:
            return "<p>None.</p>"
        items = "".join(
            f"<tr><td>{html.escape(a['building_id'])}</td><td>{html.escape(a['rule'])}</td>"
            f"<td>{html.escape(a['title'])}</td><td>{html.escape(a['state'])}</td>"
            f"<td>{kwh(a['wasted_kwh'])}</td></tr>" for a in alerts)
        return ("<table><tr><th>Building</th><th>Rule</th><th>What</th><th>State</th><th>Wasted kWh</th></tr>"
                f"{items}</table>")

    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Energiblik alerts {d['date']}</title>"
            "<style>body{font-family:system-ui,sans-serif}td,th{padding:2px 8px;text-align:left}</style></head><body>"
            f"<h1>Alerts for {html.escape(d['recipient'])}, {d['date']}</h1>"
            f"<h2>New ({len(d['new'])})</h2>{rows(d['new'])}"
            f"<h2>Still active ({len(d['active'])}, {d['wasted_kwh_active']} kWh wasted so far)</h2>"
            f"{rows(d['active'])}</body></html>")

