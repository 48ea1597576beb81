"""Targets and progress: baseline and degree-day imports, the normal year, progress (T1, T5), targets as data,
non-routine adjustments, the audit trail."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
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
    driver,
    pg,
    scope_ids,
)
from api.errors import error_body
from api.imports import read_csv_text
from api.routing import v1_router
from services.errors import ValidationFailed
from services.registry import service as registry
from services.registry.schemas import STRICT_NUMBER, Number, WholeNumber
from services.targets import adjustments, service
from services.targets import reference as ref
from services.targets.adjustments import AdjustmentIn
from services.targets.schemas import ProgressOut, ProgressPathOut
from services.validation import FieldError, FieldErrors

router = v1_router(tags=["targets"])


def _csv_doc(example: str, columns: str) -> dict[str, Any]:
    return {
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"},
                                                                   "example": example}},
                        "description": f"header: `{columns}`; valid rows are stored, the others reported"},
        "responses": {422: {"description": "no row could be stored; `rejected` lists (line, field, message)"}},
    }


def _import_answer(outcome: ref.ImportOutcome) -> JSONResponse:
    rejected = [{"line": r.line, "field": r.field, "message": r.message} for r in outcome.rejected]
    if outcome.accepted == 0 and rejected:
        errors = [FieldError(r.field, f"line {r.line}: {r.message}") for r in outcome.rejected]
        return JSONResponse(error_body(f"nothing imported: {len(rejected)} row(s) rejected", errors,
                                       accepted=0, rejected=rejected), status_code=422)
    return JSONResponse({"import_id": outcome.import_id, "accepted": outcome.accepted, "rejected": rejected})


def _in_tx(engine: Engine, fn: Any, *args: Any) -> Any:
    with engine.begin() as sa:
        return fn(driver(sa), *args)


@router.post("/imports/baseline", openapi_extra=_csv_doc(
    "building_id,carrier,month,kwh,source\nrh-01,district_heating,2015-01,84210,invoice 2015\n",
    "building_id,carrier,month,kwh,source"))
async def import_baseline(request: Request, caller: RegistryWriter, engine: EngineDep) -> JSONResponse:
    """Import monthly baseline kWh per building and carrier. Each import is a new version: its rows replace the
    current ones for the same building, carrier and month; older versions stay (GET /baseline/imports)."""
    text = await read_csv_text(request)
    if isinstance(text, JSONResponse):
        return text
    outcome = await run_in_threadpool(_in_tx, engine, ref.import_baseline, text, caller.name)
    return _import_answer(outcome)


@router.post("/imports/degree-days", openapi_extra=_csv_doc(
    "month,degree_days,source\n2025-01,447.3,DMI station 06181 acc_heating_degree_days_17\n",
    "month,degree_days,source"))
async def import_degree_days(request: Request, caller: RegistryWriter, engine: EngineDep) -> JSONResponse:
    """Import actual heating degree days (base 17 °C) per month; a later import replaces a month, history kept."""
    text = await read_csv_text(request)
    if isinstance(text, JSONResponse):
        return text
    outcome = await run_in_threadpool(_in_tx, engine, ref.import_degree_days, text, caller.name)
    return _import_answer(outcome)


class DegreeDayOut(BaseModel):
    month: str = Field(description="YYYY-MM (local)")
    degree_days: float = Field(description="actual heating degree days of the month, base 17 °C")
    normal: float = Field(description="the normal year's degree days of that calendar month")
    source: str
    import_id: int = Field(description="the import (version) the value comes from")


@router.get("/degree-days", response_model=list[DegreeDayOut])
def get_degree_days(_: Caller, engine: EngineDep,
                    year: Annotated[int | None, Query(ge=1990, le=2100)] = None) -> list[dict[str, Any]]:
    """Current actual degree days per month (newest import), with the normal year's value beside."""
    first, last = (date(year, 1, 1), date(year, 12, 1)) if year else (date(1990, 1, 1), date(2100, 12, 1))
    with pg(engine) as conn:
        return ref.current_degree_days(conn, first, last)


class DailyDegreeDayOut(BaseModel):
    day: date = Field(description="the local (Europe/Copenhagen) day")
    degree_days: float = Field(description="heating degree days, base 17 °C (DMI acc_heating_degree_days_17)")
    source: str = Field(description="where the value comes from: DMI, the municipality and the retrieval date")
    fetched_at: datetime = Field(description="when the value was stored (a changed value: when it changed)")


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
    with engine.connect() as sa:
        return [asdict(d) for d in ref.degree_days_daily(driver(sa), first, last)]


class NormalYearIn(BaseModel):
    model_config = {"extra": "forbid"}

    source: str = Field(min_length=1, max_length=500, description="where the 12 values come from")
    degree_days: list[Annotated[float, Field(ge=0, le=1000), STRICT_NUMBER]] = Field(
        min_length=12, max_length=12, description="January .. December, each 0-1000; at least one above 0",
        json_schema_extra={"contains": {"type": "number", "exclusiveMinimum": 0}})


class NormalYearOut(BaseModel):
    source: str
    degree_days: list[float]
    total: float
    default: bool = Field(description="true: the shipped default (no setting stored)")


def _normal_out(n: ref.NormalYear) -> NormalYearOut:
    return NormalYearOut(source=n.source, degree_days=list(n.degree_days), total=round(sum(n.degree_days), 1),
                         default=n.is_default)


@router.get("/settings/normal-year")
def get_normal_year(_: Caller, engine: EngineDep) -> NormalYearOut:
    with engine.connect() as sa:
        return _normal_out(ref.normal_year(driver(sa)))


@router.put("/settings/normal-year")
def put_normal_year(body: NormalYearIn, caller: RegistryWriter, engine: EngineDep) -> NormalYearOut:
    """Set the normal year used to weather-correct heat (12 monthly degree days) with its source; audit-logged."""
    for i, v in enumerate(body.degree_days):
        if not 0 <= v <= 1000:
            raise ValidationFailed(f"degree_days.{i}", "must be between 0 and 1000")
    if sum(body.degree_days) <= 0:
        raise ValidationFailed("degree_days", "a normal year needs some degree days")
    with engine.begin() as sa:
        conn = driver(sa)
        ref.set_setting(conn, ref.NORMAL_YEAR_KEY, body.degree_days, body.source, caller.name)
        return _normal_out(ref.normal_year(conn))


class ShareIn(BaseModel):
    model_config = {"extra": "forbid"}

    a: Number = Field(ge=0, le=1, description="weather-independent share used when neither the building's "
                                             "hot_water_share nor a regression with R² >= 0.75 gives one")
    source: str = Field(min_length=1, max_length=500)


class ShareOut(BaseModel):
    a: float = Field(description="the default weather-independent share (hot water) of heat, 0-1")
    source: str


@router.get("/settings/default-hot-water-share", response_model=ShareOut)
def get_default_share(_: Caller, engine: EngineDep) -> dict[str, Any]:
    with engine.connect() as sa:
        a, source = ref.default_hot_water_share(driver(sa))
    return {"a": a, "source": source}


@router.put("/settings/default-hot-water-share", response_model=ShareOut)
def put_default_share(body: ShareIn, caller: RegistryWriter, engine: EngineDep) -> dict[str, Any]:
    with engine.begin() as sa:
        ref.set_setting(driver(sa), ref.DEFAULT_SHARE_KEY, body.a, body.source, caller.name)
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
    with engine.connect() as sa:
        ids = scope_ids(caller, building_id, sa)
        conn = driver(sa)
        y = year or today.year
        base = int(service.target(conn, target)["baseline_year"])  # the years whose rollups it reads
        return cached.json_answer(
            conn, ("progress", y, target, None if ids is None else tuple(ids), today, tz.key),
            lambda: service.progress(conn, year=y, target_id=target, building_ids=ids, today=today, tz=tz),
            ProgressOut, years=(base, y - 1, y), keep=lambda out: out["baseline_year"] == base)


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
    with engine.connect() as sa:
        ids = scope_ids(caller, building_id, sa)
        conn = driver(sa)
        years = service.rollup_years(conn, target, today)
        return cached.json_answer(
            conn, ("progress-path", target, None if ids is None else tuple(ids), today, tz.key, from_year, to_year),
            lambda: service.progress_path(conn, target_id=target, building_ids=ids, today=today, tz=tz,
                                          first=from_year, last=to_year), ProgressPathOut,
            years=years, keep=lambda out: out["baseline_year"] == years.start)


@router.get("/baseline")
def get_baseline(*, caller: Caller, engine: EngineDep, building_id: BuildingFilter = None,
                 year: Annotated[int, Query(ge=1990, le=2100)] = 2015) -> list[dict[str, Any]]:
    """The current imported baseline rows (newest import per building, carrier and month)."""
    with engine.connect() as sa:
        ids = scope_ids(caller, building_id, sa)
        cur = driver(sa).execute(
            "SELECT building_id, carrier, month, kwh, source, import_id FROM baseline_current "
            "WHERE month >= %s AND month < %s AND (%s::text[] IS NULL OR building_id = ANY(%s)) "
            "ORDER BY building_id, carrier, month", [date(year, 1, 1), date(year + 1, 1, 1), ids, ids])
        return [{"building_id": r[0], "carrier": r[1], "month": r[2].isoformat()[:7], "kwh": r[3], "source": r[4],
                 "import_id": r[5]} for r in cur]


@router.get("/baseline/imports")
def get_baseline_imports(_: RegistryWriter, engine: EngineDep) -> list[dict[str, Any]]:
    """Every baseline import version: when, by whom, rows accepted and rejected."""
    with engine.connect() as sa:
        cur = driver(sa).execute("SELECT id, imported_at, actor, accepted, rejected FROM baseline_imports "
                                  "ORDER BY id DESC")
        return [{"import_id": r[0], "imported_at": r[1], "actor": r[2], "accepted": r[3], "rejected": r[4]}
                for r in cur]


@router.get("/baseline/missing")
def get_baseline_missing(*, caller: Caller, engine: EngineDep, tz: TimezoneDep,
                         year: Annotated[int, Query(ge=1990, le=2100)] = 2015) -> dict[str, Any]:
    """Buildings and carriers that have meters but no baseline for the year (neither imported nor from readings),
    and those whose baseline lacks months."""
    with engine.connect() as sa:
        return service.baseline_missing(driver(sa), scope_ids(caller, None, sa), year, tz)


@router.get("/targets")
def get_targets(*, caller: Caller, engine: EngineDep, clock: ClockDep, tz: TimezoneDep) -> list[dict[str, Any]]:
    """Every target with its status, coverage and method (energy targets: progress this year, as forecast)."""
    from services.targets.status import target_statuses

    now = clock.now()
    with engine.connect() as sa:
        ids = scope_ids(caller, None, sa)
        return target_statuses(driver(sa), ids, now.astimezone(tz).date(), tz, now)


class TargetIn(BaseModel):
    model_config = {"extra": "forbid"}

    name: str = Field(min_length=1, max_length=200)
    metric: Literal["energy_kwh", "led_share", "fossil_heating", "energy_labels", "co2_kg"]
    building_group: str = Field(default="municipal", pattern=r"^[a-z0-9_]{1,40}$")
    baseline_year: WholeNumber = Field(ge=1990, le=2100)
    target_year: WholeNumber = Field(ge=1990, le=2100)
    reduction_pct: Annotated[float, Field(ge=0, le=100), STRICT_NUMBER] | None = Field(
        default=None, description="the reduction against the baseline year the target asks for, in %")
    description: str = Field(default="", max_length=2000)


@router.put("/targets/{target_id}")
def put_target(target_id: BuildingId, body: TargetIn, caller: RegistryWriter, engine: EngineDep) -> dict[str, Any]:
    """Create or change a target (metric, building group, baseline year, target year, reduction %); audit-logged."""
    if body.target_year < body.baseline_year:
        raise ValidationFailed("target_year", "must not be before baseline_year")
    with engine.begin() as sa:
        conn = driver(sa)
        old = conn.execute("SELECT row_to_json(t) FROM targets t WHERE id = %s", [target_id]).fetchone()
        conn.execute(
            "INSERT INTO targets (id, name, metric, building_group, baseline_year, target_year, reduction_pct, "
            "description) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET name = "
            "EXCLUDED.name, metric = EXCLUDED.metric, building_group = EXCLUDED.building_group, baseline_year = "
            "EXCLUDED.baseline_year, target_year = EXCLUDED.target_year, reduction_pct = EXCLUDED.reduction_pct, "
            "description = EXCLUDED.description, updated_at = now()",
            [target_id, body.name, body.metric, body.building_group, body.baseline_year, body.target_year,
             body.reduction_pct, body.description])
        ref.audit(conn, caller.name, "put", f"targets/{target_id}",
                  {"old": old[0] if old else None, "new": body.model_dump()})
        return service.target(conn, target_id)


@router.post("/buildings/{building_id}/adjustments", status_code=201)
def post_adjustment(building_id: BuildingId, body: AdjustmentIn, caller: RegistryWriter, engine: EngineDep,
                    tz: TimezoneDep) -> dict[str, Any]:
    """Record a non-routine adjustment with its reason, dated by `valid_from` (or `effective`): progress reports
    list it, and added/sold decide which years count the building; area_changed enters the area history used for
    kWh/m². Audit-logged."""
    problems = adjustments.check(body)
    if problems:
        raise FieldErrors(problems)
    with engine.begin() as sa:
        registry.get_building(sa, building_id, caller.scope)
        return adjustments.add(driver(sa), building_id, body, actor=caller.name, tz=tz)


@router.post("/imports/adjustments", openapi_extra={
    "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}, "example": (
        "building_id,kind,valid_from,reason,heated_area_m2\n"
        "rh-01,area_changed,2021-06-01,extension of the west wing,6100\n"
        "sk-07,sold,2023-01-01,sold to the region,\n")}}},
    "responses": {422: {"description": "nothing imported; `rejected` lists (line, field, message)"}}})
async def import_adjustments(request: Request, caller: RegistryWriter, engine: EngineDep,
                             tz: TimezoneDep) -> JSONResponse:
    """Import non-routine adjustments (added, sold, area_changed, other) from CSV with header
    `building_id,kind,valid_from,reason[,heated_area_m2]`: every row, or none if any row is wrong; each row
    audit-logged with the caller."""
    text = await read_csv_text(request)
    if isinstance(text, JSONResponse):
        return text

    def run() -> tuple[int, list[adjustments.Rejected]]:
        with engine.begin() as sa:
            return adjustments.import_csv(driver(sa), text, actor=caller.name, tz=tz)

    accepted, rejected = await run_in_threadpool(run)
    if rejected:
        rows = [{"line": r.line, "field": r.field, "message": r.message} for r in rejected]
        errors = [FieldError(r.field, f"line {r.line}: {r.message}") for r in rejected]
        return JSONResponse(error_body(f"nothing imported: {len(rejected)} problem(s) in the file", errors,
                                       accepted=0, rejected=rows), status_code=422)
    return JSONResponse({"accepted": accepted, "rejected": []})


@router.get("/buildings/{building_id}/adjustments")
def get_adjustments(building_id: BuildingId, caller: Caller, engine: EngineDep) -> list[dict[str, Any]]:
    with engine.connect() as sa:
        registry.get_building(sa, building_id, caller.scope)
        return service.adjustments(driver(sa), [building_id], date(1900, 1, 1), date(2999, 12, 31))


class AuditEntryOut(BaseModel):
    at: datetime
    actor: str = Field(description="who: a token's name (and role), `cli:<user>`, `sync:<source>`, a migration")
    action: str = Field(description="put, import, adjust, exchange, ...")
    subject: str = Field(description="what: baseline, settings/<key>, targets/T1, buildings/<id>, meters/<id>, ...")
    detail: Any = Field(description="what changed: before/after of each field, valid_from, counts of an import")


@router.get("/audit", response_model=list[AuditEntryOut])
def get_audit(_: AuditReader, engine: EngineDep,
              subject: Annotated[str, Query(max_length=200, description="a subject and what lies under it, "
                                            "e.g. baseline, settings/, targets/T1, buildings/rh-01 (with its "
                                            "adjustments), meters/el-1, luminaires/l-7, or buildings/ for all")] = "",
              ) -> list[dict[str, Any]]:
    """Who changed reference data and the registry, when and how (newest first, at most 500): registry changes
    carry `valid_from`, before/after of every field changed and the dated history rows they replaced."""
    with engine.connect() as sa:
        return ref.audit_entries(driver(sa), subject)

