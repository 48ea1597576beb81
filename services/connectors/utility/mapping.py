"""Which column of a utility export means what: the mapping, its presets, and finding the header row.

A mapping names, for each role (meter number, reading or consumption, date/time or period, unit, quality), the
header texts that may hold it. Header texts are compared after normalising: case folded, spaces collapsed, a
trailing "." or ":" dropped, and a unit written in the header ("Energi (MWh)", "Forbrug kWh", "Volumen [m3]") taken
out and remembered as that column's unit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.connectors.utility.parsing import UNIT_SPELLINGS, Cell, FileError, Table, is_blank
from services.readings.units import Unit

ROLES = ("meter", "reading", "consumption", "value", "timestamp", "date", "time", "start", "end", "unit", "quality")
VALUE_ROLES = ("reading", "consumption", "value")

# Every header text the automatic mapping knows, normalised (see `normalise_header`).
KNOWN: dict[str, tuple[str, ...]] = {
    "meter": ("målernr", "målernummer", "måler nr", "målernr måler", "måler", "måler-id", "målerid", "målepunkt",
              "målepunkt id", "målepunktsnummer", "målepunkts id", "serienummer", "meter", "meter number",
              "meter no", "meter id", "meter_id", "external_id", "serial number"),
    "reading": ("aflæsning", "aflæst værdi", "aflæsningsværdi", "målerstand", "tællerstand", "energi", "reading",
                "meter reading", "register"),
    "consumption": ("forbrug", "mængde", "forbrug i perioden", "periodeforbrug", "consumption", "quantity",
                    "usage"),
    "value": ("værdi", "value"),
    "timestamp": ("tidsstempel", "dato og tid", "dato/tid", "timestamp", "ts", "date time", "datetime"),
    "date": ("dato", "aflæsningsdato", "læsedato", "aflæst dato", "date", "reading date"),
    "time": ("tidspunkt", "klokkeslæt", "kl", "time of day", "time"),
    "start": ("fra", "fra dato", "periode fra", "fra tidspunkt", "fra dato/tid", "from", "start", "period start"),
    "end": ("til", "til dato", "periode til", "til tidspunkt", "til dato/tid", "to", "end", "period end"),
    "unit": ("enhed", "måleenhed", "unit"),
    # not "Status": portals use it for a meter's state (Aktiv, Lukket), which is no reading quality
    "quality": ("kvalitet", "datakvalitet", "quality"),
}

Ambiguous = Literal["earlier", "later", "reject"]


class MappingSpec(BaseModel):
    """A mapping as options or JSON: each role is a header text or a list of them (any of which may be the
    column); the rest says how to read the cells. `preset` starts from a preset and changes what is given."""

    model_config = ConfigDict(extra="forbid")

    preset: str | None = None
    meter: list[str] | None = None
    reading: list[str] | None = None
    consumption: list[str] | None = None
    value: list[str] | None = None
    timestamp: list[str] | None = None
    date: list[str] | None = None
    time: list[str] | None = None
    start: list[str] | None = None
    end: list[str] | None = None
    unit: list[str] | None = None
    quality: list[str] | None = None
    meter_id: str | None = Field(None, description="the meter number of every row, for a file without one")
    default_unit: str | None = Field(None, description="the values' unit when neither a column nor the header "
                                                       "names one; otherwise the meter's registered unit")
    decimal: Literal["auto", ",", "."] = "auto"
    delimiter: Literal[";", ",", "\t", "tab"] | None = None
    sheet: str | None = None
    header_line: int | None = Field(None, ge=1, description="the header's line; otherwise found in the first 30")
    ambiguous: Ambiguous = Field("earlier", description="a local time in the hour repeated when the clocks go "
                                                        "back, written once: earlier (+02:00), later (+01:00) or "
                                                        "reject the line")
    reading_date: Literal["start", "end"] = Field("start", description="a reading dated without a time was read at "
                                                                       "the start (00:00) or the end of that day")
    period_end: Literal["auto", "inclusive", "exclusive"] = Field(
        "auto", description="a period's end date without a time: the period includes that day (Til 31-01 = up to "
                            "1 Feb 00:00) or ends at its start; auto decides from the file (see the docs)")
    stamp_marks: Literal["start", "end"] = Field(
        "start", description="a consumption row's single date-time marks the start (default) or the end of its "
                             "interval")

    @field_validator(*ROLES, mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


# Presets are named by the shape of the export, not by a vendor: no portal's exact format could be verified
# (docs/connectors.md, "Utility exports", lists the columns each one expects).
PRESETS: dict[str, MappingSpec] = {
    # Everything the automatic mapping knows: Danish and English headers.
    "auto": MappingSpec(),
    # Meter readings (register): Målernr.;Dato[;Tidspunkt];Aflæsning[;Enhed][;Kvalitet].
    "dk-fjernvarme-aflaesning": MappingSpec(
        meter=["målernr", "målernummer", "måler nr", "måler", "serienummer"],
        reading=["aflæsning", "aflæst værdi", "målerstand", "tællerstand", "energi"],
        date=["dato", "aflæsningsdato", "læsedato", "aflæst dato"],
        time=["tidspunkt", "klokkeslæt", "kl"],
        timestamp=["tidsstempel", "dato og tid", "dato/tid"],
        unit=["enhed", "måleenhed"], quality=["kvalitet", "datakvalitet"],
    ),
    # Consumption per period (interval): Målernr.;Fra;Til;Forbrug[;Enhed][;Kvalitet]; stored at the period's end.
    "dk-forbrug-periode": MappingSpec(
        meter=["målernr", "målernummer", "måler nr", "måler", "målepunkt", "målepunkt id"],
        consumption=["forbrug", "mængde", "forbrug i perioden", "periodeforbrug"],
        start=["fra", "fra dato", "periode fra", "fra tidspunkt", "fra dato/tid"],
        end=["til", "til dato", "periode til", "til tidspunkt", "til dato/tid"],
        unit=["enhed", "måleenhed"], quality=["kvalitet", "datakvalitet"],
    ),
    # Consumption per day or hour (interval): Målernr.;Dato[;Tidspunkt];Forbrug[;Enhed]; a date is that local day,
    # a date-time the start of the meter's interval.
    "dk-forbrug-tidsserie": MappingSpec(
        meter=["målernr", "målernummer", "måler nr", "måler", "målepunkt", "målepunkt id"],
        consumption=["forbrug", "mængde"],
        date=["dato", "dag"], time=["tidspunkt", "klokkeslæt", "kl"],
        timestamp=["tidsstempel", "dato og tid", "dato/tid"],
        unit=["enhed", "måleenhed"], quality=["kvalitet", "datakvalitet"],
    ),
}


def mapping_from(preset: str | None, options: dict[str, Any] | str | None = None) -> MappingSpec:
    """The mapping for a preset name, or for a JSON mapping (text or dict) that may name a preset to start from."""
    base_name = preset or "auto"
    given: dict[str, Any] = {}
    if isinstance(options, str):
        import json

        try:
            parsed = json.loads(options)
        except ValueError as e:
            raise FileError(f"mapping: not valid JSON ({e})") from None
        if not isinstance(parsed, dict):
            raise FileError("mapping: must be a JSON object")
        given = parsed
    elif options:
        given = dict(options)
    if given.get("preset"):
        base_name = str(given["preset"])
    if base_name not in PRESETS:
        raise FileError(f"preset: {base_name!r} is not a preset ({', '.join(PRESETS)})")
    try:
        over = MappingSpec.model_validate(given)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "mapping"
        raise FileError(f"mapping: {where}: {first['msg']}") from None
    merged = PRESETS[base_name].model_dump()
    for k, v in over.model_dump(exclude_unset=True).items():
        merged[k] = v
    merged["preset"] = base_name
    return MappingSpec.model_validate(merged)


_UNIT_IN_BRACKETS = re.compile(r"[\(\[]\s*([^\)\]]+?)\s*[\)\]]")


def normalise_header(text: str) -> tuple[str, Unit | None]:
    """("Energi (MWh)") -> ("energi", MWh); ("Målernr.") -> ("målernr", None); ("Forbrug kWh") -> ("forbrug", kWh)."""
    s = " ".join(text.replace("\ufeff", "").split()).casefold()
    unit: Unit | None = None
    m = _UNIT_IN_BRACKETS.search(s)
    if m and m.group(1).replace(" ", "") in UNIT_SPELLINGS:
        unit = UNIT_SPELLINGS[m.group(1).replace(" ", "")]
        s = (s[: m.start()] + s[m.end():]).strip()
    else:
        head, _, last = s.rpartition(" ")
        if head and last in UNIT_SPELLINGS:
            unit, s = UNIT_SPELLINGS[last], head
    s = s.rstrip(".:").strip()
    return s, unit


@dataclass
class Columns:
    """Where each role sits in the header row (0-based cell index), and units named by headers."""

    header_line: int
    index: dict[str, int] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # role -> the header text as written
    header_units: dict[str, Unit] = field(default_factory=dict)

    @property
    def value_role(self) -> str:
        for r in VALUE_ROLES:
            if r in self.index:
                return r
        raise AssertionError("a header row always has a value column")

    @property
    def time_role(self) -> str:
        """The column a line's time is read from (for messages about the time)."""
        for r in ("timestamp", "date", "end", "start"):
            if r in self.index:
                return r
        return "date"

    def label(self, role: str) -> str:
        """A role's column as messages name it: the header text the file uses."""
        return self.headers.get(role, role)


def _candidates(spec: MappingSpec, role: str) -> list[str]:
    given: list[str] | None = getattr(spec, role)
    if given is None:
        return list(KNOWN[role]) if spec.preset in (None, "auto") else []
    return [normalise_header(g)[0] for g in given]


def _match(cells: list[Cell], spec: MappingSpec, line: int) -> Columns:
    cols = Columns(line)
    norm = [normalise_header(c) if isinstance(c, str) else ("", None) for c in cells]
    taken: set[int] = set()
    for role in ROLES:
        for cand in _candidates(spec, role):
            hit = next((i for i, (n, _) in enumerate(norm) if n == cand and i not in taken), None)
            if hit is not None:
                cols.index[role] = hit
                cols.headers[role] = str(cells[hit]).strip()
                u = norm[hit][1]
                if u is not None:
                    cols.header_units[role] = u
                taken.add(hit)
                break
    return cols


def _complete(cols: Columns) -> bool:
    has_value = any(r in cols.index for r in VALUE_ROLES)
    has_time = "timestamp" in cols.index or "date" in cols.index or "end" in cols.index
    return has_value and has_time


def find_columns(table: Table, spec: MappingSpec) -> Columns:
    """The header row (the first of the first 30 lines holding a value column and a date column) and its columns."""
    rows = table.rows
    if spec.header_line is not None:
        found = [cells for line, cells in rows if line == spec.header_line]
        if not found:
            raise FileError(f"header_line: the file has no line {spec.header_line}")
        cols = _match(found[0], spec, spec.header_line)
        if not _complete(cols):
            raise FileError(f"line {spec.header_line}: {_missing(cols, spec)}")
    else:
        found_cols: Columns | None = None
        for line, cells in rows[:30]:
            if all(is_blank(c) for c in cells):
                continue
            c = _match(cells, spec, line)
            if _complete(c):
                found_cols = c
                break
        if found_cols is None:
            first = next(((line, cells) for line, cells in rows if not all(is_blank(c) for c in cells)), None)
            seen = "" if first is None else f"; line {first[0]} reads {', '.join(str(c) for c in first[1][:12])}"
            raise FileError(f"no header row in the first 30 lines: {_missing(Columns(0), spec)}{seen}")
        cols = found_cols
    if "meter" not in cols.index and spec.meter_id is None:
        raise FileError(f"line {cols.header_line}: no meter number column ({_names(spec, 'meter')}) and no "
                        "meter_id in the mapping")
    if "start" in cols.index and "end" not in cols.index:
        raise FileError(f"line {cols.header_line}: a period start column ({cols.label('start')}) without an end "
                        f"column ({_names(spec, 'end')})")
    return cols


def _names(spec: MappingSpec, role: str) -> str:
    c = _candidates(spec, role)
    return ", ".join(repr(x) for x in c[:6]) + (", ..." if len(c) > 6 else "") if c else "none in this mapping"


def _missing(cols: Columns, spec: MappingSpec) -> str:
    parts = []
    if not any(r in cols.index for r in VALUE_ROLES):
        parts.append("a value column (reading: " + _names(spec, "reading") + "; consumption: "
                     + _names(spec, "consumption") + ")")
    if not ("timestamp" in cols.index or "date" in cols.index or "end" in cols.index):
        parts.append("a date column (" + _names(spec, "date") + "; or a period: " + _names(spec, "start") + " / "
                     + _names(spec, "end") + ")")
    return "expected " + " and ".join(parts) + f" (preset {spec.preset or 'auto'})"
