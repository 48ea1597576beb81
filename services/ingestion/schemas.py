"""Wire contract v1: the payloads meters, luminaires and gateways publish (shared/PRODUCT.md), parsed once, strictly.

One JSON parser (orjson) reads a message; nothing parses it a second time. It rejects what RFC 8259 does not allow
(NaN, Infinity) and numbers that overflow a double; duplicate keys in an object are refused here (orjson keeps the
last one silently). Timestamps are RFC 3339 strings with an offset (`Z` or `+01:00`; no Unix numbers, no offset-less
or `+0100` forms). Values are JSON numbers (a quoted "5" or a boolean is not a value). Unknown fields are ignored.
Every violation raises `WireError` whose text names the field: the reason stored with the dead letter.

The checks are written by hand, not with pydantic: they run once per reading on the ingest hot path, and this is
about twice as fast (shared/reference/ingest-measurements.md); they are unit-tested field by field.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple

import orjson

from services.localtime import RFC3339_RE


class WireError(ValueError):
    """A payload that breaks the wire contract; the message is the dead letter's reason."""


class Quality(StrEnum):
    MEASURED = "measured"
    ESTIMATED = "estimated"
    REVISED = "revised"
    CALCULATED = "calculated"
    MISSING = "missing"


# Plain strings, not the Quality enum: reading an enum member's .value per reading cost ~1 µs on the ingest hot path.
QUALITIES = frozenset(q.value for q in Quality)


# (ts, value, unit or None, quality): a plain tuple, built once per reading on the ingest hot path, where a NamedTuple
# cost a third more.
ReadingIn = tuple[datetime, float, str | None, str]


class TelemetryIn(NamedTuple):
    ts: datetime
    power_w: float | None = None
    energy_wh: float | None = None
    dim_pct: float | None = None
    on: bool | None = None
    burn_hours: float | None = None
    failure: bool | None = None


class WmbusTelegram(NamedTuple):
    """The part of a wmbusmeters JSON telegram we rely on; `fields` is the whole object (registers, temperatures)."""

    id: str
    timestamp: datetime
    fields: dict[str, Any]


class RawMessage(NamedTuple):
    """One MQTT message as received; `ref` is the packet id to acknowledge once its rows are committed.

    A NamedTuple: built once per message on the ingest hot path, where a frozen dataclass cost twice as much.
    """

    topic: str
    payload: bytes
    received_at: datetime
    ref: int = 0


# -- JSON ------------------------------------------------------------------------------------------------------------

def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise WireError(f"invalid JSON: duplicate key {k[:64]!r} in an object")
            seen.add(k)
    return d


def _refuse_constant(name: str) -> None:
    raise WireError(f"invalid JSON: {name} is not a JSON number")


_EXACT = json.JSONDecoder(object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant)


def parse_json(payload: bytes) -> Any:
    """The payload as Python objects, or WireError. Rejects duplicate keys, NaN/Infinity and overflowing numbers.

    Duplicate keys are found without a second parse in the common case: without backslashes in the payload, every
    ':' in it is either a key's separator or inside a string, and re-serialising the parsed object gives the same
    strings, so the two counts of ':' are equal exactly when no key was dropped. With backslashes (escapes could hide
    a ':') the standard library's parser checks every object.
    """
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise WireError(f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict | list):
        return doc
    try:
        exact = b"\\" not in payload and payload.count(b":") == orjson.dumps(doc).count(b":")
    except orjson.JSONEncodeError:  # nested deeper than orjson writes (255): no meter sends that
        raise WireError("invalid JSON: nested too deeply") from None
    if not exact:
        try:
            _EXACT.decode(payload.decode("utf-8"))
        except WireError:
            raise
        except (ValueError, RecursionError) as exc:  # orjson took it, so this is not expected; refuse it anyway
            raise WireError(f"invalid JSON: {exc}") from None
    return doc


# -- fields ----------------------------------------------------------------------------------------------------------

_MATCH = RFC3339_RE.fullmatch
TS_HINT = "an RFC 3339 timestamp with an offset, e.g. 2026-11-26T10:15:00+01:00"


def parse_ts(value: object, name: str = "ts") -> datetime:
    if type(value) is not str:
        raise WireError(f"{name}: must be {TS_HINT} (got {_kind(value)})")
    if _MATCH(value) is None:
        raise WireError(f"{name}: {value[:40]!r} is not {TS_HINT}")
    if value[10] == "t" or value[-1] == "z":  # fromisoformat takes 'T' and 'Z', not their lower case
        value = value.replace("t", "T").replace("z", "Z")
    if value[-6] in "+-" and (value[-5:-3] > "23" or value[-2:] > "59"):
        raise WireError(f"{name}: {value[:40]!r} has an offset outside ±23:59")
    try:
        ts = datetime.fromisoformat(value)  # fractions beyond microseconds are truncated
    except ValueError as exc:
        raise WireError(f"{name}: {value[:40]!r} is not a valid time ({exc})") from None
    if value[-6] in "+-" and value[-5:-3] >= "16":
        # RFC 3339 allows offsets to ±23:59; PostgreSQL holds ±15:59 as an offset: the same instant in UTC (at the
        # ends of the calendar there is none: such a time is refused by the window checks anyway)
        with contextlib.suppress(OverflowError):
            ts = ts.astimezone(UTC)
    return ts


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", str: "a string", int: "a number", float: "a number", list: "an array",
            dict: "an object"}.get(type(value), type(value).__name__)


def number(value: object, name: str) -> float:
    """A JSON number as a float (orjson gives only finite ones)."""
    t = type(value)
    if t is float:
        return value  # type: ignore[return-value]
    if t is int:
        return float(value)  # type: ignore[arg-type]  # < 2**64: exact enough and never overflows
    raise WireError(f"{name}: must be a number (got {_kind(value)})")


def _optional_number(obj: dict[str, Any], name: str, lo: float, hi: float) -> float | None:
    v = obj.get(name)
    if v is None:
        return None
    f = number(v, name)
    if not lo <= f <= hi:
        raise WireError(f"{name}: {f:g} is outside {lo:g}..{hi:g}")
    return f


def _optional_bool(obj: dict[str, Any], name: str) -> bool | None:
    v = obj.get(name)
    if v is None or type(v) is bool:
        return v
    raise WireError(f"{name}: must be true or false (got {_kind(v)})")


# -- items -----------------------------------------------------------------------------------------------------------

def reading(obj: object) -> ReadingIn:
    """One reading object of a meter's readings topic. The value's plausibility is judged after unit conversion."""
    if type(obj) is not dict:
        raise WireError(f"must be an object (got {_kind(obj)})")
    ts = obj.get("ts")
    if ts is None:
        raise WireError("ts: field required")
    value = obj.get("value")
    if value is None:
        raise WireError("value: field required")
    unit = obj.get("unit")
    if unit is not None and type(unit) is not str:
        raise WireError(f"unit: must be a string (got {_kind(unit)})")
    quality = obj.get("quality", "measured")
    if type(quality) is not str or quality not in QUALITIES:
        raise WireError(f"quality: must be one of {', '.join(sorted(QUALITIES))}")
    return parse_ts(ts), number(value, "value"), unit, quality


# Telemetry bounds: a luminaire (or a gateway's group of them) draws less than a megawatt and lives < 1e6 hours.
MAX_LUMINAIRE_W = 1e6
MAX_ENERGY_WH = 1e14
MAX_BURN_HOURS = 1e6


def telemetry(obj: object) -> TelemetryIn:
    if type(obj) is not dict:
        raise WireError(f"must be an object (got {_kind(obj)})")
    ts = obj.get("ts")
    if ts is None:
        raise WireError("ts: field required")
    return TelemetryIn(
        parse_ts(ts),
        _optional_number(obj, "power_w", 0, MAX_LUMINAIRE_W),
        _optional_number(obj, "energy_wh", 0, MAX_ENERGY_WH),
        _optional_number(obj, "dim_pct", 0, 100),
        _optional_bool(obj, "on"),
        _optional_number(obj, "burn_hours", 0, MAX_BURN_HOURS),
        _optional_bool(obj, "failure"),
    )


def wmbus(doc: object) -> WmbusTelegram:
    if type(doc) is not dict:
        raise WireError(f"wmbus: must be an object (got {_kind(doc)})")
    ident = doc.get("id")
    if ident is None:
        raise WireError("wmbus: id: field required")
    if type(ident) is not str or not 0 < len(ident) <= 64 or not ident.isascii() or not ident.isprintable() \
            or " " in ident:
        raise WireError("wmbus: id: must be 1-64 printable ASCII characters without spaces")
    ts = doc.get("timestamp")
    if ts is None:
        raise WireError("wmbus: timestamp: field required")
    return WmbusTelegram(ident, parse_ts(ts, "wmbus: timestamp"), doc)


def items(doc: object, item: Any, max_items: int) -> tuple[list[Any], list[int] | None, list[str]]:
    """The valid items of an object or array, their positions in it when some were dropped (None: all kept), and an
    error per invalid one ("item 3: ts: ..."). A batch with some bad items keeps its good ones; an empty array or one
    over the limit is refused whole."""
    if type(doc) is not list:
        return [item(doc)], None, []
    if not doc:
        raise WireError("empty batch: an array of readings must hold at least one")
    if len(doc) > max_items:
        raise WireError(f"payload: {len(doc)} readings exceed the limit of {max_items} per message")
    good: list[Any] = []
    positions: list[int] | None = None
    bad: list[str] = []
    n_bad = 0
    for i, element in enumerate(doc):
        try:
            good.append(item(element))
        except WireError as exc:
            if positions is None:
                positions = list(range(i))  # every item before this one was good
            n_bad += 1
            if n_bad <= 10:
                bad.append(f"item {i}: {exc}")
            continue
        if positions is not None:
            positions.append(i)
    if n_bad > 10:
        bad.append(f"... and {n_bad - 10} more errors")
    return good, positions, bad
