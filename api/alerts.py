"""Alerts: list (filtered, scoped by role), one with its history, acknowledge and resolve, the rules as data, and
the daily digest per facility manager (JSON or HTML a mail relay can send)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from api.deps import (
    BuildingFilter,
    Caller,
    ClockDep,
    EngineDep,
    RegistryWriter,
    TimezoneDep,
    instant_query,
    pg,
)
from api.routing import v1_router
from services.alerts import digest as digests_service
from services.alerts import service
from services.alerts.schemas import (
    AlertOut,
    AlertWithEventsOut,
    DigestOut,
    NoteIn,
    RecipientDigestOut,
    RuleIn,
    RuleName,
    RuleOut,
)
from services.auth.schemas import Principal, Role
from services.auth.service import require
from services.errors import ValidationFailed
from services.localtime import REPORT_DATE_PATTERN
from services.registry import service as registry
from services.series.service import resolve_bounds

router = v1_router(tags=["alerts"])

AlertId = Annotated[int, Path(ge=1, le=2**62, description="the alert's id")]


@router.get("/alerts", response_model=list[AlertOut])
def list_alerts(
    *, caller: Caller, engine: EngineDep, tz: TimezoneDep, building_id: BuildingFilter = None,
    rule: Annotated[RuleName | None, Query(description="only this rule's alerts")] = None,
    state: Annotated[Literal["open", "acknowledged", "resolved", "active"] | None,
                     Query(description="only alerts in this state (active: open or acknowledged)")] = None,
    since: Annotated[str | None, instant_query("last seen at or after")] = None,
    until: Annotated[str | None, instant_query("first seen before")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="the most alerts answered (newest first)")] = 200,
) -> list[dict[str, Any]]:
    """Alerts newest first; `state=active` means open or acknowledged. A facility manager sees their buildings'."""
    s, u = resolve_bounds(since, until, tz, names=("since", "until"))
    with pg(engine) as conn:
        if building_id is not None:
            registry.get_building(conn, building_id, caller.scope)  # 404 for an unknown building or one outside scope
        found = service.search(conn, caller.scope, building_id=building_id, rule=rule, state=state, since=s,
                               until=u, limit=limit)
    return digests_service.local_detail(found, tz)


@router.get("/alerts/{alert_id}", response_model=AlertWithEventsOut)
def get_alert(alert_id: AlertId, caller: Caller, engine: EngineDep, tz: TimezoneDep) -> dict[str, Any]:
    """One alert with its history (opened, repeated, acknowledged, resolved)."""
    with pg(engine) as conn:
        one = service.alert(conn, alert_id, caller.scope, with_events=True)
    return digests_service.local_detail([one], tz)[0]


def _handle(alert_id: int, to: str, caller: Principal, engine: Engine, tz: Any, *, now: datetime,
            body: NoteIn | None) -> dict[str, Any]:
    require(caller.role != Role.viewer, "handle alerts (admin, energy team and facility managers only)")
    with pg(engine, write=True) as conn:
        changed = service.change_state(conn, alert_id, to, caller.scope, actor=caller.name,
                                       note=body.note if body else None, now=now)
    return digests_service.local_detail([changed], tz)[0]


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut)
def acknowledge(alert_id: AlertId, *, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep,
                body: NoteIn | None = None) -> dict[str, Any]:
    """Someone is on it: open -> acknowledged (it resolves by itself when the condition is over)."""
    return _handle(alert_id, "acknowledged", caller, engine, tz, now=clock.now(), body=body)


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut)
def resolve(alert_id: AlertId, *, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep,
            body: NoteIn | None = None) -> dict[str, Any]:
    """Close the alert by hand, with a note; if the rule fires again for a new period, a new alert opens."""
    return _handle(alert_id, "resolved", caller, engine, tz, now=clock.now(), body=body)


@router.get("/alert-rules", response_model=list[RuleOut])
def get_rules(caller: Caller, engine: EngineDep) -> list[dict[str, Any]]:
    """Rule rows: defaults (no building type or building), per building type, per building; params merge in that
    order. A facility manager sees the defaults, the type rows and their own buildings' rows only."""
    with pg(engine) as conn:
        return service.rule_rows(conn, caller.scope)


@router.put("/alert-rules", response_model=RuleOut)
def put_rule(body: RuleIn, caller: RegistryWriter, engine: EngineDep) -> dict[str, Any]:
    """Set a rule's parameters for everyone, a building type or one building (admin and energy team)."""
    with pg(engine, write=True) as conn:
        return service.set_rule(conn, body, caller.name)


def _digest_day(day: date | None, clock: ClockDep, tz: Any) -> date:
    d = day or clock.now().astimezone(tz).date() - timedelta(days=1)
    if not 1990 <= d.year <= 2100:
        raise ValidationFailed("date", f"{d.isoformat()} is outside the years 1990-2100")
    return d


DigestDay = Annotated[date | None, Query(alias="date", description="local date, 1990-2100; default yesterday",
                                         json_schema_extra={"pattern": REPORT_DATE_PATTERN})]


@router.get("/alerts-digest", response_model=DigestOut, responses={200: {
    "description": "the digest as JSON, or with `format=html` as an HTML mail body",
    "content": {"application/json": {}, "text/html": {"schema": {"type": "string"}}}}})
def digest(*, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep, day: DigestDay = None,
           format: Annotated[Literal["json", "html"], Query(description="json, or html (a mail body)")] = "json"
           ) -> Any:
    """The caller's daily digest: alerts opened that day and every alert still active."""
    d = _digest_day(day, clock, tz)
    ids = caller.scope.building_ids
    with pg(engine) as conn:
        out = digests_service.digest(conn, caller.name, None if ids is None else sorted(ids), d, tz)
    if format == "html":
        return HTMLResponse(digests_service.digest_html(out))
    return out


@router.get("/alerts-digests", response_model=list[RecipientDigestOut])
def digests(*, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep, day: DigestDay = None,
            ) -> list[dict[str, Any]]:
    """One digest per facility manager (active tokens), for a mail relay: recipient, buildings, alerts and HTML."""
    require(caller.can_write_registry, "read every facility manager's digest (admin and energy team only)")
    with pg(engine) as conn:
        return digests_service.digests(conn, _digest_day(day, clock, tz), tz)


