"""Meter lifecycle: the span in which a meter is installed and counts (PRODUCT.md, Quality: "a meter outside its
active span (installed, removed, replaced) counts neither way"), and the meter that replaced it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UPGRADE = """
-- NULL active_from: since always; NULL active_to: still installed. Half-open [active_from, active_to).
ALTER TABLE meters ADD COLUMN active_from timestamptz;
ALTER TABLE meters ADD COLUMN active_to timestamptz;
ALTER TABLE meters ADD COLUMN replaced_by text REFERENCES meters(id);
ALTER TABLE meters ADD CONSTRAINT meters_active_span CHECK (active_to IS NULL OR active_from IS NULL
                                                            OR active_to > active_from);
ALTER TABLE meters ADD CONSTRAINT meters_not_replaced_by_self CHECK (replaced_by IS NULL OR replaced_by <> id);
"""

DOWNGRADE = """
ALTER TABLE meters DROP CONSTRAINT IF EXISTS meters_not_replaced_by_self;
ALTER TABLE meters DROP CONSTRAINT IF EXISTS meters_active_span;
ALTER TABLE meters DROP COLUMN IF EXISTS replaced_by;
ALTER TABLE meters DROP COLUMN IF EXISTS active_to;
ALTER TABLE meters DROP COLUMN IF EXISTS active_from;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
