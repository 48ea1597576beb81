"""Coverage at every resolution: the register steps that are gaps and cross a local-day edge.

PRODUCT.md (Quality): a step lying wholly inside a period is measured however long it is; where a step crosses the
period's edge, the part apportioned to the period is estimated when the step is a gap. The daily rollup marks the
parts of a gap step that crosses midnight as estimated, which is right for those days but wrong for a month, week
or year the step lies inside (monthly reads on month boundaries measure each month exactly). These rows let the
monthly rollup and the week and year answers count such steps as measured (services/consumption/coverage.py).

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
-- crosses a local (Europe/Copenhagen) midnight, clipped to nothing (a step cut by the meter's active span is
-- estimated and never stored). `amount` is the step's kWh (m3 for water), all of it in the daily rows' `estimated`.
-- Derived data like the rollups: replaced together with them.
CREATE TABLE consumption_gap_steps (
    meter_key  integer NOT NULL,
    step_start timestamptz NOT NULL,
    step_end   timestamptz NOT NULL,
    amount     double precision NOT NULL CHECK (amount >= 0 AND amount < 'Infinity'::float8),
    PRIMARY KEY (meter_key, step_start),
    CHECK (step_end > step_start)
);

INSERT INTO rollup_dirty (meter_key, ts_from, ts_to)
SELECT meter_key, min(ts), max(ts) FROM readings GROUP BY meter_key;
"""

DOWNGRADE = """
DROP TABLE IF EXISTS consumption_gap_steps;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
