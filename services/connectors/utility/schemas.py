"""What the utility import answers (POST /api/v1/imports/utility): the run, and per file what was (or would be)
stored per meter and what was rejected, by line and field."""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.connectors.schemas import RunOut


class LineOut(BaseModel):
    line: int = Field(description="the line in the file (the row number in Excel)")
    field: str = Field(description="the column as the file names it (e.g. 'Aflæsning'), or the mapping option")
    message: str = Field(description="what is wrong with it, or the choice made")


class MeterImportOut(BaseModel):
    external_id: str = Field(description="the meter number in the file")
    meter_id: str = Field(description="the registered meter it maps to")
    mode: str = Field(description="register: readings; interval: consumption per interval")
    readings: int = Field(description="readings taken from the file for it")
    first_ts: str | None = Field(description="the earliest reading's instant, RFC 3339 in local time; null: none")
    last_ts: str | None = Field(description="the latest reading's instant, RFC 3339 in local time; null: none")
    quantity: float = Field(description="in the meter's unit: last minus first reading (register) or the sum "
                                        "(interval)")
    unit: str = Field(description="the meter's registered unit, the unit of quantity")
    kwh: float | None = Field(description="the quantity in kWh; null for volumes (m3, l)")


class UnmappedLinesOut(BaseModel):
    external_id: str = Field(description="a meter number no registered meter has as external_id")
    lines: int = Field(description="lines of the file with that meter number")
    first_line: int = Field(description="the first of them")


class PipelineCounts(BaseModel):
    stored: int = Field(description="new readings stored")
    duplicate: int = Field(description="readings already stored with the same value")
    revised: int = Field(description="readings that replaced a stored value (kept as revisions)")
    dead_lettered: int = Field(description="readings refused by the pipeline (GET /dead-letters)")


class FileImportOut(BaseModel):
    file: str = Field(description="the uploaded file's name")
    dry_run: bool = Field(description="true: nothing was stored; the counts say what would be")
    format: str = Field(description="csv or xlsx")
    encoding: str | None = Field(description="the text encoding read (utf-8 or cp1252); null for xlsx")
    delimiter: str | None = Field(description="the CSV delimiter read (';', ',' or 'tab'); null for xlsx")
    decimal: str = Field(description="the decimal mark used: ',' or '.'")
    preset: str = Field(description="the column mapping preset used (auto: found from the headers)")
    header_line: int = Field(description="the line the header is on")
    columns: dict[str, str] = Field(description="role -> the header the file uses for it")
    data_lines: int = Field(description="lines after the header (blank lines not counted)")
    accepted: int = Field(description="lines that became readings")
    duplicates_in_file: int = Field(description="lines repeating an earlier line of the file exactly")
    rejected_count: int = Field(description="lines rejected (all of them; `rejected` lists the first 1000)")
    rejected: list[LineOut] = Field(description="rejected lines (the first 1000), by line and field")
    warnings: list[LineOut] = Field(description="lines stored with a choice made for them (the repeated hour)")
    meters: list[MeterImportOut] = Field(description="per registered meter with readings in the file")
    unmapped: list[UnmappedLinesOut] = Field(description="meter numbers of the file without a registered meter")
    pipeline: PipelineCounts = Field(description="what the ingest pipeline did (in a dry run: would do) with them")


class UtilityImportOut(BaseModel):
    run: RunOut = Field(description="the sync run the import was recorded as (source utility)")
    files: list[FileImportOut] = Field(description="per uploaded file")
