"""Targets and progress: baseline and degree-day imports (versioned), settings, CO2 factors (versioned), targets as
data, non-routine adjustments, building groups, an audit log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import csv
from pathlib import Path

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DATA = Path(__file__).resolve().parents[2] / "services" / "targets" / "data"
CARRIERS = ("'electricity', 'district_heating', 'natural_gas', 'oil', 'water', 'pv_production', 'ev_charging', "
            "'heat_pump'")

UPGRADE = f"""
-- Who changed reference data, when, and what: imports, settings, factors, targets, adjustments.
CREATE TABLE audit_log (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,
    action  text NOT NULL,
    subject text NOT NULL,
    detail  jsonb NOT NULL DEFAULT '{{}}'
);
CREATE INDEX audit_log_subject_idx ON audit_log (subject, at);

-- A building belongs to a group that targets address: municipal buildings (T1), citizens' and businesses' (T5)...
ALTER TABLE buildings ADD COLUMN building_group text NOT NULL DEFAULT 'municipal'
    CHECK (building_group ~ '^[a-z0-9_]{{1,40}}$');

-- Baseline (monthly kWh per building and carrier). Every import is kept; for a (building, carrier, month) the
-- newest import's row is current, so a re-import replaces what it contains and the history stays.
CREATE TABLE baseline_imports (
    id          bigserial PRIMARY KEY,
    imported_at timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    accepted    integer NOT NULL,
    rejected    integer NOT NULL
);
CREATE TABLE baseline_entries (
    import_id   bigint NOT NULL REFERENCES baseline_imports(id),
    building_id text NOT NULL REFERENCES buildings(id) ON DELETE CASCADE,
    carrier     text NOT NULL CHECK (carrier IN ({CARRIERS})),
    month       date NOT NULL CHECK (extract(day FROM month) = 1),
    kwh         double precision NOT NULL CHECK (kwh >= 0),
    source      text NOT NULL,
    PRIMARY KEY (building_id, carrier, month, import_id)
);
CREATE VIEW baseline_current AS
    SELECT DISTINCT ON (building_id, carrier, month) building_id, carrier, month, kwh, source, import_id
    FROM baseline_entries ORDER BY building_id, carrier, month, import_id DESC;

-- Actual degree days per month (DMI acc_heating_degree_days_17), versioned the same way.
CREATE TABLE degree_day_imports (
    id          bigserial PRIMARY KEY,
    imported_at timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    accepted    integer NOT NULL
);
CREATE TABLE degree_day_entries (
    import_id   bigint NOT NULL REFERENCES degree_day_imports(id),
    month       date NOT NULL CHECK (extract(day FROM month) = 1),
    degree_days double precision NOT NULL CHECK (degree_days >= 0),
    source      text NOT NULL,
    PRIMARY KEY (month, import_id)
);
CREATE VIEW degree_days_current AS
    SELECT DISTINCT ON (month) month, degree_days, source, import_id
    FROM degree_day_entries ORDER BY month, import_id DESC;

-- Settings with their source (the normal year, the default hot-water share); history in audit_log.
CREATE TABLE settings (
    key        text PRIMARY KEY,
    value      jsonb NOT NULL,
    source     text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL
);

-- CO2 factors, kg per kWh delivered; the newest row per (carrier, year, area) is current, older ones stay.
CREATE TABLE co2_factors (
    id         bigserial PRIMARY KEY,
    carrier    text NOT NULL CHECK (carrier IN ({CARRIERS})),
    year       integer NOT NULL CHECK (year BETWEEN 1990 AND 2100),
    area       text NOT NULL DEFAULT 'DK2',
    kg_per_kwh double precision NOT NULL CHECK (kg_per_kwh >= 0),
    method     text NOT NULL,
    source     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL
);
CREATE VIEW co2_factors_current AS
    SELECT DISTINCT ON (carrier, year, area) * FROM co2_factors ORDER BY carrier, year, area, id DESC;

-- Targets are data: (metric, building group, baseline year, target year, reduction %).
CREATE TABLE targets (
    id             text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._-]{{1,64}}$'),
    name           text NOT NULL,
    metric         text NOT NULL CHECK (metric IN ('energy_kwh', 'led_share', 'fossil_heating', 'energy_labels',
                                                   'co2_kg')),
    building_group text NOT NULL DEFAULT 'municipal',
    baseline_year  integer NOT NULL,
    target_year    integer NOT NULL CHECK (target_year >= baseline_year),
    reduction_pct  double precision CHECK (reduction_pct BETWEEN 0 AND 100),
    description    text NOT NULL DEFAULT '',
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Non-routine adjustments: a building added to or sold from the portfolio, its heated area changed, other.
CREATE TABLE building_adjustments (
    id             bigserial PRIMARY KEY,
    building_id    text NOT NULL REFERENCES buildings(id) ON DELETE CASCADE,
    kind           text NOT NULL CHECK (kind IN ('added', 'sold', 'area_changed', 'other')),
    effective      date NOT NULL,
    heated_area_m2 double precision CHECK (heated_area_m2 >= 0),
    reason         text NOT NULL CHECK (length(reason) > 0),
    actor          text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'area_changed') = (heated_area_m2 IS NOT NULL))
);
CREATE INDEX building_adjustments_building_idx ON building_adjustments (building_id, effective);

INSERT INTO targets (id, name, metric, building_group, baseline_year, target_year, reduction_pct, description) VALUES
 ('T1', 'Energy in municipal buildings -15 % by 2025', 'energy_kwh', 'municipal', 2015, 2025, 15,
  'Total final energy per year, heat weather-corrected; also like-for-like and kWh/m2 (Klimapolitik 2030).'),
 ('T2', 'All lighting LED by 2025', 'led_share', 'municipal', 2015, 2025, 100,
  'Share of luminaires that are LED, by count and by installed W; lighting kWh; savings from dimming.'),
 ('T3', 'Oil and natural gas heating phased out by 2030', 'fossil_heating', 'municipal', 2015, 2030, 100,
  'Buildings still burning oil or gas, their kWh and CO2 per year.'),
 ('T4', 'Energy labels for all municipal buildings', 'energy_labels', 'municipal', 2015, 2025, NULL,
  'Label per building, measured kWh/m2 against the label limits, ranking by saving potential.'),
 ('T5', 'Citizens'' and businesses'' energy -15 % by 2025', 'energy_kwh', 'citizens_businesses', 2015, 2025, 15,
  'The T1 method on the buildings of the group citizens_businesses.'),
 ('T6', 'CO2 from municipal buildings', 'co2_kg', 'municipal', 2015, 2030, NULL,
  'kg CO2 per year with Danish factors per carrier and year; input to the municipality''s 85 % by 2030 vs 1990 '
  'goal (Energiblik measures from its earliest data, 2015).');
"""

DOWNGRADE = """
DROP VIEW IF EXISTS co2_factors_current, degree_days_current, baseline_current;
DROP TABLE IF EXISTS building_adjustments, targets, co2_factors, settings, degree_day_entries, degree_day_imports,
    baseline_entries, baseline_imports, audit_log;
ALTER TABLE buildings DROP COLUMN IF EXISTS building_group;
"""


def _seed_co2() -> None:
    with (DATA / "co2_factors.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    for r in rows:
        op.get_bind().exec_driver_sql(
            "INSERT INTO co2_factors (carrier, year, area, kg_per_kwh, method, source, actor) "
            "VALUES (%(carrier)s, %(year)s, %(area)s, %(kg)s, %(method)s, %(source)s, 'default data file')",
            {"carrier": r["carrier"], "year": int(r["year"]), "area": r["area"], "kg": float(r["kg_per_kwh"]),
             "method": r["method"], "source": r["source"]})


def upgrade() -> None:
    op.execute(UPGRADE)
    _seed_co2()


def downgrade() -> None:
    op.execute(DOWNGRADE)
