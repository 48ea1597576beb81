"""Utility exports, parsed without a database: numbers with a decimal comma, Danish headers, date formats, the
clock changes, units converted by hand, register vs interval rows, rejected lines by line and field, golden files
(CSV committed, one xlsx written here with openpyxl)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from services.connectors.utility.importer import plan_import, readings_payload
from services.connectors.utility.mapping import mapping_from, normalise_header
from services.connectors.utility.parsing import (
    CellError,
    FileError,
    LocalStamp,
    detect_decimal,
    local_offsets,
    parse_number,
    parse_quality,
    parse_stamp,
    parse_unit_text,
    read_table,
    sniff_delimiter,
)
from services.connectors.utility.service import resolve_mapping, summary_text
from services.readings.units import Unit

CPH = ZoneInfo("Europe/Copenhagen")
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "utility"


def meters(**kw: tuple[str, str, str, int | None]) -> dict[str, Any]:
    return {ext: SimpleNamespace(meter_id=m, unit=u, mode=mode, interval_minutes=iv)
            for ext, (m, u, mode, iv) in kw.items()}


def golden_meters() -> dict[str, Any]:
    return {k: SimpleNamespace(**v) for k, v in json.loads((GOLDEN / "meters.json").read_text()).items()}


def plan(text: str | bytes, preset: str | None = None, ms: dict[str, Any] | None = None, **mapping: Any) -> Any:
    data = text.encode() if isinstance(text, str) else text
    return plan_import(data, mapping_from(preset, mapping or None), ms if ms is not None else golden_meters(), CPH)


# -- numbers ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "decimal", "value"), [
    ("1.234,5", ",", 1234.5), ("1234,5", ",", 1234.5), ("1.234.567,25", ",", 1234567.25), ("-3,5", ",", -3.5),
    ("1\u00a0234,5", ",", 1234.5), ("1 234", ",", 1234.0), ("1.234", ",", 1234.0), ("12", ",", 12.0),
    ("1,234.5", ".", 1234.5), ("1234.5", ".", 1234.5), ("1,234", ".", 1234.0), (" 0.125 ", ".", 0.125),
])
def test_numbers_with_either_decimal_mark(text: str, decimal: str, value: float) -> None:
    assert parse_number(text, decimal) == value  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "decimal"), [
    ("12,3,4", ","), ("1.23", ","), ("1,2.3", ","), ("", ","), ("abc", ","), ("12,3,4", "."), ("1.2.3", "."),
    ("nan", "."), ("1e5", "."),
])
def test_what_is_not_a_number_is_said_with_the_text(text: str, decimal: str) -> None:
    with pytest.raises(CellError) as e:
        parse_number(text, decimal)  # type: ignore[arg-type]
    assert (repr(text) in str(e.value)) or "empty" in str(e.value)


def test_spreadsheet_numbers_pass_and_booleans_do_not() -> None:
    assert parse_number(12.5, ",") == 12.5
    assert parse_number(7, ".") == 7.0
    with pytest.raises(CellError):
        parse_number(True, ",")  # type: ignore[arg-type]
    with pytest.raises(CellError):
        parse_number(float("inf"), ",")


def test_the_decimal_mark_is_detected_from_the_column() -> None:
    assert detect_decimal(["1.234,5", "12"], ";") == ","
    assert detect_decimal(["12,5"], ",") == ","  # a lone comma not in groups of three is a decimal comma
    assert detect_decimal(["1,234.5", "3.25"], ";") == "."
    assert detect_decimal(["1.234", "2.345"], ";") == ","  # ambiguous: the Danish convention in a ';' file
    assert detect_decimal(["1,234"], ",") == "."  # ambiguous: a ',' file cannot use a bare decimal comma
    assert detect_decimal([12.5, None], "\t") == ","


# -- files and headers -----------------------------------------------------------------------------------------------

def test_separators_are_detected() -> None:
    assert sniff_delimiter("Målernr.;Dato;Forbrug\n1;01-01-2026;12,5\n") == ";"
    assert sniff_delimiter("Målernr.\tDato\tForbrug\n1\t01-01-2026\t12,5\n") == "\t"
    assert sniff_delimiter("meter,date,value\n1,2026-01-01,12.5\n") == ","


def test_windows_1252_and_utf8_bom_are_read() -> None:
    t = read_table("Målernr.;Aflæsning\r\n1;2\r\n".encode("cp1252"))
    assert (t.encoding, t.rows[0][1]) == ("cp1252", ["Målernr.", "Aflæsning"])
    t = read_table("\ufeffMålernr.;Aflæsning\n1;2\n".encode())
    assert (t.encoding, t.rows[0][1][0]) == ("utf-8", "Målernr.")


def test_old_excel_and_binary_files_are_refused_clearly() -> None:
    with pytest.raises(FileError, match="xls"):
        read_table(b"\xd0\xcf\x11\xe0" + b"\x00" * 100)
    with pytest.raises(FileError, match="binary"):
        read_table(b"abc\x00def")


@pytest.mark.parametrize(("header", "name", "unit"), [
    ("Målernr.", "målernr", None), ("Energi (MWh)", "energi", Unit.MWH), ("Forbrug kWh", "forbrug", Unit.KWH),
    ("Volumen [m3]", "volumen", Unit.M3), ("  AFLÆSNING  ", "aflæsning", None), ("Forbrug (m³)", "forbrug", Unit.M3),
])
def test_headers_are_normalised_and_their_units_kept(header: str, name: str, unit: Unit | None) -> None:
    assert normalise_header(header) == (name, unit)


def test_a_file_without_a_recognisable_header_says_what_it_expected() -> None:
    with pytest.raises(FileError) as e:
        plan("a;b;c\n1;2;3\n", "dk-forbrug-periode")
    msg = str(e.value)
    assert "no header row" in msg and "'forbrug'" in msg and "line 1 reads a, b, c" in msg


def test_a_bad_mapping_names_its_field() -> None:
    with pytest.raises(FileError, match="preset: 'nope' is not a preset"):
        mapping_from("nope")
    with pytest.raises(FileError, match="mapping: ambiguous"):
        mapping_from(None, {"ambiguous": "sometimes"})
    with pytest.raises(FileError, match="not valid JSON"):
        resolve_mapping("{not json")


# -- dates and times -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "wall", "has_time"), [
    ("31-01-2026", datetime(2026, 1, 31), False), ("31.01.2026", datetime(2026, 1, 31), False),
    ("31/01/2026", datetime(2026, 1, 31), False), ("2026-01-31", datetime(2026, 1, 31), False),
    ("1-2-2026 6:05", datetime(2026, 2, 1, 6, 5), True),
    ("2026-01-31T13:45:10", datetime(2026, 1, 31, 13, 45, 10), True),
    ("31.01.2026 13.45", datetime(2026, 1, 31, 13, 45), True), ("31-01-2026 24:00", datetime(2026, 2, 1), True),
])
def test_date_formats(text: str, wall: datetime, has_time: bool) -> None:
    assert parse_stamp(text) == LocalStamp(wall, has_time)


def test_a_separate_time_column_and_an_offset() -> None:
    assert parse_stamp("31-01-2026", "kl. 06:30") == LocalStamp(datetime(2026, 1, 31, 6, 30), True)
    aware = parse_stamp("2026-01-31T00:00:00+01:00")
    assert aware == datetime(2026, 1, 30, 23, tzinfo=UTC)
    with pytest.raises(CellError, match="is not a date"):
        parse_stamp("31-13-2026")
    with pytest.raises(CellError, match="not a time of day"):
        parse_stamp("31-01-2026", "25:00")


def test_local_times_around_the_clock_changes() -> None:
    # 29 March 2026 02:30 does not exist; 25 October 2026 02:30 exists twice (+02:00, then +01:00).
    assert local_offsets(datetime(2026, 3, 29, 2, 30), CPH) == ()
    assert local_offsets(datetime(2026, 10, 25, 2, 30), CPH) == (datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
                                                                 datetime(2026, 10, 25, 1, 30, tzinfo=UTC))
    assert local_offsets(datetime(2026, 1, 15, 12), CPH) == (datetime(2026, 1, 15, 11, tzinfo=UTC),)
    assert local_offsets(datetime(2026, 7, 1, 12), CPH) == (datetime(2026, 7, 1, 10, tzinfo=UTC),)


def test_units_and_qualities_in_danish_spellings() -> None:
    assert [parse_unit_text(u) for u in ("m3", "M3", "m³", "kWh", "MWH", "gj", "Kubikmeter")] == [
        Unit.M3, Unit.M3, Unit.M3, Unit.KWH, Unit.MWH, Unit.GJ, Unit.M3]
    assert [parse_quality(q) for q in ("Målt", "", "Estimeret", "beregnet", "Korrigeret")] == [
        "measured", "measured", "estimated", "calculated", "revised"]
    with pytest.raises(CellError):
        parse_unit_text("kW")


# -- rows to readings ------------------------------------------------------------------------------------------------

def test_register_readings_in_mwh_gj_and_m3_with_hand_computed_kwh() -> None:
    ms = meters(A=("dh-a", "kWh", "register", None), B=("dh-b", "kWh", "register", None),
                W=("w", "m3", "register", None))
    p = plan("Målernr.;Dato;Aflæsning;Enhed\n"
             "A;01-01-2026;1.234,5;MWh\nA;01-02-2026;1.240,25;MWh\n"  # 5.75 MWh = 5750 kWh
             "B;01-01-2026;100;GJ\nB;01-02-2026;110,8;GJ\n"  # 10.8 GJ = 10.8 * 1000 / 3.6 = 3000 kWh
             "W;01-01-2026;10,5;M3\nW;01-02-2026;13;m³\n", ms=ms)  # 2.5 m3, no kWh
    by = {m["external_id"]: m for m in p.report(CPH)["meters"]}
    assert by["A"]["kwh"] == pytest.approx(5750.0)
    assert by["B"]["kwh"] == pytest.approx(3000.0)
    assert (by["W"]["quantity"], by["W"]["unit"], by["W"]["kwh"]) == (2.5, "m3", None)
    # Values leave in the file's unit; the pipeline converts them to the meter's (as for MQTT readings).
    assert readings_payload(p.meters["A"], CPH)[0] == {"ts": "2026-01-01T00:00:00+01:00", "value": 1234.5,
                                                       "unit": "MWh", "quality": "measured"}


def test_a_unit_from_the_header_default_unit_or_the_meter() -> None:
    ms = meters(A=("dh-a", "MWh", "register", None))
    assert readings_payload(plan("Målernr.;Dato;Energi (GJ)\nA;01-01-2026;5\n", ms=ms).meters["A"], CPH)[0][
        "unit"] == "GJ"
    assert readings_payload(plan("Målernr.;Dato;Aflæsning\nA;01-01-2026;5\n", ms=ms, default_unit="kWh")
                            .meters["A"], CPH)[0]["unit"] == "kWh"
    assert readings_payload(plan("Målernr.;Dato;Aflæsning\nA;01-01-2026;5\n", ms=ms).meters["A"], CPH)[0][
        "unit"] == "MWh"


def test_a_reading_date_means_the_start_or_the_end_of_that_day() -> None:
    ms = meters(A=("dh-a", "kWh", "register", None))
    text = "Målernr.;Dato;Aflæsning\nA;31-01-2026;5\n"
    assert plan(text, ms=ms).meters["A"].readings[0].ts == datetime(2026, 1, 30, 23, tzinfo=UTC)
    assert plan(text, ms=ms, reading_date="end").meters["A"].readings[0].ts == datetime(2026, 1, 31, 23, tzinfo=UTC)


def test_consumption_periods_end_where_the_period_ends_inclusive_or_exclusive() -> None:
    ms = meters(G=("gas", "m3", "interval", 1440))
    inclusive = plan("Målernr.;Fra;Til;Forbrug\nG;01-03-2026;01-03-2026;4\nG;02-03-2026;02-03-2026;5\n", ms=ms)
    assert [r.ts for r in inclusive.meters["G"].readings] == [datetime(2026, 3, 1, 23, tzinfo=UTC),
                                                               datetime(2026, 3, 2, 23, tzinfo=UTC)]
    exclusive = plan("Målernr.;Fra;Til;Forbrug\nG;01-03-2026;02-03-2026;4\nG;02-03-2026;03-03-2026;5\n", ms=ms)
    assert [r.ts for r in exclusive.meters["G"].readings] == [datetime(2026, 3, 1, 23, tzinfo=UTC),
                                                               datetime(2026, 3, 2, 23, tzinfo=UTC)]
    # The 23-hour day: 29 March ends at 30 March 00:00+02:00.
    spring = plan("Målernr.;Fra;Til;Forbrug\nG;29-03-2026;29-03-2026;4\n", ms=ms)
    assert spring.meters["G"].readings[0].ts == datetime(2026, 3, 29, 22, tzinfo=UTC)


def test_a_period_longer_than_the_meters_interval_is_rejected_with_both_lengths() -> None:
    ms = meters(G=("gas", "m3", "interval", 1440))
    p = plan("Målernr.;Fra;Til;Forbrug\nG;01-01-2026;31-01-2026;400\n", ms=ms)
    assert [str(r) for r in p.rejected] == [
        "line 2, Fra/Til: the period is 31 day(s); meter gas counts intervals of 1 day(s) (interval_minutes 1440)"]


def test_hourly_consumption_marks_the_start_of_the_hour_unless_told_otherwise() -> None:
    ms = meters(E=("el", "kWh", "interval", 60))
    text = "Målernr.;Dato;Tidspunkt;Forbrug\nE;15-01-2026;00:00;1,5\n"
    assert plan(text, ms=ms).meters["E"].readings[0].ts == datetime(2026, 1, 15, 0, tzinfo=UTC)  # 01:00+01:00
    assert plan(text, ms=ms, stamp_marks="end").meters["E"].readings[0].ts == datetime(2026, 1, 14, 23, tzinfo=UTC)


def test_the_repeated_hour_written_once_is_a_warning_or_a_rejection() -> None:
    ms = meters(A=("dh-a", "kWh", "register", None))
    text = "Målernr.;Dato;Aflæsning\nA;25-10-2026 02:30;5\n"
    p = plan(text, ms=ms)
    assert p.meters["A"].readings[0].ts == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert "taken as 2026-10-25T02:30:00+02:00" in str(p.warnings[0])
    assert plan(text, ms=ms, ambiguous="later").meters["A"].readings[0].ts == datetime(2026, 10, 25, 1, 30,
                                                                                      tzinfo=UTC)
    rejected = plan(text, ms=ms, ambiguous="reject")
    assert not rejected.meters and "repeated when the clocks go back" in str(rejected.rejected[0])


def test_mode_mismatch_negative_consumption_and_unit_mismatch_are_rejected_by_line_and_field() -> None:
    ms = meters(R=("reg", "kWh", "register", None), I=("int", "kWh", "interval", 60))
    p = plan("Målernr.;Dato;Tidspunkt;Forbrug;Enhed\nR;01-01-2026;00:00;1;kWh\nI;01-01-2026;00:00;-1;kWh\n"
             "I;01-01-2026;01:00;1;m3\nI;01-01-2026;02:00;1;kWh\n", ms=ms)
    got = [(r.line, r.field) for r in p.rejected]
    assert got == [(2, "Forbrug"), (3, "Forbrug"), (4, "Enhed")]
    assert "register meter" in p.rejected[0].message and "negative" in p.rejected[1].message
    assert p.accepted == 1


def test_the_same_time_twice_in_a_file_is_a_duplicate_or_a_conflict() -> None:
    ms = meters(A=("dh-a", "kWh", "register", None))
    p = plan("Målernr.;Dato;Aflæsning\nA;01-01-2026;5\nA;01-01-2026;5\nA;01-01-2026;6\n", ms=ms)
    assert (p.accepted, p.duplicates_in_file) == (1, 1)
    assert str(p.rejected[0]) == ("line 4, Aflæsning: meter A at 2026-01-01T00:00:00+01:00 already has 5 kWh "
                                  "from line 2")


def test_a_json_mapping_for_a_file_with_its_own_headers() -> None:
    ms = meters(M1=("m1", "kWh", "interval", 1440))
    spec = resolve_mapping(json.dumps({"meter": "Installation", "consumption": "Varme", "date": "Dag",
                                       "default_unit": "MWh"}))
    p = plan_import(b"Installation,Dag,Varme\nM1,2026-02-01,1.5\n", spec, ms, CPH)
    assert readings_payload(p.meters["M1"], CPH) == [{"ts": "2026-02-02T00:00:00+01:00", "value": 1.5,
                                                      "unit": "MWh", "quality": "measured"}]
    # A file without a meter column names its meter in the mapping.
    spec = resolve_mapping('{"preset": "dk-fjernvarme-aflaesning", "meter_id": "M1"}')
    assert spec.meter_id == "M1"


# -- golden files ----------------------------------------------------------------------------------------------------

GOLDEN_FILES = sorted(p for p in GOLDEN.iterdir() if p.suffix in (".csv", ".tsv"))


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.name)
def test_golden_files(path: Path) -> None:
    expected = json.loads((path.parent / (path.name + ".expected.json")).read_text(encoding="utf-8"))
    p = plan(path.read_bytes(), path.name.split("__")[0])
    got = {"report": p.report(CPH), "readings": {k: readings_payload(m, CPH) for k, m in sorted(p.meters.items())}}
    assert got == expected
    assert summary_text({"file": path.name, **got["report"]})  # the CLI's text renders every golden report


def test_golden_monthly_as_xlsx_gives_the_same_readings() -> None:
    """The monthly golden CSV written as an Excel workbook with real dates and numbers: the same readings, the
    same rejected lines (Excel keeps a bad text cell as text)."""
    src = GOLDEN / "dk-fjernvarme-aflaesning__monthly.csv"
    table = read_table(src.read_bytes())
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    for _, cells in table.rows:
        out: list[Any] = []
        for i, c in enumerate(cells):
            if i == 1 and isinstance(c, str) and c[:2].isdigit():
                try:
                    d, m, y = (int(x) for x in c.replace(".", "-").split("-"))
                    out.append(datetime(y, m, d))
                    continue
                except ValueError:
                    pass
            if i == 2 and isinstance(c, str) and c.replace(".", "").replace(",", "").isdigit() and c.count(",") <= 1:
                out.append(float(c.replace(".", "").replace(",", ".")))
                continue
            if i == 0 and isinstance(c, str) and c.isdigit():
                out.append(float(c))  # Excel keeps a meter number as a number: 5512345.0
                continue
            out.append(c)
        ws.append(out)
    buf = io.BytesIO()
    wb.save(buf)
    p = plan(buf.getvalue(), "dk-fjernvarme-aflaesning")
    expected = json.loads((GOLDEN / (src.name + ".expected.json")).read_text(encoding="utf-8"))
    assert p.report(CPH)["format"] == "xlsx"
    assert {k: readings_payload(m, CPH) for k, m in sorted(p.meters.items())} == expected["readings"]
    assert p.report(CPH)["meters"] == expected["report"]["meters"]
    assert p.report(CPH)["unmapped"] == expected["report"]["unmapped"]
    got_lines = [(r["line"], r["field"]) for r in p.report(CPH)["rejected"]]
    assert got_lines == [(r["line"], r["field"]) for r in expected["report"]["rejected"]]


def test_readings_are_chunked_to_fit_one_ingest_message() -> None:
    import orjson

    from services.connectors.utility.importer import chunks

    payload = [{"ts": f"2026-01-01T{h % 24:02d}:00:00+01:00", "value": float(h), "unit": "kWh",
                "quality": "measured"} for h in range(5000)]
    parts = chunks(payload, max_bytes=10_000)
    assert [r for p in parts for r in p] == payload  # nothing lost, order kept
    assert all(len(orjson.dumps(p)) <= 10_000 for p in parts)
    assert len(orjson.dumps(parts[0] + [payload[len(parts[0])]])) > 10_000  # each part is as full as it can be
    assert [len(p) for p in chunks(payload, max_bytes=10**9, max_items=2000)] == [2000, 2000, 1000]


def test_a_negative_reading_and_a_time_outside_the_pipelines_window_are_rejected_by_line() -> None:
    # a register cannot stand below 0 (a typo like -50 would read as a reset and a jump of the whole register), and
    # a line the pipeline would refuse (in the future, before the earliest time) is refused here, by line and field,
    # so the dry run says exactly what would be stored
    ms = meters(R=("reg", "GJ", "register", None))
    text = ("Målernr.;Dato;Tidspunkt;Aflæsning;Enhed\nR;17-05-2026;00:00;-50,0;GJ\nR;01-01-2030;00:00;10,0;GJ\n"
            "R;01-01-1999;00:00;5,0;GJ\nR;01-06-2026;00:00;8000,0;GJ\n")
    window = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    p = plan_import(text.encode(), mapping_from(None, None), ms, CPH, window=window)
    assert [(r.line, r.field) for r in p.rejected] == [(2, "Aflæsning"), (3, "Dato"), (4, "Dato")]
    assert "negative" in p.rejected[0].message and "register" in p.rejected[0].message
    assert "in the future" in p.rejected[1].message and "before 2000-01-01" in p.rejected[2].message
    assert p.accepted == 1
