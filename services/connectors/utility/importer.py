"""From a utility export's bytes to readings per registered meter, and what was rejected by line and field.

`plan_import` reads and checks everything without touching the database: the dry run shows its plan, a real run
hands the plan's readings to the ingest pipeline (`store_plan`). Rules (docs/connectors.md, "Utility exports"):

- A register meter's row is a reading ("Aflæsning") at its time; an interval meter's row is the quantity used in
  the interval that ends at the row's time ("Forbrug" for a period is stored at the period's end).
- Local times are Europe/Copenhagen (the configured zone) and leave here with their offset. A time in the hour
  skipped when clocks go forward is rejected. A time in the hour repeated when they go back is, for a meter with
  that time on two rows, the earlier instant (+02:00) on the first of them in time order and the later (+01:00) on
  the second; written once, `ambiguous` decides (default earlier, with a warning on the line).
- Units: a unit column, else the unit in the value's header, else the mapping's default_unit, else the meter's own
  unit. The unit must convert to the meter's registered unit (energy to energy, volume to volume).
- Meter numbers map to registered meters by `external_id`; rows of an unknown number are listed, not stored.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import orjson

from services.connectors.utility.mapping import Columns, MappingSpec, find_columns
from services.connectors.utility.parsing import (
    Cell,
    CellError,
    Decimal,
    LocalStamp,
    Stamp,
    detect_decimal,
    is_blank,
    local_offsets,
    parse_number,
    parse_quality,
    parse_stamp,
    parse_unit_text,
    read_table,
)
from services.localtime import iso_local
from services.readings.units import Unit, UnitMismatch, conversion_factor, is_energy, to_kwh

MAX_REJECTED_LISTED = 1000
CHUNK = 10_000  # readings per store call (the framework's limit)


class MeterLike(Protocol):
    """What the importer needs of a registered meter (the framework's MeterRef has it)."""

    @property
    def meter_id(self) -> str: ...
    @property
    def unit(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def interval_minutes(self) -> int | None: ...


@dataclass(frozen=True)
class LineIssue:
    line: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}

    def __str__(self) -> str:
        return f"line {self.line}, {self.field}: {self.message}"


@dataclass
class PlannedReading:
    ts: datetime  # aware
    value: float
    unit: Unit
    quality: str
    line: int


@dataclass
class MeterPlan:
    external_id: str
    meter: MeterLike
    readings: list[PlannedReading] = field(default_factory=list)

    def summary(self, tz: ZoneInfo) -> dict[str, Any]:
        """Readings, first/last time, and the quantity they make: a register's last minus first reading, an
        interval meter's sum; in kWh too for energy units."""
        meter_unit = Unit(self.meter.unit)
        rs = sorted(self.readings, key=lambda r: r.ts)
        values = [r.value * conversion_factor(r.unit, meter_unit) for r in rs]
        if not rs:
            qty = 0.0
        elif self.meter.mode == "register":
            qty = values[-1] - values[0]
        else:
            qty = sum(values)
        return {
            "external_id": self.external_id,
            "meter_id": self.meter.meter_id,
            "mode": self.meter.mode,
            "readings": len(rs),
            "first_ts": iso_local(rs[0].ts, tz) if rs else None,
            "last_ts": iso_local(rs[-1].ts, tz) if rs else None,
            "quantity": round(qty, 6),
            "unit": meter_unit.value,
            "kwh": round(to_kwh(qty, meter_unit), 6) if is_energy(meter_unit) else None,
        }


@dataclass
class Unmapped:
    external_id: str
    lines: int = 0
    first_line: int = 0


@dataclass
class Plan:
    format: str
    encoding: str | None
    delimiter: str | None
    decimal: Decimal
    columns: Columns
    preset: str
    data_lines: int = 0
    meters: dict[str, MeterPlan] = field(default_factory=dict)
    rejected: list[LineIssue] = field(default_factory=list)
    warnings: list[LineIssue] = field(default_factory=list)
    unmapped: dict[str, Unmapped] = field(default_factory=dict)
    duplicates_in_file: int = 0

    @property
    def accepted(self) -> int:
        return sum(len(m.readings) for m in self.meters.values())

    def report(self, tz: ZoneInfo) -> dict[str, Any]:
        """The plan as the dry run, the CLI and the API show it."""
        return {
            "format": self.format,
            "encoding": self.encoding,
            "delimiter": {"\t": "tab"}.get(self.delimiter or "", self.delimiter),
            "decimal": self.decimal,
            "preset": self.preset,
            "header_line": self.columns.header_line,
            "columns": dict(self.columns.headers),
            "data_lines": self.data_lines,
            "accepted": self.accepted,
            "duplicates_in_file": self.duplicates_in_file,
            "rejected_count": len(self.rejected),
            "rejected": [r.as_dict() for r in sorted(self.rejected, key=lambda r: r.line)[:MAX_REJECTED_LISTED]],
            "warnings": [w.as_dict() for w in self.warnings[:MAX_REJECTED_LISTED]],
            "meters": [m.summary(tz) for _, m in sorted(self.meters.items()) if m.readings],
            "unmapped": [{"external_id": u.external_id, "lines": u.lines, "first_line": u.first_line}
                         for _, u in sorted(self.unmapped.items())],
        }


@dataclass
class _Row:
    line: int
    external_id: str
    meter: MeterLike
    register: bool
    value: float
    unit: Unit
    quality: str
    stamp: Stamp | None  # a reading's time, or a consumption row's single time
    start: Stamp | None = None  # a consumption row's period
    end: Stamp | None = None


def meter_number(cell: Cell) -> str:
    """A meter number cell as text: Excel keeps long numbers as floats (12345678.0 -> "12345678")."""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


def plan_import(data: bytes, spec: MappingSpec, meters: Mapping[str, MeterLike], tz: ZoneInfo, *,
                window: tuple[datetime, datetime] | None = None) -> Plan:
    """Read the file with the mapping and check every line; nothing is stored. Raises FileError when the file as a
    whole cannot be read (format, header, mapping). `window` is [earliest, latest] the ingest pipeline takes a
    reading's time in: a line outside it is rejected here, by line, as the pipeline would refuse it."""
    delimiter = "\t" if spec.delimiter == "tab" else spec.delimiter
    table = read_table(data, delimiter=delimiter, sheet=spec.sheet)
    cols = find_columns(table, spec)
    body = [(line, cells) for line, cells in table.rows if line > cols.header_line
            and not all(is_blank(c) for c in cells)]
    value_role = cols.value_role
    decimal: Decimal = (detect_decimal([_cell(c, cols, value_role) for _, c in body], table.delimiter)
                        if spec.decimal == "auto" else spec.decimal)
    plan = Plan(table.format, table.encoding, table.delimiter, decimal, cols, spec.preset or "auto",
                data_lines=len(body))
    rows: list[_Row] = []
    for line, cells in body:
        try:
            row = _parse_row(line, cells, cols, spec, decimal=decimal, meters=meters, plan=plan)
        except _Reject as r:
            plan.rejected.append(LineIssue(line, r.field, r.message))
            continue
        if row is not None:
            rows.append(row)
    _resolve_times(rows, cols, spec, tz, plan, window=window)
    return plan


class _Reject(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _cell(cells: list[Cell], cols: Columns, role: str) -> Cell:
    i = cols.index.get(role)
    return cells[i] if i is not None and i < len(cells) else None


def _parse_row(line: int, cells: list[Cell], cols: Columns, spec: MappingSpec, *, decimal: Decimal,
               meters: Mapping[str, MeterLike], plan: Plan) -> _Row | None:
    if "meter" in cols.index:
        raw = _cell(cells, cols, "meter")
        if is_blank(raw):
            raise _Reject(cols.label("meter"), "empty: a meter number is required")
        ext = meter_number(raw)
    else:
        ext = spec.meter_id or ""
    meter = meters.get(ext)
    if meter is None:
        u = plan.unmapped.setdefault(ext, Unmapped(ext, 0, line))
        u.lines += 1
        return None
    vrole = cols.value_role
    vlabel = cols.label(vrole)
    register = vrole == "reading" or (vrole == "value" and meter.mode == "register")
    if register and meter.mode != "register":
        raise _Reject(vlabel, f"a meter reading, but meter {meter.meter_id} ({ext}) is an interval meter; "
                              "map a consumption column (Forbrug) or register the meter as mode register")
    if not register and meter.mode != "interval":
        raise _Reject(vlabel, f"a consumption per period, but meter {meter.meter_id} ({ext}) is a register meter; "
                              "map a reading column (Aflæsning) or register the meter as mode interval")
    try:
        value = parse_number(_cell(cells, cols, vrole), decimal)
    except CellError as e:
        raise _Reject(vlabel, str(e)) from None
    if value < 0:
        raise _Reject(vlabel, f"{value:g} is negative: a " + ("meter's register (a reading)" if register else
                                                               "consumption") + " is never below 0")
    unit = _unit(cells, cols, spec, meter, vrole)
    try:
        quality = parse_quality(_cell(cells, cols, "quality"))
    except CellError as e:
        raise _Reject(cols.label("quality"), str(e)) from None
    row = _Row(line, ext, meter, register, value, unit, quality, None)
    if not register and "start" in cols.index:
        row.start = _stamp(cells, cols, "start")
        row.end = _stamp(cells, cols, "end")
    elif "timestamp" in cols.index or "date" in cols.index:
        role = "timestamp" if "timestamp" in cols.index else "date"
        time_cell = _cell(cells, cols, "time") if role == "date" else None
        try:
            row.stamp = parse_stamp(_cell(cells, cols, role), time_cell)
        except CellError as e:
            raise _Reject(cols.label(role), str(e)) from None
    else:  # only a period end: a reading at it, or a consumption whose interval ends there
        row.end = _stamp(cells, cols, "end")
    return row


def _stamp(cells: list[Cell], cols: Columns, role: str) -> Stamp:
    try:
        return parse_stamp(_cell(cells, cols, role))
    except CellError as e:
        raise _Reject(cols.label(role), str(e)) from None


def _unit(cells: list[Cell], cols: Columns, spec: MappingSpec, meter: MeterLike, vrole: str) -> Unit:
    meter_unit = Unit(meter.unit)
    field_name = cols.label("unit") if "unit" in cols.index else cols.label(vrole)
    ucell = _cell(cells, cols, "unit")
    try:
        if "unit" in cols.index and not is_blank(ucell):
            unit = parse_unit_text(ucell)
        elif vrole in cols.header_units:
            unit = cols.header_units[vrole]
        elif spec.default_unit is not None:
            unit = parse_unit_text(spec.default_unit)
            field_name = "default_unit"
        else:
            unit = meter_unit
        conversion_factor(unit, meter_unit)
    except CellError as e:
        raise _Reject(field_name, str(e)) from None
    except UnitMismatch:
        raise _Reject(field_name, f"{unit.value} cannot be converted to meter {meter.meter_id}'s unit "
                                  f"{meter_unit.value}") from None
    return unit


# -- times -----------------------------------------------------------------------------------------------------------

def _wall(s: Stamp | None) -> datetime | None:
    return s.wall if isinstance(s, LocalStamp) else None


def _period_end_inclusive(rows: list[_Row], spec: MappingSpec) -> dict[str, bool]:
    """Per meter: does a date-only period end ("Til 31-01-2026") include that day? Auto: consecutive periods of a
    meter that share a day (next Fra = this Til) say exclusive; ones that follow on the next day (next Fra = Til + 1
    day) or a period within one day (Fra = Til) say inclusive; the majority wins, inclusive without evidence."""
    if spec.period_end != "auto":
        return {r.external_id: spec.period_end == "inclusive" for r in rows}
    votes: dict[str, int] = {}
    by_meter: dict[str, list[tuple[datetime, datetime]]] = {}
    for r in rows:
        if isinstance(r.start, LocalStamp) and isinstance(r.end, LocalStamp) and not r.start.has_time \
                and not r.end.has_time:
            by_meter.setdefault(r.external_id, []).append((r.start.wall, r.end.wall))
    for ext, periods in by_meter.items():
        periods.sort()
        v = sum(1 for a, b in periods if a == b)
        for (_, end), (nxt, _) in itertools.pairwise(periods):
            if nxt == end:
                v -= 1
            elif nxt == end + timedelta(days=1):
                v += 1
        votes[ext] = v
    return {ext: v >= 0 for ext, v in votes.items()}


def _resolve_times(rows: list[_Row], cols: Columns, spec: MappingSpec, tz: ZoneInfo, plan: Plan, *,
                   window: tuple[datetime, datetime] | None = None) -> None:
    inclusive = _period_end_inclusive(rows, spec)
    # The repeated hour: how often each meter names each ambiguous wall time, and in which order its rows run.
    key_wall: dict[int, datetime] = {}
    seen_total: dict[tuple[str, datetime], int] = {}
    first_last: dict[str, list[datetime]] = {}
    for i, r in enumerate(rows):
        w = _wall(r.start if r.start is not None else (r.stamp if r.stamp is not None else r.end))
        if w is None:
            continue
        first_last.setdefault(r.external_id, []).append(w)
        if len(local_offsets(w, tz)) == 2:
            key_wall[i] = w
            seen_total[(r.external_id, w)] = seen_total.get((r.external_id, w), 0) + 1
    # A file listed newest first meets the repeated hour's later instant first.
    descending = {ext: sum(1 if b < a else -1 if b > a else 0 for a, b in itertools.pairwise(ws)) > 0
                  for ext, ws in first_last.items()}
    seen_so_far: dict[tuple[str, datetime], int] = {}
    by_ts: dict[tuple[str, datetime], PlannedReading] = {}

    for i, r in enumerate(rows):
        try:
            pick: int | None = None
            warn = False
            if i in key_wall:
                k = (r.external_id, key_wall[i])
                n = seen_so_far.get(k, 0)
                seen_so_far[k] = n + 1
                total = seen_total[k]
                if total >= 2:
                    pick = min(n, 1)
                    if descending.get(r.external_id):
                        pick = 1 - pick if n < 2 else 0
                elif spec.ambiguous == "reject":
                    pick = -1
                else:
                    pick = 0 if spec.ambiguous == "earlier" else 1
                    warn = True
            ts = _row_ts(r, cols, spec, tz, inclusive=inclusive.get(r.external_id, True), pick=pick,
                         warnings=plan.warnings if warn else None)
        except _Reject as e:
            plan.rejected.append(LineIssue(r.line, e.field, e.message))
            continue
        if window is not None and not window[0] <= ts <= window[1]:
            later = ts > window[1]
            plan.rejected.append(LineIssue(r.line, cols.label(cols.time_role), f"{iso_local(ts, tz)} is " + (
                "in the future: a reading cannot be taken yet" if later else
                f"before {iso_local(window[0], tz)}, the earliest time readings are taken for")))
            continue
        mp = plan.meters.setdefault(r.external_id, MeterPlan(r.external_id, r.meter))
        key = (r.external_id, ts.astimezone(UTC))
        prev = by_ts.get(key)
        if prev is not None:
            same = prev.value * conversion_factor(prev.unit, r.unit) == r.value and prev.quality == r.quality
            if same:
                plan.duplicates_in_file += 1
                continue
            plan.rejected.append(LineIssue(r.line, cols.label(cols.value_role),
                                           f"meter {r.external_id} at {iso_local(ts, tz)} already has {prev.value:g} "
                                           f"{prev.unit.value} from line {prev.line}"))
            continue
        pr = PlannedReading(ts, r.value, r.unit, r.quality, r.line)
        by_ts[key] = pr
        mp.readings.append(pr)


def _at(stamp: Stamp, field: str, tz: ZoneInfo, *, pick: int | None, warnings: list[LineIssue] | None,
        line: int) -> datetime:
    """An instant (UTC) for a stamp; `pick` chooses in the repeated hour (0 earlier, 1 later, -1 reject); the choice is
    a warning on the line when `warnings` is given (the time was written once)."""
    if not isinstance(stamp, LocalStamp):
        return stamp.astimezone(UTC)
    options = local_offsets(stamp.wall, tz)
    if len(options) == 1:
        return options[0]
    shown = stamp.wall.strftime("%d-%m-%Y %H:%M")
    if not options:
        raise _Reject(field, f"{shown} does not exist in {tz.key}: the clocks jump forward an hour that night")
    if len(options) == 1:
        return options[0]
    if pick is None or pick < 0:
        raise _Reject(field, f"{shown} is in the hour repeated when the clocks go back ({tz.key}); write the "
                             "offset or set ambiguous to earlier or later")
    chosen = options[pick]
    if warnings is not None:
        warnings.append(LineIssue(line, field, f"{shown} occurs twice in {tz.key} (the clocks go back); taken as "
                                               f"{iso_local(chosen, tz)}"))
    return chosen


def _day_end(day: datetime, days: int, tz: ZoneInfo) -> datetime:
    """Local midnight `days` days after the local date `day` (midnight exists on every Copenhagen day)."""
    d = (day + timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    return d.replace(tzinfo=tz).astimezone(UTC)


def _row_ts(r: _Row, cols: Columns, spec: MappingSpec, tz: ZoneInfo, *, inclusive: bool, pick: int | None,
            warnings: list[LineIssue] | None) -> datetime:
    interval = r.meter.interval_minutes
    if r.register:
        stamp = r.stamp if r.stamp is not None else r.end
        assert stamp is not None
        role = "timestamp" if "timestamp" in cols.index else ("date" if "date" in cols.index else "end")
        if isinstance(stamp, LocalStamp) and not stamp.has_time:
            return _day_end(stamp.wall, 1 if spec.reading_date == "end" else 0, tz)
        return _at(stamp, cols.label(role), tz, pick=pick, warnings=warnings, line=r.line)

    # Interval meter: the interval that ends at the returned time must be the meter's interval.
    if not interval:
        raise _Reject(cols.label(cols.value_role), f"meter {r.meter.meter_id} is an interval meter without "
                                                   "interval_minutes; register its interval")
    whole_days = interval % 1440 == 0
    if r.start is not None and r.end is not None:
        sl, el = cols.label("start"), cols.label("end")
        if isinstance(r.start, LocalStamp) and isinstance(r.end, LocalStamp) and not r.start.has_time \
                and not r.end.has_time:
            begin = _day_end(r.start.wall, 0, tz)
            end = _day_end(r.end.wall, 1 if inclusive else 0, tz)
            days = (r.end.wall - r.start.wall).days + (1 if inclusive else 0)
            if days <= 0:
                raise _Reject(el, f"{r.end.wall:%d-%m-%Y} is not after {sl} {r.start.wall:%d-%m-%Y}")
            if not whole_days or days != interval // 1440:
                raise _Reject(f"{sl}/{el}", f"the period is {days} day(s); meter {r.meter.meter_id} counts intervals "
                                            f"of {_interval_text(interval)} (interval_minutes {interval})")
            return end
        begin = _at(r.start, sl, tz, pick=pick, warnings=warnings, line=r.line)
        if isinstance(r.end, LocalStamp) and (pick is not None or len(local_offsets(r.end.wall, tz)) == 2) \
                and isinstance(r.start, LocalStamp):
            # In the repeated hour the end's wall time cannot say which instant: the start's instant plus the
            # period's wall-clock length can ("02:00-03:00" written twice is 00:00Z-01:00Z, then 01:00Z-02:00Z).
            end = begin + (r.end.wall - r.start.wall)
        else:
            end = _at(r.end, el, tz, pick=None, warnings=None, line=r.line)
        if end <= begin:
            raise _Reject(el, f"{iso_local(end, tz)} is not after {sl} {iso_local(begin, tz)}")
        _check_length(begin, end, interval, tz, r=r, label=f"{sl}/{el}")
        return end

    stamp = r.stamp if r.stamp is not None else r.end
    assert stamp is not None
    role = "timestamp" if "timestamp" in cols.index else ("date" if "date" in cols.index else "end")
    label = cols.label(role)
    if isinstance(stamp, LocalStamp) and not stamp.has_time:
        # A date alone is that local day's consumption.
        if interval != 1440:
            raise _Reject(label, f"a date without a time is a day's consumption; meter {r.meter.meter_id} counts "
                                 f"intervals of {_interval_text(interval)} (interval_minutes {interval})")
        return _day_end(stamp.wall, 1, tz)
    at = _at(stamp, label, tz, pick=pick, warnings=warnings, line=r.line)
    if spec.stamp_marks == "end" or r.stamp is None:
        return at
    if whole_days:  # whole days are counted in local days (docs/semantics.md): 06:00 to 06:00 the next day
        wall = at.astimezone(tz).replace(tzinfo=None) + timedelta(days=interval // 1440)
        options = local_offsets(wall, tz)
        return options[0] if options else wall.replace(tzinfo=tz).astimezone(UTC)
    return at + timedelta(minutes=interval)


def _interval_text(minutes: int) -> str:
    if minutes % 1440 == 0:
        return f"{minutes // 1440} day(s)"
    if minutes % 60 == 0:
        return f"{minutes // 60} hour(s)"
    return f"{minutes} minutes"


def _check_length(begin: datetime, end: datetime, interval: int, tz: ZoneInfo, *, r: _Row, label: str) -> None:
    if interval % 1440 == 0:
        lb, le = begin.astimezone(tz), end.astimezone(tz)
        same_clock = lb.time() == le.time()
        days = (le.date() - lb.date()).days
        if same_clock and days == interval // 1440:
            return
        length = f"{(end - begin).total_seconds() / 3600:g} hour(s)"
    else:
        if end - begin == timedelta(minutes=interval):
            return
        length = f"{(end - begin).total_seconds() / 60:g} minutes"
    raise _Reject(label, f"the period is {length}; meter {r.meter.meter_id} counts intervals of "
                         f"{_interval_text(interval)} (interval_minutes {interval})")


# -- storing ---------------------------------------------------------------------------------------------------------

StoreFn = Callable[[MeterLike, list[dict[str, Any]]], Any]


def readings_payload(mp: MeterPlan, tz: ZoneInfo) -> list[dict[str, Any]]:
    """A meter's planned readings in the wire contract's shape, oldest first."""
    return [{"ts": iso_local(r.ts, tz), "value": r.value, "unit": r.unit.value, "quality": r.quality}
            for r in sorted(mp.readings, key=lambda r: r.ts)]


def chunks(payload: list[dict[str, Any]], max_bytes: int, max_items: int = CHUNK) -> list[list[dict[str, Any]]]:
    """The readings in runs that fit one ingest message: at most `max_items`, and as a JSON array at most
    `max_bytes` (the pipeline's payload limit; a bigger message would be dead-lettered whole)."""
    out: list[list[dict[str, Any]]] = []
    cur: list[dict[str, Any]] = []
    size = 2  # the array's brackets
    for r in payload:
        n = len(orjson.dumps(r)) + 1  # and its comma
        if cur and (size + n > max_bytes or len(cur) >= max_items):
            out.append(cur)
            cur, size = [], 2
        cur.append(r)
        size += n
    if cur:
        out.append(cur)
    return out


def store_plan(plan: Plan, store: StoreFn, tz: ZoneInfo, *, max_bytes: int,
               on_error: Callable[[str, str], None] | None = None,
               progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Hand every meter's readings to `store` (the ingest pipeline) in runs that fit one ingest message
    (`chunks`); counts of what happened. One meter's failure is reported through `on_error` (meter number, message)
    and the others go on."""
    totals = {"stored": 0, "duplicate": 0, "revised": 0, "dead_lettered": 0}
    for ext, mp in sorted(plan.meters.items()):
        for chunk in chunks(readings_payload(mp, tz), max_bytes):
            try:
                stats = store(mp.meter, chunk)
            except Exception as e:
                if on_error is None:
                    raise
                on_error(ext, f"{type(e).__name__}: {e}")
                break
            totals["stored"] += int(getattr(stats, "readings_stored", 0))
            totals["duplicate"] += int(getattr(stats, "duplicates", 0))
            totals["revised"] += int(getattr(stats, "revisions", 0))
            totals["dead_lettered"] += int(getattr(stats, "dead_lettered", 0))
            if progress is not None:
                progress(len(chunk))
    return totals


