"""Alerts: rules as data (defaults, per building type, per building), alerts with states and history, webhook
deliveries, district-heating temperatures from heat meters.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

RULES = "'meter_silent', 'counter_anomaly', 'night_baseload', 'lights_out_of_hours', 'above_baseline', 'dh_cooling'"

UPGRADE = f"""
-- Flow and return temperatures (wmbusmeters kamheat t1/t2) for the district-heating cooling rule.
CREATE TABLE heat_telemetry (
    meter_key       integer NOT NULL,
    ts              timestamptz NOT NULL,
    flow_c          double precision,
    return_c        double precision,
    power_kw        double precision,
    volume_flow_m3h double precision,
    PRIMARY KEY (meter_key, ts)
);
SELECT create_hypertable('heat_telemetry', 'ts', chunk_time_interval => interval '30 days',
                         create_default_indexes => false);

-- A rule row with neither building_type nor building_id holds the defaults; a building type's row overrides them,
-- a building's row overrides both (params merged key by key).
CREATE TABLE alert_rules (
    id            bigserial PRIMARY KEY,
    rule          text NOT NULL CHECK (rule IN ({RULES})),
    building_type text,
    building_id   text REFERENCES buildings(id) ON DELETE CASCADE,
    params        jsonb NOT NULL DEFAULT '{{}}',
    enabled       boolean NOT NULL DEFAULT true,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (building_type IS NULL OR building_id IS NULL),
    UNIQUE NULLS NOT DISTINCT (rule, building_type, building_id)
);

CREATE TYPE alert_state AS ENUM ('open', 'acknowledged', 'resolved');
CREATE TABLE alerts (
    id              bigserial PRIMARY KEY,
    rule            text NOT NULL,
    building_id     text NOT NULL REFERENCES buildings(id) ON DELETE CASCADE,
    subject         text NOT NULL DEFAULT '',  -- meter or luminaire id, or '' for the building
    state           alert_state NOT NULL DEFAULT 'open',
    severity        text NOT NULL DEFAULT 'warning',
    title           text NOT NULL,
    detail          jsonb NOT NULL DEFAULT '{{}}',
    periods         text[] NOT NULL DEFAULT '{{}}',  -- what fired (days, months, decisions): re-evaluation dedupes
    wasted_kwh      double precision,
    first_seen      timestamptz NOT NULL DEFAULT now(),
    last_seen       timestamptz NOT NULL DEFAULT now(),
    occurrences     integer NOT NULL DEFAULT 1,
    acknowledged_at timestamptz,
    acknowledged_by text,
    resolved_at     timestamptz,
    resolved_by     text,
    resolution      text
);
-- At most one active alert per rule, building and subject: a rule that keeps firing updates it.
CREATE UNIQUE INDEX alerts_active_idx ON alerts (rule, building_id, subject) WHERE state <> 'resolved';
CREATE INDEX alerts_building_idx ON alerts (building_id, first_seen DESC);
CREATE INDEX alerts_state_idx ON alerts (state, last_seen DESC);

CREATE TABLE alert_events (
    id       bigserial PRIMARY KEY,
    alert_id bigint NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    at       timestamptz NOT NULL DEFAULT now(),
    kind     text NOT NULL CHECK (kind IN ('opened', 'repeated', 'acknowledged', 'resolved')),
    actor    text NOT NULL,
    detail   jsonb NOT NULL DEFAULT '{{}}'
);
CREATE INDEX alert_events_alert_idx ON alert_events (alert_id, id);

-- Outgoing webhook notifications, queued in the transaction that changed the alert; retried with back-off.
CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    alert_id        bigint REFERENCES alerts(id) ON DELETE CASCADE,
    event           text NOT NULL,
    payload         jsonb NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    failed_at       timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
"""

DOWNGRADE = """
DROP TABLE IF EXISTS webhook_deliveries, alert_events, alerts, alert_rules, heat_telemetry;
DROP TYPE IF EXISTS alert_state;
"""


def upgrade() -> None:
    from services.alerts.repository import seed_default_rules

    op.execute(UPGRADE)
    seed_default_rules(op.get_bind())  # defaults for every rule; schools follow school holidays


def downgrade() -> None:
    op.execute(DOWNGRADE)
