"""Registry rules: create or replace buildings, meters and luminaires, and read them within a caller's scope.

Every function takes a Connection inside a transaction owned by the caller (API request, CLI command), so a bulk import
is all-or-nothing. After committing a meter or luminaire, the caller replays its quarantined messages
(`replay_quarantined`); after committing a new building, it regenerates the broker's credentials
(`sync_broker_credentials`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Connection, Engine

from services.auth.schemas import BuildingScope
from services.config import Settings
from services.errors import NotFoundError, ValidationFailed
from services.registry import lifecycle, repository
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


def _check_body_id(path_id: str, body_id: str | None) -> None:
    if body_id is not None and body_id != path_id:
        raise ValidationFailed("id", f"{body_id!r} differs from the id in the path ({path_id!r})")


# --- buildings -------------------------------------------------------------------------------------------------------


def put_building(conn: Connection, building_id: str, body: BuildingIn, *, via: str = "API") -> Put[BuildingOut]:
    """Create or replace a building; a new or changed heated area is appended to the area history."""
    _check_body_id(building_id, body.id)
    old_area = repository.building_area_for_update(conn, building_id)
    building, created = repository.upsert_building(conn, building_id, body)
    if old_area is None:
        repository.append_area_history(conn, building_id, body.heated_area_m2, REASON_REGISTERED)
    elif old_area != body.heated_area_m2:
        repository.append_area_history(conn, building_id, body.heated_area_m2, f"updated via {via}")
    return Put(building, created)


def get_building(conn: Connection, building_id: str, scope: BuildingScope) -> BuildingOut:
    """The building, or NotFoundError when it does not exist or lies outside the scope (ids must not leak)."""
    b = repository.get_building(conn, building_id, scope)
    if b is None:
        raise NotFoundError("building", building_id)
    return b


def list_buildings(conn: Connection, scope: BuildingScope) -> list[BuildingOut]:
    """Every building within the scope, by id."""
    return repository.list_buildings(conn, scope)


def area_history(conn: Connection, building_id: str, scope: BuildingScope) -> list[AreaHistoryEntry]:
    """The heated areas a building has had, oldest first."""
    get_building(conn, building_id, scope)
    return repository.area_history(conn, building_id)


# --- meters ----------------------------------------------------------------------------------------------------------


class _MeterWorld:
    """Stored meters overlaid with a batch of pending ones: the registry as it will be after the batch commits."""

    def __init__(self, conn: Connection, pending: dict[str, MeterIn]) -> None:
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
    conn: Connection, items: Sequence[tuple[str, MeterIn]], *, unchecked_ids: frozenset[str] = frozenset()
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


def put_meter(conn: Connection, meter_id: str, body: MeterIn) -> Put[MeterOut]:
    """Create or replace a meter after checking its building, parent, external id and stored readings."""
    _check_body_id(meter_id, body.id)
    errors = check_meters(conn, [(meter_id, body)])
    if errors:
        raise FieldErrors([e for _, e in errors])
    meter, created = repository.upsert_meter(conn, meter_id, body)
    if lifecycle.store(conn, [(meter_id, body)]):
        meter = get_meter(conn, meter_id, BuildingScope.everything())
    return Put(meter, created)


def get_meter(conn: Connection, meter_id: str, scope: BuildingScope) -> MeterOut:
    """The meter, or NotFoundError when it does not exist or its building lies outside the scope."""
    return get_meter_and_key(conn, meter_id, scope)[0]


def get_meter_and_key(conn: Connection, meter_id: str, scope: BuildingScope) -> tuple[MeterOut, int]:
    """The meter and its compact key (the readings' `meter_key`), scoped like `get_meter`."""
    found = repository.get_meter(conn, meter_id, scope)
    if found is None:
        raise NotFoundError("meter", meter_id)
    return found


def list_meters(conn: Connection, scope: BuildingScope, building_id: str | None = None) -> list[MeterOut]:
    """Meters within the scope, optionally of one building (NotFoundError when that building is not visible)."""
    if building_id is not None:
        get_building(conn, building_id, scope)
    return repository.list_meters(conn, scope, building_id)


# --- luminaires ------------------------------------------------------------------------------------------------------


def put_luminaire(conn: Connection, luminaire_id: str, body: LuminaireIn) -> Put[LuminaireOut]:
    """Create or replace a luminaire; a new technology or rated power is appended to the luminaire history."""
    _check_body_id(luminaire_id, body.id)
    if not repository.existing_building_ids(conn, [body.building_id]):
        raise ValidationFailed("building_id", f"building {body.building_id!r} does not exist")
    old = repository.luminaire_spec_for_update(conn, luminaire_id)
    luminaire, created = repository.upsert_luminaire(conn, luminaire_id, body)
    if old != (body.technology.value, body.rated_power_w):
        repository.append_luminaire_history(conn, luminaire_id, body.technology.value, body.rated_power_w)
    return Put(luminaire, created)


def get_luminaire(conn: Connection, luminaire_id: str, scope: BuildingScope) -> LuminaireOut:
    """The luminaire, or NotFoundError when it does not exist or its building lies outside the scope."""
    return get_luminaire_and_key(conn, luminaire_id, scope)[0]


def get_luminaire_and_key(conn: Connection, luminaire_id: str, scope: BuildingScope) -> tuple[LuminaireOut, int]:
    """The luminaire and its compact key (the telemetry's `luminaire_key`), scoped like `get_luminaire`."""
    found = repository.get_luminaire(conn, luminaire_id, scope)
    if found is None:
        raise NotFoundError("luminaire", luminaire_id)
    return found


def list_luminaires(conn: Connection, scope: BuildingScope, building_id: str | None = None) -> list[LuminaireOut]:
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
