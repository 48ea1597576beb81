"""Connector routes: the utility-export import (the file in the body, read with a preset or a JSON mapping)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.deps import RegistryWriter, SettingsDep
from api.errors import error_body
from api.routing import v1_router
from services.config import Settings
from services.connectors.service import AlreadyRunning, SourceError, SyncOptions, run_source
from services.connectors.utility.mapping import PRESETS
from services.connectors.utility.parsing import FileError
from services.connectors.utility.schemas import UtilityImportOut
from services.connectors.utility.service import MAX_FILE_BYTES, resolve_mapping
from services.validation import FieldError

router = v1_router(tags=["imports"])

_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")

_UTILITY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"},
                         "example": "Målernr.;Dato;Aflæsning;Enhed\n5512345;01-01-2026;1.234,5;MWh\n"},
            _XLSX: {"schema": {"type": "string", "format": "binary"}},
        },
        "description": "a utility's export: CSV (`;`, tab or `,`; UTF-8 or Windows-1252) or xlsx (first sheet, or "
                       "`sheet` in a JSON mapping); docs/connectors.md, \"Utility exports\"",
    },
    "responses": {
        413: {"description": f"the body exceeds {MAX_FILE_BYTES} bytes; split the file"},
        409: {"description": "an import of utility files is already running"},
        422: {"description": "the file cannot be read (named field), or no line could be stored (`rejected` lists "
                             "line, field, message)"},
    },
}


def _reject(status: int, detail: str, field: str, **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(detail, [FieldError(field, detail)], **extra), status_code=status)


def _run_upload(settings: Settings, data: bytes, name: str, *, preset: str | None, dry_run: bool, actor: str
                ) -> Any:
    with tempfile.TemporaryDirectory(prefix="energiblik-utility-") as d:
        path = Path(d) / name
        path.write_bytes(data)
        return run_source("utility", settings=settings, trigger="api", actor=actor,
                          options=SyncOptions(path=path, preset=preset, dry_run=dry_run))


@router.post("/imports/utility", response_model=UtilityImportOut, openapi_extra=_UTILITY_DOC)
async def import_utility(
    request: Request,
    *,
    caller: RegistryWriter,
    settings: SettingsDep,
    preset: Annotated[str | None, Query(max_length=8000, description=(
        "a preset (" + ", ".join(PRESETS) + ") or a JSON mapping, e.g. "
        '{"preset": "dk-forbrug-periode", "consumption": "Forbrug (kWh)"}'))] = None,
    dry_run: Annotated[bool, Query(description="show what would be stored and rejected; store nothing")] = False,
    filename: Annotated[str | None, Query(max_length=200, description="the file's name, for the report")] = None,
) -> Any:
    """Import a utility's export file (district heating, gas, water, electricity): meter numbers are matched to
    registered meters by `external_id`, values go through the ingest pipeline with source `utility` (validation,
    idempotence, revisions, rollups). Lines that cannot be read are rejected by line and field, the others stored;
    meter numbers without a meter are listed. A run is recorded like every sync (GET /api/v1/sync/utility/runs)."""
    if preset is not None and preset not in PRESETS and not preset.lstrip().startswith("{"):
        return _reject(422, f"preset: {preset!r} is neither a preset ({', '.join(PRESETS)}) nor a JSON mapping",
                       "preset")
    try:
        resolve_mapping(preset)
    except FileError as e:
        return _reject(422, str(e), "preset")
    if request.headers.get("content-length", "").isdigit() and int(request.headers["content-length"]) > MAX_FILE_BYTES:
        return _reject(413, f"the body exceeds {MAX_FILE_BYTES} bytes; split the file", "body")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FILE_BYTES:
            return _reject(413, f"the body exceeds {MAX_FILE_BYTES} bytes; split the file", "body")
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data.strip():
        return _reject(422, "the body is empty: send the export file", "body")
    is_xlsx = data.startswith(b"PK\x03\x04")
    base = _SAFE_NAME.sub("_", filename or "").strip("._")[:100]
    name = base or ("upload.xlsx" if is_xlsx else "upload.csv")
    try:
        run = await run_in_threadpool(_run_upload, settings, data, name, preset=preset, dry_run=dry_run,
                                      actor=caller.name)
    except AlreadyRunning as e:
        return _reject(409, str(e), "source")
    except SourceError as e:
        return _reject(422, str(e), "source")
    files = run.detail.get("files") or []
    if run.status == "failed":
        message = run.message or "the import failed"
        if message.startswith("internal error") or message.startswith("database unavailable"):
            return _reject(503 if message.startswith("database") else 500, message, "source", run_id=run.id)
        field = "preset" if ": preset:" in message or ": mapping:" in message or message.startswith(
            ("preset:", "mapping:")) else "body"
        return _reject(422, message, field, run_id=run.id)
    out = UtilityImportOut.model_validate({"run": run, "files": files})
    report = out.files[0] if out.files else None
    if report is not None and report.accepted == 0 and report.rejected_count > 0:
        errors = [FieldError(r.field, f"line {r.line}: {r.message}") for r in report.rejected]
        return JSONResponse(error_body(f"nothing imported: {report.rejected_count} line(s) rejected", errors,
                                       **out.model_dump(mode="json")), status_code=422)
    return out
