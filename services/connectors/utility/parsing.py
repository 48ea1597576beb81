"""Cells of a utility's export as Danish spreadsheets write them: files, numbers, dates, units, qualities.

Everything here is pure (no database): a file's bytes become rows of cells; a cell becomes a number, a local
date/time or a unit, or a `CellError` whose message says what is wrong with the text ("'12,3,4' is not a number").
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from services.readings.units import Unit

Cell = str | float | int | datetime | date | time | None
Decimal = Literal[",", "."]


class CellError(ValueError):
    """One cell cannot be read; the message quotes the cell and says why."""


class FileError(ValueError):
    """The file as a whole cannot be read (not CSV/xlsx, no header row, a mapping that names a missing column)."""


# -- files -----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Table:
    """A sheet's rows as (line number, cells): the line a user sees in a text editor or Excel's row number."""

    rows: list[tuple[int, list[Cell]]]
    format: Literal["csv", "xlsx"]
    encoding: str | None = None
    delimiter: str | None = None


_XLSX_MAGIC = b"PK\x03\x04"
_XLS_MAGIC = b"\xd0\xcf\x11\xe0"  # the old binary Excel format (BIFF, an OLE2 container)
DELIMITERS = (";", "\t", ",")


def decode_text(data: bytes) -> tuple[str, str]:
    """The text and its encoding: UTF-8 (with or without BOM), else Windows-1252, which Excel's "CSV (semikolon-
    separeret)" writes on Danish Windows (æ ø å as single bytes)."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as e:  # cp1252 leaves five bytes undefined
        raise FileError(f"the file is neither UTF-8 nor Windows-1252 text (byte {e.start})") from None


def sniff_delimiter(text: str) -> str:
    """`;`, tab or `,`: the one that splits the most of the first 30 non-empty lines into the same number (> 1) of
    fields. `;` and tab win ties over `,`, which is also the Danish decimal mark."""
    lines = [ln for ln in text.splitlines() if ln.strip()][:30]
    best, best_score = ",", -1
    for d in DELIMITERS:
        counts = [len(r) for r in csv.reader(lines, delimiter=d)]
        multi = [c for c in counts if c > 1]
        if not multi:
            continue
        mode = max(set(multi), key=multi.count)
        score = multi.count(mode)
        if score > best_score:
            best, best_score = d, score
    return best


def read_table(data: bytes, *, delimiter: str | None = None, sheet: str | None = None) -> Table:
    """A CSV (any of `;`, tab, `,`; UTF-8 or Windows-1252) or xlsx file as rows of cells."""
    if data.startswith(_XLSX_MAGIC):
        return _read_xlsx(data, sheet)
    if data.startswith(_XLS_MAGIC):
        raise FileError("the file is an old binary Excel file (.xls): save it as .xlsx or CSV")
    if b"\x00" in data[:4096]:
        raise FileError("the file is binary, neither CSV text nor an xlsx workbook")
    text, encoding = decode_text(data)
    d = delimiter or sniff_delimiter(text)
    rows: list[tuple[int, list[Cell]]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=d)
    try:
        for fields in reader:
            # reader.line_num is the physical line where this record ended: a quoted cell may span lines.
            rows.append((reader.line_num, list(fields)))
    except csv.Error as e:
        raise FileError(f"line {reader.line_num}: not readable as CSV ({e})") from None
    return Table(rows, "csv", encoding, d)


def _read_xlsx(data: bytes, sheet: str | None) -> Table:
    import openpyxl  # imported here: only xlsx files need it

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many kinds (zip, XML, KeyError) for a broken file
        raise FileError(f"not a readable xlsx workbook ({type(e).__name__}: {e})") from None
    try:
        if sheet is not None:
            if sheet not in wb.sheetnames:
                raise FileError(f"sheet {sheet!r} not in the workbook (sheets: {', '.join(wb.sheetnames)})")
            ws = wb[sheet]
        else:
            ws = wb.worksheets[0]
        rows: list[tuple[int, list[Cell]]] = []
        for i, values in enumerate(ws.iter_rows(values_only=True), start=1):
            rows.append((i, [_xlsx_cell(v) for v in values]))
    finally:
        wb.close()
    return Table(rows, "xlsx")


def _xlsx_cell(v: object) -> Cell:
    if v is None or isinstance(v, str | float | int | datetime | date | time):
        return v
    return str(v)  # booleans, timedeltas, errors ("#DIV/0!") arrive as text and are rejected where they land


def is_blank(cell: Cell) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def show(cell: Cell) -> str:
    """A cell as a message quotes it: text in quotes, bounded."""
    if isinstance(cell, str):
        return repr(cell[:60])
    return repr(cell) if not isinstance(cell, datetime | date | time) else cell.isoformat()


# -- numbers ---------------------------------------------------------------------------------------------------------

_SPACES = re.compile(r"[\s\u00a0\u202f]")
_COMMA_DECIMAL = re.compile(r"[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?")
_POINT_DECIMAL = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")


def parse_number(cell: Cell, decimal: Decimal) -> float:
    """A finite number. Text uses `decimal` as its decimal mark and the other of `,`/`.` only as a thousands
    separator in groups of three ("1.234,5" with a decimal comma); spaces between digits are ignored."""
    if isinstance(cell, bool) or not isinstance(cell, str | int | float):
        raise CellError(f"{show(cell)} is not a number")
    if isinstance(cell, int | float):
        f = float(cell)
    else:
        s = _SPACES.sub("", cell)
        if not s:
            raise CellError("empty: a number is required")
        if decimal == ",":
            ok = _COMMA_DECIMAL.fullmatch(s)
            norm = s.replace(".", "").replace(",", ".")
            how = "decimal comma, '.' only between groups of three digits"
        else:
            ok = _POINT_DECIMAL.fullmatch(s)
            norm = s.replace(",", "")
            how = "decimal point, ',' only between groups of three digits"
        if ok is None:
            raise CellError(f"{show(cell)} is not a number ({how})")
        f = float(norm)
    if not math.isfinite(f):
        raise CellError(f"{show(cell)} is not a finite number")
    return f


_GROUPED_COMMA = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+")
_GROUPED_POINT = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+")


def detect_decimal(cells: list[Cell], delimiter: str | None) -> Decimal:
    """The decimal mark of a file's number column. A text with both marks has its decimal mark last ("1.234,5");
    a lone mark not followed by exactly three-digit groups is a decimal mark ("12,5"); "1.234" could be either and
    does not count. Without evidence, or with evidence both ways: `,` in a `;`/tab file (the Danish convention),
    `.` in a `,` file (where a decimal comma would need quoting)."""
    comma = point = 0
    for c in cells:
        if not isinstance(c, str):
            continue
        s = _SPACES.sub("", c)
        if "," in s and "." in s:
            if s.rfind(",") > s.rfind("."):
                comma += 1
            else:
                point += 1
        elif "," in s:
            if not _GROUPED_COMMA.fullmatch(s):
                comma += 1
        elif "." in s and not _GROUPED_POINT.fullmatch(s):
            point += 1
    if comma and not point:
        return ","
    if point and not comma:
        return "."
    return "." if delimiter == "," else ","


# -- dates and times -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LocalStamp:
    """A date, or a date and a wall-clock time, as written in the file (no offset): Europe/Copenhagen local."""

    wall: datetime  # naive
    has_time: bool


Stamp = LocalStamp | datetime  # an aware datetime when the file wrote an offset (RFC 3339)

_DMY = re.compile(r"(\d{1,2})([-./])(\d{1,2})\2(\d{4})")
_YMD = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_TIME = re.compile(r"(?:kl\.?\s*)?(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?", re.IGNORECASE)
_OFFSET = re.compile(r"(?:[Zz]|[+-]\d{2}:\d{2})$")
DATE_HINT = "dd-mm-yyyy, dd.mm.yyyy, dd/mm/yyyy or yyyy-mm-dd, optionally with HH:MM[:SS]"


def parse_time_of_day(cell: Cell) -> tuple[int, int, int]:
    """(hour, minute, second) of a time column; "24:00" is the end of the day (hour 24)."""
    if isinstance(cell, time):
        return cell.hour, cell.minute, cell.second
    if isinstance(cell, datetime):  # Excel stores a time-only cell as a date in 1899-12-30 with a time
        return cell.hour, cell.minute, cell.second
    if not isinstance(cell, str):
        raise CellError(f"{show(cell)} is not a time of day (HH:MM)")
    return _time_text(cell)


@lru_cache(maxsize=4096)
def _time_text(cell: str) -> tuple[int, int, int]:
    m = _TIME.fullmatch(cell.strip())
    if m is None:
        raise CellError(f"{show(cell)} is not a time of day (HH:MM or HH:MM:SS)")
    h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if (h, mi, s) != (24, 0, 0) and (h > 23 or mi > 59 or s > 59):
        raise CellError(f"{show(cell)} is not a time of day (hours 0-23, minutes and seconds 0-59)")
    return h, mi, s


def _with_time(day: date, hms: tuple[int, int, int]) -> datetime:
    h, mi, s = hms
    if h == 24:  # "24:00" closes the day: the next local midnight
        return datetime(day.year, day.month, day.day) + timedelta(days=1)
    return datetime(day.year, day.month, day.day, h, mi, s)


def parse_stamp(cell: Cell, time_cell: Cell = None) -> Stamp:
    """A date or date-time cell (and an optional separate time-of-day cell) as a local stamp, or an aware datetime
    when the text carries an offset ("2026-01-31T00:00:00+01:00")."""
    if isinstance(cell, datetime):
        wall: datetime = cell.replace(tzinfo=None) if cell.tzinfo is None else cell
        if cell.tzinfo is not None:
            return cell
        has_time = wall.time() != time(0)
        stamp = LocalStamp(wall, has_time)
    elif isinstance(cell, date):
        stamp = LocalStamp(datetime(cell.year, cell.month, cell.day), False)
    elif isinstance(cell, str):
        s = cell.strip()
        if _OFFSET.search(s) and "T" in s.upper():
            try:
                aware = datetime.fromisoformat(s.replace("z", "Z").replace("t", "T"))
            except ValueError:
                raise CellError(f"{show(cell)} is not a date ({DATE_HINT})") from None
            if aware.tzinfo is not None:
                return aware
        stamp = _parse_date_text(cell, s)
    else:
        raise CellError(f"{show(cell)} is not a date ({DATE_HINT})")
    if time_cell is not None and not is_blank(time_cell):
        if stamp.has_time:
            raise CellError(f"{show(cell)} has a time of its own and a separate time column")
        return LocalStamp(_with_time(stamp.wall.date(), parse_time_of_day(time_cell)), True)
    return stamp


@lru_cache(maxsize=65536)
def _parse_date_text(cell: str, s: str) -> LocalStamp:
    m = _DMY.match(s)
    if m:
        d, mo, y = int(m.group(1)), int(m.group(3)), int(m.group(4))
    else:
        m = _YMD.match(s)
        if m is None:
            raise CellError(f"{show(cell)} is not a date ({DATE_HINT})")
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    try:
        day = date(y, mo, d)
    except ValueError as e:
        raise CellError(f"{show(cell)} is not a date ({e})") from None
    if not 1900 <= y <= 2200:
        raise CellError(f"{show(cell)} is outside the years 1900-2200")
    rest = s[m.end():].strip().lstrip("Tt").strip()
    if not rest:
        return LocalStamp(datetime(y, mo, d), False)
    try:
        hms = parse_time_of_day(rest)
    except CellError:
        raise CellError(f"{show(cell)} is not a date ({DATE_HINT})") from None
    return LocalStamp(_with_time(day, hms), True)


@lru_cache(maxsize=65536)
def local_offsets(wall: datetime, tz: ZoneInfo) -> tuple[datetime, ...]:
    """The instants (UTC) a local wall-clock time names: one, two (the repeated hour when clocks go back, earlier
    first) or none (the skipped hour when clocks go forward). Cached: an export repeats its times per meter."""
    first = wall.replace(tzinfo=tz)
    off0, off1 = first.utcoffset(), first.replace(fold=1).utcoffset()
    if off0 == off1 and off0 is not None:  # the usual case: one offset, no round trip needed
        return ((wall - off0).replace(tzinfo=UTC),)
    out: list[datetime] = []
    for fold in (0, 1):
        aware = wall.replace(tzinfo=tz, fold=fold)
        # A wall time in the skipped hour does not survive the round trip through UTC.
        if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall:
            utc = aware.astimezone(UTC)
            if all(o != utc for o in out):
                out.append(utc)
    out.sort()
    return tuple(out)  # in UTC: aware datetimes sharing a ZoneInfo compare and subtract by wall time, ignoring fold


# -- units and qualities ---------------------------------------------------------------------------------------------

# Spellings in Danish exports, mapped to the registered unit names (services/readings/units.py).
UNIT_SPELLINGS: dict[str, Unit] = {
    "wh": Unit.WH, "kwh": Unit.KWH, "mwh": Unit.MWH, "mj": Unit.MJ, "gj": Unit.GJ,
    "m3": Unit.M3, "m³": Unit.M3, "m^3": Unit.M3, "kubikmeter": Unit.M3, "kbm": Unit.M3,
    "l": Unit.L, "liter": Unit.L, "litre": Unit.L,
}


def parse_unit_text(cell: Cell) -> Unit:
    if not isinstance(cell, str) or not cell.strip():
        raise CellError(f"{show(cell)} is not a unit (kWh, MWh, GJ, m3, ...)")
    u = UNIT_SPELLINGS.get(cell.strip().casefold().replace(" ", ""))
    if u is None:
        raise CellError(f"{show(cell)} is not a unit we know (kWh, MWh, GJ, MJ, Wh, m3/m³, l)")
    return u


# Quality words in Danish and English exports -> our qualities (services/ingestion/schemas.py).
QUALITY_SPELLINGS: dict[str, str] = {
    "målt": "measured", "maalt": "measured", "aflæst": "measured", "m": "measured", "measured": "measured",
    "ok": "measured",
    "estimeret": "estimated", "skønnet": "estimated", "skøn": "estimated", "anslået": "estimated",
    "e": "estimated", "estimated": "estimated",
    "beregnet": "calculated", "calculated": "calculated", "b": "calculated",
    "korrigeret": "revised", "revideret": "revised", "revised": "revised", "k": "revised",
    "mangler": "missing", "manglende": "missing", "missing": "missing",
}


def parse_quality(cell: Cell) -> str:
    """Blank means measured (the wire contract's default)."""
    if is_blank(cell):
        return "measured"
    q = QUALITY_SPELLINGS.get(str(cell).strip().casefold())
    if q is None:
        raise CellError(f"{show(cell)} is not a quality (Målt, Estimeret, Beregnet, Korrigeret, Mangler)")
    return q
