"""Shared request plumbing: the engine, settings, the authenticated caller, and id path parameters."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Path, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator
from sqlalchemy import Engine

from services import db
from services.auth.schemas import Principal
from services.auth.service import authenticate, require
from services.clock import Clock, SystemClock
from services.config import Settings, get_settings
from services.db import PgConn, get_engine
from services.localtime import INSTANT_OR_DATE_PATTERN
from services.registry import service as registry
from services.registry.schemas import ID_PATTERN, not_only_dots


def engine() -> Engine:
    return get_engine()


def settings() -> Settings:
    return get_settings()


def clock() -> Clock:
    return SystemClock()


EngineDep = Annotated[Engine, Depends(engine)]
# The one connection kind (services.db): routes open their transaction with `with pg(engine, write=...) as conn`.
pg = db.pg


def scope_ids(caller: Principal, building_id: str | None, conn: PgConn) -> list[str] | None:
    """The buildings an answer covers: the one asked for (404 when unknown or outside the caller's scope), else the
    caller's (None: every building)."""
    if building_id is not None:
        registry.get_building(conn, building_id, caller.scope)
        return [building_id]
    ids = caller.scope.building_ids
    return None if ids is None else sorted(ids)


SettingsDep = Annotated[Settings, Depends(settings)]
ClockDep = Annotated[Clock, Depends(clock)]

_bearer = HTTPBearer(
    auto_error=False,
    description="An API token (`energiblik token create`), or the admin token of ENERGIBLIK_ADMIN_TOKEN.",
)


def caller(
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)], eng: EngineDep, s: SettingsDep
) -> Principal:
    admin = s.admin_token.get_secret_value() if s.admin_token else None
    with pg(eng) as conn:
        return authenticate(conn, creds.credentials if creds else None, admin)


Caller = Annotated[Principal, Depends(caller)]


def registry_writer(p: Caller) -> Principal:
    require(p.can_write_registry, "change the registry (admin and energy team only)")
    return p


def audit_reader(p: Caller) -> Principal:
    # who changed what is read by those who may change it (a facility manager's buildings' history is at
    # /buildings/{id}/history)
    require(p.can_write_registry, "read the audit log (admin and energy team only)")
    return p


def operator(p: Caller) -> Principal:
    require(p.can_read_ingest_rejects, "read dead letters or quarantine (admin and energy team only)")
    return p


def token_admin(p: Caller) -> Principal:
    require(p.can_manage_tokens, "manage tokens (admin only)")
    return p


RegistryWriter = Annotated[Principal, Depends(registry_writer)]
AuditReader = Annotated[Principal, Depends(audit_reader)]
Operator = Annotated[Principal, Depends(operator)]
TokenAdmin = Annotated[Principal, Depends(token_admin)]


def timezone(s: SettingsDep) -> ZoneInfo:
    return ZoneInfo(s.timezone)


TimezoneDep = Annotated[ZoneInfo, Depends(timezone)]

_ID_DOC = "1-64 characters from A-Z a-z 0-9 . _ -"
BuildingId = Annotated[str, Path(pattern=ID_PATTERN, description=_ID_DOC), AfterValidator(not_only_dots)]
MeterId = Annotated[str, Path(pattern=ID_PATTERN, description=_ID_DOC), AfterValidator(not_only_dots)]
LuminaireId = Annotated[str, Path(pattern=ID_PATTERN, description=_ID_DOC), AfterValidator(not_only_dots)]
BuildingFilter = Annotated[str | None, Query(pattern=ID_PATTERN, description="only this building's devices")]
# The pattern is declared, and checked by services.localtime.parse_instant, whose messages name the field and say
# what is wrong (a pydantic pattern error would print the whole regular expression).
_INSTANT_SCHEMA = {"pattern": f"^$|{INSTANT_OR_DATE_PATTERN}"}  # empty: as if not given
Start = Annotated[
    str | None,
    Query(
        json_schema_extra=_INSTANT_SCHEMA,
        description="inclusive; RFC 3339 instant (2026-03-29T00:00:00+01:00) or local date (2026-03-29 = local "
        "midnight), years 1900-2200"
    ),
]
End = Annotated[str | None, Query(json_schema_extra=_INSTANT_SCHEMA, description="exclusive; RFC 3339 instant or "
                                  "local date (local midnight), years 1900-2200")]


def instant_query(description: str) -> Any:
    """A query parameter holding an RFC 3339 instant or a local date (local midnight), its pattern declared."""
    return Query(json_schema_extra=_INSTANT_SCHEMA, description=f"{description}; RFC 3339 instant or local date, "
                                                              "years 1900-2200")
