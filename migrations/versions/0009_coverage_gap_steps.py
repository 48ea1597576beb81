"""Coverage at every resolution: the register steps that are gaps and cross a local-day edge, and the steps too
long for the hourly rollup.

PRODUCT.md (Quality): a step lying wholly inside a period is measured however long it is; where a step crosses the
period's edge, the part apportioned to the period is estimated when the step is a gap. The daily rollup marks the
parts of a gap step that crosses midnight as estimated, which is right for those days but wrong for a month, week
or year the step lies inside (monthly reads on month boundaries measure each month exactly). These rows let the
monthly rollup and the week and year answers count such steps as measured (services/consumption/coverage.py).

The hourly rollup holds only steps of at most 6 hours (a daily or monthly read is not turned into stored hourly rows
for years of history); the longer steps are kept whole so that an hour inside one is apportioned when asked for,
with the same rule, instead of showing no consumption.

Existing rollups know nothing of these steps: every meter with readings is marked dirty over its whole span, so the
rollup process recomputes it once (the same as `energiblik rollups rebuild`).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

UPGRADE = """
-- A register step [step_start, step_end) longer than 1.5 x the meter's expected interval, of measured quality, that
-- crosses a local (Europe/Copenhagen) midnight, inside the meter's active span (a gap cut by the span is estimated
-- and not kept here). `amount` is the step's kWh (m3 for water), all of it in the daily rows' `estimated`.
-- Derived data like the rollups: replaced together with them.
CREATE TABLE consumption_gap_steps (
    meter_key  integer NOT NULL,
    step_start timestamptz NOT NULL,
    step_end   timestamptz NOT NULL,
    amount     double precision NOT NULL CHECK (amount >= 0 AND amount < 'Infinity'::float8),
    PRIMARY KEY (meter_key, step_start),
    CHECK (step_end > step_start)
);

-- Every segment longer than the hourly rollup takes (services/consumption/service.py HOURLY_MAX_SEGMENT), after
-- clipping to the meter's active span: the hour answers apportion them (engine.apportion). interpolated: a gap;
-- estimated: from estimated readings, or a gap cut by the active span.
CREATE TABLE consumption_long_steps (
    meter_key    integer NOT NULL,
    step_start   timestamptz NOT NULL,
    step_end     timestamptz NOT NULL,
    amount       double precision NOT NULL CHECK (amount >= 0 AND amount < 'Infinity'::float8),
    interpolated boolean NOT NULL,
    estimated    boolean NOT NULL,
    PRIMARY KEY (meter_key, step_start),
    CHECK (step_end > step_start)
);
-- the steps reaching into an hour window, whatever their length
CREATE INDEX consumption_long_steps_span_idx ON consumption_long_steps USING gist (tstzrange(step_start, step_end));

-- Recompute every meter with readings once (the months' coverage and the new tables). The bounds come from the
-- (meter_key, ts) primary key, one index probe per end and meter, not from a scan of every readings chunk.
INSERT INTO rollup_dirty (meter_key, ts_from, ts_to)
SELECT m.key, f.ts, l.ts FROM meters m
CROSS JOIN LATERAL (SELECT ts FROM readings r WHERE r.meter_key = m.key ORDER BY ts LIMIT 1) f
CROSS JOIN LATERAL (SELECT ts FROM readings r WHERE r.meter_key = m.key ORDER BY ts DESC LIMIT 1) l;
"""

DOWNGRADE = """
DROP TABLE IF EXISTS consumption_long_steps, consumption_gap_steps;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
