"""Alert rules as pure functions over the data they judge: each returns a Finding (fire) or None (normal).

Thresholds are parameters (rules are data: defaults, per building type, per building); the evaluator in
services.alerts.service fetches the data and keeps alerts deduplicated with their states.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.calendar import closed_reason, hour_open, open_at

RULES = ("meter_silent", "counter_anomaly", "night_baseload", "lights_out_of_hours", "above_baseline", "dh_cooling")

DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    # a meter is judged while installed (its lifecycle, active_from/active_to); the former "ignore_after_days" (90)
    # heuristic is gone: a stored rule row that still names it is not read (docs/meter-lifecycle.md)
    "meter_silent": {"intervals": 3, "default_interval_minutes": 60},
    "counter_anomaly": {"kinds": ["glitch", "reset", "exchange", "spike"]},
    # closed-hour mean power above the building's own median of the previous `window_days` by `margin_pct`
    # public holidays are closed days unless open_on_public_holidays (a nursing home, a sports hall with events);
    # school holidays are closed days where school_holidays is set (schools, by a building-type rule)
    "night_baseload": {"margin_pct": 30, "window_days": 30, "min_days": 7, "min_kwh": 1.0,
                       "school_holidays": False, "open_on_public_holidays": False},
    "lights_out_of_hours": {"min_power_w": 5, "min_minutes": 30, "max_gap_minutes": 60, "school_holidays": False,
                            "open_on_public_holidays": False},
    # weather-corrected month against the same month of the baseline year, and a week against the same ISO week
    # of last year
    "above_baseline": {"month_margin_pct": 25, "week_margin_pct": 30, "min_kwh": 10.0},
    "dh_cooling": {"max_return_c": 40.0, "min_cooling_k": 25.0, "min_samples": 6},
}


# Every parameter's declared range (inclusive): what PUT /alert-rules accepts, what its OpenAPI document declares
# (services.alerts.schemas) and what the evaluator reads from a stored row (services.alerts.repository.RuleBook). The
# minimum is 1 where 0 means nothing (windows, counts, intervals, samples) and 0 where it is a real threshold
# (margins, kWh, kelvin); the maximum is one an energy manager would defend.
PERCENT = (0, 1000)
PARAM_BOUNDS: dict[str, dict[str, tuple[float, float]]] = {
    # default_interval_minutes: register meters without an interval; a monthly manual read at most (31 days)
    "meter_silent": {"intervals": (1, 1000), "default_interval_minutes": (1, 31 * 24 * 60)},
    "counter_anomaly": {},
    "night_baseload": {"margin_pct": PERCENT, "window_days": (1, 366), "min_days": (1, 366),
                       "min_kwh": (0, 1_000_000)},
    # min_minutes sums the luminaires' minutes on out of hours: up to a week of luminaire-minutes
    "lights_out_of_hours": {"min_power_w": (1, 10_000), "min_minutes": (1, 7 * 24 * 60),
                            "max_gap_minutes": (1, 24 * 60)},
    "above_baseline": {"month_margin_pct": PERCENT, "week_margin_pct": PERCENT, "min_kwh": (0, 1_000_000)},
    "dh_cooling": {"max_return_c": (0, 100), "min_cooling_k": (0, 100), "min_samples": (1, 24 * 60)},
}


def check_param(rule: str, key: str, value: Any) -> Any:
    """`value` as rule `rule` reads parameter `key` (a whole number written 30.0 is the count 30), or ValueError saying
    why it is refused: an unknown key, the wrong type (never true/false for a number, never a string), a number
    outside its range or not finite, a kind the rule does not know."""
    known = DEFAULT_PARAMS[rule]
    if key not in known:
        raise ValueError(f"unknown parameter; {rule} has {', '.join(sorted(known))}")
    default = known[key]
    if isinstance(default, bool):
        if type(value) is not bool:
            raise ValueError("must be true or false")
        return value
    if isinstance(default, list):
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ValueError(f"a non-empty list of {', '.join(default)} (enabled false switches the rule off)")
        if not set(value) <= set(default) or len(set(value)) != len(value):
            raise ValueError(f"each of {', '.join(default)} at most once")
        return value
    if type(value) not in (int, float) or not math.isfinite(value):
        raise ValueError(f"must be a {'whole ' if type(default) is int else ''}number")
    if type(default) is int:
        if type(value) is float and not value.is_integer():
            raise ValueError("must be a whole number")
        value = int(value)
    lo, hi = PARAM_BOUNDS[rule][key]
    if not lo <= value <= hi:
        raise ValueError(f"must be between {lo:g} and {hi:g}")
    return value


@dataclass(frozen=True)
class Finding:
    period: str  # what the finding is about (a day, a month, a week, a decision); dedupes re-evaluation
    title: str
    detail: dict[str, Any] = field(default_factory=dict)
    wasted_kwh: float | None = None
    severity: str = "warning"


@dataclass(frozen=True)
class SilentVerdict:
    """What meter_silent decides for one meter: fire `finding`; or resolve an active alert, saying `clear_why`; or,
    with neither, leave an active alert as it is and raise none."""

    finding: Finding | None = None
    clear_why: str | None = None


def _at(ts: datetime, tz: ZoneInfo | None) -> str:
    """An instant as a title says it: in the installation's time zone (UTC without one) with its offset, to the
    minute (2026-11-30 15:00+01:00)."""
    return ts.astimezone(tz or UTC).isoformat(sep=" ", timespec="minutes")


def meter_silent_verdict(last_ts: datetime | None, now: datetime, interval_minutes: int | None,
                         params: Mapping[str, Any], *, active_from: datetime | None = None,
                         active_to: datetime | None = None, tz: ZoneInfo | None = None) -> SilentVerdict:
    """No reading for `intervals` x the meter's interval while the meter is installed ([active_from, active_to)).

    A meter not yet installed is not judged. A removed meter raises nothing after its active_to: its silence is
    judged up to active_to, so an alert whose silence began only after the removal resolves, while one for a meter
    that fell silent while installed stays open (its readings are missing from its active span) without repeating.
    A meter that never reported is not judged. However long a meter without an active_to is silent, it stays judged:
    only its declared removal ends the alert (it also still counts against coverage until then)."""
    if active_from is not None and now < active_from:
        return SilentVerdict(clear_why=f"not installed until {_at(active_from, tz)}")
    if last_ts is None:
        return SilentVerdict()
    interval = timedelta(minutes=interval_minutes or params["default_interval_minutes"])
    allowed = interval * params["intervals"]
    removed = active_to is not None and now >= active_to
    judged_until = active_to if removed and active_to is not None else now
    silent_for = judged_until - last_ts
    if silent_for <= allowed:
        return SilentVerdict(clear_why=(
            f"removed at {_at(judged_until, tz)}, before it fell silent" if removed
            else f"readings again from {_at(last_ts, tz)}"))
    if removed:
        return SilentVerdict()
    return SilentVerdict(finding=Finding(
        period=last_ts.isoformat(), title=f"meter silent since {_at(last_ts, tz)}",
        detail={"last_reading": last_ts.isoformat(), "silent_hours": round(silent_for / timedelta(hours=1), 2),
                "allowed_hours": round(allowed / timedelta(hours=1), 2)}))


def meter_silent(last_ts: datetime | None, now: datetime, interval_minutes: int | None,
                 params: Mapping[str, Any], *, active_from: datetime | None = None,
                 active_to: datetime | None = None, tz: ZoneInfo | None = None) -> Finding | None:
    """The finding of `meter_silent_verdict`, or None when it raises nothing."""
    return meter_silent_verdict(last_ts, now, interval_minutes, params, active_from=active_from,
                                active_to=active_to, tz=tz).finding


def night_baseload(hourly: Mapping[datetime, float], day: date, opening_hours: dict[str, Any] | None,
                   params: Mapping[str, Any], *, school: bool) -> Finding | None:
    """`hourly`: local hour start -> kWh (electricity) for `day` and the window before it. Compares the mean power
    of `day`'s closed hours with the median of the previous days' closed-hour mean power."""
    if opening_hours is None:
        return None

    holidays_closed = not params.get("open_on_public_holidays", False)

    def closed_mean(d: date) -> tuple[float, int] | None:
        hours = [(h, kwh) for h, kwh in hourly.items() if h.date() == d]
        closed = [kwh for h, kwh in hours
                  if not hour_open(opening_hours, h, school=school, holidays_closed=holidays_closed)]
        if not closed:
            return None
        return sum(closed) / len(closed), len(closed)

    today = closed_mean(day)
    if today is None:
        return None
    history = [m for k in range(1, params["window_days"] + 1)
               if (m := closed_mean(day - timedelta(days=k))) is not None]
    if len(history) < params["min_days"]:
        return None
    normal = statistics.median(m for m, _ in history)
    mean, n = today
    wasted = (mean - normal) * n
    if mean <= normal * (1 + params["margin_pct"] / 100) or wasted < params["min_kwh"]:
        return None
    why = closed_reason(day, school=school, public=holidays_closed)
    return Finding(
        period=day.isoformat(),
        title=f"baseload outside opening hours {mean:.1f} kW against a normal {normal:.1f} kW on {day}",
        detail={"day": day.isoformat(), "closed_hours": n, "mean_kw": round(mean, 3), "normal_kw": round(normal, 3),
                "margin_pct": params["margin_pct"], "days_in_normal": len(history), "closed_day": why},
        wasted_kwh=round(wasted, 3))


@dataclass(frozen=True)
class LightSample:
    local: datetime
    power_w: float | None
    on: bool | None


def lights_out_of_hours(samples: Mapping[str, Sequence[LightSample]], rated_w: Mapping[str, float], day: date,
                        opening_hours: dict[str, Any] | None, params: Mapping[str, Any], *, school: bool,
                        ) -> Finding | None:
    """Luminaires on (or drawing at least `min_power_w`) while the building is closed on `day`. Each sample holds
    until the next one, at most `max_gap_minutes`. Wasted kWh = power (else rated power) x time on out of hours."""
    if opening_hours is None:
        return None
    gap = timedelta(minutes=params["max_gap_minutes"])
    holidays_closed = not params.get("open_on_public_holidays", False)
    minutes: dict[str, float] = {}
    day_end: datetime | None = None  # local midnight after `day` (from a sample's zone), a sample's hold ends there
    wasted_wh = 0.0
    for lid, unsorted in samples.items():
        rows = sorted(unsorted, key=lambda s: s.local)
        for i, s in enumerate(rows):
            if s.local.date() != day:
                continue
            lit = s.on if s.on is not None else (s.power_w or 0) >= params["min_power_w"]
            if s.power_w is not None and s.power_w < params["min_power_w"]:
                lit = False
            if not lit or open_at(opening_hours, s.local, school=school, holidays_closed=holidays_closed):
                continue
            if day_end is None:
                day_end = (datetime(day.year, day.month, day.day, tzinfo=s.local.tzinfo) + timedelta(days=1)
                           ).astimezone(UTC).astimezone(s.local.tzinfo)
            nxt = rows[i + 1].local if i + 1 < len(rows) else s.local + gap
            held = min(nxt, day_end) - s.local
            held = min(held, gap)
            m = held.total_seconds() / 60
            minutes[lid] = minutes.get(lid, 0.0) + m
            wasted_wh += (s.power_w if s.power_w is not None else rated_w.get(lid, 0.0)) * m / 60
    total = sum(minutes.values())
    if total < params["min_minutes"]:
        return None
    why = closed_reason(day, school=school, public=holidays_closed)
    return Finding(
        period=day.isoformat(),
        title=f"lights on outside opening hours on {day}: {len(minutes)} luminaire(s), {total / 60:.1f} h"
              + (f" ({why})" if why else ""),
        detail={"day": day.isoformat(), "luminaires": {k: round(v, 1) for k, v in sorted(minutes.items())},
                "closed_day": why},
        wasted_kwh=round(wasted_wh / 1000, 3))


def above(actual: float, reference: float, *, margin_pct: float, min_kwh: float, period: str, what: str
          ) -> Finding | None:
    """Consumption over a reference by more than the margin (and at least min_kwh)."""
    if reference <= 0 or actual <= reference * (1 + margin_pct / 100) or actual - reference < min_kwh:
        return None
    pct = (actual / reference - 1) * 100
    return Finding(period=period, title=f"{what}: {actual:,.0f} kWh, {pct:.0f} % above the reference",
                   detail={"actual_kwh": round(actual, 1), "reference_kwh": round(reference, 1),
                           "above_pct": round(pct, 1), "margin_pct": margin_pct},
                   wasted_kwh=round(actual - reference, 1))


@dataclass(frozen=True)
class HeatSample:
    flow_c: float | None
    return_c: float | None
    volume_m3h: float | None


def dh_cooling(samples: Sequence[HeatSample], day: date, params: Mapping[str, Any]) -> Finding | None:
    """Poor district-heating cooling on `day`: mean return temperature above `max_return_c` or mean cooling (flow
    minus return) under `min_cooling_k`. Means are volume-weighted when volume flow is reported."""
    rows = [s for s in samples if s.return_c is not None]
    if len(rows) < params["min_samples"]:
        return None
    weights = [s.volume_m3h if s.volume_m3h and s.volume_m3h > 0 else 1.0 for s in rows]
    ret = sum(w * (s.return_c or 0) for w, s in zip(weights, rows, strict=True)) / sum(weights)
    pairs = [(w, s) for w, s in zip(weights, rows, strict=True) if s.flow_c is not None]
    cooling = (sum(w * ((s.flow_c or 0) - (s.return_c or 0)) for w, s in pairs) / sum(w for w, _ in pairs)
               if pairs else None)
    bad_return = ret > params["max_return_c"]
    bad_cooling = cooling is not None and cooling < params["min_cooling_k"]
    if not bad_return and not bad_cooling:
        return None
    return Finding(period=day.isoformat(),
                   title=f"poor district-heating cooling on {day}: return {ret:.1f} °C"
                         + (f", cooling {cooling:.1f} K" if cooling is not None else ""),
                   detail={"day": day.isoformat(), "mean_return_c": round(ret, 2),
                           "mean_cooling_k": round(cooling, 2) if cooling is not None else None,
                           "max_return_c": params["max_return_c"], "min_cooling_k": params["min_cooling_k"],
                           "samples": len(rows)})
