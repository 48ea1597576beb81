"""All SQL of the registry. Functions take a Connection inside a transaction the caller owns."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from services.auth.schemas import BuildingScope
from services.registry.schemas import (
    AreaHistoryEntry,
    BuildingIn,
    BuildingOut,
    LuminaireIn,
    LuminaireOut,
    MeterIn,
    MeterOut,
)

# `xmax = 0` holds for a row version this statement inserted, not one that ON CONFLICT updated.
_CREATED = "(xmax = 0) AS created"

# A scope either allows every building or a list of ids; one SQL form serves both.
_SCOPED = "(CAST(:scope_all AS boolean) OR {col} = ANY(CAST(:scope_ids AS text[])))"


def _scope_params(scope: BuildingScope) -> dict[str, Any]:
    ids = scope.building_ids
    return {"scope_all": ids is None, "scope_ids": sorted(ids or ())}


@dataclass(frozen=True)
class MeterFacts:
    """What the registry rules need to know about a stored meter."""

    id: str
    key: int
    building_id: str
    parent_meter_id: str | None
    external_id: str | None
    unit: str
    mode: str


# --- buildings -------------------------------------------------------------------------------------------------------


def building_area_for_update(conn: Connection, building_id: str) -> float | None:
    """The stored heated area (locking the row until commit), or None when the building does not exist."""
    row = conn.execute(
        text("SELECT heated_area_m2 FROM buildings WHERE id = :id FOR UPDATE"), {"id": building_id}
    ).first()
    return None if row is None else float(row[0])


def upsert_building(conn: Connection, building_id: str, body: BuildingIn) -> tuple[BuildingOut, bool]:
    """Insert or replace a building; returns it and whether it was created."""
    data = body.model_dump(mode="json", exclude={"id"})
    data["opening_hours"] = None if body.opening_hours is None else json.dumps(data["opening_hours"])
    row = (
        conn.execute(
            text(f"""
            INSERT INTO buildings (id, name, type, heated_area_m2, heating, address, bbr_building_no, energy_label,
                                   opening_hours, hot_water_share, building_group)
            VALUES (:id, :name, :type, :heated_area_m2, :heating, :address, :bbr_building_no, :energy_label,
                    CAST(:opening_hours AS jsonb), :hot_water_share, :building_group)
            ON CONFLICT (id) DO UPDATE SET
                name = EXCLUDED.name, type = EXCLUDED.type, heated_area_m2 = EXCLUDED.heated_area_m2,
                heating = EXCLUDED.heating, address = EXCLUDED.address, bbr_building_no = EXCLUDED.bbr_building_no,
                energy_label = EXCLUDED.energy_label, opening_hours = EXCLUDED.opening_hours,
                hot_water_share = EXCLUDED.hot_water_share, building_group = EXCLUDED.building_group,
                updated_at = now()
            RETURNING *, {_CREATED}
        """),
            {"id": building_id, **data},
        )
        .mappings()
        .one()
    )
    return BuildingOut.model_validate(dict(row)), bool(row["created"])


def append_area_history(conn: Connection, building_id: str, heated_area_m2: float, reason: str) -> None:
    """Record the heated area valid from now (the transaction's time)."""
    conn.execute(
        text("""
            INSERT INTO building_area_history (building_id, valid_from, heated_area_m2, reason)
            VALUES (:id, now(), :area, :reason)
            ON CONFLICT (building_id, valid_from) DO UPDATE
                SET heated_area_m2 = EXCLUDED.heated_area_m2, reason = EXCLUDED.reason
        """),
        {"id": building_id, "area": heated_area_m2, "reason": reason},
    )


def get_building(conn: Connection, building_id: str, scope: BuildingScope) -> BuildingOut | None:
    row = (
        conn.execute(
            text(f"SELECT * FROM buildings WHERE id = :id AND {_SCOPED.format(col='id')}"),
            {"id": building_id, **_scope_params(scope)},
        )
        .mappings()
        .first()
    )
    return None if row is None else BuildingOut.model_validate(dict(row))


def list_buildings(conn: Connection, scope: BuildingScope) -> list[BuildingOut]:
    rows = conn.execute(
        text(f"SELECT * FROM buildings WHERE {_SCOPED.format(col='id')} ORDER BY id"), _scope_params(scope)
    ).mappings()
    return [BuildingOut.model_validate(dict(r)) for r in rows]


def existing_building_ids(conn: Connection, building_ids: list[str]) -> set[str]:
    rows = conn.execute(
        text("SELECT id FROM buildings WHERE id = ANY(CAST(:ids AS text[]))"), {"ids": sorted(set(building_ids))}
    )
    return {r[0] for r in rows}


def area_history(conn: Connection, building_id: str) -> list[AreaHistoryEntry]:
    rows = conn.execute(
        text("""
            SELECT valid_from, heated_area_m2, reason FROM building_area_history
            WHERE building_id = :id ORDER BY valid_from
        """),
        {"id": building_id},
    ).mappings()
    return [AreaHistoryEntry.model_validate(dict(r)) for r in rows]


# --- meters ----------------------------------------------------------------------------------------------------------

_METER_FACTS = "SELECT id, key, building_id, parent_meter_id, external_id, unit, mode FROM meters"


def meter_facts(conn: Connection, meter_ids: list[str]) -> dict[str, MeterFacts]:
    rows = conn.execute(
        text(f"{_METER_FACTS} WHERE id = ANY(CAST(:ids AS text[]))"), {"ids": sorted(set(meter_ids))}
    ).mappings()
    return {r["id"]: MeterFacts(**r) for r in rows}


def meter_ids_with_external_ids(conn: Connection, external_ids: list[str]) -> dict[str, str]:
    """external id -> id of the meter holding it."""
    rows = conn.execute(
        text("SELECT external_id, id FROM meters WHERE external_id = ANY(CAST(:ext AS text[]))"),
        {"ext": sorted(set(external_ids))},
    )
    return {r[0]: r[1] for r in rows}


def sub_meter_ids(conn: Connection, meter_ids: list[str]) -> dict[str, list[str]]:
    """parent id -> ids of its sub-meters."""
    rows = conn.execute(
        text("""
            SELECT parent_meter_id, id FROM meters WHERE parent_meter_id = ANY(CAST(:ids AS text[])) ORDER BY id
        """),
        {"ids": sorted(set(meter_ids))},
    )
    out: dict[str, list[str]] = {}
    for parent, child in rows:
        out.setdefault(parent, []).append(child)
    return out


def meter_keys_with_readings(conn: Connection, meter_keys: list[int]) -> set[int]:
    # One index probe per meter: an EXISTS per key instead of counting a hypertable.
    rows = conn.execute(
        text("""
            SELECT k FROM unnest(CAST(:keys AS integer[])) AS k
            WHERE EXISTS (SELECT 1 FROM readings r WHERE r.meter_key = k)
        """),
        {"keys": sorted(set(meter_keys))},
    )
    return {r[0] for r in rows}


def upsert_meter(conn: Connection, meter_id: str, body: MeterIn) -> tuple[MeterOut, bool]:
    """Insert or replace a meter; returns it and whether it was created."""
    row = (
        conn.execute(
            text(f"""
            INSERT INTO meters (id, building_id, carrier, unit, mode, interval_minutes, external_id, kwh_per_unit,
                                parent_meter_id, max_power_kw)
            VALUES (:id, :building_id, :carrier, :unit, :mode, :interval_minutes, :external_id, :kwh_per_unit,
                    :parent_meter_id, :max_power_kw)
            ON CONFLICT (id) DO UPDATE SET
                building_id = EXCLUDED.building_id, carrier = EXCLUDED.carrier, unit = EXCLUDED.unit,
                mode = EXCLUDED.mode, interval_minutes = EXCLUDED.interval_minutes,
                external_id = EXCLUDED.external_id, kwh_per_unit = EXCLUDED.kwh_per_unit,
                parent_meter_id = EXCLUDED.parent_meter_id, max_power_kw = EXCLUDED.max_power_kw,
                updated_at = now()
            RETURNING *, {_CREATED}
        """),
            {"id": meter_id, **body.model_dump(mode="json", exclude={"id"})},
        )
        .mappings()
        .one()
    )
    return MeterOut.model_validate(dict(row)), bool(row["created"])


def get_meter(conn: Connection, meter_id: str, scope: BuildingScope) -> tuple[MeterOut, int] | None:
    """The meter and its compact key, when it exists within the scope."""
    row = (
        conn.execute(
            text(f"SELECT * FROM meters WHERE id = :id AND {_SCOPED.format(col='building_id')}"),
            {"id": meter_id, **_scope_params(scope)},
        )
        .mappings()
        .first()
    )
    return None if row is None else (MeterOut.model_validate(dict(row)), int(row["key"]))


def list_meters(conn: Connection, scope: BuildingScope, building_id: str | None) -> list[MeterOut]:
    rows = conn.execute(
        text(f"""
            SELECT * FROM meters
            WHERE {_SCOPED.format(col="building_id")} AND (CAST(:bid AS text) IS NULL OR building_id = :bid)
            ORDER BY building_id, id
        """),
        {"bid": building_id, **_scope_params(scope)},
    ).mappings()
    return [MeterOut.model_validate(dict(r)) for r in rows]


# --- meter lifecycle -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LifecycleFacts:
    """What the lifecycle rules need to know about a stored meter."""

    id: str
    key: int
    building_id: str
    carrier: str
    mode: str
    interval_minutes: int | None
    active_from: datetime | None
    active_to: datetime | None
    replaced_by: str | None


_LIFECYCLE_FACTS = (
    "SELECT id, key, building_id, carrier, mode, interval_minutes, active_from, active_to, replaced_by FROM meters"
)


def lifecycle_facts(conn: Connection, meter_ids: list[str], *, for_update: bool = False) -> dict[str, LifecycleFacts]:
    """Stored lifecycle of the given meters (locking their rows until commit when `for_update`)."""
    lock = " ORDER BY id FOR UPDATE" if for_update else ""
    rows = conn.execute(
        text(f"{_LIFECYCLE_FACTS} WHERE id = ANY(CAST(:ids AS text[])){lock}"), {"ids": sorted(set(meter_ids))}
    ).mappings()
    return {r["id"]: LifecycleFacts(**r) for r in rows}


def replaced_meters(conn: Connection, replacement_ids: list[str]) -> list[LifecycleFacts]:
    """Stored meters whose `replaced_by` is one of the given meters."""
    rows = conn.execute(
        text(f"{_LIFECYCLE_FACTS} WHERE replaced_by = ANY(CAST(:ids AS text[])) ORDER BY id"),
        {"ids": sorted(set(replacement_ids))},
    ).mappings()
    return [LifecycleFacts(**r) for r in rows]


def set_lifecycle(
    conn: Connection, meter_id: str, active_from: datetime | None, active_to: datetime | None, replaced_by: str | None
) -> None:
    """Store a meter's active span [active_from, active_to) and its replacement."""
    conn.execute(
        text("""
            UPDATE meters SET active_from = :active_from, active_to = :active_to, replaced_by = :replaced_by,
                              updated_at = now()
            WHERE id = :id
        """),
        {"id": meter_id, "active_from": active_from, "active_to": active_to, "replaced_by": replaced_by},
    )


def reading_bounds(conn: Connection, meter_key: int) -> tuple[datetime, datetime] | None:
    """(first, last) reading time of a meter, or None without readings; two index probes, not a scan."""
    row = conn.execute(
        text("""
            SELECT (SELECT ts FROM readings WHERE meter_key = :k ORDER BY ts LIMIT 1),
                   (SELECT ts FROM readings WHERE meter_key = :k ORDER BY ts DESC LIMIT 1)
        """),
        {"k": meter_key},
    ).first()
    return None if row is None or row[0] is None else (row[0], row[1])


# --- luminaires ------------------------------------------------------------------------------------------------------


def luminaire_spec_for_update(conn: Connection, luminaire_id: str) -> tuple[str, float] | None:
    """Stored (technology, rated_power_w), locking the row until commit; None when not registered."""
    row = conn.execute(
        text("SELECT technology, rated_power_w FROM luminaires WHERE id = :id FOR UPDATE"), {"id": luminaire_id}
    ).first()
    return None if row is None else (str(row[0]), float(row[1]))


def upsert_luminaire(conn: Connection, luminaire_id: str, body: LuminaireIn) -> tuple[LuminaireOut, bool]:
    """Insert or replace a luminaire; returns it and whether it was created."""
    row = (
        conn.execute(
            text(f"""
            INSERT INTO luminaires (id, building_id, technology, rated_power_w, zone)
            VALUES (:id, :building_id, :technology, :rated_power_w, :zone)
            ON CONFLICT (id) DO UPDATE SET
                building_id = EXCLUDED.building_id, technology = EXCLUDED.technology,
                rated_power_w = EXCLUDED.rated_power_w, zone = EXCLUDED.zone, updated_at = now()
            RETURNING *, {_CREATED}
        """),
            {"id": luminaire_id, **body.model_dump(mode="json", exclude={"id"})},
        )
        .mappings()
        .one()
    )
    return LuminaireOut.model_validate(dict(row)), bool(row["created"])


def append_luminaire_history(conn: Connection, luminaire_id: str, technology: str, rated_power_w: float) -> None:
    """Record technology and power valid from now (the transaction's time)."""
    conn.execute(
        text("""
            INSERT INTO luminaire_history (luminaire_id, valid_from, technology, rated_power_w)
            VALUES (:id, now(), :technology, :power)
            ON CONFLICT (luminaire_id, valid_from) DO UPDATE
                SET technology = EXCLUDED.technology, rated_power_w = EXCLUDED.rated_power_w
        """),
        {"id": luminaire_id, "technology": technology, "power": rated_power_w},
    )


def get_luminaire(conn: Connection, luminaire_id: str, scope: BuildingScope) -> tuple[LuminaireOut, int] | None:
    """The luminaire and its compact key, when it exists within the scope."""
    row = (
        conn.execute(
            text(f"SELECT * FROM luminaires WHERE id = :id AND {_SCOPED.format(col='building_id')}"),
            {"id": luminaire_id, **_scope_params(scope)},
        )
        .mappings()
        .first()
    )
    return None if row is None else (LuminaireOut.model_validate(dict(row)), int(row["key"]))


def list_luminaires(conn: Connection, scope: BuildingScope, building_id: str | None) -> list[LuminaireOut]:
    rows = conn.execute(
        text(f"""
            SELECT * FROM luminaires
            WHERE {_SCOPED.format(col="building_id")} AND (CAST(:bid AS text) IS NULL OR building_id = :bid)
            ORDER BY building_id, id
        """),
        {"bid": building_id, **_scope_params(scope)},
    ).mappings()
    return [LuminaireOut.model_validate(dict(r)) for r in rows]
