"""Coverage and estimated share, defined once (PRODUCT.md, "Quality"; docs/semantics.md): every figure that reports
them (consumption series, progress, CO2, green accounts, labels, dashboard) takes them from here.

A period's consumption is *measured* where it follows from readings that bracket it:

- a step (two consecutive register readings, or an interval reading's interval) lying wholly inside the period is
  measured however long it is;
- where a step crosses the period's edge, the part apportioned to the period is *estimated* when the step is longer
  than the meter's expected interval (a gap: read with a tolerance of half an interval, more than 1.5 x the
  interval, engine.register_segments; docs/semantics.md says why), measured
  otherwise;
- parts from estimated readings (estimated, calculated, missing) stay estimated;
- a meter counts only inside its active span [active_from, active_to): its consumption outside is clipped away, and
  its time outside is neither measured nor missing.

Coverage = measured seconds / the meters' active seconds in the period (0 when no meter is active).
Estimated share = estimated amount / amount (0 when the amount is 0).

The engine (engine.apportion) applies the rule to any set of period edges. The rollups apply it per hour and local
day; larger periods are built from smaller rows, where a gap step that crosses the smaller rows' edges but lies
inside the larger period has been counted as estimated: `gap_credit` gives what to move back to measured (the steps
are kept in consumption_gap_steps).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.consumption.engine import Segment, apportion
from services.consumption.periods import Resolution, period_edges

ActiveSpan = tuple[datetime | None, datetime | None]  # [active_from, active_to); None: open on that side
ALWAYS: ActiveSpan = (None, None)


@dataclass(frozen=True, slots=True)
class GapStep:
    """A register step longer than the meter's expected interval, not estimated, crossing a local-day edge: its
    parts are estimated in the days (and hours) it crosses, and measured in any period it lies inside."""

    meter_key: int
    start: datetime
    end: datetime
    amount: float


def coverage(measured_s: float, active_s: float) -> float:
    """The measured share of the meters' active time in a period (0 when no meter is active there)."""
    if active_s <= 0:
        return 0.0
    return min(1.0, max(0.0, measured_s / active_s))


def estimated_share(estimated: float, amount: float) -> float:
    """The share of the amount that is interpolated over gaps or comes from estimated readings."""
    if amount <= 0:
        return 0.0
    return min(1.0, max(0.0, estimated / amount))


def active_seconds(span: ActiveSpan, start: datetime, end: datetime) -> float:
    """Seconds of [start, end) inside a meter's active span."""
    lo = start if span[0] is None else max(start, span[0])
    hi = end if span[1] is None else min(end, span[1])
    return max(0.0, (hi - lo).total_seconds())


def active_seconds_per_period(spans: Iterable[ActiveSpan], edges: Sequence[datetime]) -> list[float]:
    """Σ over the meters of their active seconds in each period [edges[i], edges[i+1])."""
    n = len(edges) - 1
    out = [0.0] * max(n, 0)
    always = 0
    bounded: list[ActiveSpan] = []
    for sp in spans:
        if sp[0] is None and sp[1] is None:
            always += 1
        else:
            bounded.append(sp)
    for i in range(n):
        a, b = edges[i], edges[i + 1]
        out[i] = (b - a).total_seconds() * always + sum(active_seconds(sp, a, b) for sp in bounded)
    return out


def clip_to_active(segments: Sequence[Segment], span: ActiveSpan) -> list[Segment]:
    """The segments inside the active span. A segment cut by the span keeps the share of its amount that overlaps
    (linear, as apportioning does); a cut gap becomes estimated: the readings do not bracket the part that counts."""
    if span == ALWAYS:
        return list(segments)
    out = []
    for s in segments:
        lo = s.start if span[0] is None else max(s.start, span[0])
        hi = s.end if span[1] is None else min(s.end, span[1])
        if hi <= lo:
            continue
        if lo == s.start and hi == s.end:
            out.append(s)
            continue
        share = (hi - lo) / (s.end - s.start)
        out.append(Segment(lo, hi, s.kwh * share, interpolated=s.interpolated,
                           estimated=s.estimated or s.interpolated))
    return out


def crosses_edge(start: datetime, end: datetime, resolution: Resolution, tz: ZoneInfo) -> bool:
    """Does a local period edge of `resolution` lie strictly inside (start, end)?"""
    edges = period_edges(start, start + timedelta(microseconds=1), resolution, tz)
    return bool(edges) and edges[-1] < end


def gap_steps(key: int, segments: Iterable[Segment], tz: ZoneInfo) -> list[GapStep]:
    """The gap steps of a meter's (clipped) segments that the daily rollup splits at a local midnight."""
    return [GapStep(key, s.start, s.end, s.kwh) for s in segments
            if s.interpolated and not s.estimated and crosses_edge(s.start, s.end, "day", tz)]


@dataclass(slots=True)
class Sums:
    """A period's sums over rows: amount, measured seconds, estimated amount, and how many rows there were."""

    amount: float = 0.0
    measured_s: float = 0.0
    estimated: float = 0.0
    rows: int = 0


def roll_up(rows: Iterable[tuple[datetime, float, float, float]], edges: Sequence[datetime],
            gaps: Iterable[GapStep] = (), rows_resolution: Resolution | None = None,
            tz: ZoneInfo | None = None) -> list[Sums]:
    """Periods [edges[i], edges[i+1]) from smaller rows (start, amount, measured_s, estimated): the rows' sums,
    with the gap steps lying inside a period but crossing the rows' edges moved from estimated to measured. How
    months are built from days (the monthly rollup), weeks from days and years from months (consumption series)."""
    n = len(edges) - 1
    out = [Sums() for _ in range(max(n, 0))]
    for at, a, m, e in rows:
        i = bisect_right(edges, at) - 1
        if 0 <= i < n:
            o = out[i]
            o.amount += a
            o.measured_s += m
            o.estimated += e
            o.rows += 1
    if rows_resolution is not None and tz is not None:
        for o, (sec, amount) in zip(out, gap_credit(gaps, edges, rows_resolution, tz), strict=True):
            o.measured_s += sec
            o.estimated = max(0.0, o.estimated - amount)
    return out


def step_rows(steps: Iterable[Segment], edges: Sequence[datetime]) -> list[tuple[datetime, float, float, float]]:
    """Rows (start, amount, measured_s, estimated) of the periods [edges[i], edges[i+1]) that the steps reach into,
    by the rule (engine.apportion): how the hour answers count the steps too long for the hourly rollup."""
    return [(b.start, b.kwh, b.measured_s, b.estimated_kwh) for b in apportion(list(steps), edges) if b.covered_s > 0]


def gap_credit(gaps: Iterable[GapStep], edges: Sequence[datetime], rows: Resolution, tz: ZoneInfo
               ) -> list[tuple[float, float]]:
    """Per period [edges[i], edges[i+1]) built by summing rows of resolution `rows`: (seconds, amount) of the gap
    steps lying wholly inside the period that cross an edge of the rows (so the rows counted them as estimated).
    Add the seconds to measured and take the amount off estimated."""
    n = len(edges) - 1
    out = [(0.0, 0.0)] * max(n, 0)
    for g in gaps:
        i = bisect_right(edges, g.start) - 1
        if not 0 <= i < n or g.end > edges[i + 1]:
            continue  # not wholly inside one period
        if not crosses_edge(g.start, g.end, rows, tz):
            continue  # inside one row: the row measured it already
        s, a = out[i]
        out[i] = (s + (g.end - g.start).total_seconds(), a + g.amount)
    return out
