"""Targets and progress: baseline and degree-day imports, the normal year, progress (T1, T5), targets as data,
non-routine adjustments, the audit trail."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from api import cached
from api.deps import (
    AuditReader,
    BuildingFilter,
    BuildingId,
    Caller,
    ClockDep,
    EngineDep,
    RegistryWriter,
    TimezoneDep,
    pg,
    scope_ids,
)
from api.errors import ErrorOut, error_body
from api.imports import MAX_CSV_BYTES, read_csv_text
from api.routing import v1_router
from services.errors import ValidationFailed
from services.registry import service as registry
from services.registry.schemas import AdjustmentOut
from services.targets import adjustments, service
from services.targets import reference as ref
from services.targets.schemas import (
    AdjustmentImportOut,
    AdjustmentIn,
    AuditEntryOut,
    BaselineImportOut,
    BaselineMissingOut,
    BaselineRowOut,
    DailyDegreeDayOut,
    DefaultShareOut,
    DegreeDayOut,
    ImportOut,
    ImportRefusedOut,
    NormalYearIn,
    NormalYearSettingOut,
    ProgressOut,
    ProgressPathOut,
    RowRejectedOut,
    ShareIn,
    TargetIn,
    TargetOut,
    TargetWithStatusOut,
)
from services.validation import FieldError, FieldErrors

router = v1_router(tags=["targets"])

_IMPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"model": ImportRefusedOut, "description": "nothing imported: `rejected` lists (line, field, message); a "
                                                    "wrong header or a body that is not UTF-8 text names it in "
                                                    "`errors`"},
    413: {"model": ErrorOut, "description": f"the body exceeds {MAX_CSV_BYTES} bytes; split the file"},
}


def _csv_doc(example: str, columns: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"},
                                                                       "example": example}},
                            "description": f"header: `{columns}`; valid rows are stored, the others reported"}}


def _rows(rejected: list[ref.Rejected] | list[adjustments.Rejected]) -> list[RowRejectedOut]:
    return [RowRejectedOut(line=r.line, field=r.field, message=r.message) for r in rejected]


def _refused(detail: str, rejected: list[ref.Rejected] | list[adjustments.Rejected]) -> JSONResponse:
    errors = [FieldError(r.field, f"line {r.line}: {r.message}") for r in rejected]
    return JSONResponse(error_body(detail, errors, accepted=0, rejected=[r.model_dump() for r in _rows(rejected)]),
                        status_code=422)


def _import_answer(outcome: ref.ImportOutcome) -> ImportOut | JSONResponse:
    if outcome.accepted == 0 and outcome.rejected:
        return _refused(f"nothing imported: {len(outcome.rejected)} row(s) rejected", outcome.rejected)
    return ImportOut(import_id=outcome.import_id, accepted=outcome.accepted, rejected=_rows(outcome.rejected))


def _in_tx(engine: Engine, fn: Any, *args: Any) -> Any:
    with pg(engine, write=True) as conn:
        return fn(conn, *args)


@router.post("/imports/baseline", response_model=ImportOut, responses=_IMPORT_RESPONSES, openapi_extra=_csv_doc(
    "building_id,carrier,month,kwh,source\nrh-01,district_heating,2015-01,84210,invoice 2015\n",
    "building_id,carrier,month,kwh,source"))
async def import_baseline(request: Request, caller: RegistryWriter, engine: EngineDep) -> ImportOut | JSONResponse:
    """Import monthly baseline kWh per building and carrier. Each import is a new version: its rows replace the
    current ones for the same building, carrier and month; older versions stay (GET /baseline/imports)."""
    text = await read_csv_text(request)
    if isinstance(text, JSONResponse):
        return text
    outcome = await run_in_threadpool(_in_tx, engine, ref.import_baseline, text, caller.name)
    return _import_answer(outcome)


@router.post("/imports/degree-days", response_model=ImportOut, responses=_IMPORT_RESPONSES, openapi_extra=_csv_doc(
    "month,degree_days,source\n2025-01,447.3,DMI station 06181 acc_heating_degree_days_17\n",
    "month,degree_days,source"))
async def import_degree_days(request: Request, caller: RegistryWriter, engine: EngineDep
                             ) -> ImportOut | JSONResponse:
    """Import actual heating degree days (base 17 °C) per month; a later import replaces a month, history kept."""
    text = await read_csv_text(request)
    if isinstance(text, JSONResponse):
        return text
    outcome = await run_in_threadpool(_in_tx, engine, ref.import_degree_days, text, caller.name)
    return _import_answer(outcome)


@router.get("/degree-days", response_model=list[DegreeDayOut])
def get_degree_days(_: Caller, engine: EngineDep,
                    year: Annotated[int | None, Query(ge=1990, le=2100, description="only this year's months; "
                                                      "default: every month stored")] = None
                    ) -> list[dict[str, Any]]:
    """Current actual degree days per month (newest import), with the normal year's value beside."""
    first, last = (date(year, 1, 1), date(year, 12, 1)) if year else (date(1990, 1, 1), date(2100, 12, 1))
    with pg(engine) as conn:
        return ref.current_degree_days(conn, first, last)


@router.get("/degree-days/daily", response_model=list[DailyDegreeDayOut])
def get_degree_days_daily(
    _: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep,
    start: Annotated[date | None, Query(description="first day (default: 31 days before today)")] = None,
    end: Annotated[date | None, Query(description="last day, inclusive (default: today)")] = None,
) -> list[dict[str, Any]]:
    """Daily actual heating degree days as the DMI connector stored them (complete days only; the running day is
    not stored). At most 3,700 days (about ten years) per request."""
    today = clock.now().astimezone(tz).date()
    last = end or today
    first = start or last - timedelta(days=31)
    if first > last:
        raise ValidationFailed("start", f"{first} is after end {last}")
    if (last - first).days > 3700:
        raise ValidationFailed("start", "at most 3,700 days per request")
    with pg(engine) as conn:
        return [asdict(d) for d in ref.degree_days_daily(conn, first, last)]


@router.get("/settings/normal-year")
def get_normal_year(_: Caller, engine: EngineDep) -> NormalYearSettingOut:
    """The normal year heat is weather-corrected to: 12 monthly degree days with their source."""
    with pg(engine) as conn:
        return ref.normal_year_out(ref.normal_year(conn))


@router.put("/settings/normal-year")
def put_normal_year(body: NormalYearIn, caller: RegistryWriter, engine: EngineDep) -> NormalYearSettingOut:
    """Set the normal year used to weather-correct heat (12 monthly degree days) with its source; audit-logged."""
    with pg(engine, write=True) as conn:
        return ref.normal_year_out(ref.set_normal_year(conn, body.degree_days, body.source, caller.name))


@router.get("/settings/default-hot-water-share", response_model=DefaultShareOut)
def get_default_share(_: Caller, engine: EngineDep) -> dict[str, Any]:
    """The weather-independent share of heat used where a building has none of its own."""
    with pg(engine) as conn:
        a, source = ref.default_hot_water_share(conn)
    return {"a": a, "source": source}


@router.put("/settings/default-hot-water-share", response_model=DefaultShareOut)
def put_default_share(body: ShareIn, caller: RegistryWriter, engine: EngineDep) -> dict[str, Any]:
    """Set the default weather-independent share of heat with its source; audit-logged."""
    with pg(engine, write=True) as conn:
        ref.set_setting(conn, ref.DEFAULT_SHARE_KEY, body.a, body.source, caller.name)
    return {"a": body.a, "source": body.source}


@router.get("/progress", response_model=ProgressOut)
def get_progress(
    *, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep,
    year: Annotated[int | None, Query(ge=1990, le=2100, description="reporting year; default: this year")] = None,
    building_id: BuildingFilter = None,
    target: Annotated[str, Query(pattern=r"^[A-Za-z0-9._-]{1,64}$", description="an energy target")] = "T1",
) -> Any:
    """Progress of an energy target (T1 by default) for a year: total, like-for-like and intensity, weather-corrected,
    with coverage, method, electrification and a per-building ranking. The top-level figures are what was measured:
    a finished year whole, a running year's complete months against the same months of the baseline year; a running
    year's whole-year forecast (with its own reduction, on_track and verdict) is in `forecast`."""
    today = clock.now().astimezone(tz).date()
    with pg(engine) as conn:
        ids = scope_ids(caller, building_id, conn)
        y = year or today.year
        key, answer = service.progress_keyed(conn, year=y, target_id=target, building_ids=ids, today=today, tz=tz)
        return cached.keyed_json(key, lambda: answer, ProgressOut)


@router.get("/progress/path", response_model=ProgressPathOut)
def get_progress_path(
    *, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep,
    building_id: BuildingFilter = None,
    target: Annotated[str, Query(pattern=r"^[A-Za-z0-9._-]{1,64}$", description="an energy target")] = "T1",
    from_year: Annotated[int | None, Query(alias="from", ge=1990, le=2100,
                                           description="first year; default: the baseline year")] = None,
    to_year: Annotated[int | None, Query(alias="to", ge=1990, le=2100,
                                         description="last year; default: the target year or this year, the later")
                       ] = None,
) -> Any:
    """The path of an energy target (T1 by default) across years in one answer: per year the reduction a straight
    path asks for and the reduction reached (measured, or the running year's whole-year forecast), each as GET
    /progress gives it for that year."""
    today = clock.now().astimezone(tz).date()
    with pg(engine) as conn:
        ids = scope_ids(caller, building_id, conn)
        # not cached whole: each year's figures are (GET /progress), and whether readings wait for the rollups is read
        # anew, once for all the years
        return service.progress_path(conn, target_id=target, building_ids=ids, today=today, tz=tz, first=from_year,
                                     last=to_year)


@router.get("/baseline", response_model=list[BaselineRowOut])
def get_baseline(*, caller: Caller, engine: EngineDep, building_id: BuildingFilter = None,
                 year: Annotated[int, Query(ge=1990, le=2100, description="the baseline year")] = 2015
                 ) -> list[dict[str, Any]]:
    """The current imported baseline rows (newest import per building, carrier and month)."""
    with pg(engine) as conn:
        return ref.current_baseline(conn, scope_ids(caller, building_id, conn), year)


@router.get("/baseline/imports", response_model=list[BaselineImportOut])
def get_baseline_imports(_: RegistryWriter, engine: EngineDep) -> list[dict[str, Any]]:
    """Every baseline import version: when, by whom, rows accepted and rejected."""
    with pg(engine) as conn:
        return ref.baseline_imports(conn)


@router.get("/baseline/missing", response_model=BaselineMissingOut)
def get_baseline_missing(*, caller: Caller, engine: EngineDep, tz: TimezoneDep,
                         year: Annotated[int, Query(ge=1990, le=2100, description="the baseline year")] = 2015
                         ) -> dict[str, Any]:
    """Buildings and carriers that have meters but no baseline for the year (neither imported nor from readings),
    and those whose baseline lacks months."""
    with pg(engine) as conn:
        return service.baseline_missing(conn, scope_ids(caller, None, conn), year, tz)


# A target's status has the fields its metric gives (TargetStatusOut): the others are left out, not sent as null.
@router.get("/targets", response_model=list[TargetWithStatusOut], response_model_exclude_unset=True)
def get_targets(*, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep) -> list[dict[str, Any]]:
    """Every target with its status, coverage and method (energy targets: progress this year, as forecast)."""
    from services.targets.status import target_statuses

    now = clock.now()
    with pg(engine) as conn:
        ids = scope_ids(caller, None, conn)
        return target_statuses(conn, ids, now.astimezone(tz).date(), tz, now)


@router.put("/targets/{target_id}", response_model=TargetOut)
def put_target(target_id: BuildingId, body: TargetIn, caller: RegistryWriter, engine: EngineDep) -> dict[str, Any]:
    """Create or change a target (metric, building group, baseline year, target year, reduction %); audit-logged."""
    with pg(engine, write=True) as conn:
        return service.put_target(conn, target_id, body, caller.name)


@router.post("/buildings/{building_id}/adjustments", status_code=201, response_model=AdjustmentOut)
def post_adjustment(building_id: BuildingId, body: AdjustmentIn, caller: RegistryWriter, engine: EngineDep,
                    tz: TimezoneDep) -> dict[str, Any]:
    """Record a non-routine adjustment with its reason, dated by `valid_from` (or `effective`): progress reports
    list it, and added/sold decide which years count the building; area_changed enters the area history used for
    kWh/m². Audit-logged."""
    problems = adjustments.check(body)
    if problems:
        raise FieldErrors(problems)
    with pg(engine, write=True) as conn:
        registry.get_building(conn, building_id, caller.scope)
        return adjustments.add(conn, building_id, body, actor=caller.name, tz=tz)


@router.post("/imports/adjustments", response_model=AdjustmentImportOut, responses=_IMPORT_RESPONSES,
             openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {
                 "schema": {"type": "string"}, "example": (
                     "building_id,kind,valid_from,reason,heated_area_m2\n"
                     "rh-01,area_changed,2021-06-01,extension of the west wing,6100\n"
                     "sk-07,sold,2023-01-01,sold to the region,\n")}}}})
async def import_adjustments(request: Request, caller: RegistryWriter, engine: EngineDep,
                             tz: TimezoneDep) -> AdjustmentImportOut | JSONResponse:
    """Import non-routine adjustments (added, sold, area_changed, other) from CSV with header
    `building_id,kind,valid_from,reason[,heated_area_m2]`: every row, or none if any row is wrong; each row
    audit-logged with the caller."""
    text = await read_csv_text(request)
    if isinstance(text, JSONResponse):
        return text

    def run() -> tuple[int, list[adjustments.Rejected]]:
        with pg(engine, write=True) as conn:
            return adjustments.import_csv(conn, text, actor=caller.name, tz=tz)

    accepted, rejected = await run_in_threadpool(run)
    if rejected:
        return _refused(f"nothing imported: {len(rejected)} problem(s) in the file", rejected)
    return AdjustmentImportOut(accepted=accepted, rejected=[])


@router.get("/buildings/{building_id}/adjustments", response_model=list[AdjustmentOut])
def get_adjustments(building_id: BuildingId, caller: Caller, engine: EngineDep) -> list[dict[str, Any]]:
    """The non-routine adjustments recorded for a building, in date order."""
    with pg(engine) as conn:
        registry.get_building(conn, building_id, caller.scope)
        return service.adjustments(conn, [building_id], date(1900, 1, 1), date(2999, 12, 31))


@router.get("/audit", response_model=list[AuditEntryOut])
def get_audit(_: AuditReader, engine: EngineDep,
              subject: Annotated[str, Query(max_length=200, description="a subject and what lies under it, "
                                            "e.g. baseline, settings/, targets/T1, buildings/rh-01 (with its "
                                            "adjustments), meters/el-1, luminaires/l-7, or buildings/ for all")] = "",
              ) -> list[dict[str, Any]]:
    """Who changed reference data and the registry, when and how (newest first, at most 500): registry changes
    carry `valid_from`, before/after of every field changed and the dated history rows they replaced."""
    with pg(engine) as conn:
        return ref.audit_entries(conn, subject)
