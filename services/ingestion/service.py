"""From raw MQTT messages to stored rows: topic routing, validation, registry lookup, dead letters and quarantine.

`IngestPipeline.process` handles one batch inside the caller's transaction: the ingest worker commits once per batch
and acknowledges the batch's messages only after that commit. A payload that breaks the wire contract is a permanent
error: it becomes a dead-letter row (topic, raw bytes, reason) in the same transaction. A message for a device that is
not registered is kept whole in quarantine and replayed once the device is registered.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
import psycopg
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy import Engine

from services.consumption import repository as consumption_repo
from services.db import PgConn
from services.ingestion.schemas import (
    READING_ITEM,
    READING_LIST,
    TELEMETRY_ITEM,
    TELEMETRY_LIST,
    WMBUS,
    RawMessage,
    ReadingIn,
    TelemetryIn,
)
from services.readings import repository as repo
from services.readings.units import Unit, UnitMismatch, conversion_factor, parse_unit

log = logging.getLogger(__name__)

_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


def _valid_id(s: str) -> bool:
    return 0 < len(s) <= 64 and _ID_CHARS.issuperset(s)


@dataclass(frozen=True, slots=True)
class MeterInfo:
    id: str
    key: int
    building_id: str
    unit: Unit
    external_id: str | None


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

    def _add_meters(self, rows: Sequence[tuple[str, int, str, str, str | None]]) -> None:
        for mid, key, bid, unit, ext in rows:
            info = MeterInfo(mid, key, bid, Unit(unit), ext)
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


@dataclass
class BatchStats:
    messages: int = 0
    readings_received: int = 0
    readings_stored: int = 0
    duplicates: int = 0
    revisions: int = 0
    telemetry_received: int = 0
    telemetry_stored: int = 0
    dead_lettered: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, other: BatchStats) -> None:
        for name in ("messages", "readings_received", "readings_stored", "duplicates", "revisions",
                     "telemetry_received", "telemetry_stored", "dead_lettered", "quarantined"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for k, v in other.reasons.items():
            self.reasons[k] = self.reasons.get(k, 0) + v


@dataclass(slots=True)
class _Decoded:
    msg: RawMessage
    kind: str  # meter | luminaire | wmbus
    building_id: str
    device_id: str
    items: list[Any]
    errors: list[str]
    positions: list[int] | None = None  # items' positions in the message, when invalid ones were dropped

    def pos(self, i: int) -> int:
        return self.positions[i] if self.positions is not None else i


# wmbusmeters field names that carry a register, in order of preference, with their unit.
WMBUS_REGISTER_FIELDS: tuple[tuple[str, Unit], ...] = (
    ("total_energy_consumption_kwh", Unit.KWH),
    ("total_energy_consumption_mwh", Unit.MWH),
    ("total_energy_consumption_gj", Unit.GJ),
    ("total_energy_consumption_wh", Unit.WH),
    ("total_m3", Unit.M3),
    ("total_volume_m3", Unit.M3),
)


def _json_error(msg: str) -> str:
    # pydantic's message already starts with "Invalid JSON: "
    return "invalid JSON: " + msg.removeprefix("Invalid JSON: ")


def _fmt_errors(errors: list[ErrorDetails], prefix: str = "") -> list[str]:
    out = []
    for e in errors[:10]:
        parts = list(e["loc"])
        head = f"item {parts.pop(0)}: " if parts and isinstance(parts[0], int) else ""
        loc = head + ".".join(str(p) for p in parts)
        if head and not parts:
            loc = loc[:-2]
        out.append(f"{prefix}{loc}: {e['msg']}" if loc else f"{prefix}{e['msg']}")
    if len(errors) > 10:
        out.append(f"... and {len(errors) - 10} more errors")
    return out


class IngestPipeline:
    def __init__(
        self,
        topic_prefix: str,
        *,
        max_payload_bytes: int = 256 * 1024,
        max_readings_per_message: int = 10_000,
        max_future: timedelta = timedelta(days=1),
        registry: RegistryCache | None = None,
        track_rollups: bool = True,
    ) -> None:
        self.prefix_parts = topic_prefix.strip("/").split("/")
        self.max_payload_bytes = max_payload_bytes
        self.max_items = max_readings_per_message
        self.max_future = max_future
        self.registry = registry or RegistryCache()
        # Record the reading ranges each batch touched, for the incremental consumption rollups.
        self.track_rollups = track_rollups

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

    def _validate_items(
        self, payload: bytes, item_adapter: Any, list_adapter: Any
    ) -> tuple[list[Any], list[str], list[int] | None]:
        """Valid items, error strings, and the valid items' positions in the message when some were dropped (None:
        all kept). A batch with some bad items keeps its good ones."""
        first = payload[:1]
        is_list = first == b"[" or (first.isspace() and payload.lstrip()[:1] == b"[")
        try:
            if is_list:
                return list(list_adapter.validate_json(payload)), [], None
            return [item_adapter.validate_json(payload)], [], None
        except ValidationError as exc:
            errs = exc.errors()
            if not is_list or any(e["type"] == "json_invalid" for e in errs) or any(not e["loc"] for e in errs):
                if errs and errs[0]["type"] == "json_invalid":
                    return [], [_json_error(errs[0]["msg"])], None
                return [], _fmt_errors(errs), None
        # Some items of an array are bad: validate one by one to keep the good ones.
        good: list[Any] = []
        positions: list[int] = []
        bad: list[str] = []
        for i, element in enumerate(orjson.loads(payload)):
            try:
                good.append(item_adapter.validate_json(orjson.dumps(element)))
                positions.append(i)
            except ValidationError as exc:
                bad.extend(_fmt_errors(exc.errors(), prefix=f"item {i}: "))
        return good, bad, positions

    def _route(self, msg: RawMessage) -> tuple[str, str, str] | str:
        """(kind, building_id, device_id) from the topic, or why the message cannot be taken at all."""
        parsed = self._parse_topic(msg.topic)
        if isinstance(parsed, str):
            return parsed
        if len(msg.payload) > self.max_payload_bytes:
            return f"payload: {len(msg.payload)} bytes exceeds the limit of {self.max_payload_bytes}"
        return parsed

    def _decode(self, msg: RawMessage, kind: str, building: str, device: str) -> _Decoded | str:
        """Validate the payload against the wire contract; a string is the reason to dead-letter it."""
        items: list[Any]
        positions: list[int] | None = None
        if kind == "meter":
            items, errors, positions = self._validate_items(msg.payload, READING_ITEM, READING_LIST)
        elif kind == "luminaire":
            items, errors, positions = self._validate_items(msg.payload, TELEMETRY_ITEM, TELEMETRY_LIST)
        else:
            try:
                telegram = WMBUS.validate_json(msg.payload)
            except ValidationError as exc:
                errs = exc.errors()
                if errs[0]["type"] == "json_invalid":
                    return _json_error(errs[0]["msg"])
                return "wmbus: " + "; ".join(_fmt_errors(errs))
            device = telegram.id
            items, errors = [telegram], []
        if len(items) + len(errors) > self.max_items:
            return f"payload: {len(items) + len(errors)} readings exceed the limit of {self.max_items} per message"
        if not items and errors:
            return "; ".join(errors)
        return _Decoded(msg, kind, building, device, items, errors, positions)

    # -- processing -------------------------------------------------------------------------------------------------

    def process(self, conn: PgConn, messages: Sequence[RawMessage]) -> BatchStats:
        """Store one batch inside the caller's open transaction and return what happened to it.

        Readings are validated and streamed into the COPY message by message, so PostgreSQL stores one part of
        the batch while Python validates the next (two cores, two workers). Registry lookups come first: no
        query can run on the connection while the COPY is open.
        """
        stats = BatchStats(messages=len(messages))
        dead: list[tuple[str, bytes, str, str | None, str | None, datetime]] = []
        quarantine: list[tuple[str, str, str, str, bytes, datetime]] = []
        telemetry_rows: list[repo.TelemetryRow] = []
        heat_rows: list[repo.HeatRow] = []

        def reject(msg: RawMessage, reason: str, building: str | None = None, device: str | None = None) -> None:
            dead.append((msg.topic, msg.payload, reason, building, device, msg.received_at))
            key = reason.split(":", 1)[0]
            stats.reasons[key] = stats.reasons.get(key, 0) + 1

        touched: dict[int, tuple[datetime, datetime]] = {}
        routed: list[tuple[RawMessage, str, str, str] | _Decoded] = []
        meter_ids: set[str] = set()
        luminaire_ids: set[str] = set()
        external_ids: set[str] = set()
        for msg in messages:
            route = self._route(msg)
            if isinstance(route, str):
                reject(msg, route)
                continue
            kind, building, device = route
            if kind == "wmbus":  # the device is named inside the telegram
                d = self._decode(msg, kind, building, device)
                if isinstance(d, str):
                    reject(msg, d, building)
                    continue
                external_ids.add(d.device_id)
                routed.append(d)
            else:
                (meter_ids if kind == "meter" else luminaire_ids).add(device)
                routed.append((msg, kind, building, device))

        if not messages:
            return stats
        # "More than max_future ahead of receipt", against the batch's latest receipt: one addition per batch.
        latest = max(m.received_at for m in messages) + self.max_future
        reg = self.registry
        reg.sync(conn)
        reg.resolve(conn, meter_ids, external_ids, luminaire_ids)

        def fill(sink: Callable[[list[repo.ReadingRow]], None]) -> None:
            rows: list[repo.ReadingRow] = []
            for item in routed:
                d = item if isinstance(item, _Decoded) else self._decode(*item)
                if isinstance(d, str):
                    msg, _, building, device_id = item  # type: ignore[misc]
                    reject(msg, d, building, device_id)
                    continue
                msg = d.msg
                device: MeterInfo | LuminaireInfo | None
                if d.kind == "luminaire":
                    device = reg.luminaires.get(d.device_id)
                elif d.kind == "meter":
                    device = reg.meters.get(d.device_id)
                else:
                    device = reg.by_external.get(d.device_id)
                if device is None:
                    quarantine.append((msg.topic, d.kind, d.building_id, d.device_id, msg.payload, msg.received_at))
                    continue
                if device.building_id != d.building_id:
                    noun = "luminaire" if d.kind == "luminaire" else "meter"
                    reject(msg, f"building: {noun} {device.id!r} is registered in building {device.building_id!r}, "
                                f"not {d.building_id!r}", d.building_id, device.id)
                    continue
                if isinstance(device, LuminaireInfo):
                    self._telemetry_rows(d, device, latest, telemetry_rows)
                    stats.telemetry_received += len(d.items)
                else:
                    meter = device
                    n0 = len(rows)
                    if d.kind == "meter":
                        self._reading_rows(d, meter, latest, rows)
                    else:
                        self._wmbus_rows(d, meter, latest, rows)
                        _heat_row(d, meter, heat_rows)
                    if n0 < len(rows):  # the time range this meter's rollups must be recomputed for
                        lo, hi = min(r[1] for r in rows[n0:]), max(r[1] for r in rows[n0:])
                        b = touched.get(meter.key)
                        touched[meter.key] = (lo, hi) if b is None else (min(b[0], lo), max(b[1], hi))
                    stats.readings_received += len(d.items)
                    if len(rows) >= 1000:
                        sink(rows)
                        rows = []
                if d.errors:
                    reject(msg, "; ".join(d.errors), d.building_id, d.device_id)
            if rows:
                sink(rows)

        if meter_ids or external_ids:
            stored = repo.store_readings_streamed(conn, fill)
        else:
            fill(lambda rows: None)  # telemetry, rejects and quarantine only
            stored = repo.StoreResult()
        stats.readings_stored, stats.duplicates, stats.revisions = stored.inserted, stored.duplicates, stored.revisions
        if telemetry_rows:
            repo.ensure_staging(conn)
            tr = repo.store_telemetry(conn, telemetry_rows)
            stats.telemetry_stored = tr.inserted + tr.revisions
        if heat_rows:
            repo.store_heat(conn, heat_rows)
        if touched and self.track_rollups:
            consumption_repo.mark_dirty(conn, [(k, lo, hi) for k, (lo, hi) in touched.items()])
        repo.insert_dead_letters(conn, dead)
        repo.insert_quarantine(conn, quarantine)
        stats.dead_lettered = len(dead)
        stats.quarantined = len(quarantine)
        return stats

    def process_safely(self, conn: PgConn, messages: Sequence[RawMessage]) -> BatchStats:
        """`process`, and if the database rejects the batch for its content, each message on its own: those it still
        rejects become dead letters, so one poison message cannot block the stream. Connection errors propagate."""
        try:
            with conn.transaction():
                return self.process(conn, messages)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            log.warning("database rejected a batch; storing its messages one by one", extra={"error": str(exc)[:300]})
        total = BatchStats()
        for m in messages:
            try:
                with conn.transaction():
                    stats = self.process(conn, [m])
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                reason = "database: " + str(exc).replace("\x00", "\\0").strip()[:500]
                repo.insert_dead_letters(conn, [(m.topic, m.payload, reason, None, None, m.received_at)])
                stats = BatchStats(messages=1, dead_lettered=1, reasons={"database": 1})
            total.add(stats)
        return total

    @staticmethod
    def _telemetry_rows(d: _Decoded, lum: LuminaireInfo, latest: datetime, out: list[repo.TelemetryRow]) -> None:
        t: TelemetryIn
        for i, t in enumerate(d.items):
            if t.ts > latest:
                d.errors.append(f"item {d.pos(i)}: ts: {t.ts.isoformat()} is in the future")
                continue
            out.append((lum.key, t.ts, t.power_w, t.energy_wh, t.dim_pct, t.on, t.burn_hours, t.failure))

    @staticmethod
    def _reading_rows(d: _Decoded, meter: MeterInfo, latest: datetime, out: list[repo.ReadingRow]) -> None:
        key, unit = meter.key, meter.unit
        items: list[ReadingIn] = d.items
        if len(items) == 1:  # single-reading messages: no generator overhead
            it = items[0]
            if (it.unit is None or it.unit == unit) and it.ts <= latest:
                out.append((key, it.ts, it.value, it.quality, "mqtt"))
                return
        elif all(it.unit is None or it.unit == unit for it in items) and max(it.ts for it in items) <= latest:
            # the common case, kept tight: it runs once per reading
            out.extend([(key, it.ts, it.value, it.quality, "mqtt") for it in items])
            return
        factors: dict[str, float] = {}
        for i, it in enumerate(items):
            if it.ts > latest:
                d.errors.append(f"item {d.pos(i)}: ts: {it.ts.isoformat()} is in the future")
                continue
            value = it.value
            if it.unit is not None and it.unit != unit:
                f = factors.get(it.unit)
                if f is None:
                    try:
                        f = conversion_factor(parse_unit(it.unit), unit)
                    except UnitMismatch as exc:
                        d.errors.append(f"item {d.pos(i)}: unit: {exc}")
                        continue
                    factors[it.unit] = f
                value *= f
            out.append((key, it.ts, value, it.quality, "mqtt"))

    @staticmethod
    def _wmbus_rows(d: _Decoded, meter: MeterInfo, latest: datetime, out: list[repo.ReadingRow]) -> None:
        telegram = d.items[0]
        extra = telegram.model_extra or {}
        for name, unit in WMBUS_REGISTER_FIELDS:
            value = extra.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                d.errors.append(f"{name}: must be a finite number")
                return
            if telegram.timestamp > latest:
                d.errors.append(f"timestamp: {telegram.timestamp.isoformat()} is in the future")
                return
            try:
                f = conversion_factor(unit, meter.unit)
            except UnitMismatch as exc:
                d.errors.append(f"{name}: {exc}")
                return
            out.append((meter.key, telegram.timestamp, float(value) * f, "measured", "wmbus"))
            return
        d.errors.append("wmbus: no register field (" + ", ".join(n for n, _ in WMBUS_REGISTER_FIELDS) + ")")


# Kamstrup heat meters through wmbusmeters (kamheat): flow and return temperatures for the cooling alert.
WMBUS_HEAT_FIELDS = ("t1_temperature_c", "t2_temperature_c", "power_kw", "volume_flow_m3h")


def _heat_row(d: _Decoded, meter: MeterInfo, out: list[repo.HeatRow]) -> None:
    if d.errors or not d.items:
        return
    telegram = d.items[0]
    extra = telegram.model_extra or {}
    values: list[float | None] = []
    for name in WMBUS_HEAT_FIELDS:
        v = extra.get(name)
        ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        values.append(float(v) if ok else None)  # type: ignore[arg-type]
    if any(v is not None for v in values):
        out.append((meter.key, telegram.timestamp, values[0], values[1], values[2], values[3]))


# -- quarantine replay -----------------------------------------------------------------------------------------------

_PENDING_FOR_DEVICE = """
SELECT id, topic, payload, received_at FROM quarantine
WHERE replayed_at IS NULL AND kind = %s AND device_id = %s
ORDER BY id FOR UPDATE SKIP LOCKED
"""

_PENDING_RESOLVABLE = """
SELECT q.id, q.topic, q.payload, q.received_at FROM quarantine q
WHERE q.replayed_at IS NULL AND (
    (q.kind = 'meter' AND EXISTS (SELECT 1 FROM meters m WHERE m.id = q.device_id))
 OR (q.kind = 'wmbus' AND EXISTS (SELECT 1 FROM meters m WHERE m.external_id = q.device_id))
 OR (q.kind = 'luminaire' AND EXISTS (SELECT 1 FROM luminaires l WHERE l.id = q.device_id)))
ORDER BY q.id LIMIT %s FOR UPDATE SKIP LOCKED
"""


def _replay_rows(conn: PgConn, pipeline: IngestPipeline, rows: list[tuple[Any, ...]]) -> BatchStats:
    if not rows:
        return BatchStats()
    msgs = [RawMessage(topic, bytes(payload), received_at) for _, topic, payload, received_at in rows]
    stats = pipeline.process(conn, msgs)
    conn.execute("UPDATE quarantine SET replayed_at = now() WHERE id = ANY(%s)", [[r[0] for r in rows]])
    return stats


def sweep_quarantine(conn: PgConn, pipeline: IngestPipeline, limit: int = 1000) -> BatchStats:
    """Replay quarantined messages whose device is registered by now (in the caller's transaction)."""
    return _replay_rows(conn, pipeline, conn.execute(_PENDING_RESOLVABLE, [limit]).fetchall())


def replay_quarantine(engine: Engine, kind: str, device_id: str, topic_prefix: str | None = None) -> int:
    """Replay, in one transaction, what was quarantined for a device that has just been registered.

    For a meter this includes wmbus telegrams quarantined under its external id. Returns the number of messages
    replayed; readings in them are stored, or dead-lettered if they break a rule (e.g. another building's topic).
    """
    from services.config import get_settings

    s = get_settings()
    pipeline = IngestPipeline(
        topic_prefix or s.mqtt.topic_prefix,
        max_payload_bytes=s.ingest.max_payload_bytes,
        max_readings_per_message=s.ingest.max_readings_per_message,
    )
    with engine.begin() as sa_conn:
        conn: PgConn = sa_conn.connection.driver_connection  # type: ignore[assignment]
        rows = list(conn.execute(_PENDING_FOR_DEVICE, [kind, device_id]).fetchall())
        if kind == "meter":
            ext = conn.execute("SELECT external_id FROM meters WHERE id = %s", [device_id]).fetchone()
            if ext and ext[0]:
                rows += conn.execute(_PENDING_FOR_DEVICE, ["wmbus", ext[0]]).fetchall()
                rows.sort(key=lambda r: r[0])
        _replay_rows(conn, pipeline, rows)
        return len(rows)
