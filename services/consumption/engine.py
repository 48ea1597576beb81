"""The consumption rules, without I/O: from a meter's readings to kWh per period, with coverage and decisions.

Semantics (shared/PRODUCT.md, "Semantics that must hold"):

- A register meter's consumption between two consecutive readings is their difference, spread evenly over the time
  between them (linear interpolation of the register), so a period gets the share that overlaps it. A missing
  midnight reading therefore never drops a day, and a gap longer than the meter's expected interval is spread over
  the whole gap and marked interpolated in every period whose edges it crosses (a step that lies inside a period,
  such as daily reads within their day, gives that period's consumption exactly).
- An interval meter's reading is the quantity used in the interval that *ends* at its timestamp.
- A register never yields negative consumption. A decrease to at least `glitch_ratio` of the previous value is a
  glitch: the reading is flagged and skipped, and the next one is compared with the last good value. A larger
  decrease, or a declared meter exchange, starts a new register series: the time between the two series has no
  measured consumption (it lowers coverage) unless the exchange declares the old meter's final and the new meter's
  initial register. A step whose average power exceeds the meter's physical maximum is a spike: flagged, excluded.
  Every such decision is returned, so callers can store and show it.

All instants are timezone-aware; periods are half-open [start, end).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

DecisionKind = Literal["glitch", "reset", "exchange", "spike"]
ESTIMATED_QUALITIES = frozenset({"estimated", "calculated", "missing"})


@dataclass(frozen=True, slots=True)
class Reading:
    ts: datetime
    value: float
    quality: str = "measured"


@dataclass(frozen=True, slots=True)
class Exchange:
    """A declared meter exchange at `ts`: the old meter's final and the new meter's initial register, if known."""

    ts: datetime
    old_final: float | None = None
    new_initial: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    ts: datetime
    kind: DecisionKind
    value: float
    reference: float
    detail: str


@dataclass(frozen=True, slots=True)
class Segment:
    """`kwh` consumed evenly over [start, end). Interpolated: spread over a gap; estimated: from estimated data."""

    start: datetime
    end: datetime
    kwh: float
    interpolated: bool = False
    estimated: bool = False


@dataclass(slots=True)
class Bucket:
    start: datetime
    end: datetime
    kwh: float = 0.0
    measured_s: float = 0.0  # seconds backed by measured data (not interpolated, not estimated)
    covered_s: float = 0.0  # seconds backed by any data
    estimated_kwh: float = 0.0  # kWh from interpolated or estimated segments

    @property
    def coverage(self) -> float:
        return self.measured_s / (self.end - self.start).total_seconds()

    @property
    def estimated_share(self) -> float:
        return self.estimated_kwh / self.kwh if self.kwh > 0 else 0.0


@dataclass
class RegisterResult:
    segments: list[Segment] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)


def register_segments(
    readings: Sequence[Reading],
    *,
    kwh_per_unit: float,
    expected_interval: timedelta,
    max_power_kw: float | None = None,
    glitch_ratio: float = 0.9,
    exchanges: Sequence[Exchange] = (),
) -> RegisterResult:
    """Consumption segments between consecutive good readings of a register meter (readings sorted by ts)."""
    out = RegisterResult()
    gap = expected_interval * 1.5
    ex_iter = sorted(exchanges, key=lambda e: e.ts)
    ex_i = 0
    prev: Reading | None = None
    ordered = sorted(readings, key=lambda x: x.ts)
    outliers = _single_outliers(ordered, ex_iter, glitch_ratio)
    for i, r in enumerate(ordered):
        if i in outliers:
            p, n = ordered[i - 1], ordered[i + 1]
            kind: DecisionKind = "glitch" if r.value < p.value else "spike"
            out.decisions.append(Decision(r.ts, kind, r.value, p.value,
                                          f"reading {r.value:g} breaks the register between {p.value:g} and "
                                          f"{n.value:g}, which agree; reading ignored"))
            continue
        if prev is None:
            prev = r
            continue
        # a declared exchange between prev and r starts a new series
        while ex_i < len(ex_iter) and ex_iter[ex_i].ts <= prev.ts:
            ex_i += 1
        if ex_i < len(ex_iter) and ex_iter[ex_i].ts <= r.ts:
            ex = ex_iter[ex_i]
            ex_i += 1
            out.decisions.append(Decision(r.ts, "exchange", r.value, prev.value, f"declared meter exchange at "
                                                                             f"{ex.ts.isoformat()}"))
            if ex.old_final is not None and ex.new_initial is not None:
                used = max(0.0, ex.old_final - prev.value) + max(0.0, r.value - ex.new_initial)
                out.segments.append(Segment(prev.ts, r.ts, used * kwh_per_unit, interpolated=r.ts - prev.ts > gap,
                                            estimated=_estimated(prev, r)))
            prev = r
            continue
        delta = r.value - prev.value
        if delta < 0:
            if r.value >= glitch_ratio * prev.value:
                out.decisions.append(Decision(r.ts, "glitch", r.value, prev.value,
                                              f"register fell by {-delta:g}; reading ignored"))
                continue  # compare the next reading with the last good one
            out.decisions.append(Decision(r.ts, "reset", r.value, prev.value,
                                          f"register fell from {prev.value:g} to {r.value:g}; new register series"))
            prev = r
            continue
        hours = (r.ts - prev.ts).total_seconds() / 3600
        kwh = delta * kwh_per_unit
        if max_power_kw is not None and hours > 0 and kwh / hours > max_power_kw:
            out.decisions.append(Decision(r.ts, "spike", r.value, prev.value,
                                          f"{kwh / hours:.1f} kW average exceeds the meter's maximum "
                                          f"{max_power_kw:g} kW; reading excluded"))
            continue
        out.segments.append(Segment(prev.ts, r.ts, kwh, interpolated=r.ts - prev.ts > gap,
                                    estimated=_estimated(prev, r)))
        prev = r
    return out


def _single_outliers(ordered: Sequence[Reading], exchanges: Sequence[Exchange], ratio: float) -> set[int]:
    """Positions of single readings that would make a reset of a register whose neighbours agree: the reading before
    and the one after form a rising register, and this one lies far below the first (a drop a reset is made of) or so
    far above the second that the second would look like a reset (a telegram in the wrong unit, a bit flip). Counted,
    such a reading would start a new series or make a spike and put the whole register into one day; it is excluded
    instead and the step runs from its predecessor to its successor. Small dips stay the glitches they were.

    Judged on the raw neighbours only, so any window holding a reading's two neighbours judges it the same (the
    rollups load two readings beyond each end). The first and last readings, and readings next to a declared
    exchange, are not judged."""
    out: set[int] = set()
    for i in range(1, len(ordered) - 1):
        p, r, n = ordered[i - 1].value, ordered[i].value, ordered[i + 1].value
        if n >= p and (r < ratio * p or n < ratio * r) \
                and not any(ordered[i - 1].ts < e.ts <= ordered[i + 1].ts for e in exchanges):
            out.add(i)
    return out


def _estimated(a: Reading, b: Reading) -> bool:
    return a.quality in ESTIMATED_QUALITIES or b.quality in ESTIMATED_QUALITIES


def interval_segments(readings: Sequence[Reading], *, kwh_per_unit: float, interval: timedelta,
                      tz: ZoneInfo | None = None) -> list[Segment]:
    """One segment per reading of an interval meter: its value covers (ts - interval, ts]. An interval of whole days
    is counted in local days when `tz` is given: a daily value read at local midnight covers the local day before it,
    23 or 25 hours long on the days clocks change (PRODUCT.md: days are local periods)."""
    days = interval // timedelta(days=1) if tz is not None and interval % timedelta(days=1) == timedelta(0) else 0

    def start(ts: datetime) -> datetime:
        if days and tz is not None:
            return (ts.astimezone(tz) - timedelta(days=days)).astimezone(ts.tzinfo)  # wall-clock days back
        return ts - interval

    return [Segment(start(r.ts), r.ts, r.value * kwh_per_unit, estimated=r.quality in ESTIMATED_QUALITIES)
            for r in readings]


def apportion(segments: Sequence[Segment], edges: Sequence[datetime]) -> list[Bucket]:
    """Spread segments over the periods [edges[i], edges[i+1]) in proportion to time overlap."""
    buckets = [Bucket(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]
    if not buckets:
        return buckets
    segs = sorted(segments, key=lambda s: s.start)
    first = 0
    for s in segs:
        length = (s.end - s.start).total_seconds()
        if length <= 0:
            continue
        # skip buckets that end before this segment starts (segments are sorted by start)
        while first < len(buckets) and buckets[first].end <= s.start:
            first += 1
        i = first
        while i < len(buckets) and buckets[i].start < s.end:
            b = buckets[i]
            lo = max(s.start, b.start)
            hi = min(s.end, b.end)
            overlap = (hi - lo).total_seconds()
            if overlap > 0:
                share = s.kwh * overlap / length
                b.kwh += share
                b.covered_s += overlap
                # A long step (a gap) is interpolated where it must be split across the period's edges; one that
                # lies inside the period (daily reads within a day) gives the period's consumption exactly.
                split = s.interpolated and not (b.start <= s.start and s.end <= b.end)
                if split or s.estimated:
                    b.estimated_kwh += share
                else:
                    b.measured_s += overlap
            i += 1
    return buckets
