"""Buildings, meters and luminaires: create or replace (PUT) and read, within the caller's scope."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import Response
from pydantic import BaseModel

from api.deps import (
    BuildingFilter,
    BuildingId,
    Caller,
    EngineDep,
    LuminaireId,
    MeterId,
    RegistryWriter,
    SettingsDep,
    TimezoneDep,
    pg,
)
from api.routing import v1_router
from services.auth.schemas import Principal
from services.registry import service
from services.registry.schemas import (
    AreaHistoryEntry,
    BuildingHistoryOut,
    BuildingIn,
    BuildingListItem,
    BuildingOut,
    LuminaireHistoryOut,
    LuminaireIn,
    LuminaireOut,
    LuminairePutOut,
    MeterHistoryOut,
    MeterIn,
    MeterOut,
    MeterPutOut,
)

router = v1_router(tags=["registry"])


def actor(p: Principal, via: str = "API") -> service.Actor:
    """The audit log's who: the token's name and role."""
    return service.Actor(p.name, p.role.value, via)

def _put_responses(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """The answers of a create-or-replace PUT: 200 replaced, 201 created, each with the entity as stored (`model`)."""
    return {200: {"description": "replaced an existing entity", "model": model},
            201: {"description": "created a new entity", "model": model}}


@router.put("/buildings/{building_id}", responses=_put_responses(BuildingOut))
def put_building(
    building_id: BuildingId,
    body: BuildingIn,
    *,
    response: Response,
    caller: RegistryWriter,
    engine: EngineDep,
    settings: SettingsDep,
    tz: TimezoneDep,
) -> BuildingOut:
    """Create or replace a building. Optional fields left out are cleared. A new building gets broker credentials.
    `valid_from` dates the changes of heated area, heating and building group (kept as history); audit-logged."""
    with pg(engine, write=True) as conn:
        put = service.put_building(conn, building_id, body, actor=actor(caller), tz=tz)
    if put.created:
        service.after_commit(engine, settings, buildings_created=True)
    response.status_code = 201 if put.created else 200
    return put.entity


@router.get("/buildings")
def list_buildings(caller: Caller, engine: EngineDep) -> list[BuildingListItem]:
    """Every building the caller may see, with its count of active alerts."""
    with pg(engine) as conn:
        return service.list_buildings_with_open_alerts(conn, caller.scope)


@router.get("/buildings/{building_id}")
def get_building(building_id: BuildingId, caller: Caller, engine: EngineDep) -> BuildingOut:
    with pg(engine) as conn:
        return service.get_building(conn, building_id, caller.scope)


@router.get("/buildings/{building_id}/area-history")
def get_area_history(building_id: BuildingId, caller: Caller, engine: EngineDep, tz: TimezoneDep
                     ) -> list[AreaHistoryEntry]:
    """Every heated area the building has had, oldest first (`valid_from` null: since always)."""
    with pg(engine) as conn:
        return service.area_history(conn, building_id, caller.scope, tz)


@router.get("/buildings/{building_id}/history", response_model=BuildingHistoryOut)
def get_building_history(building_id: BuildingId, caller: Caller, engine: EngineDep, tz: TimezoneDep
                         ) -> dict[str, Any]:
    """The building's dated facts — heated area, heating, building group — each row with `valid_from` (null: since
    always), when and by whom it was recorded; and its non-routine adjustments (added, sold, area changed)."""
    from services.targets import service as targets

    with pg(engine) as conn:
        out = service.building_history(conn, building_id, caller.scope, tz)
        out["adjustments"] = targets.adjustments(conn, [building_id], date(1900, 1, 1), date(2999, 12, 31))
        return out


@router.put("/meters/{meter_id}", responses=_put_responses(MeterPutOut))
def put_meter(
    meter_id: MeterId,
    body: MeterIn,
    *,
    response: Response,
    caller: RegistryWriter,
    engine: EngineDep,
    settings: SettingsDep,
    tz: TimezoneDep,
) -> MeterPutOut:
    """Create or replace a meter, then store the readings that were quarantined while it was unknown.
    `valid_from` dates a change of `parent_meter_id` (kept as history); audit-logged."""
    with pg(engine, write=True) as conn:
        put = service.put_meter(conn, meter_id, body, actor=actor(caller), tz=tz)
    replayed = service.after_commit(engine, settings, meter_ids=[meter_id])
    response.status_code = 201 if put.created else 200
    return MeterPutOut.model_validate({**put.entity.model_dump(), "replayed_quarantined": replayed})


@router.get("/meters")
def list_meters(caller: Caller, engine: EngineDep, building_id: BuildingFilter = None) -> list[MeterOut]:
    """Meters the caller may see, optionally of one building."""
    with pg(engine) as conn:
        return service.list_meters(conn, caller.scope, building_id)


@router.get("/meters/{meter_id}")
def get_meter(meter_id: MeterId, caller: Caller, engine: EngineDep) -> MeterOut:
    with pg(engine) as conn:
        return service.get_meter(conn, meter_id, caller.scope)


@router.get("/meters/{meter_id}/history", response_model=MeterHistoryOut)
def get_meter_history(meter_id: MeterId, caller: Caller, engine: EngineDep, tz: TimezoneDep) -> dict[str, Any]:
    """The meter's parent over time (`parent_meter_id` null: a main meter, counted in totals)."""
    with pg(engine) as conn:
        return service.meter_history(conn, meter_id, caller.scope, tz)


@router.put("/luminaires/{luminaire_id}", responses=_put_responses(LuminairePutOut))
def put_luminaire(
    luminaire_id: LuminaireId,
    body: LuminaireIn,
    *,
    response: Response,
    caller: RegistryWriter,
    engine: EngineDep,
    settings: SettingsDep,
    tz: TimezoneDep,
) -> LuminairePutOut:
    """Create or replace a luminaire, then store the telemetry that was quarantined while it was unknown.
    `valid_from` dates a change of technology or rated W (a retrofit; kept as history); audit-logged."""
    with pg(engine, write=True) as conn:
        put = service.put_luminaire(conn, luminaire_id, body, actor=actor(caller), tz=tz)
    replayed = service.after_commit(engine, settings, luminaire_ids=[luminaire_id])
    response.status_code = 201 if put.created else 200
    return LuminairePutOut.model_validate({**put.entity.model_dump(), "replayed_quarantined": replayed})


@router.get("/luminaires")
def list_luminaires(caller: Caller, engine: EngineDep, building_id: BuildingFilter = None) -> list[LuminaireOut]:
    """Luminaires the caller may see, optionally of one building."""
    with pg(engine) as conn:
        return service.list_luminaires(conn, caller.scope, building_id)


@router.get("/luminaires/{luminaire_id}")
def get_luminaire(luminaire_id: LuminaireId, caller: Caller, engine: EngineDep) -> LuminaireOut:
    with pg(engine) as conn:
        return service.get_luminaire(conn, luminaire_id, caller.scope)


@router.get("/luminaires/{luminaire_id}/history", response_model=LuminaireHistoryOut)
def get_luminaire_history(luminaire_id: LuminaireId, caller: Caller, engine: EngineDep, tz: TimezoneDep
                          ) -> dict[str, Any]:
    """The luminaire's technology and rated W over time (it counts in LED shares from its first row)."""
    with pg(engine) as conn:
        return service.luminaire_history(conn, luminaire_id, caller.scope, tz)
