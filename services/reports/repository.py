"""All SQL of the reports that services/targets' repositories do not already give (the buildings' monthly figures,
the CO2 factors and intensities, the weather: services.targets.service and .reference). Functions take a psycopg
connection inside a transaction the caller owns."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.db import PgConn

FACTOR_COLUMNS = ("id", "carrier", "year", "area", "kg_per_kwh", "method", "source", "created_at", "actor")


def co2_factor_rows(conn: PgConn, *, history: bool) -> list[dict[str, Any]]:
    """The CO2 factor table: the current row per carrier, year and area, or every version with `history`."""
    view = "co2_factors" if history else "co2_factors_current"
    cur = conn.execute(f"SELECT {', '.join(FACTOR_COLUMNS)} FROM {view} ORDER BY carrier, year, area, id")
    return [dict(zip(FACTOR_COLUMNS, r, strict=True)) for r in cur]


def luminaire_history(conn: PgConn, ids: Sequence[str] | None) -> list[tuple[str, str, datetime, str, float]]:
    """(luminaire, building, valid_from, technology, rated W) of every luminaire's technology history, oldest
    first; of the buildings `ids` (None: all)."""
    return [(lid, bid, valid_from, tech, float(watts)) for lid, bid, valid_from, tech, watts in conn.execute(
        "SELECT h.luminaire_id, l.building_id, h.valid_from, h.technology, h.rated_power_w "
        "FROM luminaire_history h JOIN luminaires l ON l.id = h.luminaire_id "
        "WHERE (%s::text[] IS NULL OR l.building_id = ANY(%s)) ORDER BY h.valid_from", [ids, ids])]


def lighting_by_building(conn: PgConn, ids: Sequence[str] | None, start: datetime, end: datetime
                         ) -> list[tuple[Any, ...]]:
    """Per building, from the luminaires' telemetry in [start, end): (building, luminaires with two or more
    readings, Wh used (energy register difference), Wh at full power (rated W x burning hours difference)); only
    buildings with such a luminaire."""
    if ids is None:
        # the whole portfolio: the year's telemetry aggregated per luminaire once, then joined (a lookup per
        # luminaire, as below, costs 50,000 index probes at 2,000 buildings even without telemetry); the same rows
        return conn.execute(
            """
            SELECT l.building_id, count(*) FILTER (WHERE t.n > 1), sum(t.wh), sum(l.rated_power_w * t.burn)
            FROM (SELECT luminaire_key, count(*) AS n, max(energy_wh) - min(energy_wh) AS wh,
                         max(burn_hours) - min(burn_hours) AS burn
                  FROM luminaire_telemetry WHERE ts >= %s AND ts < %s GROUP BY 1) t
            JOIN luminaires l ON l.key = t.luminaire_key
            WHERE t.n > 1
            GROUP BY 1 ORDER BY 1
            """, [start, end]).fetchall()
    return conn.execute(
        """
        SELECT l.building_id, count(*) FILTER (WHERE t.n > 1), sum(t.wh), sum(t.full_wh)
        FROM luminaires l JOIN LATERAL (
            SELECT count(*) AS n, max(energy_wh) - min(energy_wh) AS wh,
                   l.rated_power_w * (max(burn_hours) - min(burn_hours)) AS full_wh
            FROM luminaire_telemetry WHERE luminaire_key = l.key AND ts >= %s AND ts < %s
        ) t ON TRUE
        WHERE l.building_id = ANY(%s) AND t.n > 1
        GROUP BY 1 ORDER BY 1
        """, [start, end, list(ids)]).fetchall()


def heating_now(conn: PgConn, building_ids: Sequence[str]) -> dict[str, str | None]:
    """Each building's heating as the registry holds it now."""
    return {r[0]: r[1] for r in conn.execute("SELECT id, heating FROM buildings WHERE id = ANY(%s)",
                                             [list(building_ids)])}


def fossil_meters(conn: PgConn, building_ids: Sequence[str]) -> list[tuple[Any, ...]]:
    """(meter, building, carrier, active_from, active_to, replaced_by) of the buildings' oil and natural gas
    meters, by meter id."""
    return conn.execute(
        "SELECT id, building_id, carrier, active_from, active_to, replaced_by FROM meters "
        "WHERE carrier IN ('natural_gas', 'oil') AND building_id = ANY(%s) ORDER BY id",
        [list(building_ids)]).fetchall()


def registered_labels(conn: PgConn, ids: Sequence[str] | None) -> dict[str, tuple[str | None, float]]:
    """Each building's registered energy label and heated area (m²) now; of the buildings `ids` (None: all)."""
    return {r[0]: (r[1], float(r[2])) for r in conn.execute(
        "SELECT id, energy_label, heated_area_m2 FROM buildings WHERE (%s::text[] IS NULL OR id = ANY(%s))",
        [ids, ids])}
