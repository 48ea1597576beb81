"""A data version for the target answers' cache: every statement that changes what the target, report and
progress answers read bumps it, in the writer's own transaction, so a cached answer is reused exactly while nothing it
was computed from has changed (services/targets/cache.py).

The version is the sum of 256 counters (`targets_data_version`, one row per slot); the first writing statement of a
transaction bumps the slot of its backend (pg_backend_pid() % 256), so concurrent writers (ingest, rollup jobs) rarely
wait on the same row, and a transaction of many statements bumps once. The bump is part of the writer's transaction: a reader sees a higher sum exactly when the change is committed and
visible. `epoch` is fixed when the table is created, so a database rebuilt from scratch never repeats a version.

Revision ID: 0014
Revises: 0012 (written on 0010; re-chained onto 0012 at merge: 0013 was not needed)
Create Date: 2026-11-30
"""

from alembic import op

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None

# Every table whose rows the cached answers read (services/targets/service.py load_buildings, progress, portfolio,
# status, reference). The registry and its histories, baselines, degree days, settings, CO2 factors, targets and
# adjustments move the version of all answers; the rollups the targets read and the pending rollups (freshness) move
# the version of the years their rows concern, so a rollup of this month leaves the answers about finished years
# current: (table, SQL of the first and last year a row `r` can change an answer about).
TABLES = (
    "buildings", "building_area_history", "building_group_history", "building_heating_history",
    "building_adjustments", "meters", "meter_parent_history", "meter_exchanges",
    "baseline_entries", "baseline_imports", "degree_day_entries", "degree_day_imports", "settings", "co2_factors",
    "targets", "luminaires", "luminaire_history",
)
# Local years (Europe/Copenhagen) from UTC instants: a day either side covers any offset. A pending range counts in
# every year its pending span reaches, and that span is widened to the readings on either side within 62 days
# (services/consumption/repository.py pending_spans), an interval meter's by its interval too: 64 days either side.
YEAR_TABLES = (
    ("consumption_monthly", "extract(year FROM r.month)", "extract(year FROM r.month)"),
    ("consumption_daily", "extract(year FROM r.day)", "extract(year FROM r.day)"),
    ("consumption_gap_steps", "extract(year FROM r.step_start - interval '1 day')",
     "extract(year FROM r.step_end + interval '1 day')"),
    ("rollup_dirty", "extract(year FROM r.ts_from - interval '64 days')",
     "extract(year FROM r.ts_to + interval '64 days')"),
    # the hourly CO2 intensity /co2 multiplies the hourly rollup by (migration 0012)
    ("co2_intensity_hourly", "extract(year FROM r.ts - interval '1 day')", "extract(year FROM r.ts + interval '1 day')"),
)
# consumption_hourly (a hypertable: no transition tables) needs no trigger of its own: the rollups rewrite its rows
# only together with the daily rows of the same local days (services/consumption/repository.py write_ranges,
# delete_rollups), whose triggers move those years' versions in the same transaction.

# Once per transaction is enough (its changes become visible together at commit): the first writing statement bumps
# and marks the transaction (a transaction-local setting, undone with a rolled-back savepoint like the bump itself), so
# a writer issuing many statements (executemany) pays for one UPDATE, not one per statement. Year counters: once per
# transaction and year.
BUMP = """
CREATE OR REPLACE FUNCTION bump_targets_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('energiblik.targets_version_bumped', true) IS DISTINCT FROM 'on' THEN
        UPDATE targets_data_version SET v = v + 1 WHERE slot = pg_backend_pid() % 256;
        PERFORM set_config('energiblik.targets_version_bumped', 'on', true);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION bump_targets_year_versions(first_year integer, last_year integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    y integer;
    done text := coalesce(current_setting('energiblik.targets_years_bumped', true), '');
BEGIN
    FOR y IN SELECT generate_series(first_year, last_year) LOOP
        IF position(',' || y || ',' IN done) = 0 THEN
            INSERT INTO targets_year_version (year, slot, v) VALUES (y, pg_backend_pid() % 256, 1)
                ON CONFLICT (year, slot) DO UPDATE SET v = targets_year_version.v + 1;
            done := done || ',' || y || ',';
        END IF;
    END LOOP;
    PERFORM set_config('energiblik.targets_years_bumped', done, true);
END $$;
"""


def _year_trigger(table: str, first: str, last: str) -> str:
    out = []
    for event, ref in (("INSERT", "NEW TABLE AS changed"), ("DELETE", "OLD TABLE AS changed"),
                       ("UPDATE", "OLD TABLE AS changed NEW TABLE AS changed_new")):
        body = f"SELECT min({first})::int, max({last})::int FROM changed r"
        if event == "UPDATE":
            body = (f"SELECT min(x.y0)::int, max(x.y1)::int FROM (SELECT {first} AS y0, {last} AS y1 FROM changed r "
                    f"UNION ALL SELECT {first}, {last} FROM changed_new r) x")
        fn = f"targets_years_{table}_{event.lower()}"
        out.append(f"""
CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE first_year integer; last_year integer;
BEGIN
    {body} INTO first_year, last_year;
    IF first_year IS NOT NULL THEN PERFORM bump_targets_year_versions(first_year, last_year); END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER {table}_targets_years_{event.lower()} AFTER {event} ON {table} REFERENCING {ref}
    FOR EACH STATEMENT EXECUTE FUNCTION {fn}();
""")
    # emptying the table concerns every year
    out.append(f"CREATE TRIGGER {table}_targets_data_version AFTER TRUNCATE ON {table} "
               "FOR EACH STATEMENT EXECUTE FUNCTION bump_targets_data_version();\n")
    return "".join(out)


UPGRADE = """
CREATE TABLE targets_data_version (
    slot  integer PRIMARY KEY CHECK (slot >= 0 AND slot < 256),
    v     bigint NOT NULL DEFAULT 0,
    epoch timestamptz NOT NULL
);
INSERT INTO targets_data_version (slot, epoch) SELECT s, clock_timestamp() FROM generate_series(0, 255) s;
CREATE TABLE targets_year_version (
    year integer NOT NULL,
    slot integer NOT NULL CHECK (slot >= 0 AND slot < 256),
    v    bigint NOT NULL,
    PRIMARY KEY (year, slot)
);
""" + BUMP + "".join(
    f"CREATE TRIGGER {t}_targets_data_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {t} "
    "FOR EACH STATEMENT EXECUTE FUNCTION bump_targets_data_version();\n" for t in TABLES) + "".join(
    _year_trigger(*t) for t in YEAR_TABLES)

DOWNGRADE = "".join(f"DROP TRIGGER IF EXISTS {t}_targets_data_version ON {t};\n" for t in TABLES) + "".join(
    f"DROP TRIGGER IF EXISTS {t}_targets_data_version ON {t};\n"
    + "".join(f"DROP TRIGGER IF EXISTS {t}_targets_years_{e} ON {t};\nDROP FUNCTION IF EXISTS targets_years_{t}_{e}();\n"
              for e in ("insert", "delete", "update")) for t, _a, _z in YEAR_TABLES) + """
DROP FUNCTION IF EXISTS bump_targets_year_versions(integer, integer);
DROP FUNCTION IF EXISTS bump_targets_data_version();
DROP TABLE IF EXISTS targets_year_version;
DROP TABLE IF EXISTS targets_data_version;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
