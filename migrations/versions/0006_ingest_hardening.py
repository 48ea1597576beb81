"""Nothing non-finite is stored whatever the code does; failed rollup ranges wait and are retried, not lost; errors of
the maintenance loops are recorded per item.

The ingest pipeline rejects non-finite and implausible numbers and timestamps far outside the plausible window before
anything reaches the database; these CHECKs are the last line. Rows that an older version stored against them (an
`inf` from an overflowing unit conversion, a reading dated year 1) are moved to the dead-letter store with the reason,
and the rollups around them are recomputed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# NaN sorts above +Infinity in PostgreSQL, so `< 'Infinity'` also keeps NaN out; abs() < 1e15 bounds any register.
FINITE = "({c} > '-Infinity'::float8 AND {c} < 'Infinity'::float8)"
READING_OK = ("(value > -1e15 AND value < 1e15 AND ts >= '1900-01-01 00:00:00+00' "
              "AND ts < '2200-01-01 00:00:00+00')")


def _finite(*cols: str) -> str:
    return " AND ".join(f"({c} IS NULL OR {FINITE.format(c=c)})" for c in cols)


UPGRADE = f"""
-- Readings an older version stored against the new rules: kept as dead letters (as JSON, with the reason), then gone.
INSERT INTO dead_letters (topic, payload, reason, device_id, received_at)
SELECT 'migration/0006', convert_to(json_build_object('meter_key', r.meter_key, 'ts', r.ts::text,
                                                      'value', r.value::text)::text, 'UTF8'),
       'value: stored before migration 0006 with a non-finite or implausible value or timestamp; removed',
       m.id, r.received_at
FROM readings r LEFT JOIN meters m ON m.key = r.meter_key
WHERE NOT {READING_OK};
INSERT INTO rollup_dirty (meter_key, ts_from, ts_to)
SELECT meter_key, greatest(min(ts), '1900-01-01 00:00:00+00'), least(max(ts), '2199-12-31 00:00:00+00')
FROM readings WHERE NOT {READING_OK} GROUP BY meter_key;
DELETE FROM readings WHERE NOT {READING_OK};
ALTER TABLE readings ADD CONSTRAINT readings_value_plausible CHECK {READING_OK};

DELETE FROM luminaire_telemetry WHERE NOT ({_finite("power_w", "energy_wh", "dim_pct", "burn_hours")});
ALTER TABLE luminaire_telemetry ADD CONSTRAINT luminaire_telemetry_finite
    CHECK ({_finite("power_w", "energy_wh", "dim_pct", "burn_hours")});
DELETE FROM heat_telemetry WHERE NOT ({_finite("flow_c", "return_c", "power_kw", "volume_flow_m3h")});
ALTER TABLE heat_telemetry ADD CONSTRAINT heat_telemetry_finite
    CHECK ({_finite("flow_c", "return_c", "power_kw", "volume_flow_m3h")});

DELETE FROM consumption_hourly WHERE NOT ({_finite("amount", "measured_s", "estimated")});
ALTER TABLE consumption_hourly ADD CONSTRAINT consumption_hourly_finite
    CHECK ({_finite("amount", "measured_s", "estimated")});
DELETE FROM consumption_daily WHERE NOT ({_finite("amount", "measured_s", "estimated")});
ALTER TABLE consumption_daily ADD CONSTRAINT consumption_daily_finite
    CHECK ({_finite("amount", "measured_s", "estimated")});
DELETE FROM consumption_monthly WHERE NOT ({_finite("amount", "measured_s", "estimated")});
ALTER TABLE consumption_monthly ADD CONSTRAINT consumption_monthly_finite
    CHECK ({_finite("amount", "measured_s", "estimated")});

-- A range whose recomputation failed is not dropped: it waits (not_before, doubling with attempts) and is retried,
-- while every other meter's ranges go on. Its error is kept for the operator.
ALTER TABLE rollup_dirty ADD COLUMN attempts integer NOT NULL DEFAULT 0,
                         ADD COLUMN not_before timestamptz,
                         ADD COLUMN last_error text;

-- One row per item a maintenance loop (rollups, alerts, syncs) failed on and skipped.
CREATE TABLE processing_errors (
    id          bigserial PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    process     text NOT NULL,
    item        text NOT NULL,
    error       text NOT NULL
);
CREATE INDEX processing_errors_occurred_idx ON processing_errors (occurred_at);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS processing_errors;
ALTER TABLE rollup_dirty DROP COLUMN IF EXISTS attempts, DROP COLUMN IF EXISTS not_before,
                         DROP COLUMN IF EXISTS last_error;
ALTER TABLE consumption_monthly DROP CONSTRAINT IF EXISTS consumption_monthly_finite;
ALTER TABLE consumption_daily DROP CONSTRAINT IF EXISTS consumption_daily_finite;
ALTER TABLE consumption_hourly DROP CONSTRAINT IF EXISTS consumption_hourly_finite;
ALTER TABLE heat_telemetry DROP CONSTRAINT IF EXISTS heat_telemetry_finite;
ALTER TABLE luminaire_telemetry DROP CONSTRAINT IF EXISTS luminaire_telemetry_finite;
ALTER TABLE readings DROP CONSTRAINT IF EXISTS readings_value_plausible;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
