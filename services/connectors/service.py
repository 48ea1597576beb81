"""The connector framework: a source is fetched or read, and what it delivers goes through the ingest pipeline
(`IngestPipeline.handle_batch`: validation, idempotence, revisions, dead letters, rollup tracking) exactly as MQTT
readings do. Every run is a `sync_runs` row; one run per source at a time; one bad item (metering point, file line,
price area) is recorded and skipped; a run that cannot go on ends 'failed' with a clear message, having lost nothing
it committed. docs/connectors.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import orjson
import psycopg

from services.config import Settings
from services.connectors import repository as repo
from services.connectors.schemas import RunOut, SourceStatus, SyncStatusOut, Trigger, UnmappedOut
from services.db import PgConn, libpq_dsn
from services.ingestion.schemas import RawMessage
from services.ingestion.service import BatchStats, IngestPipeline

log = logging.getLogger(__name__)

MAX_ITEM_ERRORS_KEPT = 50  # in a run's detail; the count is exact


class SourceError(Exception):
    """A run cannot go on (no token, the API refuses us, a file that cannot be read): the message says why, in words
    an energy team can act on, and never holds a secret."""


class AlreadyRunning(SourceError):
    pass


@dataclass(frozen=True, slots=True)
class MeterRef:
    external_id: str
    meter_id: str
    building_id: str
    unit: str
    mode: str  # 'register' | 'interval'
    interval_minutes: int | None
    active_from: datetime | None
    active_to: datetime | None


@dataclass
class SyncOptions:
    backfill: bool = False
    since: date | None = None
    until: date | None = None
    dry_run: bool = False
    path: Path | None = None
    preset: str | None = None
    items: list[str] | None = None  # e.g. the GSRNs to limit a run to


class ProgressFn(Protocol):
    def __call__(self, total: int | None = None, advance: int = 0, note: str | None = None) -> None: ...


def _no_progress(total: int | None = None, advance: int = 0, note: str | None = None) -> None:
    return None


class Source(Protocol):
    name: str

    def problem(self, settings: Settings) -> str | None:
        """None when the source can run as configured; otherwise why not, naming the setting to fix."""

    def next_run(self, last_started: datetime | None, now: datetime, tz: ZoneInfo) -> datetime:
        """When the scheduler should run it next, given when the last run started (None: never ran)."""

    def run(self, ctx: SyncContext) -> None:
        """Fetch or read, and store through `ctx`. Raise SourceError to end the run with a clear message."""


SOURCES: dict[str, Callable[[Settings], Source]] = {}


def every(last_started: datetime | None, seconds: float, now: datetime) -> datetime:
    """A source run every `seconds`: due at once when it never ran."""
    return now if last_started is None else last_started + timedelta(seconds=seconds)


def daily_at(last_started: datetime | None, at: time, now: datetime, tz: ZoneInfo) -> datetime:
    """A nightly source: due at local `at` on the first day after its last run (at once when it never ran)."""
    if last_started is None:
        return now
    local = last_started.astimezone(tz)
    today_at = datetime.combine(local.date(), at, tzinfo=tz)
    nxt = today_at if local < today_at else datetime.combine(local.date() + timedelta(days=1), at, tzinfo=tz)
    return nxt.astimezone(UTC)


def register(name: str, factory: Callable[[Settings], Source]) -> None:
    SOURCES[name] = factory


def _load_sources() -> None:
    """Each source module registers itself on import; importing them here keeps the registry complete."""
    import importlib

    for module in ("eloverblik", "utility", "dmi", "energidataservice"):
        try:
            importlib.import_module(f"services.connectors.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"services.connectors.{module}":
                raise


@dataclass
class _Counts:
    stored: int = 0
    duplicate: int = 0
    revised: int = 0
    rejected: int = 0
    errors: int = 0
    item_errors: list[dict[str, str]] = field(default_factory=list)
    rejections: dict[str, int] = field(default_factory=dict)


class SyncContext:
    """What a source gets for one run. Every write is its own short transaction: nothing is held open across an HTTP
    request, and what a run committed stays committed whatever happens after."""

    def __init__(self, conn: PgConn, settings: Settings, source: str, run_id: int, *, options: SyncOptions,
                 progress: ProgressFn | None = None, now: datetime | None = None) -> None:
        self.conn = conn
        self.settings = settings
        self.source = source
        self.run_id = run_id
        self.options = options
        self.progress: ProgressFn = progress or _no_progress
        self.now = now or datetime.now(UTC)
        self.tz = ZoneInfo(settings.timezone)
        self.detail: dict[str, Any] = {}
        self.counts = _Counts()
        self._pipelines: dict[str, IngestPipeline] = {}
        self._meters: dict[str, MeterRef] | None = None

    # -- registry -----------------------------------------------------------------------------------------------

    def meters_by_external_id(self, reload: bool = False) -> dict[str, MeterRef]:
        """Registered meters by their external id (a GSRN, a utility's meter number)."""
        if self._meters is None or reload:
            with self.conn.transaction():
                self._meters = {r[0]: MeterRef(*r) for r in repo.meters_by_external_id(self.conn)}
        return self._meters

    # -- storing ------------------------------------------------------------------------------------------------

    def _pipeline(self, source: str) -> IngestPipeline:
        p = self._pipelines.get(source)
        if p is None:
            p = self._pipelines[source] = IngestPipeline.from_settings(self.settings, source=source)
        return p

    def _messages(self, meter: MeterRef, readings: Sequence[dict[str, Any]], pipeline: IngestPipeline
                  ) -> list[RawMessage]:
        """The readings as wire-contract messages that each fit the pipeline's limits (readings per message and
        payload bytes), as a gateway would publish them; a message is halved until it fits."""
        topic = f"{self.settings.mqtt.topic_prefix.strip('/')}/buildings/{meter.building_id}/meters/{meter.meter_id}" \
                "/readings"
        received = datetime.now(UTC)
        out: list[RawMessage] = []

        def add(chunk: Sequence[dict[str, Any]]) -> None:
            payload = orjson.dumps(list(chunk))
            if len(payload) > pipeline.max_payload_bytes and len(chunk) > 1:
                half = len(chunk) // 2
                add(chunk[:half])
                add(chunk[half:])
                return
            out.append(RawMessage(topic, payload, received))  # one reading too large is the pipeline's to refuse

        for i in range(0, len(readings), pipeline.max_items):
            add(readings[i:i + pipeline.max_items])
        return out

    def store_readings(self, meter: MeterRef, readings: Sequence[dict[str, Any]], *, source: str,
                       cursor: tuple[str, datetime] | None = None, cursor_detail: dict[str, Any] | None = None
                       ) -> BatchStats:
        """Store readings in the wire contract's shape (`{"ts", "value", "unit", "quality"}`) for one meter through
        the ingest pipeline, in one transaction together with the cursor (when given), so a cursor never runs ahead
        of what is stored. With `options.dry_run` the same work is done and rolled back: the counts say what would
        happen. Rows the pipeline refuses become dead letters with their reason and are counted as rejected."""
        pipeline = self._pipeline(source)
        messages = self._messages(meter, readings, pipeline)
        stats = BatchStats()
        with self.conn.transaction():
            if messages:
                stats = pipeline.handle_batch(self.conn, messages)
            if cursor is not None and not self.options.dry_run:
                repo.set_cursor(self.conn, self.source, cursor[0], cursor[1], cursor_detail)
            if self.options.dry_run:
                raise psycopg.Rollback()
        c = self.counts
        c.stored += stats.readings_stored
        c.duplicate += stats.duplicates
        c.revised += stats.revisions
        refused = len(readings) - stats.readings_stored - stats.duplicates - stats.revisions
        c.rejected += max(refused, 0)
        for reason, n in stats.reasons.items():
            c.rejections[reason] = c.rejections.get(reason, 0) + n
        return stats

    # -- cursors, unmapped ids, errors, progress -------------------------------------------------------------

    def cursor(self, key: str) -> datetime | None:
        with self.conn.transaction():
            return repo.get_cursor(self.conn, self.source, key)

    def set_cursor(self, key: str, value: datetime, detail: dict[str, Any] | None = None) -> None:
        if self.options.dry_run:
            return
        with self.conn.transaction():
            repo.set_cursor(self.conn, self.source, key, value, detail)

    def cursors(self, prefix: str) -> dict[str, datetime]:
        """The source's cursors whose key starts with `prefix` (e.g. markers of work still to do)."""
        with self.conn.transaction():
            return repo.cursors(self.conn, self.source, prefix)

    def clear_cursor(self, key: str) -> None:
        if self.options.dry_run:
            return
        with self.conn.transaction():
            repo.delete_cursor(self.conn, self.source, key)

    def unmapped(self, external_id: str, detail: dict[str, Any]) -> None:
        """A metering point or meter number without a registered meter: listed for registration, never dropped."""
        if self.options.dry_run:
            self.detail.setdefault("unmapped", []).append(external_id)
            return
        with self.conn.transaction():
            repo.record_unmapped(self.conn, self.source, external_id, detail)

    def item_error(self, item: str, message: str) -> None:
        """One item failed; it is recorded in the run and skipped, and the run goes on (it ends 'partial')."""
        self.counts.errors += 1
        if len(self.counts.item_errors) < MAX_ITEM_ERRORS_KEPT:
            self.counts.item_errors.append({"item": item, "error": message[:500]})
        log.warning("sync item failed; skipped", extra={"source": self.source, "item": item,
                                                       "error": message[:300]})

    @contextmanager
    def transaction(self) -> Iterator[PgConn]:
        """A short transaction of its own for a source's own tables (degree days, hourly CO2), via its repository."""
        with self.conn.transaction():
            yield self.conn


# -- running ----------------------------------------------------------------------------------------------------

def _run_out(row: dict[str, Any]) -> RunOut:
    return RunOut.model_validate(row)


def _finish(conn: PgConn, ctx: SyncContext, status: str, message: str | None) -> None:
    c = ctx.counts
    detail = dict(ctx.detail)
    if c.item_errors:
        detail["item_errors"] = c.item_errors
    if c.rejections:
        detail["rejections"] = c.rejections
    with conn.transaction():
        repo.save_run(conn, ctx.run_id, status=status, stored=c.stored, duplicate=c.duplicate, revised=c.revised,
                      rejected=c.rejected, errors=c.errors, message=message, detail=detail, finished=True)


def source_for(name: str, settings: Settings) -> Source:
    _load_sources()
    factory = SOURCES.get(name)
    if factory is None:
        raise SourceError(f"unknown source {name!r}; the sources are: {', '.join(sorted(SOURCES))}")
    return factory(settings)


def run_source(name: str, *, settings: Settings, trigger: Trigger, actor: str, options: SyncOptions | None = None,
               progress: ProgressFn | None = None, now: datetime | None = None) -> RunOut:
    """Run one source once and record it. Raises SourceError only before a run exists (unknown source, already
    running); everything after ends in the run's row: 'ok', 'partial' (items or rows failed) or 'failed'."""
    source = source_for(name, settings)
    opts = options or SyncOptions()
    conn = psycopg.connect(libpq_dsn(settings.db.url), autocommit=True, connect_timeout=10)
    try:
        if not repo.try_lock(conn, name):
            raise AlreadyRunning(f"{name}: a sync of this source is already running; try again when it has ended")
        try:
            repo.close_interrupted(conn, name)
            run_id = repo.start_run(conn, name, trigger, actor)
            ctx = SyncContext(conn, settings, name, run_id, options=opts, progress=progress, now=now)
            if opts.dry_run:
                ctx.detail["dry_run"] = True
            status, message = "ok", None
            problem = source.problem(settings)
            try:
                if problem is not None:
                    raise SourceError(problem)
                source.run(ctx)
                if ctx.counts.errors or ctx.counts.rejected:
                    status = "partial"
            except SourceError as exc:
                status, message = "failed", str(exc)
                log.warning("sync failed", extra={"source": name, "error": message[:500]})
            except psycopg.OperationalError as exc:
                status, message = "failed", f"database unavailable: {str(exc).strip()[:300]}"
                log.warning("sync failed: database unavailable", extra={"source": name})
            except Exception as exc:
                status, message = "failed", f"internal error: {type(exc).__name__}: {str(exc)[:300]}"
                log.exception("sync failed with an unexpected error", extra={"source": name})
            if message is None and ctx.detail.get("summary"):
                message = str(ctx.detail["summary"])
            _finish(conn, ctx, status, message)
            row = repo.run(conn, run_id)
            assert row is not None
            return _run_out(row)
        finally:
            if not conn.closed and not conn.broken:
                repo.unlock(conn, name)
    finally:
        conn.close()


# -- status -----------------------------------------------------------------------------------------------------

SCHEDULER_FRESH = timedelta(minutes=10)


def _view(source: Source, name: str, settings: Settings, last_started: datetime | None, *, now: datetime,
          tz: ZoneInfo) -> tuple[bool, str | None, datetime | None]:
    """(enabled, problem, next run) of a source under these settings."""
    cfg = getattr(settings.sync, name, None)
    enabled = bool(cfg is not None and cfg.enabled)
    try:
        problem = source.problem(settings)
    except Exception as exc:
        problem = str(exc)
    return enabled, problem, source.next_run(last_started, now, tz) if enabled else None


def report_schedule(conn: PgConn, settings: Settings, reporter: str, now: datetime | None = None) -> None:
    """The scheduler's view of every source, for the status answer (the API process may not hold the sources'
    settings and secrets: under Compose and systemd only the scheduler does)."""
    _load_sources()
    now = now or datetime.now(UTC)
    tz = ZoneInfo(settings.timezone)
    last = repo.last_runs(conn)
    rows = []
    for name in sorted(SOURCES):
        run = last.get(name)
        rows.append((name, *_view(SOURCES[name](settings), name, settings, run["started_at"] if run else None,
                                  now=now, tz=tz)))
    repo.report_schedule(conn, rows, reporter)


def status(conn: PgConn, settings: Settings, now: datetime | None = None) -> SyncStatusOut:
    """Every source: enabled or not and why it cannot run (as the scheduler reports it while it runs; else as
    this process's settings say, with no next run), its last run, its next run and its unmapped ids."""
    _load_sources()
    now = now or datetime.now(UTC)
    tz = ZoneInfo(settings.timezone)
    last = repo.last_runs(conn)
    counts = repo.unmapped_counts(conn)
    reported = repo.schedule(conn)
    seen = max((r["reported_at"] for r in reported.values()), default=None)
    running = seen is not None and now - seen <= SCHEDULER_FRESH
    out = []
    for name in sorted(SOURCES):
        run = last.get(name)
        mine = reported.get(name) if running else None
        if mine is not None:
            enabled, problem, next_run = mine["enabled"], mine["problem"], mine["next_run"]
        else:
            enabled, problem, _ = _view(SOURCES[name](settings), name, settings,
                                        run["started_at"] if run else None, now=now, tz=tz)
            next_run = None  # no scheduler: nothing runs by itself
        out.append(SourceStatus(source=name, enabled=enabled, problem=problem,
                                last_run=_run_out(run) if run else None, next_run=next_run,
                                unmapped=counts.get(name, 0)))
    return SyncStatusOut(sources=out, scheduler_running=running, scheduler_seen_at=seen)


def runs(conn: PgConn, source: str, limit: int = 50) -> list[RunOut]:
    return [_run_out(r) for r in repo.runs(conn, source, limit)]


def unmapped(conn: PgConn, source: str | None, limit: int = 1000) -> list[UnmappedOut]:
    return [UnmappedOut.model_validate(r) for r in repo.unmapped(conn, source, limit)]


def due(conn: PgConn, settings: Settings, now: datetime) -> list[str]:
    """The enabled sources whose next run has come (the scheduler's question)."""
    _load_sources()
    tz = ZoneInfo(settings.timezone)
    last = repo.last_runs(conn)
    out = []
    for name in sorted(SOURCES):
        cfg = getattr(settings.sync, name, None)
        if cfg is None or not cfg.enabled:
            continue
        run = last.get(name)
        if SOURCES[name](settings).next_run(run["started_at"] if run else None, now, tz) <= now:
            out.append(name)
    return out
