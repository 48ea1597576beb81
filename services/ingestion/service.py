"""From raw MQTT messages to stored rows: topic routing, validation, registry lookup, dead letters and quarantine.

`IngestPipeline.process` handles one batch inside the caller's transaction: the ingest worker commits once per batch
and acknowledges the batch's messages only after that commit. A payload that breaks the wire contract is a permanent
error: it becomes a dead-letter row (topic, raw bytes, reason) in the same transaction. A message for a device that is
not registered is kept whole in quarantine and replayed once the device is registered.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import psycopg
from sqlalchemy import Engine

from services.config import Settings
from services.consumption import repository as consumption_repo
from services.db import PgConn, connection_lost, pg
from services.ingestion import repository as repo
from services.ingestion import schemas as wire
from services.ingestion.schemas import RawMessage
from services.readings import repository as readings_repo
from services.readings.units import Unit, UnitMismatch, base_factor, conversion_factor, is_energy, parse_unit

log = logging.getLogger(__name__)

_VALID_ID = re.compile(r"[A-Za-z0-9._-]{1,64}").fullmatch


def _valid_id(s: str) -> bool:
    return _VALID_ID(s) is not None


@dataclass(frozen=True, slots=True)
class MeterInfo:
    id: str
    key: int
    building_id: str
    unit: Unit
    external_id: str | None
    base_factor: float  # the register's unit in kWh (energy) or m3 (volume): plausibility bounds are in those
    interval: bool = False  # an interval meter: each value is what was used in the interval, never negative


@dataclass(frozen=True, slots=True)
class LuminaireInfo:
    id: str
    key: int
    building_id: str


class RegistryCache:
    """Meters and luminaires as the worker knows them; reloaded when the registry's version moves."""

    def __init__(self) -> None:
        self.version: int | None = None
        self.meters: dict[str, MeterInfo] = {}
        self.by_external: dict[str, MeterInfo] = {}
        self.luminaires: dict[str, LuminaireInfo] = {}

    def _add_meters(self, rows: Sequence[tuple[str, int, str, str, str | None, str]]) -> None:
        for mid, key, bid, unit, ext, mode in rows:
            info = MeterInfo(mid, key, bid, Unit(unit), ext, base_factor(Unit(unit)), mode == "interval")
            self.meters[mid] = info
            if ext:
                self.by_external[ext] = info

    def load_all(self, conn: PgConn) -> None:
        self.version = repo.registry_version(conn)
        self.meters.clear()
        self.by_external.clear()
        self.luminaires.clear()
        self._add_meters(repo.load_meters(conn))
        for lid, key, bid in repo.load_luminaires(conn):
            self.luminaires[lid] = LuminaireInfo(lid, key, bid)

    def sync(self, conn: PgConn) -> None:
        """Drop everything cached when meters or luminaires changed since the last look."""
        v = repo.registry_version(conn)
        if v != self.version:
            self.meters.clear()
            self.by_external.clear()
            self.luminaires.clear()
            self.version = v

    def resolve(self, conn: PgConn, meter_ids: set[str], external_ids: set[str], luminaire_ids: set[str]) -> None:
        """Look up, in one query per kind, the devices this batch names that are not cached yet."""
        m = [i for i in meter_ids if i not in self.meters]
        e = [i for i in external_ids if i not in self.by_external]
        if m or e:
            self._add_meters(repo.load_meters(conn, m, e))
        lum = [i for i in luminaire_ids if i not in self.luminaires]
        if lum:
            for lid, key, bid in repo.load_luminaires(conn, lum):
                self.luminaires[lid] = LuminaireInfo(lid, key, bid)


OUTCOMES = ("stored", "duplicate", "revised", "dead_lettered", "quarantined")


@dataclass
class BatchStats:
    """What happened to a batch. `outcomes` gives every message exactly one end: stored (some reading or sample of it
    was new), revised (none new, some changed a stored value), duplicate (all already stored), dead_lettered (the
    message, or some items of it, went to the dead-letter store) or quarantined (unknown device)."""

    messages: int = 0
    readings_received: int = 0
    readings_stored: int = 0
    duplicates: int = 0
    revisions: int = 0
    telemetry_received: int = 0
    telemetry_stored: int = 0
    dead_lettered: int = 0
    quarantined: int = 0
    internal_errors: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)

    def add(self, other: BatchStats) -> None:
        for name in ("messages", "readings_received", "readings_stored", "duplicates", "revisions",
                     "telemetry_received", "telemetry_stored", "dead_lettered", "quarantined", "internal_errors"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for mine, theirs in ((self.reasons, other.reasons), (self.outcomes, other.outcomes)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v

    def outcome(self, name: str) -> None:
        self.outcomes[name] = self.outcomes.get(name, 0) + 1


@dataclass(slots=True)
class _Decoded:
    msg: RawMessage
    kind: str  # meter | luminaire | wmbus
    building_id: str
    device_id: str
    items: list[Any]
    errors: list[str]
    positions: list[int] | None  # each item's position in the message, when some were dropped (None: all kept)
    array: bool = False  # the payload was an array: errors name the item

    def where(self, i: int) -> str:
        """How an error names item i: "item 3: " in an array, nothing for a single object."""
        if not self.array:
            return ""
        return f"item {i if self.positions is None else self.positions[i]}: "


@dataclass(slots=True)
class _Built:
    """One message's rows, complete before any of them is handed to the database."""

    rows: list[readings_repo.ReadingRow] = field(default_factory=list)
    telemetry: list[readings_repo.TelemetryRow] = field(default_factory=list)
    heat: list[readings_repo.HeatRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    meter_key: int | None = None
    quarantine: bool = False


@dataclass(slots=True)
class _Span:
    """Where one message's rows landed in the batch, to give the message its outcome once the database answered."""

    rows: tuple[int, int] = (0, 0)
    telemetry: tuple[int, int] = (0, 0)
    dead: bool = False
    quarantined: bool = False


# wmbusmeters field names that carry a register, in order of preference, with their unit.
WMBUS_REGISTER_FIELDS: tuple[tuple[str, Unit], ...] = (
    ("total_energy_consumption_kwh", Unit.KWH),
    ("total_energy_consumption_mwh", Unit.MWH),
    ("total_energy_consumption_gj", Unit.GJ),
    ("total_energy_consumption_wh", Unit.WH),
    ("total_m3", Unit.M3),
    ("total_volume_m3", Unit.M3),
)


def _clean(text: str, limit: int = 1000) -> str:
    """Text PostgreSQL can store (no NUL), bounded."""
    return text.replace("\x00", "\\0")[:limit]


def internal_reason(exc: BaseException) -> str:
    return _clean(f"internal error: {type(exc).__name__}: {exc}", 500)


class _Batch:
    """The rows, dead letters and quarantine of one batch as they are collected, message by message."""

    def __init__(self, stats: BatchStats) -> None:
        self.stats = stats
        self.dead: list[repo.DeadLetterRow] = []
        self.quarantine: list[repo.QuarantineRow] = []
        self.rows: list[readings_repo.ReadingRow] = []  # not yet handed to the COPY
        self.n_rows = 0  # handed over so far, plus len(self.rows)
        self.telemetry: list[readings_repo.TelemetryRow] = []
        self.heat: list[readings_repo.HeatRow] = []
        self.touched: dict[int, tuple[datetime, datetime]] = {}
        self.spans: list[_Span] = []

    def reject(self, msg: RawMessage, reason: str, building: str | None = None, device: str | None = None,
               span: _Span | None = None) -> None:
        self.dead.append((_clean(msg.topic), msg.payload, _clean(reason), building, device, msg.received_at))
        key = reason.split(":", 1)[0]
        self.stats.reasons[key] = self.stats.reasons.get(key, 0) + 1
        if span is None:
            span = _Span()
            self.spans.append(span)
        span.dead = True

    def internal(self, msg: RawMessage, exc: Exception, building: str | None = None,
                 device: str | None = None) -> None:
        """Any unexpected exception while handling one message: that message's failure, not the batch's."""
        log.exception("internal error while handling a message; dead-lettered",
                      extra={"topic": _clean(msg.topic, 300), "payload_bytes": len(msg.payload)})
        self.stats.internal_errors += 1
        self.reject(msg, internal_reason(exc), building, device)

    def take(self, d: _Decoded, built: _Built) -> None:
        """Add one message's complete rows and count its items (cannot fail halfway: only appends and adds)."""
        span = _Span()
        self.spans.append(span)
        msg = d.msg
        if d.kind == "luminaire":
            self.stats.telemetry_received += len(d.items)
        elif not built.quarantine:
            self.stats.readings_received += len(d.items)
        if built.quarantine:
            self.quarantine.append((_clean(msg.topic), d.kind, d.building_id, d.device_id, msg.payload,
                                    msg.received_at))
            span.quarantined = True
            return
        rows = built.rows
        if rows:
            self.rows.extend(rows)
            span.rows = (self.n_rows, self.n_rows + len(rows))
            self.n_rows += len(rows)
            if len(rows) == 1:
                lo = hi = rows[0][1]
            else:
                lo, hi = min(r[1] for r in rows), max(r[1] for r in rows)
            assert built.meter_key is not None
            b = self.touched.get(built.meter_key)
            self.touched[built.meter_key] = (lo, hi) if b is None else (min(b[0], lo), max(b[1], hi))
        if built.telemetry:
            n = len(self.telemetry)
            self.telemetry.extend(built.telemetry)
            span.telemetry = (n, n + len(built.telemetry))
        self.heat.extend(built.heat)
        if built.errors:  # any good items are kept; the message goes to the dead letters with the bad items' reasons
            self.reject(msg, "; ".join(built.errors), d.building_id, d.device_id, span)

    def hand_over(self, sink: Callable[[list[readings_repo.ReadingRow]], None]) -> None:
        """Give the readings collected since the last call to the COPY."""
        if self.rows:
            sink(self.rows)
            self.rows = []

    def settle(self, readings: readings_repo.StoreResult, telemetry: readings_repo.StoreResult) -> None:
        """Give every message its one outcome, from what the database did with its rows."""
        st = self.stats
        INSERTED, REVISED = readings_repo.INSERTED, readings_repo.REVISED
        for span in self.spans:
            if span.dead:
                st.outcome("dead_lettered")
                continue
            if span.quarantined:
                st.outcome("quarantined")
                continue
            statuses = [*readings.statuses_of(*span.rows), *telemetry.statuses_of(*span.telemetry)]
            if INSERTED in statuses:
                st.outcome("stored")
            elif REVISED in statuses:
                st.outcome("revised")
            else:
                st.outcome("duplicate")


class IngestPipeline:
    def __init__(
        self,
        topic_prefix: str,
        *,
        max_payload_bytes: int = 256 * 1024,
        max_readings_per_message: int = 10_000,
        max_future: timedelta = timedelta(days=1),
        earliest: datetime = datetime(2000, 1, 1, tzinfo=UTC),
        max_abs_value: float = 1e11,
        registry: RegistryCache | None = None,
        track_rollups: bool = True,
        source: str = "mqtt",
    ) -> None:
        self.prefix_parts = topic_prefix.strip("/").split("/")
        self.max_payload_bytes = max_payload_bytes
        self.max_items = max_readings_per_message
        self.max_future = max_future
        self.earliest = earliest
        self.max_abs_value = max_abs_value
        self.registry = registry or RegistryCache()
        self._topics: dict[str, tuple[str, str, str] | str] = {}  # the parsed topics seen, each parsed once
        # Record the reading ranges each batch touched, for the incremental consumption rollups.
        self.track_rollups = track_rollups
        # where the readings came from (readings.source): 'mqtt' for the broker; connectors pass their own
        # ('datahub', 'utility') and go through exactly the same checks
        self.source = source

    @classmethod
    def from_settings(cls, s: Settings, **kw: Any) -> IngestPipeline:
        ing = s.ingest
        return cls(s.mqtt.topic_prefix, max_payload_bytes=ing.max_payload_bytes,
                   max_readings_per_message=ing.max_readings_per_message,
                   max_future=timedelta(hours=ing.max_future_hours), earliest=ing.earliest_ts,
                   max_abs_value=ing.max_abs_value, **kw)

    # -- decoding ---------------------------------------------------------------------------------------------------

    def _parse_topic(self, topic: str) -> tuple[str, str, str] | str:
        """(kind, building_id, device_id), or the reason the topic is not one of wire contract v1's."""
        parts = topic.split("/")
        n = len(self.prefix_parts)
        if parts[:n] != self.prefix_parts or len(parts) < n + 3 or parts[n] != "buildings":
            return "topic: not under the wire contract's buildings/ tree"
        rest = parts[n + 1:]
        building = rest[0]
        if len(rest) == 4 and rest[1] == "meters" and rest[3] == "readings":
            kind, device = "meter", rest[2]
        elif len(rest) == 4 and rest[1] == "luminaires" and rest[3] == "telemetry":
            kind, device = "luminaire", rest[2]
        elif len(rest) == 3 and rest[1] == "wmbus":
            kind, device = "wmbus", rest[2]
        else:
            return "topic: unknown topic shape (expected .../meters/{id}/readings, .../luminaires/{id}/telemetry " \
                   "or .../wmbus/{name})"
        if not _valid_id(building):
            return "topic: building id must be 1-64 characters of [A-Za-z0-9._-]"
        if not _valid_id(device):
            return f"topic: {kind} id must be 1-64 characters of [A-Za-z0-9._-]"
        return kind, building, device

    def _route(self, msg: RawMessage) -> tuple[str, str, str] | str:
        """(kind, building_id, device_id) from the topic, or why the message cannot be taken at all."""
        parsed = self._topics.get(msg.topic)
        if parsed is None:
            if len(self._topics) >= 100_000:  # bounded: an estate has far fewer topics; garbage ones come and go
                self._topics.clear()
            parsed = self._topics[msg.topic] = self._parse_topic(msg.topic)
        if isinstance(parsed, str):
            return parsed
        if len(msg.payload) > self.max_payload_bytes:
            return f"payload: {len(msg.payload)} bytes exceeds the limit of {self.max_payload_bytes}"
        return parsed

    def _decode(self, msg: RawMessage, kind: str, building: str, device: str) -> _Decoded | str:
        """Parse and validate the payload against the wire contract; a string is the reason to dead-letter it."""
        try:
            doc = wire.parse_json(msg.payload)
            if kind == "wmbus":
                telegram = wire.wmbus(doc)
                return _Decoded(msg, kind, building, telegram.id, [telegram], [], None)
            item = wire.reading if kind == "meter" else wire.telemetry
            items, positions, errors = wire.items(doc, item, self.max_items)
        except wire.WireError as exc:
            return str(exc)
        if not items:
            return "; ".join(errors)
        return _Decoded(msg, kind, building, device, items, errors, positions, type(doc) is list)

    # -- building rows ----------------------------------------------------------------------------------------------

    def _build(self, d: _Decoded) -> _Built | str:
        """One message's rows against the registry; a string is the reason to dead-letter all of it."""
        reg = self.registry
        device: MeterInfo | LuminaireInfo | None
        if d.kind == "luminaire":
            device = reg.luminaires.get(d.device_id)
        elif d.kind == "meter":
            device = reg.meters.get(d.device_id)
        else:
            device = reg.by_external.get(d.device_id)
        if device is None:
            return _Built(quarantine=True)
        if device.building_id != d.building_id:
            noun = "luminaire" if d.kind == "luminaire" else "meter"
            return (f"building: {noun} {device.id!r} is registered in building {device.building_id!r}, "
                    f"not {d.building_id!r}")
        latest = d.msg.received_at + self.max_future
        built = _Built(errors=d.errors)
        if isinstance(device, LuminaireInfo):
            self._telemetry_rows(d, device, latest, built)
        elif d.kind == "meter":
            built.meter_key = device.key
            self._reading_rows(d, device, latest, built)
        else:
            built.meter_key = device.key
            self._wmbus_rows(d, device, latest, built)
        return built

    def _ts_error(self, ts: datetime, latest: datetime, name: str = "ts") -> str | None:
        if ts > latest:
            return f"{name}: {ts.isoformat()} is in the future"
        if ts < self.earliest:
            return f"{name}: {ts.isoformat()} is before {self.earliest.isoformat()}, the earliest accepted"
        return None

    def _telemetry_rows(self, d: _Decoded, lum: LuminaireInfo, latest: datetime, out: _Built) -> None:
        t: wire.TelemetryIn
        for i, t in enumerate(d.items):
            err = self._ts_error(t.ts, latest)
            if err:
                out.errors.append(f"{d.where(i)}{err}")
                continue
            out.telemetry.append((lum.key, t.ts, t.power_w, t.energy_wh, t.dim_pct, t.on, t.burn_hours, t.failure))

    def _reading_rows(self, d: _Decoded, meter: MeterInfo, latest: datetime, out: _Built) -> None:
        key, unit, bound = meter.key, meter.unit, self.max_abs_value / meter.base_factor
        low = 0.0 if meter.interval else -bound
        surely_late_enough = self.earliest.year + 1  # a reading of a later year is after `earliest` whatever its offset
        rows = out.rows
        factors: dict[str, float] = {}
        source = self.source
        for i, (ts, given, u, quality) in enumerate(d.items):
            value = given
            if u is not None and u != unit:
                f = factors.get(u)
                if f is None:
                    try:
                        f = conversion_factor(parse_unit(u), unit)
                    except UnitMismatch as exc:
                        out.errors.append(f"{d.where(i)}unit: {exc}")
                        continue
                    factors[u] = f
                value *= f
            if ts <= latest and low <= value <= bound and (ts.year > surely_late_enough or ts >= self.earliest):
                rows.append((key, ts, value, quality, source))  # the common case, kept tight
                continue
            err = self._ts_error(ts, latest) or (
                f"value: {value:g} {unit.value} is negative; an interval meter reports what was used in the interval"
                if meter.interval and -bound <= value < 0 else
                self._value_error(value, unit, bound, given=(given, u or unit.value)))
            out.errors.append(f"{d.where(i)}{err}")

    def _value_error(self, value: float, unit: Unit, bound: float, name: str = "value",
                     given: tuple[float, str] | None = None) -> str:
        """`value` is in the meter's `unit`; `given` is what the payload said, when it was another unit."""
        base = "kWh" if is_energy(unit) else "m3"
        said = f"{given[0]:g} {given[1]} = " if given is not None and given[1] != unit.value else ""
        limit = f"±{bound:g} {unit.value}" + (f" (±{self.max_abs_value:g} {base})" if unit.value != base else "")
        return f"{name}: {said}{value:g} {unit.value} is outside the plausible range {limit}"

    def _wmbus_rows(self, d: _Decoded, meter: MeterInfo, latest: datetime, out: _Built) -> None:
        telegram: wire.WmbusTelegram = d.items[0]
        fields = telegram.fields
        err = self._ts_error(telegram.timestamp, latest, "timestamp")
        if err:
            out.errors.append(err)
            return
        for name, unit in WMBUS_REGISTER_FIELDS:
            raw = fields.get(name)
            if raw is None:
                continue
            try:
                given = wire.number(raw, name)
                f = conversion_factor(unit, meter.unit)
            except (wire.WireError, UnitMismatch) as exc:
                out.errors.append(f"{name}: {exc}" if isinstance(exc, UnitMismatch) else str(exc))
                return
            value = given * f
            bound = self.max_abs_value / meter.base_factor
            if not -bound <= value <= bound:
                out.errors.append(self._value_error(value, meter.unit, bound, name, given=(given, unit.value)))
                return
            out.rows.append((meter.key, telegram.timestamp, value, "measured", "wmbus"))
            heat = _heat_row(meter, telegram)
            if heat is not None:
                out.heat.append(heat)
            return
        out.errors.append("wmbus: no register field (" + ", ".join(n for n, _ in WMBUS_REGISTER_FIELDS) + ")")

    # -- processing -------------------------------------------------------------------------------------------------

    def handle_batch(self, conn: PgConn, messages: Sequence[RawMessage]) -> BatchStats:
        """Store one batch inside the caller's open transaction: the one failure boundary of ingest.

        Every message ends as exactly one outcome (BatchStats.outcomes). A message that breaks the wire contract is
        dead-lettered with the reason; any unexpected exception while handling one message dead-letters that message
        (`internal error: ...`, traceback logged once, counted in `internal_errors`), never the batch. If the database
        refuses the batch for its content, each message is tried on its own and those it still refuses are
        dead-lettered. Only a lost connection propagates (transient: the caller retries without acknowledging).
        Used by the ingest worker, the quarantine sweep, the API's replay and the history writer alike.
        """
        try:
            with conn.transaction():
                return self._process(conn, messages)
        except psycopg.Error as exc:
            if connection_lost(conn, exc):
                raise
            log.warning("database rejected a batch; storing its messages one by one",
                        extra={"error": str(exc)[:300], "messages": len(messages)})
        except Exception as exc:
            if connection_lost(conn, exc):
                raise
            log.exception("unexpected error while storing a batch; storing its messages one by one",
                          extra={"messages": len(messages)})
        total = BatchStats()
        for m in messages:
            total.add(self._handle_alone(conn, m))
        return total

    def _handle_alone(self, conn: PgConn, m: RawMessage) -> BatchStats:
        """One message of a refused batch, in a savepoint of its own; if it still fails, it alone is dead-lettered
        (the database's reason, or an internal error). Only a lost connection propagates."""
        try:
            with conn.transaction():
                return self._process(conn, [m])
        except psycopg.Error as exc:
            if connection_lost(conn, exc):
                raise
            return self._dead_letter_alone(conn, m, "database: " + str(exc).strip(), "database")
        except Exception as exc:
            if connection_lost(conn, exc):
                raise
            log.exception("internal error while storing a message; dead-lettered",
                          extra={"topic": _clean(m.topic, 300)})
            stats = self._dead_letter_alone(conn, m, internal_reason(exc), "internal error")
            stats.internal_errors = 1
            return stats

    @staticmethod
    def _dead_letter_alone(conn: PgConn, m: RawMessage, reason: str, key: str) -> BatchStats:
        repo.insert_dead_letters(conn, [(_clean(m.topic), m.payload, _clean(reason, 500), None, None,
                                         m.received_at)])
        return BatchStats(messages=1, dead_lettered=1, reasons={key: 1}, outcomes={"dead_lettered": 1})

    def _process(self, conn: PgConn, messages: Sequence[RawMessage]) -> BatchStats:
        """Decode, validate and build each message's rows on its own (any exception is that message's dead letter),
        then store the batch and give every message its outcome. Registry lookups come first: no query can run on the
        connection while the readings' COPY is open."""
        b = _Batch(BatchStats(messages=len(messages)))
        decoded = [d for d in (self._decode_one(msg, b) for msg in messages) if d is not None]
        if decoded:
            self._look_up_devices(conn, decoded)
        readings = self._build_and_store_readings(conn, decoded, b)
        telemetry = self._store_telemetry_and_heat(conn, b)
        self._store_dead_letters_and_quarantine(conn, b)
        b.settle(readings, telemetry)
        return b.stats

    def _decode_one(self, msg: RawMessage, b: _Batch) -> _Decoded | None:
        """The message routed and decoded, or None when it was rejected (or failed: an internal error) here."""
        building: str | None = None
        device: str | None = None
        try:
            route = self._route(msg)
            if isinstance(route, str):
                b.reject(msg, route)
                return None
            kind, building, device = route
            d = self._decode(msg, kind, building, device)
            if isinstance(d, str):
                b.reject(msg, d, building, device if kind != "wmbus" else None)
                return None
        except Exception as exc:
            b.internal(msg, exc, building, device)
            return None
        return d

    def _look_up_devices(self, conn: PgConn, decoded: list[_Decoded]) -> None:
        """Bring the registry cache up to date for the devices the batch names, in one query per kind."""
        ids: dict[str, set[str]] = {"meter": set(), "wmbus": set(), "luminaire": set()}
        for d in decoded:
            ids[d.kind].add(d.device_id)
        self.registry.sync(conn)
        self.registry.resolve(conn, ids["meter"], ids["wmbus"], ids["luminaire"])

    def _build_and_store_readings(self, conn: PgConn, decoded: list[_Decoded],
                                  b: _Batch) -> readings_repo.StoreResult:
        """Build every message's rows; the readings are streamed into the COPY message by message, so PostgreSQL
        stores one part of the batch while Python builds the next."""
        build = partial(self._build_all, decoded, b)
        if any(d.kind != "luminaire" for d in decoded):
            stored = readings_repo.store_readings_streamed(conn, build)
        else:
            build(_discard)  # telemetry, rejects and quarantine only
            stored = readings_repo.StoreResult()
        st = b.stats
        st.readings_stored, st.duplicates, st.revisions = stored.inserted, stored.duplicates, stored.revisions
        return stored

    def _build_all(self, decoded: list[_Decoded], b: _Batch,
                   sink: Callable[[list[readings_repo.ReadingRow]], None]) -> None:
        """Build each message's rows and hand the readings to `sink` about 1000 at a time; a message's rows are handed
        over only once all are built. Runs while the COPY is open: no query on the connection here."""
        for d in decoded:
            self._build_one(d, b)
            if len(b.rows) >= 1000:
                b.hand_over(sink)
        b.hand_over(sink)

    def _build_one(self, d: _Decoded, b: _Batch) -> None:
        """One message's rows into the batch, or the message to the dead letters (an exception: an internal error)."""
        try:
            built = self._build(d)
        except Exception as exc:
            b.internal(d.msg, exc, d.building_id, d.device_id)
            return
        if isinstance(built, str):
            b.reject(d.msg, built, d.building_id, d.device_id)
            return
        b.take(d, built)

    def _store_telemetry_and_heat(self, conn: PgConn, b: _Batch) -> readings_repo.StoreResult:
        """Luminaire telemetry and heat-meter samples, and the reading ranges the rollups must recompute."""
        telemetry = readings_repo.StoreResult()
        if b.telemetry:
            readings_repo.ensure_staging(conn)
            telemetry = readings_repo.store_telemetry(conn, b.telemetry)
            b.stats.telemetry_stored = telemetry.inserted + telemetry.revisions
        if b.heat:
            readings_repo.store_heat(conn, b.heat)
        if b.touched and self.track_rollups:
            consumption_repo.mark_dirty(conn, [(k, lo, hi) for k, (lo, hi) in b.touched.items()])
        return telemetry

    @staticmethod
    def _store_dead_letters_and_quarantine(conn: PgConn, b: _Batch) -> None:
        repo.insert_dead_letters(conn, b.dead)
        repo.insert_quarantine(conn, b.quarantine)
        b.stats.dead_lettered = len(b.dead)
        b.stats.quarantined = len(b.quarantine)


def _discard(rows: list[readings_repo.ReadingRow]) -> None:
    return None


class InternalErrorLimit(RuntimeError):
    """Too many recent messages failed with internal errors: a bad deploy, not bad input."""


class InternalErrorGuard:
    """arroyo's DlqLimit: trips when internal errors reach `min_errors` and `share` of the last `window` messages."""

    def __init__(self, window: int = 1000, share: float = 0.5, min_errors: int = 50) -> None:
        self.window, self.share, self.min_errors = window, share, min_errors
        self._recent: deque[tuple[int, int]] = deque()  # (messages, internal errors) per batch
        self._messages = 0
        self._errors = 0

    def check(self, stats: BatchStats) -> None:
        """Count a batch; raise InternalErrorLimit (forgetting the batch again) if it trips the guard."""
        self._recent.append((stats.messages, stats.internal_errors))
        self._messages += stats.messages
        self._errors += stats.internal_errors
        while len(self._recent) > 1 and self._messages - self._recent[0][0] >= self.window:
            m, e = self._recent.popleft()
            self._messages -= m
            self._errors -= e
        if self._errors >= self.min_errors and self._errors >= self.share * self._messages:
            detail = (f"{self._errors} internal errors in the last {self._messages} messages "
                      f"(limit: {self.min_errors} and {self.share:.0%})")
            self._recent.pop()  # that batch is rolled back: it did not happen
            self._messages -= stats.messages
            self._errors -= stats.internal_errors
            raise InternalErrorLimit(detail)


# Kamstrup heat meters through wmbusmeters (kamheat): flow and return temperatures for the cooling alert. A field that
# is missing, not a number or outside its plausible range is left out; the register reading is kept.
WMBUS_HEAT_FIELDS: tuple[tuple[str, float, float], ...] = (
    ("t1_temperature_c", -50.0, 250.0),
    ("t2_temperature_c", -50.0, 250.0),
    ("power_kw", -1e6, 1e6),
    ("volume_flow_m3h", -1e6, 1e6),
)


def _heat_row(meter: MeterInfo, telegram: wire.WmbusTelegram) -> readings_repo.HeatRow | None:
    values: list[float | None] = []
    for name, lo, hi in WMBUS_HEAT_FIELDS:
        v = telegram.fields.get(name)
        ok = type(v) in (int, float) and lo <= v <= hi  # type: ignore[operator]
        values.append(float(v) if ok else None)  # type: ignore[arg-type]
    if all(v is None for v in values):
        return None
    return meter.key, telegram.timestamp, values[0], values[1], values[2], values[3]


# -- quarantine replay -----------------------------------------------------------------------------------------------

def _replay_rows(conn: PgConn, pipeline: IngestPipeline, rows: list[repo.PendingRow]) -> BatchStats:
    if not rows:
        return BatchStats()
    msgs = [RawMessage(topic, bytes(payload), received_at) for _, topic, payload, received_at in rows]
    stats = pipeline.handle_batch(conn, msgs)
    repo.mark_replayed(conn, [r[0] for r in rows])
    return stats


def sweep_quarantine(conn: PgConn, pipeline: IngestPipeline, limit: int = 1000) -> BatchStats:
    """Replay quarantined messages whose device is registered by now (in the caller's transaction)."""
    return _replay_rows(conn, pipeline, repo.pending_resolvable(conn, limit))


def replay_quarantine(engine: Engine, kind: str, device_id: str, topic_prefix: str | None = None) -> int:
    """Replay, in one transaction, what was quarantined for a device that has just been registered.

    For a meter this includes wmbus telegrams quarantined under its external id. Returns the number of messages
    replayed; readings in them are stored, or dead-lettered if they break a rule (e.g. another building's topic) —
    through the same batch handler as live messages, so no replayed message can fail the caller.
    """
    from services.config import get_settings

    s = get_settings()
    pipeline = IngestPipeline.from_settings(s) if topic_prefix is None else \
        IngestPipeline.from_settings(s.model_copy(update={"mqtt": s.mqtt.model_copy(
            update={"topic_prefix": topic_prefix})}))
    with pg(engine, write=True) as conn:
        rows = repo.pending_for_device(conn, kind, device_id)
        if kind == "meter":
            ext = repo.meter_external_id(conn, device_id)
            if ext:
                rows += repo.pending_for_device(conn, "wmbus", ext)
                rows.sort(key=lambda r: r[0])
        _replay_rows(conn, pipeline, rows)
        return len(rows)
