"""All SQL of the connectors: runs, cursors, unmapped metering points, and each source's own tables (its section)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from psycopg.types.json import Jsonb

from services.db import PgConn

RUN_COLUMNS = ("id, source, trigger, actor, started_at, finished_at, status, stored, duplicate, revised, rejected, "
               "errors, message, detail")


def _run_dicts(cur: Any) -> list[dict[str, Any]]:
    names = [c.name for c in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def try_lock(conn: PgConn, source: str) -> bool:
    """One run per source at a time, across processes (session-level advisory lock)."""
    row = conn.execute("SELECT pg_try_advisory_lock(hashtext('energiblik.sync.' || %s))", [source]).fetchone()
    return bool(row and row[0])


def unlock(conn: PgConn, source: str) -> None:
    conn.execute("SELECT pg_advisory_unlock(hashtext('energiblik.sync.' || %s))", [source])


def close_interrupted(conn: PgConn, source: str) -> int:
    """Runs still 'running' while we hold the source's lock ended with their process: say so."""
    cur = conn.execute(
        "UPDATE sync_runs SET status = 'failed', finished_at = now(), message = 'interrupted: the process ended "
        "during the run; nothing after its last committed step was stored' WHERE source = %s AND status = 'running'",
        [source])
    return cur.rowcount


def start_run(conn: PgConn, source: str, trigger: str, actor: str) -> int:
    row = conn.execute("INSERT INTO sync_runs (source, trigger, actor) VALUES (%s, %s, %s) RETURNING id",
                       [source, trigger, actor]).fetchone()
    assert row is not None
    return int(row[0])


def save_run(conn: PgConn, run_id: int, *, status: str, stored: int, duplicate: int, revised: int, rejected: int,
             errors: int, message: str | None, detail: dict[str, Any], finished: bool) -> None:
    conn.execute(
        "UPDATE sync_runs SET status = %s, stored = %s, duplicate = %s, revised = %s, rejected = %s, errors = %s, "
        "message = %s, detail = %s, finished_at = CASE WHEN %s THEN now() END WHERE id = %s",
        [status, stored, duplicate, revised, rejected, errors, message, Jsonb(detail), finished, run_id])


def run(conn: PgConn, run_id: int) -> dict[str, Any] | None:
    rows = _run_dicts(conn.execute(f"SELECT {RUN_COLUMNS} FROM sync_runs WHERE id = %s", [run_id]))
    return rows[0] if rows else None


def runs(conn: PgConn, source: str, limit: int) -> list[dict[str, Any]]:
    return _run_dicts(conn.execute(
        f"SELECT {RUN_COLUMNS} FROM sync_runs WHERE source = %s ORDER BY started_at DESC, id DESC LIMIT %s",
        [source, limit]))


def last_runs(conn: PgConn) -> dict[str, dict[str, Any]]:
    rows = _run_dicts(conn.execute(
        f"SELECT DISTINCT ON (source) {RUN_COLUMNS} FROM sync_runs ORDER BY source, started_at DESC, id DESC"))
    return {r["source"]: r for r in rows}


def get_cursor(conn: PgConn, source: str, key: str) -> datetime | None:
    row = conn.execute("SELECT cursor FROM sync_cursors WHERE source = %s AND key = %s", [source, key]).fetchone()
    return row[0] if row else None


def set_cursor(conn: PgConn, source: str, key: str, cursor: datetime, detail: dict[str, Any] | None) -> None:
    conn.execute(
        "INSERT INTO sync_cursors (source, key, cursor, detail) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (source, key) DO UPDATE SET cursor = EXCLUDED.cursor, detail = EXCLUDED.detail, "
        "updated_at = now()", [source, key, cursor, Jsonb(detail or {})])


def cursors(conn: PgConn, source: str, prefix: str) -> dict[str, datetime]:
    rows = conn.execute("SELECT key, cursor FROM sync_cursors WHERE source = %s AND starts_with(key, %s)",
                        [source, prefix]).fetchall()
    return {r[0]: r[1] for r in rows}


def delete_cursor(conn: PgConn, source: str, key: str) -> None:
    conn.execute("DELETE FROM sync_cursors WHERE source = %s AND key = %s", [source, key])


def record_unmapped(conn: PgConn, source: str, external_id: str, detail: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO sync_unmapped (source, external_id, detail) VALUES (%s, %s, %s) "
        "ON CONFLICT (source, external_id) DO UPDATE SET last_seen = now(), detail = EXCLUDED.detail",
        [source, external_id, Jsonb(detail)])


_UNMAPPED = """
SELECT u.source, u.external_id, u.first_seen, u.last_seen, u.detail FROM sync_unmapped u
WHERE NOT EXISTS (SELECT 1 FROM meters m WHERE m.external_id = u.external_id)
"""


def unmapped(conn: PgConn, source: str | None, limit: int) -> list[dict[str, Any]]:
    """Delivered ids that still have no meter (one registered since drops out of the list by itself)."""
    if source is None:
        return _run_dicts(conn.execute(_UNMAPPED + " ORDER BY u.source, u.external_id LIMIT %s", [limit]))
    return _run_dicts(conn.execute(_UNMAPPED + " AND u.source = %s ORDER BY u.external_id LIMIT %s",
                                   [source, limit]))


def unmapped_counts(conn: PgConn) -> dict[str, int]:
    rows = conn.execute(f"SELECT source, count(*) FROM ({_UNMAPPED}) x GROUP BY source").fetchall()
    return {r[0]: int(r[1]) for r in rows}


def report_schedule(conn: PgConn, rows: list[tuple[str, bool, str | None, datetime | None]], reporter: str) -> None:
    """The scheduler's view of each source: (source, enabled, problem, next run)."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO sync_schedule (source, enabled, problem, next_run, reporter) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (source) DO UPDATE SET enabled = EXCLUDED.enabled, problem = EXCLUDED.problem, "
            "next_run = EXCLUDED.next_run, reported_at = now(), reporter = EXCLUDED.reporter",
            [(*r, reporter) for r in rows])


def schedule(conn: PgConn) -> dict[str, dict[str, Any]]:
    rows = _run_dicts(conn.execute("SELECT source, enabled, problem, next_run, reported_at, reporter "
                                   "FROM sync_schedule"))
    return {r["source"]: r for r in rows}


def meters_by_external_id(conn: PgConn) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT external_id, id, building_id, unit, mode, interval_minutes, active_from, active_to FROM meters "
        "WHERE external_id IS NOT NULL").fetchall()


# -- eloverblik --


# -- utility --


# -- dmi --

def dmi_upsert_days(conn: PgConn, days: Sequence[tuple[date, float]], source: str, fetched_at: datetime,
                    tolerance: float) -> tuple[int, int, list[tuple[date, float, float]]]:
    """Store complete daily degree days: (new days, days unchanged, [(day, old, new)] of days whose value changed).
    An unchanged day is not touched (its source and fetched_at stay those of the retrieval that stored it)."""
    if not days:
        return 0, 0, []
    current = {r[0]: float(r[1]) for r in conn.execute(
        "SELECT day, degree_days FROM degree_days_daily WHERE day = ANY(%s)", [[d for d, _ in days]])}
    new = [(d, v) for d, v in days if d not in current]
    changed = [(d, current[d], v) for d, v in days if d in current and abs(current[d] - v) > tolerance]
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO degree_days_daily (day, degree_days, source, fetched_at) VALUES (%s, %s, %s, %s) "
                        "ON CONFLICT (day) DO UPDATE SET degree_days = EXCLUDED.degree_days, "
                        "source = EXCLUDED.source, fetched_at = EXCLUDED.fetched_at",
                        [(d, v, source, fetched_at) for d, v in new] + [(d, v, source, fetched_at)
                                                                        for d, _, v in changed])
    return len(new), len(days) - len(new) - len(changed), changed


# -- energidataservice --

def eds_upsert_intensity(conn: PgConn, rows: Sequence[Any], source: str, fetched_at: datetime,
                         tolerance: float) -> tuple[int, int, int]:
    """Store hourly intensities (objects with area, ts, method, g_per_kwh): (new, unchanged, revised). A changed
    value is updated and its old value kept in co2_intensity_revisions; an unchanged hour is not touched."""
    if not rows:
        return 0, 0, 0
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS _co2_in (area text, ts timestamptz, method text, "
                 "g_per_kwh double precision) ON COMMIT DROP")
    conn.execute("TRUNCATE _co2_in")
    with conn.cursor() as cur, cur.copy("COPY _co2_in (area, ts, method, g_per_kwh) FROM STDIN") as cp:
        for r in rows:
            cp.write_row((r.area, r.ts, r.method, r.g_per_kwh))
    revised = conn.execute(
        "WITH d AS (SELECT DISTINCT ON (i.area, i.method, i.ts) i.*, c.g_per_kwh AS old FROM _co2_in i "
        "JOIN co2_intensity_hourly c USING (area, method, ts) WHERE abs(c.g_per_kwh - i.g_per_kwh) > %s "
        "ORDER BY i.area, i.method, i.ts), "
        "rev AS (INSERT INTO co2_intensity_revisions (area, ts, method, old_g_per_kwh, new_g_per_kwh) "
        "SELECT area, ts, method, old, g_per_kwh FROM d) "
        "UPDATE co2_intensity_hourly c SET g_per_kwh = d.g_per_kwh, source = %s, fetched_at = %s FROM d "
        "WHERE c.area = d.area AND c.method = d.method AND c.ts = d.ts",
        [tolerance, source, fetched_at]).rowcount
    new = conn.execute(
        "INSERT INTO co2_intensity_hourly (area, ts, method, g_per_kwh, source, fetched_at) "
        "SELECT DISTINCT ON (area, method, ts) area, ts, method, g_per_kwh, %s, %s FROM _co2_in "
        "ORDER BY area, method, ts ON CONFLICT (area, method, ts) DO NOTHING", [source, fetched_at]).rowcount
    return new, len(rows) - new - revised, revised
