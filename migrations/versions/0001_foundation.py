"""Foundation: registry, readings and luminaire telemetry hypertables, revisions, dead letters, quarantine, tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID_CHECK = r"~ '^[A-Za-z0-9._-]{1,64}$'"

UPGRADE = f"""
CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TYPE reading_quality AS ENUM ('measured', 'estimated', 'revised', 'calculated', 'missing');
CREATE TYPE reading_source AS ENUM ('mqtt', 'wmbus', 'import', 'api');

CREATE TABLE buildings (
    id              text PRIMARY KEY CHECK (id {ID_CHECK}),
    name            text NOT NULL,
    type            text NOT NULL,
    heated_area_m2  double precision NOT NULL CHECK (heated_area_m2 >= 0),
    heating         text NOT NULL CHECK (heating IN
                        ('district_heating', 'natural_gas', 'oil', 'heat_pump', 'electric', 'other')),
    address         text,
    bbr_building_no text,
    energy_label    text,
    opening_hours   jsonb,
    hot_water_share double precision CHECK (hot_water_share BETWEEN 0 AND 1),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Heated area changes are non-routine adjustments for intensity KPIs: every value a building had, from when.
CREATE TABLE building_area_history (
    building_id    text NOT NULL REFERENCES buildings(id) ON DELETE CASCADE,
    valid_from     timestamptz NOT NULL,
    heated_area_m2 double precision NOT NULL,
    reason         text,
    PRIMARY KEY (building_id, valid_from)
);

CREATE TABLE meters (
    key             serial UNIQUE NOT NULL,  -- compact key used by the hypertables
    id              text PRIMARY KEY CHECK (id {ID_CHECK}),
    building_id     text NOT NULL REFERENCES buildings(id),
    carrier         text NOT NULL CHECK (carrier IN ('electricity', 'district_heating', 'natural_gas', 'oil',
                        'water', 'pv_production', 'ev_charging', 'heat_pump')),
    unit            text NOT NULL CHECK (unit IN ('Wh', 'kWh', 'MWh', 'MJ', 'GJ', 'm3', 'l')),
    mode            text NOT NULL CHECK (mode IN ('register', 'interval')),
    interval_minutes integer CHECK (interval_minutes > 0),
    external_id     text UNIQUE,
    kwh_per_unit    double precision CHECK (kwh_per_unit > 0),
    parent_meter_id text REFERENCES meters(id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_meter_id IS NULL OR parent_meter_id <> id)
);
CREATE INDEX meters_building_idx ON meters (building_id);

CREATE TABLE luminaires (
    key           serial UNIQUE NOT NULL,
    id            text PRIMARY KEY CHECK (id {ID_CHECK}),
    building_id   text NOT NULL REFERENCES buildings(id),
    technology    text NOT NULL CHECK (technology IN
                      ('led', 'fluorescent', 'halogen', 'incandescent', 'hid', 'other')),
    rated_power_w double precision NOT NULL CHECK (rated_power_w >= 0),
    zone          text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX luminaires_building_idx ON luminaires (building_id);

-- Technology and power of each luminaire over time, so the LED share can be shown for any date.
CREATE TABLE luminaire_history (
    luminaire_id  text NOT NULL REFERENCES luminaires(id) ON DELETE CASCADE,
    valid_from    timestamptz NOT NULL,
    technology    text NOT NULL,
    rated_power_w double precision NOT NULL,
    PRIMARY KEY (luminaire_id, valid_from)
);

-- One row whose version changes whenever meters or luminaires change: ingest workers compare it once per batch
-- and reload their registry cache only when it moved.
CREATE TABLE registry_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint NOT NULL
);
INSERT INTO registry_state VALUES (true, 1);

CREATE FUNCTION bump_registry_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE registry_state SET version = version + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER meters_registry_version AFTER INSERT OR UPDATE OR DELETE ON meters
    FOR EACH STATEMENT EXECUTE FUNCTION bump_registry_version();
CREATE TRIGGER luminaires_registry_version AFTER INSERT OR UPDATE OR DELETE ON luminaires
    FOR EACH STATEMENT EXECUTE FUNCTION bump_registry_version();

-- Readings: value in the meter's registered unit. Key (meter, ts): a redelivered reading is stored once.
CREATE TABLE readings (
    meter_key   integer NOT NULL,
    ts          timestamptz NOT NULL,
    value       double precision NOT NULL,
    quality     reading_quality NOT NULL DEFAULT 'measured',
    source      reading_source NOT NULL DEFAULT 'mqtt',
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (meter_key, ts)
);
-- No default (ts) index: every index costs ingest throughput, and queries go by (meter, ts) or through rollups.
SELECT create_hypertable('readings', 'ts', chunk_time_interval => interval '7 days', create_default_indexes => false);

-- A different value for an existing (meter, ts) replaces the stored one; the history is kept here.
CREATE TABLE reading_revisions (
    id          bigserial PRIMARY KEY,
    meter_key   integer NOT NULL,
    ts          timestamptz NOT NULL,
    old_value   double precision NOT NULL,
    new_value   double precision NOT NULL,
    old_quality reading_quality NOT NULL,
    new_quality reading_quality NOT NULL,
    source      reading_source NOT NULL,
    revised_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reading_revisions_meter_ts_idx ON reading_revisions (meter_key, ts);

CREATE TABLE luminaire_telemetry (
    luminaire_key integer NOT NULL,
    ts            timestamptz NOT NULL,
    power_w       double precision,
    energy_wh     double precision,
    dim_pct       double precision,
    is_on         boolean,
    burn_hours    double precision,
    failure       boolean,
    received_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (luminaire_key, ts)
);
SELECT create_hypertable('luminaire_telemetry', 'ts', chunk_time_interval => interval '7 days',
                         create_default_indexes => false);

CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    topic       text NOT NULL,
    payload     bytea NOT NULL,
    reason      text NOT NULL,
    building_id text,
    device_id   text
);
CREATE INDEX dead_letters_received_idx ON dead_letters (received_at);

-- Messages for devices not (yet) registered: kept whole and replayed when the device is registered.
CREATE TABLE quarantine (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    topic       text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('meter', 'luminaire', 'wmbus')),
    building_id text NOT NULL,
    device_id   text NOT NULL,
    payload     bytea NOT NULL,
    replayed_at timestamptz
);
CREATE INDEX quarantine_pending_idx ON quarantine (kind, device_id) WHERE replayed_at IS NULL;

CREATE TABLE api_tokens (
    id           serial PRIMARY KEY,
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('admin', 'energy_team', 'facility_manager', 'viewer')),
    token_sha256 text NOT NULL UNIQUE,
    building_ids text[] NOT NULL DEFAULT '{{}}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS api_tokens, quarantine, dead_letters, luminaire_telemetry, reading_revisions, readings,
    registry_state, luminaire_history, luminaires, meters, building_area_history, buildings CASCADE;
DROP FUNCTION IF EXISTS bump_registry_version();
DROP TYPE IF EXISTS reading_source, reading_quality;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
