"""Consumption: a local-monthly rollup, so month and year answers for a whole portfolio read a few thousand rows.

Maintained with the daily rollup (the months a recomputation touches are summed again from the daily rows); filled
from the existing daily rows on upgrade.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = """
-- `month` is the first local (Europe/Copenhagen) day of the month; the row sums the meter's daily rows of that month.
CREATE TABLE consumption_monthly (
    meter_key  integer NOT NULL,
    month      date NOT NULL CHECK (extract(day FROM month) = 1),
    amount     double precision NOT NULL,
    measured_s double precision NOT NULL,
    estimated  double precision NOT NULL,
    PRIMARY KEY (meter_key, month)
);
CREATE INDEX consumption_monthly_month_idx ON consumption_monthly (month, meter_key);

INSERT INTO consumption_monthly (meter_key, month, amount, measured_s, estimated)
SELECT meter_key, date_trunc('month', day)::date, sum(amount), sum(measured_s), sum(estimated)
FROM consumption_daily GROUP BY 1, 2;
"""

DOWNGRADE = """
DROP TABLE IF EXISTS consumption_monthly;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
