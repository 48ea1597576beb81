"""The utility-export source: one file (the CLI's --file, the API's upload) or the inbox folder's new files, read
with a mapping (a preset or JSON) and stored through the ingest pipeline with source 'utility'."""

from __future__ import annotations

import json
import logging
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from services.config import Settings
from services.connectors.service import MeterRef, SourceError, SyncContext, every
from services.connectors.utility.importer import MeterLike, Plan, plan_import, store_plan
from services.connectors.utility.mapping import PRESETS, MappingSpec, mapping_from
from services.connectors.utility.parsing import FileError

log = logging.getLogger(__name__)

READING_SOURCE = "utility"
MAX_FILE_BYTES = 20 * 1024 * 1024
INBOX_SETTLE_S = 5.0  # a file changed this recently may still be being written: left for the next run
SUMMARY_LINES = 40


def resolve_mapping(preset: str | None) -> MappingSpec:
    """A preset name, inline JSON (`{"preset": ..., "consumption": "Forbrug (kWh)"}`) or a path to a JSON file."""
    if preset is None or preset in PRESETS:
        return mapping_from(preset)
    text = preset.strip()
    if text.startswith("{"):
        return mapping_from(None, text)
    path = Path(text)
    if path.suffix.lower() == ".json":
        try:
            return mapping_from(None, path.read_text(encoding="utf-8"))
        except OSError as e:
            raise FileError(f"preset: cannot read the mapping file {path}: {e.strerror}") from None
    raise FileError(f"preset: {preset!r} is neither a preset ({', '.join(PRESETS)}), a JSON mapping nor a .json file")


def summary_text(report: dict[str, Any]) -> str:
    """The report as lines a person reads in a terminal: per meter, then rejected lines, then unknown meters."""
    dry = report.get("dry_run")
    lines = [f"{report.get('file', 'file')}: {report['data_lines']} line(s) read ({report['format']}, preset "
             f"{report['preset']}, header on line {report['header_line']}): {report['accepted']} reading(s) "
             f"accepted{' (dry run: nothing stored)' if dry else ''}, {report['rejected_count']} line(s) rejected"
             + (f", {sum(u['lines'] for u in report['unmapped'])} line(s) of unknown meter numbers"
                if report["unmapped"] else "")]
    for m in report["meters"]:
        qty = f"{m['quantity']:g} {m['unit']}" + (f" = {m['kwh']:g} kWh" if m["kwh"] is not None
                                                  and m["unit"] != "kWh" else "")
        lines.append(f"  meter {m['meter_id']} ({m['external_id']}, {m['mode']}): {m['readings']} reading(s) "
                     f"{m['first_ts']} .. {m['last_ts']}, {qty}")
    rejected = report["rejected"]
    for r in rejected[:SUMMARY_LINES]:
        lines.append(f"  line {r['line']}, {r['field']}: {r['message']}")
    if report["rejected_count"] > SUMMARY_LINES:
        lines.append(f"  ... and {report['rejected_count'] - SUMMARY_LINES} more rejected line(s)")
    for w in report["warnings"][:10]:
        lines.append(f"  note: line {w['line']}, {w['field']}: {w['message']}")
    for u in report["unmapped"][:SUMMARY_LINES]:
        lines.append(f"  unknown meter number {u['external_id']!r}: {u['lines']} line(s) from line {u['first_line']}"
                     " (register a meter with this external_id)")
    return "\n".join(lines)


def import_bytes(ctx: SyncContext, data: bytes, name: str, spec: MappingSpec) -> dict[str, Any]:
    """Read one export and store its readings through the pipeline (rolled back in a dry run); the report.

    Raises FileError when the file as a whole cannot be read."""
    if len(data) > MAX_FILE_BYTES:
        raise FileError(f"the file is {len(data)} bytes, over the limit of {MAX_FILE_BYTES}; split it")
    meters = ctx.meters_by_external_id(reload=True)
    ing = ctx.settings.ingest  # the pipeline's window for a reading's time, checked here line by line
    window = (ing.earliest_ts, ctx.now + timedelta(hours=ing.max_future_hours))
    plan: Plan = plan_import(data, spec, cast(dict[str, MeterLike], meters), ctx.tz, window=window)
    ctx.progress(total=plan.accepted, note=name)
    for ext, u in sorted(plan.unmapped.items()):
        ctx.unmapped(ext, {"file": name, "lines": u.lines, "first_line": u.first_line})

    def store(meter: MeterLike, chunk: list[dict[str, Any]]) -> Any:
        return ctx.store_readings(cast(MeterRef, meter), chunk, source=READING_SOURCE)

    totals = store_plan(plan, store, ctx.tz, max_bytes=ctx.settings.ingest.max_payload_bytes, on_error=ctx.item_error,
                        progress=lambda n: ctx.progress(advance=n))
    # Rejected lines count as rejected rows of the run (it ends 'partial'), like the pipeline's dead letters.
    ctx.counts.rejected += len(plan.rejected)
    report = {"file": name, "dry_run": ctx.options.dry_run, **plan.report(ctx.tz), "pipeline": totals}
    return report


class UtilitySource:
    """The Source named 'utility' (services/connectors/service.py)."""

    name = "utility"

    def __init__(self, settings: Settings) -> None:
        self.cfg = settings.sync.utility

    def problem(self, settings: Settings) -> str | None:
        cfg = settings.sync.utility
        if not cfg.enabled:
            return None  # run by hand only (--file, the API): nothing to check
        if cfg.inbox is None:
            return "no inbox folder: set ENERGIBLIK_SYNC__UTILITY__INBOX (or disable the scheduled import)"
        if not cfg.inbox.is_dir():
            return f"the inbox {cfg.inbox} is not a folder (ENERGIBLIK_SYNC__UTILITY__INBOX)"
        return None

    def next_run(self, last_started: datetime | None, now: datetime, tz: ZoneInfo) -> datetime:
        return every(last_started, self.cfg.every_s, now)

    def run(self, ctx: SyncContext) -> None:
        try:
            spec = resolve_mapping(ctx.options.preset or self.cfg.preset)
        except FileError as e:
            raise SourceError(str(e)) from None
        if ctx.options.path is not None:
            path = ctx.options.path
            try:
                data = path.read_bytes()
            except OSError as e:
                raise SourceError(f"{path}: cannot read the file ({e.strerror})") from None
            try:
                report = import_bytes(ctx, data, path.name, spec)
            except FileError as e:
                raise SourceError(f"{path.name}: {e}") from None
            ctx.detail["files"] = [report]
            ctx.detail["summary"] = summary_text(report)
            return
        if self.cfg.inbox is None:
            raise SourceError("no file to import: pass --file PATH, or set ENERGIBLIK_SYNC__UTILITY__INBOX for the "
                              "scheduled import")
        self._inbox(ctx, self.cfg.inbox, spec)

    def _inbox(self, ctx: SyncContext, inbox: Path, spec: MappingSpec) -> None:
        """Every settled file in the inbox, oldest first: imported, then moved to done/ (or failed/ when it could not
        be read or every line was rejected) with `<name>.report.json` beside it. A dry run moves nothing."""
        if not inbox.is_dir():
            raise SourceError(f"the inbox {inbox} is not a folder (ENERGIBLIK_SYNC__UTILITY__INBOX)")
        now = ctx.now.timestamp()
        files = sorted((p for p in inbox.iterdir() if p.is_file() and not p.name.startswith(".")
                        and now - p.stat().st_mtime >= INBOX_SETTLE_S), key=lambda p: (p.stat().st_mtime, p.name))
        reports: list[dict[str, Any]] = []
        for path in files:
            try:
                report = import_bytes(ctx, path.read_bytes(), path.name, spec)
                ok = not (report["accepted"] == 0 and report["rejected_count"] > 0)
            except FileError as e:
                report = {"file": path.name, "error": str(e)}
                ctx.item_error(path.name, str(e))
                ok = False
            except OSError as e:
                ctx.item_error(path.name, f"cannot read the file ({e.strerror})")
                continue
            reports.append(report)
            if ctx.options.dry_run:
                continue
            self._file_away(path, "done" if ok else "failed", report)
        ctx.detail["files"] = reports
        ctx.detail["summary"] = "\n".join(
            summary_text(r) if "error" not in r else f"{r['file']}: {r['error']}" for r in reports
        ) or f"no new files in {inbox}"

    @staticmethod
    def _file_away(path: Path, where: str, report: dict[str, Any]) -> None:
        target_dir = path.parent / where
        target_dir.mkdir(exist_ok=True)
        target = target_dir / path.name
        n = 1
        while target.exists():  # the same name imported again: keep both
            target = target_dir / f"{path.stem}.{n}{path.suffix}"
            n += 1
        shutil.move(str(path), target)
        tmp = target.with_name(target.name + ".report.json.tmp")
        tmp.write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
        os.replace(tmp, target.with_name(target.name + ".report.json"))
