"""Bulk registry import from CSV: buildings, meters or luminaires, all or nothing per file.

The header names the PUT body's fields plus `id`; an empty cell is null; `opening_hours` holds its JSON object. A
meter's lifecycle columns (`active_from`, `active_to`, `replaced_by`) are optional: a file without them keeps the
stored lifecycle, an empty cell under them clears it.
Every row is validated first, including the rules that need the database or other rows (a sub-meter may come before
its parent); errors are reported as (line, field, message) and nothing is stored if there is any. Otherwise every row
is created or replaced in the caller's transaction.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine

from services.config import Settings, get_settings
from services.db import PgConn
from services.registry import repository, service
from services.registry.schemas import FROM_TEXT, LIFECYCLE_FIELDS, BuildingIn, LuminaireIn, MeterIn
from services.validation import field_errors

if TYPE_CHECKING:
    import _csv

VIA = "CSV import"

# How far a long import is: (stage, rows done, rows in all); the command line draws it as a progress bar with ETA.
Progress = Callable[[str, int, int], None]


class Kind(StrEnum):
    buildings = "buildings"
    meters = "meters"
    luminaires = "luminaires"


MODELS: dict[Kind, type[BuildingIn] | type[MeterIn] | type[LuminaireIn]] = {
    Kind.buildings: BuildingIn,
    Kind.meters: MeterIn,
    Kind.luminaires: LuminaireIn,
}
JSON_COLUMNS = frozenset({"opening_hours"})


@dataclass(frozen=True)
class RowError:
    line: int  # 1 is the header
    field: str
    message: str


@dataclass
class ImportResult:
    kind: Kind
    accepted: int = 0
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    rejected: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class _Row:
    line: int
    id: str
    body: Any  # an instance of MODELS[kind]


def columns(kind: Kind) -> tuple[list[str], list[str]]:
    """(every column the header may name, the columns it must name) for a kind."""
    fields = MODELS[kind].model_fields
    # valid_from last: it dates the row rather than describing the entity
    allowed = ["id", *[n for n in fields if n not in ("id", "valid_from")], "valid_from"]
    required = ["id", *[n for n, f in fields.items() if f.is_required()]]
    return allowed, required


def _reader(text: str) -> _csv.Reader:
    text = text.removeprefix("\ufeff")  # spreadsheet programs write a byte order mark
    first = text.split("\n", 1)[0]
    # Danish spreadsheets save CSV with semicolons.
    delimiter = ";" if ";" in first and "," not in first else ","
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)


def csv_records(text: str) -> tuple[list[str], Iterator[tuple[int, list[str] | str]]]:
    """A CSV body as spreadsheets write it (byte order mark, semicolons), for other imports: the header, and each
    further record with the line it starts on (a quoted cell may span lines) — or, once, the reason it could not be
    read."""
    reader = _reader(text)
    try:
        header = [h.strip() for h in next(reader, [])]
    except csv.Error as e:
        return [], iter([(1, f"unreadable CSV: {e}")])

    def records() -> Iterator[tuple[int, list[str] | str]]:
        last = reader.line_num
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                yield last + 1, f"unreadable CSV: {e}"
                return
            line, last = last + 1, reader.line_num
            yield line, cells

    return header, records()


def parse(kind: Kind, text: str, progress: Progress | None = None) -> tuple[list[_Row], list[RowError], set[str]]:
    """Rows that passed their own validation, errors, and the ids of rows that did not."""
    reader = _reader(text)
    # rows to validate, as lines after the header (a quoted cell spanning lines makes it an upper bound)
    n_lines = max(text.count("\n") + (0 if text.endswith("\n") else 1) - 1, 0)
    try:
        header = [h.strip() for h in next(reader, [])]
    except csv.Error as e:
        return [], [RowError(1, "header", f"unreadable CSV: {e}")], set()
    if not any(header):
        return [], [RowError(1, "header", "the first line must name the columns")], set()
    allowed, required = columns(kind)
    errors = [
        RowError(1, h or "header", f"unknown column; columns are {', '.join(allowed)}")
        for h in header
        if h not in allowed
    ]
    errors += [RowError(1, h, "missing column") for h in required if h not in header]
    errors += [RowError(1, h, "column named twice") for h in sorted({h for h in header if header.count(h) > 1})]
    if errors:
        return [], errors, set()

    model = MODELS[kind]
    rows: list[_Row] = []
    bad_ids: set[str] = set()
    first_line: dict[str, int] = {}
    last_line = reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as e:  # e.g. a quote left open at the end of the file
            errors.append(RowError(last_line + 1, "row", f"unreadable CSV: {e}"))
            break
        line, last_line = last_line + 1, reader.line_num  # a quoted cell may span lines: report where a row starts
        if progress is not None:
            progress("validating", min(last_line - 1, n_lines), n_lines)
        if len(cells) > len(header):
            errors.append(RowError(line, "row", f"{len(cells)} cells, but the header names {len(header)} columns"))
            continue
        # A short row leaves its last columns empty.
        data: dict[str, Any] = {k: v.strip() for k, v in zip(header, cells, strict=False) if v.strip() != ""}
        if not data:
            continue  # a blank line
        if kind == Kind.meters:
            data = _lifecycle_cells(header, data)
        row_errors: list[RowError] = []
        for col in JSON_COLUMNS & data.keys():
            try:
                data[col] = json.loads(data[col])
            except json.JSONDecodeError as e:
                row_errors.append(RowError(line, col, f"not a JSON object: {e.msg}"))
                del data[col]
        ident = data.get("id")
        if ident is None:
            row_errors.append(RowError(line, "id", "required"))
        elif ident in first_line:
            row_errors.append(RowError(line, "id", f"{ident!r} is also on line {first_line[ident]}"))
        else:
            first_line[ident] = line
        body: BaseModel | None = None
        try:
            body = model.model_validate(data, context=FROM_TEXT)
        except ValidationError as e:
            row_errors += [RowError(line, fe.field, fe.message) for fe in field_errors(e.errors())]
        if row_errors or body is None or ident is None:
            errors += row_errors
            if ident is not None:
                bad_ids.add(ident)
        else:
            rows.append(_Row(line, ident, body))
    if progress is not None:
        progress("validating", n_lines, n_lines)
    return rows, errors, bad_ids


def _lifecycle_cells(header: list[str], data: dict[str, Any]) -> dict[str, Any]:
    # A lifecycle column left out of the file keeps what is stored; an empty cell in it clears it (null in JSON).
    return {**{c: None for c in LIFECYCLE_FIELDS if c in header}, **data}


def import_csv(conn: PgConn, kind: Kind, text: str, *, actor: service.Actor | None = None,
               tz: ZoneInfo | None = None, progress: Progress | None = None) -> ImportResult:
    """Validate a whole file, then store every row in the caller's transaction, or nothing if any row is wrong.

    A `valid_from` column dates each row's changes like the PUT body's field; every row is audit-logged as `actor`.
    `progress`, if given, hears how far validating and storing are.
    """
    actor = actor or service.Actor("unknown", via=VIA)
    tz = tz or ZoneInfo(get_settings().timezone)
    rows, errors, bad_ids = parse(kind, text, progress)
    if kind == Kind.meters:
        checked = service.check_meters(conn, [(r.id, r.body) for r in rows], unchecked_ids=frozenset(bad_ids))
        errors += [RowError(rows[i].line, e.field, e.message) for i, e in checked]
    elif kind == Kind.luminaires:
        known = repository.existing_building_ids(conn, [r.body.building_id for r in rows])
        errors += [
            RowError(r.line, "building_id", f"building {r.body.building_id!r} does not exist")
            for r in rows
            if r.body.building_id not in known
        ]
    result = ImportResult(kind)
    if errors:
        result.rejected = sorted(errors, key=lambda e: e.line)
        return result

    report = progress or _no_progress
    report("storing", 0, len(rows))
    if kind == Kind.meters:  # one batch: parents first, then one audit row each
        for put_meter in service.store_meters(conn, service.parents_first([(r.id, r.body) for r in rows]),
                                              actor=actor, tz=tz):
            (result.created if put_meter.created else result.updated).append(put_meter.entity.id)
        report("storing", len(rows), len(rows))
    else:
        for i, r in enumerate(rows, 1):
            put = (
                service.put_building(conn, r.id, r.body, actor=actor, tz=tz)
                if kind == Kind.buildings
                else service.put_luminaire(conn, r.id, r.body, actor=actor, tz=tz)
            )
            (result.created if put.created else result.updated).append(r.id)
            report("storing", i, len(rows))
    result.accepted = len(rows)
    return result


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


def after_import(engine: Engine, settings: Settings, result: ImportResult) -> int | None:
    """The after-commit work of a stored file (broker credentials, quarantine replay); returns messages replayed."""
    if result.rejected:
        return None
    stored = result.created + result.updated
    return service.after_commit(
        engine,
        settings,
        buildings_created=result.kind == Kind.buildings and bool(result.created),
        meter_ids=stored if result.kind == Kind.meters else (),
        luminaire_ids=stored if result.kind == Kind.luminaires else (),
    )
