"""A synthetic municipal estate for the target benchmark (bench/targets_bench.py), generated set-based in SQL.

N buildings (ids TB-0001 ..) with, per building: an electricity main meter and a ventilation sub-meter under it, a
heat meter (district heating, natural gas or oil; heat-pump buildings: a heat-pump sub-meter under the electricity
main), water, PV production (every 3rd) or EV charging (every 4th); areas with area changes (every 10th building,
an extension, also recorded as an adjustment), heating changes (half of the gas/oil buildings converted to district
heating on a date: the fossil meter ends, the district-heating meter begins, heating history), buildings added
(every 97th, 2019) and sold (every 89th, mid-2023), group changes (every 50th left the municipal group in 2020),
luminaires (10-39 per building) with LED retrofits (three buildings in four, in 2017-2024), a 2015 baseline import
for every third building (the others' baseline comes from their 2015 rollups), a degree-day import 2015 .. last
month, and active alerts (one building in four).

The targets read the monthly rollup (consumption_monthly), so that is what is written, directly, month by month from
2015-01 to the current (running) month: no raw readings, no hourly or daily rollups. `measured_s` is the month's
length (every 71st meter-month: 90 % of it, a gap), the running month's up to the last local midnight, so coverage
is what the rules compute from it.
"""

from __future__ import annotations

from datetime import date, datetime

import psycopg

NORMAL = [532.0, 485.0, 439.0, 306.0, 159.0, 53.0, 13.0, 17.0, 94.0, 226.0, 365.0, 482.0]  # shape only

REGISTRY_SQL = """
INSERT INTO buildings (id, name, type, heated_area_m2, heating, energy_label, building_group, created_at)
SELECT format('TB-%%s', lpad(b::text, 4, '0')),
       format('%%s %%s', (ARRAY['Skole', 'Børnehus', 'Rådhus', 'Idrætshal', 'Plejecenter', 'Bibliotek',
                                'Kulturhus'])[1 + b %% 7], b),
       (ARRAY['school', 'daycare', 'office', 'sports_hall', 'care_home', 'library', 'culture'])[1 + b %% 7],
       600 + (b * 37) %% 6000,
       CASE WHEN b %% 20 < 15 OR b %% 20 IN (15, 17) THEN 'district_heating'  -- 15, 17: converted from gas / oil
            WHEN b %% 20 = 16 THEN 'natural_gas' WHEN b %% 20 = 18 THEN 'oil' ELSE 'heat_pump' END,
       (ARRAY['A2020', 'B', 'C', 'D', 'E', 'F', NULL])[1 + (b * 3) %% 7],
       CASE WHEN b %% 50 = 9 THEN 'leased' ELSE 'municipal' END,
       '2014-12-01'
FROM generate_series(1, %(n)s) b;

CREATE TEMP TABLE est AS
SELECT id, right(id, 4)::int AS b, heated_area_m2 AS area FROM buildings;

-- registry history: the registration "since always", then the dated changes
INSERT INTO building_group_history (building_id, valid_from, building_group, recorded_by)
SELECT id, '1900-01-01+00', 'municipal', 'bench' FROM est;
INSERT INTO building_group_history (building_id, valid_from, building_group, recorded_by)
SELECT id, '2020-01-01 00:00+01', 'leased', 'bench' FROM est WHERE b %% 50 = 9;

INSERT INTO building_heating_history (building_id, valid_from, heating, recorded_by)
SELECT e.id, '1900-01-01+00', CASE WHEN b %% 20 = 15 THEN 'natural_gas' WHEN b %% 20 = 17 THEN 'oil'
                                   ELSE bu.heating END, 'bench'
FROM est e JOIN buildings bu ON bu.id = e.id;
INSERT INTO building_heating_history (building_id, valid_from, heating, recorded_by)
SELECT id, make_timestamptz(2017 + b %% 7, 9, 1, 0, 0, 0, 'Europe/Copenhagen'), 'district_heating', 'bench'
FROM est WHERE b %% 20 IN (15, 17);

INSERT INTO building_area_history (building_id, valid_from, heated_area_m2, reason, recorded_by)
SELECT id, '1900-01-01+00', CASE WHEN b %% 10 = 3 THEN area - 400 ELSE area END, 'registered', 'bench' FROM est;
INSERT INTO building_area_history (building_id, valid_from, heated_area_m2, reason, recorded_by)
SELECT id, make_timestamptz(2018 + b %% 5, 6, 1, 0, 0, 0, 'Europe/Copenhagen'), area, 'extension', 'bench'
FROM est WHERE b %% 10 = 3;
INSERT INTO building_adjustments (building_id, kind, effective, heated_area_m2, reason, actor)
SELECT id, 'area_changed', make_date(2018 + b %% 5, 6, 1), area, 'extension', 'bench' FROM est WHERE b %% 10 = 3;
INSERT INTO building_adjustments (building_id, kind, effective, reason, actor)
SELECT id, 'added', '2019-01-01', 'built', 'bench' FROM est WHERE b %% 97 = 5;
INSERT INTO building_adjustments (building_id, kind, effective, reason, actor)
SELECT id, 'sold', '2023-07-01', 'sold to the region', 'bench' FROM est WHERE b %% 89 = 7;

-- meters: (building, suffix, carrier, parent suffix, active from, active to, replaced by)
CREATE TEMP TABLE est_meters AS
SELECT e.id AS building_id, e.b, e.area, s.*
FROM est e CROSS JOIN LATERAL (VALUES
    ('-EL', 'electricity', NULL, NULL::timestamptz, NULL::timestamptz, NULL),
    ('-EL-VENT', 'electricity', '-EL', NULL, NULL, NULL),
    ('-HEAT', CASE WHEN e.b %% 20 IN (15, 16) THEN 'natural_gas' WHEN e.b %% 20 IN (17, 18) THEN 'oil'
                   WHEN e.b %% 20 = 19 THEN 'heat_pump' ELSE 'district_heating' END,
              CASE WHEN e.b %% 20 = 19 THEN '-EL' END, NULL,
              CASE WHEN e.b %% 20 IN (15, 17) THEN make_timestamptz(2017 + e.b %% 7, 9, 1, 0, 0, 0,
                                                                    'Europe/Copenhagen') END,
              CASE WHEN e.b %% 20 IN (15, 17) THEN '-FV' END),
    ('-W', 'water', NULL, NULL, NULL, NULL)
) s(suffix, carrier, parent, active_from, active_to, replaced_by)
UNION ALL
SELECT e.id, e.b, e.area, '-FV', 'district_heating', NULL,
       make_timestamptz(2017 + e.b %% 7, 9, 1, 0, 0, 0, 'Europe/Copenhagen'), NULL, NULL
FROM est e WHERE e.b %% 20 IN (15, 17)
UNION ALL
SELECT e.id, e.b, e.area, '-PV', 'pv_production', NULL, NULL, NULL, NULL FROM est e WHERE e.b %% 3 = 0
UNION ALL
SELECT e.id, e.b, e.area, '-EV', 'ev_charging', NULL, make_timestamptz(2021, 1, 1, 0, 0, 0, 'Europe/Copenhagen'),
       NULL, NULL FROM est e WHERE e.b %% 4 = 1;

INSERT INTO meters (id, building_id, carrier, unit, mode, interval_minutes, parent_meter_id, active_from, active_to,
                    created_at)
SELECT building_id || suffix, building_id, carrier, 'kWh', 'register', 60, NULL, active_from, active_to, '2014-12-01'
FROM est_meters ORDER BY building_id, suffix;
UPDATE meters m SET parent_meter_id = em.building_id || em.parent,
                    replaced_by = CASE WHEN em.replaced_by IS NOT NULL THEN em.building_id || em.replaced_by END
FROM est_meters em WHERE m.id = em.building_id || em.suffix AND (em.parent IS NOT NULL OR em.replaced_by IS NOT NULL);
INSERT INTO meter_parent_history (meter_id, valid_from, parent_meter_id, recorded_by)
SELECT id, '1900-01-01+00', parent_meter_id, 'bench' FROM meters;

-- luminaires: fluorescent since registration; three buildings in four retrofitted to LED (half the power)
INSERT INTO luminaires (id, building_id, technology, rated_power_w, zone, created_at)
SELECT format('%%s-L%%s', e.id, l), e.id, CASE WHEN e.b %% 4 <> 0 THEN 'led' ELSE 'fluorescent' END,
       CASE WHEN e.b %% 4 <> 0 THEN 18 ELSE 36 END, 'zone ' || (l %% 4), '2014-12-01'
FROM est e CROSS JOIN LATERAL generate_series(1, 10 + e.b %% 30) l;
INSERT INTO luminaire_history (luminaire_id, valid_from, technology, rated_power_w, recorded_by)
SELECT id, '1900-01-01+00', 'fluorescent', 36, 'bench' FROM luminaires;
INSERT INTO luminaire_history (luminaire_id, valid_from, technology, rated_power_w, recorded_by)
SELECT l.id, make_timestamptz(2017 + e.b %% 8, 1 + e.b %% 12, 1, 0, 0, 0, 'Europe/Copenhagen'), 'led', 18, 'bench'
FROM luminaires l JOIN est e ON e.id = l.building_id WHERE e.b %% 4 <> 0;

-- active alerts (one building in four) and some resolved ones
INSERT INTO alerts (rule, building_id, subject, state, severity, title, detail, periods, wasted_kwh, first_seen,
                    last_seen)
SELECT (ARRAY['night_baseload', 'lights_out_of_hours', 'above_baseline', 'dh_cooling', 'counter_anomaly',
              'meter_silent'])[1 + e.b %% 6], e.id, e.id || '-EL',
       CASE WHEN e.b %% 3 = 0 THEN 'acknowledged'::alert_state ELSE 'open'::alert_state END,
       'warning', 'bench alert ' || e.b, jsonb_build_object('bench', true, 'kwh', e.b), ARRAY['2026-11-01'],
       e.b %% 300, now() - interval '3 days', now() - interval '1 hour'
FROM est e WHERE e.b %% 4 = 2;
INSERT INTO alerts (rule, building_id, subject, state, severity, title, wasted_kwh, first_seen, last_seen,
                    resolved_at, resolved_by, resolution)
SELECT 'night_baseload', e.id, e.id || '-EL', 'resolved', 'warning', 'old bench alert', 10,
       now() - interval '60 days', now() - interval '50 days', now() - interval '40 days', 'bench', 'fixed'
FROM est e WHERE e.b %% 5 = 1;
"""

# Monthly kWh per meter, set-based: months from 2015-01 to the running month, within each meter's active span.
# Electricity ~45 kWh/m2/year (ventilation a fifth of it, a sub-meter), heat ~110 kWh/m2/year split into a
# weather-independent quarter and the rest by degree days; every year 1.5-2 % less; PV, EV and water small.
MONTHLY_SQL = """
CREATE TEMP TABLE est_months AS
SELECT m::date AS month,
       make_timestamptz(extract(year FROM m)::int, extract(month FROM m)::int, 1, 0, 0, 0, 'Europe/Copenhagen')
           AS t0,
       make_timestamptz(extract(year FROM m + interval '1 month')::int,
                        extract(month FROM m + interval '1 month')::int, 1, 0, 0, 0, 'Europe/Copenhagen') AS t1,
       (%(normal)s::float8[])[extract(month FROM m)::int]
           * (1 + 0.12 * sin(extract(year FROM m) * 1.7 + extract(month FROM m))) AS dd
FROM generate_series(%(first)s::date, %(last)s::date, interval '1 month') m;

INSERT INTO consumption_monthly (meter_key, month, amount, measured_s, estimated)
SELECT mt.key, mo.month, round(kwh::numeric, 3)::float8 * covered, span * covered, 0
FROM meters mt
JOIN est e ON e.id = mt.building_id
CROSS JOIN est_months mo
CROSS JOIN LATERAL (SELECT greatest(mo.t0, coalesce(mt.active_from, mo.t0)) AS a,
                           least(mo.t1, coalesce(mt.active_to, mo.t1), %(now)s::timestamptz) AS z) w
CROSS JOIN LATERAL (SELECT extract(epoch FROM w.z - w.a) AS span,
                           extract(epoch FROM w.z - w.a) / extract(epoch FROM mo.t1 - mo.t0) AS frac,
                           CASE WHEN (mt.key * 31 + extract(month FROM mo.month)::int * 7
                                      + extract(year FROM mo.month)::int) %% 71 = 0 THEN 0.9 ELSE 1.0 END
                               AS covered,
                           1 - 0.018 * (extract(year FROM mo.month) - 2015) - 0.002 * (e.b %% 7) AS trend) f
CROSS JOIN LATERAL (SELECT frac * e.area * trend * CASE
    WHEN mt.carrier = 'electricity' AND mt.parent_meter_id IS NULL
        THEN 45.0 / 12 * (1 + 0.15 * cos(2 * pi() * (extract(month FROM mo.month) - 1) / 12))
    WHEN mt.carrier = 'electricity' THEN 9.0 / 12
    WHEN mt.carrier IN ('district_heating', 'natural_gas', 'oil')
        THEN 110.0 * (0.25 / 12 + 0.75 * mo.dd / 3171.0)
    WHEN mt.carrier = 'heat_pump' THEN 35.0 * (0.25 / 12 + 0.75 * mo.dd / 3171.0)
    WHEN mt.carrier = 'pv_production'
        THEN 12.0 / 12 * (1 - cos(2 * pi() * (extract(month FROM mo.month) - 0.5) / 12))
    WHEN mt.carrier = 'ev_charging' THEN 3.0 / 12
    ELSE 0.05 END AS kwh) k
WHERE w.z > w.a;
"""

BASELINE_SQL = """
INSERT INTO baseline_imports (actor, accepted, rejected) VALUES ('bench', 0, 0) RETURNING id;
"""


def _script(c: psycopg.Connection, sql: str, params: dict[str, object]) -> None:
    for statement in sql.split(";\n"):
        if statement.strip():
            c.execute(statement, params)


def generate(c: psycopg.Connection, buildings: int, now: datetime) -> dict[str, int]:
    """Write the estate into an empty (migrated) database; returns row counts."""
    _script(c, REGISTRY_SQL, {"n": buildings})
    running = date(now.year, now.month, 1)
    _script(c, MONTHLY_SQL, {"normal": NORMAL, "first": date(2015, 1, 1), "last": running, "now": now})
    # the 2015 baseline of every third building, imported (3 % above its rollups: invoices differ a little)
    import_id = c.execute(BASELINE_SQL).fetchone()[0]  # type: ignore[index]
    c.execute(
        "INSERT INTO baseline_entries (import_id, building_id, carrier, month, kwh, source) "
        "SELECT %s, m.building_id, m.carrier, c.month, round((sum(c.amount) * 1.03)::numeric, 1), 'invoice 2015' "
        "FROM consumption_monthly c JOIN meters m ON m.key = c.meter_key JOIN est e ON e.id = m.building_id "
        "WHERE c.month < '2016-01-01' AND e.b %% 3 = 0 AND m.parent_meter_id IS NULL "
        "AND m.carrier NOT IN ('water', 'pv_production') GROUP BY 1, 2, 3, 4", [import_id])
    n_base = c.execute("SELECT count(*) FROM baseline_entries WHERE import_id = %s", [import_id]).fetchone()
    c.execute("UPDATE baseline_imports SET accepted = %s WHERE id = %s", [n_base[0] if n_base else 0, import_id])
    # degree days 2015-01 .. the last complete month (the same numbers the heat above was made from)
    dd_id = c.execute("INSERT INTO degree_day_imports (actor, accepted) VALUES ('bench', 0) RETURNING id").fetchone()
    c.execute("INSERT INTO degree_day_entries (import_id, month, degree_days, source) "
              "SELECT %s, month, round(dd::numeric, 1), 'bench (synthetic)' FROM est_months WHERE month < %s",
              [dd_id[0] if dd_id else None, running])
    counts = {}
    for table in ("buildings", "meters", "consumption_monthly", "luminaires", "luminaire_history", "alerts",
                  "baseline_entries", "degree_day_entries", "building_adjustments"):
        row = c.execute(f"SELECT count(*) FROM {table}").fetchone()
        counts[table] = int(row[0]) if row else 0
    return counts
