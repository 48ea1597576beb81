"""Meter lifecycle: the span [active_from, active_to) in which a meter is installed and counts, and the meter that
replaced it (docs/meter-lifecycle.md).

The rules hold for the registry as it will be once a whole batch (one PUT, or every row of a CSV file) is stored, so
an old meter and its replacement may be registered in one file in any order. A PUT or CSV row that leaves a lifecycle
field out keeps what is stored; explicit null (an empty cell under a lifecycle column) clears it. When a meter's span
changes, its rollups are marked dirty over exactly the time whose counting changes (the symmetric difference of the old
and new spans, bounded by the meter's readings), in the caller's transaction, so the rollup process recomputes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.consumption.repository import mark_dirty
from services.db import PgConn
from services.registry import repository
from services.registry.repository import LifecycleFacts
from services.registry.schemas import MeterIn, MeterMode, local_zone
from services.validation import FieldError

# Carriers that supply a building's heat: a boiler replaced by district heating or a heat pump is a replacement
# across carriers (the fuel switch that target T3 tracks); any other meter is replaced by one of its own carrier.
HEAT_SUPPLY = frozenset({"district_heating", "natural_gas", "oil", "heat_pump"})


@dataclass(frozen=True)
class Span:
    active_from: datetime | None
    active_to: datetime | None
    replaced_by: str | None


@dataclass(frozen=True)
class _Meter:
    """A meter as the rules see it: stored, or as a pending body will leave it."""

    id: str
    building_id: str
    carrier: str
    span: Span
    given: frozenset[str]  # lifecycle fields the body set (empty for stored meters)


def _local(ts: datetime) -> str:
    return ts.astimezone(local_zone()).isoformat()


def _stored(f: LifecycleFacts) -> _Meter:
    return _Meter(f.id, f.building_id, f.carrier, Span(f.active_from, f.active_to, f.replaced_by), frozenset())


def _resolve(items: Sequence[tuple[str, MeterIn]], stored: dict[str, LifecycleFacts]) -> dict[str, _Meter]:
    """The batch's meters as they will be: lifecycle fields left out keep the stored value; a replaced meter without
    active_to takes its replacement's active_from."""
    pending: dict[str, _Meter] = {}
    for mid, body in items:
        given, old = body.lifecycle_given(), stored.get(mid)
        span = Span(
            old.active_from if old is not None and "active_from" not in given else body.active_from,
            old.active_to if old is not None and "active_to" not in given else body.active_to,
            old.replaced_by if old is not None and "replaced_by" not in given else body.replaced_by,
        )
        pending[mid] = _Meter(mid, body.building_id, body.carrier.value, span, given)
    for mid, m in pending.items():
        if m.span.replaced_by is not None and m.span.active_to is None:
            new = _lookup(m.span.replaced_by, pending, stored)
            if new is not None and new.span.active_from is not None:
                pending[mid] = replace(m, span=replace(m.span, active_to=new.span.active_from))
    return pending


def _lookup(mid: str, pending: dict[str, _Meter], stored: dict[str, LifecycleFacts]) -> _Meter | None:
    if mid in pending:
        return pending[mid]
    f = stored.get(mid)
    return None if f is None else _stored(f)


def _pair_problem(old: _Meter, new: _Meter) -> tuple[str, str] | None:
    """What is wrong with `new` replacing `old`, as (kind, message); kind is building, carrier or time."""
    if new.building_id != old.building_id:
        return "building", (
            f"meter {new.id!r} belongs to building {new.building_id!r}, {old.id!r} to "
            f"{old.building_id!r}: a meter is replaced within its building"
        )
    if new.carrier != old.carrier and not (new.carrier in HEAT_SUPPLY and old.carrier in HEAT_SUPPLY):
        return "carrier", (
            f"meter {new.id!r} counts {new.carrier}, {old.id!r} {old.carrier}: a meter is replaced by "
            f"one of its carrier, or heat supply by heat supply ({', '.join(sorted(HEAT_SUPPLY))})"
        )
    start, end = new.span.active_from, old.span.active_to
    if end is None:
        return "time", (
            f"a replaced meter has been removed: give {old.id!r} an active_to, or {new.id!r} an "
            f"active_from to take it from"
        )
    if start is None:
        return "time", (f"meter {new.id!r} has no active_from (active since always): give it the time it was installed")
    if old.span.active_from is not None and start <= old.span.active_from:
        return "time", (
            f"meter {new.id!r} becomes active at {_local(start)}, not after the active_from of {old.id!r}, "
            f"{_local(old.span.active_from)}"
        )
    if start > end:
        return "time", (
            f"meter {new.id!r} becomes active at {_local(start)}, after the active_to of {old.id!r}, "
            f"{_local(end)}: the time between would be counted by neither meter"
        )
    if start < end and new.carrier == old.carrier:
        return "time", (
            f"meter {new.id!r} becomes active at {_local(start)}, before the active_to of {old.id!r}, "
            f"{_local(end)}: both would count the same {old.carrier} supply; a meter of the same carrier "
            f"takes over exactly at active_to"
        )
    return None


def check(
    conn: PgConn, items: Sequence[tuple[str, MeterIn]], *, unchecked_ids: frozenset[str] = frozenset()
) -> list[tuple[int, FieldError]]:
    """Lifecycle rules of a batch as (index in `items`, error): a non-empty span; `replaced_by` an existing meter
    (stored or in the batch) other than itself, in the same building, of a compatible carrier, taking over where the
    old one stops; and the same for stored meters that name a meter of the batch as their replacement."""
    ids = [mid for mid, _ in items]
    refs = [m.replaced_by for _, m in items if m.replaced_by]
    stored = repository.lifecycle_facts(conn, ids + refs)
    # replacements named by what is stored (a body that leaves replaced_by out keeps it)
    stored.update(
        repository.lifecycle_facts(
            conn, [f.replaced_by for f in stored.values() if f.replaced_by and f.replaced_by not in stored]
        )
    )
    predecessors = [p for p in repository.replaced_meters(conn, ids) if p.id not in dict(items)]
    stored.update({p.id: p for p in predecessors})
    pending = _resolve(items, stored)
    out: list[tuple[int, FieldError]] = []
    index = {mid: i for i, (mid, _) in enumerate(items)}
    for i, (mid, _) in enumerate(items):
        m = pending[mid]
        s = m.span
        if s.active_from is not None and s.active_to is not None and s.active_to <= s.active_from:
            # (both in the body: already refused by the body's own validation)
            name = next((n for n in ("active_to", "active_from") if n in m.given), "replaced_by")
            out.append(
                (
                    i,
                    FieldError(
                        name,
                        f"the span would be empty: active_to {_local(s.active_to)} is not "
                        f"after active_from {_local(s.active_from)}",
                    ),
                )
            )
            continue
        r = s.replaced_by
        if r is None or r in unchecked_ids:
            continue
        if r == mid:
            out.append((i, FieldError("replaced_by", "a meter cannot replace itself")))
            continue
        new = _lookup(r, pending, stored)
        if new is None:
            out.append((i, FieldError("replaced_by", f"meter {r!r} does not exist")))
            continue
        problem = _pair_problem(m, new)
        if problem is not None:
            kind, message = problem
            name = "active_to" if kind == "time" and "active_to" in m.given else "replaced_by"
            out.append((i, FieldError(name, message)))
    # A stored meter replaced by a meter of the batch: the batch must not break that pair.
    for p in predecessors:
        if p.replaced_by is None or p.replaced_by not in pending:
            continue
        problem = _pair_problem(_stored(p), pending[p.replaced_by])
        if problem is not None:
            kind, message = problem
            name = {"building": "building_id", "carrier": "carrier"}.get(kind, "active_from")
            out.append(
                (
                    index[p.replaced_by],
                    FieldError(
                        name, f"meter {p.id!r} is replaced by this meter: {message} (change both, e.g. in one CSV file)"
                    ),
                )
            )
    return out


def store(conn: PgConn, items: Sequence[tuple[str, MeterIn]]) -> list[str]:
    """Write the lifecycle of a checked batch whose meters are already upserted, and mark the rollups dirty over the
    time whose counting changed. Returns the ids of the meters whose lifecycle changed."""
    ids = [mid for mid, _ in items]
    locked = repository.lifecycle_facts(conn, ids, for_update=True)
    refs = [m.replaced_by for _, m in items if m.replaced_by] + [
        f.replaced_by for f in locked.values() if f.replaced_by
    ]
    stored = {**repository.lifecycle_facts(conn, [r for r in refs if r not in locked]), **locked}
    pending = _resolve(items, stored)
    changed: list[str] = []
    dirty: list[tuple[int, datetime, datetime]] = []
    for mid in ids:
        old, new = locked[mid], pending[mid].span
        if (old.active_from, old.active_to, old.replaced_by) == (new.active_from, new.active_to, new.replaced_by):
            continue
        repository.set_lifecycle(conn, mid, new.active_from, new.active_to, new.replaced_by)
        changed.append(mid)
        moved = changed_time((old.active_from, old.active_to), (new.active_from, new.active_to))
        if not moved:
            continue
        bounds = repository.reading_bounds(conn, old.key)
        if bounds is None:
            continue
        # An interval meter's first reading covers the interval before it.
        lead = timedelta(minutes=old.interval_minutes or 60) if old.mode == MeterMode.interval else timedelta(0)
        dirty += [(old.key, lo, hi) for lo, hi in within_readings(moved, bounds, lead)]
    if dirty:
        mark_dirty(conn, dirty)
    return changed


# An unbounded end of a span or of a time range: None (since always / until further notice).
Bound = datetime | None


def changed_time(old: tuple[Bound, Bound], new: tuple[Bound, Bound]) -> list[tuple[Bound, Bound]]:
    """The time counted under one span and not the other (symmetric difference of [from, to) spans, None unbounded),
    as at most two ranges: one between the old and new starts, one between the old and new ends. Ranges that the
    difference could split (disjoint spans) are covered whole: recomputing a little more is harmless."""
    out: list[tuple[Bound, Bound]] = []
    (f0, t0), (f1, t1) = old, new
    if f0 != f1:
        out.append(
            (None if f0 is None or f1 is None else min(f0, f1), f1 if f0 is None else f0 if f1 is None else max(f0, f1))
        )
    if t0 != t1:
        out.append(
            (t1 if t0 is None else t0 if t1 is None else min(t0, t1), None if t0 is None or t1 is None else max(t0, t1))
        )
    return out


def within_readings(
    ranges: Sequence[tuple[Bound, Bound]], bounds: tuple[datetime, datetime], lead: timedelta
) -> list[tuple[datetime, datetime]]:
    """The ranges clipped to the time the meter's readings reach (first reading - lead .. last reading): only there
    do rollups exist that the change can alter. Empty where a range lies wholly outside."""
    first, last = bounds[0] - lead, bounds[1]
    out = []
    for lo, hi in ranges:
        a = first if lo is None else max(lo, first)
        b = last if hi is None else min(hi, last)
        if a <= b:
            out.append((a, b))
    return out
