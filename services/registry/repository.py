"""All SQL of the registry. Functions take a psycopg connection (services.db.PgConn) inside a transaction the caller
owns."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from services.auth.schemas import BuildingScope
from services.db import PgConn
from services.registry.history import Fact, Plan, Row, Value, shown_valid_from
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
_SCOPED = "(CAST(%(scope_all)s AS boolean) OR {col} = ANY(CAST(%(scope_ids)s AS text[])))"


def _scope_params(scope: BuildingScope) -> dict[str, Any]:
    ids = scope.building_ids
    return {"scope_all": ids is None, "scope_ids": sorted(ids or ())}


def _dicts(conn: PgConn, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every row of a query as a dict by column name."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchall()


def _dict(conn: PgConn, sql: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """The first row of a query as a dict by column name, or None without rows."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchone()


def _returned(conn: PgConn, sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The row an INSERT ... RETURNING gave back."""
    row = _dict(conn, sql, params)
    assert row is not None, "RETURNING gives a row"
    return row


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


def upsert_building(conn: PgConn, building_id: str, body: BuildingIn) -> tuple[BuildingOut, bool]:
    """Insert or replace a building; returns it and whether it was created."""
    data = body.model_dump(mode="json", exclude={"id", "valid_from"})
    data["opening_hours"] = None if body.opening_hours is None else json.dumps(data["opening_hours"])
    row = _returned(
        conn,
        f"""
        INSERT INTO buildings (id, name, type, heated_area_m2, heating, address, bbr_building_no, energy_label,
                               opening_hours, hot_water_share, building_group)
        VALUES (%(id)s, %(name)s, %(type)s, %(heated_area_m2)s, %(heating)s, %(address)s, %(bbr_building_no)s,
                %(energy_label)s, CAST(%(opening_hours)s AS jsonb), %(hot_water_share)s, %(building_group)s)
        ON CONFLICT (id) DO UPDATE SET
            name = EXCLUDED.name, type = EXCLUDED.type, heated_area_m2 = EXCLUDED.heated_area_m2,
            heating = EXCLUDED.heating, address = EXCLUDED.address, bbr_building_no = EXCLUDED.bbr_building_no,
            energy_label = EXCLUDED.energy_label, opening_hours = EXCLUDED.opening_hours,
            hot_water_share = EXCLUDED.hot_water_share, building_group = EXCLUDED.building_group,
            updated_at = now()
        RETURNING *, {_CREATED}
        """,
        {"id": building_id, **data},
    )
    return BuildingOut.model_validate(row), bool(row["created"])


def get_building(conn: PgConn, building_id: str, scope: BuildingScope) -> BuildingOut | None:
    row = _dict(conn, f"SELECT * FROM buildings WHERE id = %(id)s AND {_SCOPED.format(col='id')}",
                {"id": building_id, **_scope_params(scope)})
    return None if row is None else BuildingOut.model_validate(row)


def list_buildings(conn: PgConn, scope: BuildingScope) -> list[BuildingOut]:
    rows = _dicts(conn, f"SELECT * FROM buildings WHERE {_SCOPED.format(col='id')} ORDER BY id", _scope_params(scope))
    return [BuildingOut.model_validate(r) for r in rows]


def open_alert_counts(conn: PgConn) -> dict[str, int]:
    """building id -> alerts open or acknowledged (buildings without any left out)."""
    rows = conn.execute("SELECT building_id, count(*) FROM alerts WHERE state <> 'resolved' GROUP BY 1")
    return {r[0]: int(r[1]) for r in rows}


def existing_building_ids(conn: PgConn, building_ids: list[str]) -> set[str]:
    rows = conn.execute("SELECT id FROM buildings WHERE id = ANY(CAST(%(ids)s AS text[]))",
                        {"ids": sorted(set(building_ids))})
    return {r[0] for r in rows}


def area_history(conn: PgConn, building_id: str) -> list[AreaHistoryEntry]:
    rows = _dicts(
        conn,
        """
        SELECT valid_from, heated_area_m2, reason FROM building_area_history
        WHERE building_id = %(id)s ORDER BY valid_from
        """,
        {"id": building_id},
    )
    return [AreaHistoryEntry.model_validate({**r, "valid_from": shown_valid_from(r["valid_from"])}) for r in rows]


# --- meters ----------------------------------------------------------------------------------------------------------

_METER_FACTS = "SELECT id, key, building_id, parent_meter_id, external_id, unit, mode FROM meters"


def meter_facts(conn: PgConn, meter_ids: list[str]) -> dict[str, MeterFacts]:
    rows = _dicts(conn, f"{_METER_FACTS} WHERE id = ANY(CAST(%(ids)s AS text[]))", {"ids": sorted(set(meter_ids))})
    return {r["id"]: MeterFacts(**r) for r in rows}


def meter_ids_with_external_ids(conn: PgConn, external_ids: list[str]) -> dict[str, str]:
    """external id -> id of the meter holding it."""
    rows = conn.execute(
        "SELECT external_id, id FROM meters WHERE external_id = ANY(CAST(%(ext)s AS text[]))",
        {"ext": sorted(set(external_ids))},
    )
    return {r[0]: r[1] for r in rows}


def sub_meter_ids(conn: PgConn, meter_ids: list[str]) -> dict[str, list[str]]:
    """parent id -> ids of its sub-meters."""
    rows = conn.execute(
        "SELECT parent_meter_id, id FROM meters WHERE parent_meter_id = ANY(CAST(%(ids)s AS text[])) ORDER BY id",
        {"ids": sorted(set(meter_ids))},
    )
    out: dict[str, list[str]] = {}
    for parent, child in rows:
        out.setdefault(parent, []).append(child)
    return out


def meter_keys_with_readings(conn: PgConn, meter_keys: list[int]) -> set[int]:
    # One index probe per meter: an EXISTS per key instead of counting a hypertable.
    rows = conn.execute(
        """
        SELECT k FROM unnest(CAST(%(keys)s AS integer[])) AS k
        WHERE EXISTS (SELECT 1 FROM readings r WHERE r.meter_key = k)
        """,
        {"keys": sorted(set(meter_keys))},
    )
    return {r[0] for r in rows}


def upsert_meter(conn: PgConn, meter_id: str, body: MeterIn) -> tuple[MeterOut, bool]:
    """Insert or replace a meter; returns it and whether it was created."""
    row = _returned(
        conn,
        f"""
        INSERT INTO meters (id, building_id, carrier, unit, mode, interval_minutes, external_id, kwh_per_unit,
                            parent_meter_id, max_power_kw)
        VALUES (%(id)s, %(building_id)s, %(carrier)s, %(unit)s, %(mode)s, %(interval_minutes)s, %(external_id)s,
                %(kwh_per_unit)s, %(parent_meter_id)s, %(max_power_kw)s)
        ON CONFLICT (id) DO UPDATE SET
            building_id = EXCLUDED.building_id, carrier = EXCLUDED.carrier, unit = EXCLUDED.unit,
            mode = EXCLUDED.mode, interval_minutes = EXCLUDED.interval_minutes,
            external_id = EXCLUDED.external_id, kwh_per_unit = EXCLUDED.kwh_per_unit,
            parent_meter_id = EXCLUDED.parent_meter_id, max_power_kw = EXCLUDED.max_power_kw,
            updated_at = now()
        RETURNING *, {_CREATED}
        """,
        {"id": meter_id, **body.model_dump(mode="json", exclude={"id", "valid_from"})},
    )
    return MeterOut.model_validate(row), bool(row["created"])


def get_meter(conn: PgConn, meter_id: str, scope: BuildingScope) -> tuple[MeterOut, int] | None:
    """The meter and its compact key, when it exists within the scope."""
    row = _dict(conn, f"SELECT * FROM meters WHERE id = %(id)s AND {_SCOPED.format(col='building_id')}",
                {"id": meter_id, **_scope_params(scope)})
    return None if row is None else (MeterOut.model_validate(row), int(row["key"]))


def list_meters(conn: PgConn, scope: BuildingScope, building_id: str | None) -> list[MeterOut]:
    rows = _dicts(
        conn,
        f"""
        SELECT * FROM meters
        WHERE {_SCOPED.format(col="building_id")} AND (CAST(%(bid)s AS text) IS NULL OR building_id = %(bid)s)
        ORDER BY building_id, id
        """,
        {"bid": building_id, **_scope_params(scope)},
    )
    return [MeterOut.model_validate(r) for r in rows]


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


def lifecycle_facts(conn: PgConn, meter_ids: list[str], *, for_update: bool = False) -> dict[str, LifecycleFacts]:
    """Stored lifecycle of the given meters (locking their rows until commit when `for_update`)."""
    lock = " ORDER BY id FOR UPDATE" if for_update else ""
    rows = _dicts(conn, f"{_LIFECYCLE_FACTS} WHERE id = ANY(CAST(%(ids)s AS text[])){lock}",
                  {"ids": sorted(set(meter_ids))})
    return {r["id"]: LifecycleFacts(**r) for r in rows}


def replaced_meters(conn: PgConn, replacement_ids: list[str]) -> list[LifecycleFacts]:
    """Stored meters whose `replaced_by` is one of the given meters."""
    rows = _dicts(conn, f"{_LIFECYCLE_FACTS} WHERE replaced_by = ANY(CAST(%(ids)s AS text[])) ORDER BY id",
                  {"ids": sorted(set(replacement_ids))})
    return [LifecycleFacts(**r) for r in rows]


def set_lifecycle(
    conn: PgConn, meter_id: str, active_from: datetime | None, active_to: datetime | None, replaced_by: str | None
) -> None:
    """Store a meter's active span [active_from, active_to) and its replacement."""
    conn.execute(
        """
        UPDATE meters SET active_from = %(active_from)s, active_to = %(active_to)s, replaced_by = %(replaced_by)s,
                          updated_at = now()
        WHERE id = %(id)s
        """,
        {"id": meter_id, "active_from": active_from, "active_to": active_to, "replaced_by": replaced_by},
    )


def reading_bounds(conn: PgConn, meter_key: int) -> tuple[datetime, datetime] | None:
    """(first, last) reading time of a meter, or None without readings; two index probes, not a scan."""
    row = conn.execute(
        """
        SELECT (SELECT ts FROM readings WHERE meter_key = %(k)s ORDER BY ts LIMIT 1),
               (SELECT ts FROM readings WHERE meter_key = %(k)s ORDER BY ts DESC LIMIT 1)
        """,
        {"k": meter_key},
    ).fetchone()
    return None if row is None or row[0] is None else (row[0], row[1])


# --- luminaires ------------------------------------------------------------------------------------------------------


def upsert_luminaire(conn: PgConn, luminaire_id: str, body: LuminaireIn) -> tuple[LuminaireOut, bool]:
    """Insert or replace a luminaire; returns it and whether it was created."""
    row = _returned(
        conn,
        f"""
        INSERT INTO luminaires (id, building_id, technology, rated_power_w, zone)
        VALUES (%(id)s, %(building_id)s, %(technology)s, %(rated_power_w)s, %(zone)s)
        ON CONFLICT (id) DO UPDATE SET
            building_id = EXCLUDED.building_id, technology = EXCLUDED.technology,
            rated_power_w = EXCLUDED.rated_power_w, zone = EXCLUDED.zone, updated_at = now()
        RETURNING *, {_CREATED}
        """,
        {"id": luminaire_id, **body.model_dump(mode="json", exclude={"id", "valid_from"})},
    )
    return LuminaireOut.model_validate(row), bool(row["created"])


def get_luminaire(conn: PgConn, luminaire_id: str, scope: BuildingScope) -> tuple[LuminaireOut, int] | None:
    """The luminaire and its compact key, when it exists within the scope."""
    row = _dict(conn, f"SELECT * FROM luminaires WHERE id = %(id)s AND {_SCOPED.format(col='building_id')}",
                {"id": luminaire_id, **_scope_params(scope)})
    return None if row is None else (LuminaireOut.model_validate(row), int(row["key"]))


def list_luminaires(conn: PgConn, scope: BuildingScope, building_id: str | None) -> list[LuminaireOut]:
    rows = _dicts(
        conn,
        f"""
        SELECT * FROM luminaires
        WHERE {_SCOPED.format(col="building_id")} AND (CAST(%(bid)s AS text) IS NULL OR building_id = %(bid)s)
        ORDER BY building_id, id
        """,
        {"bid": building_id, **_scope_params(scope)},
    )
    return [LuminaireOut.model_validate(r) for r in rows]


# --- dated history of facts (services.registry.history) --------------------------------------------------------------


def fact_rows(conn: PgConn, fact: Fact, entity_id: str) -> list[Row]:
    """A fact's history rows of one entity, oldest first."""
    cols = ", ".join(fact.columns)
    rows = conn.execute(
        f"SELECT valid_from, {cols} FROM {fact.table} WHERE {fact.key} = %(id)s ORDER BY valid_from",
        {"id": entity_id},
    ).fetchall()
    return [Row(r[0], _value(fact, r[1:])) for r in rows]


def _value(fact: Fact, raw: Sequence[Any]) -> Value:
    # Numbers come back as floats; compare like with like.
    return tuple(float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v for v in raw)


def fact_history(conn: PgConn, fact: Fact, entity_id: str) -> list[dict[str, Any]]:
    """Every row of a fact's history with when and by whom it was recorded, oldest first."""
    extra = ", reason" if fact.table == "building_area_history" else ""
    return _dicts(
        conn,
        f"""SELECT valid_from, {", ".join(fact.columns)}, recorded_at, recorded_by{extra}
            FROM {fact.table} WHERE {fact.key} = %(id)s ORDER BY valid_from""",
        {"id": entity_id},
    )


def apply_plan(conn: PgConn, fact: Fact, entity_id: str, *, valid_from: datetime, value: Value, plan: Plan,
               actor: str, reason: str | None = None) -> None:
    """Remove the superseded rows and the row at valid_from, then record (valid_from, value) if the plan says so."""
    conn.execute(
        f"""DELETE FROM {fact.table} WHERE {fact.key} = %(id)s
            AND (valid_from = %(d)s OR valid_from = ANY(CAST(%(gone)s AS timestamptz[])))""",
        {"id": entity_id, "d": valid_from, "gone": [r.valid_from for r in plan.superseded]},
    )
    if not plan.insert:
        return
    names = [fact.key, "valid_from", *fact.columns, "recorded_by"]
    params: dict[str, Any] = {"id": entity_id, "d": valid_from, "actor": actor}
    params.update({f"v{i}": v for i, v in enumerate(value)})
    values = ["%(id)s", "%(d)s", *[f"%(v{i})s" for i in range(len(value))], "%(actor)s"]
    if fact.table == "building_area_history":
        names.append("reason")
        values.append("%(reason)s")
        params["reason"] = reason
    conn.execute(f"INSERT INTO {fact.table} ({', '.join(names)}) VALUES ({', '.join(values)})", params)


def _current_sql(fact: Fact) -> str:
    """UPDATE the entity's current columns to the fact's value as of now (for an entity whose history starts in the
    future: its first value), where they differ."""
    cols = fact.columns
    sets = ", ".join(f"{c} = h.{c}" for c in cols)
    differs = " OR ".join(f"e.{c} IS DISTINCT FROM h.{c}" for c in cols)
    return f"""
        UPDATE {fact.entity_table} e SET {sets}, updated_at = now()
        FROM (SELECT DISTINCT ON ({fact.key}) {fact.key} AS entity_id, {", ".join(cols)} FROM {fact.table}
              WHERE {{where}}
              ORDER BY {fact.key}, valid_from <= now() DESC,
                       CASE WHEN valid_from <= now() THEN valid_from END DESC, valid_from) h
        WHERE e.id = h.entity_id AND ({differs})"""


def refresh_current(conn: PgConn, fact: Fact, entity_id: str) -> None:
    """Set the entity's current columns of a fact to its value as of now."""
    conn.execute(_current_sql(fact).format(where=f"{fact.key} = %(id)s"), {"id": entity_id})


def due_entities(conn: PgConn, fact: Fact) -> int:
    """How many entities' current columns of a fact differ from the value as of now (a scheduled change has come)."""
    cols = fact.columns
    differs = " OR ".join(f"e.{c} IS DISTINCT FROM h.{c}" for c in cols)
    row = conn.execute(f"""
        SELECT count(*) FROM {fact.entity_table} e JOIN (
            SELECT DISTINCT ON ({fact.key}) {fact.key} AS entity_id, {", ".join(cols)} FROM {fact.table}
            ORDER BY {fact.key}, valid_from <= now() DESC,
                     CASE WHEN valid_from <= now() THEN valid_from END DESC, valid_from) h
        ON e.id = h.entity_id WHERE {differs}""").fetchone()
    assert row is not None, "count(*) gives a row"
    return int(row[0])


def refresh_all_current(conn: PgConn, fact: Fact) -> int:
    """Bring every entity's current columns of a fact to its value as of now; returns the entities changed."""
    if not due_entities(conn, fact):
        return 0  # no UPDATE: a statement on meters or luminaires would bump the ingest registry version
    return conn.execute(_current_sql(fact).format(where="TRUE")).rowcount


def lock_entity(conn: PgConn, table: str, entity_id: str) -> dict[str, Any] | None:
    """The stored row (locked until commit), or None when it does not exist."""
    return _dict(conn, f"SELECT * FROM {table} WHERE id = %(id)s FOR UPDATE", {"id": entity_id})


def audit(conn: PgConn, actor: str, action: str, subject: str, detail: dict[str, Any]) -> None:
    """One audit_log row (who, what, when: the transaction's time)."""
    conn.execute(
        "INSERT INTO audit_log (actor, action, subject, detail) VALUES (%(actor)s, %(action)s, %(subject)s, "
        "CAST(%(detail)s AS jsonb))",
        {"actor": actor, "action": action, "subject": subject, "detail": json.dumps(detail, default=str)},
    )


def now(conn: PgConn) -> datetime:
    """The transaction's time (what now() gives every statement of it)."""
    row = conn.execute("SELECT now()").fetchone()
    assert row is not None, "SELECT gives a row"
    at: datetime = row[0]
    return at
