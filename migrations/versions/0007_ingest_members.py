"""Ingest workers record their membership of the MQTT share group, so a member that died and never came back is
visible (its persistent session keeps receiving a share of the readings until it expires) and can be reclaimed.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UPGRADE = """
-- One row per MQTT client id (= persistent session). Written by the worker itself: at start, every few seconds
-- (last_seen_at, from the database clock so that hosts' clocks do not matter), and at a graceful stop.
CREATE TABLE ingest_members (
    client_id        text PRIMARY KEY,
    share_group      text NOT NULL,
    host             text NOT NULL DEFAULT '',
    pid              integer,
    started_at       timestamptz NOT NULL DEFAULT now(),
    last_seen_at     timestamptz NOT NULL DEFAULT now(),
    -- the session expiry the worker asked the broker for: until last_seen_at + this, the broker keeps its session
    session_expiry_s integer NOT NULL CHECK (session_expiry_s >= 0),
    mqtt_connected   boolean NOT NULL DEFAULT false,
    stopped_at       timestamptz,
    -- the session was drained and ended (retire on stop, or `energiblik ingest reclaim`): no longer a member
    retired_at       timestamptz,
    retired_by       text,
    drained_messages bigint,
    -- what the broker's $SYS topics said when this worker last looked (Mosquitto: totals, not per session)
    broker_stats     jsonb,
    broker_stats_at  timestamptz
);
CREATE INDEX ingest_members_group ON ingest_members (share_group);
"""

DOWNGRADE = "DROP TABLE ingest_members;"


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
