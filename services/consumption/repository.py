"""SQL of the consumption rollups: dirty ranges, readings around them, and replacing rollup rows. Caller owns the
transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from services.consumption.coverage import ActiveSpan, GapStep
from services.consumption.engine import Decision, Exchange, Reading, Segment
from services.db import PgConn


@dataclass(frozen=True)
class MeterFacts:
    key: int
    carrier: str
    unit: str
    mode: str
    interval_minutes: int | None
    kwh_per_unit: float | None
    max_power_kw: float | None
    active_from: datetime | None = None  # the meter counts in [active_from, active_to); None: open on that side
    active_to: datetime | None = None


def mark_dirty(conn: PgConn, ranges: Sequence[tuple[int, datetime, datetime]]) -> None:
    if ranges:
        # one statement for the whole batch (in the given order): the statement triggers of migration 0014 (the
        # target answers' data versions) then run once per batch instead of once per range
        conn.execute("INSERT INTO rollup_dirty (meter_key, ts_from, ts_to) "
                     "SELECT r.meter_key, r.ts_from, r.ts_to "
                     "FROM unnest(%s::integer[], %s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY "
                     "AS r(meter_key, ts_from, ts_to, n) ORDER BY n",
                     [[r[0] for r in ranges], [r[1] for r in ranges], [r[2] for r in ranges]])


def lock_meters(conn: PgConn, keys: Sequence[int]) -> None:
    """Serialise rollup work per meter until the end of the transaction (callers pass keys in ascending order)."""
    for key in keys:
        conn.execute("SELECT pg_advisory_xact_lock(20261127, %s)", [key])


def claim_dirty(conn: PgConn, limit: int) -> list[tuple[int, datetime, datetime, int]]:
    """Take (and delete) up to `limit` dirty ranges that are due, as (meter_key, ts_from, ts_to, attempts);
    concurrent workers take different ones. A range that failed before waits until its `not_before`."""
    cur = conn.execute(
        "DELETE FROM rollup_dirty WHERE id IN "
        "(SELECT id FROM rollup_dirty WHERE not_before IS NULL OR not_before <= now() "
        " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) "
        "RETURNING meter_key, ts_from, ts_to, attempts",
        [limit],
    )
    return list(cur.fetchall())


def requeue_dirty(conn: PgConn, key: int, ts_from: datetime, ts_to: datetime, *, attempts: int,
                  retry_in: timedelta, error: str) -> None:
    """Put back a range whose recomputation failed, to be retried after `retry_in` (other meters go on)."""
    conn.execute(
        "INSERT INTO rollup_dirty (meter_key, ts_from, ts_to, attempts, not_before, last_error) "
        "VALUES (%s, %s, %s, %s, now() + %s, %s)",
        [key, ts_from, ts_to, attempts, retry_in, error.replace("\x00", "\\0")[:2000]])


def meter_facts(conn: PgConn, keys: Sequence[int]) -> dict[int, MeterFacts]:
    cur = conn.execute(
        "SELECT key, carrier, unit, mode, interval_minutes, kwh_per_unit, max_power_kw, active_from, active_to "
        "FROM meters "
        "WHERE key = ANY(%s)", [list(keys)])
    return {r[0]: MeterFacts(*r) for r in cur.fetchall()}


def exchanges(conn: PgConn, key: int) -> list[Exchange]:
    cur = conn.execute(
        "SELECT e.ts, e.old_final, e.new_initial FROM meter_exchanges e JOIN meters m ON m.id = e.meter_id "
        "WHERE m.key = %s ORDER BY e.ts", [key])
    return [Exchange(*r) for r in cur.fetchall()]


# The nearest reading before or after a time is looked for in widening windows: an unbounded search makes the planner
# consider every chunk of the readings hypertable (hundreds, for years of history), a bounded one only a few.
_WINDOWS = (timedelta(days=2), timedelta(days=62), timedelta(days=800), None)


def _nearest(conn: PgConn, key: int, at: datetime, *, before: bool, inclusive: bool = False
             ) -> tuple[datetime, float, str] | None:
    op = ("<=" if inclusive else "<") if before else (">=" if inclusive else ">")
    order = "DESC" if before else "ASC"
    for w in _WINDOWS:
        bound = "" if w is None else (" AND ts >= %(lo)s" if before else " AND ts < %(hi)s")
        row = conn.execute(
            f"SELECT ts, value, quality::text FROM readings WHERE meter_key = %(k)s AND ts {op} %(at)s{bound} "
            f"ORDER BY ts {order} LIMIT 1",
            {"k": key, "at": at, "lo": at - w if w else None, "hi": at + w if w else None}).fetchone()
        if row is not None:
            return row[0], float(row[1]), row[2]
    return None


def last_reading_ts(conn: PgConn, key: int, at: datetime) -> datetime | None:
    """The time of the meter's last reading at or before `at`."""
    found = _nearest(conn, key, at, before=True, inclusive=True)
    return found[0] if found else None


def neighbours(conn: PgConn, key: int, ts_from: datetime, ts_to: datetime) -> tuple[datetime | None, datetime | None]:
    """The timestamps of the second reading before ts_from and the second after ts_to (or the nearest, when there is
    only one): a reading changes the judgement of its neighbours (engine._single_outliers), and so the steps out to
    theirs."""
    prev = _nearest(conn, key, ts_from, before=True)
    if prev is not None:
        prev = _nearest(conn, key, prev[0], before=True) or prev
    nxt = _nearest(conn, key, ts_to, before=False)
    if nxt is not None:
        nxt = _nearest(conn, key, nxt[0], before=False) or nxt
    return (prev[0] if prev else None), (nxt[0] if nxt else None)


def readings_around(conn: PgConn, key: int, start: datetime, end: datetime) -> list[Reading]:
    """Readings in [start, end) plus two before start and two at or after end, oldest first: every reading whose
    step reaches into the window is then judged with both of its neighbours."""
    cur = conn.execute("SELECT ts, value, quality::text FROM readings WHERE meter_key = %s AND ts >= %s AND ts < %s "
                       "ORDER BY ts", [key, start, end])
    out = [Reading(ts, value, quality) for ts, value, quality in cur.fetchall()]
    prev = _nearest(conn, key, start, before=True)
    if prev is not None:
        out.insert(0, Reading(*prev))
        prev2 = _nearest(conn, key, prev[0], before=True)
        if prev2 is not None:
            out.insert(0, Reading(*prev2))
    nxt = _nearest(conn, key, end, before=False, inclusive=True)
    if nxt is not None:
        out.append(Reading(*nxt))
        nxt2 = _nearest(conn, key, nxt[0], before=False)
        if nxt2 is not None:
            out.append(Reading(*nxt2))
    return out


def span(conn: PgConn, key: int) -> tuple[datetime, datetime] | None:
    row = conn.execute("SELECT min(ts), max(ts) FROM readings WHERE meter_key = %s", [key]).fetchone()
    return (row[0], row[1]) if row and row[0] is not None else None


def spans(conn: PgConn, keys: Sequence[int]) -> dict[int, tuple[datetime, datetime]]:
    """(first, last) reading time of each of the meters that has readings, in one statement: two probes of the
    (meter_key, ts) primary key per meter. (Each statement on the readings hypertable is planned over all its chunks,
    about 0.1 s for years of weekly chunks: per meter, that was most of a rebuild's time.)"""
    cur = conn.execute(
        "SELECT m.key, f.ts, l.ts FROM unnest(%s::integer[]) AS m(key) "
        "CROSS JOIN LATERAL (SELECT ts FROM readings r WHERE r.meter_key = m.key ORDER BY ts LIMIT 1) f "
        "CROSS JOIN LATERAL (SELECT ts FROM readings r WHERE r.meter_key = m.key ORDER BY ts DESC LIMIT 1) l",
        [list(keys)])
    return {r[0]: (r[1], r[2]) for r in cur.fetchall()}


def replace_rollups(
    conn: PgConn,
    key: int,
    *,
    start: datetime,
    end: datetime,
    day_from: date,
    day_to: date,
    hourly: Sequence[tuple[datetime, float, float, float]],
    daily: Sequence[tuple[date, float, float, float]],
    gaps: Sequence[GapStep] = (),
    long: Sequence[Segment] = (),
) -> None:
    """Replace the meter's hourly rows in [start, end), daily rows in [day_from, day_to] and gap and long steps
    starting in [start, end). The caller refreshes the months (service._refresh_months)."""
    # one round trip for the four deletes (this runs for every meter the rollups recompute)
    conn.execute(
        "WITH h AS (DELETE FROM consumption_hourly WHERE meter_key = %(k)s AND hour >= %(s)s AND hour < %(e)s), "
        "g AS (DELETE FROM consumption_gap_steps WHERE meter_key = %(k)s AND step_start >= %(s)s "
        "      AND step_start < %(e)s), "
        "l AS (DELETE FROM consumption_long_steps WHERE meter_key = %(k)s AND step_start >= %(s)s "
        "      AND step_start < %(e)s) "
        "DELETE FROM consumption_daily WHERE meter_key = %(k)s AND day >= %(d0)s AND day <= %(d1)s",
        {"k": key, "s": start, "e": end, "d0": day_from, "d1": day_to})
    with conn.cursor() as cur:
        if hourly:
            with cur.copy("COPY consumption_hourly (meter_key, hour, amount, measured_s, estimated) FROM STDIN") as cp:
                for h in hourly:
                    cp.write_row((key, *h))
        if daily:
            with cur.copy("COPY consumption_daily (meter_key, day, amount, measured_s, estimated) FROM STDIN") as cp:
                for d in daily:
                    cp.write_row((key, *d))
        if gaps:
            cur.executemany("INSERT INTO consumption_gap_steps (meter_key, step_start, step_end, amount) "
                            "VALUES (%s, %s, %s, %s)", [(key, g.start, g.end, g.amount) for g in gaps])
        if long:
            with cur.copy("COPY consumption_long_steps (meter_key, step_start, step_end, amount, interpolated, "
                          "estimated) FROM STDIN") as cp:
                for sg in long:
                    cp.write_row((key, sg.start, sg.end, sg.kwh, sg.interpolated, sg.estimated))


def daily_rows(conn: PgConn, key: int, day_from: date, day_to: date) -> list[tuple[date, float, float, float]]:
    """The meter's daily rows (day, amount, measured_s, estimated) for days in [day_from, day_to)."""
    cur = conn.execute("SELECT day, amount, measured_s, estimated FROM consumption_daily "
                       "WHERE meter_key = %s AND day >= %s AND day < %s ORDER BY day", [key, day_from, day_to])
    return list(cur.fetchall())


def sum_months(conn: PgConn, key: int, m0: date, m1: date) -> None:
    """Replace the meter's monthly rows for months in [m0, m1) by the sums of their daily rows (no gap step lies in
    them, so nothing moves from estimated to measured)."""
    # two statements: rows a statement deletes still hold their keys for its own inserts
    conn.execute("DELETE FROM consumption_monthly WHERE meter_key = %s AND month >= %s AND month < %s", [key, m0, m1])
    conn.execute(
        "INSERT INTO consumption_monthly (meter_key, month, amount, measured_s, estimated) "
        "SELECT meter_key, date_trunc('month', day)::date, sum(amount), sum(measured_s), sum(estimated) "
        "FROM consumption_daily WHERE meter_key = %s AND day >= %s AND day < %s GROUP BY 1, 2", [key, m0, m1])


def replace_months(conn: PgConn, key: int, m0: date, m1: date,
                   months: Sequence[tuple[date, float, float, float]]) -> None:
    """Replace the meter's monthly rows for months in [m0, m1) (first days of months)."""
    conn.execute("DELETE FROM consumption_monthly WHERE meter_key = %s AND month >= %s AND month < %s", [key, m0, m1])
    if months:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO consumption_monthly (meter_key, month, amount, measured_s, estimated) "
                            "VALUES (%s, %s, %s, %s, %s)", [(key, *m) for m in months])


def gap_steps_within(conn: PgConn, keys: Sequence[int], start: datetime, end: datetime) -> list[GapStep]:
    """The meters' stored gap steps lying wholly inside [start, end)."""
    cur = conn.execute(
        "SELECT meter_key, step_start, step_end, amount FROM consumption_gap_steps "
        "WHERE meter_key = ANY(%s) AND step_start >= %s AND step_end <= %s ORDER BY step_start",
        [list(keys), start, end])
    return [GapStep(*r) for r in cur.fetchall()]


def long_steps_reaching(conn: PgConn, keys: Sequence[int], start: datetime, end: datetime) -> list[Segment]:
    """The meters' steps too long for the hourly rollup that reach into [start, end), summed over the meters by
    the caller."""
    cur = conn.execute(
        "SELECT step_start, step_end, amount, interpolated, estimated FROM consumption_long_steps "
        "WHERE tstzrange(step_start, step_end) && tstzrange(%s, %s) AND meter_key = ANY(%s)",
        [start, end, list(keys)])
    return [Segment(*r) for r in cur.fetchall()]


def active_spans(conn: PgConn, keys: Sequence[int]) -> dict[int, ActiveSpan]:
    """Each meter's active span [active_from, active_to) (None: open on that side)."""
    cur = conn.execute("SELECT key, active_from, active_to FROM meters WHERE key = ANY(%s)", [list(keys)])
    return {r[0]: (r[1], r[2]) for r in cur.fetchall()}


def delete_rollups(conn: PgConn, key: int) -> None:
    for table in ("consumption_hourly", "consumption_daily", "consumption_monthly", "consumption_gap_steps",
                  "consumption_long_steps"):
        conn.execute(f"DELETE FROM {table} WHERE meter_key = %s", [key])


def replace_decisions(conn: PgConn, key: int, start: datetime, end: datetime, decisions: Sequence[Decision]) -> None:
    conn.execute("DELETE FROM consumption_decisions WHERE meter_key = %s AND ts >= %s AND ts < %s",
                 [key, start, end])
    if decisions:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO consumption_decisions (meter_key, ts, kind, value, reference, detail) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (meter_key, ts, kind) DO NOTHING",
                [(key, d.ts, d.kind, d.value, d.reference, d.detail) for d in decisions],
            )


_ENERGY_TOTAL_CARRIERS = ["electricity", "district_heating", "natural_gas", "oil", "ev_charging", "heat_pump"]


def meters_for_totals(conn: PgConn, building_ids: Sequence[str] | None, carrier: str | None) -> list[int]:
    """Keys of the meters a total counts now: no sub-meters; one carrier, or every energy carrier (never water,
    never PV production, which is shown beside consumption)."""
    carriers = [carrier] if carrier else _ENERGY_TOTAL_CARRIERS
    if building_ids is None:
        cur = conn.execute("SELECT key FROM meters WHERE parent_meter_id IS NULL AND carrier = ANY(%s)", [carriers])
    else:
        cur = conn.execute("SELECT key FROM meters WHERE parent_meter_id IS NULL AND carrier = ANY(%s) "
                           "AND building_id = ANY(%s)", [carriers, list(building_ids)])
    return [r[0] for r in cur.fetchall()]


@dataclass(frozen=True)
class TotalsMembership:
    """The meters a total counts, as of each time (the meter-parent history, services/registry/history.py): `keys`
    every meter that is a main meter at some time; `partial` those that are not always, with the spans
    [from, to) in which they are (None: open on that side)."""

    keys: list[int]
    partial: dict[int, list[ActiveSpan]]


def totals_membership(conn: PgConn, building_ids: Sequence[str] | None, carrier: str | None) -> TotalsMembership:
    """Which meters a total counts when: like meters_for_totals, but from the dated parent history, so a meter that
    became a sub-meter on 1 January still counts in the years before (as /progress counts it)."""
    carriers = [carrier] if carrier else _ENERGY_TOTAL_CARRIERS
    cur = conn.execute(
        "SELECT m.key, m.parent_meter_id IS NULL, h.valid_from, h.parent_meter_id IS NULL FROM meters m "
        "LEFT JOIN meter_parent_history h ON h.meter_id = m.id "
        "WHERE m.carrier = ANY(%s) AND (%s::text[] IS NULL OR m.building_id = ANY(%s)) "
        "ORDER BY m.key, h.valid_from",
        [carriers, None if building_ids is None else list(building_ids),
         None if building_ids is None else list(building_ids)])
    history: dict[int, list[tuple[datetime, bool]]] = {}
    main_now: dict[int, bool] = {}
    for key, is_main, valid_from, was_main in cur.fetchall():
        main_now[key] = is_main
        if valid_from is not None:
            history.setdefault(key, []).append((valid_from, was_main))
    keys: list[int] = []
    partial: dict[int, list[ActiveSpan]] = {}
    for key, is_main in main_now.items():
        rows = history.get(key)
        if not rows:  # no history: the current parent holds for all time
            if is_main:
                keys.append(key)
            continue
        spans = _main_spans(rows)
        if spans == [(None, None)]:
            keys.append(key)
        elif spans:
            keys.append(key)
            partial[key] = spans
    return TotalsMembership(keys, partial)


def _main_spans(rows: Sequence[tuple[datetime, bool]]) -> list[ActiveSpan]:
    """The spans in which a meter is a main meter, from its dated (valid_from, is_main) rows (oldest first; the
    first row holds since always, as the history's first row does)."""
    spans: list[ActiveSpan] = []
    for i, (_, is_main) in enumerate(rows):
        if not is_main:
            continue
        lo = None if i == 0 else rows[i][0]
        hi = rows[i + 1][0] if i + 1 < len(rows) else None
        if spans and spans[-1][1] == lo:
            spans[-1] = (spans[-1][0], hi)
        else:
            spans.append((lo, hi))
    return spans


def daily_sums(conn: PgConn, keys: Sequence[int], day_from: date, day_to: date) -> list[tuple[date, float, float,
                                                                                             float]]:
    """(day, amount, measured_s, estimated) summed over the meters, for days in [day_from, day_to)."""
    cur = conn.execute(
        "SELECT day, sum(amount), sum(measured_s), sum(estimated) FROM consumption_daily "
        "WHERE meter_key = ANY(%s) AND day >= %s AND day < %s GROUP BY day ORDER BY day",
        [list(keys), day_from, day_to])
    return list(cur.fetchall())


def monthly_sums(conn: PgConn, keys: Sequence[int], month_from: date, month_to: date) -> list[
        tuple[date, float, float, float]]:
    """(first day of month, amount, measured_s, estimated) summed over the meters, for months in [from, to)."""
    cur = conn.execute(
        "SELECT month, sum(amount), sum(measured_s), sum(estimated) FROM consumption_monthly "
        "WHERE meter_key = ANY(%s) AND month >= %s AND month < %s GROUP BY month ORDER BY month",
        [list(keys), month_from, month_to])
    return list(cur.fetchall())


def hourly_sums(conn: PgConn, keys: Sequence[int], start: datetime, end: datetime) -> list[tuple[datetime, float,
                                                                                                float, float]]:
    cur = conn.execute(
        "SELECT hour, sum(amount), sum(measured_s), sum(estimated) FROM consumption_hourly "
        "WHERE meter_key = ANY(%s) AND hour >= %s AND hour < %s GROUP BY hour ORDER BY hour",
        [list(keys), start, end])
    return list(cur.fetchall())


def decisions(conn: PgConn, key: int) -> list[Decision]:
    cur = conn.execute("SELECT ts, kind, value, reference, detail FROM consumption_decisions "
                       "WHERE meter_key = %s ORDER BY ts", [key])
    return [Decision(*r) for r in cur.fetchall()]


def add_exchange(conn: PgConn, meter_id: str, key: int, ts: datetime, old_final: float | None,  # noqa: PLR0917
                 new_initial: float | None, note: str | None) -> None:
    """Record a declared meter exchange (replacing one at the same time) and mark the rollups around it dirty."""
    conn.execute(
        "INSERT INTO meter_exchanges (meter_id, ts, old_final, new_initial, note) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (meter_id, ts) DO UPDATE SET old_final = EXCLUDED.old_final, "
        "new_initial = EXCLUDED.new_initial, note = EXCLUDED.note",
        [meter_id, ts, old_final, new_initial, note])
    mark_dirty(conn, [(key, ts, ts)])


# --- Freshness: what the rollups do not count yet -------------------------------------------------------------------

@dataclass(frozen=True)
class PendingSpan:
    """Time whose rollups of one meter are not current: readings stored but not yet recomputed. `start` is the
    reading before the earliest pending one (a new reading changes the step back to its predecessor), `end` the
    reading after the latest; `since` is when the oldest of its dirty ranges was recorded."""

    meter_key: int
    start: datetime
    end: datetime
    since: datetime


# Neighbours are looked for within these windows, in one statement of bounded subqueries each (few chunks to plan);
# a pending reading with no neighbour within the last window counts from itself (documented approximation).
_PENDING_WINDOWS = (timedelta(days=2), timedelta(days=62))


# Look-ups of neighbours are grouped by time: each group's statement part bounds the readings by constants too, so the
# planner opens only the chunks of that stretch of time (correlated look-ups alone would plan every chunk).
_NEIGHBOUR_GROUP = timedelta(days=7)


def _neighbours(conn: PgConn, todo: Sequence[tuple[int, int, datetime, bool]], window: timedelta
                ) -> list[tuple[int, bool, datetime | None]]:
    """For each (n, meter key, instant, after) the meter's latest reading before the instant within `window`, or
    (after) its earliest reading after it within `window`: (n, after, ts or None), in one statement."""
    parts: list[str] = []
    params: list[Any] = []
    for after in (False, True):
        side = sorted((t for t in todo if t[3] == after), key=lambda t: t[2])
        groups: list[list[tuple[int, int, datetime, bool]]] = []
        for t in side:
            if not groups or t[2] - groups[-1][0][2] > _NEIGHBOUR_GROUP:
                groups.append([])
            groups[-1].append(t)
        for g in groups:
            first, last = g[0][2], g[-1][2]
            if after:
                look = ("min(r.ts) FROM readings r WHERE r.meter_key = u.k AND r.ts > u.at AND r.ts <= u.at + %s "
                        "AND r.ts > %s AND r.ts <= %s")
                params += [window, first, last + window]
            else:
                look = ("max(r.ts) FROM readings r WHERE r.meter_key = u.k AND r.ts < u.at AND r.ts >= u.at - %s "
                        "AND r.ts >= %s AND r.ts < %s")
                params += [window, first - window, last]
            parts.append(f"SELECT u.n, {after}, (SELECT {look}) "
                         "FROM unnest(%s::int[], %s::int[], %s::timestamptz[]) u(n, k, at)")
            params += [[t[0] for t in g], [t[1] for t in g], [t[2] for t in g]]
    if not parts:
        return []
    return [(int(r[0]), bool(r[1]), r[2]) for r in conn.execute(" UNION ALL ".join(parts), params).fetchall()]


def pending_meter_keys(conn: PgConn) -> set[int]:
    """The meters with time not yet recomputed (a dirty range): few, the rollups take them within a second."""
    return {int(r[0]) for r in conn.execute("SELECT DISTINCT meter_key FROM rollup_dirty")}


def pending_spans(conn: PgConn, keys: Sequence[int]) -> list[PendingSpan]:
    """The meters' time not yet recomputed: their dirty ranges (failed ones waiting for a retry included), merged per
    meter where they overlap, each widened to the readings on either side."""
    if not keys:
        return []
    islands = conn.execute(
        "WITH d AS (SELECT meter_key, ts_from, ts_to, created_at, max(ts_to) OVER ("
        "    PARTITION BY meter_key ORDER BY ts_from, ts_to ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach "
        "  FROM rollup_dirty WHERE meter_key = ANY(%s)), "
        "i AS (SELECT *, count(*) FILTER (WHERE reach IS NULL OR ts_from > reach) OVER ("
        "    PARTITION BY meter_key ORDER BY ts_from, ts_to ROWS UNBOUNDED PRECEDING) AS island FROM d) "
        "SELECT i.meter_key, min(i.ts_from), max(i.ts_to), min(i.created_at), m.mode, m.interval_minutes "
        "FROM i JOIN meters m ON m.key = i.meter_key GROUP BY i.meter_key, i.island, m.mode, m.interval_minutes",
        [list(keys)]).fetchall()
    if not islands:
        return []
    prev: dict[int, datetime] = {}
    nxt: dict[int, datetime] = {}
    for window in _PENDING_WINDOWS:
        todo = [(n, key, lo, False) for n, (key, lo, *_rest) in enumerate(islands) if n not in prev] + [
            (n, key, hi, True) for n, (key, _lo, hi, *_rest) in enumerate(islands) if n not in nxt]
        if not todo:
            break
        for n, after, ts in _neighbours(conn, todo, window):
            if ts is not None:
                (nxt if after else prev)[n] = ts
    out = []
    for n, (key, lo, hi, since, mode, interval_minutes) in enumerate(islands):
        start = prev.get(n, lo)
        if mode == "interval":  # a reading covers the interval before it
            start = min(start, lo - timedelta(minutes=interval_minutes or 60))
        out.append(PendingSpan(key, start, nxt.get(n, hi), since))
    return out


def rollup_backlog(conn: PgConn) -> tuple[int, int, float | None]:
    """(pending ranges, of them waiting after a failed attempt, age in seconds of the oldest) of every meter."""
    row = conn.execute("SELECT count(*), count(*) FILTER (WHERE attempts > 0), "
                       "extract(epoch FROM now() - min(created_at))::float8 FROM rollup_dirty").fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), (float(row[2]) if row[2] is not None else None)


def meter_keys(conn: PgConn, meter_ids: Sequence[str] | None) -> dict[str, int]:
    """The key of each of these meters that exists (None: of every meter), by meter id."""
    if meter_ids is None:
        return {r[0]: r[1] for r in conn.execute("SELECT id, key FROM meters")}
    return {r[0]: r[1] for r in conn.execute("SELECT id, key FROM meters WHERE id = ANY(%s)", [list(meter_ids)])}

