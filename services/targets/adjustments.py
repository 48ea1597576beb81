"""Non-routine adjustments (PRODUCT.md "Progress": buildings added or sold, and area changes, with a reason and an
audit trail): the rules across the fields of one (its body: schemas.AdjustmentIn), and a CSV import of many, dated
by `valid_from` like every other registry change (docs/registry.md). Caller owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from services.db import PgConn
from services.registry.csv_import import csv_records
from services.registry.schemas import FROM_TEXT
from services.targets import service
from services.targets.schemas import AdjustmentIn
from services.validation import FieldError, field_errors

# AdjustmentIn lives in schemas.py; it stays importable from here, its first home
__all__ = ["COLUMNS", "MAX_ROWS", "AdjustmentIn", "Rejected", "add", "check", "import_csv"]

MAX_ROWS = 50_000
COLUMNS = ("building_id", "kind", "valid_from", "reason", "heated_area_m2")


def check(body: AdjustmentIn) -> list[FieldError]:
    """The rules across fields, each naming its field."""
    out = []
    if body.valid_from is None and body.effective is None:
        out.append(FieldError("valid_from", "required: the local date the change takes effect"))
    elif body.valid_from is not None and body.effective is not None and body.valid_from != body.effective:
        out.append(FieldError("valid_from", "differs from effective; give one of them"))
    if (body.kind == "area_changed") != (body.heated_area_m2 is not None):
        out.append(FieldError("heated_area_m2", "required for area_changed, and only there"))
    return out


def add(conn: PgConn, building_id: str, body: AdjustmentIn, *, actor: str, tz: ZoneInfo,
        via: str = "API") -> dict[str, Any]:
    return service.add_adjustment(conn, building_id, kind=body.kind, effective=body.day,
                                  heated_area_m2=body.heated_area_m2, reason=body.reason, actor=actor, tz=tz, via=via)


@dataclass(frozen=True)
class Rejected:
    line: int
    field: str
    message: str


def import_csv(conn: PgConn, text: str, *, actor: str, tz: ZoneInfo) -> tuple[int, list[Rejected]]:
    """Every row of a CSV with header building_id,kind,valid_from,reason[,heated_area_m2] (`effective` for
    valid_from also taken; commas or, as Danish spreadsheets save, semicolons), or none if any row is wrong: (rows
    stored, problems by line and field)."""
    header, records = csv_records(text)
    header = ["valid_from" if h == "effective" else h for h in header]
    required = {"building_id", "kind", "valid_from", "reason"}
    unknown = [h for h in header if h not in COLUMNS]
    if unknown or not required <= set(header) or len(set(header)) != len(header):
        msg = (f"header must hold {', '.join(sorted(required))} and may hold heated_area_m2"
               + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
        return 0, [Rejected(1, "header", msg)]
    rows: list[tuple[str, AdjustmentIn]] = []
    rejected: list[Rejected] = []
    for n, cells in records:
        if isinstance(cells, str):  # unreadable from here on
            rejected.append(Rejected(n, "row", cells))
            break
        if not any(c.strip() for c in cells):
            continue
        if len(rows) + len(rejected) >= MAX_ROWS:
            rejected.append(Rejected(n, "body", f"at most {MAX_ROWS} rows per file"))
            break
        if len(cells) > len(header):
            rejected.append(Rejected(n, "row", f"{len(cells)} cells, but the header names {len(header)} columns"))
            continue
        raw = {h: (c.strip() or None) for h, c in zip(header, cells, strict=False)}  # a short row: empty cells
        building_id = raw.pop("building_id", None) or ""
        try:
            body = AdjustmentIn.model_validate(raw, context=FROM_TEXT)
        except ValidationError as e:
            rejected += [Rejected(n, f.field, f.message) for f in field_errors(e.errors())]
            continue
        problems = check(body)
        if not building_id or not service.building_exists(conn, building_id):
            problems.append(FieldError("building_id", f"no building {building_id!r}"))
        rejected += [Rejected(n, f.field, f.message) for f in problems]
        if not problems:
            rows.append((building_id, body))
    if rejected:
        return 0, rejected
    for building_id, body in rows:
        add(conn, building_id, body, actor=actor, tz=tz, via="CSV import")
    return len(rows), []
