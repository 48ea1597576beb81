"""All SQL of the targets slice: targets, baselines, degree days, settings, CO2 factors, adjustments, the audit log,
the data version of the answer cache, and what the target rules read of the registry and the rollups.

Functions take a psycopg connection inside a transaction the caller owns, and return rows as plain values; the
rules (services/targets/service.py, reference.py) give them their meaning."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from services.db import PgConn
from services.registry.history import Fact, Row

TARGET_COLUMNS = ("id", "name", "metric", "building_group", "baseline_year", "target_year", "reduction_pct",
                  "description")
_TARGET_SELECT = f"SELECT {', '.join(TARGET_COLUMNS)} FROM targets"


# ---- the audit log -----------------------------------------------------------------------------------------------

def insert_audit(conn: PgConn, actor: str, action: str, subject: str, detail: dict[str, Any]) -> None:
    """One audit row; `detail` stored as JSON (values that JSON lacks, such as dates, as their text)."""
    conn.execute("INSERT INTO audit_log (actor, action, subject, detail) VALUES (%s, %s, %s, %s)",
                 [actor, action, subject, json.dumps(detail, default=str)])


def audit_rows(conn: PgConn, subject_prefix: str, limit: int) -> list[tuple[Any, ...]]:
    """(at, actor, action, subject, detail) of the audit rows whose subject is `subject_prefix` or lies under it
    (a further path segment; a prefix ending in "/", or empty, takes everything that starts with it), newest first."""
    p = subject_prefix
    return list(conn.execute(
        "SELECT at, actor, action, subject, detail FROM audit_log WHERE left(subject, length(%s)) = %s "
        "AND (%s = '' OR right(%s, 1) = '/' OR length(subject) = length(%s) "
        "OR substr(subject, length(%s) + 1, 1) = '/') ORDER BY id DESC LIMIT %s", [p, p, p, p, p, p, limit]))


# ---- targets -----------------------------------------------------------------------------------------------------

def target(conn: PgConn, target_id: str) -> dict[str, Any] | None:
    """A target's row by id (None: no such target)."""
    row = conn.execute(f"{_TARGET_SELECT} WHERE id = %s", [target_id]).fetchone()
    return None if row is None else dict(zip(TARGET_COLUMNS, row, strict=True))


def targets(conn: PgConn) -> list[dict[str, Any]]:
    """Every target's row, by id."""
    return [dict(zip(TARGET_COLUMNS, r, strict=True)) for r in conn.execute(f"{_TARGET_SELECT} ORDER BY id")]


def target_as_json(conn: PgConn, target_id: str) -> Any:
    """A target's whole row (every column) as PostgreSQL renders it to JSON, for the audit trail; None if absent."""
    row = conn.execute("SELECT row_to_json(t) FROM targets t WHERE id = %s", [target_id]).fetchone()
    return None if row is None else row[0]


def upsert_target(conn: PgConn, target_id: str, values: dict[str, Any]) -> None:
    """Insert or replace a target; `values` holds every column of TARGET_COLUMNS but the id."""
    columns = TARGET_COLUMNS[1:]
    conn.execute(
        f"INSERT INTO targets (id, {', '.join(columns)}) VALUES (%s{', %s' * len(columns)}) ON CONFLICT (id) DO "
        f"UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in columns)}, updated_at = now()",
        [target_id, *(values[c] for c in columns)])


# ---- baseline ----------------------------------------------------------------------------------------------------

def building_ids(conn: PgConn) -> set[str]:
    """The id of every registered building."""
    return {r[0] for r in conn.execute("SELECT id FROM buildings")}


def building_exists(conn: PgConn, building_id: str) -> bool:
    return conn.execute("SELECT 1 FROM buildings WHERE id = %s", [building_id]).fetchone() is not None


def _versioned_import(conn: PgConn, insert_sql: str, params: Sequence[object], copy_sql: str,
                       rows: Sequence[tuple[object, ...]]) -> int:
    """A new import version (`insert_sql` RETURNING its id) with its rows copied in behind it; its id."""
    r = conn.execute(insert_sql, params).fetchone()
    assert r is not None
    import_id = int(r[0])
    with conn.cursor() as cur, cur.copy(copy_sql) as cp:
        for row in rows:
            cp.write_row((import_id, *row))
    return import_id


def insert_baseline_import(conn: PgConn, actor: str, rows: Sequence[tuple[str, str, date, float, str]],
                           rejected: int) -> int:
    """A new baseline import version with its (building, carrier, month, kWh, source) rows; its id."""
    return _versioned_import(
        conn, "INSERT INTO baseline_imports (actor, accepted, rejected) VALUES (%s, %s, %s) RETURNING id",
        [actor, len(rows), rejected],
        "COPY baseline_entries (import_id, building_id, carrier, month, kwh, source) FROM STDIN", rows)


def current_baseline(conn: PgConn, building_ids: Sequence[str] | None, first: date, end: date
                     ) -> list[tuple[str, str, date, float, str, int]]:
    """(building, carrier, month, kWh, source, import id) of the current baseline rows (the newest import per
    building, carrier and month) of months in [first, end) and the buildings (None: all), ordered so."""
    ids = None if building_ids is None else list(building_ids)
    return [(r[0], r[1], r[2], float(r[3]), r[4], int(r[5])) for r in conn.execute(
        "SELECT building_id, carrier, month, kwh, source, import_id FROM baseline_current "
        "WHERE month >= %s AND month < %s AND (%s::text[] IS NULL OR building_id = ANY(%s)) "
        "ORDER BY building_id, carrier, month", [first, end, ids, ids])]


def baseline_imports(conn: PgConn) -> list[tuple[int, datetime, str, int, int]]:
    """(id, imported at, actor, rows accepted, rows rejected) of every baseline import, newest first."""
    return [(int(r[0]), r[1], r[2], int(r[3]), int(r[4])) for r in conn.execute(
        "SELECT id, imported_at, actor, accepted, rejected FROM baseline_imports ORDER BY id DESC")]


def _sub_as_of(instant: str) -> str:
    """SQL: is meter m a sub-meter as of `instant` (an SQL expression; its first parent row also holds before it;
    the current column where a meter has no history)."""
    return ("COALESCE((SELECT h.parent_meter_id IS NOT NULL FROM meter_parent_history h WHERE h.meter_id = m.id "
            f"ORDER BY h.valid_from <= {instant} DESC, CASE WHEN h.valid_from <= {instant} THEN h.valid_from END "
            "DESC, h.valid_from LIMIT 1), m.parent_meter_id IS NOT NULL)")


def baseline_months(conn: PgConn, building_ids: Sequence[str] | None, year: int, start: datetime, tz: str
                    ) -> list[tuple[str, str, int, int]]:
    """(building, carrier, months imported, months measured) for every building and carrier with a main meter as of
    `start` (parent history) whose imported baseline of `year` lacks months and, when nothing is imported, whose
    readings (main meters as of each month, local time zone `tz`) lack months too; ordered by building, carrier.
    Water and PV production are not energy use and never listed."""
    rows = conn.execute(
        f"""
        WITH expected AS (
            SELECT DISTINCT m.building_id, m.carrier FROM meters m
            WHERE NOT {_sub_as_of("%(start)s")} AND m.carrier NOT IN ('water', 'pv_production')
              AND (%(ids)s::text[] IS NULL OR m.building_id = ANY(%(ids)s))
        ), imported AS (
            SELECT building_id, carrier, count(*) AS months FROM baseline_current
            WHERE month >= %(a)s AND month < %(b)s GROUP BY 1, 2
        ), measured AS (
            SELECT m.building_id, m.carrier, count(DISTINCT c.month) AS months
            FROM consumption_monthly c JOIN meters m ON m.key = c.meter_key
            WHERE c.month >= %(a)s AND c.month < %(b)s
              AND NOT {_sub_as_of("(CAST(c.month AS timestamp) AT TIME ZONE %(tz)s)")} GROUP BY 1, 2
        )
        SELECT e.building_id, e.carrier, coalesce(i.months, 0), coalesce(r.months, 0)
        FROM expected e LEFT JOIN imported i USING (building_id, carrier)
        LEFT JOIN measured r USING (building_id, carrier)
        WHERE coalesce(i.months, 0) < 12 AND (i.months IS NOT NULL OR coalesce(r.months, 0) < 12)
        ORDER BY 1, 2
        """, {"ids": None if building_ids is None else list(building_ids), "a": date(year, 1, 1),
              "b": date(year + 1, 1, 1), "start": start, "tz": tz}).fetchall()
    return [(r[0], r[1], int(r[2]), int(r[3])) for r in rows]


# ---- degree days -------------------------------------------------------------------------------------------------

def insert_degree_day_import(conn: PgConn, actor: str, rows: Sequence[tuple[date, float, str]]) -> int:
    """A new degree-day import version with its (month, degree days, source) rows; its id."""
    return _versioned_import(
        conn, "INSERT INTO degree_day_imports (actor, accepted) VALUES (%s, %s) RETURNING id", [actor, len(rows)],
        "COPY degree_day_entries (import_id, month, degree_days, source) FROM STDIN", rows)


def current_degree_days(conn: PgConn, first: date, last: date) -> list[tuple[date, float, str, int]]:
    """(month, degree days, source, import id) of the newest import of each month in [first, last], by month."""
    return [(r[0], float(r[1]), r[2], int(r[3])) for r in conn.execute(
        "SELECT month, degree_days, source, import_id FROM degree_days_current "
        "WHERE month >= %s AND month <= %s ORDER BY month", [first, last])]


def degree_days_daily(conn: PgConn, first: date, last: date) -> list[tuple[date, float, str, datetime]]:
    """(day, degree days, source, fetched at) of the stored days in [first, last], by day."""
    return [(r[0], float(r[1]), r[2], r[3]) for r in conn.execute(
        "SELECT day, degree_days, source, fetched_at FROM degree_days_daily WHERE day >= %s AND day <= %s "
        "ORDER BY day", [first, last])]


# ---- settings ----------------------------------------------------------------------------------------------------

def setting(conn: PgConn, key: str) -> tuple[Any, str] | None:
    """(value as stored JSON, source) of a setting; None when it is not set."""
    row = conn.execute("SELECT value, source FROM settings WHERE key = %s", [key]).fetchone()
    return None if row is None else (row[0], row[1])


def upsert_setting(conn: PgConn, key: str, value: Any, source: str, actor: str) -> None:
    """Store a setting (`value` as JSON) with its source and who set it."""
    conn.execute(
        "INSERT INTO settings (key, value, source, actor) VALUES (%s, %s, %s, %s) ON CONFLICT (key) DO UPDATE "
        "SET value = EXCLUDED.value, source = EXCLUDED.source, actor = EXCLUDED.actor, updated_at = now()",
        [key, json.dumps(value), source, actor])


# ---- CO2 ---------------------------------------------------------------------------------------------------------

def current_co2_factors(conn: PgConn, area: str) -> list[tuple[str, int, str, float, str, str]]:
    """(carrier, year, area, kg per kWh, method, source) of the current factor of each carrier and year in `area`."""
    return [(r[0], int(r[1]), r[2], float(r[3]), r[4], r[5]) for r in conn.execute(
        "SELECT carrier, year, area, kg_per_kwh, method, source FROM co2_factors_current "
        "WHERE area = %s ORDER BY carrier, year", [area])]


def insert_co2_factor(conn: PgConn, *, carrier: str, year: int, area: str, kg_per_kwh: float, method: str,
                      source: str, actor: str) -> None:
    """A new version of a CO2 factor (the newest of a carrier, year and area is current)."""
    conn.execute("INSERT INTO co2_factors (carrier, year, area, kg_per_kwh, method, source, actor) "
                 "VALUES (%s, %s, %s, %s, %s, %s, %s)", [carrier, year, area, kg_per_kwh, method, source, actor])


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


# ---- adjustments and areas ---------------------------------------------------------------------------------------

ADJUSTMENT_COLUMNS = ("id", "building_id", "kind", "effective", "heated_area_m2", "reason", "actor", "created_at")


def adjustments(conn: PgConn, building_ids: Sequence[str] | None, first: date, last: date) -> list[dict[str, Any]]:
    """The adjustments effective from `first` to `last` of the buildings (None: all), in date order, as dicts of
    ADJUSTMENT_COLUMNS."""
    ids = None if building_ids is None else list(building_ids)
    cur = conn.execute(
        f"SELECT {', '.join(ADJUSTMENT_COLUMNS)} FROM building_adjustments "
        "WHERE effective >= %s AND effective <= %s AND (%s::text[] IS NULL OR building_id = ANY(%s)) "
        "ORDER BY effective, id", [first, last, ids, ids])
    return [dict(zip(ADJUSTMENT_COLUMNS, r, strict=True)) for r in cur]


def insert_adjustment(conn: PgConn, building_id: str, *, kind: str, effective: date, heated_area_m2: float | None,
                      reason: str, actor: str) -> tuple[int, datetime]:
    """Store an adjustment; its (id, created at)."""
    row = conn.execute(
        "INSERT INTO building_adjustments (building_id, kind, effective, heated_area_m2, reason, actor) "
        "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id, created_at",
        [building_id, kind, effective, heated_area_m2, reason, actor]).fetchone()
    assert row is not None
    return int(row[0]), row[1]


def upsert_area(conn: PgConn, building_id: str, *, valid_from: datetime, heated_area_m2: float, reason: str,
                actor: str) -> None:
    """A dated row of a building's area history (replacing one of the same instant), then the registry's current
    area from the history: the latest row dated now or earlier (else the earliest)."""
    conn.execute(
        "INSERT INTO building_area_history (building_id, valid_from, heated_area_m2, reason, recorded_by) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (building_id, valid_from) DO UPDATE "
        "SET heated_area_m2 = EXCLUDED.heated_area_m2, reason = EXCLUDED.reason, "
        "recorded_by = EXCLUDED.recorded_by, recorded_at = now()",
        [building_id, valid_from, heated_area_m2, reason, actor])
    conn.execute(
        "UPDATE buildings b SET heated_area_m2 = h.heated_area_m2, updated_at = now() FROM ("
        "  SELECT heated_area_m2 FROM building_area_history WHERE building_id = %s "
        "  ORDER BY valid_from <= now() DESC, CASE WHEN valid_from <= now() THEN valid_from END DESC, valid_from "
        "  LIMIT 1) h WHERE b.id = %s", [building_id, building_id])


def area_history(conn: PgConn, building_ids: Sequence[str]) -> list[tuple[str, datetime, float, str, str, datetime]]:
    """(building, valid from, heated m2, reason, recorded by, recorded at) of the buildings' area history rows,
    by building and valid from."""
    return [(r[0], r[1], float(r[2]), r[3], r[4], r[5]) for r in conn.execute(
        "SELECT building_id, valid_from, heated_area_m2, reason, recorded_by, recorded_at "
        "FROM building_area_history WHERE building_id = ANY(%s) ORDER BY building_id, valid_from",
        [list(building_ids)])]


def last_sold_and_added(conn: PgConn, building_ids: Sequence[str] | None) -> list[tuple[str, date | None, date | None]]:
    """(building, latest sale, latest addition) of every building with an adjustment (None: all buildings)."""
    ids = None if building_ids is None else list(building_ids)
    return [(r[0], r[1], r[2]) for r in conn.execute(
        "SELECT building_id, max(effective) FILTER (WHERE kind = 'sold'), max(effective) FILTER (WHERE kind = 'added') "
        "FROM building_adjustments WHERE (%s::text[] IS NULL OR building_id = ANY(%s)) GROUP BY 1", [ids, ids])]


# ---- what the target figures read --------------------------------------------------------------------------------

def fact_rows(conn: PgConn, fact: Fact, ids: Sequence[str]) -> dict[str, list[Row]]:
    """Dated registry history of a fact per entity, oldest first (services.registry.history)."""
    out: dict[str, list[Row]] = {}
    for r in conn.execute(f"SELECT {fact.key}, valid_from, {', '.join(fact.columns)} FROM {fact.table} "
                          f"WHERE {fact.key} = ANY(%s) ORDER BY {fact.key}, valid_from", [list(ids)]):
        out.setdefault(r[0], []).append(Row(r[1], tuple(r[2:])))
    return out


def target_buildings(conn: PgConn, building_ids: Sequence[str] | None, group: str | None
                     ) -> list[tuple[str, str, float | None, float]]:
    """(id, name, hot-water share, current heated m2) of the buildings asked for (None: all) that are or ever were
    in `group` (None: any), by id."""
    where: list[str] = ["TRUE"]
    params: list[Any] = []
    if group is not None:
        where.append("(building_group = %s OR EXISTS (SELECT 1 FROM building_group_history g "
                     "WHERE g.building_id = buildings.id AND g.building_group = %s))")
        params += [group, group]
    if building_ids is not None:
        where.append("id = ANY(%s)")
        params.append(list(building_ids))
    return [(r[0], r[1], r[2], r[3]) for r in conn.execute(
        f"SELECT id, name, hot_water_share, heated_area_m2 FROM buildings WHERE {' AND '.join(where)} ORDER BY id",
        params)]


def area_rows(conn: PgConn, building_ids: Sequence[str]) -> list[tuple[str, datetime, float]]:
    """(building, valid from, heated m2) of the buildings' area history, in no particular order."""
    return [(r[0], r[1], float(r[2])) for r in conn.execute(
        "SELECT building_id, valid_from, heated_area_m2 FROM building_area_history WHERE building_id = ANY(%s)",
        [list(building_ids)])]


def portfolio_events(conn: PgConn, building_ids: Sequence[str]) -> list[tuple[str, str, date]]:
    """(building, 'added' or 'sold', effective) of the buildings' portfolio adjustments, in date order."""
    return [(r[0], r[1], r[2]) for r in conn.execute(
        "SELECT building_id, kind, effective FROM building_adjustments WHERE building_id = ANY(%s) "
        "AND kind IN ('added', 'sold') ORDER BY effective, id", [list(building_ids)])]


def meters_of(conn: PgConn, building_ids: Sequence[str]
              ) -> list[tuple[int, str, str, str, bool, datetime | None, datetime | None]]:
    """(key, id, building, carrier, is a sub-meter now, active from, active to) of the buildings' meters."""
    return [(int(r[0]), r[1], r[2], r[3], bool(r[4]), r[5], r[6]) for r in conn.execute(
        "SELECT key, id, building_id, carrier, parent_meter_id IS NOT NULL, active_from, active_to FROM meters "
        "WHERE building_id = ANY(%s)", [list(building_ids)])]


def meter_carriers(conn: PgConn) -> list[tuple[int, str, str]]:
    """(key, building, carrier) of every meter."""
    return [(int(r[0]), r[1], r[2]) for r in conn.execute("SELECT key, building_id, carrier FROM meters")]


def monthly_rollups(conn: PgConn, meter_keys: Sequence[int], months: Sequence[date]
                    ) -> list[tuple[int, date, float, float, float]]:
    """(meter key, month, amount, measured seconds, estimated amount) of the monthly rollup rows of the meters in
    the given months (first days). Fetched at once: at 2,000 buildings, ~150,000 rows a year range."""
    rows: list[tuple[int, date, float, float, float]] = conn.execute(
        "SELECT meter_key, month, amount, measured_s, estimated FROM consumption_monthly "
        "WHERE meter_key = ANY(%s) AND month >= %s AND month <= %s AND month = ANY(%s)",
        [list(meter_keys), min(months), max(months), list(months)]).fetchall()
    return rows


def baseline_kwh(conn: PgConn, building_ids: Sequence[str], first: date, end: date
                 ) -> list[tuple[str, str, date, float]]:
    """(building, carrier, month, kWh) of the current imported baseline of the buildings in [first, end)."""
    return [(r[0], r[1], r[2], float(r[3])) for r in conn.execute(
        "SELECT building_id, carrier, month, kwh FROM baseline_current WHERE building_id = ANY(%s) "
        "AND month >= %s AND month < %s", [list(building_ids), first, end])]


# ---- the answer cache's data version (migration 0014) ------------------------------------------------------------

def data_version(conn: PgConn, years: Sequence[int], months: Sequence[date] = ()
                 ) -> tuple[int, datetime, tuple[int, ...], tuple[int, ...]]:
    """(the version of everything not dated, the epoch of the version table, each year's version in the order of
    `years`, each month's version in the order of `months` (first days; migration 0016))."""
    row = conn.execute(
        "SELECT (SELECT sum(v)::bigint FROM targets_data_version), (SELECT min(epoch) FROM targets_data_version), "
        "(SELECT array_agg(coalesce(s, 0) ORDER BY y) FROM unnest(%s::int[]) y "
        " LEFT JOIN LATERAL (SELECT sum(v)::bigint AS s FROM targets_year_version WHERE year = y) t ON TRUE), "
        "(SELECT array_agg(coalesce(s, 0) ORDER BY n) FROM unnest(%s::date[]) WITH ORDINALITY u(m, n) "
        " LEFT JOIN LATERAL (SELECT sum(v)::bigint AS s FROM targets_month_version WHERE month = u.m) t ON TRUE)",
        [list(years), list(months)]).fetchone()
    assert row is not None
    return int(row[0]), row[1], tuple(row[2] or ()), tuple(row[3] or ())
