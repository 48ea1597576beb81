"""Reference data behind the targets: baseline and degree-day imports, the normal year, CO2 factors, targets,
non-routine adjustments. Every change is versioned or audit-logged with the actor.

Imports are row by row: valid rows are accepted, every other row is reported with its line, field and reason.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from services.db import PgConn
from services.errors import ValidationFailed
from services.registry.schemas import Carrier
from services.targets import repository as repo
from services.targets.schemas import NormalYearSettingOut

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
    """Record who changed what (the audit log), `detail` saying how."""
    repo.insert_audit(conn, actor, action, subject, detail)


def audit_entries(conn: PgConn, subject_prefix: str, limit: int = 500) -> list[dict[str, Any]]:
    """Audit rows whose subject is `subject_prefix` or lies under it: "buildings/b1" gives buildings/b1 and
    buildings/b1/adjustments but not buildings/b10; a prefix ending in "/" (or empty) gives everything under it."""
    return [{"at": r[0], "actor": r[1], "action": r[2], "subject": r[3], "detail": r[4]}
            for r in repo.audit_rows(conn, subject_prefix, limit)]


# ---- baseline ----------------------------------------------------------------------------------------------------

def current_baseline(conn: PgConn, building_ids: Sequence[str] | None, year: int) -> list[dict[str, Any]]:
    """The current baseline rows of a year (newest import per building, carrier and month) of the buildings (None:
    all), the month as YYYY-MM."""
    return [{"building_id": r[0], "carrier": r[1], "month": r[2].isoformat()[:7], "kwh": r[3], "source": r[4],
             "import_id": r[5]}
            for r in repo.current_baseline(conn, building_ids, date(year, 1, 1), date(year + 1, 1, 1))]


def baseline_imports(conn: PgConn) -> list[dict[str, Any]]:
    """Every baseline import version, newest first: when, by whom, rows accepted and rejected."""
    return [{"import_id": r[0], "imported_at": r[1], "actor": r[2], "accepted": r[3], "rejected": r[4]}
            for r in repo.baseline_imports(conn)]


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
    known = repo.building_ids(conn)
    out, seen = ImportOutcome(), set()
    good: list[tuple[str, str, date, float, str]] = []
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
        out.import_id = repo.insert_baseline_import(conn, actor, good, len(out.rejected))
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
    out, seen = ImportOutcome(), set()
    good: list[tuple[date, float, str]] = []
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
        out.import_id = repo.insert_degree_day_import(conn, actor, good)
        audit(conn, actor, "import", "degree_days", {"import_id": out.import_id, "accepted": len(good),
                                                     "months": [g[0].isoformat()[:7] for g in good],
                                                     **(audit_detail or {})})
    out.accepted = len(good)
    return out


def current_degree_days(conn: PgConn, first: date, last: date) -> list[dict[str, Any]]:
    """The current actual degree days of the months in [first, last] (newest import), with the normal year's value."""
    rows = repo.current_degree_days(conn, first, last)
    normal = normal_year(conn)
    return [{"month": r[0].isoformat()[:7], "degree_days": r[1], "normal": normal.degree_days[r[0].month - 1],
             "source": r[2], "import_id": r[3]} for r in rows]


def degree_days(conn: PgConn, first: date, last: date) -> dict[date, float]:
    """Actual degree days per month in [first, last] (first days of months)."""
    return {r[0]: r[1] for r in repo.current_degree_days(conn, first, last)}


@dataclass(frozen=True)
class DailyDegreeDays:
    day: date
    degree_days: float
    source: str
    fetched_at: datetime


def degree_days_daily(conn: PgConn, first: date, last: date) -> list[DailyDegreeDays]:
    """Daily degree days in [first, last] (DMI connector, complete days only: services/connectors/dmi.py)."""
    return [DailyDegreeDays(*r) for r in repo.degree_days_daily(conn, first, last)]


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


def normal_year_out(n: NormalYear) -> NormalYearSettingOut:
    """A normal year as the API answers it, with its total."""
    return NormalYearSettingOut(source=n.source, degree_days=list(n.degree_days),
                                total=round(sum(n.degree_days), 1), default=n.is_default)


def normal_year(conn: PgConn) -> NormalYear:
    """The normal year weather correction uses: the stored setting, else the shipped default."""
    row = repo.setting(conn, NORMAL_YEAR_KEY)
    if row is None:
        return default_normal_year()
    return NormalYear(tuple(float(x) for x in row[0]), row[1], False)


def set_setting(conn: PgConn, key: str, value: Any, source: str, actor: str) -> None:
    """Store a setting with its source; audit-logged with the value before and after."""
    old = repo.setting(conn, key)
    repo.upsert_setting(conn, key, value, source, actor)
    audit(conn, actor, "set", f"settings/{key}", {"old": None if old is None else {"value": old[0], "source": old[1]},
                                                  "new": {"value": value, "source": source}})


def set_normal_year(conn: PgConn, degree_days: Sequence[float], source: str, actor: str) -> NormalYear:
    """Set the normal year (12 monthly degree days, base 17 °C, each 0-1000, some above 0) with its source;
    audit-logged. The normal year now in force."""
    for i, v in enumerate(degree_days):
        if not 0 <= v <= 1000:
            raise ValidationFailed(f"degree_days.{i}", "must be between 0 and 1000")
    if sum(degree_days) <= 0:
        raise ValidationFailed("degree_days", "a normal year needs some degree days")
    set_setting(conn, NORMAL_YEAR_KEY, list(degree_days), source, actor)
    return normal_year(conn)


def default_hot_water_share(conn: PgConn) -> tuple[float, str]:
    """(the default weather-independent share of heat, its source): the stored setting, else 0.25."""
    row = repo.setting(conn, DEFAULT_SHARE_KEY)
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
    out: dict[str, list[Factor]] = {}
    for r in repo.current_co2_factors(conn, area):
        out.setdefault(r[0], []).append(Factor(*r))
    return out


def add_co2_factor(conn: PgConn, f: Factor, actor: str) -> None:
    """A new version of a CO2 factor; audit-logged."""
    repo.insert_co2_factor(conn, carrier=f.carrier, year=f.year, area=f.area, kg_per_kwh=f.kg_per_kwh,
                           method=f.method, source=f.source, actor=actor)
    audit(conn, actor, "add", f"co2_factors/{f.carrier}/{f.year}/{f.area}",
          {"kg_per_kwh": f.kg_per_kwh, "method": f.method, "source": f.source})


# the hourly CO2 figures of the reports slice (services/reports/service.py) read these through this module
electric_meters = repo.electric_meters
hourly_electricity_by_day = repo.hourly_electricity_by_day
co2_intensity_span = repo.co2_intensity_span
