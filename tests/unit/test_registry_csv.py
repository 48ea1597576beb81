"""Parsing registry CSV files without a database: columns, cells, and the line each problem is on."""

from __future__ import annotations

from services.registry.csv_import import Kind, columns, parse


def test_columns_are_id_plus_the_put_fields() -> None:
    allowed, required = columns(Kind.meters)
    assert allowed == [
        "id",
        "building_id",
        "carrier",
        "unit",
        "mode",
        "interval_minutes",
        "external_id",
        "kwh_per_unit",
        "parent_meter_id",
        "max_power_kw",
        "active_from",
        "active_to",
        "replaced_by",
        "valid_from",
    ]
    assert required == ["id", "building_id", "carrier", "unit", "mode"]
    assert columns(Kind.luminaires)[1] == ["id", "building_id", "technology", "rated_power_w"]


def test_lifecycle_columns_left_out_keep_and_empty_cells_clear() -> None:
    head = "id,building_id,carrier,unit,mode"
    rows, errors, _ = parse(Kind.meters, f"{head}\ne1,b1,electricity,kWh,register\n")
    assert errors == [] and rows[0].body.lifecycle_given() == frozenset()
    rows, errors, _ = parse(
        Kind.meters,
        f"{head},active_from,active_to,replaced_by\n"
        "e1,b1,electricity,kWh,register,,2024-07-01,e2\n"
        "e2,b1,electricity,kWh,register,2024-07-01,,\n",
    )
    assert errors == []
    assert rows[0].body.lifecycle_given() == {"active_from", "active_to", "replaced_by"}
    assert rows[0].body.active_from is None and rows[0].body.replaced_by == "e2"
    assert rows[1].body.active_from == rows[0].body.active_to and rows[1].body.active_to is None
    _, errors, bad = parse(Kind.meters, f"{head},active_to\ne1,b1,electricity,kWh,register,1.7.2024\n")
    assert [(e.line, e.field) for e in errors] == [(2, "active_to")] and bad == {"e1"}


def test_empty_cells_are_null_and_json_cells_are_parsed() -> None:
    rows, errors, bad = parse(
        Kind.buildings,
        "id,name,type,heated_area_m2,heating,address,opening_hours\n"
        'b1,Skolen,school,100,oil,, {"fri": ["08:00-14:00"]} \n'
        "\n"
        'b2,Hallen,sports_hall,2000,district_heating,"Vej 2",\n',
    )
    assert errors == [] and bad == set()
    assert [(r.line, r.id) for r in rows] == [(2, "b1"), (4, "b2")]
    assert rows[0].body.address is None
    assert rows[0].body.opening_hours == {"fri": ["08:00-14:00"]}
    assert rows[1].body.opening_hours is None and rows[1].body.address == "Vej 2"


def test_lines_count_physical_lines_of_multi_line_cells() -> None:
    _, errors, bad = parse(
        Kind.buildings,
        'id,name,type,heated_area_m2,heating\nb1,"A name\nover\nthree lines",school,1,oil\nb2,x,school,-1,oil\n',
    )
    assert [(e.line, e.field) for e in errors] == [(5, "heated_area_m2")]
    assert bad == {"b2"}


def test_row_problems() -> None:
    _, errors, bad = parse(
        Kind.luminaires,
        "id,building_id,technology,rated_power_w,zone\n"
        "l1,b1,led,10,\n"
        "l1,b1,led,10,\n"
        ",b1,led,10,\n"
        "l3,b1,led,10,a,b\n"
        "l4,b1,laser,x,\n",
    )
    assert [(e.line, e.field) for e in errors] == [
        (3, "id"),
        (4, "id"),
        (5, "row"),
        (6, "technology"),
        (6, "rated_power_w"),
    ]
    assert "line 2" in errors[0].message
    assert bad == {"l1", "l4"}


def test_bad_json_cell() -> None:
    _, errors, _ = parse(Kind.buildings, "id,name,type,heated_area_m2,heating,opening_hours\nb1,x,s,1,oil,{mon}\n")
    assert [(e.line, e.field) for e in errors] == [(2, "opening_hours")]


def test_header_problems() -> None:
    _, errors, _ = parse(Kind.luminaires, "id,building_id,technology,technology,watts\n")
    assert {(e.line, e.field) for e in errors} == {(1, "watts"), (1, "rated_power_w"), (1, "technology")}
    _, errors, _ = parse(Kind.luminaires, "\n\n")
    assert [(e.line, e.field) for e in errors] == [(1, "header")]


def test_semicolons_and_byte_order_mark() -> None:
    rows, errors, _ = parse(Kind.luminaires, "\ufeffid;building_id;technology;rated_power_w\nl1;b1;hid;250\n")
    assert errors == []
    assert rows[0].body.rated_power_w == 250.0
