"""The 'eloverblik' source: DataHub electricity of the municipality's metering points, by GSRN, as interval readings.

A run: refresh token → data access token (client.py) → the active authorizations (only those of
`ENERGIBLIK_SYNC__ELOVERBLIK__CVR` when set) → their metering points (children included) → each GSRN matched to the
meter whose `external_id` it is (none: listed as unmapped; a meter that cannot take interval kWh: an item error) →
time series in requests of at most `points_per_request` metering points and `chunk_days` days, aggregated to the
meter's registered interval (60: `Hour`, 15: `Quarter`) → readings through the ingest pipeline with source
`datahub`, each metering point's cursor (the end of its latest stored interval) advanced in the same transaction.

- Incremental (the nightly run): from `correction_days` before the cursor up to today (DataHub has data up to the end
  of yesterday), so corrections DataHub published since are fetched again; a changed quantity for a stored hour
  becomes a revision, an unchanged one a duplicate. A metering point without a cursor starts `first_sync_days` back.
- Backfill (`--backfill`): backwards from today in `chunk_days` steps; a metering point is done at the first step
  that returns no data for it (its data starts there), at 1 January of the oldest year the API serves
  (`history_years`: "the previous 5 years plus the current year") and never before 2015-01-01.
- `--since`/`--until` (local dates, until exclusive) override the window; `--only GSRN` limits the run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.config import EloverblikSettings, Settings, read_secret
from services.connectors.eloverblik.client import EloverblikClient, EloverblikRequestError
from services.connectors.eloverblik.parse import MeteringPoint, Series
from services.connectors.http import HttpClient
from services.connectors.service import MeterRef, SourceError, SyncContext, daily_at
from services.readings.units import UnitMismatch, is_energy, parse_unit

log = logging.getLogger("energiblik.sync.eloverblik")

EARLIEST = date(2015, 1, 1)
# the meter's registered interval → (aggregation asked for, resolution expected back)
AGGREGATION = {60: ("Hour", "PT1H"), 15: ("Quarter", "PT15M")}
MAX_READINGS_PER_STORE = 10_000
TOKEN_SETTING = "ENERGIBLIK_SYNC__ELOVERBLIK__REFRESH_TOKEN"  # noqa: S105 - the setting's name


@dataclass
class Target:
    gsrn: str
    meter: MeterRef
    aggregation: str
    resolution: str
    floor: date  # the earliest local day asked for
    start: date  # where this run begins
    cursor: datetime | None
    done: bool = False


def meter_problem(meter: MeterRef) -> str | None:
    """Why a registered meter cannot take Eloverblik's data, or None."""
    what = f"meter {meter.meter_id!r} (external_id {meter.external_id})"
    if meter.mode != "interval":
        return (f"{what} is registered with mode {meter.mode!r}; Eloverblik delivers the kWh of each hour or "
                "quarter: register it with mode 'interval' and interval_minutes 60 or 15")
    try:
        energy = is_energy(parse_unit(meter.unit))
    except UnitMismatch:
        energy = False
    if not energy:
        return f"{what} has unit {meter.unit!r}; Eloverblik delivers electricity in kWh: register it in kWh"
    if meter.interval_minutes not in AGGREGATION:
        return (f"{what} has interval_minutes {meter.interval_minutes}; Eloverblik serves hours (60) and quarters "
                "(15): register one of them")
    return None


def _local_date(ts: datetime, tz: ZoneInfo) -> date:
    return ts.astimezone(tz).date()


class EloverblikSource:
    name = "eloverblik"

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.cfg: EloverblikSettings = settings.sync.eloverblik
        self._sleep = sleep

    def problem(self, settings: Settings) -> str | None:
        cfg = settings.sync.eloverblik
        try:
            token = read_secret(cfg.refresh_token, cfg.refresh_token_file, f"{TOKEN_SETTING}_FILE")
        except ValueError as exc:
            return str(exc)
        if not token:
            return (f"no refresh token: set {TOKEN_SETTING} or {TOKEN_SETTING}_FILE (a third-party refresh token "
                    "from ElOverblik, docs/connectors.md)")
        if not cfg.base_url:
            return "no base URL: set ENERGIBLIK_SYNC__ELOVERBLIK__BASE_URL"
        return None

    def next_run(self, last_started: datetime | None, now: datetime, tz: ZoneInfo) -> datetime:
        return daily_at(last_started, self.cfg.run_at, now, tz)

    def run(self, ctx: SyncContext) -> None:
        cfg = ctx.settings.sync.eloverblik
        token = read_secret(cfg.refresh_token, cfg.refresh_token_file, f"{TOKEN_SETTING}_FILE")
        if not token:
            raise SourceError(self.problem(ctx.settings) or "no refresh token")
        with HttpClient(cfg.base_url, what="eloverblik", timeout_s=cfg.timeout_s, max_attempts=cfg.max_attempts,
                        backoff_s=cfg.backoff_s, sleep=self._sleep) as http:
            client = EloverblikClient(http, token)
            try:
                self._resume_backfills(ctx, cfg, client)
                run = _Run(ctx, cfg, client)
                if ctx.options.backfill and not ctx.options.dry_run:
                    run.mark_backfills = True
                run.go()
            finally:
                ctx.detail.update(requests=client.requests, token_calls=client.token_calls, retries=client.retries)


    @staticmethod
    def _resume_backfills(ctx: SyncContext, cfg: EloverblikSettings, client: EloverblikClient) -> None:
        """A backfill that ended early (the API refused for good, the process stopped) left a marker per metering
        point it had not finished; the next run of any kind finishes them first, going back from today again (what
        is stored already comes back unchanged), so a failed backfill never leaves a silent hole in the history."""
        if ctx.options.backfill or ctx.options.since or ctx.options.dry_run:
            return
        pending = sorted(k.removeprefix(BACKFILL_MARK) for k in ctx.cursors(BACKFILL_MARK))
        if ctx.options.items:
            pending = [g for g in pending if g in set(ctx.options.items)]
        if not pending:
            return
        ctx.detail["backfill_resumed"] = pending
        normal = ctx.options
        ctx.options = replace(normal, backfill=True, items=pending)
        try:
            run = _Run(ctx, cfg, client)
            run.mark_backfills = True
            run.go()
        finally:
            ctx.options = normal


BACKFILL_MARK = "backfill-pending:"


class _Run:
    def __init__(self, ctx: SyncContext, cfg: EloverblikSettings, client: EloverblikClient) -> None:
        self.mark_backfills = False  # keep a marker per metering point until its backfill is complete
        self.failed: set[str] = set()
        self.ctx = ctx
        self.cfg = cfg
        self.client = client
        self.today = _local_date(ctx.now, ctx.tz)
        until = ctx.options.until
        self.end = min(until, self.today) if until else self.today  # exclusive
        self.not_available = 0
        self.planned = 0

    # -- which metering points -----------------------------------------------------------------------------------

    def metering_points(self) -> dict[str, MeteringPoint]:
        auths = self.client.authorizations()
        total = len(auths)
        if self.cfg.cvr:
            auths = [a for a in auths if str(a.get("customerCVR") or "") == self.cfg.cvr]
        if not auths:
            whose = f" from CVR {self.cfg.cvr} ({total} from other CVRs)" if self.cfg.cvr else ""
            raise SourceError(f"eloverblik: no active authorization (power of attorney){whose}: the municipality "
                              "grants one to the third party in ElOverblik, and it lists the metering points")
        points: dict[str, MeteringPoint] = {}
        for auth in auths:
            try:
                mps = self.client.metering_points(auth)
            except EloverblikRequestError as exc:
                self.ctx.item_error(f"authorization {auth.get('id')}", str(exc))
                continue
            for mp in mps:
                seen = points.get(mp.gsrn)
                if seen is None or (mp.access_from or datetime.max.replace(tzinfo=UTC)) < (
                        seen.access_from or datetime.max.replace(tzinfo=UTC)):
                    points[mp.gsrn] = mp
        self.ctx.detail.update(authorizations=len(auths), metering_points=len(points))
        only = self.ctx.options.items
        if only:
            for gsrn in only:
                if gsrn not in points:
                    self.ctx.item_error(gsrn, "not among the metering points the authorizations grant")
            points = {g: mp for g, mp in points.items() if g in set(only)}
        return points

    def targets(self, points: dict[str, MeteringPoint]) -> list[Target]:
        ctx, cfg = self.ctx, self.cfg
        meters = ctx.meters_by_external_id()
        oldest = max(EARLIEST, date(self.today.year - cfg.history_years, 1, 1))
        out: list[Target] = []
        unmapped = 0
        for gsrn, mp in sorted(points.items()):
            meter = meters.get(gsrn)
            if meter is None:
                ctx.unmapped(gsrn, mp.detail)
                unmapped += 1
                continue
            problem = meter_problem(meter)
            if problem is not None:
                ctx.item_error(gsrn, problem)
                continue
            assert meter.interval_minutes is not None
            aggregation, resolution = AGGREGATION[meter.interval_minutes]
            floor = max(oldest, _local_date(mp.access_from, ctx.tz)) if mp.access_from else oldest
            cursor = ctx.cursor(gsrn)
            if ctx.options.since:
                start = ctx.options.since
            elif ctx.options.backfill:
                start = floor
            elif cursor is not None:
                start = _local_date(cursor, ctx.tz) - timedelta(days=cfg.correction_days)
            else:
                start = self.today - timedelta(days=cfg.first_sync_days)
            out.append(Target(gsrn, meter, aggregation, resolution, floor, max(start, floor), cursor))
        ctx.detail.update(mapped=len(out), unmapped=unmapped)
        return out

    # -- fetching and storing ------------------------------------------------------------------------------------

    def go(self) -> None:
        targets = [t for t in self.targets(self.metering_points()) if t.start < self.end]
        if self.mark_backfills:
            for t in targets:
                self.ctx.set_cursor(BACKFILL_MARK + t.gsrn, self.ctx.now, {"since": t.floor.isoformat()})
        bundles: list[list[Target]] = []
        for aggregation in sorted({t.aggregation for t in targets}):
            group = sorted((t for t in targets if t.aggregation == aggregation), key=lambda t: (t.start, t.gsrn))
            n = self.cfg.points_per_request
            bundles += [group[i:i + n] for i in range(0, len(group), n)]
        step = timedelta(days=self.cfg.chunk_days)
        windows = [self._windows(b, step) for b in bundles]
        self.planned = sum(len(w) for w in windows)
        self.ctx.progress(total=self.planned)
        for bundle, wins in zip(bundles, windows, strict=True):
            for i, (first, end) in enumerate(wins):
                active = [t for t in bundle if not t.done and t.start < end]
                if not active:
                    self._unplan(len(wins) - i)
                    break
                self._window(active, first, end)
        if self.mark_backfills:  # the run got through: every metering point's backfill is complete but the failed
            for t in targets:
                if t.gsrn not in self.failed:
                    self.ctx.clear_cursor(BACKFILL_MARK + t.gsrn)
        self.ctx.detail["not_available"] = self.not_available
        self.ctx.detail["summary"] = (
            f"{self.ctx.detail.get('mapped', 0)} metering points synced, {self.ctx.detail.get('unmapped', 0)} "
            f"without a meter, {self.client.requests} requests")

    def _windows(self, bundle: list[Target], step: timedelta) -> list[tuple[date, date]]:
        """[first, end) local-day windows: forwards from the earliest start, backwards from today for a backfill."""
        start = min(t.start for t in bundle)
        out = []
        if self.ctx.options.backfill and not self.ctx.options.since:
            end = self.end
            while end > start:
                out.append((max(start, end - step), end))
                end -= step
        else:
            first = start
            while first < self.end:
                out.append((first, min(self.end, first + step)))
                first += step
        return out

    def _unplan(self, n: int) -> None:
        if n > 0:
            self.planned -= n
            self.ctx.progress(total=self.planned)

    def _window(self, active: list[Target], first: date, end: date) -> None:
        ctx = self.ctx
        span = f"{first.isoformat()}..{(end - timedelta(days=1)).isoformat()}"
        gsrns = [t.gsrn for t in active]
        try:
            series = self.client.time_series(gsrns, first, end, active[0].aggregation)
        except EloverblikRequestError as exc:
            for t in active:
                ctx.item_error(t.gsrn, f"{span}: {exc}")
                self.failed.add(t.gsrn)
                t.done = True
            ctx.progress(advance=1)
            return
        for t in active:
            self._store(t, series[t.gsrn], span)
        ctx.progress(advance=1, note=f"{span}, {len(active)} metering points")

    def _store(self, t: Target, s: Series, span: str) -> None:
        ctx = self.ctx
        if s.error is not None:
            ctx.item_error(t.gsrn, f"{span}: {s.error}")
            self.failed.add(t.gsrn)
            t.done = True
            return
        other = s.resolutions - {t.resolution}
        if other:
            # e.g. the hours before a metering point moved to quarters, for a meter registered with 15 minutes: an
            # hourly value on it would be read as a quarter's. The days in its own resolution are still stored.
            ctx.item_error(t.gsrn, f"{span}: Eloverblik delivers {', '.join(sorted(other))} for (some days of) this "
                                   f"metering point but meter {t.meter.meter_id!r} is registered with "
                                   f"interval_minutes {t.meter.interval_minutes}; those days were not stored "
                                   "(a meter registered with 60 takes the whole history: DataHub sums quarters)")
            if ctx.options.backfill:
                t.done = True  # further back there is only more of it
        self.not_available += s.gaps
        if not s.points:
            if ctx.options.backfill and not s.gaps:
                t.done = True  # no data this far back: the metering point's data starts later
            return
        readings = s.readings(t.resolution)
        if not readings:
            return
        for i in range(0, len(readings), MAX_READINGS_PER_STORE):
            part = readings[i:i + MAX_READINGS_PER_STORE]
            last = datetime.fromisoformat(part[-1]["ts"])
            cursor = last if t.cursor is None or last > t.cursor else t.cursor
            detail: dict[str, Any] = {"meter_id": t.meter.meter_id, "resolution": t.resolution}
            ctx.store_readings(t.meter, part, source="datahub", cursor=(t.gsrn, cursor), cursor_detail=detail)
            t.cursor = cursor
