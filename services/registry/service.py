"""Registry rules: create or replace buildings, meters and luminaires, and read them within a caller's scope.

Every function takes a psycopg connection (services.db.PgConn) inside a transaction owned by the caller (API request,
CLI command), so a bulk import is all-or-nothing. After committing a meter or luminaire, the caller replays its
quarantined messages (`replay_quarantined`); after committing a new building, it regenerates the broker's credentials
(`sync_broker_credentials`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import Engine

from services.auth.schemas import BuildingScope
from services.config import Settings, get_settings
from services.consumption.repository import mark_dirty
from services.db import PgConn
from services.errors import NotFoundError, ValidationFailed
from services.localtime import parse_instant
from services.registry import lifecycle, repository
from services.registry.history import (
    BUILDING_FACTS,
    BUILDING_GROUP,
    HEATED_AREA,
    HEATING,
    LUMINAIRE_FACTS,
    LUMINAIRE_SPEC,
    METER_FACTS,
    PARENT_METER,
    SINCE_ALWAYS,
    Fact,
    Value,
    plan_change,
    shown_valid_from,
    value_as_of,
)
from services.registry.repository import MeterFacts
from services.registry.schemas import (
    AreaHistoryEntry,
    BuildingIn,
    BuildingOut,
    LuminaireIn,
    LuminaireOut,
    MeterIn,
    MeterOut,
)
from services.validation import FieldError, FieldErrors

log = logging.getLogger(__name__)

T = TypeVar("T")

REASON_REGISTERED = "registered"


@dataclass(frozen=True)
class Put(Generic[T]):
    """The stored entity after a create-or-replace, and whether it was created."""

    entity: T
    created: bool


@dataclass(frozen=True)
class Actor:
    """Who makes a registry change (an API token's name and role, a CLI user, the simulator) and through what."""

    name: str
    role: str | None = None
    via: str = "API"


SYSTEM = Actor("system", via="internal")


def audit_exchange(conn: PgConn, meter_id: str, declared: dict[str, object], *, actor: Actor) -> None:
    """Audit-log a declared meter exchange (it changes the meter's consumption like a registry change does)."""
    repository.audit(conn, actor.name, "exchange", f"meters/{meter_id}",
                     {"role": actor.role, "via": actor.via, "exchange": declared})


def _check_body_id(path_id: str, body_id: str | None) -> None:
    if body_id is not None and body_id != path_id:
        raise ValidationFailed("id", f"{body_id!r} differs from the id in the path ({path_id!r})")


def _tz(tz: ZoneInfo | None) -> ZoneInfo:
    return tz if tz is not None else ZoneInfo(get_settings().timezone)


def resolve_valid_from(given: datetime | str | None, tz: ZoneInfo) -> datetime | None:
    """A request's `valid_from` as an instant (a date: its local midnight in `tz`), or None when not given. It must
    lie after the history's "since always" (1900-01-01 UTC), or it would sort before a registration."""
    at = parse_instant(given, "valid_from", tz) if isinstance(given, str) else given
    if at is not None and at <= SINCE_ALWAYS:
        raise ValidationFailed("valid_from", f"{given} is not after 1900-01-01 (the history's 'since always'); "
                                             "leave valid_from out for a fact that held since always")
    return at


def _plain(v: Any, tz: ZoneInfo) -> Any:
    """A value as it compares and shows in the audit log: enums by value, numbers as floats, instants in local time
    with their offset."""
    if isinstance(v, Enum):
        return v.value
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, datetime):
        return v.astimezone(tz).isoformat()
    if isinstance(v, Mapping):
        return {str(k): _plain(x, tz) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x, tz) for x in v]
    return v


def _record(
    conn: PgConn,
    *,
    kind: str,
    entity_id: str,
    old: dict[str, Any] | None,
    body: BaseModel,
    facts: Sequence[Fact],
    values: Mapping[Fact, Value],
    tz: ZoneInfo,
    actor: Actor,
    area_reason: str | None = None,
) -> None:
    """After the entity row is written: record the dated facts in their histories, bring the current columns to
    the value as of now, and write the audit log row (create, or update with before/after of every field changed).

    Every field of the body is compared generically, so fields added to a PUT body later are audited too.
    """
    given = resolve_valid_from(getattr(body, "valid_from", None), tz)
    now = repository.now(conn)
    history: dict[str, Any] = {}
    rows_of = {fact: repository.fact_rows(conn, fact, entity_id) for fact in facts}
    # A back-dated request that changes some fact's value of today dates only the facts it changes: the others of
    # its body are today's values sent back (a GET body with only the heating changed) and keep their own history
    # (outside review 2: area and group were re-dated with it). One that changes none re-dates what it states.
    changed_now = {fact for fact in facts
                   if value_as_of(rows_of[fact], now, extends_back=fact.extends_back) != values[fact]}
    for fact in facts:
        # A registration without a date: building and meter facts hold since always; a luminaire exists from now.
        d = given if given is not None else (SINCE_ALWAYS if old is None and fact.extends_back else now)
        rows = rows_of[fact]
        value = values[fact]
        if given is not None and old is not None and changed_now and fact not in changed_now:
            plan = None
        else:
            plan = plan_change(rows, d, value, now, extends_back=fact.extends_back)
        if plan is not None:
            repository.apply_plan(conn, fact, entity_id, valid_from=d, value=value, plan=plan, actor=actor.name,
                                  reason=area_reason)
        # the row was written with the body's values: the current columns hold the value as of now (a future-dated
        # value is not current yet, whether this request or an earlier one scheduled it)
        repository.refresh_current(conn, fact, entity_id)
        if plan is None:
            continue
        history[fact.name] = {
            "valid_from": _shown(d, tz),
            "value_before_at_valid_from": _fact_value(fact, plan.before, tz),
            "value": _fact_value(fact, value, tz),
            "superseded": [{"valid_from": _shown(r.valid_from, tz), "value": _fact_value(fact, r.value, tz)}
                           for r in plan.superseded],
        }
    # What the request left stored (a field a body leaves out may keep its stored value, e.g. a meter's lifecycle);
    # a history fact shows the value from valid_from, which for a future date is not the stored (current) one yet.
    stored = repository.lock_entity(conn, kind, entity_id) or {}
    fields = [k for k in type(body).model_fields if k not in ("id", "valid_from")]
    new = {k: stored.get(k) for k in fields}
    for fact in facts:
        if fact.name in history:
            new.update(zip(fact.columns, values[fact], strict=True))
    detail: dict[str, Any] = {"via": actor.via, "role": actor.role,
                              "valid_from": None if given is None else given.astimezone(tz).isoformat()}
    if old is None:
        action = "create"
        detail["values"] = {k: _plain(v, tz) for k, v in new.items()}
    else:
        action = "update"
        # a history fact's columns count as changed only when its history changed
        untouched = {c for f in facts if f.name not in history for c in f.columns}
        detail["changes"] = {k: {"before": _plain(old.get(k), tz), "after": _plain(v, tz)}
                             for k, v in new.items() if k not in untouched and _plain(old.get(k), tz) != _plain(v, tz)}
        if not detail["changes"] and not history:
            return  # the same entity PUT again: nothing changed, nothing to log
    if history:
        detail["history"] = history
    repository.audit(conn, actor.name, action, f"{kind}/{entity_id}", detail)


def _shown(d: datetime, tz: ZoneInfo) -> str | None:
    v = shown_valid_from(d)
    return None if v is None else v.astimezone(tz).isoformat()


def _fact_value(fact: Fact, value: Value | None, tz: ZoneInfo) -> Any:
    if value is None:
        return None
    if len(fact.columns) == 1:
        return _plain(value[0], tz)
    return {c: _plain(v, tz) for c, v in zip(fact.columns, value, strict=True)}


# --- buildings -------------------------------------------------------------------------------------------------------


def put_building(conn: PgConn, building_id: str, body: BuildingIn, *, actor: Actor = SYSTEM,
                 tz: ZoneInfo | None = None) -> Put[BuildingOut]:
    """Create or replace a building. Heated area, heating and building group are recorded in their histories as of
    the body's `valid_from` (default now; a registration without one: since always); the change is audit-logged."""
    _check_body_id(building_id, body.id)
    tz = _tz(tz)
    old = repository.lock_entity(conn, "buildings", building_id)
    _, created = repository.upsert_building(conn, building_id, body)
    _record(conn, kind="buildings", entity_id=building_id, old=old, body=body, facts=BUILDING_FACTS,
            values={HEATED_AREA: (float(body.heated_area_m2),), HEATING: (body.heating.value,),
                    BUILDING_GROUP: (body.building_group,)},
            tz=tz, actor=actor, area_reason=REASON_REGISTERED if old is None else f"updated via {actor.via}")
    return Put(get_building(conn, building_id, BuildingScope.everything()), created)


def get_building(conn: PgConn, building_id: str, scope: BuildingScope) -> BuildingOut:
    """The building, or NotFoundError when it does not exist or lies outside the scope (ids must not leak)."""
    b = repository.get_building(conn, building_id, scope)
    if b is None:
        raise NotFoundError("building", building_id)
    return b


def list_buildings(conn: PgConn, scope: BuildingScope) -> list[BuildingOut]:
    """Every building within the scope, by id."""
    return repository.list_buildings(conn, scope)


def open_alert_counts(conn: PgConn) -> dict[str, int]:
    """building id -> alerts open or acknowledged, for the building list (buildings without any left out)."""
    return repository.open_alert_counts(conn)


def area_history(conn: PgConn, building_id: str, scope: BuildingScope, tz: ZoneInfo | None = None
                 ) -> list[AreaHistoryEntry]:
    """The heated areas a building has had, oldest first (`valid_from` in local time; null: since always)."""
    get_building(conn, building_id, scope)
    tz = _tz(tz)
    return [e.model_copy(update={"valid_from": e.valid_from and e.valid_from.astimezone(tz)})
            for e in repository.area_history(conn, building_id)]


def _history_out(conn: PgConn, fact: Fact, entity_id: str, tz: ZoneInfo) -> list[dict[str, Any]]:
    out = []
    for r in repository.fact_history(conn, fact, entity_id):
        row = {"valid_from": _shown(r["valid_from"], tz)}
        row.update({c: _plain(r[c], tz) for c in fact.columns})
        if "reason" in r:
            row["reason"] = r["reason"]
        row["recorded_at"] = r["recorded_at"].astimezone(tz).isoformat()
        row["recorded_by"] = r["recorded_by"]
        out.append(row)
    return out


def building_history(conn: PgConn, building_id: str, scope: BuildingScope, tz: ZoneInfo) -> dict[str, Any]:
    """Every dated fact of a building (area, heating, group: `valid_from` null = since always), oldest first."""
    get_building(conn, building_id, scope)
    return {"building_id": building_id,
            **{f.name: _history_out(conn, f, building_id, tz) for f in BUILDING_FACTS}}


def meter_history(conn: PgConn, meter_id: str, scope: BuildingScope, tz: ZoneInfo) -> dict[str, Any]:
    """A meter's parent over time (`parent_meter_id` null: a main meter that counts in totals)."""
    get_meter(conn, meter_id, scope)
    return {"meter_id": meter_id, "parent_meter_id": _history_out(conn, PARENT_METER, meter_id, tz)}


def luminaire_history(conn: PgConn, luminaire_id: str, scope: BuildingScope, tz: ZoneInfo) -> dict[str, Any]:
    """A luminaire's technology and rated W over time; it counts in LED shares from its first row."""
    get_luminaire(conn, luminaire_id, scope)
    return {"luminaire_id": luminaire_id, "technology": _history_out(conn, LUMINAIRE_SPEC, luminaire_id, tz)}


def apply_due_changes(conn: PgConn) -> int:
    """Bring every current column to its value as of now, so that a future-dated change becomes current when its
    date comes (run periodically by the alert evaluator). Returns the entities changed."""
    return sum(repository.refresh_all_current(conn, f) for f in (*BUILDING_FACTS, *METER_FACTS, *LUMINAIRE_FACTS))


# --- meters ----------------------------------------------------------------------------------------------------------


class _MeterWorld:
    """Stored meters overlaid with a batch of pending ones: the registry as it will be after the batch commits."""

    def __init__(self, conn: PgConn, pending: dict[str, MeterIn]) -> None:
        self.conn = conn
        self.pending = pending
        self.stored: dict[str, MeterFacts | None] = {}

    def load(self, ids: Sequence[str]) -> None:
        want = [i for i in ids if i not in self.stored]
        if want:
            found = repository.meter_facts(self.conn, want)
            for i in want:
                self.stored[i] = found.get(i)

    def building_and_parent(self, meter_id: str) -> tuple[str, str | None] | None:
        if meter_id in self.pending:
            m = self.pending[meter_id]
            return m.building_id, m.parent_meter_id
        self.load([meter_id])
        s = self.stored[meter_id]
        return None if s is None else (s.building_id, s.parent_meter_id)

    def makes_cycle(self, meter_id: str, parent_id: str) -> bool:
        seen: set[str] = set()
        cur: str | None = parent_id
        while cur is not None and cur not in seen:
            if cur == meter_id:
                return True
            seen.add(cur)
            bp = self.building_and_parent(cur)
            cur = None if bp is None else bp[1]
        return False


@dataclass
class _BatchFacts:
    """What the meter rules need from the database, fetched once for a whole batch."""

    world: _MeterWorld
    buildings: set[str]
    ext_owner_stored: dict[str, str]
    stored_children: dict[str, list[str]]
    with_readings: set[str]
    unchecked_ids: frozenset[str]
    ext_owner_batch: dict[str, str]


def check_meters(
    conn: PgConn, items: Sequence[tuple[str, MeterIn]], *, unchecked_ids: frozenset[str] = frozenset()
) -> list[tuple[int, FieldError]]:
    """Rules that need the database or the other meters of a batch, as (index in `items`, error).

    The rules hold for the registry as it will be once the whole batch is stored, so a sub-meter may come before
    its parent in a file. `unchecked_ids` are meters of the same batch that failed their own validation: references
    to them are not reported again as unknown.
    """
    world = _MeterWorld(conn, dict(items))
    world.load([mid for mid, _ in items] + [m.parent_meter_id for _, m in items if m.parent_meter_id])
    stored_keys = {s.key: mid for mid, s in world.stored.items() if s is not None and mid in world.pending}
    facts = _BatchFacts(
        world=world,
        buildings=repository.existing_building_ids(conn, [m.building_id for _, m in items]),
        ext_owner_stored=repository.meter_ids_with_external_ids(
            conn, [m.external_id for _, m in items if m.external_id]
        ),
        stored_children=repository.sub_meter_ids(conn, [mid for mid, _ in items]),
        with_readings={stored_keys[k] for k in repository.meter_keys_with_readings(conn, list(stored_keys))},
        unchecked_ids=unchecked_ids,
        ext_owner_batch={},
    )
    errors = [(i, e) for i, (mid, m) in enumerate(items) for e in _meter_errors(mid, m, facts)]
    return errors + lifecycle.check(conn, items, unchecked_ids=unchecked_ids)


def _meter_errors(mid: str, m: MeterIn, f: _BatchFacts) -> list[FieldError]:
    out: list[FieldError] = []
    if m.building_id not in f.buildings:
        out.append(FieldError("building_id", f"building {m.building_id!r} does not exist"))

    p = m.parent_meter_id
    if p is not None and p not in f.unchecked_ids:
        parent = f.world.building_and_parent(p)
        if p == mid:
            out.append(FieldError("parent_meter_id", "a meter cannot be its own parent"))
        elif parent is None:
            out.append(FieldError("parent_meter_id", f"meter {p!r} does not exist"))
        elif parent[0] != m.building_id:
            out.append(
                FieldError("parent_meter_id", f"meter {p!r} belongs to building {parent[0]!r}, not {m.building_id!r}")
            )
        elif f.world.makes_cycle(mid, p):
            out.append(FieldError("parent_meter_id", f"meter {p!r} is itself (indirectly) a sub-meter of {mid!r}"))

    if m.external_id is not None:
        other = f.ext_owner_batch.setdefault(m.external_id, mid)
        owner = f.ext_owner_stored.get(m.external_id)
        if other != mid:
            out.append(FieldError("external_id", f"{m.external_id!r} is also given to meter {other!r}"))
        elif owner is not None and owner != mid and owner not in f.world.pending:
            out.append(FieldError("external_id", f"{m.external_id!r} is already the external id of meter {owner!r}"))

    # Sub-meters split their parent's use, so they must stay in the parent's building.
    strays = [
        c
        for c in f.stored_children.get(mid, [])
        if c not in f.world.pending and (bp := f.world.building_and_parent(c)) is not None and bp[0] != m.building_id
    ]
    if strays:
        out.append(
            FieldError(
                "building_id", f"sub-meters {', '.join(strays)} would be left in another building; move them too"
            )
        )

    stored = f.world.stored.get(mid)
    if stored is not None and mid in f.with_readings:
        # Stored readings are in the registered unit and mode; changing either would reinterpret history.
        if stored.unit != m.unit.value:
            out.append(
                FieldError("unit", f"the meter has readings in {stored.unit}; register a new meter for another unit")
            )
        if stored.mode != m.mode.value:
            out.append(
                FieldError("mode", f"the meter has {stored.mode} readings; register a new meter for another mode")
            )
    return out


def parents_first(items: Sequence[tuple[str, MeterIn]]) -> list[tuple[str, MeterIn]]:
    """The batch ordered so that a parent in the batch is stored before its sub-meters (the foreign key needs it)."""
    by_id = dict(items)
    done: set[str] = set()
    out: list[tuple[str, MeterIn]] = []

    def visit(mid: str, depth: int) -> None:
        if mid in done or depth > len(by_id):  # depth bound: cycles were rejected by check_meters
            return
        parent = by_id[mid].parent_meter_id
        if parent in by_id:
            visit(parent, depth + 1)
        done.add(mid)
        out.append((mid, by_id[mid]))

    for mid, _ in items:
        visit(mid, 0)
    return out


def put_meter(conn: PgConn, meter_id: str, body: MeterIn, *, actor: Actor = SYSTEM,
              tz: ZoneInfo | None = None) -> Put[MeterOut]:
    """Create or replace a meter after checking its building, parent, external id and stored readings."""
    _check_body_id(meter_id, body.id)
    tz = _tz(tz)
    errors = check_meters(conn, [(meter_id, body)])
    if errors:
        raise FieldErrors([e for _, e in errors])
    return store_meters(conn, [(meter_id, body)], actor=actor, tz=tz)[0]


def store_meters(conn: PgConn, items: Sequence[tuple[str, MeterIn]], *, actor: Actor, tz: ZoneInfo
                 ) -> list[Put[MeterOut]]:
    """Write a checked batch of meters (`check_meters`; parents first): the rows, their lifecycle, their parent
    history as of `valid_from`, and one audit-log row each once everything of the batch is written."""
    old = {}
    for mid, body in items:
        old[mid] = repository.lock_entity(conn, "meters", mid)
        _check_undated_changes(old[mid], body)
    for mid, body in items:
        repository.upsert_meter(conn, mid, body)
    lifecycle.store(conn, items)
    _recount_changed_meters(conn, [(o, body) for mid, body in items if (o := old[mid]) is not None])
    out = []
    for mid, body in items:
        _record(conn, kind="meters", entity_id=mid, old=old[mid], body=body, facts=METER_FACTS,
                values={PARENT_METER: (body.parent_meter_id,)}, tz=tz, actor=actor)
        out.append(Put(get_meter(conn, mid, BuildingScope.everything()), old[mid] is None))
    return out


# What the rollups compute a meter's kWh and coverage from: a change of any makes its stored rollups stale.
ROLLUP_FACTS = ("carrier", "unit", "mode", "interval_minutes", "kwh_per_unit", "max_power_kw")


def _check_undated_changes(old: dict[str, Any] | None, body: MeterIn) -> None:
    """A meter's conversion factor, unit, mode, interval and maximum are not dated: a change applies to all its
    readings. Sent with `valid_from` it would be audit-logged with a date it does not have: refused, naming both."""
    if old is None or body.valid_from is None:
        return
    new = body.model_dump(mode="json")
    utc = ZoneInfo("UTC")
    changed = [f for f in ROLLUP_FACTS if _plain(old.get(f), utc) != _plain(new.get(f), utc)]
    if changed:
        raise FieldErrors([FieldError("valid_from", f"{', '.join(changed)} is not dated: a change applies to every "
                                                    "reading of the meter; send it without valid_from (a new meter "
                                                    "with its own active_from is what changes from a date)")]
                          + [FieldError(f, "not dated: sent with valid_from") for f in changed])


def _recount_changed_meters(conn: PgConn, pairs: Sequence[tuple[dict[str, Any], MeterIn]]) -> None:
    """Mark the rollups of meters whose conversion factor, unit, mode, interval or maximum changed dirty over all
    their readings, so the rollup process recomputes them (and answers say `pending` until it has)."""
    dirty: list[tuple[int, datetime, datetime]] = []
    for old, body in pairs:
        new = body.model_dump(mode="json")
        if all(_plain(old.get(f), ZoneInfo("UTC")) == _plain(new.get(f), ZoneInfo("UTC")) for f in ROLLUP_FACTS):
            continue
        bounds = repository.reading_bounds(conn, old["key"])
        if bounds is not None:
            # an interval meter's first reading covers the interval before it, under the old or the new length
            lead = timedelta(minutes=max(old.get("interval_minutes") or 60, body.interval_minutes or 60))
            dirty.append((old["key"], bounds[0] - lead, bounds[1]))
    if dirty:
        mark_dirty(conn, dirty)


def get_meter(conn: PgConn, meter_id: str, scope: BuildingScope) -> MeterOut:
    """The meter, or NotFoundError when it does not exist or its building lies outside the scope."""
    return get_meter_and_key(conn, meter_id, scope)[0]


def get_meter_and_key(conn: PgConn, meter_id: str, scope: BuildingScope) -> tuple[MeterOut, int]:
    """The meter and its compact key (the readings' `meter_key`), scoped like `get_meter`."""
    found = repository.get_meter(conn, meter_id, scope)
    if found is None:
        raise NotFoundError("meter", meter_id)
    return found


def list_meters(conn: PgConn, scope: BuildingScope, building_id: str | None = None) -> list[MeterOut]:
    """Meters within the scope, optionally of one building (NotFoundError when that building is not visible)."""
    if building_id is not None:
        get_building(conn, building_id, scope)
    return repository.list_meters(conn, scope, building_id)


# --- luminaires ------------------------------------------------------------------------------------------------------


def put_luminaire(conn: PgConn, luminaire_id: str, body: LuminaireIn, *, actor: Actor = SYSTEM,
                  tz: ZoneInfo | None = None) -> Put[LuminaireOut]:
    """Create or replace a luminaire; technology and rated power are recorded in its history as of `valid_from`
    (default now: a luminaire counts in LED shares from its first history row); audit-logged."""
    _check_body_id(luminaire_id, body.id)
    tz = _tz(tz)
    if not repository.existing_building_ids(conn, [body.building_id]):
        raise ValidationFailed("building_id", f"building {body.building_id!r} does not exist")
    old = repository.lock_entity(conn, "luminaires", luminaire_id)
    _, created = repository.upsert_luminaire(conn, luminaire_id, body)
    _record(conn, kind="luminaires", entity_id=luminaire_id, old=old, body=body, facts=LUMINAIRE_FACTS,
            values={LUMINAIRE_SPEC: (body.technology.value, float(body.rated_power_w))}, tz=tz, actor=actor)
    return Put(get_luminaire(conn, luminaire_id, BuildingScope.everything()), created)


def get_luminaire(conn: PgConn, luminaire_id: str, scope: BuildingScope) -> LuminaireOut:
    """The luminaire, or NotFoundError when it does not exist or its building lies outside the scope."""
    return get_luminaire_and_key(conn, luminaire_id, scope)[0]


def get_luminaire_and_key(conn: PgConn, luminaire_id: str, scope: BuildingScope) -> tuple[LuminaireOut, int]:
    """The luminaire and its compact key (the telemetry's `luminaire_key`), scoped like `get_luminaire`."""
    found = repository.get_luminaire(conn, luminaire_id, scope)
    if found is None:
        raise NotFoundError("luminaire", luminaire_id)
    return found


def list_luminaires(conn: PgConn, scope: BuildingScope, building_id: str | None = None) -> list[LuminaireOut]:
    """Luminaires within the scope, optionally of one building (NotFoundError when that building is not visible)."""
    if building_id is not None:
        get_building(conn, building_id, scope)
    return repository.list_luminaires(conn, scope, building_id)


# --- after commit ----------------------------------------------------------------------------------------------------


def replay_quarantined(engine: Engine, kind: str, device_id: str) -> int | None:
    """Store the quarantined messages of a device that has just been registered (kind "meter" or "luminaire").

    Runs after the registration committed, in the ingest pipeline's own transactions. Returns how many messages were
    replayed, or None while the ingest pipeline offers no replay.
    """
    try:
        from services.ingestion.service import replay_quarantine
    except ImportError:
        return None
    try:
        return int(replay_quarantine(engine, kind, device_id))
    except Exception:
        # The registration is committed; its quarantined messages wait for the ingest worker's sweep instead of
        # failing the request (each replayed message is handled behind the ingest failure boundary anyway).
        log.exception("replaying quarantined messages failed; the ingest worker's sweep will replay them",
                      extra={"kind": kind, "device_id": device_id})
        return None


def after_commit(
    engine: Engine,
    settings: Settings,
    *,
    buildings_created: bool = False,
    meter_ids: Sequence[str] = (),
    luminaire_ids: Sequence[str] = (),
) -> int | None:
    """What follows a committed registry change: broker credentials for new buildings, then the replay of quarantined
    messages of the (re)registered devices. Returns the number replayed (None while replay is unavailable)."""
    if buildings_created:
        try:
            sync_broker_credentials(engine, settings)
        except OSError:
            # The building is stored; only its broker login lags. Not worth failing the caller's request over.
            log.exception("could not write the broker files; run `energiblik broker-sync`")
    replayed: int | None = None
    for kind, ids in (("meter", meter_ids), ("luminaire", luminaire_ids)):
        for device_id in ids:
            n = replay_quarantined(engine, kind, device_id)
            if n is not None:
                replayed = (replayed or 0) + n
    return replayed


def sync_broker_credentials(engine: Engine, settings: Settings) -> int | None:
    """Regenerate the broker's password and ACL files so new buildings can publish; None when not configured."""
    from services.broker.service import sync_from_settings

    n = sync_from_settings(engine, settings)
    if n is not None:
        log.info("broker credentials regenerated for %d buildings", n)
    return n
