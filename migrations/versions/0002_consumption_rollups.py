"""Consumption: hourly and local-daily rollups, counter decisions, declared meter exchanges, dirty ranges.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = """
-- The meter's physical maximum: a step whose average power exceeds it is a spike, flagged and excluded.
ALTER TABLE meters ADD COLUMN max_power_kw double precision CHECK (max_power_kw > 0);

CREATE TABLE meter_exchanges (
    id          bigserial PRIMARY KEY,
    meter_id    text NOT NULL REFERENCES meters(id) ON DELETE CASCADE,
    ts          timestamptz NOT NULL,
    old_final   double precision,
    new_initial double precision,
    note        text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (meter_id, ts)
);

-- Rollups are derived data: `energiblik rollups rebuild` recomputes them from readings with identical numbers.
-- `amount` is kWh for energy carriers and m3 for water. measured_s: seconds backed by measured data;
-- estimated: the part of `amount` that was interpolated over a gap or came from estimated readings.
CREATE TABLE consumption_hourly (
    meter_key  integer NOT NULL,
    hour       timestamptz NOT NULL,
    amount     double precision NOT NULL,
    measured_s double precision NOT NULL,
    estimated  double precision NOT NULL,
    PRIMARY KEY (meter_key, hour)
);
SELECT create_hypertable('consumption_hourly', 'hour', chunk_time_interval => interval '90 days',
                         create_default_indexes => false);

-- Local (Europe/Copenhagen) days: 23, 24 or 25 hours long (period_s).
CREATE TABLE consumption_daily (
    meter_key  integer NOT NULL,
    day        date NOT NULL,
    amount     double precision NOT NULL,
    measured_s double precision NOT NULL,
    estimated  double precision NOT NULL,
    PRIMARY KEY (meter_key, day)
);
CREATE INDEX consumption_daily_day_idx ON consumption_daily (day, meter_key);

-- Every counter decision (glitch, reset, exchange, spike), visible per meter.
CREATE TABLE consumption_decisions (
    meter_key  integer NOT NULL,
    ts         timestamptz NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('glitch', 'reset', 'exchange', 'spike')),
    value      double precision NOT NULL,
    reference  double precision NOT NULL,
    detail     text NOT NULL,
    decided_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (meter_key, ts, kind)
);

-- Reading time ranges whose rollups must be recomputed; written in the same transaction as the readings.
CREATE TABLE rollup_dirty (
    id         bigserial PRIMARY KEY,
    meter_key  integer NOT NULL,
    ts_from    timestamptz NOT NULL,
    ts_to      timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS rollup_dirty, consumption_decisions, consumption_daily, consumption_hourly, meter_exchanges;
ALTER TABLE meters DROP COLUMN IF EXISTS max_power_kw;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
