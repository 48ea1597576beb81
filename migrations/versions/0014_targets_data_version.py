"""A data version for the target answers' cache: every statement that changes what the target, report and
progress answers read bumps it, in the writer's own transaction, so a cached answer is reused exactly while nothing it
was computed from has changed (services/targets/cache.py).

The version is the sum of 256 counters (`targets_data_version`, one row per slot); a writing statement bumps the slot
of its backend (pg_backend_pid() % 256), so concurrent writers (ingest, rollup jobs) rarely wait on the same row. The
bump is part of the writer's transaction: a reader sees a higher sum exactly when the change is committed and
visible. `epoch` is fixed when the table is created, so a database rebuilt from scratch never repeats a version.

Revision ID: 0014
Revises: 0013 (written on 0010, the newest on this branch: re-chain at merge)
Create Date: 2026-11-30
"""

from alembic import op

revision = "0014"
down_revision = "0010"
branch_labels = None
depends_on = None

# Every table whose rows the cached answers read (services/targets/service.py load_buildings, progress, portfolio,
# status, reference): the registry and its histories, the rollups the targets read, pending rollups (freshness),
# baselines, degree days, settings, CO2 factors, targets, adjustments.
TABLES = (
    "buildings", "building_area_history", "building_group_history", "building_heating_history",
    "building_adjustments", "meters", "meter_parent_history", "meter_exchanges",
    "consumption_monthly", "consumption_daily", "consumption_gap_steps", "rollup_dirty",
    "baseline_entries", "baseline_imports", "degree_day_entries", "degree_day_imports", "settings", "co2_factors",
    "targets", "luminaires", "luminaire_history",
)

UPGRADE = """
CREATE TABLE targets_data_version (
    slot  integer PRIMARY KEY CHECK (slot >= 0 AND slot < 256),
    v     bigint NOT NULL DEFAULT 0,
    epoch timestamptz NOT NULL
);
INSERT INTO targets_data_version (slot, epoch) SELECT s, clock_timestamp() FROM generate_series(0, 255) s;

CREATE FUNCTION bump_targets_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE targets_data_version SET v = v + 1 WHERE slot = pg_backend_pid() % 256;
    RETURN NULL;
END $$;
""" + "".join(
    f"CREATE TRIGGER {t}_targets_data_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {t} "
    "FOR EACH STATEMENT EXECUTE FUNCTION bump_targets_data_version();\n" for t in TABLES)

DOWNGRADE = "".join(f"DROP TRIGGER IF EXISTS {t}_targets_data_version ON {t};\n" for t in TABLES) + """
DROP FUNCTION IF EXISTS bump_targets_data_version();
DROP TABLE IF EXISTS targets_data_version;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
