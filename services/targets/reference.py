"""Reference data behind the targets: baseline and degree-day imports, the normal year, CO2 factors, targets,
non-routine adjustments. Every change is versioned or audit-logged with the actor.

Imports are row by row: valid rows are accepted, every other row is reported with its line, field and reason.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from services.db import PgConn
from services.errors import ValidationFailed
from services.registry.schemas import Carrier

T = TypeVar("T")
DATA = Path(__file__).resolve().parent / "data"
NORMAL_YEAR_KEY = "normal_year"
DEFAULT_SHARE_KEY = "default_hot_water_share"
DEFAULT_HOT_WATER_SHARE = 0.25


def read_data_file(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def data_file_source(name: str) -> str:
    """The comment block at the top of a shipped data file: where its numbers come from."""
    with (DATA / name).open(encoding="utf-8") as f:
        return " ".join(line[1:].strip() for line in f if line.startswith("#"))


def audit(conn: PgConn, actor: str, action: str, subject: str, detail: dict[str, Any]) -> None:
    conn.execute("INSERT INTO audit_log (actor, action, subject, detail) VALUES (%s, %s, %s, %s)",
                 [actor, action, subject, json.dumps(detail, default=str)])


def audit_entries(conn: PgConn, subject_prefix: str, limit: int = 500) -> list[dict[str, Any]]:
    """Audit rows whose subject is `subject_prefix` or lies under it: "buildings/b1" gives buildings/b1 and
    buildings/b1/adjustments but not buildings/b10; a prefix ending in "/" (or empty) gives everything under it."""
    p = subject_prefix
    cur = conn.execute("SELECT at, actor, action, subject, detail FROM audit_log WHERE left(subject, length(%s)) = %s "
                       "AND (%s = '' OR right(%s, 1) = '/' OR length(subject) = length(%s) "
                       "OR substr(subject, length(%s) + 1, 1) = '/') ORDER BY id DESC LIMIT %s",
                       [p, p, p, p, p, p, limit])
    return [{"at": r[0], "actor": r[1], "action": r[2], "subject": r[3], "detail": r[4]} for r in cur]


# ---- CSV imports -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rejected:
    line: int
    field: str
    message: str


@dataclass
class ImportOutcome:
    import_id: int | None = None
    accepted: int = 0
    rejected: list[Rejected] = field(default_factory=list)


def _rows(text: str, required: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise ValidationFailed("header", f"missing column(s) {', '.join(missing)}; expected {','.join(required)}")
    reader.fieldnames = header
    return [(reader.line_num, {k: (v or "").strip() for k, v in row.items() if k is not None})
            for row in reader if any((v or "").strip() for v in row.values() if isinstance(v, str))]


def parse_month(value: str) -> date:
    try:
        y, m = value.split("-")
        if len(y) != 4 or len(m) != 2:
            raise ValueError
        d = date(int(y), int(m), 1)
    except ValueError:
        raise ValueError(f"{value!r} is not a month YYYY-MM (e.g. 2015-01)") from None
    if not 1990 <= d.year <= 2100:
        raise ValueError(f"{value!r} is outside the years 1990-2100")
    return d


def _number(value: str, what: str) -> float:
    try:
        x = float(value.replace(",", ".")) if value.count(",") == 1 and "." not in value else float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None
    if not math.isfinite(x):
        raise ValueError(f"{what} must be a finite number")
    if x < 0:
        raise ValueError(f"{what} must not be negative")
    return x


BASELINE_COLUMNS = ("building_id", "carrier", "month", "kwh", "source")


def import_baseline(conn: PgConn, text: str, actor: str) -> ImportOutcome:
    """Store the valid rows of a baseline CSV as a new import version; report the others."""
    rows = _rows(text, BASELINE_COLUMNS)
    known = {r[0] for r in conn.execute("SELECT id FROM buildings")}
    out, good, seen = ImportOutcome(), [], set()
    for line, row in rows:
        try:
            bid = row["building_id"]
            if bid not in known:
                raise _Bad("building_id", f"building {bid!r} is not registered")
            try:
                carrier = Carrier(row["carrier"])
            except ValueError:
                raise _Bad("carrier", f"{row['carrier']!r} is not one of {', '.join(c.value for c in Carrier)}"
                           ) from None
            if carrier == Carrier.water:
                raise _Bad("carrier", "water is not energy; the baseline is kWh")
            month = _parsed("month", parse_month, row["month"])
            kwh = _parsed("kwh", _number, row["kwh"], "kwh")
            if not row["source"]:
                raise _Bad("source", "say where the number comes from (e.g. 'invoice 2015', 'EMO export')")
            key = (bid, carrier.value, month)
            if key in seen:
                raise _Bad("month", f"{bid} {carrier.value} {row['month']} appears twice in the file")
            seen.add(key)
            good.append((bid, carrier.value, month, kwh, row["source"][:500]))
        except _Bad as b:
            out.rejected.append(Rejected(line, b.field, b.message))
    if good:
        r = conn.execute("INSERT INTO baseline_imports (actor, accepted, rejected) VALUES (%s, %s, %s) RETURNING id",
                         [actor, len(good), len(out.rejected)]).fetchone()
        assert r is not None
        out.import_id = int(r[0])
        with conn.cursor() as cur, cur.copy(
                "COPY baseline_entries (import_id, building_id, carrier, month, kwh, source) FROM STDIN") as cp:
            for g in good:
                cp.write_row((out.import_id, *g))
        audit(conn, actor, "import", "baseline", {"import_id": out.import_id, "accepted": len(good),
                                                  "rejected": len(out.rejected),
                                                  "buildings": sorted({g[0] for g in good})})
    out.accepted = len(good)
    return out


class _Bad(Exception):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


def _parsed(field_name: str, parse: Callable[..., T], *args: str) -> T:
    """parse(*args), a ValueError becoming the row's rejection for `field_name`."""
    try:
        return parse(*args)
    except ValueError as e:
        raise _Bad(field_name, str(e)) from None


DEGREE_DAY_COLUMNS = ("month", "degree_days", "source")


def import_degree_days(conn: PgConn, text: str, actor: str, audit_detail: dict[str, Any] | None = None
                       ) -> ImportOutcome:
    """Store the valid rows of a degree-day CSV as a new import version; report the others. `audit_detail` adds to
    the audit entry (the DMI connector names its source and the old and new value of each month changed)."""
    rows = _rows(text, DEGREE_DAY_COLUMNS)
    out, good, seen = ImportOutcome(), [], set()
    for line, row in rows:
        try:
            month = _parsed("month", parse_month, row["month"])
            gd = _parsed("degree_days", _number, row["degree_days"], "degree_days")
            if gd > 1000:
                raise _Bad("degree_days", f"{gd} degree days in one month is not plausible (base 17 °C)")
            if not row["source"]:
                raise _Bad("source", "say where the number comes from (e.g. 'DMI station 06181')")
            if month in seen:
                raise _Bad("month", f"{row['month']} appears twice in the file")
            seen.add(month)
            good.append((month, gd, row["source"][:500]))
        except _Bad as b:
            out.rejected.append(Rejected(line, b.field, b.message))
    if good:
        r = conn.execute("INSERT INTO degree_day_imports (actor, accepted) VALUES (%s, %s) RETURNING id",
                         [actor, len(good)]).fetchone()
        assert r is not None
        out.import_id = int(r[0])
        with conn.cursor() as cur, cur.copy(
                "COPY degree_day_entries (import_id, month, degree_days, source) FROM STDIN") as cp:
            for g in good:
                cp.write_row((out.import_id, *g))
        audit(conn, actor, "import", "degree_days", {"import_id": out.import_id, "accepted": len(good),
                                                     "months": [g[0].isoformat()[:7] for g in good],
                                                     **(audit_detail or {})})
    out.accepted = len(good)
    return out


def current_degree_days(conn: PgConn, first: date, last: date) -> list[dict[str, Any]]:
    """The current actual degree days of the months in [first, last] (newest import), with the normal year's value."""
    cur = conn.execute("SELECT month, degree_days, source, import_id FROM degree_days_current "
                       "WHERE month >= %s AND month <= %s ORDER BY month", [first, last])
    normal = normal_year(conn)
    return [{"month": r[0].isoformat()[:7], "degree_days": r[1], "normal": normal.degree_days[r[0].month - 1],
             "source": r[2], "import_id": r[3]} for r in cur]


def degree_days(conn: PgConn, first: date, last: date) -> dict[date, float]:
    """Actual degree days per month in [first, last] (first days of months)."""
    cur = conn.execute("SELECT month, degree_days FROM degree_days_current WHERE month >= %s AND month <= %s",
                       [first, last])
    return {r[0]: float(r[1]) for r in cur}


@dataclass(frozen=True)
class DailyDegreeDays:
    day: date
    degree_days: float
    source: str
    fetched_at: datetime


def degree_days_daily(conn: PgConn, first: date, last: date) -> list[DailyDegreeDays]:
    """Daily degree days in [first, last] (DMI connector, complete days only: services/connectors/dmi.py)."""
    return [DailyDegreeDays(r[0], float(r[1]), r[2], r[3]) for r in conn.execute(
        "SELECT day, degree_days, source, fetched_at FROM degree_days_daily WHERE day >= %s AND day <= %s "
        "ORDER BY day", [first, last])]


# ---- settings ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NormalYear:
    degree_days: tuple[float, ...]  # January .. December
    source: str
    is_default: bool


def default_normal_year() -> NormalYear:
    rows = read_data_file("normal_year.csv")
    values = tuple(float(r["degree_days"]) for r in sorted(rows, key=lambda r: int(r["month"])))
    return NormalYear(values, data_file_source("normal_year.csv"), True)


def normal_year(conn: PgConn) -> NormalYear:
    row = conn.execute("SELECT value, source FROM settings WHERE key = %s", [NORMAL_YEAR_KEY]).fetchone()
    if row is None:
        return default_normal_year()
    return NormalYear(tuple(float(x) for x in row[0]), row[1], False)


def set_setting(conn: PgConn, key: str, value: Any, source: str, actor: str) -> None:
    old = conn.execute("SELECT value, source FROM settings WHERE key = %s", [key]).fetchone()
    conn.execute(
        "INSERT INTO settings (key, value, source, actor) VALUES (%s, %s, %s, %s) ON CONFLICT (key) DO UPDATE "
        "SET value = EXCLUDED.value, source = EXCLUDED.source, actor = EXCLUDED.actor, updated_at = now()",
        [key, json.dumps(value), source, actor])
    audit(conn, actor, "set", f"settings/{key}", {"old": None if old is None else {"value": old[0], "source": old[1]},
                                                  "new": {"value": value, "source": source}})


def default_hot_water_share(conn: PgConn) -> tuple[float, str]:
    row = conn.execute("SELECT value, source FROM settings WHERE key = %s", [DEFAULT_SHARE_KEY]).fetchone()
    if row is None:
        return DEFAULT_HOT_WATER_SHARE, "Energiblik default (PRODUCT.md: 0.25)"
    return float(row[0]), str(row[1])


# ---- CO2 factors -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Factor:
    carrier: str
    year: int
    area: str
    kg_per_kwh: float
    method: str
    source: str


def co2_factors(conn: PgConn, area: str = "DK2") -> dict[str, list[Factor]]:
    """Current factors per carrier, by year."""
    cur = conn.execute("SELECT carrier, year, area, kg_per_kwh, method, source FROM co2_factors_current "
                       "WHERE area = %s ORDER BY carrier, year", [area])
    out: dict[str, list[Factor]] = {}
    for r in cur:
        out.setdefault(r[0], []).append(Factor(r[0], r[1], r[2], float(r[3]), r[4], r[5]))
    return out


def add_co2_factor(conn: PgConn, f: Factor, actor: str) -> None:
    conn.execute("INSERT INTO co2_factors (carrier, year, area, kg_per_kwh, method, source, actor) "
                 "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                 [f.carrier, f.year, f.area, f.kg_per_kwh, f.method, f.source, actor])
    audit(conn, actor, "add", f"co2_factors/{f.carrier}/{f.year}/{f.area}",
          {"kg_per_kwh": f.kg_per_kwh, "method": f.method, "source": f.source})


def electric_meters(conn: PgConn, building_ids: Sequence[str]) -> list[tuple[int, str, str, str, bool]]:
    """(key, id, building, carrier, is a sub-meter now) of the buildings' meters whose kWh are grid electricity."""
    return [(int(r[0]), r[1], r[2], r[3], bool(r[4])) for r in conn.execute(
        "SELECT key, id, building_id, carrier, parent_meter_id IS NOT NULL FROM meters "
        "WHERE building_id = ANY(%s) AND carrier IN ('electricity', 'heat_pump', 'ev_charging')",
        [list(building_ids)])]


def hourly_electricity_by_day(conn: PgConn, meter_keys: Sequence[int], span: tuple[datetime, datetime], *,
                              area: str, method: str, tz: str) -> list[tuple[int, date, float, float]]:
    """Per meter and local day in [start, end): (key, day, kWh of the hours with a stored CO2 intensity for `area`
    and `method`, their grams: sum of kWh_h * g/kWh_h). One pass over the hourly rollup (150 meters, one year with
    every hour covered: 2.1 s on the shared 2-core machine at load average 7; /co2 asks only for the hours the
    intensity covers, so a baseline year before the dataset costs nothing). An hourly row's `hour` is the hour's
    start, as is an intensity's `ts`."""
    return [(int(r[0]), r[1], float(r[2]), float(r[3])) for r in conn.execute(
        "SELECT h.meter_key, (h.hour AT TIME ZONE %s)::date, sum(h.amount), sum(h.amount * i.g_per_kwh) "
        "FROM consumption_hourly h JOIN co2_intensity_hourly i ON i.area = %s AND i.method = %s AND i.ts = h.hour "
        "WHERE h.meter_key = ANY(%s) AND h.hour >= %s AND h.hour < %s GROUP BY 1, 2",
        [tz, area, method, list(meter_keys), span[0], span[1]])]


def co2_intensity_span(conn: PgConn, area: str, method: str) -> tuple[datetime | None, datetime | None, int]:
    """First and last stored hour of the hourly intensity and how many hours are stored."""
    r = conn.execute("SELECT min(ts), max(ts), count(*) FROM co2_intensity_hourly WHERE area = %s AND method = %s",
                     [area, method]).fetchone()
    assert r is not None
    return r[0], r[1], int(r[2])
