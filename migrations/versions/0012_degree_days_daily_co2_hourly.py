"""Connector data of DMI and Energi Data Service (issue 13): daily degree days, hourly CO2 intensity of electricity.

- `degree_days_daily`: DMI's daily `acc_heating_degree_days_17` for the configured municipality, one row per local
  day (complete days only: services/connectors/dmi.py). Monthly values keep going into the versioned
  degree_day_imports / degree_day_entries (migration 0004).
- `co2_intensity_hourly`: g CO2 per kWh consumed per price area and UTC hour (the hour starting at `ts`), by
  allocation method, from Energi Data Service's DeclarationGridEmission (services/connectors/energidataservice.py).
  A value that changes when re-read is updated in place and the old value kept in `co2_intensity_revisions`.

Revision ID: 0012
Revises: 0011 (the connector framework)
Create Date: 2026-11-30
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE degree_days_daily (
    day         date PRIMARY KEY,
    degree_days double precision NOT NULL CHECK (degree_days >= 0 AND degree_days <= 60),
    source      text NOT NULL,
    fetched_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE co2_intensity_hourly (
    area       text NOT NULL CHECK (area ~ '^[A-Z0-9]{2,8}$'),
    ts         timestamptz NOT NULL,
    method     text NOT NULL,
    g_per_kwh  double precision NOT NULL CHECK (g_per_kwh >= 0),
    source     text NOT NULL,
    fetched_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (area, method, ts)
);

CREATE TABLE co2_intensity_revisions (
    id         bigserial PRIMARY KEY,
    area       text NOT NULL,
    ts         timestamptz NOT NULL,
    method     text NOT NULL,
    old_g_per_kwh double precision NOT NULL,
    new_g_per_kwh double precision NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX co2_intensity_revisions_idx ON co2_intensity_revisions (area, method, ts);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS co2_intensity_revisions, co2_intensity_hourly, degree_days_daily;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
