"""What the utility import answers (POST /api/v1/imports/utility): the run, and per file what was (or would be)
stored per meter and what was rejected, by line and field."""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.connectors.schemas import RunOut


class LineOut(BaseModel):
    line: int = Field(description="the line in the file (the row number in Excel)")
    field: str = Field(description="the column as the file names it (e.g. 'Aflæsning'), or the mapping option")
    message: str


class MeterImportOut(BaseModel):
    external_id: str = Field(description="the meter number in the file")
    meter_id: str
    mode: str = Field(description="register: readings; interval: consumption per interval")
    readings: int
    first_ts: str | None
    last_ts: str | None
    quantity: float = Field(description="in the meter's unit: last minus first reading (register) or the sum "
                                        "(interval)")
    unit: str
    kwh: float | None = Field(description="the quantity in kWh; null for volumes (m3, l)")


class UnmappedLinesOut(BaseModel):
    external_id: str = Field(description="a meter number no registered meter has as external_id")
    lines: int
    first_line: int


class PipelineCounts(BaseModel):
    stored: int
    duplicate: int
    revised: int
    dead_lettered: int


class FileImportOut(BaseModel):
    file: str
    dry_run: bool
    format: str = Field(description="csv or xlsx")
    encoding: str | None
    delimiter: str | None
    decimal: str = Field(description="the decimal mark used: ',' or '.'")
    preset: str
    header_line: int
    columns: dict[str, str] = Field(description="role -> the header the file uses for it")
    data_lines: int
    accepted: int = Field(description="lines that became readings")
    duplicates_in_file: int = Field(description="lines repeating an earlier line of the file exactly")
    rejected_count: int
    rejected: list[LineOut] = Field(description="rejected lines (the first 1000), by line and field")
    warnings: list[LineOut] = Field(description="lines stored with a choice made for them (the repeated hour)")
    meters: list[MeterImportOut]
    unmapped: list[UnmappedLinesOut]
    pipeline: PipelineCounts = Field(description="what the ingest pipeline did (in a dry run: would do) with them")


class UtilityImportOut(BaseModel):
    run: RunOut
    files: list[FileImportOut]
