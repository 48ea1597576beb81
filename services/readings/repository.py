"""SQL for storing readings and luminaire telemetry. The caller owns the transaction.

Readings take a fast path: one binary COPY straight into the hypertable inside a savepoint. Only when that hits the
unique key (a redelivered message, a revision, a duplicate inside the batch) does the batch go through a staging table
and INSERT ... ON CONFLICT, which stores duplicates once and keeps changed values as revisions. Measured on this
machine, the plain COPY is about 1.6x the rate of staging + ON CONFLICT (shared/reference/ingest-measurements.md).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from services.db import PgConn

# (meter_key, ts, value, quality, source). Enum columns receive their label: the binary form of text.
ReadingRow = tuple[int, datetime, float, str, str]
# (luminaire_key, ts, power_w, energy_wh, dim_pct, is_on, burn_hours, failure)
TelemetryRow = tuple[int, datetime, float | None, float | None, float | None, bool | None, float | None, bool | None]

# Readings are encoded for binary COPY by hand: one struct.pack per row instead of psycopg's per-value dumpers, which
# took as long as validating the JSON (bench/ingest_bench.py profile).
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_ROW_HEAD = struct.Struct(">hiiiqid")  # 5 fields; int4 meter_key; int8 µs since 2000; float8 value
_TEXT_FIELDS: dict[tuple[str, str], bytes] = {}


def _text_fields(quality: str, source: str) -> bytes:
    b = _TEXT_FIELDS.get((quality, source))
    if b is None:
        q, src = quality.encode(), source.encode()
        b = _TEXT_FIELDS[(quality, source)] = struct.pack(">i", len(q)) + q + struct.pack(">i", len(src)) + src
    return b


def encode_rows(rows: Sequence[ReadingRow]) -> bytes:
    """Rows as tuples of PostgreSQL's binary COPY format (without the stream's header and trailer)."""
    pack = _ROW_HEAD.pack
    epoch, us = _PG_EPOCH, _ONE_US
    tails = _TEXT_FIELDS
    return b"".join([
        pack(5, 4, key, 8, (ts - epoch) // us, 8, value)
        + (tails.get((quality, source)) or _text_fields(quality, source))
        for key, ts, value, quality, source in rows
    ])


_TELEMETRY_TYPES = ["int4", "timestamptz", "float8", "float8", "float8", "bool", "float8", "bool"]

_STAGING_DDL = """
CREATE TEMP TABLE IF NOT EXISTS readings_staging (
    meter_key integer, ts timestamptz, value double precision, quality reading_quality, source reading_source
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS telemetry_staging (
    luminaire_key integer, ts timestamptz, power_w double precision, energy_wh double precision,
    dim_pct double precision, is_on boolean, burn_hours double precision, failure boolean
) ON COMMIT DELETE ROWS;
"""

# Data-modifying CTEs share one snapshot: `old` sees the values as they were before `up` changed them.
# The ts range lets TimescaleDB exclude chunks at plan time.
_UPSERT_READINGS = """
WITH s AS (SELECT meter_key, ts, value, quality, source FROM readings_staging),
old AS (
    SELECT r.meter_key, r.ts, r.value, r.quality
    FROM readings r JOIN s USING (meter_key, ts)
    WHERE r.ts BETWEEN %(ts_min)s AND %(ts_max)s
),
up AS (
    INSERT INTO readings AS r (meter_key, ts, value, quality, source)
    SELECT meter_key, ts, value, quality, source FROM s
    ON CONFLICT (meter_key, ts) DO UPDATE
        SET value = EXCLUDED.value, quality = EXCLUDED.quality, source = EXCLUDED.source, received_at = now()
        -- a new value, or the same value with a new quality (an estimate later confirmed as measured): a revision
        WHERE r.value IS DISTINCT FROM EXCLUDED.value OR r.quality IS DISTINCT FROM EXCLUDED.quality
    RETURNING r.meter_key, r.ts, r.value, r.quality, r.source
),
rev AS (
    INSERT INTO reading_revisions (meter_key, ts, old_value, new_value, old_quality, new_quality, source)
    SELECT up.meter_key, up.ts, old.value, up.value, old.quality, up.quality, up.source
    FROM up JOIN old USING (meter_key, ts)
    RETURNING 1
)
SELECT up.meter_key, up.ts, old.meter_key IS NOT NULL FROM up LEFT JOIN old USING (meter_key, ts)
"""

_UPSERT_TELEMETRY = """
WITH s AS (
    SELECT DISTINCT ON (luminaire_key, ts) * FROM telemetry_staging
),
up AS (
    INSERT INTO luminaire_telemetry AS t
        (luminaire_key, ts, power_w, energy_wh, dim_pct, is_on, burn_hours, failure)
    SELECT luminaire_key, ts, power_w, energy_wh, dim_pct, is_on, burn_hours, failure FROM s
    ON CONFLICT (luminaire_key, ts) DO UPDATE
        SET power_w = EXCLUDED.power_w, energy_wh = EXCLUDED.energy_wh, dim_pct = EXCLUDED.dim_pct,
            is_on = EXCLUDED.is_on, burn_hours = EXCLUDED.burn_hours, failure = EXCLUDED.failure,
            received_at = now()
        WHERE (t.power_w, t.energy_wh, t.dim_pct, t.is_on, t.burn_hours, t.failure)
              IS DISTINCT FROM
              (EXCLUDED.power_w, EXCLUDED.energy_wh, EXCLUDED.dim_pct, EXCLUDED.is_on, EXCLUDED.burn_hours,
               EXCLUDED.failure)
    RETURNING t.luminaire_key, t.ts, (xmax = 0) AS inserted
)
SELECT luminaire_key, ts, inserted FROM up
"""


# What became of one row: new, already stored with the same value, or a changed value for a stored key.
INSERTED, DUPLICATE, REVISED = 0, 1, 2


@dataclass
class StoreResult:
    inserted: int = 0
    duplicates: int = 0
    revisions: int = 0
    # per row of the input, in its order; None when every row was new (the fast path)
    statuses: list[int] | None = None

    def statuses_of(self, lo: int, hi: int) -> list[int]:
        """The statuses of input rows lo..hi-1."""
        if hi <= lo:
            return []
        return [INSERTED] if self.statuses is None else self.statuses[lo:hi]


def _statuses(rows: Sequence[tuple[object, ...]], indices: Sequence[int], written: dict[tuple[object, object], bool],
              out: list[int], result: StoreResult) -> None:
    """Row statuses from what an upsert wrote: {(key, ts): was_revised}; rows not written were duplicates."""
    for i in indices:
        w = written.pop((rows[i][0], rows[i][1]), None)  # a key repeated in the input: the first takes the status
        if w is None:
            result.duplicates += 1
        elif w:
            out[i] = REVISED
            result.revisions += 1
        else:
            out[i] = INSERTED
            result.inserted += 1


def ensure_staging(conn: PgConn) -> None:
    """Create this session's temporary staging tables (once per connection)."""
    conn.execute(_STAGING_DDL)


def _copy_readings(conn: PgConn, table: str, rows: Sequence[ReadingRow]) -> None:
    with conn.cursor() as cur, cur.copy(
        f"COPY {table} (meter_key, ts, value, quality, source) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.write(_COPY_HEADER + encode_rows(rows) + _COPY_TRAILER)


def _copy(conn: PgConn, statement: str, types: list[str],
          rows: Sequence[tuple[object, ...]] | Sequence[ReadingRow] | Sequence[TelemetryRow]) -> None:
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def store_readings(conn: PgConn, rows: Sequence[ReadingRow]) -> StoreResult:
    """Store readings once per (meter, ts); a changed value for a stored key becomes a revision with history.

    Rows are in arrival order; when one batch holds the same key more than once, the occurrences are applied in
    order, exactly as if they had arrived in separate batches.
    """

    def fill(sink: Callable[[list[ReadingRow]], None]) -> None:
        sink(list(rows))

    return store_readings_streamed(conn, fill) if rows else StoreResult()


def store_readings_streamed(conn: PgConn, fill: Callable[[Callable[[list[ReadingRow]], None]], None]) -> StoreResult:
    """Like store_readings, for rows produced while the COPY is open: `fill(sink)` calls `sink(rows)` repeatedly.

    The database stores the first rows while the caller still produces the next ones. `fill` must not use the
    connection (it is busy with the COPY).
    """
    rows: list[ReadingRow] = []
    try:
        with conn.transaction(), conn.cursor() as cur, cur.copy(
            "COPY readings (meter_key, ts, value, quality, source) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.write(_COPY_HEADER)

            def sink(batch: list[ReadingRow]) -> None:
                rows.extend(batch)
                copy.write(encode_rows(batch))

            fill(sink)
            copy.write(_COPY_TRAILER)
        return StoreResult(inserted=len(rows))
    except psycopg.errors.UniqueViolation:
        pass  # the savepoint is rolled back; take the deduplicating path below
    return _store_deduplicating(conn, rows)


def _store_deduplicating(conn: PgConn, rows: list[ReadingRow]) -> StoreResult:
    ensure_staging(conn)
    rounds: list[list[int]] = []  # indices into rows
    seen: dict[tuple[int, datetime], int] = {}
    for i, row in enumerate(rows):
        key = (row[0], row[1])
        n = seen.get(key, 0)
        seen[key] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(i)

    result = StoreResult(statuses=[DUPLICATE] * len(rows))
    assert result.statuses is not None
    for indices in rounds:
        batch = [rows[i] for i in indices]
        conn.execute("TRUNCATE readings_staging")
        _copy_readings(conn, "readings_staging", batch)
        ts_values = [r[1] for r in batch]
        cur = conn.execute(_UPSERT_READINGS, {"ts_min": min(ts_values), "ts_max": max(ts_values)})
        written = {(k, ts): bool(rev) for k, ts, rev in cur.fetchall()}
        _statuses(rows, indices, written, result.statuses, result)
    return result


def store_telemetry(conn: PgConn, rows: Sequence[TelemetryRow]) -> StoreResult:
    """Store luminaire telemetry once per (luminaire, ts); a changed sample replaces the stored one."""
    if not rows:
        return StoreResult()
    conn.execute("TRUNCATE telemetry_staging")
    _copy(conn, "COPY telemetry_staging FROM STDIN (FORMAT BINARY)", _TELEMETRY_TYPES, rows)
    cur = conn.execute(_UPSERT_TELEMETRY)
    # DISTINCT ON keeps one sample per key: every row of a key shares that key's status
    written = {(k, ts): not inserted for k, ts, inserted in cur.fetchall()}
    result = StoreResult(statuses=[DUPLICATE] * len(rows))
    assert result.statuses is not None
    _statuses(rows, range(len(rows)), written, result.statuses, result)
    return result


HeatRow = tuple[int, datetime, float | None, float | None, float | None, float | None]


def store_heat(conn: PgConn, rows: Sequence[HeatRow]) -> None:
    """Flow/return temperatures, power and volume flow of heat meters; a repeated sample replaces the stored one."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO heat_telemetry (meter_key, ts, flow_c, return_c, power_kw, volume_flow_m3h) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (meter_key, ts) DO UPDATE SET flow_c = EXCLUDED.flow_c, "
            "return_c = EXCLUDED.return_c, power_kw = EXCLUDED.power_kw, volume_flow_m3h = EXCLUDED.volume_flow_m3h",
            rows)

