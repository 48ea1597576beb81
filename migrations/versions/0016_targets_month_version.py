"""A data version per local month for the rollups the progress answers read, so that a live system's rollups of the
running month leave the answers about complete months current (services/targets/service.py progress).

Migration 0014 versions the rollup tables per year: a rollup of this month moved the version of the whole year, and
the progress answer of the running year (which compares only the complete months, January up to last month) was
computed again after every rollup batch, seconds at 2,000 buildings. Here the monthly and daily rollups and the gap
steps also bump a version per (year, month) their rows concern, in the writer's transaction, once per transaction
and month, in one of 256 slots as in 0014.

The pending rollups (`rollup_dirty`, written by ingest with every batch and emptied by the rollups every second) no
longer move any version: the answers that say whether readings wait for the rollups (progress, CO2, labels, green
accounts) read that anew on every request, outside the cached figures. Their year triggers of 0014 are dropped (a
TRUNCATE still moves every answer's version).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

import importlib.util
from pathlib import Path
from typing import Any

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# (table, SQL of the first and last local day a row `r` can change an answer about): local days from UTC instants,
# a day either side covers any offset.
MONTH_TABLES = (
    ("consumption_monthly", "r.month", "r.month"),
    ("consumption_daily", "r.day", "r.day"),
    ("consumption_gap_steps", "(r.step_start - interval '1 day')::date", "(r.step_end + interval '1 day')::date"),
)

BUMP = """
CREATE FUNCTION bump_targets_month_versions(first_day date, last_day date) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    m date;
    done text := coalesce(current_setting('energiblik.targets_months_bumped', true), '');
BEGIN
    FOR m IN SELECT generate_series(date_trunc('month', first_day), date_trunc('month', last_day),
                                    interval '1 month')::date LOOP
        IF position(',' || m || ',' IN done) = 0 THEN
            INSERT INTO targets_month_version (month, slot, v) VALUES (m, pg_backend_pid() % 256, 1)
                ON CONFLICT (month, slot) DO UPDATE SET v = targets_month_version.v + 1;
            done := done || ',' || m || ',';
        END IF;
    END LOOP;
    PERFORM set_config('energiblik.targets_months_bumped', done, true);
END $$;
"""


def _month_trigger(table: str, first: str, last: str) -> str:
    out = []
    for event, ref in (("INSERT", "NEW TABLE AS changed"), ("DELETE", "OLD TABLE AS changed"),
                       ("UPDATE", "OLD TABLE AS changed NEW TABLE AS changed_new")):
        body = f"SELECT min({first}), max({last}) FROM changed r"
        if event == "UPDATE":
            body = (f"SELECT min(x.d0), max(x.d1) FROM (SELECT {first} AS d0, {last} AS d1 FROM changed r "
                    f"UNION ALL SELECT {first}, {last} FROM changed_new r) x")
        fn = f"targets_months_{table}_{event.lower()}"
        out.append(f"""
CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE first_day date; last_day date;
BEGIN
    {body} INTO first_day, last_day;
    IF first_day IS NOT NULL THEN PERFORM bump_targets_month_versions(first_day, last_day); END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER {table}_targets_months_{event.lower()} AFTER {event} ON {table} REFERENCING {ref}
    FOR EACH STATEMENT EXECUTE FUNCTION {fn}();
""")
    return "".join(out)  # TRUNCATE: migration 0014's trigger moves the version of every answer


UPGRADE = """
CREATE TABLE targets_month_version (
    month date NOT NULL CHECK (extract(day FROM month) = 1),
    slot  integer NOT NULL CHECK (slot >= 0 AND slot < 256),
    v     bigint NOT NULL,
    PRIMARY KEY (month, slot)
);
""" + BUMP + "".join(_month_trigger(*t) for t in MONTH_TABLES) + "".join(
    f"DROP TRIGGER rollup_dirty_targets_years_{e} ON rollup_dirty;\nDROP FUNCTION targets_years_rollup_dirty_{e}();\n"
    for e in ("insert", "delete", "update"))

# 0014's year triggers of the pending rollups, as it made them
_DIRTY_YEARS = ("extract(year FROM r.ts_from - interval '64 days')", "extract(year FROM r.ts_to + interval '64 days')")

DOWNGRADE = "".join(
    f"DROP TRIGGER IF EXISTS {t}_targets_months_{e} ON {t};\nDROP FUNCTION IF EXISTS targets_months_{t}_{e}();\n"
    for t, _a, _z in MONTH_TABLES for e in ("insert", "delete", "update")) + """
DROP FUNCTION IF EXISTS bump_targets_month_versions(date, date);
DROP TABLE IF EXISTS targets_month_version;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
    # the pending rollups move their years' versions again, as migration 0014 made them (its TRUNCATE trigger stayed)
    sql = _migration_0014()._year_trigger("rollup_dirty", *_DIRTY_YEARS)
    op.execute(sql.split("CREATE TRIGGER rollup_dirty_targets_data_version")[0])


def _migration_0014() -> Any:
    path = Path(__file__).with_name("0014_targets_data_version.py")
    spec = importlib.util.spec_from_file_location("energiblik_migration_0014", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

