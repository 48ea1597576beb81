"""Alerts in the database: deduplicated firing, states (open, acknowledged, resolved) with history, rule parameters
resolved from defaults, building type and building, and the webhook queue."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from services.alerts.rules import DEFAULT_PARAMS, Finding, check_param
from services.db import PgConn
from services.errors import NotFoundError, ValidationFailed

SYSTEM = "energiblik"
MAX_PERIODS = 60  # periods remembered per alert (dedupe window for re-evaluation)
ALERT_COLUMNS = ("id", "rule", "building_id", "subject", "state", "severity", "title", "detail", "wasted_kwh",
                 "first_seen", "last_seen", "occurrences", "acknowledged_at", "acknowledged_by", "resolved_at",
                 "resolved_by", "resolution")


class Key(NamedTuple):
    """An alert's identity while active: at most one open or acknowledged alert per key."""

    rule: str
    building_id: str
    subject: str


@dataclass(frozen=True)
class RuleConfig:
    enabled: bool
    params: dict[str, Any]


class RuleBook:
    """Rule rows resolved per building: defaults < building type < building.

    A stored value the API would refuse today (a row written before the ranges were declared, or by hand) is not
    read: the less specific level's value (in the end the shipped default) is used, and the value is listed in
    `problems` for the evaluator to report. A key the rule no longer has (e.g. meter_silent's former
    ignore_after_days) is ignored without a word."""

    def __init__(self, rows: Sequence[tuple[str, str | None, str | None, Any, bool]]) -> None:
        self._rows: dict[tuple[str, str | None, str | None], tuple[dict[str, Any], bool]] = {}
        self.problems: list[str] = []
        for rule, building_type, building_id, stored, enabled in rows:
            if rule not in DEFAULT_PARAMS:
                continue
            where = (f"building {building_id}" if building_id is not None
                     else f"building type {building_type}" if building_type is not None else "defaults")
            good: dict[str, Any] = {}
            params = stored if isinstance(stored, dict) else {}
            if not isinstance(stored, dict):
                self.problems.append(f"alert rule {rule} ({where}): params {stored!r} is not an object; not read")
            for k, v in params.items():
                if k not in DEFAULT_PARAMS[rule]:
                    continue
                try:
                    good[k] = check_param(rule, k, v)
                except ValueError as exc:
                    self.problems.append(f"alert rule {rule} ({where}): {k}={v!r} {exc}; not read, the "
                                         f"{'shipped default' if where == 'defaults' else 'less specific value'} "
                                         "is used")
            self._rows[(rule, building_type, building_id)] = (good, bool(enabled))

    def for_building(self, rule: str, building_type: str, building_id: str) -> RuleConfig:
        params = dict(DEFAULT_PARAMS[rule])
        enabled = True
        for key in ((rule, None, None), (rule, building_type, None), (rule, None, building_id)):
            found = self._rows.get(key)
            if found is not None:
                params.update(found[0])
                enabled = found[1]
        return RuleConfig(enabled, params)


def seed_default_rules(conn: Any) -> None:
    """The shipped rule rows: defaults for every rule, and schools following school holidays. `conn` is a psycopg
    or SQLAlchemy connection (the migration uses the latter)."""
    run = conn.exec_driver_sql if hasattr(conn, "exec_driver_sql") else conn.execute
    for rule, params in DEFAULT_PARAMS.items():
        run("INSERT INTO alert_rules (rule, params) VALUES (%(r)s, %(p)s) ON CONFLICT DO NOTHING",
            {"r": rule, "p": json.dumps(params)})
    for rule in ("night_baseload", "lights_out_of_hours"):
        run("INSERT INTO alert_rules (rule, building_type, params) VALUES (%(r)s, 'school', %(p)s) "
            "ON CONFLICT DO NOTHING", {"r": rule, "p": json.dumps({"school_holidays": True})})


def rule_book(conn: PgConn) -> RuleBook:
    return RuleBook(conn.execute("SELECT rule, building_type, building_id, params, enabled FROM alert_rules")
                    .fetchall())


def _payload(conn: PgConn, alert_id: int, event: str) -> dict[str, Any]:
    alert = get(conn, alert_id)
    return {"event": event, "alert": {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in alert.items()
                                      if k != "events"}}


def _event(conn: PgConn, alert_id: int, kind: str, actor: str, detail: dict[str, Any], *, notify: bool) -> None:
    conn.execute("INSERT INTO alert_events (alert_id, kind, actor, detail) VALUES (%s, %s, %s, %s)",
                 [alert_id, kind, actor, json.dumps(detail, default=str)])
    if notify:
        conn.execute("INSERT INTO webhook_deliveries (alert_id, event, payload) VALUES (%s, %s, %s)",
                     [alert_id, f"alert.{kind}", json.dumps(_payload(conn, alert_id, f"alert.{kind}"), default=str)])


def fire(conn: PgConn, key: Key, f: Finding, now: datetime, *, notify: bool = True) -> tuple[int, str]:
    """Open an alert, or add this finding to the active one. A period already recorded, by the active alert or by a
    resolved one, changes nothing (rules are re-evaluated as data arrives). Returns (alert id, "opened" | "repeated"
    | "unchanged")."""
    rule, building_id, subject = key
    row = conn.execute("SELECT id, periods FROM alerts WHERE rule = %s AND building_id = %s AND subject = %s "
                       "AND state <> 'resolved' FOR UPDATE", [rule, building_id, subject]).fetchone()
    if row is None:
        # a period an alert already recorded, now resolved (automatically or by hand), opens nothing again: each
        # evaluation judges the last days again, and a day that fired before the condition ended must not open a
        # new alert every minute
        done = conn.execute("SELECT id FROM alerts WHERE building_id = %s AND rule = %s AND subject = %s "
                            "AND %s = ANY(periods) ORDER BY id DESC LIMIT 1",
                            [building_id, rule, subject, f.period]).fetchone()
        if done is not None:
            return int(done[0]), "unchanged"
        new = conn.execute(
            "INSERT INTO alerts (rule, building_id, subject, severity, title, detail, periods, wasted_kwh, first_seen, "
            "last_seen) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
            [rule, building_id, subject, f.severity, f.title, json.dumps(f.detail, default=str), [f.period],
             f.wasted_kwh, now, now]).fetchone()
        if new is None:  # another evaluator opened it a moment ago
            return fire(conn, key, f, now, notify=notify)
        _event(conn, int(new[0]), "opened", SYSTEM, {"period": f.period, **f.detail}, notify=notify)
        return int(new[0]), "opened"
    alert_id, periods = int(row[0]), list(row[1])
    if f.period in periods:
        return alert_id, "unchanged"
    periods = [*periods, f.period][-MAX_PERIODS:]
    conn.execute(
        "UPDATE alerts SET title = %s, detail = %s, periods = %s, last_seen = %s, occurrences = occurrences + 1, "
        "wasted_kwh = CASE WHEN %s::float8 IS NULL THEN wasted_kwh ELSE coalesce(wasted_kwh, 0) + %s END "
        "WHERE id = %s",
        [f.title, json.dumps(f.detail, default=str), periods, now, f.wasted_kwh, f.wasted_kwh, alert_id])
    _event(conn, alert_id, "repeated", SYSTEM, {"period": f.period, **f.detail}, notify=False)
    return alert_id, "repeated"


def clear(conn: PgConn, key: Key, why: str, now: datetime) -> int | None:
    """The condition is over: resolve the active alert automatically (an acknowledged one too)."""
    row = conn.execute("SELECT id FROM alerts WHERE rule = %s AND building_id = %s AND subject = %s "
                       "AND state <> 'resolved' FOR UPDATE", list(key)).fetchone()
    if row is None:
        return None
    conn.execute("UPDATE alerts SET state = 'resolved', resolved_at = %s, resolved_by = %s, resolution = %s "
                 "WHERE id = %s", [now, SYSTEM, why, row[0]])
    _event(conn, int(row[0]), "resolved", SYSTEM, {"why": why, "automatic": True}, notify=True)
    return int(row[0])


def get(conn: PgConn, alert_id: int) -> dict[str, Any]:
    row = conn.execute(f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts WHERE id = %s", [alert_id]).fetchone()
    if row is None:
        raise NotFoundError("alert", str(alert_id))
    out = dict(zip(ALERT_COLUMNS, row, strict=True))
    out["state"] = str(out["state"])
    return out


def events(conn: PgConn, alert_id: int) -> list[dict[str, Any]]:
    cur = conn.execute("SELECT at, kind, actor, detail FROM alert_events WHERE alert_id = %s ORDER BY id",
                       [alert_id])
    return [{"at": r[0], "kind": r[1], "actor": r[2], "detail": r[3]} for r in cur]


def change_state(conn: PgConn, alert_id: int, to: str, *, actor: str, note: str | None, now: datetime
                 ) -> dict[str, Any]:
    """Acknowledge (open -> acknowledged) or resolve (open/acknowledged -> resolved) by hand."""
    a = get(conn, alert_id)
    if a["state"] == "resolved":
        raise ValidationFailed("state", f"alert {alert_id} is already resolved")
    if to == "acknowledged":
        if a["state"] == "acknowledged":
            raise ValidationFailed("state", f"alert {alert_id} is already acknowledged")
        conn.execute("UPDATE alerts SET state = 'acknowledged', acknowledged_at = %s, acknowledged_by = %s "
                     "WHERE id = %s", [now, actor, alert_id])
    else:
        conn.execute("UPDATE alerts SET state = 'resolved', resolved_at = %s, resolved_by = %s, resolution = %s "
                     "WHERE id = %s", [now, actor, note or "resolved by hand", alert_id])
    _event(conn, alert_id, to, actor, {"note": note}, notify=to == "resolved")
    return get(conn, alert_id)


def search(conn: PgConn, *, building_ids: Sequence[str] | None, building_id: str | None, rule: str | None,
           state: str | None, since: datetime | None, until: datetime | None, limit: int) -> list[dict[str, Any]]:
    where: list[str] = ["TRUE"]
    params: list[Any] = []
    if building_ids is not None:
        where.append("building_id = ANY(%s)")
        params.append(list(building_ids))
    for col, val in (("building_id", building_id), ("rule", rule), ("state", state)):
        if val is not None:
            where.append(f"{col} = %s")
            params.append(val)
    if since is not None:
        where.append("last_seen >= %s")
        params.append(since)
    if until is not None:
        where.append("first_seen < %s")
        params.append(until)
    params.append(limit)
    cur = conn.execute(f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts WHERE {' AND '.join(where)} "
                       "ORDER BY last_seen DESC, id DESC LIMIT %s", params)
    out = []
    for r in cur:
        d = dict(zip(ALERT_COLUMNS, r, strict=True))
        d["state"] = str(d["state"])
        out.append(d)
    return out


def rules(conn: PgConn) -> list[dict[str, Any]]:
    """Every rule row, defaults first, then per building type, then per building."""
    cur = conn.execute("SELECT id, rule, building_type, building_id, params, enabled, updated_at "
                       "FROM alert_rules ORDER BY rule, building_type NULLS FIRST, building_id NULLS FIRST")
    keys = ("id", "rule", "building_type", "building_id", "params", "enabled", "updated_at")
    return [dict(zip(keys, r, strict=True)) for r in cur]


def facility_managers(conn: PgConn) -> list[tuple[int, str, list[str]]]:
    """The active facility-manager tokens: id, name, buildings (the digests' recipients)."""
    rows = conn.execute("SELECT id, name, building_ids FROM api_tokens WHERE role = 'facility_manager' "
                        "AND revoked_at IS NULL ORDER BY id").fetchall()
    return [(int(r[0]), str(r[1]), list(r[2])) for r in rows]


def put_rule(conn: PgConn, rule: str, *, building_type: str | None, building_id: str | None,
             params: dict[str, Any], enabled: bool) -> dict[str, Any]:
    """Create or merge a rule row (params merge key by key into what the row had)."""
    row = conn.execute(
        "INSERT INTO alert_rules (rule, building_type, building_id, params, enabled) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (rule, building_type, building_id) DO UPDATE SET params = alert_rules.params || "
        "EXCLUDED.params, enabled = EXCLUDED.enabled, updated_at = now() "
        "RETURNING id, rule, building_type, building_id, params, enabled, updated_at",
        [rule, building_type, building_id, json.dumps(params), enabled]).fetchone()
    assert row is not None
    keys = ("id", "rule", "building_type", "building_id", "params", "enabled", "updated_at")
    return dict(zip(keys, row, strict=True))


def building_exists(conn: PgConn, building_id: str) -> bool:
    return conn.execute("SELECT 1 FROM buildings WHERE id = %s", [building_id]).fetchone() is not None


# What the rules judge (read in the evaluation's transaction)

def buildings(conn: PgConn) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every building: id, type and opening hours."""
    return [(r[0], r[1], r[2]) for r in conn.execute("SELECT id, type, opening_hours FROM buildings")]


def building_meters(conn: PgConn, building_id: str
                    ) -> list[tuple[str, int, int | None, datetime | None, datetime | None]]:
    """The building's meters: id, key, interval minutes, active from, active to."""
    return [(r[0], r[1], r[2], r[3], r[4]) for r in conn.execute(
        "SELECT id, key, interval_minutes, active_from, active_to FROM meters WHERE building_id = %s", [building_id])]


def recent_decisions(conn: PgConn, building_id: str, kinds: Sequence[str], since: datetime
                     ) -> list[tuple[str, datetime, str, float, float, str]]:
    """Counter decisions of these kinds on the building's meters decided since `since`, oldest first: meter id, ts,
    kind, value, reference, detail."""
    return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in conn.execute(
        "SELECT m.id, d.ts, d.kind, d.value, d.reference, d.detail FROM consumption_decisions d "
        "JOIN meters m ON m.key = d.meter_key WHERE m.building_id = %s AND d.kind = ANY(%s) "
        "AND d.decided_at >= %s ORDER BY d.ts", [building_id, list(kinds), since])]


def electricity_hours(conn: PgConn, building_id: str, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    """The building's main electricity meters' kWh per hour in [start, end) (from the hourly rollup)."""
    return [(r[0], float(r[1])) for r in conn.execute(
        "SELECT h.hour, sum(h.amount) FROM consumption_hourly h JOIN meters m ON m.key = h.meter_key "
        "WHERE m.building_id = %s AND m.carrier = 'electricity' AND m.parent_meter_id IS NULL "
        "AND h.hour >= %s AND h.hour < %s GROUP BY 1", [building_id, start, end])]


def luminaire_samples(conn: PgConn, building_id: str, start: datetime, end: datetime
                      ) -> list[tuple[str, float, datetime, float | None, bool | None]]:
    """The building's luminaire telemetry in [start, end), oldest first: luminaire id, rated W, ts, power W, on."""
    return [(r[0], r[1], r[2], r[3], r[4]) for r in conn.execute(
        "SELECT l.id, l.rated_power_w, t.ts, t.power_w, t.is_on FROM luminaires l JOIN luminaire_telemetry t "
        "ON t.luminaire_key = l.key WHERE l.building_id = %s AND t.ts >= %s AND t.ts < %s ORDER BY t.ts",
        [building_id, start, end])]


def energy_baseline_year(conn: PgConn) -> int | None:
    """The baseline year of the energy target T1 (None: no such target)."""
    row = conn.execute("SELECT baseline_year FROM targets WHERE id = 'T1'").fetchone()
    return None if row is None else int(row[0])


def main_energy_kwh(conn: PgConn, building_id: str, day_from: date, day_to: date) -> float:
    """The building's energy (main meters, neither water nor PV production) in local days [day_from, day_to), from
    the daily rollup; 0 without any."""
    row = conn.execute(
        "SELECT sum(c.amount) FROM consumption_daily c JOIN meters m ON m.key = c.meter_key "
        "WHERE m.building_id = %s AND m.parent_meter_id IS NULL AND m.carrier NOT IN ('water', 'pv_production') "
        "AND c.day >= %s AND c.day < %s", [building_id, day_from, day_to]).fetchone()
    return float(row[0]) if row and row[0] is not None else 0.0


def district_heating_meters(conn: PgConn, building_id: str) -> list[tuple[str, int]]:
    """The building's district-heating meters: id, key."""
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT id, key FROM meters WHERE building_id = %s AND carrier = 'district_heating'", [building_id])]


def heat_samples(conn: PgConn, meter_key: int, start: datetime, end: datetime
                 ) -> list[tuple[float | None, float | None, float | None]]:
    """A heat meter's telemetry in [start, end): flow °C, return °C, volume flow m3/h."""
    return [(r[0], r[1], r[2]) for r in conn.execute(
        "SELECT flow_c, return_c, volume_flow_m3h FROM heat_telemetry WHERE meter_key = %s AND ts >= %s AND ts < %s",
        [meter_key, start, end])]


def try_evaluation_lock(conn: PgConn, lock: int) -> bool:
    """Take the transaction-scoped advisory lock that lets one evaluator run at a time; False: another holds it."""
    return conn.execute("SELECT pg_try_advisory_xact_lock(%s)", [lock]).fetchone() == (True,)


# The webhook queue

def due_deliveries(conn: PgConn, now: datetime, limit: int) -> list[tuple[int, str, Any, int]]:
    """Undelivered, not given-up deliveries due by `now`, oldest first, locked (others skip them): id, event,
    payload, attempts."""
    return [(r[0], r[1], r[2], r[3]) for r in conn.execute(
        "SELECT id, event, payload, attempts FROM webhook_deliveries WHERE delivered_at IS NULL AND failed_at IS NULL "
        "AND next_attempt_at <= %s ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED", [now, limit])]


def delivery_failed(conn: PgConn, delivery_id: int, *, attempts: int, error: str, next_attempt_at: datetime,
                    final: bool, now: datetime) -> None:
    """Record a failed attempt: when to try again, or (final) that it is given up."""
    conn.execute("UPDATE webhook_deliveries SET attempts = %s, last_error = %s, next_attempt_at = %s, "
                 "failed_at = CASE WHEN %s THEN %s END WHERE id = %s",
                 [attempts, error, next_attempt_at, final, now, delivery_id])


def delivery_done(conn: PgConn, delivery_id: int, now: datetime) -> None:
    """Record a delivery as delivered."""
    conn.execute("UPDATE webhook_deliveries SET attempts = attempts + 1, delivered_at = %s, last_error = NULL "
                 "WHERE id = %s", [now, delivery_id])
