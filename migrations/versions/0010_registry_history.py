"""Back-dated registry history: heating, building group and meter parent kept as dated history beside the existing
heated-area and luminaire histories, each row saying when and by whom it was recorded.

The current columns (buildings.heating, .building_group, .heated_area_m2, meters.parent_meter_id,
luminaires.technology, .rated_power_w) stay: they hold the value as of now, maintained by the registry service.

"Since always": the value a building or meter had when the registry first learnt of it holds for every earlier date
too (nothing earlier is known). It is stored with valid_from = 1900-01-01T00:00:00Z (services.registry.history
.SINCE_ALWAYS) and shown as `valid_from: null`. The backfill gives every existing building and meter one such row
from its current value, and moves each building's first area row (its registration) there, which changes no
figure: the first area row already held for the years before it.

Revision ID: 0010
Revises: 0008 (re-chained onto 0009 at merge)
Create Date: 2026-11-30
"""

from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None

SINCE_ALWAYS = "'1900-01-01 00:00:00+00'::timestamptz"

UPGRADE = f"""
CREATE TABLE building_heating_history (
    building_id text NOT NULL REFERENCES buildings(id) ON DELETE CASCADE,
    valid_from  timestamptz NOT NULL,
    heating     text NOT NULL CHECK (heating IN
                    ('district_heating', 'natural_gas', 'oil', 'heat_pump', 'electric', 'other')),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    recorded_by text,
    PRIMARY KEY (building_id, valid_from)
);

CREATE TABLE building_group_history (
    building_id    text NOT NULL REFERENCES buildings(id) ON DELETE CASCADE,
    valid_from     timestamptz NOT NULL,
    building_group text NOT NULL CHECK (building_group ~ '^[a-z0-9_]{{1,40}}$'),
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    recorded_by    text,
    PRIMARY KEY (building_id, valid_from)
);
CREATE INDEX building_group_history_group_idx ON building_group_history (building_group);

-- NULL parent_meter_id: a main meter (counts in totals) from valid_from on.
CREATE TABLE meter_parent_history (
    meter_id        text NOT NULL REFERENCES meters(id) ON DELETE CASCADE,
    valid_from      timestamptz NOT NULL,
    parent_meter_id text REFERENCES meters(id),
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    recorded_by     text,
    PRIMARY KEY (meter_id, valid_from),
    CHECK (parent_meter_id IS NULL OR parent_meter_id <> meter_id)
);

ALTER TABLE building_area_history ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE building_area_history ADD COLUMN recorded_by text;
ALTER TABLE luminaire_history ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE luminaire_history ADD COLUMN recorded_by text;

-- Backfill: one "since always" row per building and meter from its current value.
INSERT INTO building_heating_history (building_id, valid_from, heating, recorded_at, recorded_by)
    SELECT id, {SINCE_ALWAYS}, heating, created_at, 'migration 0010 (value at upgrade)' FROM buildings;
INSERT INTO building_group_history (building_id, valid_from, building_group, recorded_at, recorded_by)
    SELECT id, {SINCE_ALWAYS}, building_group, created_at, 'migration 0010 (value at upgrade)' FROM buildings;
INSERT INTO meter_parent_history (meter_id, valid_from, parent_meter_id, recorded_at, recorded_by)
    SELECT id, {SINCE_ALWAYS}, parent_meter_id, created_at, 'migration 0010 (value at upgrade)' FROM meters;
UPDATE building_area_history h SET valid_from = {SINCE_ALWAYS}, recorded_at = h.valid_from
    FROM (SELECT building_id, min(valid_from) AS first FROM building_area_history GROUP BY 1) f
    WHERE h.building_id = f.building_id AND h.valid_from = f.first AND f.first > {SINCE_ALWAYS};
INSERT INTO building_area_history (building_id, valid_from, heated_area_m2, reason, recorded_at, recorded_by)
    SELECT id, {SINCE_ALWAYS}, heated_area_m2, 'registered', created_at, 'migration 0010 (value at upgrade)'
    FROM buildings b WHERE NOT EXISTS (SELECT 1 FROM building_area_history h WHERE h.building_id = b.id);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS meter_parent_history, building_group_history, building_heating_history;
ALTER TABLE luminaire_history DROP COLUMN IF EXISTS recorded_by;
ALTER TABLE luminaire_history DROP COLUMN IF EXISTS recorded_at;
ALTER TABLE building_area_history DROP COLUMN IF EXISTS recorded_by;
ALTER TABLE building_area_history DROP COLUMN IF EXISTS recorded_at;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
