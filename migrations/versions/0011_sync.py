"""Connectors (issue 13): where data that does not arrive over MQTT comes from, and what each sync did.

- `reading_source` gains 'datahub' (Eloverblik's third-party API) and 'utility' (a utility's export file).
- `sync_runs`: one row per run of a source (scheduled, from the CLI or the API): when, outcome, counts, message.
- `sync_cursors`: how far a source has stored, per item (a metering point, a price area, a municipality); advanced in
  the transaction that stores the data, so a cursor never runs ahead of what is stored.
- `sync_unmapped`: metering points / meter numbers a source delivered that have no registered meter: listed for
  registration, never dropped (their data is fetched again once a meter with that external id exists).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE sync_runs (
    id          bigserial PRIMARY KEY,
    source      text NOT NULL,
    trigger     text NOT NULL CHECK (trigger IN ('schedule', 'cli', 'api')),
    actor       text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    status      text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'ok', 'partial', 'failed')),
    stored      bigint NOT NULL DEFAULT 0,
    duplicate   bigint NOT NULL DEFAULT 0,
    revised     bigint NOT NULL DEFAULT 0,
    rejected    bigint NOT NULL DEFAULT 0,
    errors      integer NOT NULL DEFAULT 0,
    message     text,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX sync_runs_source_started ON sync_runs (source, started_at DESC);

CREATE TABLE sync_cursors (
    source     text NOT NULL,
    key        text NOT NULL,
    cursor     timestamptz NOT NULL,
    detail     jsonb NOT NULL DEFAULT '{}'::jsonb,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, key)
);

CREATE TABLE sync_unmapped (
    source      text NOT NULL,
    external_id text NOT NULL,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now(),
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (source, external_id)
);
"""


def upgrade() -> None:
    # ADD VALUE may not be used in the transaction that adds it; nothing here uses the new values.
    op.execute("ALTER TYPE reading_source ADD VALUE IF NOT EXISTS 'datahub'")
    op.execute("ALTER TYPE reading_source ADD VALUE IF NOT EXISTS 'utility'")
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS sync_unmapped, sync_cursors, sync_runs")
    # enum values cannot be dropped in PostgreSQL; readings with them would have no other meaning anyway
