"""Source 'dmi': DMI heating degree days (acc_heating_degree_days_17) of the configured municipality, monthly into the
versioned, audit-logged degree-day import that the CSV import also writes, daily into `degree_days_daily`.

Rules (docs/connectors.md, "DMI degree days"):
- Only complete periods are stored (`DmiValue.complete`): DMI publishes the running month and day as they
  accumulate; such a partial value never stands for its month or day. It is reported in the run's detail.
- A month gets a new import version only when its value differs from the current one (or it has none): a re-run
  changes nothing; a correction DMI makes later becomes a new version with an audit entry naming the old value.
- The source text of a version names DMI, the municipality and the retrieval date.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from services.config import Settings, read_secret
from services.connectors import repository as repo
from services.connectors.dmi_api import PARAMETER, DmiFormatError, DmiValue, fetch
from services.connectors.http import HttpClient
from services.connectors.service import SourceError, SyncContext, daily_at, register
from services.targets import reference as ref

ACTOR = "sync:dmi"
DAY_TOLERANCE = 0.005  # DMI gives one decimal: a smaller difference is the same value


def month_label(d: date) -> str:
    return d.isoformat()[:7]


def source_text(municipality_id: str, name: str | None, retrieved: date) -> str:
    who = f"{municipality_id} ({name})" if name else municipality_id
    return (f"DMI Climate Data API municipalityValue {PARAMETER}, municipality {who}, "
            f"retrieved {retrieved.isoformat()}")


def split_complete(values: list[DmiValue], now: datetime) -> tuple[list[DmiValue], list[DmiValue]]:
    """(complete, partial) — the latest value per period wins when DMI answers a period twice."""
    latest: dict[date, DmiValue] = {}
    for v in values:
        old = latest.get(v.period)
        if old is None or (v.calculated_at or v.end) >= (old.calculated_at or old.end):
            latest[v.period] = v
    ordered = [latest[k] for k in sorted(latest)]
    return [v for v in ordered if v.complete(now)], [v for v in ordered if not v.complete(now)]


def changed_months(current: dict[date, float], complete: list[DmiValue]) -> list[tuple[DmiValue, float | None]]:
    """The complete months whose value is new or differs from the current version (with the old value)."""
    out: list[tuple[DmiValue, float | None]] = []
    for v in complete:
        old = current.get(v.period)
        if old is None or abs(old - v.value) > DAY_TOLERANCE:
            out.append((v, old))
    return out


def degree_day_csv(rows: list[tuple[DmiValue, float | None]], source: str) -> str:
    """The changed months in the degree-day import's CSV form, so they go through its validation and versioning."""
    lines = ["month,degree_days,source"]
    lines += [f"{month_label(v.period)},{v.value!r},\"{source}\"" for v, _ in rows]
    return "\n".join(lines) + "\n"


class DmiSource:
    name = "dmi"

    def __init__(self, settings: Settings) -> None:
        self.cfg = settings.sync.dmi

    def problem(self, settings: Settings) -> str | None:
        cfg = settings.sync.dmi
        if not cfg.base_url.strip():
            return "ENERGIBLIK_SYNC__DMI__BASE_URL is empty (DMI's open API: https://opendataapi.dmi.dk/v2/climateData)"
        if not re.fullmatch(r"\d{3,4}", cfg.municipality_id):
            return (f"ENERGIBLIK_SYNC__DMI__MUNICIPALITY_ID {cfg.municipality_id!r} is not a municipality code "
                    "(four digits, e.g. 0151 for Ballerup)")
        try:
            read_secret(cfg.api_key, cfg.api_key_file, "ENERGIBLIK_SYNC__DMI__API_KEY_FILE")
        except ValueError as e:
            return str(e)
        return None

    def next_run(self, last_started: datetime | None, now: datetime, tz: ZoneInfo) -> datetime:
        return daily_at(last_started, self.cfg.run_at, now, tz)

    def window(self, ctx: SyncContext) -> tuple[datetime, datetime, datetime]:
        """(months from, days from, until) as local midnights: a re-read window of recent months and days (DMI
        corrects values after the fact), the whole span from `backfill_from` with --backfill, or --since/--until."""
        tz, opts = ctx.tz, ctx.options
        today = ctx.now.astimezone(tz).date()
        until = (opts.until + timedelta(days=1)) if opts.until else today + timedelta(days=1)
        if opts.since or opts.backfill:
            first = opts.since or self.cfg.backfill_from
            months_from = days_from = first
        else:
            m = today.year * 12 + today.month - 1 - self.cfg.months_back
            months_from = date(m // 12, m % 12 + 1, 1)
            days_from = today - timedelta(days=self.cfg.days_back)
        months_from = months_from.replace(day=1)

        def local(d: date) -> datetime:
            return datetime.combine(d, time(), tz)

        return local(months_from), local(days_from), local(until)

    def _fetch(self, ctx: SyncContext, client: HttpClient, resolution: str, span: tuple[datetime, datetime]
               ) -> list[DmiValue]:
        start, end = span
        cfg = self.cfg

        def get(path: str, params: dict[str, str]) -> Any:
            return client.get_json(path, params=params)

        values: list[DmiValue] = []
        try:
            for page in fetch(get, municipality_id=cfg.municipality_id, resolution=resolution, start=start, end=end,
                              tz=ctx.tz):
                values += page.values
                for index, message in page.rejected:
                    # one value not as documented is recorded and skipped; the run ends 'partial'
                    ctx.item_error(f"DMI {resolution} feature {index}", message)
                ctx.progress(advance=0, note=f"{resolution}: {len(values)} values")
        except DmiFormatError as e:
            raise SourceError(f"DMI {resolution} degree days: the answer is not the documented shape ({e}); "
                              "nothing from it is stored") from None
        wrong = {v.municipality_id for v in values if v.municipality_id and v.municipality_id != cfg.municipality_id}
        if wrong:
            raise SourceError(f"DMI answered values of municipality {', '.join(sorted(wrong))}, asked for "
                              f"{cfg.municipality_id}; nothing stored from this answer")
        return values

    def run(self, ctx: SyncContext) -> None:
        cfg = self.cfg
        api_key = read_secret(cfg.api_key, cfg.api_key_file, "ENERGIBLIK_SYNC__DMI__API_KEY_FILE")
        months_from, days_from, until = self.window(ctx)
        # the key travels in the header DMI documents for it, never in the query: a URL ends up in logs
        headers = {"X-Gravitee-Api-Key": api_key} if api_key else {}
        ctx.progress(total=2 if cfg.daily else 1)
        with HttpClient(cfg.base_url, what="DMI Climate Data API", timeout_s=cfg.timeout_s,
                        max_attempts=cfg.max_attempts, backoff_s=cfg.backoff_s, headers=headers) as client:
            months = self._fetch(ctx, client, "month", (months_from, until))
            self.store_months(ctx, months)
            ctx.progress(advance=1)
            if cfg.daily:
                days = self._fetch(ctx, client, "day", (days_from, until))
                self.store_days(ctx, days)
                ctx.progress(advance=1)
            if client.retries:
                ctx.detail["http_retries"] = client.retries

    def store_months(self, ctx: SyncContext, values: list[DmiValue]) -> None:
        complete, partial = split_complete(values, ctx.now)
        ctx.detail["municipality_id"] = self.cfg.municipality_id
        if partial:
            ctx.detail["partial_months"] = [month_label(v.period) for v in partial]
        ctx.detail["months_read"] = len(complete)
        if not complete:
            return
        name = next((v.municipality_name for v in complete if v.municipality_name), None)
        source = source_text(self.cfg.municipality_id, name, ctx.now.astimezone(ctx.tz).date())
        with ctx.transaction() as conn:
            current = ref.degree_days(conn, complete[0].period, complete[-1].period)
            changed = changed_months(current, complete)
            ctx.counts.duplicate += len(complete) - len(changed)
            if not changed:
                ctx.detail["months_changed"] = []
                return
            outcome = ref.import_degree_days(
                conn, degree_day_csv(changed, source), ACTOR,
                audit_detail={"source": source, "changed": {month_label(v.period): {"old": old, "new": v.value}
                                                            for v, old in changed}})
            for r in outcome.rejected:
                month = month_label(changed[r.line - 2][0].period) if 0 <= r.line - 2 < len(changed) else "?"
                ctx.item_error(f"month {month}", f"{r.field}: {r.message}")
            ctx.counts.stored += sum(1 for _, old in changed if old is None)
            ctx.counts.revised += sum(1 for _, old in changed if old is not None)
            ctx.detail["months_changed"] = [month_label(v.period) for v, _ in changed]
            ctx.detail["degree_day_import_id"] = outcome.import_id
            if ctx.options.dry_run:
                raise psycopg.Rollback()

    def store_days(self, ctx: SyncContext, values: list[DmiValue]) -> None:
        complete, partial = split_complete(values, ctx.now)
        if partial:
            ctx.detail["partial_days"] = [v.period.isoformat() for v in partial]
        if not complete:
            return
        name = next((v.municipality_name for v in complete if v.municipality_name), None)
        source = source_text(self.cfg.municipality_id, name, ctx.now.astimezone(ctx.tz).date())
        with ctx.transaction() as conn:
            stored, same, changed = repo.dmi_upsert_days(conn, [(v.period, v.value) for v in complete], source,
                                                         ctx.now.astimezone(UTC), DAY_TOLERANCE)
            if changed:
                ref.audit(conn, ACTOR, "revise", "degree_days_daily",
                          {"source": source, "changed": {d.isoformat(): {"old": old, "new": new}
                                                         for d, old, new in changed}})
            ctx.counts.stored += stored
            ctx.counts.duplicate += same
            ctx.counts.revised += len(changed)
            ctx.detail["days"] = {"read": len(complete), "new": stored, "changed": len(changed)}
            if ctx.options.dry_run:
                raise psycopg.Rollback()


register("dmi", DmiSource)
