"""Source 'energidataservice': hourly CO2 intensity of consumed electricity per price area from Energi Data Service's
`DeclarationGridEmission` (why that dataset: services/connectors/eds_api.py), into `co2_intensity_hourly`.

- Incremental: a cursor per dataset and allocation method (the hour after the newest one stored); each run re-reads
  `reread_days` before it, because the declaration appears days after the hour and may be revised.
- `--backfill` (or `--since`): from `backfill_from` (default 2015-01-01) in chunks; the dataset begins where it
  begins (hours before its first one are simply not there), and each chunk is committed with the cursor.
- Idempotent: an hour stored with the same value is a duplicate; a changed value is updated and its old value kept
  in `co2_intensity_revisions`.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from services.config import Settings
from services.connectors import repository as repo
from services.connectors.eds_api import EdsFormatError, Intensity, fetch
from services.connectors.http import HttpClient, HttpError
from services.connectors.service import SourceError, SyncContext, daily_at, register

SOURCE_NAME = "Energi Data Service"
G_TOLERANCE = 1e-6


def method_label(dataset: str, area: str, method: str) -> str:
    """How a figure computed from these intensities names its method (on every /co2 figure)."""
    return f"hourly_location_based (Energi Data Service {dataset}, {area}, {method})"


def chunks(start: datetime, end: datetime, days: int) -> list[tuple[datetime, datetime]]:
    out = []
    t = start
    while t < end:
        nxt = min(t + timedelta(days=days), end)
        out.append((t, nxt))
        t = nxt
    return out


class EnergiDataServiceSource:
    name = "energidataservice"

    def __init__(self, settings: Settings) -> None:
        self.cfg = settings.sync.energidataservice

    def problem(self, settings: Settings) -> str | None:
        cfg = settings.sync.energidataservice
        if not cfg.base_url.strip():
            return "ENERGIBLIK_SYNC__ENERGIDATASERVICE__BASE_URL is empty (https://api.energidataservice.dk)"
        bad = [a for a in cfg.areas if not (a.isalnum() and a.isupper() and 2 <= len(a) <= 8)]
        if bad or not cfg.areas:
            return f"ENERGIBLIK_SYNC__ENERGIDATASERVICE__AREAS {cfg.areas!r}: price areas such as [\"DK1\", \"DK2\"]"
        if cfg.price_area not in cfg.areas:
            return (f"ENERGIBLIK_SYNC__ENERGIDATASERVICE__PRICE_AREA {cfg.price_area!r} is not among the areas "
                    f"fetched ({', '.join(cfg.areas)})")
        return None

    def next_run(self, last_started: datetime | None, now: datetime, tz: ZoneInfo) -> datetime:
        return daily_at(last_started, self.cfg.run_at, now, tz)

    @property
    def cursor_key(self) -> str:
        return f"{self.cfg.dataset}/{self.cfg.method}"

    def window(self, ctx: SyncContext) -> tuple[datetime, datetime]:
        tz, opts, cfg = ctx.tz, ctx.options, self.cfg
        end = datetime.combine(opts.until + timedelta(days=1), time(), tz) if opts.until else ctx.now
        if opts.since or opts.backfill:
            start = datetime.combine(opts.since or cfg.backfill_from, time(), tz)
        else:
            cursor = ctx.cursor(self.cursor_key)
            if cursor is None:
                # a first run without --backfill: last year and this one, what /co2 asks for by default
                start = datetime(ctx.now.astimezone(tz).year - 1, 1, 1, tzinfo=tz)
            else:
                start = cursor - timedelta(days=cfg.reread_days)
        return start.astimezone(UTC), end.astimezone(UTC)

    def run(self, ctx: SyncContext) -> None:
        cfg = self.cfg
        start, end = self.window(ctx)
        parts = chunks(start, end, cfg.chunk_days)
        ctx.progress(total=len(parts))
        ctx.detail.update({"dataset": cfg.dataset, "method": cfg.method, "areas": list(cfg.areas),
                           "from": start.isoformat(), "to": end.isoformat()})

        undeclared = 0
        newest: datetime | None = None
        with HttpClient(cfg.base_url, what=f"Energi Data Service {cfg.dataset}", timeout_s=cfg.timeout_s,
                        max_attempts=cfg.max_attempts, backoff_s=cfg.backoff_s) as client:

            def get(path: str, params: dict[str, str]) -> Any:
                return client.get_json(path, params=params)

            for lo, hi in parts:
                rows: list[Intensity] = []
                try:
                    for page in fetch(get, dataset=cfg.dataset, areas=cfg.areas, method=cfg.method, start=lo, end=hi,
                                      page_limit=cfg.page_limit):
                        rows += page.rows
                        undeclared += page.undeclared  # published without a value yet: a later run reads it again
                        for index, message in page.rejected:
                            ctx.item_error(f"{cfg.dataset} {lo.date()}..{hi.date()} record {index}", message)
                except HttpError as e:
                    raise SourceError(f"{e} (hours stored up to {newest.isoformat() if newest else 'none'})"
                                      ) from None
                except EdsFormatError as e:
                    raise SourceError(f"Energi Data Service {cfg.dataset}: the answer is not the documented shape: "
                                      f"{e}") from None
                rows = [r for r in rows if r.area in cfg.areas and r.method == cfg.method]
                self.store(ctx, rows)
                if rows:
                    newest = max(newest or rows[0].ts, *(r.ts for r in rows))
                ctx.progress(advance=1, note=f"{lo.date()}: {len(rows)} hours")
            if client.retries:
                ctx.detail["http_retries"] = client.retries
        if undeclared:
            ctx.detail["undeclared_hours"] = undeclared
        ctx.detail["newest_hour"] = newest.isoformat() if newest else None

    def store(self, ctx: SyncContext, rows: list[Intensity]) -> None:
        """One chunk in one transaction, with the cursor (the hour after the newest stored): a cursor never runs
        ahead of what is stored."""
        if not rows:
            return
        source = f"{SOURCE_NAME} {self.cfg.dataset}, retrieved {ctx.now.astimezone(ctx.tz).date().isoformat()}"
        with ctx.transaction() as conn:
            stored, same, revised = repo.eds_upsert_intensity(conn, rows, source, ctx.now, G_TOLERANCE)
            newest = max(r.ts for r in rows) + timedelta(hours=1)
            old = repo.get_cursor(conn, ctx.source, self.cursor_key)
            if old is None or newest > old:
                repo.set_cursor(conn, ctx.source, self.cursor_key, newest, {"areas": list(self.cfg.areas)})
            if ctx.options.dry_run:
                raise psycopg.Rollback()
        ctx.counts.stored += stored
        ctx.counts.duplicate += same
        ctx.counts.revised += revised


register("energidataservice", EnergiDataServiceSource)
