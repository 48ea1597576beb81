"""Gathering what the target rules need from the database: buildings with their areas and adjustments, monthly kWh
per carrier from the monthly rollup, the imported baseline, degree days and the normal year."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.consumption import repository as consumption_repo
from services.consumption.coverage import (
    ALWAYS,
    active_seconds,
    active_seconds_per_period,
    coverage,
    crosses_edge,
)
from services.consumption.periods import local_midnight
from services.consumption.query import computed_through, overlapping
from services.db import PgConn
from services.errors import NotFoundError, ValidationFailed
from services.localtime import iso_local
from services.registry.history import BUILDING_GROUP, PARENT_METER, Fact, Row, value_as_of, values_during
from services.registry.service import REASON_REGISTERED
from services.targets import cache
from services.targets import reference as ref
from services.targets import repository as repo
from services.targets.progress import (
    EV_SUB,
    HEAT_PUMP_SUB,
    TOTAL_CARRIERS,
    BuildingData,
    Cell,
    Weather,
    compute,
    required_pct,
    time_weighted_area,
)
from services.targets.schemas import TargetIn


def month_edges(year: int, tz: ZoneInfo) -> list[datetime]:
    """The 13 edges (UTC) of the local months of a year."""
    return [local_midnight(date(year + (m == 13), (m - 1) % 12 + 1, 1), tz) for m in range(1, 14)]


def carrier_key(carrier: str, is_sub: bool) -> str | None:
    """Where a meter's consumption goes in the monthly data: its carrier, a heat-pump or EV sub-meter key, or
    nowhere (other sub-meters split their parent; water and PV are not energy use)."""
    if carrier in ("water", "pv_production"):
        return None
    if not is_sub:
        return carrier
    return {"heat_pump": HEAT_PUMP_SUB, "ev_charging": EV_SUB}.get(carrier)


def yearly_area(history: Sequence[tuple[date, float]], current: float, year: int) -> float:
    """Time-weighted heated area over a year from (valid_from, area) rows; before the first row its area held."""
    if not history:
        return current
    return time_weighted_area(history, date(year, 1, 1), date(year + 1, 1, 1))


def fact_rows(conn: PgConn, fact: Fact, ids: Sequence[str]) -> dict[str, list[Row]]:
    """Dated registry history of a fact per entity, oldest first (services.registry.history)."""
    return repo.fact_rows(conn, fact, ids)


def outside_group_years(conn: PgConn, ids: Sequence[str], group: str, years: Sequence[int], tz: ZoneInfo
                        ) -> dict[str, frozenset[int]]:
    """Per building, the years in which it never belonged to `group`: a building counts in a group's figures for
    every year it was in the group at some time (as added/sold buildings count in the years they were held)."""
    hist = fact_rows(conn, BUILDING_GROUP, ids)
    out: dict[str, frozenset[int]] = {}
    for bid in ids:
        rows = hist.get(bid, [])
        if not rows:
            continue  # no history (cannot happen after migration 0010): the current group, selected by, holds
        if len(rows) == 1:  # never moved: its one group in every year (values_during)
            out[bid] = frozenset() if rows[0].value == (group,) else frozenset(years)
            continue
        out[bid] = frozenset(
            y for y in years
            if (group,) not in values_during(rows, datetime(y, 1, 1, tzinfo=tz), datetime(y + 1, 1, 1, tzinfo=tz),
                                             extends_back=True))
    return out


def outside_group_months(conn: PgConn, ids: Sequence[str], group: str, years: Sequence[int], tz: ZoneInfo
                         ) -> dict[str, frozenset[tuple[int, int]]]:
    """Per building, the (year, month) in which it was not in `group` as of the month's first day: a building that
    moved between groups during a year counts in each group's figures for its months there."""
    hist = fact_rows(conn, BUILDING_GROUP, ids)
    out: dict[str, frozenset[tuple[int, int]]] = {}
    for bid in ids:
        rows = hist.get(bid, [])
        if len(rows) == 1:  # never moved: its one group in every month (value_as_of)
            out[bid] = (frozenset() if rows[0].value == (group,)
                        else frozenset((y, m) for y in years for m in range(1, 13)))
        elif rows:
            out[bid] = frozenset(
                (y, m) for y in years for m in range(1, 13)
                if value_as_of(rows, datetime(y, m, 1, tzinfo=tz), extends_back=True) != (group,))
    return out


def load_buildings(conn: PgConn, building_ids: Sequence[str] | None, group: str | None, *, years: Sequence[int],
                   baseline_year: int, tz: ZoneInfo, through: date | None = None) -> list[BuildingData]:
    """What the target figures need of the buildings asked for (None: all) that ever were in `group` (None: any):
    areas, added/sold, group membership and monthly kWh with coverage per carrier key, in `years` and the baseline
    year (an imported baseline replacing readings there). With `through` (a month's first day), no rollup of that
    month or later is read: those months have no kWh (a running year's figures compare its complete months only)."""
    # the group as of each year decides (outside_group_years below); every building that was ever in it is fetched
    rows = repo.target_buildings(conn, building_ids, group)
    ids = [r[0] for r in rows]
    history: dict[str, list[tuple[date, float]]] = {}
    for bid, valid_from, area in repo.area_rows(conn, ids):
        history.setdefault(bid, []).append((valid_from.astimezone(tz).date(), float(area)))
    events: dict[str, dict[str, date]] = {}
    membership: dict[str, list[tuple[date, str]]] = {}
    for bid, kind, effective in repo.portfolio_events(conn, ids):
        events.setdefault(bid, {})[kind] = effective
        membership.setdefault(bid, []).append((effective, kind))
    all_years = sorted({*years, baseline_year})
    outside = outside_group_years(conn, ids, group, all_years, tz) if group is not None else {}
    outside_months = outside_group_months(conn, ids, group, all_years, tz) if group is not None else {}
    out = {r[0]: BuildingData(
        id=r[0], name=r[1], hot_water_share=r[2],
        area={y: yearly_area(history.get(r[0], []), float(r[3]), y) for y in all_years},
        added=events.get(r[0], {}).get("added"), sold=events.get(r[0], {}).get("sold"),
        outside_group=outside.get(r[0], frozenset()), area_history=sorted(history.get(r[0], [])),
        outside_group_months=outside_months.get(r[0], frozenset()),
        portfolio=portfolio_spans(membership.get(r[0], [])),
    ) for r in rows}
    # a building that was in the group in none of the years compared is not part of these figures
    ids = [i for i in ids if len(out[i].outside_group) < len(all_years)]
    # Each meter counts under the carrier key it has as of each month (its parent then: meter parent history), and
    # a month's coverage is measured over the active time of the meters counted under its key in that month
    # (services/consumption/coverage.py), not over the month times the number of meters.
    meter_rows = repo.meters_of(conn, ids)
    parents = fact_rows(conn, PARENT_METER, [r[1] for r in meter_rows])
    edges_of = {y: month_edges(y, tz) for y in all_years}
    active: dict[tuple[str, str, int], list[float]] = {}  # (building, carrier key, year) -> 12 months' active s
    key_in: dict[tuple[int, int], tuple[str, list[str | None]]] = {}  # (meter, year) -> building, key per month
    # months in which a meter's parent changes after the 1st: counted day by day (each day as of its start), so a
    # sub-meter never adds to its parent's total for the rest of such a month
    split: dict[tuple[int, int, int], list[tuple[date, str | None]]] = {}  # (meter, year, month) -> day keys
    month_s = {y: [(edges[i + 1] - edges[i]).total_seconds() for i in range(12)] for y, edges in edges_of.items()}
    for mkey, mid, bid, carrier, is_sub_now, active_from, active_to in meter_rows:
        hist = parents.get(mid, [])
        if len(hist) <= 1 and not any(e[0] < r.valid_from < e[12] and r.valid_from not in e
                                      for r in hist for e in edges_of.values()):
            # the common case, a meter whose parent never changed: one key for every month (what the loop below
            # works out month by month), its active seconds month by month
            k0 = carrier_key(carrier, is_sub_now if not hist else hist[0].value[0] is not None)
            for y, edges in edges_of.items():
                if k0:
                    acc = active.setdefault((bid, k0, y), [0.0] * 12)
                    acc[:] = [a + (s if active_from is None and active_to is None
                                   else active_seconds((active_from, active_to), edges[i], edges[i + 1]))
                              for i, (a, s) in enumerate(zip(acc, month_s[y], strict=True))]
                key_in[(mkey, y)] = (bid, [k0] * 12)
            continue

        def key_at(at: datetime, c: str = carrier, now_sub: bool = is_sub_now, h: list[Row] = hist) -> str | None:
            parent = value_as_of(h, at, extends_back=True)
            return carrier_key(c, now_sub if parent is None else parent[0] is not None)

        for y, edges in edges_of.items():
            keys: list[str | None] = []
            for i in range(12):
                k = key_at(edges[i])
                keys.append(k)
                if any(edges[i] < r.valid_from < edges[i + 1] for r in hist):
                    first, after = date(y, i + 1, 1), date(y + (i == 11), (i + 1) % 12 + 1, 1)
                    days = [first + timedelta(days=d) for d in range((after - first).days)]
                    split[(mkey, y, i + 1)] = [(d, key_at(local_midnight(d, tz))) for d in days]
                    for d, dk in split[(mkey, y, i + 1)]:
                        if dk:
                            active.setdefault((bid, dk, y), [0.0] * 12)[i] += active_seconds(
                                (active_from, active_to), local_midnight(d, tz),
                                local_midnight(d + timedelta(days=1), tz))
                elif k:
                    active.setdefault((bid, k, y), [0.0] * 12)[i] += active_seconds(
                        (active_from, active_to), edges[i], edges[i + 1])
            key_in[(mkey, y)] = (bid, keys)
    for (bid, k, y), seconds in active.items():
        out[bid].month_weights.setdefault(y, {})[k] = seconds
    readings: dict[tuple[str, int, str, int], tuple[float, float, float]] = {}
    # the meters counted under some key in some month (water, PV and sub-meters splitting their parent never are:
    # their rows would be skipped below, so they are not read)
    counted = sorted({mkey for (mkey, _y), (_b, keys) in key_in.items() if any(keys)})
    # A meter is a sub-meter in a month when its parent as of the month's first instant is set (meter parent
    # history): a meter re-parented on 2022-01-01 adds to totals through 2021 and splits its parent from then on.
    # (the key per meter and month worked out above, so no as-of lookup per rollup row in SQL)
    for mkey, month, amount, measured, estimated in repo.monthly_rollups(
            conn, counted, [date(y, m, 1) for y in all_years for m in range(1, 13)  # only the years compared
                            if through is None or date(y, m, 1) < through]):
        y, mo = month.year, month.month
        if y not in all_years or (split and (mkey, y, mo) in split):
            continue
        bid, month_keys = key_in[(mkey, y)]
        k = month_keys[mo - 1]
        if k is None:
            continue
        key = (bid, y, k, mo)
        a, m, e = readings.get(key, (0.0, 0.0, 0.0))
        readings[key] = (a + float(amount), m + float(measured), e + float(estimated))
    for (mkey, y, m), day_keys in split.items():
        if through is not None and date(y, m, 1) >= through:
            continue
        bid = key_in[(mkey, y)][0]
        by_day = dict(day_keys)
        for day, amount, measured, estimated in consumption_repo.daily_rows(
                conn, mkey, date(y, m, 1), date(y + (m == 12), m % 12 + 1, 1)):
            k = by_day.get(day)
            if k is None:
                continue
            a, ms, e = readings.get((bid, y, k, m), (0.0, 0.0, 0.0))
            readings[(bid, y, k, m)] = (a + float(amount), ms + float(measured), e + float(estimated))
    no_time = [0.0] * 12
    into: dict[tuple[str, int, str], tuple[dict[int, Cell], list[float]]] = {}  # the months and active seconds
    for (bid, year, k, mon), (amount, measured, estimated) in readings.items():
        dest = into.get((bid, year, k))
        if dest is None:
            b = out[bid]
            dest = into[(bid, year, k)] = (b.data.setdefault(year, {}).setdefault(k, {}),
                                           active.get((bid, k, year), no_time))
            b.sources.setdefault(year, {})[k] = "readings"
        dest[0][mon] = Cell(amount, coverage(measured, dest[1][mon - 1]), estimated)
    # A carrier whose meters were installed in the year but sent nothing is part of the figures with no month
    # measured (coverage counts its active time as missing), not left out as if it had no meter: the same
    # definition as /consumption (services/consumption/coverage.py).
    for (bid, k, year), seconds in active.items():
        if k in TOTAL_CARRIERS and any(seconds) and k not in out[bid].data.get(year, {}):
            out[bid].data.setdefault(year, {})[k] = {}
    # Gap steps lying inside a year but crossing month edges: estimated in each month, measured in the year.
    for y, edges in edges_of.items():
        end = edges[-1] if through is None or through.year > y else local_midnight(through, tz)
        if end <= edges[0]:
            continue
        for g in consumption_repo.gap_steps_within(conn, [r[0] for r in meter_rows], edges[0], end):
            if not crosses_edge(g.start, g.end, "month", tz):
                continue  # inside one month: the monthly rollup counts it measured already
            bid, keys = key_in[(g.meter_key, y)]
            touched = [i for i in range(12) if g.start < edges[i + 1] and edges[i] < g.end]
            k = keys[touched[0]]
            if k is None or any(keys[i] != k or (g.meter_key, y, i + 1) in split for i in touched):
                continue  # not counted, or re-parented within the step: its parts stay estimated
            act = active[(bid, k, y)]
            shares = {i + 1: active_seconds((g.start, g.end), edges[i], edges[i + 1]) / act[i]
                      for i in touched if act[i] > 0}
            out[bid].year_credit.setdefault(y, {}).setdefault(k, []).append(shares)
            length = (g.end - g.start).total_seconds()
            out[bid].year_credit_kwh.setdefault(y, {}).setdefault(k, []).append(
                {i + 1: g.amount * active_seconds((g.start, g.end), edges[i], edges[i + 1]) / length for i in touched})
    # An imported baseline replaces what readings give for that building and carrier in the baseline year.
    imported: dict[tuple[str, str], dict[int, Cell]] = {}
    for bid, carrier, month, kwh in repo.baseline_kwh(conn, ids, date(baseline_year, 1, 1),
                                                      date(baseline_year + 1, 1, 1)):
        imported.setdefault((bid, carrier), {})[month.month] = Cell(float(kwh), 1.0)
    whole_months = active_seconds_per_period([ALWAYS], month_edges(baseline_year, tz))
    for (bid, carrier), months in imported.items():
        out[bid].data.setdefault(baseline_year, {})[carrier] = months
        out[bid].month_weights.setdefault(baseline_year, {})[carrier] = whole_months
        out[bid].year_credit.get(baseline_year, {}).pop(carrier, None)  # the import replaces the readings
        out[bid].year_credit_kwh.get(baseline_year, {}).pop(carrier, None)
        out[bid].sources.setdefault(baseline_year, {})[carrier] = "import"
    for bid in ids:
        _clip_to_portfolio(out[bid])
    return [out[i] for i in ids]


def portfolio_spans(events: Sequence[tuple[date, str]]) -> list[tuple[date | None, date | None]]:
    """The spans [from, to) a building belonged to the portfolio, from its added/sold adjustments in date order: in
    it since always unless its first event is an addition; a sale ends a span, a later addition starts another."""
    spans: list[tuple[date | None, date | None]] = []
    inside = not events or events[0][1] != "added"
    start: date | None = None
    for day, kind in events:
        if kind == "sold" and inside:
            spans.append((start, day))
            inside = False
        elif kind == "added" and not inside:
            start, inside = day, True
    if inside:
        spans.append((start, None))
    return spans


def _clip_to_portfolio(b: BuildingData) -> None:
    """A building added or sold during a year, or moved between building groups, counts in that year's figures for
    the months it belonged to the portfolio (and the target's group) only: months wholly before its addition, from
    its sale on, or outside the group are left out, with their time (so a sale neither counts the new owner's use
    nor lowers coverage). By month, as the targets count."""
    if list(b.portfolio_spans()) == [(None, None)] and not b.outside_group_months:
        return
    for year, carriers in b.data.items():
        out = {m for m in range(1, 13) if not b.counts_in(year, m)}
        if not out:
            continue
        for k, months in carriers.items():
            for m in out:
                months.pop(m, None)
            weights = list(b.month_weights.get(year, {}).get(k) or [1.0] * 12)
            b.month_weights.setdefault(year, {})[k] = [0.0 if m + 1 in out else w for m, w in enumerate(weights)]
        for credits in (b.year_credit, b.year_credit_kwh):
            for k, steps in credits.get(year, {}).items():
                credits[year][k] = [parts for parts in steps if not set(parts) & out]


def weather(conn: PgConn, years: Sequence[int]) -> tuple[Weather, ref.NormalYear, str]:
    normal = ref.normal_year(conn)
    gd = ref.degree_days(conn, date(min(years), 1, 1), date(max(years), 12, 1))
    share, share_source = ref.default_hot_water_share(conn)
    return Weather(normal.degree_days, {(m.year, m.month): v for m, v in gd.items()}, share), normal, share_source


def energy_baseline_year(conn: PgConn, target_id: str = "T1") -> int:
    """The baseline year of the energy target (T1 by default): what the dashboard compares against."""
    return int(target(conn, target_id)["baseline_year"])


def target(conn: PgConn, target_id: str) -> dict[str, Any]:
    """A target (404 when there is none)."""
    t = repo.target(conn, target_id)
    if t is None:
        raise NotFoundError("target", target_id)
    return t


def put_target(conn: PgConn, target_id: str, body: TargetIn, actor: str) -> dict[str, Any]:
    """Create or change a target; audit-logged with the whole row before and the body given. The target as stored."""
    if body.target_year < body.baseline_year:
        raise ValidationFailed("target_year", "must not be before baseline_year")
    old = repo.target_as_json(conn, target_id)
    repo.upsert_target(conn, target_id, body.model_dump())
    ref.audit(conn, actor, "put", f"targets/{target_id}", {"old": old, "new": body.model_dump()})
    return target(conn, target_id)


def progress(conn: PgConn, *, year: int, target_id: str, building_ids: Sequence[str] | None, today: date,
             tz: ZoneInfo, pending: Pending | None = None) -> dict[str, Any]:
    """Progress of an energy target for a year (the answer may be shared: callers must not change it)."""
    return progress_keyed(conn, year=year, target_id=target_id, building_ids=building_ids, today=today, tz=tz,
                          pending=pending)[1]


Pending = tuple[dict[int, str], list[consumption_repo.PendingSpan]]  # pending_counted: meters' buildings, spans


def read_months(baseline_year: int, year: int, today: date) -> tuple[list[date], date | None]:
    """The months (first days) whose rollups a progress answer for `year` reads, and the first month it does not
    read of a running year (None: it reads the whole year): the baseline year, last year (a running year's forecast
    takes the rest of the year from it) and the year; of a running year after January only its complete months, so
    that the rollups of the running month, which a live system rewrites every few seconds, leave the answer
    current."""
    through = date(year, today.month, 1) if year == today.year and today.month > 1 else None
    months = [date(y, m, 1) for y in sorted({baseline_year, year - 1}) for m in range(1, 13)]
    return months + [date(year, m, 1) for m in range(1, 13) if through is None or m < through.month], through


def progress_keyed(conn: PgConn, *, year: int, target_id: str, building_ids: Sequence[str] | None, today: date,
                   tz: ZoneInfo, pending: Pending | None = None) -> tuple[Hashable, dict[str, Any]]:
    """`progress`, with a key that is equal for equal answers. The figures are cached exactly by the data version of
    the months they read (services/targets/cache.py, migration 0016); whether stored readings of those periods wait
    for the rollups (`computed_through`, `pending_buildings`) is read anew on every call (`pending`: read already)."""
    base = int(target(conn, target_id)["baseline_year"])  # the months whose rollups it reads (checked after)
    months, through = read_months(base, year, today)
    # the readings waiting for the rollups, read before the figures: a rollup committing in between can only make
    # the answer say "pending" needlessly, never present figures that miss stored readings as current
    pending = pending if pending is not None else pending_counted(conn, building_ids)
    key = ("progress", year, target_id, None if building_ids is None else tuple(building_ids), today, tz.key)
    full, core = cache.memo_keyed(
        conn, key, lambda: _progress(conn, year=year, target_id=target_id, building_ids=building_ids, today=today,
                                     tz=tz, through=through),
        months=months, keep=lambda out: out["baseline_year"] == base)
    periods = [(datetime(base, 1, 1, tzinfo=tz), datetime(base + 1, 1, 1, tzinfo=tz)),
               (datetime(year, 1, 1, tzinfo=tz), datetime(year + 1, 1, 1, tzinfo=tz) if through is None
                else local_midnight(through, tz))]
    if year == today.year:  # the forecast's rest of the year, from last year
        periods.append((datetime(year - 1, today.month, 1, tzinfo=tz), datetime(year, 1, 1, tzinfo=tz)))
    ids = [r["building_id"] for r in core["buildings"]]
    through_, pending_ids, spans = _pending(conn, ids, periods, pending)
    if through_ is None:
        return (full, None), core
    return (full, (through_, tuple(pending_ids), len({sp.meter_key for sp in spans}))), _with_pending(
        core, through_, pending_ids, spans, tz)


def _with_pending(core: dict[str, Any], through: datetime, pending: Sequence[str],
                  spans: Sequence[consumption_repo.PendingSpan], tz: ZoneInfo) -> dict[str, Any]:
    """A copy of a progress answer (`core`, shared, unchanged) saying that stored readings of the periods it compares
    are not yet counted by the rollups: `computed_through` is set, the buildings concerned are marked `pending` and
    the verdicts are uncertain."""
    out = {**core, "computed_through": through.astimezone(tz), "pending_buildings": list(pending)}
    marked = set(pending)
    out["buildings"] = [{**row, "pending": True} if row["building_id"] in marked else row
                        for row in core["buildings"]]
    reason = (f"readings of {len({sp.meter_key for sp in spans})} meter(s) in {len(pending)} building(s) are "
              f"stored but not yet computed (figures computed through {iso_local(through, tz, 'seconds')}); "
              "the figures will change when the rollups catch up")
    out.update(verdict="uncertain", uncertain_because=[*core["uncertain_because"], reason])
    if core.get("forecast") is not None:
        f = core["forecast"]
        out["forecast"] = {**f, "verdict": "uncertain", "uncertain_because": [*f["uncertain_because"], reason]}
    return out


def progress_path(conn: PgConn, *, target_id: str, building_ids: Sequence[str] | None, today: date, tz: ZoneInfo,
                  first: int | None = None, last: int | None = None) -> dict[str, Any]:
    """The path of an energy target across years, from the baseline year (or `first`) to the target year or this
    year, whichever is later (or `last`): per year the reduction a straight path asks for (`required_pct`, the rule
    of the progress answers) and the reduction reached: a finished year's measured one, the running year's
    whole-year forecast, 0 in the baseline year, null for a year not started or without coverage. Each year's figures
    are those of GET /progress for that year (the same computation, cached per year)."""
    t = target(conn, target_id)
    if t["metric"] != "energy_kwh":
        raise ValidationFailed("target", f"{target_id} measures {t['metric']}; progress is for energy targets")
    base, target_year = int(t["baseline_year"]), int(t["target_year"])
    target_pct = float(t["reduction_pct"] or 0)
    first = base if first is None else first
    last = max(target_year, today.year) if last is None else last
    if first < base:
        raise ValidationFailed("from", f"must not be before the baseline year {base}")
    if last < first:
        raise ValidationFailed("to", f"must not be before from ({first})")
    pending = pending_counted(conn, building_ids)  # read once for every year's progress below
    years = []
    for y in range(first, last + 1):
        row: dict[str, Any] = {"year": y, "required_pct": required_pct(target_pct, base, target_year, y),
                               "reduction_pct": None, "basis": "not_started", "coverage": None, "verdict": None,
                               "months_measured": None}
        if y == base:
            row.update(reduction_pct=0.0, basis="baseline")
        elif y <= today.year:
            p = progress(conn, year=y, target_id=target_id, building_ids=building_ids, today=today, tz=tz,
                         pending=pending)
            judged = p["forecast"] or p  # a running year: its whole-year forecast
            known = judged["coverage"] > 0 and judged["reduction_pct"] is not None
            row.update(reduction_pct=judged["reduction_pct"] if known else None,
                       basis="forecast" if p["forecast"] else "measured", coverage=judged["coverage"],
                       verdict=judged["verdict"], months_measured=p["months_measured"])
        years.append(row)
    return {"target": {k: t[k] for k in ("id", "name", "building_group")}, "baseline_year": base,
            "target_year": target_year, "target_pct": target_pct, "years": years,
            "missing": [r["year"] for r in years if r["basis"] in ("measured", "forecast")
                        and r["reduction_pct"] is None]}


def _progress(conn: PgConn, *, year: int, target_id: str, building_ids: Sequence[str] | None, today: date,
              tz: ZoneInfo, through: date | None) -> dict[str, Any]:
    t = target(conn, target_id)
    if t["metric"] != "energy_kwh":
        raise ValidationFailed("target", f"{target_id} measures {t['metric']}; progress is for energy targets")
    base = int(t["baseline_year"])
    if year <= base:
        raise ValidationFailed("year", f"must be after the baseline year {base}")
    if year > today.year:
        raise ValidationFailed("year", f"{year} has not started")
    buildings = load_buildings(conn, building_ids, t["building_group"], years=[year - 1, year], baseline_year=base,
                               tz=tz, through=through)
    w, normal, share_source = weather(conn, [base, year - 1, year])
    out = compute(buildings, baseline_year=base, year=year, target_pct=float(t["reduction_pct"] or 0),
                  target_year=int(t["target_year"]), w=w, today=today, share_source=share_source)
    out.update(_periods(base, year, out["months_measured"], tz))
    out["target"] = {k: t[k] for k in ("id", "name", "building_group")}
    out["normal_year"] = {"degree_days": sum(normal.degree_days), "source": normal.source,
                          "default": normal.is_default}
    out["adjustments"] = progress_adjustments(conn, [b.id for b in buildings], date(base, 1, 1), date(year, 12, 31),
                                              tz)
    # as computed: nothing pending (progress_keyed says otherwise on a copy, read anew on every request)
    out.update(computed_through=None, pending_buildings=[])
    for row in out["buildings"]:
        row["pending"] = False
    return out


def _periods(baseline_year: int, year: int, months: int, tz: ZoneInfo) -> dict[str, datetime]:
    """The local periods the top-level figures compare, [start, end): January up to the end of the last measured
    month, in the year and in the baseline year (an empty period, start = end, before January is complete)."""
    def edge(y: int, m: int) -> datetime:
        return datetime(y + (m > 12), (m - 1) % 12 + 1, 1, tzinfo=tz)

    return {"period_start": edge(year, 1), "period_end": edge(year, months + 1),
            "baseline_period_start": edge(baseline_year, 1), "baseline_period_end": edge(baseline_year, months + 1)}


def pending_counted(conn: PgConn, building_ids: Sequence[str] | None, keep: set[str] | None = None) -> Pending:
    """The pending spans (rollups not yet current) of the meters whose consumption the target figures may count in
    these buildings (None: all; only those of the carrier keys `keep`, when given), with each meter's building. A
    meter counts as a main or a sub-meter as of each month (its parent history), so it is taken when either would
    count."""
    dirty = consumption_repo.pending_meter_keys(conn)
    if not dirty:
        return {}, []
    meters: dict[int, str] = {}
    # every meter's building and carrier, kept per data version (one entry, whatever the scope asked)
    every = cache.memo(conn, ("meter_carriers",), lambda: repo.meter_carriers(conn))
    scope = None if building_ids is None else set(building_ids)
    for key, bid, carrier in every:
        if key not in dirty or (scope is not None and bid not in scope):
            continue
        ks = {carrier_key(carrier, False), carrier_key(carrier, True)} - {None}
        if ks and (keep is None or ks & keep):
            meters[key] = bid
    return meters, consumption_repo.pending_spans(conn, list(meters))


def _pending(conn: PgConn, building_ids: Sequence[str], periods: Sequence[tuple[datetime, datetime]],
             pending: Pending | None = None) -> tuple[datetime | None, list[str], list[consumption_repo.PendingSpan]]:
    """(computed_through, the buildings concerned, the spans) of the pending spans of these buildings' counted
    meters that reach into any of the periods [start, end) (`pending`: pending_counted of any superset, read
    already)."""
    meters, all_spans = pending if pending is not None else pending_counted(conn, building_ids)
    ids = set(building_ids)
    spans = [sp for sp in all_spans if meters[sp.meter_key] in ids
             and any(overlapping([sp], start, end) for start, end in periods)]
    return computed_through(spans), sorted({meters[sp.meter_key] for sp in spans}), spans


def report_freshness(conn: PgConn, building_ids: Sequence[str], years: Sequence[int], tz: ZoneInfo,
                     pending: Pending | None = None) -> dict[str, Any]:
    """`computed_through` (None: nothing pending) and `pending_buildings` of a report on these buildings and years:
    whether its figures rest on rollups that do not yet count stored readings (README "Freshness"; `pending`:
    pending_counted of any superset of the buildings, read already)."""
    through, pending_ids, _ = _pending(conn, building_ids, [
        (datetime(y, 1, 1, tzinfo=tz), datetime(y + 1, 1, 1, tzinfo=tz)) for y in sorted(set(years))], pending)
    return {"computed_through": through.astimezone(tz) if through else None, "pending_buildings": pending_ids}


def adjustments(conn: PgConn, building_ids: Sequence[str] | None, first: date, last: date) -> list[dict[str, Any]]:
    """The non-routine adjustments recorded for the buildings (None: all) effective from `first` to `last`."""
    return repo.adjustments(conn, building_ids, first, last)


def area_changes(conn: PgConn, building_ids: Sequence[str], tz: ZoneInfo) -> dict[str, list[dict[str, Any]]]:
    """Per building, its area history as changes: each row after the first (the registration), with the area before
    it, the local date it took effect, its reason and who recorded it when."""
    out: dict[str, list[dict[str, Any]]] = {}
    previous: dict[str, float] = {}
    for bid, valid_from, area, reason, recorded_by, recorded_at in repo.area_history(conn, building_ids):
        before = previous.get(bid)
        previous[bid] = float(area)
        if before is None or reason == REASON_REGISTERED:
            continue  # the area the building was registered with is no change
        out.setdefault(bid, []).append({
            "building_id": bid, "kind": "area_changed", "effective": valid_from.astimezone(tz).date(),
            "heated_area_m2": float(area), "heated_area_m2_before": before, "reason": reason, "actor": recorded_by,
            "created_at": recorded_at})
    return out


def progress_adjustments(conn: PgConn, building_ids: Sequence[str], first: date, last: date, tz: ZoneInfo
                         ) -> list[dict[str, Any]]:
    """The non-routine adjustments of the buildings effective from `first` to `last`: those recorded through the
    adjustments endpoint (`source` "adjustment") and the area changes of the area history (a PUT of the building with
    `valid_from`: `source` "area_history", `id` null). An area change made through the adjustments endpoint is in both
    stores and listed once, as the adjustment (with `heated_area_m2_before` from the history)."""
    listed = [{**a, "source": "adjustment"} for a in adjustments(conn, building_ids, first, last)]
    history = area_changes(conn, building_ids, tz)
    for change in (c for changes in history.values() for c in changes):
        if not first <= change["effective"] <= last:
            continue
        same = next((a for a in listed if a["kind"] == "area_changed" and a["building_id"] == change["building_id"]
                     and a["effective"] == change["effective"] and a["heated_area_m2"] == change["heated_area_m2"]),
                    None)
        if same is not None:
            same["heated_area_m2_before"] = change["heated_area_m2_before"]
        else:
            listed.append({"id": None, **change, "source": "area_history"})
    listed.sort(key=lambda a: (a["effective"], a["created_at"]))
    return listed


def add_adjustment(conn: PgConn, building_id: str, *, kind: str, effective: date, heated_area_m2: float | None,
                   reason: str, actor: str, tz: ZoneInfo, via: str = "API") -> dict[str, Any]:
    """Record a non-routine adjustment; an area change also enters the area history at the local midnight it takes
    effect (and the registry's current area follows when it is the latest one dated today or earlier).
    Audit-logged."""
    adjustment_id, created_at = repo.insert_adjustment(conn, building_id, kind=kind, effective=effective,
                                                       heated_area_m2=heated_area_m2, reason=reason, actor=actor)
    if kind == "area_changed" and heated_area_m2 is not None:
        valid_from = datetime(effective.year, effective.month, effective.day, tzinfo=tz)
        repo.upsert_area(conn, building_id, valid_from=valid_from, heated_area_m2=heated_area_m2, reason=reason,
                         actor=actor)
    ref.audit(conn, actor, "add", f"buildings/{building_id}/adjustments",
              {"id": adjustment_id, "kind": kind, "effective": effective.isoformat(), "heated_area_m2": heated_area_m2,
               "reason": reason, "via": via})
    return {"id": adjustment_id, "building_id": building_id, "kind": kind, "effective": effective,
            "heated_area_m2": heated_area_m2, "reason": reason, "actor": actor, "created_at": created_at}


def building_exists(conn: PgConn, building_id: str) -> bool:
    return repo.building_exists(conn, building_id)


def baseline_missing(conn: PgConn, ids: Sequence[str] | None, year: int, tz: ZoneInfo) -> dict[str, Any]:
    """Buildings and carriers with main meters (as of the year's start; parent history) but no baseline for the year
    (neither imported nor from readings), and those whose baseline lacks months (readings: main meters as of each
    month)."""
    rows = repo.baseline_months(conn, ids, year, datetime(year, 1, 1, tzinfo=tz), tz.key)
    missing = [{"building_id": r[0], "carrier": r[1]} for r in rows if r[2] == 0 and r[3] == 0]
    partial = [{"building_id": r[0], "carrier": r[1], "months": r[2] or r[3],
                "from": "import" if r[2] else "readings"} for r in rows if r[2] or r[3]]
    return {"year": year, "missing": missing, "incomplete": partial}


def sold_at(conn: PgConn, building_ids: Sequence[str] | None, tz: ZoneInfo) -> dict[str, datetime]:
    """The local midnight a building was sold, for buildings sold and not added back since (their meters are no
    longer the municipality's from then: no meter-silent alert, no completeness)."""
    return {bid: local_midnight(sold, tz) for bid, sold, added in repo.last_sold_and_added(conn, building_ids)
            if sold is not None and (added is None or added <= sold)}
