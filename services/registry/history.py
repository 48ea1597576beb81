"""Dated registry facts: the rules for recording a change with a `valid_from`, and for reading a fact as of a date.

A fact is one number-moving attribute of an entity that is kept as history: a building's heated area, heating and
building group, a meter's parent, a luminaire's technology with its rated power. Each history row says "from
valid_from on, the value is v". Building and meter facts hold before their first row too (the first value the
registry learnt is the best known for earlier dates; a registration without a date is stored at SINCE_ALWAYS); a
luminaire does not exist before its first row (its installation, as far as the LED share is concerned).

A request that changes a fact with valid_from D states its value from D on:
  - the fact counts as changed when its value as of D differs from the request's, or a change recorded after D and
    not after now differs from it;
  - then the changes recorded after D up to now are superseded (removed, and named in the audit log), and a row
    (D, value) is recorded unless the value just before D is already the same;
  - changes scheduled after now (future-dated) stay: a later plan is not undone by an unrelated update.
So after a request dated today or earlier, the value as of now is the request's value; a future-dated one does not
change the current value until its date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Stored valid_from of "since always" rows; shown as `valid_from: null`.
SINCE_ALWAYS = datetime(1900, 1, 1, tzinfo=UTC)

Value = tuple[Any, ...]


@dataclass(frozen=True)
class Fact:
    """Where a fact's history lives and how it reads."""

    name: str  # as in the audit log and the history endpoints
    table: str
    key: str  # the history table's entity column
    columns: tuple[str, ...]  # value columns, named as on the entity table
    entity_table: str
    extends_back: bool  # the first row's value also holds before it


HEATED_AREA = Fact("heated_area_m2", "building_area_history", "building_id", ("heated_area_m2",), "buildings", True)
HEATING = Fact("heating", "building_heating_history", "building_id", ("heating",), "buildings", True)
BUILDING_GROUP = Fact("building_group", "building_group_history", "building_id", ("building_group",), "buildings",
                      True)
PARENT_METER = Fact("parent_meter_id", "meter_parent_history", "meter_id", ("parent_meter_id",), "meters", True)
LUMINAIRE_SPEC = Fact("technology", "luminaire_history", "luminaire_id", ("technology", "rated_power_w"),
                      "luminaires", False)

BUILDING_FACTS = (HEATED_AREA, HEATING, BUILDING_GROUP)
METER_FACTS = (PARENT_METER,)
LUMINAIRE_FACTS = (LUMINAIRE_SPEC,)
ALL_FACTS = (*BUILDING_FACTS, *METER_FACTS, *LUMINAIRE_FACTS)


@dataclass(frozen=True)
class Row:
    valid_from: datetime
    value: Value


def value_as_of(rows: Sequence[Row], at: datetime, *, extends_back: bool) -> Value | None:
    """The value holding at instant `at` (rows sorted by valid_from); None when the entity did not exist yet."""
    current: Value | None = None
    for r in rows:
        if r.valid_from <= at:
            current = r.value
        else:
            break
    if current is None and extends_back and rows:
        return rows[0].value
    return current


@dataclass(frozen=True)
class Plan:
    """What recording (valid_from, value) does to a fact's history."""

    before: Value | None  # the value as of valid_from before the change
    superseded: list[Row]  # rows removed: recorded after valid_from, not after now
    insert: bool  # whether (valid_from, value) is recorded (False: the value before valid_from is already it)
    replaces_row_at_valid_from: bool


def plan_change(rows: Sequence[Row], valid_from: datetime, value: Value, now: datetime, *,
                extends_back: bool) -> Plan | None:
    """The change a request makes to a fact's history, or None when it changes nothing (module docstring)."""
    rows = sorted(rows, key=lambda r: r.valid_from)
    before = value_as_of(rows, valid_from, extends_back=extends_back)
    superseded = [r for r in rows if valid_from < r.valid_from <= now]
    if before == value and all(r.value == value for r in superseded):
        return None
    at_d = [r for r in rows if r.valid_from == valid_from]
    rest = [r for r in rows if r.valid_from < valid_from]
    # The value just before valid_from; a fact that extends back has none when valid_from precedes every row that
    # stays (its new row then becomes the first, and holds before it in turn).
    prior = rest[-1].value if rest else None
    return Plan(before=before, superseded=superseded, insert=prior != value, replaces_row_at_valid_from=bool(at_d))


def shown_valid_from(valid_from: datetime) -> datetime | None:
    """None for "since always" rows, else the instant."""
    return None if valid_from <= SINCE_ALWAYS else valid_from


def values_during(rows: Sequence[Row], start: datetime, end: datetime, *, extends_back: bool) -> list[Value]:
    """Every value a fact had at some instant of [start, end), in order (rows sorted by valid_from)."""
    out: list[Value] = []
    first = value_as_of(rows, start, extends_back=extends_back)
    if first is not None:
        out.append(first)
    out += [r.value for r in rows if start < r.valid_from < end and (not out or out[-1] != r.value)]
    return out


def periods(rows: Sequence[Row]) -> list[tuple[datetime | None, datetime | None, Value]]:
    """A fact's history as (from, to, value) periods, half-open; from None = since always, to None = still."""
    out: list[tuple[datetime | None, datetime | None, Value]] = []
    for i, r in enumerate(rows):
        nxt = rows[i + 1].valid_from if i + 1 < len(rows) else None
        out.append((shown_valid_from(r.valid_from), nxt, r.value))
    return out
