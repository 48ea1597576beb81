"""What the connectors' scheduler sees: each source's configuration as the scheduler process has it (enabled, why
it cannot run, when it runs next), reported on every tick, so that the status answer (GET /api/v1/sync) and the
dashboard show the scheduler's view rather than the API process's own environment (under Compose or systemd only
the scheduler holds the sources' settings and secrets).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE sync_schedule (
    source      text PRIMARY KEY,
    enabled     boolean NOT NULL,
    problem     text,
    next_run    timestamptz,
    reported_at timestamptz NOT NULL DEFAULT now(),
    reporter    text NOT NULL
);
""")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS sync_schedule")
